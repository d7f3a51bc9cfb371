#include "engine/plugin/view_store.h"

#include <functional>

namespace kindred::plugin {
namespace {

class MemoryViewStore final : public ViewStore {
 public:
  void With(const ViewKey& key, const std::function<void(ViewData&)>& fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    fn(views_[key]);
  }

  size_t DropOtherVersions(const ViewKey& keep) override {
    std::lock_guard<std::mutex> lock(mu_);
    size_t dropped = 0;
    for (auto it = views_.begin(); it != views_.end();) {
      if (it->first.plugin == keep.plugin && it->first.view == keep.view &&
          it->first.version != keep.version) {
        it = views_.erase(it);
        ++dropped;
      } else {
        ++it;
      }
    }
    return dropped;
  }

  std::vector<ViewKey> Keys() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ViewKey> out;
    for (const auto& [k, v] : views_) out.push_back(k);
    return out;
  }

 private:
  std::mutex mu_;
  std::map<ViewKey, ViewData> views_;  // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<ViewStore> NewMemoryViewStore() { return std::make_unique<MemoryViewStore>(); }

}  // namespace kindred::plugin
