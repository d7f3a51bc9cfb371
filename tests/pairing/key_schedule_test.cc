// Kindred's key schedule on top of CPace, against values computed
// independently (see kindred_key_schedule_vectors.json).
#include "engine/pairing/key_schedule.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "engine/pairing/safety_words.h"
#include "tests/pairing/test_util.h"

namespace kindred::pairing {
namespace {

using testing::PairingTestDataPath;
using testing::ReadFileOrFail;
using testing::Unhex;

class KeyScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init().ok());
    v_ = nlohmann::json::parse(
        ReadFileOrFail(PairingTestDataPath("kindred_key_schedule_vectors.json")), nullptr,
        /*allow_exceptions=*/false);
    ASSERT_TRUE(v_.is_object());
    auto isk = cpace::Isk::FromBytes(Field("ISK"));
    ASSERT_TRUE(isk.ok());
    isk_ = *isk;
  }
  std::string Field(const char* key) { return Unhex(v_[key].get<std::string>()); }
  std::string HexField(const char* key) { return v_[key].get<std::string>(); }

  nlohmann::json v_;
  cpace::Isk isk_;
};

TEST_F(KeyScheduleTest, TheVectorIskIsTheCpaceVectorsIsk) {
  // Ties this file to cpace_vectors.json, so the two cannot drift apart.
  auto cpace = nlohmann::json::parse(ReadFileOrFail(PairingTestDataPath("cpace_vectors.json")),
                                     nullptr, false);
  ASSERT_TRUE(cpace.is_object());
  EXPECT_EQ(cpace["ISK_IR"], v_["ISK"]);
  EXPECT_EQ(cpace["sid"], v_["sid"]);
  EXPECT_EQ(cpace["transcript_ir"], v_["transcript_ir"]);
}

TEST_F(KeyScheduleTest, KeysFromIskMatchTheVectors) {
  SessionSecrets s = DeriveSessionSecrets(isk_);
  EXPECT_EQ(ToHex(s.initiator_confirm_key.view()), HexField("initiator_confirm_key"));
  EXPECT_EQ(ToHex(s.responder_confirm_key.view()), HexField("responder_confirm_key"));
  EXPECT_EQ(ToHex(s.session_key.view()), HexField("session_key"));
}

TEST_F(KeyScheduleTest, TranscriptHashTagsAndSafetyWordsMatchTheVectors) {
  std::string th = TranscriptHash(Field("sid"), Field("transcript_ir"));
  EXPECT_EQ(ToHex(th), HexField("transcript_hash"));
  SessionSecrets s = DeriveSessionSecrets(isk_);
  EXPECT_EQ(ToHex(ConfirmationTag(s.initiator_confirm_key, th)), HexField("Ta"));
  EXPECT_EQ(ToHex(ConfirmationTag(s.responder_confirm_key, th)), HexField("Tb"));
  EXPECT_EQ(SafetyWords(th), v_["safety_words"]);
}

TEST_F(KeyScheduleTest, EveryDerivedValueIsDistinct) {
  SessionSecrets s = DeriveSessionSecrets(isk_);
  std::set<std::string> values = {
      std::string(s.initiator_confirm_key.view()), std::string(s.responder_confirm_key.view()),
      std::string(s.session_key.view()), std::string(isk_.view().substr(0, 32))};
  EXPECT_EQ(values.size(), 4u);
  std::string th = TranscriptHash(Field("sid"), Field("transcript_ir"));
  EXPECT_NE(ConfirmationTag(s.initiator_confirm_key, th),
            ConfirmationTag(s.responder_confirm_key, th));
}

TEST_F(KeyScheduleTest, TheTranscriptHashCoversTheSid) {
  std::string sid = Field("sid");
  std::string other_sid = sid;
  other_sid[0] ^= 1;
  EXPECT_NE(TranscriptHash(sid, Field("transcript_ir")),
            TranscriptHash(other_sid, Field("transcript_ir")));
}

TEST_F(KeyScheduleTest, TagComparisonRejectsAnyDifferenceAndOtherLengths) {
  std::string tag = Field("Ta");
  EXPECT_TRUE(TagMatches(tag, tag));
  for (size_t i = 0; i < tag.size(); ++i) {
    std::string bad = tag;
    bad[i] ^= 0x40;
    EXPECT_FALSE(TagMatches(tag, bad)) << i;
  }
  EXPECT_FALSE(TagMatches(tag, tag.substr(0, 31)));
  EXPECT_FALSE(TagMatches(tag, tag + "x"));
  EXPECT_FALSE(TagMatches(tag, ""));
}

}  // namespace
}  // namespace kindred::pairing
