#include "engine/plugin/frames.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <climits>

namespace kindred::plugin::frames {
namespace {

void PutU32(char* at, uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(at[i])) << (8 * i);
  return v;
}

bool KnownKind(uint8_t kind) {
  return kind >= static_cast<uint8_t>(FrameKind::kHello) &&
         kind <= static_cast<uint8_t>(FrameKind::kHostResult);
}

// Waits until `fd` is ready for `events` or the deadline passes.
IoResult Wait(int fd, short events, const Deadline& deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return IoResult::kTimedOut;
      timeout_ms = left.count() > INT_MAX ? INT_MAX : static_cast<int>(left.count());
    }
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, timeout_ms);
    if (n > 0) return IoResult::kOk;  // ready, or hung up / failed: recv/send will tell
    if (n == 0) return IoResult::kTimedOut;
    if (errno != EINTR) return IoResult::kClosed;
  }
}

IoResult ReadExactly(int fd, char* out, size_t n, const Deadline& deadline) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = recv(fd, out + done, n - done, MSG_DONTWAIT);
    if (got > 0) {
      done += static_cast<size_t>(got);
      continue;
    }
    if (got == 0) return IoResult::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return IoResult::kClosed;
    const IoResult ready = Wait(fd, POLLIN, deadline);
    if (ready != IoResult::kOk) return ready;
  }
  return IoResult::kOk;
}

IoResult WriteAll(int fd, const char* data, size_t n, const Deadline& deadline) {
  size_t done = 0;
  while (done < n) {
    const ssize_t put = send(fd, data + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put > 0) {
      done += static_cast<size_t>(put);
      continue;
    }
    if (put < 0 && errno == EINTR) continue;
    if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return IoResult::kClosed;
    const IoResult ready = Wait(fd, POLLOUT, deadline);
    if (ready != IoResult::kOk) return ready;
  }
  return IoResult::kOk;
}

}  // namespace

const char* FunctionName(PluginFunction f) {
  switch (f) {
    case PluginFunction::kDescribe:
      return "describe";
    case PluginFunction::kCreate:
      return "create";
    case PluginFunction::kDestroy:
      return "destroy";
    case PluginFunction::kRunCommand:
      return "run_command";
    case PluginFunction::kUpdateView:
      return "update_view";
  }
  return "an unknown function";
}

std::string Encode(const Frame& frame) {
  std::string out(kHeaderBytes, '\0');
  PutU32(out.data(), static_cast<uint32_t>(5 + frame.payload.size()));
  out[4] = static_cast<char>(frame.kind);
  PutU32(out.data() + 5, frame.code);
  out += frame.payload;
  return out;
}

IoResult ReadFrame(int fd, size_t max_payload, Deadline deadline, Frame* frame,
                   uint64_t* too_large) {
  char header[kHeaderBytes];
  IoResult r = ReadExactly(fd, header, sizeof(header), deadline);
  if (r != IoResult::kOk) return r;
  const uint32_t length = GetU32(header);
  if (length < 5 || !KnownKind(static_cast<uint8_t>(header[4]))) return IoResult::kMalformed;
  const size_t payload = length - 5;
  if (payload > max_payload) {
    if (too_large != nullptr) *too_large = payload;
    return IoResult::kTooLarge;
  }
  frame->kind = static_cast<FrameKind>(header[4]);
  frame->code = GetU32(header + 5);
  frame->payload.assign(payload, '\0');
  return ReadExactly(fd, frame->payload.data(), payload, deadline);
}

IoResult WriteFrame(int fd, const Frame& frame, Deadline deadline) {
  if (frame.payload.size() > UINT32_MAX - 5) return IoResult::kTooLarge;
  char header[kHeaderBytes];
  PutU32(header, static_cast<uint32_t>(5 + frame.payload.size()));
  header[4] = static_cast<char>(frame.kind);
  PutU32(header + 5, frame.code);
  IoResult r = WriteAll(fd, header, sizeof(header), deadline);
  if (r != IoResult::kOk) return r;
  return WriteAll(fd, frame.payload.data(), frame.payload.size(), deadline);
}

}  // namespace kindred::plugin::frames
