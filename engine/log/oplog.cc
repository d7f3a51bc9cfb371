#include "engine/log/oplog.h"

#include <cstring>

namespace kindred::log {
namespace {

constexpr std::string_view kOpLabel = "kindred/op/1";
constexpr std::string_view kNonceLabel = "kindred/nonce/1";
constexpr std::string_view kHeadLabel = "kindred/head/1";

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

uint8_t* PutBytes(uint8_t* p, std::string_view bytes) {
  std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}
uint8_t* PutU64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  return p;
}
uint8_t* PutU32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  return p;
}

std::string DeviceSpacePrefix(const SpaceId& space, const DeviceId& device, char kind) {
  std::string key;
  key.reserve(SpaceId::kBytes + DeviceId::kBytes + 1 + 8);
  key.append(space.bytes());
  key.append(device.bytes());
  key.push_back(kind);
  return key;
}

// The nonce input, streamed into BLAKE2b-192 without building a string.
void NonceInto(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
               std::string_view salt, uint8_t out[crypto::kXNonceBytes]) {
  crypto_generichash_blake2b_state st;
  crypto_generichash_blake2b_init(&st, nullptr, 0, crypto::kXNonceBytes);
  crypto_generichash_blake2b_update(&st, U8(kNonceLabel), kNonceLabel.size());
  crypto_generichash_blake2b_update(&st, U8(salt), salt.size());
  uint8_t tail[SpaceId::kBytes + DeviceId::kBytes + 8 + 4];
  uint8_t* p = PutBytes(tail, space.bytes());
  p = PutBytes(p, device.bytes());
  p = PutU64(p, seq);
  p = PutU32(p, epoch);
  crypto_generichash_blake2b_update(&st, tail, static_cast<size_t>(p - tail));
  crypto_generichash_blake2b_final(&st, out, crypto::kXNonceBytes);
}

// The associated data of an op, on the stack when prev_hash has a sane size
// (it always has for ops this code wrote; a peer's may not).
class AssociatedData {
 public:
  AssociatedData(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                 std::string_view prev_hash) {
    if (prev_hash.size() > kMaxPrev) {
      heap_ = OpAssociatedData(space, device, seq, epoch, prev_hash);
      view_ = heap_;
      return;
    }
    uint8_t* p = PutBytes(buf_, kOpLabel);
    p = PutBytes(p, space.bytes());
    p = PutBytes(p, device.bytes());
    p = PutU64(p, seq);
    p = PutU32(p, epoch);
    p = PutBytes(p, prev_hash);
    view_ = std::string_view(reinterpret_cast<const char*>(buf_), static_cast<size_t>(p - buf_));
  }
  std::string_view view() const { return view_; }

 private:
  static constexpr size_t kMaxPrev = 64;
  uint8_t buf_[kOpLabel.size() + SpaceId::kBytes + DeviceId::kBytes + 8 + 4 + kMaxPrev];
  std::string heap_;
  std::string_view view_;
};

}  // namespace

std::string SegmentPrefix(const SpaceId& space, const DeviceId& device) {
  return DeviceSpacePrefix(space, device, 'g');
}
std::string SegmentKey(const SpaceId& space, const DeviceId& device, uint64_t last_seq) {
  std::string key = SegmentPrefix(space, device);
  crypto::PutU64(&key, last_seq);
  return key;
}
std::string VersionKey(const SpaceId& space, const DeviceId& device) {
  std::string key(space.bytes());
  key.append(device.bytes());
  return key;
}

std::string OpHash(const SpaceId& space, const DeviceId& device, uint64_t seq,
                   std::string_view prev_hash, const v1::OpEnvelope& op) {
  // "kindred/op/1" | space | device | seq | hlc | epoch | prev_hash | salt | aead | payload_hash
  crypto_generichash_blake2b_state st;
  crypto_generichash_blake2b_init(&st, nullptr, 0, crypto::kHashBytes);
  uint8_t head[kOpLabel.size() + SpaceId::kBytes + DeviceId::kBytes + 3 * 8];
  uint8_t* p = PutBytes(head, kOpLabel);
  p = PutBytes(p, space.bytes());
  p = PutBytes(p, device.bytes());
  p = PutU64(p, seq);
  p = PutU64(p, op.hlc());
  p = PutU64(p, op.epoch());
  crypto_generichash_blake2b_update(&st, head, static_cast<size_t>(p - head));
  crypto_generichash_blake2b_update(&st, U8(prev_hash), prev_hash.size());
  crypto_generichash_blake2b_update(&st, U8(op.salt()), op.salt().size());
  uint8_t aead[8];
  PutU64(aead, op.aead());
  crypto_generichash_blake2b_update(&st, aead, sizeof(aead));
  crypto_generichash_blake2b_update(&st, U8(op.payload_hash()), op.payload_hash().size());
  std::string out(crypto::kHashBytes, '\0');
  crypto_generichash_blake2b_final(&st, reinterpret_cast<uint8_t*>(out.data()), out.size());
  return out;
}

std::string OpHash(const SpaceId& space, const DeviceId& device, uint64_t seq,
                   const v1::OpEnvelope& op) {
  return OpHash(space, device, seq, op.prev_hash(), op);
}

