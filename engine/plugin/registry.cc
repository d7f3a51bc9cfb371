#include "engine/plugin/registry.h"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "kindred/env.h"

namespace kindred::plugin {
namespace {

using nlohmann::json;

// The size of version 1's table: what a plugin built for version 1 has at least.
constexpr size_t kMinPluginApiSize = offsetof(kindred_plugin_api, update_view) + sizeof(void*);

struct Collected {
  std::string bytes;
  static void Write(void* ctx, const uint8_t* data, size_t size) {
    static_cast<Collected*>(ctx)->bytes.assign(reinterpret_cast<const char*>(data), size);
  }
};

// The manifest in what describe returned.
Result<pv1::Manifest> ParseManifest(kindred_plugin_status status, const std::string& bytes,
                                    const std::string& who) {
  if (status != KINDRED_PLUGIN_OK) {
    return Status::Internal(who + " failed to describe itself: " + bytes.substr(0, 300));
  }
  pv1::Manifest manifest;
  if (!manifest.ParseFromString(bytes)) {
    return Status::Corruption(who + " described itself with malformed bytes");
  }
  Status valid = ValidateManifest(manifest);
  if (!valid.ok()) return Status::InvalidArgument(who + ": " + valid.message());
  return manifest;
}

}  // namespace

std::string Module::name() const {
  if (!manifest.id().empty()) return manifest.id();
  return std::filesystem::path(source).filename().string();
}

Status CheckTable(const TableInfo& table, std::string_view what) {
  const std::string who(what);
  // The first two fields are the same in every ABI version.
  if (table.abi_version != KINDRED_PLUGIN_ABI_VERSION) {
    return Status::FailedPrecondition(
        who + " was built for plugin ABI version " + std::to_string(table.abi_version) +
        ", but this Kindred speaks plugin ABI version " +
        std::to_string(KINDRED_PLUGIN_ABI_VERSION) + "; rebuild it against this Kindred's SDK");
  }
  if (table.struct_size < kMinPluginApiSize) {
    return Status::InvalidArgument(who + "'s plugin table is " + std::to_string(table.struct_size) +
                                   " bytes; plugin ABI version 1 needs at least " +
                                   std::to_string(kMinPluginApiSize));
  }
  if (table.functions != frames::kHasAll) {
    return Status::InvalidArgument(who + "'s plugin table is missing a function");
  }
  return Status::Ok();
}

Result<pv1::Manifest> ReadManifest(const kindred_plugin_api* api, std::string_view what) {
  const std::string who(what);
  if (api == nullptr) return Status::InvalidArgument(who + " returned no plugin table");
  TableInfo table;
  table.abi_version = api->abi_version;
  if (table.abi_version == KINDRED_PLUGIN_ABI_VERSION) table.struct_size = api->struct_size;
  if (table.struct_size >= kMinPluginApiSize) {
    table.functions = (api->describe ? frames::kHasDescribe : 0) |
                      (api->create ? frames::kHasCreate : 0) |
                      (api->destroy ? frames::kHasDestroy : 0) |
                      (api->run_command ? frames::kHasRunCommand : 0) |
                      (api->update_view ? frames::kHasUpdateView : 0);
  }
  KINDRED_RETURN_IF_ERROR(CheckTable(table, who));
  Collected out;
  kindred_sink sink{&out, &Collected::Write};
  kindred_plugin_status status = api->describe(&sink);
  return ParseManifest(status, out.bytes, who);
}

Registry::Registry() = default;
Registry::~Registry() = default;

Status Registry::Fail(std::string source, Status why) {
  auto m = std::make_unique<Module>();
  m->source = std::move(source);
  m->error = why.message();
  modules_.push_back(std::move(m));
  return why;
}

Status Registry::Add(std::unique_ptr<Module> module, Result<pv1::Manifest> manifest,
                     std::string_view what) {
  if (!manifest.ok()) return Fail(std::move(module->source), manifest.status());
  if (Find(manifest->id())) {
    return Fail(std::move(module->source),
                Status::AlreadyExists("the plugin " + manifest->id() + " (" + std::string(what) +
                                      ") is already loaded"));
  }
  // A command's first word belongs to one plugin.
  std::set<std::string> mine;
  for (const auto& c : manifest->commands()) mine.insert(c.path(0));
  for (const auto& other : modules_) {
    if (!other->loaded()) continue;
    for (const auto& c : other->manifest.commands()) {
      if (mine.count(c.path(0))) {
        return Fail(std::move(module->source),
                    Status::AlreadyExists("the plugin " + manifest->id() + " adds the command '" +
                                          c.path(0) + "', which the plugin " +
                                          other->manifest.id() + " already adds"));
      }
    }
  }
  module->manifest = std::move(*manifest);
  modules_.push_back(std::move(module));
  return Status::Ok();
}

Status Registry::AddBuiltin(kindred_plugin_entry_fn entry) {
  if (entry == nullptr)
    return Fail("built-in", Status::InvalidArgument("a built-in plugin has no entry point"));
  auto m = std::make_unique<Module>();
  m->source = "built-in";
  m->api = entry();
  auto manifest = ReadManifest(m->api, "a built-in plugin");
  return Add(std::move(m), std::move(manifest), "a built-in plugin");
}

Status Registry::OutOfProcess(std::string source, std::vector<std::string> command,
                              std::string who) {
  // A runner reads the table and describes the plugin; this process never
  // loads the library, so nothing the library does can take it down.
  auto process = RunnerProcess::Start(command, runner_, who);
  if (!process.ok()) return Fail(std::move(source), process.status());
  Status table = CheckTable((*process)->table(), who);
  if (!table.ok()) return Fail(std::move(source), table);
  CallOutcome described =
      (*process)->Call(PluginFunction::kDescribe, "", nullptr, runner_.start_timeout);
  if (described.crashed()) return Fail(std::move(source), Status::Internal(who + " " + described.crash));
  auto m = std::make_unique<Module>();
  m->source = std::move(source);
  m->command = std::move(command);
  return Add(std::move(m), ParseManifest(described.status, described.bytes, who), who);
}

Status Registry::LoadLibrary(const std::string& path) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).string();
  for (const auto& m : modules_) {
    if (m->source == absolute) return Status::Ok();  // loaded already (folder and --plugin)
  }
  if (!std::filesystem::is_regular_file(absolute, ec)) {
    return Fail(absolute, Status::NotFound("no plugin library at " + absolute));
  }
  return OutOfProcess(absolute, RunnerCommand(runner_, absolute), "the plugin " + absolute);
}

