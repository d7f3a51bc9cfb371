#include "engine/pairing/messages.h"

#include <cassert>

namespace kindred::pairing {
namespace {

std::string Header(MessageType type) {
  std::string out;
  out.push_back(static_cast<char>(kPairingProtocolVersion));
  out.push_back(static_cast<char>(type));
  return out;
}

// Reads lv() fields from a message body, strictly.
class FieldReader {
 public:
  FieldReader(std::string_view body, std::string_view what) : rest_(body), what_(what) {}

  // Reads one field of exactly `size` bytes.
  Status ReadFixed(std::string_view field_name, size_t size, std::string* out) {
    KINDRED_RETURN_IF_ERROR(ReadUpTo(field_name, size, out));
    if (out->size() != size) {
      return Error(std::string(field_name) + " has " + std::to_string(out->size()) +
                   " bytes, expected " + std::to_string(size));
    }
    return Status::Ok();
  }

  // Reads one field of at most `max_size` bytes.
  Status ReadUpTo(std::string_view field_name, size_t max_size, std::string* out) {
    // LEB128, at most 2 bytes: no field may exceed kMaxMessageBytes < 2^14.
    uint64_t length = 0;
    size_t i = 0;
    for (;; ++i) {
      if (i >= rest_.size()) return Error("truncated in the length of " + std::string(field_name));
      if (i == 2) return Error("length of " + std::string(field_name) + " is too large");
      uint8_t byte = static_cast<uint8_t>(rest_[i]);
      length |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        if (i > 0 && byte == 0) {
          return Error("length of " + std::string(field_name) + " is not minimally encoded");
        }
        break;
      }
    }
    rest_.remove_prefix(i + 1);
    if (length > max_size) {
      return Error(std::string(field_name) + " is " + std::to_string(length) +
                   " bytes, more than the " + std::to_string(max_size) + " allowed");
    }
    if (length > rest_.size()) {
      return Error("truncated in " + std::string(field_name) + " (" + std::to_string(length) +
                   " bytes announced, " + std::to_string(rest_.size()) + " present)");
    }
    out->assign(rest_.substr(0, length));
    rest_.remove_prefix(length);
    return Status::Ok();
  }

  // Succeeds only when every byte was consumed.
  Status Finish() const {
    if (!rest_.empty()) {
      return Error(std::to_string(rest_.size()) + " unexpected trailing bytes");
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& detail) const {
    return Status::Corruption("malformed pairing " + std::string(what_) + ": " + detail);
  }

  std::string_view rest_;
  std::string_view what_;
};

// Checks the header and returns the body, or an error for a message that is
// not of type `expected`.
Result<std::string_view> BodyOf(std::string_view message, MessageType expected) {
  KINDRED_ASSIGN_OR_RETURN(MessageType type, PeekMessageType(message));
  if (type != expected) {
    return Status::Corruption("unexpected pairing message: got " +
                              std::string(MessageTypeName(type)) + ", expected " +
                              std::string(MessageTypeName(expected)));
  }
  return message.substr(2);
}

}  // namespace

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kInitiatorShare:
      return "message 1 (initiator's share)";
    case MessageType::kResponderShare:
      return "message 2 (responder's share and confirmation)";
    case MessageType::kInitiatorConfirm:
      return "message 3 (initiator's confirmation)";
  }
  return "unknown message";
}

std::string EncodeMessage(const InitiatorShare& m) {
  assert(m.sid.size() == kSidBytes && m.ya.size() == cpace::kPointBytes &&
         m.ada.size() <= kMaxAssociatedDataBytes);
  std::string out = Header(MessageType::kInitiatorShare);
  cpace::AppendLengthPrefixed(&out, m.sid);
  cpace::AppendLengthPrefixed(&out, m.ya);
  cpace::AppendLengthPrefixed(&out, m.ada);
  return out;
}

