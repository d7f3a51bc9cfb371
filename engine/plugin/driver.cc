#include "engine/plugin/driver.h"

namespace kindred::plugin {
namespace {

struct Collected {
  std::string bytes;
  static void Write(void* ctx, const uint8_t* data, size_t size) {
    static_cast<Collected*>(ctx)->bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  kindred_sink sink() { return kindred_sink{this, &Collected::Write}; }
};

class InProcessDriver final : public Driver {
 public:
  explicit InProcessDriver(const kindred_plugin_api* api) : api_(api) {}
  ~InProcessDriver() override {
    if (instance_ != nullptr) api_->destroy(instance_);
  }

  CallOutcome Create(const kindred_host_api* host) override {
    CallOutcome o;
    if (instance_ != nullptr) return o;
    Collected error;
    kindred_sink sink = error.sink();
    o.status = api_->create(host, &instance_, &sink);
    if (o.status == KINDRED_PLUGIN_OK && instance_ == nullptr) o.status = KINDRED_PLUGIN_INTERNAL;
    if (o.status != KINDRED_PLUGIN_OK) instance_ = nullptr;
    o.bytes = std::move(error.bytes);
    return o;
  }

  CallOutcome Call(PluginFunction function, const std::string& request) override {
    CallOutcome o;
    auto fn = function == PluginFunction::kRunCommand ? api_->run_command : api_->update_view;
    if (instance_ == nullptr ||
        (function != PluginFunction::kRunCommand && function != PluginFunction::kUpdateView)) {
      o.status = KINDRED_PLUGIN_FAILED;
      o.bytes = "the plugin has no instance";
      return o;
    }
    Collected out;
    kindred_sink sink = out.sink();
    o.status = fn(instance_, reinterpret_cast<const uint8_t*>(request.data()), request.size(),
                  &sink);
    o.bytes = std::move(out.bytes);
    return o;
  }

  bool out_of_process() const override { return false; }

 private:
  const kindred_plugin_api* api_;
  void* instance_ = nullptr;  // the plugin's, from create
};

}  // namespace

std::unique_ptr<Driver> NewInProcessDriver(const kindred_plugin_api* api) {
  return std::make_unique<InProcessDriver>(api);
}

}  // namespace kindred::plugin
