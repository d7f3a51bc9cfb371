#include "engine/plugin/runner_client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

extern char** environ;

namespace kindred::plugin {
namespace {

using frames::Frame;
using frames::FrameKind;
using frames::IoResult;
using Clock = std::chrono::steady_clock;

// How long a runner whose connection closed may take to exit before it is
// killed, and how long one asked to end may take.
constexpr auto kExitGrace = std::chrono::milliseconds(500);

std::string SignalName(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::string Milliseconds(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

// What the runner's exit status says, as the end of "the plugin X ...";
// `where` is "in run_command" or "while loading".
std::string DescribeExit(int status, const std::string& where) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGKILL) return "was killed " + where + " (SIGKILL)";
    if (sig == SIGALRM) return "ran past its watchdog " + where;
    return "crashed " + where + " (" + SignalName(sig) + ")";
  }
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status)) + " " + where;
  return "ended " + where;
}

uint32_t GetU32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

bool Executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// Only what a plugin may need to format times and text, and what sanitizers read.
std::vector<std::string> ScrubbedEnvironment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    const bool keep = name == "TZ" || name == "LANG" || name.rfind("LC_", 0) == 0 ||
                      (name.size() > 11 && name.compare(name.size() - 11, 11, "SAN_OPTIONS") == 0);
    if (keep) out.push_back(entry);
  }
  return out;
}

class OutOfProcessDriver final : public Driver {
 public:
  OutOfProcessDriver(std::unique_ptr<RunnerProcess> process, const RunnerOptions& options)
      : process_(std::move(process)), options_(options) {}
  ~OutOfProcessDriver() override {
    if (created_) {
      process_->Call(PluginFunction::kDestroy, "", nullptr, options_.start_timeout);
    }
  }

  CallOutcome Create(const kindred_host_api* host) override {
    host_ = host;
    CallOutcome o = process_->Call(PluginFunction::kCreate, "", nullptr, options_.start_timeout);
    created_ = !o.crashed() && o.status == KINDRED_PLUGIN_OK;
    return o;
  }

  CallOutcome Call(PluginFunction function, const std::string& request) override {
    return process_->Call(function, request, host_, options_.call_timeout);
  }

  bool out_of_process() const override { return true; }

 private:
  std::unique_ptr<RunnerProcess> process_;
  RunnerOptions options_;
  const kindred_host_api* host_ = nullptr;
  bool created_ = false;
};

}  // namespace

std::string DefaultRunnerPath() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto dir = self.parent_path();
  for (const auto& candidate :
       {dir / "kindred-plugin-runner", dir / ".." / "libexec" / "kindred" / "kindred-plugin-runner"}) {
    const std::string path = candidate.lexically_normal().string();
    if (Executable(path)) return path;
  }
  return "";
}

std::vector<std::string> RunnerCommand(const RunnerOptions& options, const std::string& library) {
  const std::string runner =
      options.runner_path.empty() ? DefaultRunnerPath() : options.runner_path;
  // The runner's own watchdog fires a little after the host's deadline, so
  // that a call is stopped even if the host is gone.
  const auto watchdog = std::max(options.call_timeout, options.start_timeout) +
                        std::chrono::milliseconds(2000);
  return {runner,
          "--memory-limit-mb",
          std::to_string(options.memory_limit_mib),
          "--watchdog-ms",
          std::to_string(watchdog.count()),
          "--max-frame-bytes",
          std::to_string(options.max_frame_bytes),
          "--",
          library};
}

RunnerProcess::RunnerProcess(pid_t pid, int fd, size_t max_frame_bytes)
    : pid_(pid), fd_(fd), max_frame_bytes_(max_frame_bytes) {}

