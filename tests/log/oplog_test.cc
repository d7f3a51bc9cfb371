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

}  // namespace
}  // namespace kindred::log
