#include "engine/sync/codec.h"

#include <limits>

#include "engine/crypto/crypto.h"
#include "engine/log/oplog.h"
#include "kindred/v1/store.pb.h"

namespace kindred::sync {
namespace {

constexpr uint32_t kDefaultFormat = 1;
constexpr uint32_t kDefaultAead = 1;
// Field numbers of SyncMessage's body.
constexpr uint64_t kLastKnownField = v1::SyncMessage::kPongFieldNumber;
// What one compact op costs on the wire besides its ciphertext, roughly;
// only used to size parts.
constexpr size_t kOpOverheadBytes = 8;

std::string_view NameOfField(uint64_t field) {
  switch (field) {
    case v1::SyncMessage::kHelloFieldNumber:
      return "Hello";
    case v1::SyncMessage::kBatchFieldNumber:
      return "SyncBatch";
    case v1::SyncMessage::kAckFieldNumber:
      return "SyncAck";
    case v1::SyncMessage::kDoneFieldNumber:
      return "SyncDone";
    case v1::SyncMessage::kErrorFieldNumber:
      return "SyncError";
    case v1::SyncMessage::kPingFieldNumber:
      return "Ping";
    case v1::SyncMessage::kPongFieldNumber:
      return "Pong";
    default:
      return "unknown";
  }
}

size_t LimitOfField(uint64_t field) {
  switch (field) {
    case v1::SyncMessage::kHelloFieldNumber:
      return kMaxHelloBytes;
    case v1::SyncMessage::kBatchFieldNumber:
      return kMaxMessageBytes;
    case v1::SyncMessage::kAckFieldNumber:
    case v1::SyncMessage::kDoneFieldNumber:
    case v1::SyncMessage::kErrorFieldNumber:
    case v1::SyncMessage::kPingFieldNumber:
    case v1::SyncMessage::kPongFieldNumber:
      return kMaxSmallMessageBytes;
    default:
      return kMaxMessageBytes;
  }
}

// Reads a protobuf varint at the start of `bytes`; false if it is cut or
// longer than 10 bytes.
bool ReadVarint(std::string_view bytes, uint64_t* value) {
  *value = 0;
  for (size_t i = 0; i < bytes.size() && i < 10; ++i) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

Status Malformed(std::string what) { return Status::Corruption("malformed SyncBatch: " + what); }

}  // namespace

std::string EncodeMessage(const v1::SyncMessage& message) { return message.SerializeAsString(); }

std::string_view BodyName(const v1::SyncMessage& message) {
  return NameOfField(static_cast<uint64_t>(message.body_case()));
}

namespace {

// ParseMessage's checks and parse, into `*out` (empty, wherever it lives).
Status ParseMessageInto(std::string_view bytes, v1::SyncMessage* out) {
  if (bytes.size() > kMaxMessageBytes) {
    return Status::Corruption("sync message of " + std::to_string(bytes.size()) +
                              " bytes is over the limit of " + std::to_string(kMaxMessageBytes));
  }
  if (bytes.empty()) return Status::Corruption("empty sync message");
  uint64_t tag = 0;
  if (!ReadVarint(bytes, &tag)) return Status::Corruption("sync message starts with a broken tag");
  const uint64_t field = tag >> 3;
  const bool known = field >= 1 && field <= kLastKnownField;
  if (field == 0) return Status::Corruption("sync message starts with field number 0");
  if (known && (tag & 7) != 2) {
    return Status::Corruption("sync message field " + std::to_string(field) +
                              " has the wrong wire type");
  }
  const size_t limit = LimitOfField(field);
  if (bytes.size() > limit) {
    return Status::Corruption(std::string(NameOfField(field)) + " message of " +
                              std::to_string(bytes.size()) + " bytes is over its limit of " +
                              std::to_string(limit));
  }
  v1::SyncMessage& message = *out;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("malformed sync message (" + std::string(NameOfField(field)) + ")");
  }
  const auto body = static_cast<uint64_t>(message.body_case());
  if (known ? body != field : body != 0) {
    return Status::Corruption("sync message mixes a " + std::string(NameOfField(field)) +
                              " with a " + std::string(BodyName(message)));
  }
  return Status::Ok();
}

}  // namespace

Result<v1::SyncMessage> ParseMessage(std::string_view bytes) {
  v1::SyncMessage message;
  KINDRED_RETURN_IF_ERROR(ParseMessageInto(bytes, &message));
  return message;
}

Result<v1::SyncMessage*> ParseMessage(std::string_view bytes, google::protobuf::Arena* arena) {
  auto* message = google::protobuf::Arena::CreateMessage<v1::SyncMessage>(arena);
  KINDRED_RETURN_IF_ERROR(ParseMessageInto(bytes, message));
  return message;
}

Status EncodeBatch(const OpBatch& batch, size_t max_ops, size_t max_bytes, KnownHeads* known,
                   std::vector<EncodedPart>* out) {
  const size_t n = batch.ops.size();
  if (n == 0) return Status::Ok();
  if (max_ops == 0) max_ops = 1;
  v1::BatchSignature signature;
  if (!signature.ParseFromString(batch.signature)) {
    return Status::Corruption("the signature of a batch of device " + batch.device.ToString() +
                              " in the local store does not parse");
  }
  // The parts' ops are made on an arena, not one heap object each.
  google::protobuf::Arena arena;
  v1::SyncMessage& message = *google::protobuf::Arena::CreateMessage<v1::SyncMessage>(&arena);
  v1::SyncBatch* part = message.mutable_batch();
  v1::OpEnvelope op;
  size_t i = 0;
  while (i < n) {
    part->Clear();
    part->set_space_id(std::string(batch.space.bytes()));
    part->set_device_id(std::string(batch.device.bytes()));
    part->set_first_seq(batch.first_seq + i);
    const size_t start = i;
    size_t bytes = 0;
    uint64_t prev_hlc = 0;
    uint32_t prev_epoch = 0;
    std::string prev_salt;
    for (; i < n && i - start < max_ops && (i == start || bytes < max_bytes); ++i) {
      if (!op.ParseFromString(batch.ops[i])) {
        return Status::Corruption(log::DescribeOp(batch.space, batch.device, batch.first_seq + i) +
                                  " in the local store does not parse");
      }
      if (i == 0 && batch.first_seq > 1) {
        // Left out when the receiver knows the op before; if it listed that
        // op with another hash, the log forked.
        const uint64_t before = batch.first_seq - 1;
        const LogHead& listed = known->listed;
        const LogHead& last = known->last_run;
        if (listed.seq == before && listed.hash != op.prev_hash()) {
          return Status::Corruption(
              "fork: the peer holds a different op " + std::to_string(before) + " of device " +
              batch.device.ToString() + "'s log than this device; refusing to sync with it");
        }
        const bool receiver_knows = (listed.seq == before && listed.hash == op.prev_hash()) ||
                                    (last.seq == before && last.hash == op.prev_hash());
        if (!receiver_knows) part->set_prev_hash(op.prev_hash());
      }
      v1::CompactOp* c = part->add_ops();
      c->set_hlc_delta(static_cast<int64_t>(op.hlc() - prev_hlc));
      prev_hlc = op.hlc();
      if (i == start || op.epoch() != prev_epoch) c->set_epoch(op.epoch());
      prev_epoch = op.epoch();
      if (i == start || op.salt() != prev_salt) {
        c->set_salt(op.salt());
        prev_salt = op.salt();
      }
      bytes += op.ciphertext().size() + kOpOverheadBytes;
      // Swapped, not copied (the part is on an arena, `op` is not).
      c->mutable_ciphertext()->swap(*op.mutable_ciphertext());
      if (op.purged()) {
        c->set_purged(true);
        c->set_payload_hash(op.payload_hash());
      }
      if (op.format() != kDefaultFormat) c->set_format(op.format());
      if (op.aead() != kDefaultAead) c->set_aead(op.aead());
    }
    EncodedPart encoded;
    encoded.ops = i - start;
    encoded.completes_run = i == n;
    encoded.device = batch.device;
    encoded.last_seq = batch.first_seq + i - 1;
    if (encoded.completes_run) {
      part->set_signature(signature.signature());
      if (signature.format() != kDefaultFormat) part->set_signature_format(signature.format());
      encoded.head_hash = signature.head_hash();
      known->last_run = LogHead{encoded.last_seq, signature.head_hash()};
    } else {
      part->set_more(true);
    }
    encoded.bytes = EncodeMessage(message);
    out->push_back(std::move(encoded));
  }
  return Status::Ok();
}

void MarkDone(EncodedPart* part) {
  // Appending a field to an encoded message merges it in: SyncMessage
  // field 2 (the batch) again, holding only `done`.
  v1::SyncMessage extra;
  extra.mutable_batch()->set_done(true);
  part->bytes += EncodeMessage(extra);
}

Result<bool> RunBuilder::Add(const v1::SyncBatch& part, const KnownHeads& known) {
  return AddPart(part, nullptr, known);
}

Result<bool> RunBuilder::Add(v1::SyncBatch&& part, const KnownHeads& known) {
  return AddPart(part, &part, known);
}

Result<bool> RunBuilder::AddPart(const v1::SyncBatch& part, v1::SyncBatch* taken,
                                 const KnownHeads& known) {
  auto space = SpaceId::FromBytes(part.space_id());
  if (!space.ok())
    return Malformed("its space id has " + std::to_string(part.space_id().size()) + " bytes");
  auto device = DeviceId::FromBytes(part.device_id());
  if (!device.ok()) {
    return Malformed("its device id has " + std::to_string(part.device_id().size()) + " bytes");
  }
  const size_t count = static_cast<size_t>(part.ops_size());
  if (count == 0) return Malformed("it holds no ops");
  if (part.first_seq() == 0) return Malformed("it starts at seq 0");
  if (part.first_seq() - 1 > std::numeric_limits<uint64_t>::max() - count) {
    return Malformed("its seqs overflow");
  }
  if (!part.prev_hash().empty() && part.prev_hash().size() != crypto::kHashBytes) {
    return Malformed("its previous hash has " + std::to_string(part.prev_hash().size()) + " bytes");
  }
  if (part.done() && part.more()) return Malformed("a part marked `more` is also marked `done`");
  if (in_progress_) {
    if (*space != run_.batch.space || *device != run_.batch.device ||
        part.first_seq() != next_seq_) {
      return Malformed("a part does not continue the run in progress");
    }
    if (!part.prev_hash().empty() && part.prev_hash() != run_.head_hash) {
      return Malformed("a part does not follow the last op of the part before it");
    }
  } else {
    std::string prev = part.prev_hash();
    if (prev.empty()) {
      const uint64_t before = part.first_seq() - 1;
      if (before == 0) {
        prev.assign(crypto::kHashBytes, '\0');
      } else if (known.last_run.seq == before && known.last_run.hash.size() == crypto::kHashBytes) {
        prev = known.last_run.hash;
      } else if (known.listed.seq == before && known.listed.hash.size() == crypto::kHashBytes) {
        prev = known.listed.hash;
      } else {
        return Malformed("it leaves out the hash of op " + std::to_string(before) +
                         ", which this device did not list and it did not send");
      }
    }
    run_ = SignedRun{};
    run_.batch.space = *space;
    run_.batch.device = *device;
    run_.batch.first_seq = part.first_seq();
    run_.prev_hash = prev;
    run_.head_hash = std::move(prev);
    bytes_ = 0;
    // The run's envelopes live on an arena the batch keeps alive.
    google::protobuf::ArenaOptions options;
    options.start_block_size = 16 << 10;
    options.max_block_size = 256 << 10;
    auto arena = std::make_shared<google::protobuf::Arena>(options);
    arena_ = arena.get();
    run_.batch.decoded_owners.push_back(std::move(arena));
  }
  if (run_.batch.size() + count > kMaxRunOps) {
    return Malformed("its run grows past " + std::to_string(kMaxRunOps) + " ops");
  }
  // The hash of the op before: the run's head, then each op's as it is
  // derived (pointing into derived_hashes; read before the next push_back).
  const std::string* prev = &run_.head_hash;
  uint64_t hlc = 0;
  uint32_t epoch = 0;
  std::string salt;
  for (size_t i = 0; i < count; ++i) {
    const v1::CompactOp& c = part.ops(static_cast<int>(i));
    const uint64_t seq = part.first_seq() + i;
    if (i == 0 && (!c.has_epoch() || !c.has_salt())) {
      return Malformed("its first op lacks an epoch or salt");
    }
    if (c.has_epoch()) epoch = c.epoch();
    if (c.has_salt()) {
      if (c.salt().size() > kMaxSaltBytes) return Malformed("an op's salt is too long");
      salt = c.salt();
    }
    hlc += static_cast<uint64_t>(c.hlc_delta());
    v1::OpEnvelope& op = *google::protobuf::Arena::CreateMessage<v1::OpEnvelope>(arena_);
    op.set_format(c.has_format() ? c.format() : kDefaultFormat);
    op.set_hlc(hlc);
    op.set_epoch(epoch);
    // Only a run's first op names the hash it follows; each later one is
    // linked by the hashes derived here (OpBatch::decoded).
    if (run_.batch.decoded.empty()) op.set_prev_hash(*prev);
    op.set_salt(salt);
    op.set_aead(c.has_aead() ? c.aead() : kDefaultAead);
    if (c.has_payload_hash() && c.payload_hash().size() != crypto::kHashBytes) {
      return Malformed("an op's payload hash has " + std::to_string(c.payload_hash().size()) +
                       " bytes");
    }
    if (c.purged()) {
      if (!c.has_payload_hash()) return Malformed("a purged op lacks its payload hash");
      op.set_payload_hash(c.payload_hash());
    } else {
      // Derived here, always (Ingest relies on it: OpBatch::derived_hashes);
      // one sent along anyway must be the same.
      crypto::HashInto(c.ciphertext(), op.mutable_payload_hash());
      if (c.has_payload_hash() &&
          !crypto::ConstantTimeEquals(c.payload_hash(), op.payload_hash())) {
        return Malformed("an op's payload hash does not match its ciphertext");
      }
    }
    if (taken) {
      // Moved out of the part, which its caller reads no more.
      op.mutable_ciphertext()->swap(*taken->mutable_ops(static_cast<int>(i))->mutable_ciphertext());
    } else {
      op.set_ciphertext(c.ciphertext());
    }
    op.set_purged(c.purged());
    run_.batch.derived_hashes.push_back(log::OpHash(*space, *device, seq, *prev, op));
    prev = &run_.batch.derived_hashes.back();
    run_.batch.decoded.push_back(&op);
    bytes_ += op.ByteSizeLong();
    if (bytes_ > kMaxRunBytes) {
      return Malformed("its run grows past " + std::to_string(kMaxRunBytes) + " bytes");
    }
  }
  run_.head_hash = *prev;
  next_seq_ = part.first_seq() + count;
  if (part.more()) {
    if (!part.signature().empty()) return Malformed("a part marked `more` carries a signature");
    in_progress_ = true;
    return false;
  }
  if (part.signature().size() != crypto::kSignatureBytes) {
    return Malformed("its signature has " + std::to_string(part.signature().size()) + " bytes");
  }
  v1::BatchSignature signature;
  signature.set_format(part.has_signature_format() ? part.signature_format() : kDefaultFormat);
  signature.set_seq(next_seq_ - 1);
  signature.set_head_hash(run_.head_hash);
  signature.set_signature(part.signature());
  run_.batch.signature = signature.SerializeAsString();
  run_.signature = part.signature();
  in_progress_ = false;
  return true;
}

SignedRun RunBuilder::Take() {
  SignedRun out = std::move(run_);
  run_ = SignedRun{};
  arena_ = nullptr;
  return out;
}

}  // namespace kindred::sync
