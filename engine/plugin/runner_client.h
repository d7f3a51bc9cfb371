// The host's side of an out-of-process plugin: starting a
// kindred-plugin-runner (engine/plugin/runner/) for a library, speaking
// frames to it (frames.h), and turning whatever goes wrong in that process
// (a crash, an exit, a call that never ends, malformed frames) into a
// CallOutcome the host handles as a failed plugin: refused, named, disabled.
// The kindred process is never at the plugin's mercy: it never blocks
// without a deadline, never reads a frame longer than its limit, and never
// gets SIGPIPE from a runner that died.
#ifndef KINDRED_ENGINE_PLUGIN_RUNNER_CLIENT_H_
#define KINDRED_ENGINE_PLUGIN_RUNNER_CLIENT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/plugin/driver.h"
#include "engine/plugin/frames.h"
#include "kindred/result.h"

namespace kindred::plugin {

// How out-of-process plugins are run, and their limits. Value type.
struct RunnerOptions {
  // The kindred-plugin-runner executable. Empty: DefaultRunnerPath().
  std::string runner_path;
  // The longest a run_command or update_view may take, the plugin's calls
  // to the host included. A call that runs longer is stopped (the process
  // is killed) and counts as a crash.
  std::chrono::milliseconds call_timeout{10000};
  // The same for starting: loading the library, describe, create, destroy.
  std::chrono::milliseconds start_timeout{10000};
  // The largest frame payload either side accepts (checked before
  // allocating). A larger answer from the host fails the plugin's call to
  // the host; a larger frame from the plugin counts as a crash.
  size_t max_frame_bytes = frames::kDefaultMaxPayloadBytes;
  // The runner's address-space limit (RLIMIT_AS), in MiB; 0: none.
  uint64_t memory_limit_mib = 1024;
};

// kindred-plugin-runner next to the running executable, or in
// ../libexec/kindred/ from it (where `cmake --install` puts it); "" if
// neither exists.
std::string DefaultRunnerPath();

// The command line that runs `library` (an absolute path) in a runner.
std::vector<std::string> RunnerCommand(const RunnerOptions& options, const std::string& library);

// What a runner said of the plugin's table when it started.
struct TableInfo {
  uint32_t abi_version = 0;
  uint32_t struct_size = 0;  // 0 unless abi_version is this host's
  uint32_t functions = 0;    // frames::kHas... bits; 0 unless struct_size suffices
};

// One runner process and the host's end of its socketpair. Not thread-safe
// (one call at a time). Destroying it closes the connection, gives the
// process a moment to exit, kills it if it does not, and reaps it.
class RunnerProcess {
 public:
  // Starts `command` (command[0] an executable's path) with its end of a
  // socketpair as fd 3, stdin and stdout on /dev/null, stderr inherited,
  // default signal handling and an environment holding only TZ, LANG, LC_*
  // and *SAN_OPTIONS (never KINDRED_PASSPHRASE or the home), and waits for
  // its hello. `who` names the plugin in errors ("the plugin /p/x.so").
  // InvalidArgument when the library cannot be loaded or is not a plugin;
  // Internal when the runner crashed or timed out while loading;
  // FailedPrecondition when there is no runner to start.
  static Result<std::unique_ptr<RunnerProcess>> Start(const std::vector<std::string>& command,
                                                      const RunnerOptions& options,
                                                      const std::string& who);
  ~RunnerProcess();
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;

  const TableInfo& table() const { return table_; }
  pid_t pid() const { return pid_; }

  // Calls `function` with `request` and waits, until `timeout` has passed,
  // for its result, answering the plugin's calls to `host` (null: the
  // plugin may not call the host) on this thread meanwhile. After a crash
  // the process is gone, and every later call is the same crash.
  CallOutcome Call(PluginFunction function, const std::string& request,
                   const kindred_host_api* host, std::chrono::milliseconds timeout);

 private:
  RunnerProcess(pid_t pid, int fd, size_t max_frame_bytes);
  // The process died or closed its end (`where`: "in run_command"): why,
  // once it is reaped.
  std::string Ended(const std::string& where);
  // Kills and reaps the process; `why` is the account the outcome carries.
  std::string Stop(std::string why);

  pid_t pid_ = -1;
  int fd_ = -1;
  size_t max_frame_bytes_;
  TableInfo table_;
  std::string dead_;  // why the process is gone ("" while it runs)
};

// A driver over a started runner (which it owns). Create and Call use the
// options' timeouts; destroying the driver calls destroy and ends the process.
std::unique_ptr<Driver> NewOutOfProcessDriver(std::unique_ptr<RunnerProcess> process,
                                              const RunnerOptions& options);

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_RUNNER_CLIENT_H_
