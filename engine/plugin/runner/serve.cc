#include "engine/plugin/runner/serve.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/plugin/frames.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KINDRED_RUNNER_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define KINDRED_RUNNER_SANITIZED 1
#endif
#endif

namespace kindred::plugin::runner {
namespace {

using frames::Frame;
using frames::FrameKind;
using frames::IoResult;
using frames::PluginFunction;

// The size of version 1's table (as registry.cc checks it).
constexpr size_t kMinPluginApiSize = offsetof(kindred_plugin_api, update_view) + sizeof(void*);

struct Collected {
  std::string bytes;
  static void Write(void* ctx, const uint8_t* data, size_t size) {
    static_cast<Collected*>(ctx)->bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  kindred_sink sink() { return kindred_sink{this, &Collected::Write}; }
};

// Everything the runner knows. Lives on ServePlugin's stack; the plugin gets
// it back as its host table's ctx.
struct State {
  int fd = -1;
  ServeOptions options;
  const kindred_plugin_api* api = nullptr;
  bool usable = false;  // the hello vouched for the table
  void* instance = nullptr;
  bool in_call = false;
  std::thread::id call_thread;
  kindred_host_api host{};
};

void Watchdog(std::chrono::milliseconds limit) {
  if (limit.count() <= 0) return;
  itimerval t{};
  t.it_value.tv_sec = static_cast<time_t>(limit.count() / 1000);
  t.it_value.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
  setitimer(ITIMER_REAL, &t, nullptr);
}
void StopWatchdog() {
  itimerval t{};
  setitimer(ITIMER_REAL, &t, nullptr);
}

void Reply(const kindred_sink* out, const std::string& bytes) {
  if (out != nullptr && out->write != nullptr)
    out->write(out->ctx, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// A plugin calling the host: one frame out, one frame back.
kindred_plugin_status CallHost(void* ctx, frames::HostFunction fn, const uint8_t* in, size_t size,
                               const kindred_sink* out) {
  State& s = *static_cast<State*>(ctx);
  if (!s.in_call || std::this_thread::get_id() != s.call_thread) {
    Reply(out, "the host may only be called during a call into the plugin, on its thread");
    return KINDRED_PLUGIN_FAILED;
  }
  Frame call{FrameKind::kHostCall, static_cast<uint32_t>(fn),
             std::string(reinterpret_cast<const char*>(in), size)};
  if (size > s.options.max_payload_bytes) {
    Reply(out, "the request is larger than a frame may carry");
    return KINDRED_PLUGIN_INVALID_ARGUMENT;
  }
  if (frames::WriteFrame(s.fd, call, std::nullopt) != IoResult::kOk) _exit(0);  // the host is gone
  Frame answer;
  const IoResult r = frames::ReadFrame(s.fd, s.options.max_payload_bytes, std::nullopt, &answer);
  if (r == IoResult::kClosed) _exit(0);
  if (r != IoResult::kOk || answer.kind != FrameKind::kHostResult) _exit(3);
  Reply(out, answer.payload);
  return static_cast<kindred_plugin_status>(answer.code);
}

kindred_plugin_status Query(void* ctx, const uint8_t* in, size_t size, const kindred_sink* out) {
  return CallHost(ctx, frames::HostFunction::kQuery, in, size, out);
}
kindred_plugin_status Commit(void* ctx, const uint8_t* in, size_t size, const kindred_sink* out) {
  return CallHost(ctx, frames::HostFunction::kCommit, in, size, out);
}
kindred_plugin_status ReadView(void* ctx, const uint8_t* in, size_t size,
                               const kindred_sink* out) {
  return CallHost(ctx, frames::HostFunction::kReadView, in, size, out);
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The hello's payload; `*functions` the function bits it carries.
std::string Hello(const kindred_plugin_api* api, uint32_t* functions_out) {
  std::string payload;
  PutU32(&payload, api->abi_version);
  uint32_t size = 0, functions = 0;
  if (api->abi_version == KINDRED_PLUGIN_ABI_VERSION) {
    size = api->struct_size;
    if (size >= kMinPluginApiSize) {
      functions = (api->describe ? frames::kHasDescribe : 0) |
                  (api->create ? frames::kHasCreate : 0) |
                  (api->destroy ? frames::kHasDestroy : 0) |
                  (api->run_command ? frames::kHasRunCommand : 0) |
                  (api->update_view ? frames::kHasUpdateView : 0);
    }
  }
  PutU32(&payload, size);
  PutU32(&payload, functions);
  *functions_out = functions;
  return payload;
}

// Answers one kCall frame. Returns false when the runner should end.
bool Answer(State& s, const Frame& call, int* exit_status) {
  const auto fn = static_cast<PluginFunction>(call.code);
  Collected out;
  kindred_sink sink = out.sink();
  kindred_plugin_status status = KINDRED_PLUGIN_FAILED;
  const auto* in = reinterpret_cast<const uint8_t*>(call.payload.data());
  bool end = false;
  if (!s.usable) {
    out.bytes = "the plugin's table cannot be used";
  } else {
    switch (fn) {
      case PluginFunction::kDescribe:
        Watchdog(s.options.watchdog);
        status = s.api->describe(&sink);
        StopWatchdog();
        break;
      case PluginFunction::kCreate:
        if (s.instance != nullptr) {
          out.bytes = "the instance exists already";
          break;
        }
        Watchdog(s.options.watchdog);
        status = s.api->create(&s.host, &s.instance, &sink);
        StopWatchdog();
        break;
      case PluginFunction::kDestroy:
        if (s.instance != nullptr) {
          Watchdog(s.options.watchdog);
          s.api->destroy(s.instance);
          StopWatchdog();
        }
        s.instance = nullptr;
        status = KINDRED_PLUGIN_OK;
        end = true;
        break;
      case PluginFunction::kRunCommand:
      case PluginFunction::kUpdateView: {
        if (s.instance == nullptr) {
          out.bytes = "the plugin has no instance";
          break;
        }
        auto f = fn == PluginFunction::kRunCommand ? s.api->run_command : s.api->update_view;
        s.in_call = true;
        s.call_thread = std::this_thread::get_id();
        Watchdog(s.options.watchdog);
        status = f(s.instance, in, call.payload.size(), &sink);
        StopWatchdog();
        s.in_call = false;
        break;
      }
      default:
        *exit_status = 3;  // not a function of this ABI: the host is confused
        return false;
    }
  }
  if (out.bytes.size() > s.options.max_payload_bytes) {
    status = KINDRED_PLUGIN_FAILED;
    out.bytes = "the plugin's answer is larger than a frame may carry";
  }
  Frame result{FrameKind::kResult, static_cast<uint32_t>(status), std::move(out.bytes)};
  if (frames::WriteFrame(s.fd, result, std::nullopt) != IoResult::kOk) return false;
  return !end;
}

}  // namespace

int ServePlugin(int fd, const kindred_plugin_api* api, const ServeOptions& options) {
  State s;
  s.fd = fd;
  s.options = options;
  s.api = api;
  s.host.struct_size = sizeof(kindred_host_api);
  s.host.abi_version = KINDRED_PLUGIN_ABI_VERSION;
  s.host.ctx = &s;
  s.host.query = &Query;
  s.host.commit = &Commit;
  s.host.read_view = &ReadView;
  if (api == nullptr) {
    return ReportLoadFailure(fd, static_cast<uint32_t>(frames::LoadFailure::kNoTable),
                             "the entry point returned no table");
  }
  uint32_t functions = 0;
  const std::string hello = Hello(api, &functions);
  s.usable = functions == frames::kHasAll;  // so the version and size are this host's
  signal(SIGALRM, SIG_DFL);  // the watchdog ends the process
  if (frames::WriteFrame(fd, Frame{FrameKind::kHello, 0, hello}, std::nullopt) != IoResult::kOk)
    return 0;
  for (;;) {
    Frame call;
    const IoResult r = frames::ReadFrame(fd, options.max_payload_bytes, std::nullopt, &call);
    if (r == IoResult::kClosed) return 0;
    if (r != IoResult::kOk || call.kind != FrameKind::kCall) return 3;
    int exit_status = 0;
    if (!Answer(s, call, &exit_status)) return exit_status;
  }
}

int ReportLoadFailure(int fd, uint32_t failure, const std::string& why) {
  Frame f{FrameKind::kLoadFailed, failure, why.substr(0, 4096)};
  frames::WriteFrame(fd, f, std::nullopt);
  return 2;
}

std::string ApplySandbox(int keep_fd, const SandboxOptions& options) {
  // Inherited descriptors: a multithreaded parent cannot mark every one
  // close-on-exec in time, so the runner closes what it did not ask for.
  std::vector<int> open_fds;
  if (DIR* d = opendir("/proc/self/fd")) {
    const int own = dirfd(d);
    while (dirent* e = readdir(d)) {
      const int fd = atoi(e->d_name);
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd > 2 && fd != keep_fd && fd != own)
        open_fds.push_back(fd);
    }
    closedir(d);
  } else {
    for (int fd = 3; fd < 1024; ++fd) {
      if (fd != keep_fd) open_fds.push_back(fd);
    }
  }
  for (int fd : open_fds) close(fd);

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return std::string("no_new_privs: ") + std::strerror(errno);
  rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0)
    return std::string("RLIMIT_CORE: ") + std::strerror(errno);

  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  umask(077);

  char dir[] = "/tmp/kindred-plugin-XXXXXX";
  if (mkdtemp(dir) != nullptr && chdir(dir) == 0) {
    rmdir(dir);  // the working directory is now empty and gone
  } else if (chdir("/") != 0) {
    return std::string("chdir: ") + std::strerror(errno);
  }

#ifndef KINDRED_RUNNER_SANITIZED
  if (options.memory_limit_bytes > 0) {
    rlimit mem{options.memory_limit_bytes, options.memory_limit_bytes};
    if (setrlimit(RLIMIT_AS, &mem) != 0) return std::string("RLIMIT_AS: ") + std::strerror(errno);
  }
#endif
  return "";
}

}  // namespace kindred::plugin::runner
