// The frames a plugin host and a kindred-plugin-runner exchange over a
// socketpair: exactly the calls of kindred/plugin_abi.h, as bytes, one frame
// per call or answer (docs/plugins.md, "Process model").
//
//   offset  size  field
//   0       4     length: the bytes after this field (5 + payload), u32 little-endian
//   4       1     kind (FrameKind)
//   5       4     code, u32 little-endian: the function called, or a call's status
//   9       ...   payload: the call's input, or what the callee wrote to its sink
//
// A reader checks `length` against its limit before it allocates anything,
// and a frame that is too short, too long or of an unknown kind is malformed.
// Used by both sides; depends on nothing but POSIX.
#ifndef KINDRED_ENGINE_PLUGIN_FRAMES_H_
#define KINDRED_ENGINE_PLUGIN_FRAMES_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace kindred::plugin::frames {

// Bytes before the payload: length, kind, code.
inline constexpr size_t kHeaderBytes = 9;
// The default limit on a frame's payload, each way.
inline constexpr size_t kDefaultMaxPayloadBytes = size_t{64} << 20;
// The runner's end of the socketpair, in the runner.
inline constexpr int kRunnerFd = 3;

enum class FrameKind : uint8_t {
  // runner -> host, once, first: the library loaded. Payload: three u32 LE,
  // the table's abi_version, struct_size, and a bit per function present
  // (kHas...). struct_size and functions are 0 when abi_version is not
  // this host's (the rest of the table is then not read).
  kHello = 1,
  // runner -> host, instead of kHello: the library could not be loaded.
  // code: LoadFailure; payload: why (UTF-8).
  kLoadFailed = 2,
  // host -> runner: call a plugin function. code: PluginFunction; payload: the input.
  kCall = 3,
  // runner -> host: the call returned. code: its kindred_plugin_status;
  // payload: what it wrote to its sink.
  kResult = 4,
  // runner -> host, during a call: the plugin called the host. code:
  // HostFunction; payload: the request.
  kHostCall = 5,
  // host -> runner: the host function returned. code: its status; payload: the response.
  kHostResult = 6,
};

// The functions of kindred_plugin_api, as kCall codes.
enum class PluginFunction : uint32_t {
  kDescribe = 1,
  kCreate = 2,
  kDestroy = 3,
  kRunCommand = 4,
  kUpdateView = 5,
};

// The functions of kindred_host_api, as kHostCall codes.
enum class HostFunction : uint32_t {
  kQuery = 1,
  kCommit = 2,
  kReadView = 3,
};

// kLoadFailed codes.
enum class LoadFailure : uint32_t {
  kCannotLoad = 1,  // dlopen failed
  kNoEntry = 2,     // no kindred_plugin_entry symbol
  kNoTable = 3,     // the entry point returned no table
};

// kHello's function bits: one per function of kindred_plugin_api present.
inline constexpr uint32_t kHasDescribe = 1u << 0;
inline constexpr uint32_t kHasCreate = 1u << 1;
inline constexpr uint32_t kHasDestroy = 1u << 2;
inline constexpr uint32_t kHasRunCommand = 1u << 3;
inline constexpr uint32_t kHasUpdateView = 1u << 4;
inline constexpr uint32_t kHasAll = 31u;

// "run_command", "update_view", ...
const char* FunctionName(PluginFunction f);

struct Frame {
  FrameKind kind = FrameKind::kHello;
  uint32_t code = 0;
  std::string payload;
};

// The bytes of `frame`.
std::string Encode(const Frame& frame);

// How reading or writing a frame ended.
enum class IoResult {
  kOk,
  kClosed,     // the other end closed the connection (or died)
  kTimedOut,   // the deadline passed
  kMalformed,  // a frame shorter than its header or of an unknown kind
  kTooLarge,   // a frame longer than the limit (nothing was allocated for it)
};

using Deadline = std::optional<std::chrono::steady_clock::time_point>;  // none: wait forever

// Reads one frame from `fd` (blocking or not), waiting at most until
// `deadline`. `max_payload` is checked before the payload is allocated; on
// kTooLarge, `*too_large` (if given) is the length the header claimed.
IoResult ReadFrame(int fd, size_t max_payload, Deadline deadline, Frame* frame,
                   uint64_t* too_large = nullptr);

// Writes one frame to `fd`, waiting at most until `deadline`. Never raises
// SIGPIPE: a peer that is gone is kClosed.
IoResult WriteFrame(int fd, const Frame& frame, Deadline deadline);

}  // namespace kindred::plugin::frames

#endif  // KINDRED_ENGINE_PLUGIN_FRAMES_H_
