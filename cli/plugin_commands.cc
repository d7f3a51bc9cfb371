// kindred plugins [enable ID | disable ID], and the commands of every plugin
// (`kindred gratitude add ...`), generated from their manifests.
//
// The registry is main()'s (Context::plugins), filled with the built-in
// plugins by RegisterBuiltinPlugins; here it also gets the shared libraries
// of HOME/plugins/ and of every --plugin PATH, before the command line is
// parsed (their commands must exist to be parsed). Under `kindred serve`,
// forwarded commands use serve's registry and plugin host.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "engine/plugin/host.h"
#include "engine/plugin/registry.h"

namespace kindred::cli {
namespace {

using nlohmann::json;
namespace pv1 = ::kindred::plugin::v1;

std::string StatePath(const std::string& home) { return home + "/plugin-state.json"; }
std::string PluginFolder(const std::string& home) { return home + "/plugins"; }

// The values of `--NAME X` / `--NAME=X` in `args`, before parsing.
std::vector<std::string> Prescan(const std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> out;
  const std::string flag = "--" + name, eq = flag + "=";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == flag && i + 1 < args.size())
      out.push_back(args[++i]);
    else if (args[i].rfind(eq, 0) == 0)
      out.push_back(args[i].substr(eq.size()));
  }
  return out;
}

// What the user gave one plugin command.
struct ParsedArgs {
  std::map<std::string, bool> flags;
  std::map<std::string, std::string> values;
  std::map<std::string, std::vector<std::string>> words;
  std::map<std::string, CLI::Option*> options;
};

// Writes `content` to `path` (mode 0600) through a temporary file.
Status WriteOutput(const std::string& path, const std::string& content, const std::string& shown) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::InvalidArgument("cannot write to " + shown);
    ::chmod(tmp.c_str(), 0600);
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return Status::IOError("writing " + shown + " failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IOError("cannot move the output into " + shown);
  }
  return Status::Ok();
}

int RunPluginCommand(Context& ctx, const plugin::Module& module, const pv1::CommandSpec& spec,
                     const ParsedArgs& parsed) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  plugin::Host* host = ctx.plugin_host;
  std::unique_ptr<plugin::Host> owned;  // destroyed before the engine
  if (host == nullptr) {
    plugin::HostOptions options;
    options.state_path = StatePath(ctx.Home());
    auto made = plugin::Host::Create(**engine, *ctx.plugins, std::move(options));
    if (!made.ok()) return Fail(made.status());
    owned = std::move(*made);
    host = owned.get();
  }

  pv1::CommandRequest request;
  for (const auto& p : spec.path()) request.add_path(p);
  request.set_json(ctx.json);
  std::map<std::string, std::string> output_paths;  // option -> where to write
  for (const auto& o : spec.options()) {
    auto given = parsed.options.find(o.name());
    if (given == parsed.options.end() || given->second->count() == 0) continue;
    auto* arg = request.add_arguments();
    arg->set_name(o.name());
    switch (o.kind()) {
      case pv1::OPTION_KIND_FLAG:
        break;
      case pv1::OPTION_KIND_REST:
        for (const auto& w : parsed.words.at(o.name())) arg->add_values(w);
        break;
      default: {
        std::string value = parsed.values.at(o.name());
        if (o.type() == pv1::VALUE_TYPE_OUTPUT_FILE) {
          output_paths[o.name()] = value;
          value = ctx.ResolvePath(value);
        }
        arg->add_values(value);
      }
    }
  }

  auto response = host->RunCommand(module.manifest.id(), std::move(request));
  if (!response.ok()) {
    std::cerr << "kindred: " << response.status().message() << "\n";
    return response.status().code() == StatusCode::kInternal ||
                   response.status().code() == StatusCode::kFailedPrecondition
               ? kExitPlugin
               : ExitCode(response.status());
  }
  if (response->exit_code() == 0) {
    for (const auto& file : response->files()) {
      const std::string& shown = output_paths.at(file.option());
      Status s = WriteOutput(ctx.ResolvePath(shown), file.content(), shown);
      if (!s.ok()) return Fail(s);
    }
  }
  std::cout << response->out() << std::flush;
  if (!response->err().empty()) {
    std::string err = response->err();
    if (response->exit_code() != 0 && err.rfind("kindred:", 0) != 0) err = "kindred: " + err;
    if (err.back() != '\n') err += '\n';
    std::cerr << err;
  }
  return response->exit_code();
}

std::string StateText(const plugin::PluginInfo& p) {
  if (p.state == "enabled") return "enabled";
  return p.state + (p.reason.empty() ? "" : ": " + p.reason);
}

