// The sync protocol's messages (proto/kindred/v1/sync.proto) as bytes:
// size limits checked before parsing, and the compact wire form of op
// batches, which leaves out everything the receiver can derive and rebuilds
// the exact OpEnvelopes for Engine::Ingest. Pure functions and small value
// types; no I/O. Internal to the engine; docs/protocol.md is the reference.
#ifndef KINDRED_ENGINE_SYNC_CODEC_H_
#define KINDRED_ENGINE_SYNC_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kindred/engine.h"
#include "kindred/result.h"
#include "kindred/status.h"
#include "kindred/v1/sync.pb.h"

namespace kindred::sync {

// The protocol version this code speaks (Hello.protocol_version).
inline constexpr uint32_t kProtocolVersion = 1;

// The largest application message on a sync channel (the channel's
// max_message_bytes): a SyncBatch part never needs more.
inline constexpr size_t kMaxMessageBytes = size_t{8} << 20;
// Per message type, checked from the first tag before parsing.
inline constexpr size_t kMaxHelloBytes = size_t{1} << 20;
inline constexpr size_t kMaxSmallMessageBytes = 1024;  // ack, done, error, ping, pong
// Hello contents.
inline constexpr size_t kMaxHelloSpaces = 1024;
inline constexpr size_t kMaxHeadsPerSpace = 4096;
// The window a side may announce (SyncBatch messages unacknowledged).
inline constexpr uint32_t kMaxWindow = 64;
// A signed run that arrives in parts is held in memory until it is
// complete; these bound it.
inline constexpr size_t kMaxRunOps = 1'000'000;
inline constexpr size_t kMaxRunBytes = size_t{256} << 20;
// Sanity limits on single fields (the engine authenticates the rest).
inline constexpr size_t kMaxSaltBytes = 64;
inline constexpr size_t kMaxReasonBytes = 200;

// Serialises `message`.
std::string EncodeMessage(const v1::SyncMessage& message);

// Parses one application message. Checks its size against the limit of the
// type named by its first field before parsing, then that it holds exactly
// that type. A message of a type this version does not know (a field number
// above 7) parses to a SyncMessage with no body, which the caller skips.
// Corruption, naming the problem, for anything malformed or oversized.
[[nodiscard]] Result<v1::SyncMessage> ParseMessage(std::string_view bytes);
// As ParseMessage, but the message is made on `arena` (a batch's thousands
// of ops then cost no allocation each, and go with the arena). The message
// lives as long as the arena. Not thread-safe (nor is the arena).
[[nodiscard]] Result<v1::SyncMessage*> ParseMessage(std::string_view bytes,
                                                    google::protobuf::Arena* arena);

// The name of a message's type, for errors ("Hello", "SyncBatch", ...).
std::string_view BodyName(const v1::SyncMessage& message);

// ---- Op batches --------------------------------------------------------------

// One SyncBatch message ready to send, and what it carries.
struct EncodedPart {
  std::string bytes;           // an encoded SyncMessage
  uint64_t ops = 0;            // ops in this part
  bool completes_run = false;  // the last part of its run (carries the signature)
  DeviceId device;
  uint64_t last_seq = 0;  // seq of its last op
  std::string head_hash;  // when completes_run: the op hash of the last op
};

// What the sender and the receiver of one log's runs both know, in the
// same order, about what the receiver holds: the head the receiver's Hello
// listed, and the end of the last run of the log the sender sent it in this
// session. A SyncBatch leaves out prev_hash only when its first op follows
// one of these (docs/protocol.md, section 14). Seq 0 = none.
struct KnownHeads {
  LogHead listed;
  LogHead last_run;
};

// Splits `batch` (ops as OpEnvelopes, from Engine::ReadMissingToSend or
// ReadMissing: only the first op's prev_hash is used) into SyncBatch messages of at most `max_ops`
// ops and about `max_bytes` bytes, in the compact form, and appends them to `out`. prev_hash is
// left out where `known` allows; `known->last_run` moves to the end of the batch. Corruption
// starting "fork:" when the receiver listed op first_seq - 1 with another hash than the batch
// follows; Corruption if an op or the signature does not parse (the local store is damaged).
[[nodiscard]] Status EncodeBatch(const OpBatch& batch, size_t max_ops, size_t max_bytes,
                                 KnownHeads* known, std::vector<EncodedPart>* out);

// Marks an encoded SyncBatch message as the sender's last of its catch-up
// (SyncBatch.done). REQUIRES: `part` completes its run.
void MarkDone(EncodedPart* part);

// A run rebuilt from its parts, ready for Engine::Ingest: its batch holds
// the ops decoded, with their derived hashes (OpBatch::decoded).
struct SignedRun {
  OpBatch batch;
  std::string prev_hash;  // the hash the first op follows, as sent
  std::string head_hash;  // the op hash of the last op, along the rebuilt chain
  std::string signature;  // the raw Ed25519 signature
};

// Rebuilds signed runs from SyncBatch messages, part by part. Everything it
// returns is still unauthenticated: Engine::Ingest checks it. Not
// thread-safe.
class RunBuilder {
 public:
  // Adds the next part. `known` is what this side knows it holds of the
  // part's log (see KnownHeads: its own Hello's head, and the end of the
  // last run of the log received from this sender), for a part that leaves
  // out prev_hash. Returns true when it completes a run, which Take() then
  // hands out. Corruption when the part is malformed, does not continue the
  // run in progress, leaves out a prev_hash it may not, or the run grows
  // past kMaxRunOps or kMaxRunBytes.
  [[nodiscard]] Result<bool> Add(const v1::SyncBatch& part, const KnownHeads& known);
  // The same, moving each op's ciphertext out of `part` instead of copying
  // it (`part` is left with empty ones).
  [[nodiscard]] Result<bool> Add(v1::SyncBatch&& part, const KnownHeads& known);
  // True while a run has begun but not ended.
  bool in_progress() const { return in_progress_; }
  // The completed run. REQUIRES: the last Add() returned true.
  SignedRun Take();

 private:
  // Both Adds: `taken` is `part` itself when its ciphertexts may be moved
  // out, null when they are copied.
  Result<bool> AddPart(const v1::SyncBatch& part, v1::SyncBatch* taken, const KnownHeads& known);
  bool in_progress_ = false;
  SignedRun run_;
  google::protobuf::Arena* arena_ = nullptr;  // the run's, owned by run_.batch.decoded_owners
  uint64_t next_seq_ = 0;
  size_t bytes_ = 0;
};

}  // namespace kindred::sync

#endif  // KINDRED_ENGINE_SYNC_CODEC_H_
