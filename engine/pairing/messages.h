// The three pairing messages on the wire, and their strict parsers.
//
//   1  initiator -> responder   version | 0x01 | lv(sid) | lv(Ya) | lv(ADa)
//   2  responder -> initiator   version | 0x02 | lv(Yb) | lv(ADb) | lv(Tb)
//   3  initiator -> responder   version | 0x03 | lv(Ta)
//
// version is kPairingProtocolVersion; lv() is CPace's prepend_len (LEB128
// length, then the bytes), so message 1 ends in the draft's lv_cat(Ya, ADa)
// and message 2 starts with lv_cat(Yb, ADb). Parsers check the total size,
// the version, the type, every length against what remains, minimal length
// encodings, every fixed-size field, and that nothing trails, before any
// field is used. Anything else is a Corruption status naming the problem.
//
// Internal to kindred::pairing; callers treat messages as opaque bytes.
// All functions are thread-safe.
#ifndef KINDRED_ENGINE_PAIRING_MESSAGES_H_
#define KINDRED_ENGINE_PAIRING_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/pairing/cpace.h"
#include "engine/pairing/key_schedule.h"
#include "kindred/result.h"

namespace kindred::pairing {

// First byte of every pairing message. Bump it when the format or the key
// schedule changes; a peer with another version is refused with a clear error.
inline constexpr uint8_t kPairingProtocolVersion = 1;

// Second byte of every pairing message.
enum class MessageType : uint8_t {
  kInitiatorShare = 1,    // message 1
  kResponderShare = 2,    // message 2
  kInitiatorConfirm = 3,  // message 3
};

// Field limits.
inline constexpr size_t kSidBytes = 16;
inline constexpr size_t kMaxAssociatedDataBytes = 1024;
// No valid message is longer than this; longer input is refused unread.
inline constexpr size_t kMaxMessageBytes =
    2 + 3 * 3 + kSidBytes + 2 * cpace::kPointBytes + kMaxAssociatedDataBytes + kTagBytes;

// "message 1 (initiator's share)", etc., for error messages.
std::string_view MessageTypeName(MessageType type);

struct InitiatorShare {  // message 1
  std::string sid;       // kSidBytes
  std::string ya;        // cpace::kPointBytes
  std::string ada;       // <= kMaxAssociatedDataBytes
};
struct ResponderShare {  // message 2
  std::string yb;        // cpace::kPointBytes
  std::string adb;       // <= kMaxAssociatedDataBytes
  std::string tag;       // Tb, kTagBytes
};
struct InitiatorConfirm {  // message 3
  std::string tag;         // Ta, kTagBytes
};

// Encoders. REQUIRE the field sizes above (debug-asserted); the session only
// builds messages from values it produced itself.
std::string EncodeMessage(const InitiatorShare& m);
std::string EncodeMessage(const ResponderShare& m);
std::string EncodeMessage(const InitiatorConfirm& m);

// Reads the version and type bytes only. Corruption if the message is empty,
// longer than kMaxMessageBytes, of another version, or of an unknown type.
[[nodiscard]] Result<MessageType> PeekMessageType(std::string_view message);

// Full parsers. Corruption on any deviation from the format, including a
// message of another type.
[[nodiscard]] Result<InitiatorShare> DecodeInitiatorShare(std::string_view message);
[[nodiscard]] Result<ResponderShare> DecodeResponderShare(std::string_view message);
[[nodiscard]] Result<InitiatorConfirm> DecodeInitiatorConfirm(std::string_view message);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_MESSAGES_H_