int RunList(Context& ctx) {
  std::vector<plugin::PluginInfo> plugins;
  if (ctx.plugin_host != nullptr) {
    plugins = ctx.plugin_host->Plugins();
  } else {
    auto disabled = plugin::ReadDisabledPlugins(StatePath(ctx.Home()));
    if (!disabled.ok()) return Fail(disabled.status());
    plugins = ctx.plugins->Describe(*disabled);
  }
  if (ctx.json) {
    json out = json::array();
    for (const auto& p : plugins) {
      json o{{"id", p.id},
             {"version", p.version.empty() ? json(nullptr) : json(p.version)},
             {"permissions", p.permissions},
             {"state", p.state},
             {"summary", p.summary},
             {"source", p.source},
             {"own_process", p.out_of_process}};
      if (!p.reason.empty()) o["reason"] = p.reason;
      out.push_back(std::move(o));
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  if (plugins.empty()) {
    std::cout << "No plugins. Put plugin libraries in " << PluginFolder(ctx.Home())
              << "/ or pass --plugin PATH.\n";
    return kExitOk;
  }
  for (const auto& p : plugins) {
    std::cout << p.id << (p.version.empty() ? "" : " " + p.version) << "  (" << StateText(p)
              << ")\n";
    if (!p.summary.empty()) std::cout << "  " << p.summary << "\n";
    for (const auto& w : p.permissions_in_words) std::cout << "  - " << w << "\n";
    if (p.source != "built-in") {
      std::cout << "  from " << p.source
                << (p.out_of_process ? " (runs in a process of its own)" : "") << "\n";
    }
  }
  return kExitOk;
}

int RunSetState(Context& ctx, const std::string& id, bool enable) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  plugin::Host* host = ctx.plugin_host;
  std::unique_ptr<plugin::Host> owned;
  if (host == nullptr) {
    plugin::HostOptions options;
    options.state_path = StatePath(ctx.Home());
    auto made = plugin::Host::Create(**engine, *ctx.plugins, std::move(options));
    if (!made.ok()) return Fail(made.status());
    owned = std::move(*made);
    host = owned.get();
  }
  Status s = enable ? host->Enable(id) : host->Disable(id, "turned off by you");
  if (!s.ok()) return Fail(s);
  if (ctx.json) {
    std::cout << json{{"id", id}, {"state", enable ? "enabled" : "disabled"}}.dump() << "\n";
  } else {
    std::cout << "The plugin " << id << " is " << (enable ? "enabled" : "disabled") << ".\n";
  }
  return kExitOk;
}

// Adds `module`'s commands to `app`.
void AddCommandsOf(CLI::App& app, Context& ctx, const plugin::Module& module) {
  const pv1::Manifest& m = module.manifest;
  // A plugin may not take Kindred's own commands.
  for (const auto& c : m.commands()) {
    for (CLI::App* existing : app.get_subcommands([](CLI::App*) { return true; })) {
      if (existing->get_name() == c.path(0) && existing->get_group() != "Plugins") {
        std::cerr << "kindred: the plugin " << m.id() << " adds the command '" << c.path(0)
                  << "', which is Kindred's own; its commands are left out\n";
        return;
      }
    }
  }
  for (const auto& c : m.commands()) {
    CLI::App* parent = &app;
    for (int i = 0; i < c.path_size(); ++i) {
      const std::string& word = c.path(i);
      CLI::App* next = nullptr;
      for (CLI::App* sub : parent->get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == word) next = sub;
      }
      if (next == nullptr) {
        const bool leaf = i + 1 == c.path_size();
        next = parent->add_subcommand(word,
                                      leaf ? c.help() : m.summary() + " (plugin " + m.id() + ")");
        next->group(parent == &app ? "Plugins" : "Subcommands");
        if (!leaf) next->require_subcommand(1);
      }
      parent = next;
    }
    CLI::App* cmd = parent;
    if (c.path_size() == 1) cmd->description(c.help() + " (plugin " + m.id() + ")");
    auto parsed = std::make_shared<ParsedArgs>();
    for (const auto& o : c.options()) {
      CLI::Option* opt = nullptr;
      switch (o.kind()) {
        case pv1::OPTION_KIND_FLAG:
          opt = cmd->add_flag("--" + o.name(), parsed->flags[o.name()], o.help());
          break;
        case pv1::OPTION_KIND_VALUE:
          opt = cmd->add_option("--" + o.name(), parsed->values[o.name()], o.help());
          break;
        case pv1::OPTION_KIND_POSITIONAL:
          opt = cmd->add_option(o.name(), parsed->values[o.name()], o.help());
          break;
        case pv1::OPTION_KIND_REST:
          opt = cmd->add_option(o.name(), parsed->words[o.name()], o.help());
          break;
        default:
          continue;
      }
      if (o.required()) opt->required();
      if (o.type() == pv1::VALUE_TYPE_INTEGER) {
        opt->check(CLI::Validator(
            [](std::string& v) -> std::string {
              try {
                size_t used = 0;
                std::stoll(v, &used);
                if (used == v.size()) return "";
              } catch (...) {
              }
              return "must be a whole number, got '" + v + "'";
            },
            "INTEGER"));
      }
      parsed->options[o.name()] = opt;
    }
    const plugin::Module* mod = &module;
    const pv1::CommandSpec* spec = &c;
    cmd->callback([&ctx, mod, spec, parsed, cmd] {
      if (!cmd->get_subcommands().empty()) return;
      ctx.action = [&ctx, mod, spec, parsed] {
        return RunPluginCommand(ctx, *mod, *spec, *parsed);
      };
    });
  }
}

}  // namespace

