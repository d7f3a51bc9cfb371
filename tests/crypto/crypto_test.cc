#include "engine/crypto/crypto.h"

#include <gtest/gtest.h>

namespace kindred::crypto {
namespace {

TEST(AeadTest, OpensWhatItSealed) {
  auto key = SymmetricKey::Generate(Env::System().random());
  std::string sealed = AeadSealRandomNonce(Env::System().random(), key, "ad", "hello");
  std::string plain;
  ASSERT_TRUE(AeadOpenRandomNonce(key, "ad", sealed, &plain).ok());
  EXPECT_EQ(plain, "hello");
}

TEST(AeadTest, RejectsAFlippedBitWrongAdAndWrongKey) {
  auto& rnd = Env::System().random();
  auto key = SymmetricKey::Generate(rnd);
  std::string sealed = AeadSealRandomNonce(rnd, key, "ad", "hello");
  std::string plain;
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 1;
    EXPECT_EQ(AeadOpenRandomNonce(key, "ad", bad, &plain).code(), StatusCode::kUnauthenticated);
  }
  EXPECT_FALSE(AeadOpenRandomNonce(key, "other", sealed, &plain).ok());
  auto other = SymmetricKey::Generate(rnd);
  EXPECT_FALSE(AeadOpenRandomNonce(other, "ad", sealed, &plain).ok());
  EXPECT_FALSE(AeadOpenRandomNonce(key, "ad", sealed.substr(0, 10), &plain).ok());
}

TEST(AeadTest, RandomNoncesDoNotRepeat) {
  auto& rnd = Env::System().random();
  auto key = SymmetricKey::Generate(rnd);
  std::string a = AeadSealRandomNonce(rnd, key, "", "same");
  std::string b = AeadSealRandomNonce(rnd, key, "", "same");
  EXPECT_NE(a.substr(0, kXNonceBytes), b.substr(0, kXNonceBytes));
  EXPECT_NE(a, b);
}

TEST(KdfTest, DifferentLabelsGiveUnrelatedKeys) {
  auto master = SymmetricKey::Generate(Env::System().random());
  auto a = DeriveKey(master, kdf_label::kRecords);
  auto b = DeriveKey(master, kdf_label::kIndex);
  auto c = DeriveKey(master, kdf_label::kRecords);
  EXPECT_FALSE(a.Equals(b));
  EXPECT_TRUE(a.Equals(c));
  EXPECT_FALSE(a.Equals(master));
}

TEST(SignTest, VerifiesAndRejectsTampering) {
  auto kp = SignKeyPair::Generate(Env::System().random());
  std::string sig = Sign(kp, "message");
  EXPECT_TRUE(Verify(kp.public_key, "message", sig));
  EXPECT_FALSE(Verify(kp.public_key, "messagE", sig));
  auto again = SignKeyPair::FromSecret(kp.secret_key.view());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_key, kp.public_key);
}

TEST(SignTest, RejectsASecretKeyWhoseSeedWasDamaged) {
  auto kp = SignKeyPair::Generate(Env::System().random());
  std::string sk(kp.secret_key.view());
  sk[10] ^= 1;  // inside the seed
  EXPECT_FALSE(SignKeyPair::FromSecret(sk).ok());
  std::string pk_damaged(kp.secret_key.view());
  pk_damaged[40] ^= 1;  // inside the embedded public key
  EXPECT_FALSE(SignKeyPair::FromSecret(pk_damaged).ok());
}

TEST(PwhashTest, SamePassphraseSameKeyDifferentPassphraseDifferentKey) {
  std::string salt(kPwhashSaltBytes, 's');
  auto p = PwhashParams::Interactive();
  auto a = KeyFromPassphrase("correct horse", salt, p);
  auto b = KeyFromPassphrase("correct horse", salt, p);
  auto c = KeyFromPassphrase("wrong horse", salt, p);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(a->Equals(*b));
  EXPECT_FALSE(a->Equals(*c));
}

TEST(ConstantTimeEqualsTest, ComparesContentsAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

}  // namespace
}  // namespace kindred::crypto
