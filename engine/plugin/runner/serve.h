// The runner's side of an out-of-process plugin (docs/plugins.md, "Process
// model"): a process that holds one plugin's table, answers the host's
// frames (engine/plugin/frames.h) by calling it, and turns the plugin's calls
// to the host into frames the other way. It sees only what the host sends it:
// no store, no key, no engine.
//
// kindred-plugin-runner (runner_main.cc) loads a shared library and calls
// ServePlugin; a program may also serve a plugin linked into it (bench/plugin
// does, to measure a first-party plugin out of process).
#ifndef KINDRED_ENGINE_PLUGIN_RUNNER_SERVE_H_
#define KINDRED_ENGINE_PLUGIN_RUNNER_SERVE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kindred/plugin_abi.h"

namespace kindred::plugin::runner {

struct ServeOptions {
  // The host's limit on a frame's payload; the runner applies it to what it reads.
  size_t max_payload_bytes = size_t{64} << 20;
  // A watchdog: a call into the plugin that runs longer than this ends the
  // process (SIGALRM), even if the host is gone. The host's own, shorter
  // deadline normally stops it first. Zero: none.
  std::chrono::milliseconds watchdog{0};
};

// Says hello (the table's version, size and functions) on `fd` and answers
// frames until the host closes the connection or destroys the instance.
// `api` may be of another ABI version or broken: the host decides from the
// hello, and the runner calls nothing a hello did not vouch for. Returns the
// process's exit status: 0 when the host ended it, 3 when the host spoke
// malformed frames.
int ServePlugin(int fd, const kindred_plugin_api* api, const ServeOptions& options);

// Tells the host on `fd` that the library could not be loaded (a
// frames::LoadFailure code and why). Returns the exit status to use.
int ReportLoadFailure(int fd, uint32_t failure, const std::string& why);

// What the runner does to itself before it loads a plugin. Each step is
// cheap and none needs privileges; docs/plugins.md says what they contain
// and what they do not.
struct SandboxOptions {
  // RLIMIT_AS, bytes; 0 leaves it. Skipped under sanitizers, which reserve
  // terabytes of address space.
  uint64_t memory_limit_bytes = 0;
};

// Closes every inherited file descriptor but 0, 1, 2 and `keep_fd`; sets
// no-new-privileges; forbids core dumps (a plugin's memory holds the
// couple's records); restores default signal dispositions; and moves into
// an empty directory that no longer exists, so relative paths lead nowhere.
// Returns "" or what failed (the runner then refuses to go on).
std::string ApplySandbox(int keep_fd, const SandboxOptions& options);

}  // namespace kindred::plugin::runner

#endif  // KINDRED_ENGINE_PLUGIN_RUNNER_SERVE_H_