RunnerProcess::~RunnerProcess() {
  if (fd_ >= 0) close(fd_);  // an orderly runner exits on end of file
  fd_ = -1;
  if (pid_ <= 0) return;
  const auto until = Clock::now() + kExitGrace;
  int status = 0;
  while (Clock::now() < until) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Result<std::unique_ptr<RunnerProcess>> RunnerProcess::Start(const std::vector<std::string>& command,
                                                          const RunnerOptions& options,
                                                          const std::string& who) {
  if (command.empty() || !Executable(command[0])) {
    return Status::FailedPrecondition(
        "cannot run " + who +
        " in a process of its own: kindred-plugin-runner was not found (it belongs next to "
        "kindred, or in ../libexec/kindred/ from it)");
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return Status::IOError(std::string("socketpair: ") + std::strerror(errno));
  int child_end = sv[1];
  if (child_end == frames::kRunnerFd) {
    // dup2 onto itself would keep close-on-exec set; move it out of the way.
    child_end = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    close(sv[1]);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end, frames::kRunnerFd);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = command;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = ScrubbedEnvironment();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(child_end);
  if (spawned != 0) {
    close(sv[0]);
    return Status::IOError("cannot start kindred-plugin-runner for " + who + ": " +
                           std::strerror(spawned));
  }
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  std::unique_ptr<RunnerProcess> process(new RunnerProcess(pid, sv[0], options.max_frame_bytes));

  Frame hello;
  const IoResult r = frames::ReadFrame(process->fd_, 4096, Clock::now() + options.start_timeout,
                                       &hello);
  if (r == IoResult::kClosed) {
    return Status::Internal(who + " " + process->Ended("while loading"));
  }
  if (r == IoResult::kTimedOut) {
    return Status::Internal(process->Stop(who + " did not finish loading within " +
                                          Milliseconds(options.start_timeout) +
                                          ", so Kindred stopped it"));
  }
  if (r != IoResult::kOk ||
      (hello.kind != FrameKind::kHello && hello.kind != FrameKind::kLoadFailed) ||
      (hello.kind == FrameKind::kHello && hello.payload.size() != 12)) {
    return Status::Internal(process->Stop(who + " sent a malformed frame while loading"));
  }
  if (hello.kind == FrameKind::kLoadFailed) {
    std::string why = hello.payload.substr(0, 1000);
    switch (static_cast<frames::LoadFailure>(hello.code)) {
      case frames::LoadFailure::kNoEntry:
        return Status::InvalidArgument(who + " is not a Kindred plugin: it exports no " +
                                       KINDRED_PLUGIN_ENTRY_SYMBOL);
      case frames::LoadFailure::kNoTable:
        return Status::InvalidArgument(who + " returned no plugin table");
      default:
        return Status::InvalidArgument("cannot load " + who + ": " + why);
    }
  }
  process->table_.abi_version = GetU32(hello.payload, 0);
  process->table_.struct_size = GetU32(hello.payload, 4);
  process->table_.functions = GetU32(hello.payload, 8);
  return process;
}

std::string RunnerProcess::Stop(std::string why) {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  dead_ = why;
  return why;
}

std::string RunnerProcess::Ended(const std::string& where) {
  // The connection closes as the process dies; its status follows at once.
  const auto until = Clock::now() + kExitGrace;
  int status = 0;
  while (pid_ > 0 && Clock::now() < until) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return Stop(DescribeExit(status, where));
    }
    if (r < 0 && errno != EINTR) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Stop("closed its connection " + where);
}

CallOutcome RunnerProcess::Call(PluginFunction function, const std::string& request,
                                const kindred_host_api* host, std::chrono::milliseconds timeout) {
  CallOutcome o;
  const std::string what = frames::FunctionName(function);
  if (!dead_.empty()) {
    o.crash = dead_;
    return o;
  }
  if (request.size() > max_frame_bytes_) {
    // The host's own request: not the plugin's fault, and nothing was sent.
    o.status = KINDRED_PLUGIN_FAILED;
    o.bytes = "the request is larger than the " + std::to_string(max_frame_bytes_) +
              "-byte limit of a frame";
    return o;
  }
  const auto deadline = Clock::now() + timeout;
  auto timed_out = [&] {
    return Stop("did not finish " + what + " within " + Milliseconds(timeout) +
                ", so Kindred stopped it");
  };
  IoResult w = frames::WriteFrame(
      fd_, Frame{FrameKind::kCall, static_cast<uint32_t>(function), request}, deadline);
  if (w == IoResult::kTimedOut) {
    o.crash = timed_out();
    return o;
  }
  if (w != IoResult::kOk) {
    o.crash = Ended("in " + what);
    return o;
  }
  for (;;) {
    Frame frame;
    uint64_t claimed = 0;
    const IoResult r = frames::ReadFrame(fd_, max_frame_bytes_, deadline, &frame, &claimed);
    switch (r) {
      case IoResult::kOk:
        break;
      case IoResult::kClosed:
        o.crash = Ended("in " + what);
        return o;
      case IoResult::kTimedOut:
        o.crash = timed_out();
        return o;
      case IoResult::kTooLarge:
        o.crash = Stop("sent a frame of " + std::to_string(claimed) + " bytes during " + what +
                       ", more than the " + std::to_string(max_frame_bytes_) +
                       "-byte limit, so Kindred stopped it");
        return o;
      case IoResult::kMalformed:
        o.crash = Stop("sent a malformed frame during " + what + ", so Kindred stopped it");
        return o;
    }
    if (frame.kind == FrameKind::kResult) {
      o.status = static_cast<kindred_plugin_status>(frame.code);
      o.bytes = std::move(frame.payload);
      return o;
    }
    const auto fn = static_cast<frames::HostFunction>(frame.code);
    if (frame.kind != FrameKind::kHostCall || host == nullptr ||
        (fn != frames::HostFunction::kQuery && fn != frames::HostFunction::kCommit &&
         fn != frames::HostFunction::kReadView)) {
      o.crash = Stop("sent an unexpected frame during " + what + ", so Kindred stopped it");
      return o;
    }
    auto host_fn = fn == frames::HostFunction::kQuery    ? host->query
                   : fn == frames::HostFunction::kCommit ? host->commit
                                                         : host->read_view;
    struct Reply {
      std::string bytes;
      static void Write(void* ctx, const uint8_t* data, size_t size) {
        static_cast<Reply*>(ctx)->bytes.assign(reinterpret_cast<const char*>(data), size);
      }
    } reply;
    kindred_sink sink{&reply, &Reply::Write};
    kindred_plugin_status status =
        host_fn(host->ctx, reinterpret_cast<const uint8_t*>(frame.payload.data()),
                frame.payload.size(), &sink);
    if (reply.bytes.size() > max_frame_bytes_) {
      status = KINDRED_PLUGIN_FAILED;
      reply.bytes = "the answer is larger than the " + std::to_string(max_frame_bytes_) +
                    "-byte limit of a frame; ask for less at a time";
    }
    w = frames::WriteFrame(
        fd_, Frame{FrameKind::kHostResult, static_cast<uint32_t>(status), std::move(reply.bytes)},
        deadline);
    if (w == IoResult::kTimedOut) {
      o.crash = timed_out();
      return o;
    }
    if (w != IoResult::kOk) {
      o.crash = Ended("in " + what);
      return o;
    }
  }
}

std::unique_ptr<Driver> NewOutOfProcessDriver(std::unique_ptr<RunnerProcess> process,
                                              const RunnerOptions& options) {
  return std::make_unique<OutOfProcessDriver>(std::move(process), options);
}

}  // namespace kindred::plugin
