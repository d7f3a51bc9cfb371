#include "engine/log/oplog.h"

#include <gtest/gtest.h>

namespace kindred::log {
namespace {

struct Fixture {
  crypto::SymmetricKey key = crypto::SymmetricKey::Generate(Env::System().random());
  SpaceId space{std::array<uint8_t, 16>{1, 2, 3}};
  DeviceId device{std::array<uint8_t, 15>{9, 8, 7}};
  v1::OpEnvelope Seal(uint64_t seq, const std::string& payload) {
    v1::OpEnvelope op;
    op.set_hlc(123);
    op.set_epoch(1);
    op.set_prev_hash(std::string(32, '\0'));
    op.set_salt(std::string(16, 's'));
    SealOp(key, space, device, seq, payload, &op);
    return op;
  }
};

TEST(OpLogTest, OpensWhatItSealed) {
  Fixture f;
  auto op = f.Seal(1, "payload");
  std::string out;
  ASSERT_TRUE(OpenOp(f.key, f.space, f.device, 1, op, &out).ok());
  EXPECT_EQ(out, "payload");
}

TEST(OpLogTest, RejectsAnOpMovedToAnotherSeqOrDevice) {
  Fixture f;
  auto op = f.Seal(1, "payload");
  std::string out;
  EXPECT_FALSE(OpenOp(f.key, f.space, f.device, 2, op, &out).ok());
  DeviceId other{std::array<uint8_t, 15>{1}};
  EXPECT_FALSE(OpenOp(f.key, f.space, other, 1, op, &out).ok());
}

TEST(OpLogTest, RejectsAlteredCiphertextWithAMessageNamingTheOp) {
  Fixture f;
  auto op = f.Seal(7, "payload");
  op.mutable_ciphertext()->at(0) ^= 1;
  std::string out;
  Status s = OpenOp(f.key, f.space, f.device, 7, op, &out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("op 7"), std::string::npos);
}

TEST(OpLogTest, HashCoversTheHeaderButNotTheErasableCiphertext) {
  Fixture f;
  auto op = f.Seal(1, "payload");
  std::string h = OpHash(f.space, f.device, 1, op);
  auto purged = op;
  purged.clear_ciphertext();
  purged.set_purged(true);
  EXPECT_EQ(OpHash(f.space, f.device, 1, purged), h);
  auto moved = op;
  moved.set_hlc(124);
  EXPECT_NE(OpHash(f.space, f.device, 1, moved), h);
}

TEST(OpLogTest, NoncesDifferAcrossSeqsAndSalts) {
  Fixture f;
  EXPECT_NE(OpNonce(f.space, f.device, 1, 1, "salt-a"), OpNonce(f.space, f.device, 2, 1, "salt-a"));
  EXPECT_NE(OpNonce(f.space, f.device, 1, 1, "salt-a"), OpNonce(f.space, f.device, 1, 1, "salt-b"));
}

TEST(OpLogTest, AnOpSealedAgainstAnExplicitPrevHashOpensTheSameWay) {
  Fixture f;
  const std::string prev(32, 'q');
  v1::OpEnvelope stored;  // as a segment keeps it: no prev_hash
  stored.set_hlc(5);
  stored.set_epoch(1);
  stored.set_salt(std::string(16, 's'));
  SealOpWithNonce(f.key, f.space, f.device, 3, prev, OpNonceBytes(f.space, f.device, 3, 1, stored.salt()),
                  "payload", &stored);
  EXPECT_TRUE(stored.prev_hash().empty());
  std::string out;
  ASSERT_TRUE(OpenOp(f.key, f.space, f.device, 3, prev, stored, &out).ok());
  EXPECT_EQ(out, "payload");
  EXPECT_FALSE(OpenOp(f.key, f.space, f.device, 3, std::string(32, 'r'), stored, &out).ok());
  v1::OpEnvelope sent = stored;  // as sync sends it
  sent.set_prev_hash(prev);
  EXPECT_EQ(OpHash(f.space, f.device, 3, sent), OpHash(f.space, f.device, 3, prev, stored));
  ASSERT_TRUE(OpenOp(f.key, f.space, f.device, 3, sent, &out).ok());
  std::string nonce = OpNonce(f.space, f.device, 3, 1, stored.salt());
  Nonce bytes = OpNonceBytes(f.space, f.device, 3, 1, stored.salt());
  EXPECT_EQ(nonce, std::string(bytes.begin(), bytes.end()));
}

TEST(OpLogTest, HashAndNonceFollowTheDocumentedLayout) {
  Fixture f;
  auto op = f.Seal(9, "payload");
  crypto::Hasher h;  // store.proto: the op hash input
  h.Update("kindred/op/1");
  h.Update(f.space.bytes());
  h.Update(f.device.bytes());
  h.UpdateU64(9);
  h.UpdateU64(op.hlc());
  h.UpdateU64(op.epoch());
  h.Update(op.prev_hash());
  h.Update(op.salt());
  h.UpdateU64(op.aead());
  h.Update(op.payload_hash());
  EXPECT_EQ(OpHash(f.space, f.device, 9, op), h.Finish());
  std::string input("kindred/nonce/1");
  input.append(op.salt());
  input.append(f.space.bytes());
  input.append(f.device.bytes());
  crypto::PutU64(&input, 9);
  crypto::PutU32(&input, 1);
  std::string nonce(24, '\0');
  crypto_generichash(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size(),
                     reinterpret_cast<const uint8_t*>(input.data()), input.size(), nullptr, 0);
  EXPECT_EQ(OpNonce(f.space, f.device, 9, 1, op.salt()), nonce);
  EXPECT_EQ(op.payload_hash(), crypto::Hash(op.ciphertext()));
  std::string plain;  // the associated data binds space, device, seq, epoch and prev_hash
  ASSERT_TRUE(crypto::AeadOpen(f.key, nonce, OpAssociatedData(f.space, f.device, 9, 1, op.prev_hash()),
                               op.ciphertext(), &plain).ok());
  EXPECT_EQ(plain, "payload");
}

}  // namespace
}  // namespace kindred::log
