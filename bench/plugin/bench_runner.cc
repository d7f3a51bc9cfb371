// plugin_bench_runner NAME: serves one first-party plugin (gratitude,
// repair or stats) out of process, exactly as kindred-plugin-runner serves
// a library (same sandbox, same frames), so that plugin_bench can measure
// what moving a first-party plugin out of process would cost
// (docs/performance.md, "Plugins"). Started by the plugin host through
// Registry::AddOutOfProcess.
#include <cstring>

#include "engine/plugin/frames.h"
#include "engine/plugin/runner/serve.h"
#include "plugins/gratitude/gratitude.h"
#include "plugins/repair/repair.h"
#include "plugins/stats/stats.h"

int main(int argc, char** argv) {
  namespace runner = kindred::plugin::runner;
  if (argc != 2) return 2;
  const kindred_plugin_api* api = nullptr;
  if (std::strcmp(argv[1], "gratitude") == 0) api = kindred_gratitude_plugin_entry();
  if (std::strcmp(argv[1], "repair") == 0) api = kindred_repair_plugin_entry();
  if (std::strcmp(argv[1], "stats") == 0) api = kindred_stats_plugin_entry();
  const int fd = kindred::plugin::frames::kRunnerFd;
  runner::SandboxOptions sandbox;
  sandbox.memory_limit_bytes = uint64_t{1} << 30;
  if (!runner::ApplySandbox(fd, sandbox).empty()) return 2;
  return runner::ServePlugin(fd, api, runner::ServeOptions{});
}
