#include "engine/log/oplog.h"

namespace kindred::log {
namespace {

std::string DeviceSpacePrefix(const SpaceId& space, const DeviceId& device, char kind) {
  std::string key;
  key.reserve(SpaceId::kBytes + DeviceId::kBytes + 1 + 8);
  key.append(space.bytes());
  key.append(device.bytes());
  key.push_back(kind);
  return key;
}

}  // namespace

std::string OpPrefix(const SpaceId& space, const DeviceId& device) {
  return DeviceSpacePrefix(space, device, 'o');
}
std::string SignaturePrefix(const SpaceId& space, const DeviceId& device) {
  return DeviceSpacePrefix(space, device, 's');
}
std::string OpKey(const SpaceId& space, const DeviceId& device, uint64_t seq) {
  std::string key = OpPrefix(space, device);
  crypto::PutU64(&key, seq);
  return key;
}
std::string SignatureKey(const SpaceId& space, const DeviceId& device, uint64_t seq) {
  std::string key = SignaturePrefix(space, device);
  crypto::PutU64(&key, seq);
  return key;
}
std::string VersionKey(const SpaceId& space, const DeviceId& device) {
  std::string key(space.bytes());
  key.append(device.bytes());
  return key;
}

std::string OpHash(const SpaceId& space, const DeviceId& device, uint64_t seq,
                   const v1::OpEnvelope& op) {
  crypto::Hasher h;
  h.Update("kindred/op/1");
  h.Update(space.bytes());
  h.Update(device.bytes());
  h.UpdateU64(seq);
  h.UpdateU64(op.hlc());
  h.UpdateU64(op.epoch());
  h.Update(op.prev_hash());
  h.Update(op.salt());
  h.UpdateU64(op.aead());
  h.Update(op.payload_hash());
  return h.Finish();
}

std::string OpNonce(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                    std::string_view salt) {
  std::string input("kindred/nonce/1");
  input.append(salt);
  input.append(space.bytes());
  input.append(device.bytes());
  crypto::PutU64(&input, seq);
  crypto::PutU32(&input, epoch);
  std::string nonce(crypto::kXNonceBytes, '\0');
  crypto_generichash(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size(),
                     reinterpret_cast<const uint8_t*>(input.data()), input.size(), nullptr, 0);
  return nonce;
}

std::string OpAssociatedData(const SpaceId& space, const DeviceId& device, uint64_t seq,
                             uint32_t epoch, std::string_view prev_hash) {
  std::string ad("kindred/op/1");
  ad.append(space.bytes());
  ad.append(device.bytes());
  crypto::PutU64(&ad, seq);
  crypto::PutU32(&ad, epoch);
  ad.append(prev_hash);
  return ad;
}

std::string HeadMessage(const SpaceId& space, const DeviceId& device, uint64_t seq,
                        std::string_view head_hash) {
  std::string msg("kindred/head/1");
  msg.append(space.bytes());
  msg.append(device.bytes());
  crypto::PutU64(&msg, seq);
  msg.append(head_hash);
  return msg;
}

void SealOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
            uint64_t seq, std::string_view payload, v1::OpEnvelope* op) {
  op->set_format(kOpFormat);
  op->set_aead(static_cast<uint32_t>(crypto::AeadId::kXChaCha20Poly1305));
  std::string* ct = op->mutable_ciphertext();
  ct->clear();
  crypto::AeadSeal(epoch_key, OpNonce(space, device, seq, op->epoch(), op->salt()),
                   OpAssociatedData(space, device, seq, op->epoch(), op->prev_hash()), payload,
                   ct);
  op->set_payload_hash(crypto::Hash(*ct));
}

Status OpenOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
              uint64_t seq, const v1::OpEnvelope& op, std::string* payload) {
  if (op.purged()) return Status::FailedPrecondition(DescribeOp(space, device, seq) + " was purged");
  if (op.format() != kOpFormat) {
    return Status::Corruption(DescribeOp(space, device, seq) + " has unknown format " +
                              std::to_string(op.format()));
  }
  if (op.aead() != static_cast<uint32_t>(crypto::AeadId::kXChaCha20Poly1305)) {
    return Status::Corruption(DescribeOp(space, device, seq) + " uses an unknown cipher");
  }
  if (!crypto::ConstantTimeEquals(crypto::Hash(op.ciphertext()), op.payload_hash())) {
    return Status::Corruption(DescribeOp(space, device, seq) +
                              " does not match its payload hash: it was altered");
  }
  Status s = crypto::AeadOpen(epoch_key, OpNonce(space, device, seq, op.epoch(), op.salt()),
                              OpAssociatedData(space, device, seq, op.epoch(), op.prev_hash()),
                              op.ciphertext(), payload);
  if (!s.ok()) {
    return Status::Corruption(DescribeOp(space, device, seq) + " failed authentication");
  }
  return Status::Ok();
}

std::string DescribeOp(const SpaceId& space, const DeviceId& device, uint64_t seq) {
  return "op " + std::to_string(seq) + " of device " + device.ToString() + " in space " +
         space.ToHex().substr(0, 8);
}

}  // namespace kindred::log
