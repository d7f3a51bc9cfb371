#include "engine/net/wire.h"

#include <algorithm>
#include <cassert>

namespace kindred::net::wire {
namespace {

void AppendU32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint32_t DecodeU32(std::string_view bytes) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

}  // namespace

void AppendFrame(std::string_view noise_message, std::string* out) {
  assert(noise_message.size() <= noise::kMaxMessageBytes);
  out->push_back(static_cast<char>(noise_message.size() >> 8));
  out->push_back(static_cast<char>(noise_message.size() & 0xff));
  out->append(noise_message);
}

size_t DecodeLengthPrefix(std::string_view prefix) {
  assert(prefix.size() == kLengthPrefixBytes);
  return (size_t{static_cast<uint8_t>(prefix[0])} << 8) | static_cast<uint8_t>(prefix[1]);
}

Result<Record> ParseRecord(std::string_view plaintext) {
  if (plaintext.empty()) return Status::Corruption("empty record (no type byte)");
  return Record{static_cast<RecordType>(plaintext[0]), plaintext.substr(1)};
}

std::string EncodeAccept() { return std::string(1, static_cast<char>(RecordType::kAccept)); }

std::string EncodeClose(CloseCode code, std::string_view reason) {
  std::string record;
  record.push_back(static_cast<char>(RecordType::kClose));
  record.push_back(static_cast<char>(code));
  record.append(reason.substr(0, kMaxCloseReasonBytes));
  return record;
}

Result<CloseNotice> ParseClose(std::string_view body) {
  if (body.empty()) return Status::Corruption("close record has no code");
  CloseNotice notice{static_cast<CloseCode>(body[0]), {}};
  for (char c : body.substr(1, kMaxCloseReasonBytes)) {
    notice.reason.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return notice;
}

std::string MessageSplitter::Next() {
  assert(!done());
  std::string record;
  size_t chunk;
  if (!started_) {
    started_ = true;
    record.push_back(static_cast<char>(RecordType::kMessage));
    AppendU32(static_cast<uint32_t>(message_.size()), &record);
    chunk = std::min(message_.size(), kMaxFirstChunkBytes);
  } else {
    record.push_back(static_cast<char>(RecordType::kContinuation));
    chunk = std::min(message_.size() - offset_, kMaxContinuationChunkBytes);
  }
  record.append(message_.substr(offset_, chunk));
  offset_ += chunk;
  return record;
}

Result<bool> MessageAssembler::Add(const Record& record) {
  std::string_view chunk = record.body;
  if (record.type == RecordType::kMessage) {
    if (in_progress_) {
      return Status::Corruption("a new message began before the previous one was complete");
    }
    if (chunk.size() < 4) return Status::Corruption("message record is shorter than its header");
    const size_t announced = DecodeU32(chunk);
    if (announced > max_message_bytes_) {
      return Status::Corruption("peer announced a message of " + std::to_string(announced) +
                                " bytes, over the limit of " + std::to_string(max_message_bytes_));
    }
    chunk.remove_prefix(4);
    expected_ = announced;
    buffer_.clear();
    // Room for the whole message at once (no more than the cap), instead of
    // growing by copies as its chunks arrive.
    buffer_.reserve(expected_);
    in_progress_ = true;
  } else if (record.type == RecordType::kContinuation) {
    if (!in_progress_) return Status::Corruption("continuation record outside a message");
  } else {
    return Status::Corruption("not a message record");
  }
  const size_t missing = expected_ - buffer_.size();
  if (chunk.size() > missing) {
    return Status::Corruption("message chunk runs past the announced length of " +
                              std::to_string(expected_) + " bytes");
  }
  if (chunk.empty() && missing > 0) return Status::Corruption("message record carries no bytes");
  buffer_.append(chunk);
  if (buffer_.size() < expected_) return false;
  in_progress_ = false;
  return true;
}

std::string MessageAssembler::TakeMessage() {
  assert(!in_progress_);
  std::string message = std::move(buffer_);
  buffer_.clear();
  return message;
}

}  // namespace kindred::net::wire