Status Registry::AddOutOfProcess(std::vector<std::string> command, std::string source) {
  const std::string who = "the plugin served by " + (command.empty() ? source : command[0]);
  return OutOfProcess(std::move(source), std::move(command), who);
}

Result<std::unique_ptr<Driver>> Registry::Start(const Module& module) const {
  if (!module.loaded()) return Status::FailedPrecondition("the plugin " + module.name() + " is not loaded");
  if (!module.out_of_process()) return NewInProcessDriver(module.api);
  const std::string who = "the plugin " + module.manifest.id();
  KINDRED_ASSIGN_OR_RETURN(auto process, RunnerProcess::Start(module.command, runner_, who));
  Status table = CheckTable(process->table(), who);
  if (!table.ok()) {
    return Status::FailedPrecondition(table.message() + " (" + module.source +
                                      " changed since it was loaded)");
  }
  return NewOutOfProcessDriver(std::move(process), runner_);
}

void Registry::LoadFolder(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".so") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) LoadLibrary(p).IgnoreError();  // recorded as a failed module
}

const Module* Registry::Find(std::string_view id) const {
  for (const auto& m : modules_) {
    if (m->loaded() && m->manifest.id() == id) return m.get();
  }
  return nullptr;
}

std::vector<PluginInfo> Registry::Describe(const DisabledPlugins& disabled) const {
  std::vector<PluginInfo> out;
  for (const auto& m : modules_) {
    PluginInfo info;
    info.id = m->name();
    info.source = m->source;
    if (!m->loaded()) {
      info.state = "failed";
      info.reason = m->error;
    } else {
      info.version = m->manifest.version();
      info.summary = m->manifest.summary();
      info.permissions = Permissions(m->manifest);
      info.permissions_in_words = PermissionsInWords(m->manifest);
      info.out_of_process = m->out_of_process();
      auto off = disabled.find(m->manifest.id());
      info.state = off == disabled.end() ? "enabled" : "disabled";
      if (off != disabled.end()) info.reason = off->second;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<DisabledPlugins> ReadDisabledPlugins(const std::string& path) {
  DisabledPlugins out;
  if (path.empty() || !Env::System().fs().Exists(path)) return out;
  KINDRED_ASSIGN_OR_RETURN(std::string text, Env::System().fs().ReadFile(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = Status::Corruption("the plugin state file " + path + " is damaged");
  if (!j.is_object()) return bad;
  auto d = j.find("disabled");
  if (d == j.end() || !d->is_object()) return bad;
  for (auto it = d->begin(); it != d->end(); ++it) {
    if (!it.value().is_string()) return bad;
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

Status WriteDisabledPlugins(const std::string& path, const DisabledPlugins& disabled) {
  json d = json::object();
  for (const auto& [id, reason] : disabled) d[id] = reason;
  return Env::System().fs().WriteFileAtomic(path, json{{"disabled", d}}.dump(2) + "\n", 0600);
}

}  // namespace kindred::plugin
