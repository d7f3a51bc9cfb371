// The plugins a process knows: those linked into it (registered explicitly,
// once, by RegisterBuiltinPlugins in plugins/builtin.h), which run in this
// process, and shared libraries from a home's plugins folder or a --plugin
// path, which run each in a kindred-plugin-runner process of its own and
// are never loaded into this one (docs/plugins.md, "Process model"). The
// registry is an object its owner (main(), a test) makes and keeps; there is
// no global list and no static self-registration.
#ifndef KINDRED_ENGINE_PLUGIN_REGISTRY_H_
#define KINDRED_ENGINE_PLUGIN_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/plugin/driver.h"
#include "engine/plugin/manifest.h"
#include "engine/plugin/runner_client.h"
#include "kindred/plugin_abi.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::plugin {

// One plugin the registry knows, loaded or not. Value-like; owned by the
// registry.
struct Module {
  std::string source;  // "built-in", or the library's path
  // In process: the plugin's table. Null for a plugin run out of process,
  // and for one that failed to load.
  const kindred_plugin_api* api = nullptr;
  // Out of process: the command that starts its runner. Empty otherwise.
  std::vector<std::string> command;
  pv1::Manifest manifest;  // valid when loaded()
  std::string error;       // why it failed to load ("" when it loaded)

  bool loaded() const { return error.empty() && !manifest.id().empty(); }
  bool out_of_process() const { return !command.empty(); }
  // The id, or for a library that failed before saying it, its file name.
  std::string name() const;
};

// What `kindred plugins` shows for one plugin.
struct PluginInfo {
  std::string id;
  std::string version;
  std::string summary;
  std::string source;
  std::vector<std::string> permissions;  // see Permissions() in manifest.h
  std::vector<std::string> permissions_in_words;
  std::string state;   // "enabled", "disabled" or "failed"
  std::string reason;  // for disabled and failed
  bool out_of_process = false;  // runs in a process of its own
};

// Plugins someone (the user, or the host after a failure) turned off, by
// id, with the reason. Kept in a small JSON file in the home.
using DisabledPlugins = std::map<std::string, std::string>;

// Reads the file; a missing file is an empty map. Corruption for a file that
// is not what WriteDisabledPlugins writes.
Result<DisabledPlugins> ReadDisabledPlugins(const std::string& path);
// Writes it atomically (mode 0600).
Status WriteDisabledPlugins(const std::string& path, const DisabledPlugins& disabled);

// Not thread-safe to change; const methods may be called from any thread
// once it is filled. Must outlive every Host made from it.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // How libraries are run out of process, and their limits. Call before
  // LoadLibrary; the hosts made from the registry use them too.
  void SetRunnerOptions(RunnerOptions options) { runner_ = std::move(options); }
  const RunnerOptions& runner_options() const { return runner_; }

  // Adds a plugin linked into this binary; it runs in this process. The
  // result is also recorded as a failed module when it fails (see modules()).
  Status AddBuiltin(kindred_plugin_entry_fn entry);

  // Loads the shared library at `path` in a kindred-plugin-runner (never
  // into this process) and checks it: it exports kindred_plugin_entry, its
  // table is of this ABI version (an error names both versions otherwise),
  // and its manifest is valid and its id and commands are not taken by
  // another plugin. A library that crashes or hangs while loading is
  // recorded as failed, like any other that fails.
  Status LoadLibrary(const std::string& path);

  // Adds a plugin that `command` serves out of process: a program that
  // calls runner::ServePlugin on fd 3 (engine/plugin/runner/serve.h).
  // kindred-plugin-runner is one; bench/plugin serves a first-party plugin
  // this way to measure the cost. `source` is what `kindred plugins` shows.
  Status AddOutOfProcess(std::vector<std::string> command, std::string source);

  // Loads every "*.so" file in `dir`, in name order. A missing folder is
  // not an error; libraries that fail are recorded as failed modules.
  void LoadFolder(const std::string& dir);

  // Every module, in the order added.
  const std::vector<std::unique_ptr<Module>>& modules() const { return modules_; }
  // The loaded module with this id, or null.
  const Module* Find(std::string_view id) const;

  // The modules as `kindred plugins` lists them, given the disabled ones.
  std::vector<PluginInfo> Describe(const DisabledPlugins& disabled) const;

  // Starts a new instance's driver for `module` (loaded): in process over
  // its table, or a fresh runner process. Thread-safe. Errors name the
  // plugin (a runner that cannot start, a library changed on disk).
  Result<std::unique_ptr<Driver>> Start(const Module& module) const;

 private:
  Status Add(std::unique_ptr<Module> module, Result<pv1::Manifest> manifest,
             std::string_view what);
  Status Fail(std::string source, Status why);
  Status OutOfProcess(std::string source, std::vector<std::string> command, std::string who);

  RunnerOptions runner_;
  std::vector<std::unique_ptr<Module>> modules_;
};

// Checks what a plugin's table says of itself: this ABI version (an error
// names both otherwise), a table at least as large as version 1's, every
// function present. `what` names the plugin in errors.
Status CheckTable(const TableInfo& table, std::string_view what);

// Asks a plugin table in this process for its manifest (calling describe)
// after CheckTable. `what` names the plugin in errors.
Result<pv1::Manifest> ReadManifest(const kindred_plugin_api* api, std::string_view what);

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_REGISTRY_H_
