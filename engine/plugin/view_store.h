// Where the host keeps the views plugins derive: rows (key -> bytes) under
// (plugin id, view, view version), and for each view what the host has
// already shown the plugin of each source record (a digest), so it can tell
// the plugin only what changed.
//
// Today's store keeps views in memory for the life of the host (so a
// one-shot command builds them once, and `kindred serve` keeps them current
// as ops arrive). A durable store needs a sealed, device-local key-value area
// in the engine (docs/plugins.md, "What is not done yet"); this interface is
// the seam where it goes.
#ifndef KINDRED_ENGINE_PLUGIN_VIEW_STORE_H_
#define KINDRED_ENGINE_PLUGIN_VIEW_STORE_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kindred::plugin {

// The identity of a stored view: a new version is a different view.
struct ViewKey {
  std::string plugin;
  std::string view;
  uint32_t version = 0;
  auto operator<=>(const ViewKey&) const = default;
};

// One view's contents.
struct ViewData {
  std::map<std::string, std::string> rows;
  // Source record ("<engine collection>\n<id>") -> digest of what the plugin
  // was last shown of it.
  std::map<std::string, uint64_t> seen;
  bool built = false;  // false until a first full pass over the sources
};

// Thread-safe: every method may be called from any thread.
class ViewStore {
 public:
  virtual ~ViewStore() = default;

  // Runs `fn` on the view's data (created empty if absent) under the store's
  // lock. `fn` must be quick and must not call back into the store.
  virtual void With(const ViewKey& key, const std::function<void(ViewData&)>& fn) = 0;

  // Drops every stored version of (plugin, view) except `keep`. Returns how
  // many were dropped.
  virtual size_t DropOtherVersions(const ViewKey& keep) = 0;

  // The keys stored, in order.
  virtual std::vector<ViewKey> Keys() = 0;
};

// Keeps views in memory.
std::unique_ptr<ViewStore> NewMemoryViewStore();

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_VIEW_STORE_H_
