// The plugin host: binds the plugins of a Registry to one open Engine, and
// stands between them. It is the only code that talks to both, and it uses
// the engine's public API only.
//
//   plugin::Registry registry;
//   RegisterBuiltinPlugins(registry);                 // plugins/builtin.h
//   auto host = plugin::Host::Create(*engine, registry, {});
//   auto response = (*host)->RunCommand("org.kindred.gratitude", request);
//
// What it enforces, for every call a plugin makes (plugin_abi.h):
//   - a plugin reads only its own collections and the ones its manifest
//     grants, and of those only the records the grant's scope allows
//     (shared only, or private too);
//   - it writes only its own collections, only the fields it declared, each
//     only as its merge rule allows;
//   - it gets records and view rows, never a key, a space or an op.
// A plugin that breaks a rule, fails a call (an exception the SDK caught, an
// error code), returns bytes that are not the message it owes, or, run out
// of process, crashes, exits, runs past its time or speaks malformed frames
// is refused, named, disabled (remembered in the home's plugin state file)
// and left alone; the host and the engine keep running.
//
// Process model (docs/plugins.md): built-in plugins run in this process;
// libraries each run in a kindred-plugin-runner process of their own
// (Registry::Start), started on the plugin's first call. The host enforces
// the manifest the same way for both: the plugin only ever sees what the
// host sends it.
//
// Nothing is lost: the changes a plugin commits during one call into it are
// checked at once but applied together, in one engine commit, only when the
// call returns well; a call that fails in any way writes nothing.
//
// Views: for each view a plugin declares, the host shows the plugin the
// records of the view's sources that changed, and stores the rows it returns
// in a ViewStore under (plugin id, view, version). A view whose version is
// new is rebuilt from scratch; other versions are dropped. The engine's
// change listener marks views stale after every commit or ingest; they are
// brought current before each of the plugin's commands and, with
// `live` (kindred serve), in the background once changes settle.
//
// Thread-safe: every method may be called from any thread. A plugin
// instance is called by one thread at a time.
#ifndef KINDRED_ENGINE_PLUGIN_HOST_H_
#define KINDRED_ENGINE_PLUGIN_HOST_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/plugin/registry.h"
#include "engine/plugin/view_store.h"
#include "kindred/engine.h"
#include "kindred/env.h"
#include "kindred/result.h"

namespace kindred::plugin {

struct HostOptions {
  // Where views are kept. Not owned; must outlive the host. Null: the host
  // keeps its own, in memory.
  ViewStore* views = nullptr;
  // The file that remembers disabled plugins (HOME/plugin-state.json).
  // Empty: remembered only while the host lives.
  std::string state_path;
  // Keep views current in the background as changes arrive (kindred serve).
  bool live = false;
  // With `live`: refresh views once no change has come for `settle`, or
  // `max_delay` after the first change, whichever is sooner.
  std::chrono::milliseconds settle{250};
  std::chrono::milliseconds max_delay{3000};
  // "Now" for the plugins' Environment and append-only items. Null: the
  // system clock. Not owned.
  Clock* clock = nullptr;
  // Randomness for the ids of records plugins create. Null: the system's.
  // Not owned.
  Random* random = nullptr;
  // Told, in one line each, what the host did on its own (a plugin
  // disabled, a view rebuilt). May be called from any thread.
  std::function<void(const std::string&)> log;
};

class Host {
 public:
  // Starts an instance of every loaded, not disabled plugin of `registry`
  // (a plugin that fails to start is disabled) and registers the change
  // listener. `engine` and `registry` must outlive the host.
  static Result<std::unique_ptr<Host>> Create(Engine& engine, const Registry& registry,
                                              HostOptions options);
  virtual ~Host() = default;

  // The plugins, with their state as this host sees it.
  virtual std::vector<PluginInfo> Plugins() = 0;

  // Runs one of plugin `id`'s commands (its views are brought current
  // first). `request.env` is filled in here. NotFound: no such plugin.
  // FailedPrecondition: the plugin is disabled (the message says how to turn
  // it back on). Internal, naming the plugin: it failed or broke a rule, and
  // is now disabled.
  virtual Result<v1::CommandResponse> RunCommand(const std::string& id,
                                                 v1::CommandRequest request) = 0;

  // Brings the views of every enabled plugin current, now. A plugin that
  // fails is disabled; the status says so (the others are still refreshed).
  virtual Status CatchUp() = 0;

  // Turns a plugin off (remembered in the state file) or back on. NotFound
  // for an unknown id.
  virtual Status Disable(const std::string& id, const std::string& reason) = 0;
  virtual Status Enable(const std::string& id) = 0;

  // The rows of one of plugin `id`'s views, as stored now (for tests and
  // tools; plugins read their views through the ABI).
  virtual Result<std::vector<std::pair<std::string, std::string>>> ViewRows(
      const std::string& id, const std::string& view) = 0;
};

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_HOST_H_
