// Op log segments: how a signed run of one device's ops in one space is
// stored under one key (OpSegment in store.proto). Pure functions and a
// builder; the engine decides what to read and write.
//
// Everything read from disk is hostile until checked: DecodeSegment checks
// the structure and rebuilds the hash chain, but not the payloads or the
// signature, which the caller checks (CheckSegmentSignature, OpenOp) when
// it needs them authenticated.
#ifndef KINDRED_ENGINE_LOG_SEGMENT_H_
#define KINDRED_ENGINE_LOG_SEGMENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kindred/ids.h"
#include "kindred/status.h"
#include "kindred/v1/store.pb.h"

namespace kindred::log {

inline constexpr uint32_t kSegmentFormat = 1;

// Encodes an OpSegment op by op, straight into its final buffer (no copy of
// each op into a repeated field first). Not thread-safe.
class SegmentBuilder {
 public:
  // A segment whose first op is `first_seq` and follows `prev_hash`.
  SegmentBuilder(uint64_t first_seq, std::string_view prev_hash);
  // Makes room for about `bytes` more bytes of ops (one reallocation
  // instead of many while a large segment grows).
  void Reserve(size_t bytes) { bytes_.reserve(bytes_.size() + bytes); }
  // Appends the next op. REQUIRES: op.prev_hash() is empty (it is derived).
  void Append(const v1::OpEnvelope& op);
  uint64_t first_seq() const { return first_seq_; }
  uint64_t last_seq() const { return first_seq_ + count_ - 1; }
  size_t size() const { return count_; }
  // Appends the signature over the last op and returns the encoded segment.
  // REQUIRES: size() > 0. The builder is empty afterwards.
  std::string Finish(const v1::BatchSignature& signature);

 private:
  uint64_t first_seq_;
  size_t count_ = 0;
  std::string bytes_;
};

// One stored segment, decoded, with its hash chain rebuilt.
struct Segment {
  uint64_t first_seq = 0;
  std::string prev_hash;            // hash of op first_seq - 1
  std::vector<v1::OpEnvelope> ops;  // as stored: prev_hash empty
  std::vector<std::string> raw_ops;  // ops[i] as encoded in the store (not updated if ops change)
  std::vector<std::string> hashes;  // op hash of each op along the chain
  v1::BatchSignature signature;

  uint64_t last_seq() const { return first_seq + ops.size() - 1; }
  // The prev_hash of ops[i].
  const std::string& PrevHashOf(size_t i) const { return i == 0 ? prev_hash : hashes[i - 1]; }
};

// The last seq named by an oplog key under SegmentPrefix(space, device).
// Corruption when the key has the wrong size.
[[nodiscard]] Status ParseSegmentKey(std::string_view key, size_t prefix_size, uint64_t* last_seq);

// What DecodeSegment fills in: everything, or (kRawOps, for a reader that
// only forwards the ops) first_seq, prev_hash, raw_ops and the signature,
// with `ops` holding empty envelopes and `hashes` empty: no op is parsed or
// hashed, so only WireOp(segment, 0) may be asked for.
enum class SegmentDecode { kFull, kRawOps };

// Decodes the segment of (space, device) stored under the key for
// `key_last_seq`. Corruption, naming the op where it can, when the bytes do
// not parse, the format is unknown, the ops do not end at `key_last_seq`,
// the prev hash has the wrong size, or (kFull) a stored op does not parse
// or carries a prev_hash.
[[nodiscard]] Status DecodeSegment(const SpaceId& space, const DeviceId& device,
                                   uint64_t key_last_seq, std::string_view bytes, Segment* out,
                                   SegmentDecode mode = SegmentDecode::kFull);

// Encodes `segment` again (after a purge erased a ciphertext in it).
std::string EncodeSegment(const Segment& segment);

// Op i of `segment` as sync sends it: the envelope with prev_hash filled in
// (the stored encoding with the prev_hash field inserted in field order:
// the same bytes as the envelope encoded with it). REQUIRES: `segment`
// came from DecodeSegment (kFull, or kRawOps for i == 0) and its ops were
// not changed since.
std::string WireOp(const Segment& segment, size_t i);

// Checks that the segment's signature covers its last op and verifies
// under `sign_pk`. Corruption naming the last op otherwise.
[[nodiscard]] Status CheckSegmentSignature(std::string_view sign_pk, const SpaceId& space,
                                           const DeviceId& device, const Segment& segment);

}  // namespace kindred::log

#endif  // KINDRED_ENGINE_LOG_SEGMENT_H_
