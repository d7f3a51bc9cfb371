#include "engine/log/segment.h"

#include <cstdint>

#include "engine/crypto/crypto.h"
#include "engine/log/oplog.h"

namespace kindred::log {
namespace {

// Protocol buffers wire format, for the fields of OpSegment (store.proto).
constexpr uint8_t kVarint = 0, kLengthDelimited = 2;
constexpr uint8_t Tag(int field, uint8_t type) { return static_cast<uint8_t>((field << 3) | type); }

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void AppendBytesField(std::string* out, int field, std::string_view bytes) {
  out->push_back(static_cast<char>(Tag(field, kLengthDelimited)));
  AppendVarint(out, bytes.size());
  out->append(bytes);
}

void AppendMessageField(std::string* out, int field, const google::protobuf::MessageLite& m) {
  const size_t size = m.ByteSizeLong();
  out->push_back(static_cast<char>(Tag(field, kLengthDelimited)));
  AppendVarint(out, size);
  const size_t at = out->size();
  out->resize(at + size);
  m.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out->data() + at));
}

// Reads a varint at `pos`; the bytes it took, or 0 if it is cut or too long.
size_t ReadVarint(std::string_view bytes, size_t pos, uint64_t* value) {
  *value = 0;
  for (size_t i = 0; pos + i < bytes.size() && i < 10; ++i) {
    const auto byte = static_cast<uint8_t>(bytes[pos + i]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) return i + 1;
  }
  return 0;
}

// Where a field numbered `field` goes in the encoded message `bytes` to
// keep fields in number order (as protobuf writes them): before the first
// field with a number as high. The end if anything looks odd.
size_t FieldInsertPoint(std::string_view bytes, uint64_t field) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    uint64_t tag = 0, value = 0;
    const size_t n = ReadVarint(bytes, pos, &tag);
    if (n == 0) return bytes.size();
    if ((tag >> 3) >= field) return pos;
    size_t next = pos + n;
    switch (tag & 7) {
      case 0: {
        const size_t m = ReadVarint(bytes, next, &value);
        if (m == 0) return bytes.size();
        next += m;
        break;
      }
      case 1:
        next += 8;
        break;
      case 5:
        next += 4;
        break;
      case 2: {
        const size_t m = ReadVarint(bytes, next, &value);
        if (m == 0 || value > bytes.size()) return bytes.size();
        next += m + static_cast<size_t>(value);
        break;
      }
      default:
        return bytes.size();
    }
    if (next > bytes.size()) return bytes.size();
    pos = next;
  }
  return bytes.size();
}

std::string DescribeSegment(const SpaceId& space, const DeviceId& device, uint64_t last_seq) {
  return "the segment ending at " + DescribeOp(space, device, last_seq);
}

}  // namespace

SegmentBuilder::SegmentBuilder(uint64_t first_seq, std::string_view prev_hash)
    : first_seq_(first_seq) {
  bytes_.push_back(static_cast<char>(Tag(1, kVarint)));
  AppendVarint(&bytes_, kSegmentFormat);
  bytes_.push_back(static_cast<char>(Tag(2, kVarint)));
  AppendVarint(&bytes_, first_seq);
  AppendBytesField(&bytes_, 3, prev_hash);
}

void SegmentBuilder::Append(const v1::OpEnvelope& op) {
  AppendMessageField(&bytes_, 4, op);
  ++count_;
}

std::string SegmentBuilder::Finish(const v1::BatchSignature& signature) {
  AppendMessageField(&bytes_, 5, signature);
  count_ = 0;
  return std::move(bytes_);
}

Status ParseSegmentKey(std::string_view key, size_t prefix_size, uint64_t* last_seq) {
  if (key.size() != prefix_size + 8) return Status::Corruption("an op log key is damaged");
  *last_seq = crypto::GetU64(key.data() + prefix_size);
  return Status::Ok();
}

