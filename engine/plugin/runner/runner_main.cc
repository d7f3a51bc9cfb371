// kindred-plugin-runner: runs one third-party plugin library in a process of
// its own, so that a plugin that crashes, loops or scribbles over memory
// takes down only this process (docs/plugins.md, "Process model").
//
//   kindred-plugin-runner [--memory-limit-mb N] [--watchdog-ms N]
//                         [--max-frame-bytes N] /absolute/path/plugin.so
//
// Started by the plugin host (engine/plugin/runner_client.cc) with its end
// of a socketpair as file descriptor 3 and a scrubbed environment; not meant
// to be run by hand.
#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/plugin/frames.h"
#include "engine/plugin/runner/serve.h"

namespace {

namespace runner = kindred::plugin::runner;
namespace frames = kindred::plugin::frames;

int Usage() {
  std::fprintf(stderr,
               "kindred-plugin-runner runs a plugin for kindred, which starts it; it is not run "
               "by hand (docs/plugins.md)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  struct stat st {};
  if (fstat(frames::kRunnerFd, &st) != 0 || !S_ISSOCK(st.st_mode)) return Usage();

  runner::SandboxOptions sandbox;
  runner::ServeOptions serve;
  std::string library;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--memory-limit-mb" && has_value) {
      sandbox.memory_limit_bytes = std::strtoull(argv[++i], nullptr, 10) << 20;
    } else if (arg == "--watchdog-ms" && has_value) {
      serve.watchdog = std::chrono::milliseconds(std::strtoll(argv[++i], nullptr, 10));
    } else if (arg == "--max-frame-bytes" && has_value) {
      serve.max_payload_bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--" && has_value) {
      library = argv[++i];
    } else if (!arg.empty() && arg[0] != '-') {
      library = arg;
    } else {
      return Usage();
    }
  }
  if (library.empty() || library[0] != '/') return Usage();

  const std::string sandboxed = runner::ApplySandbox(frames::kRunnerFd, sandbox);
  if (!sandboxed.empty()) {
    return runner::ReportLoadFailure(frames::kRunnerFd,
                                     static_cast<uint32_t>(frames::LoadFailure::kCannotLoad),
                                     "the runner could not confine itself: " + sandboxed);
  }
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return runner::ReportLoadFailure(frames::kRunnerFd,
                                     static_cast<uint32_t>(frames::LoadFailure::kCannotLoad),
                                     why ? why : "dlopen failed");
  }
  dlerror();
  void* symbol = dlsym(handle, KINDRED_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    return runner::ReportLoadFailure(frames::kRunnerFd,
                                     static_cast<uint32_t>(frames::LoadFailure::kNoEntry),
                                     KINDRED_PLUGIN_ENTRY_SYMBOL);
  }
  auto entry = reinterpret_cast<kindred_plugin_entry_fn>(symbol);
  const int status = runner::ServePlugin(frames::kRunnerFd, entry(), serve);
  // The library stays loaded: its destructors may run on exit, as in kindred.
  return status;
}
