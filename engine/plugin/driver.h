// How the plugin host reaches one instance of a plugin: in this process,
// through the plugin's C table (first-party plugins, linked in), or in a
// kindred-plugin-runner process, through frames (third-party libraries;
// runner_client.h). The host enforces the manifest the same way for both:
// a plugin's calls to the host arrive through the kindred_host_api the host
// passed to Create, on the thread that is inside Call.
#ifndef KINDRED_ENGINE_PLUGIN_DRIVER_H_
#define KINDRED_ENGINE_PLUGIN_DRIVER_H_

#include <memory>
#include <string>

#include "engine/plugin/frames.h"
#include "kindred/plugin_abi.h"

namespace kindred::plugin {

using frames::PluginFunction;

// How one call into a plugin ended.
struct CallOutcome {
  kindred_plugin_status status = KINDRED_PLUGIN_OK;
  // What the plugin wrote to its sink: its output, or on failure a message.
  std::string bytes;
  // Set when the plugin's process failed during the call: it crashed,
  // exited, ran out of time or spoke malformed frames. The host's own
  // account ("crashed in run_command (SIGSEGV)"), naming only what the host
  // saw. The driver is then dead: every later call fails the same way.
  std::string crash;

  bool crashed() const { return !crash.empty(); }
};

// One instance of a plugin. Not thread-safe: the host calls it from one
// thread at a time (Instance::call_mu). Destroying the driver ends the
// instance (destroy) and, out of process, the process.
class Driver {
 public:
  virtual ~Driver() = default;

  // Makes the instance. `host` (owned by the host) must stay valid until the
  // driver is destroyed. On failure, `bytes` may say why.
  virtual CallOutcome Create(const kindred_host_api* host) = 0;

  // Calls run_command or update_view with `request`. The plugin may call the
  // host table back during the call, on this thread.
  virtual CallOutcome Call(PluginFunction function, const std::string& request) = 0;

  // Whether calls go to another process (for `kindred plugins`).
  virtual bool out_of_process() const = 0;
};

// A driver for a plugin table in this process. `api` must outlive it.
std::unique_ptr<Driver> NewInProcessDriver(const kindred_plugin_api* api);

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_DRIVER_H_