std::string OpNonce(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                    std::string_view salt) {
  std::string nonce(crypto::kXNonceBytes, '\0');
  NonceInto(space, device, seq, epoch, salt, reinterpret_cast<uint8_t*>(nonce.data()));
  return nonce;
}

std::string OpAssociatedData(const SpaceId& space, const DeviceId& device, uint64_t seq,
                             uint32_t epoch, std::string_view prev_hash) {
  std::string ad(kOpLabel);
  ad.append(space.bytes());
  ad.append(device.bytes());
  crypto::PutU64(&ad, seq);
  crypto::PutU32(&ad, epoch);
  ad.append(prev_hash);
  return ad;
}

std::string HeadMessage(const SpaceId& space, const DeviceId& device, uint64_t seq,
                        std::string_view head_hash) {
  std::string msg(kHeadLabel);
  msg.append(space.bytes());
  msg.append(device.bytes());
  crypto::PutU64(&msg, seq);
  msg.append(head_hash);
  return msg;
}

Nonce OpNonceBytes(const SpaceId& space, const DeviceId& device, uint64_t seq, uint32_t epoch,
                   std::string_view salt) {
  Nonce nonce;
  NonceInto(space, device, seq, epoch, salt, nonce.data());
  return nonce;
}

void SealOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
            uint64_t seq, std::string_view prev_hash, std::string_view payload,
            v1::OpEnvelope* op) {
  SealOpWithNonce(epoch_key, space, device, seq, prev_hash,
                  OpNonceBytes(space, device, seq, op->epoch(), op->salt()), payload, op);
}

void SealOpWithNonce(const crypto::SymmetricKey& epoch_key, const SpaceId& space,
                     const DeviceId& device, uint64_t seq, std::string_view prev_hash,
                     const Nonce& nonce, std::string_view payload, v1::OpEnvelope* op) {
  op->set_format(kOpFormat);
  op->set_aead(static_cast<uint32_t>(crypto::AeadId::kXChaCha20Poly1305));
  AssociatedData ad(space, device, seq, op->epoch(), prev_hash);
  std::string* ct = op->mutable_ciphertext();
  ct->resize(payload.size() + crypto::kAeadTagBytes);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(ct->data()), &clen,
                                             U8(payload), payload.size(), U8(ad.view()),
                                             ad.view().size(), nullptr, nonce.data(),
                                             epoch_key.data());
  std::string* hash = op->mutable_payload_hash();
  hash->resize(crypto::kHashBytes);
  crypto_generichash(reinterpret_cast<uint8_t*>(hash->data()), hash->size(), U8(*ct), ct->size(),
                     nullptr, 0);
}

void SealOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
            uint64_t seq, std::string_view payload, v1::OpEnvelope* op) {
  // The overload above never writes prev_hash, so the view stays valid.
  SealOp(epoch_key, space, device, seq, op->prev_hash(), payload, op);
}

Status OpenOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
              uint64_t seq, std::string_view prev_hash, const v1::OpEnvelope& op,
              std::string* payload, bool payload_hash_derived) {
  if (op.purged()) return Status::FailedPrecondition(DescribeOp(space, device, seq) + " was purged");
  if (op.format() != kOpFormat) {
    return Status::Corruption(DescribeOp(space, device, seq) + " has unknown format " +
                              std::to_string(op.format()));
  }
  if (op.aead() != static_cast<uint32_t>(crypto::AeadId::kXChaCha20Poly1305)) {
    return Status::Corruption(DescribeOp(space, device, seq) + " uses an unknown cipher");
  }
  const std::string& ct = op.ciphertext();
  if (!payload_hash_derived) {
    uint8_t hash[crypto::kHashBytes];
    crypto_generichash(hash, sizeof(hash), U8(ct), ct.size(), nullptr, 0);
    if (!crypto::ConstantTimeEquals(
            std::string_view(reinterpret_cast<const char*>(hash), sizeof(hash)),
            op.payload_hash())) {
      return Status::Corruption(DescribeOp(space, device, seq) +
                                " does not match its payload hash: it was altered");
    }
  }
  if (ct.size() < crypto::kAeadTagBytes) {
    return Status::Corruption(DescribeOp(space, device, seq) + " failed authentication");
  }
  uint8_t nonce[crypto::kXNonceBytes];
  NonceInto(space, device, seq, op.epoch(), op.salt(), nonce);
  AssociatedData ad(space, device, seq, op.epoch(), prev_hash);
  payload->resize(ct.size() - crypto::kAeadTagBytes);
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<uint8_t*>(payload->data()), &plen, nullptr, U8(ct), ct.size(),
          U8(ad.view()), ad.view().size(), nonce, epoch_key.data()) != 0) {
    payload->clear();
    return Status::Corruption(DescribeOp(space, device, seq) + " failed authentication");
  }
  payload->resize(plen);
  return Status::Ok();
}

Status OpenOp(const crypto::SymmetricKey& epoch_key, const SpaceId& space, const DeviceId& device,
              uint64_t seq, const v1::OpEnvelope& op, std::string* payload) {
  return OpenOp(epoch_key, space, device, seq, op.prev_hash(), op, payload);
}

std::string DescribeOp(const SpaceId& space, const DeviceId& device, uint64_t seq) {
  return "op " + std::to_string(seq) + " of device " + device.ToString() + " in space " +
         space.ToHex().substr(0, 8);
}

}  // namespace kindred::log
