// The byte layout of Kindred's transport (docs/protocol.md, Part I), as
// pure functions and small value types: frame lengths, the handshake size
// limits, and the records inside transport messages that carry application
// messages, acceptance and closing. No I/O and no cryptography; the secure
// channel stacks these on top of Noise. Internal to the engine.
#ifndef KINDRED_ENGINE_NET_WIRE_H_
#define KINDRED_ENGINE_NET_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/net/noise.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::net::wire {

// The Noise prologue: names the transport protocol and its version, so two
// peers that disagree fail the handshake.
inline constexpr std::string_view kPrologue = "kindred/1";

// Every Noise message on the wire is preceded by its length, 2 bytes big-endian.
constexpr size_t kLengthPrefixBytes = 2;

// The caller's handshake payload (version and device information) is at most
// this long.
constexpr size_t kMaxHandshakePayloadBytes = 1024;

// Allowed sizes of the three handshake messages: message 1 is exactly
// `-> e` with an empty payload; messages 2 and 3 carry an encrypted payload.
constexpr size_t kHandshakeMessage1Bytes = noise::kDhBytes;
constexpr size_t kMinHandshakeMessage2Bytes =
    noise::kDhBytes + (noise::kDhBytes + noise::kTagBytes) + noise::kTagBytes;
constexpr size_t kMaxHandshakeMessage2Bytes =
    kMinHandshakeMessage2Bytes + kMaxHandshakePayloadBytes;
constexpr size_t kMinHandshakeMessage3Bytes =
    (noise::kDhBytes + noise::kTagBytes) + noise::kTagBytes;
constexpr size_t kMaxHandshakeMessage3Bytes =
    kMinHandshakeMessage3Bytes + kMaxHandshakePayloadBytes;

// The smallest valid transport message: a 1-byte record and its tag.
constexpr size_t kMinTransportMessageBytes = 1 + noise::kTagBytes;

// The default cap on one application message.
constexpr size_t kDefaultMaxMessageBytes = size_t{16} << 20;  // 16 MiB
// The largest cap the record format can express (a 32-bit length).
constexpr size_t kMaxMessageBytesLimit = UINT32_MAX;

// The first byte of every transport message's plaintext.
enum class RecordType : uint8_t {
  kAccept = 1,        // responder: "I accept your static key"; empty body
  kMessage = 2,       // u32 total length, then the first chunk of a message
  kContinuation = 3,  // the next chunk of the message in progress
  kClose = 4,         // u8 CloseCode, then a short UTF-8 reason; the sender then closes
};

// Why a peer closes the channel.
enum class CloseCode : uint8_t {
  kNormal = 0,    // done; not an error
  kRejected = 1,  // the peer's static key was not accepted
  // The peer broke this protocol: a malformed record, a transport message
  // that failed authentication, or a message over the size cap.
  kProtocolError = 2,
};

// Chunk sizes that fill a transport message exactly.
constexpr size_t kMessageRecordHeaderBytes = 1 + 4;
constexpr size_t kMaxFirstChunkBytes = noise::kMaxPlaintextBytes - kMessageRecordHeaderBytes;
constexpr size_t kMaxContinuationChunkBytes = noise::kMaxPlaintextBytes - 1;
// Close reasons longer than this are cut when sent and when received.
constexpr size_t kMaxCloseReasonBytes = 200;

// Appends the 2-byte big-endian length of `noise_message` and the message.
// REQUIRES: noise_message.size() <= noise::kMaxMessageBytes.
void AppendFrame(std::string_view noise_message, std::string* out);
// Decodes a 2-byte big-endian length prefix. REQUIRES: prefix.size() == 2.
size_t DecodeLengthPrefix(std::string_view prefix);

// A decoded record: its type and the bytes after the type byte. `body`
// points into the plaintext it was parsed from.
struct Record {
  RecordType type;
  std::string_view body;
};

// Splits a record plaintext into type and body. Corruption if empty. Unknown
// types are returned as they are; the channel skips them so the protocol can
// grow.
[[nodiscard]] Result<Record> ParseRecord(std::string_view plaintext);

// The plaintext of an accept record.
std::string EncodeAccept();
// The plaintext of a close record; `reason` is cut to kMaxCloseReasonBytes.
std::string EncodeClose(CloseCode code, std::string_view reason);

// A decoded close record.
struct CloseNotice {
  CloseCode code;
  std::string reason;  // printable ASCII only; anything else becomes '?'
};
// Decodes a close record's body. Corruption if it is empty.
[[nodiscard]] Result<CloseNotice> ParseClose(std::string_view body);

// Cuts one application message into record plaintexts, each of which fits
// one transport message: a kMessage record, then as many kContinuation
// records as needed. `message` must outlive the splitter.
// Thread-compatible.
class MessageSplitter {
 public:
  // REQUIRES: message.size() <= kMaxMessageBytesLimit.
  explicit MessageSplitter(std::string_view message) : message_(message) {}

  // True when every record has been produced. An empty message makes one record.
  bool done() const { return started_ && offset_ == message_.size(); }
  // The next record plaintext. REQUIRES: !done().
  std::string Next();

 private:
  std::string_view message_;
  size_t offset_ = 0;
  bool started_ = false;
};

// Rebuilds application messages from kMessage and kContinuation records.
// Checks the declared total against the cap before buffering anything, and
// grows its buffer only as chunks arrive. Thread-compatible.
class MessageAssembler {
 public:
  explicit MessageAssembler(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Adds a kMessage or kContinuation record. Returns true when it completes
  // a message, which TakeMessage() then hands out. Corruption if the record
  // is malformed, out of order, overruns the declared length, or declares
  // a message longer than the cap.
  [[nodiscard]] Result<bool> Add(const Record& record);
  // True while a message has started but not yet completed.
  bool in_progress() const { return in_progress_; }
  // The completed message. REQUIRES: the last Add() returned true.
  std::string TakeMessage();

 private:
  size_t max_message_bytes_;
  bool in_progress_ = false;
  size_t expected_ = 0;
  std::string buffer_;
};

}  // namespace kindred::net::wire

#endif  // KINDRED_ENGINE_NET_WIRE_H_