std::string EncodeMessage(const ResponderShare& m) {
  assert(m.yb.size() == cpace::kPointBytes && m.adb.size() <= kMaxAssociatedDataBytes &&
         m.tag.size() == kTagBytes);
  std::string out = Header(MessageType::kResponderShare);
  cpace::AppendLengthPrefixed(&out, m.yb);
  cpace::AppendLengthPrefixed(&out, m.adb);
  cpace::AppendLengthPrefixed(&out, m.tag);
  return out;
}

std::string EncodeMessage(const InitiatorConfirm& m) {
  assert(m.tag.size() == kTagBytes);
  std::string out = Header(MessageType::kInitiatorConfirm);
  cpace::AppendLengthPrefixed(&out, m.tag);
  return out;
}

Result<MessageType> PeekMessageType(std::string_view message) {
  if (message.empty()) return Status::Corruption("empty pairing message");
  if (message.size() > kMaxMessageBytes) {
    return Status::Corruption("pairing message of " + std::to_string(message.size()) +
                              " bytes is longer than the " + std::to_string(kMaxMessageBytes) +
                              " allowed");
  }
  uint8_t version = static_cast<uint8_t>(message[0]);
  if (version != kPairingProtocolVersion) {
    return Status::Corruption("pairing message has protocol version " + std::to_string(version) +
                              " but this Kindred speaks version " +
                              std::to_string(kPairingProtocolVersion) +
                              "; both devices need a compatible Kindred");
  }
  if (message.size() < 2)
    return Status::Corruption("pairing message is truncated after its version");
  uint8_t type = static_cast<uint8_t>(message[1]);
  switch (type) {
    case static_cast<uint8_t>(MessageType::kInitiatorShare):
    case static_cast<uint8_t>(MessageType::kResponderShare):
    case static_cast<uint8_t>(MessageType::kInitiatorConfirm):
      return static_cast<MessageType>(type);
    default:
      return Status::Corruption("unknown pairing message type " + std::to_string(type));
  }
}

Result<InitiatorShare> DecodeInitiatorShare(std::string_view message) {
  KINDRED_ASSIGN_OR_RETURN(std::string_view body, BodyOf(message, MessageType::kInitiatorShare));
  FieldReader reader(body, MessageTypeName(MessageType::kInitiatorShare));
  InitiatorShare m;
  KINDRED_RETURN_IF_ERROR(reader.ReadFixed("sid", kSidBytes, &m.sid));
  KINDRED_RETURN_IF_ERROR(reader.ReadFixed("Ya", cpace::kPointBytes, &m.ya));
  KINDRED_RETURN_IF_ERROR(reader.ReadUpTo("ADa", kMaxAssociatedDataBytes, &m.ada));
  KINDRED_RETURN_IF_ERROR(reader.Finish());
  return m;
}

Result<ResponderShare> DecodeResponderShare(std::string_view message) {
  KINDRED_ASSIGN_OR_RETURN(std::string_view body, BodyOf(message, MessageType::kResponderShare));
  FieldReader reader(body, MessageTypeName(MessageType::kResponderShare));
  ResponderShare m;
  KINDRED_RETURN_IF_ERROR(reader.ReadFixed("Yb", cpace::kPointBytes, &m.yb));
  KINDRED_RETURN_IF_ERROR(reader.ReadUpTo("ADb", kMaxAssociatedDataBytes, &m.adb));
  KINDRED_RETURN_IF_ERROR(reader.ReadFixed("Tb", kTagBytes, &m.tag));
  KINDRED_RETURN_IF_ERROR(reader.Finish());
  return m;
}

Result<InitiatorConfirm> DecodeInitiatorConfirm(std::string_view message) {
  KINDRED_ASSIGN_OR_RETURN(std::string_view body, BodyOf(message, MessageType::kInitiatorConfirm));
  FieldReader reader(body, MessageTypeName(MessageType::kInitiatorConfirm));
  InitiatorConfirm m;
  KINDRED_RETURN_IF_ERROR(reader.ReadFixed("Ta", kTagBytes, &m.tag));
  KINDRED_RETURN_IF_ERROR(reader.Finish());
  return m;
}

}  // namespace kindred::pairing
