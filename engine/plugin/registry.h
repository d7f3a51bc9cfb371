// The plugins a process knows: those linked into it (registered explicitly,
// once, by RegisterBuiltinPlugins in plugins/builtin.h) and shared libraries
// loaded with dlopen from a home's plugins folder or a --plugin path. The
// registry is an object its owner (main(), a test) makes and keeps; there is
// no global list and no static self-registration.
#ifndef KINDRED_ENGINE_PLUGIN_REGISTRY_H_
#define KINDRED_ENGINE_PLUGIN_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/plugin/manifest.h"
#include "kindred/plugin_abi.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::plugin {

// One plugin the registry knows, loaded or not. Value-like; owned by the
// registry.
struct Module {
  std::string source;                       // "built-in", or the library's path
  const kindred_plugin_api* api = nullptr;  // null when it failed to load
  pv1::Manifest manifest;                   // valid when api is set
  std::string error;                        // why it failed to load ("" when it loaded)

  bool loaded() const { return api != nullptr; }
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
  ~Registry();  // unloads the libraries it loaded
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds a plugin linked into this binary. The result is also recorded as a
  // failed module when it fails (see modules()).
  Status AddBuiltin(kindred_plugin_entry_fn entry);

  // Loads the shared library at `path` with dlopen and checks it: it exports
  // kindred_plugin_entry, its table is of this ABI version (an error names
  // both versions otherwise), and its manifest is valid and its id and
  // commands are not taken by another plugin.
  Status LoadLibrary(const std::string& path);

  // Loads every "*.so" file in `dir`, in name order. A missing folder is
  // not an error; libraries that fail are recorded as failed modules.
  void LoadFolder(const std::string& dir);

  // Every module, in the order added.
  const std::vector<std::unique_ptr<Module>>& modules() const { return modules_; }
  // The loaded module with this id, or null.
  const Module* Find(std::string_view id) const;

  // The modules as `kindred plugins` lists them, given the disabled ones.
  std::vector<PluginInfo> Describe(const DisabledPlugins& disabled) const;

 private:
  Status Add(std::string source, const kindred_plugin_api* api, std::string_view what);
  Status Fail(std::string source, Status why);

  struct Library;  // a dlopen handle
  std::vector<std::unique_ptr<Library>> libraries_;
  std::vector<std::unique_ptr<Module>> modules_;
};

// Asks a plugin table for its manifest (calling describe) and checks the
// table's size and ABI version. `what` names the plugin in errors.
Result<pv1::Manifest> ReadManifest(const kindred_plugin_api* api, std::string_view what);

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_REGISTRY_H_