Status DecodeSegment(const SpaceId& space, const DeviceId& device, uint64_t key_last_seq,
                     std::string_view bytes, Segment* out, SegmentDecode mode) {
  // On an arena: the parse then makes each op's string object there rather
  // than on the heap (their contents are swapped out below).
  google::protobuf::Arena arena;
  v1::OpSegment& stored = *google::protobuf::Arena::CreateMessage<v1::OpSegment>(&arena);
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption(DescribeSegment(space, device, key_last_seq) + " is damaged");
  }
  if (stored.format() != kSegmentFormat) {
    return Status::Corruption(DescribeSegment(space, device, key_last_seq) +
                              " has unknown format " + std::to_string(stored.format()));
  }
  const size_t n = static_cast<size_t>(stored.ops_size());
  const uint64_t first = stored.first_seq();
  if (n == 0 || first == 0 || first > key_last_seq || key_last_seq - first + 1 != n) {
    return Status::Corruption(DescribeSegment(space, device, key_last_seq) + " holds " +
                              std::to_string(n) + " ops from op " + std::to_string(first) +
                              ": it was truncated or altered");
  }
  if (stored.prev_hash().size() != crypto::kHashBytes) {
    return Status::Corruption(DescribeSegment(space, device, key_last_seq) +
                              " has a damaged link to the op before it");
  }
  out->first_seq = first;
  out->prev_hash = std::move(*stored.mutable_prev_hash());
  out->ops.clear();
  out->ops.resize(n);
  out->raw_ops.resize(n);
  out->hashes.clear();
  if (mode == SegmentDecode::kRawOps) {
    for (size_t i = 0; i < n; ++i) out->raw_ops[i].swap(*stored.mutable_ops(static_cast<int>(i)));
    out->signature = std::move(*stored.mutable_signature());
    return Status::Ok();
  }
  out->hashes.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t seq = first + i;
    v1::OpEnvelope& op = out->ops[i];
    std::string& raw = out->raw_ops[i];
    raw.swap(*stored.mutable_ops(static_cast<int>(i)));
    if (!op.ParseFromString(raw)) {
      return Status::Corruption(DescribeOp(space, device, seq) + " is damaged");
    }
    if (!op.prev_hash().empty()) {
      return Status::Corruption(DescribeOp(space, device, seq) +
                                " is damaged: a stored op carries a prev hash");
    }
    out->hashes.push_back(OpHash(space, device, seq, out->PrevHashOf(i), op));
  }
  out->signature = std::move(*stored.mutable_signature());
  return Status::Ok();
}

std::string EncodeSegment(const Segment& segment) {
  SegmentBuilder builder(segment.first_seq, segment.prev_hash);
  for (const auto& op : segment.ops) builder.Append(op);
  return builder.Finish(segment.signature);
}

std::string WireOp(const Segment& segment, size_t i) {
  // A stored op has no prev_hash field (DecodeSegment checks), so adding
  // one sets it; no copy of the envelope and no re-encoding. It goes where
  // protobuf would write it, so the bytes are those of the envelope encoded.
  constexpr uint64_t kPrevHashField = 4;  // OpEnvelope.prev_hash
  const std::string& raw = segment.raw_ops[i];
  const std::string& prev = segment.PrevHashOf(i);
  const size_t at = FieldInsertPoint(raw, kPrevHashField);
  std::string out;
  out.reserve(raw.size() + prev.size() + 3);
  out.append(raw, 0, at);
  AppendBytesField(&out, kPrevHashField, prev);
  out.append(raw, at, std::string::npos);
  return out;
}

Status CheckSegmentSignature(std::string_view sign_pk, const SpaceId& space,
                             const DeviceId& device, const Segment& segment) {
  const uint64_t last = segment.last_seq();
  const v1::BatchSignature& sig = segment.signature;
  const std::string& head = segment.hashes.back();
  if (sig.format() != 1 || sig.seq() != last || !crypto::ConstantTimeEquals(sig.head_hash(), head) ||
      !crypto::Verify(sign_pk, HeadMessage(space, device, last, head), sig.signature())) {
    return Status::Corruption("the signature over " + DescribeOp(space, device, last) +
                              " does not verify: the log was altered");
  }
  return Status::Ok();
}

}  // namespace kindred::log
