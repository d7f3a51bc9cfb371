// Records at rest: both sealed forms open, across instances, and anything
// altered is refused.
#include "engine/core/record_cipher.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/testing/fake_env.h"

namespace kindred::core {
namespace {

crypto::SymmetricKey KeyOf(char fill) {
  return *crypto::SymmetricKey::FromBytes(std::string(crypto::kKeyBytes, fill));
}

class RecordCipherTest : public ::testing::Test {
 protected:
  crypto::SymmetricKey gcm_ = KeyOf('g');
  crypto::SymmetricKey xchacha_ = KeyOf('x');
  testing::SeededRandom random_{7};
  const std::string record_ = std::string(300, 'r') + "a private entry";
};

TEST_F(RecordCipherTest, AesGcmFormRoundTripsWithItsHeader) {
  if (!crypto::AesGcmKey::Available()) GTEST_SKIP() << "no AES-NI here";
  RecordCipher cipher(gcm_, xchacha_, random_);
  std::string sealed = "prefix kept";
  cipher.Seal("ad", record_, &sealed);
  ASSERT_EQ(sealed.substr(0, 11), "prefix kept");
  const std::string value = sealed.substr(11);
  EXPECT_EQ(static_cast<uint8_t>(value[0]), RecordCipher::kGcmForm);
  EXPECT_EQ(value.size(), 1 + RecordCipher::kSaltBytes + 8 + record_.size() + 16);
  EXPECT_EQ(value.find("a private entry"), std::string::npos);
  std::string plain;
  ASSERT_TRUE(cipher.Open("ad", value, &plain).ok());
  EXPECT_EQ(plain, record_);
}

TEST_F(RecordCipherTest, NoTwoSealsShareANonce) {
  RecordCipher cipher(gcm_, xchacha_, random_);
  std::set<std::string> headers;
  for (int i = 0; i < 1000; ++i) {
    std::string sealed;
    cipher.Seal("ad", record_, &sealed);
    // The nonce (GCM: salt and counter; XChaCha: 24 bytes) and the ciphertext differ every time.
    EXPECT_TRUE(headers.insert(sealed.substr(0, 25)).second) << i;
  }
}

TEST_F(RecordCipherTest, XChaChaFormRoundTripsAndOpensWhereAesIsUsed) {
  RecordCipher old_form(gcm_, xchacha_, random_, /*allow_aes=*/false);
  std::string sealed;
  old_form.Seal("ad", record_, &sealed);
  EXPECT_EQ(sealed.size(), 24 + record_.size() + 16);
  RecordCipher current(gcm_, xchacha_, random_);
  std::string plain;
  ASSERT_TRUE(old_form.Open("ad", sealed, &plain).ok());
  EXPECT_EQ(plain, record_);
  ASSERT_TRUE(current.Open("ad", sealed, &plain).ok());
  EXPECT_EQ(plain, record_);
}

TEST_F(RecordCipherTest, ValuesOfEarlierInstancesOpenUnderTheSameKeys) {
  // Each instance (process) seals under a key of its own salt; a later one
  // derives the earlier keys, more of them than it keeps at once.
  std::vector<std::string> sealed;
  for (int i = 0; i < 100; ++i) {
    RecordCipher earlier(gcm_, xchacha_, random_);
    earlier.Seal("ad" + std::to_string(i), record_ + std::to_string(i), &sealed.emplace_back());
  }
  RecordCipher later(gcm_, xchacha_, random_);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 100; ++i) {
      std::string plain;
      ASSERT_TRUE(later.Open("ad" + std::to_string(i), sealed[i], &plain).ok()) << i;
      EXPECT_EQ(plain, record_ + std::to_string(i));
    }
  }
  // Other keys open nothing.
  RecordCipher stranger(KeyOf('G'), KeyOf('X'), random_);
  std::string plain;
  EXPECT_EQ(stranger.Open("ad0", sealed[0], &plain).code(), StatusCode::kUnauthenticated);
}

TEST_F(RecordCipherTest, AnyAlteredByteOrOtherAdIsRefused) {
  for (bool aes : {true, false}) {
    RecordCipher cipher(gcm_, xchacha_, random_, aes);
    std::string sealed;
    cipher.Seal("records/key-1", record_, &sealed);
    std::string plain;
    EXPECT_EQ(cipher.Open("records/key-2", sealed, &plain).code(), StatusCode::kUnauthenticated);
    EXPECT_TRUE(plain.empty());
    // Every byte: header (form, salt, counter or nonce), ciphertext, tag.
    for (size_t i = 0; i < sealed.size(); ++i) {
      std::string altered = sealed;
      altered[i] = static_cast<char>(altered[i] ^ 0x01);
      Status s = cipher.Open("records/key-1", altered, &plain);
      EXPECT_FALSE(s.ok()) << "byte " << i << (aes ? " (AES-GCM)" : " (XChaCha)");
    }
    EXPECT_FALSE(cipher.Open("records/key-1", sealed.substr(0, sealed.size() - 1), &plain).ok());
    EXPECT_FALSE(cipher.Open("records/key-1", "", &plain).ok());
    ASSERT_TRUE(cipher.Open("records/key-1", sealed, &plain).ok());
    EXPECT_EQ(plain, record_);
  }
}

}  // namespace
}  // namespace kindred::core
