// kindred: the command-line front door to a device's journal.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/context.h"
#include "cli/control.h"
#include "cli/terminal.h"
#include "engine/plugin/registry.h"
#include "plugins/builtin.h"

namespace kindred::cli {

std::string Context::Home() const {
  if (serving) return serving->home;
  if (!home_flag.empty()) return home_flag;
  if (const char* env = std::getenv("KINDRED_HOME"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/kindred";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/kindred";
}

Result<EngineHandle> Context::OpenEngine(bool allow_forward) const {
  if (serving) return EngineHandle(serving->engine);
  EngineOptions options;
  options.home = Home();
  // Before any passphrase prompt: a live serve holds the store.
  if (allow_forward && ServeIsListening(options.home)) throw ForwardToServe{};
  if (const char* p = std::getenv("KINDRED_PASSPHRASE")) {
    options.passphrase = p;
  } else {
    auto sealed = Engine::KeyFileIsSealed(options.home);
    if (sealed.ok() && *sealed) {
      auto typed = PromptSecret("Passphrase for this device's keys: ");
      if (typed) options.passphrase = std::move(*typed);
    }
  }
  auto engine = Engine::Open(options);
  if (options.passphrase) std::fill(options.passphrase->begin(), options.passphrase->end(), '\0');
  if (!engine.ok()) return engine.status();
  return EngineHandle(std::move(*engine));
}

Result<std::string> Context::ReadStdin() const {
  if (serving) {
    if (!serving->stdin_data) return Status::InvalidArgument("standard input is empty");
    return *serving->stdin_data;
  }
  std::stringstream ss;
  ss << std::cin.rdbuf();
  stdin_read = ss.str();
  return *stdin_read;
}

std::string Context::ResolvePath(const std::string& path) const {
  if (path.empty() || path.front() == '/' || !serving) return path;
  return (std::filesystem::path(serving->cwd) / path).string();
}

int ExitCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kCorruption:
    case StatusCode::kBusy:
    case StatusCode::kIOError:
    case StatusCode::kInternal: return kExitStore;
    default: return kExitUsage;
  }
}

int Fail(const Status& status) {
  std::string message = status.message();
  if (status.code() == StatusCode::kBusy) {
    message += " (another kindred command is using this home; try again when it has finished)";
  }
  std::cerr << "kindred: " << message << "\n";
  return ExitCode(status);
}

// Names the first word that is not a command where a command is expected
// ("kindred frobnicate", "kindred journal frobnicate"), which CLI11 would
// only report as "a subcommand is required". Returns "" when all is well.
std::string UnknownCommand(CLI::App& app, int argc, char** argv) {
  CLI::App* current = &app;
  std::string path = "kindred";
  for (int i = 1; i < argc; ++i) {
    std::string token = argv[i];
    if (token == "--") return "";
    if (token.rfind("-", 0) == 0) {
      if (token.find('=') != std::string::npos) continue;
      // Skip the value of an option that takes one, looking up the chain.
      for (CLI::App* a = current; a != nullptr; a = a->get_parent()) {
        if (CLI::Option* opt = a->get_option_no_throw(token)) {
          if (opt->get_items_expected_min() > 0) ++i;
          break;
        }
      }
      continue;
    }
    std::vector<CLI::App*> subs = current->get_subcommands({});
    if (subs.empty()) return "";  // a leaf: the rest are its arguments
    CLI::App* sub = nullptr;
    for (CLI::App* candidate : subs) {
      if (candidate->check_name(token)) sub = candidate;
    }
    if (sub == nullptr) {
      return "'" + token + "' is not a " + path + " command; run `" + path + " --help` to see them";
    }
    current = sub;
    path += " " + token;
  }
  return "";
}

int RunCommandLine(const std::vector<std::string>& args, Context& ctx) {
  CLI::App app{
      "Kindred keeps your journal and your shared rituals on your own devices,\n"
      "encrypted, and syncs them directly with your partner's.",
      "kindred"};
  app.set_version_flag("--version", "kindred 0.1.0");
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--home", ctx.home_flag, "The device's home directory (default: $KINDRED_HOME, "
                                          "else $XDG_DATA_HOME/kindred, else ~/.local/share/kindred)");
  app.add_flag("--json", ctx.json, "Print stable JSON instead of text (see docs/cli.md)");

  AddDeviceCommands(app, ctx);
  AddJournalCommands(app, ctx);
  AddRitualCommands(app, ctx);
  AddTodayCommand(app, ctx);
  AddSyncCommands(app, ctx);
  AddPairingCommands(app, ctx);
  AddPluginCommands(app, ctx, args);

  std::vector<std::string> argv_strings{"kindred"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  if (std::string unknown = UnknownCommand(app, static_cast<int>(argv.size()), argv.data());
      !unknown.empty()) {
    std::cerr << "kindred: " << unknown << "\n";
    return kExitUsage;
  }
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kindred: " << e.what() << "\nRun `kindred --help` for usage.\n";
    return kExitUsage;
  }
  if (!ctx.action) {
    std::cerr << "kindred: choose a command; run `kindred --help` to see them\n";
    return kExitUsage;
  }
  return ctx.action();
}

}  // namespace kindred::cli

int main(int argc, char** argv) {
  using namespace kindred::cli;
  const std::vector<std::string> args(argv + 1, argv + argc);
  kindred::plugin::Registry plugins;  // docs/plugins.md
  kindred::RegisterBuiltinPlugins(plugins);
  Context ctx;
  ctx.plugins = &plugins;
  try {
    return RunCommandLine(args, ctx);
  } catch (const ForwardToServe&) {
    // A `kindred serve` holds this home: it runs the command for us.
    return ForwardCommand(ctx.Home(), args, ctx.stdin_read);
  }
}