void AddPluginCommands(CLI::App& app, Context& ctx, const std::vector<std::string>& args) {
  // Parsed again by CLI11; here only so that they exist when parsing starts.
  auto paths = std::make_shared<std::vector<std::string>>();
  app.add_option("--plugin", *paths,
                 "Load the plugin library at PATH as well (repeatable; docs/plugins.md)")
      ->type_name("PATH")
      ->each([paths](const std::string&) {});  // keeps `paths` alive with the option
  if (ctx.plugins == nullptr) return;
  if (ctx.serving == nullptr) {
    const std::string saved = ctx.home_flag;
    if (auto homes = Prescan(args, "home"); !homes.empty()) ctx.home_flag = homes.back();
    ctx.plugins->LoadFolder(PluginFolder(ctx.Home()));
    ctx.home_flag = saved;
    for (const auto& path : Prescan(args, "plugin")) {
      Status s = ctx.plugins->LoadLibrary(path);
      if (!s.ok()) std::cerr << "kindred: " << s.message() << "\n";
    }
  } else {
    // Forwarded to `kindred serve`: it has the plugins it was started with.
    for (const auto& path : Prescan(args, "plugin")) {
      std::error_code ec;
      const std::string absolute = std::filesystem::absolute(ctx.ResolvePath(path), ec).string();
      bool loaded = false;
      for (const auto& m : ctx.plugins->modules()) loaded = loaded || m->source == absolute;
      if (!loaded) {
        std::cerr << "kindred: `kindred serve` runs this home and did not load " << path
                  << "; start it with --plugin " << path << "\n";
      }
    }
  }

  auto* plugins =
      app.add_subcommand("plugins", "List the plugins, with their permissions and state");
  plugins->callback([&ctx, plugins] {
    if (plugins->get_subcommands().empty()) ctx.action = [&ctx] { return RunList(ctx); };
  });
  auto id = std::make_shared<std::string>();
  plugins->add_subcommand("enable", "Turn a plugin back on")
      ->callback([&ctx, id] { ctx.action = [&ctx, id] { return RunSetState(ctx, *id, true); }; })
      ->add_option("id", *id, "The plugin's id, e.g. org.kindred.gratitude")
      ->required();
  auto off = std::make_shared<std::string>();
  plugins->add_subcommand("disable", "Turn a plugin off (its records stay, and keep syncing)")
      ->callback(
          [&ctx, off] { ctx.action = [&ctx, off] { return RunSetState(ctx, *off, false); }; })
      ->add_option("id", *off, "The plugin's id")
      ->required();

  for (const auto& m : ctx.plugins->modules()) {
    if (m->loaded()) AddCommandsOf(app, ctx, *m);
  }
}

std::shared_ptr<void> StartServePlugins(Context& ctx, Engine& engine,
                                        std::function<void(const std::string&)> log) {
  if (ctx.plugins == nullptr) return nullptr;
  plugin::HostOptions options;
  options.state_path = StatePath(ctx.Home());
  options.live = true;
  options.log = [log](const std::string& line) { log("plugins: " + line); };
  auto host = plugin::Host::Create(engine, *ctx.plugins, std::move(options));
  if (!host.ok()) {
    log("plugins are off: " + host.status().message());
    return nullptr;
  }
  ctx.plugin_host = host->get();  // its views are built in the background
  struct Holder {
    Context* ctx = nullptr;
    std::unique_ptr<plugin::Host> host;
    ~Holder() {
      if (ctx) ctx->plugin_host = nullptr;
    }
  };
  auto holder = std::make_shared<Holder>();
  holder->ctx = &ctx;
  holder->host = std::move(*host);
  return holder;
}

}  // namespace kindred::cli
