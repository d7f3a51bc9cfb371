// CPace (CPACE-RISTR255-SHA512) against the draft's published test vectors.
#include "engine/pairing/cpace.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "engine/crypto/crypto.h"
#include "tests/pairing/test_util.h"

namespace kindred::pairing::cpace {
namespace {

using testing::PairingTestDataPath;
using testing::ReadFileOrFail;
using testing::ScriptedRandom;
using testing::Unhex;

// Loads a committed vector file once per test.
nlohmann::json LoadVectors(std::string_view name) {
  std::string text = ReadFileOrFail(PairingTestDataPath(name));
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(json.is_discarded()) << name << " is not valid JSON";
  return json;
}

// The hex field `key` of `v`, decoded.
std::string Field(const nlohmann::json& v, const char* key) {
  EXPECT_TRUE(v.contains(key)) << "vector file has no field " << key;
  if (!v.contains(key)) return {};
  return Unhex(v[key].get<std::string>());
}

std::string Hex(std::string_view bytes) { return ToHex(bytes); }

class CpaceVectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init().ok());
    v_ = LoadVectors("cpace_vectors.json");
    ASSERT_TRUE(v_.is_object());
    ASSERT_EQ(v_["suite"], "CPACE-RISTR255-SHA512");
  }

  Scalar ScalarField(const char* key) {
    auto s = Scalar::FromBytes(Field(v_, key));
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : Scalar();
  }

  nlohmann::json v_;
};

TEST_F(CpaceVectorTest, SuiteConstantsMatchTheVectors) {
  EXPECT_EQ(v_["DSI"], std::string(kDsi));
  EXPECT_EQ(v_["DSI_ISK"], std::string(kDsiIsk));
  EXPECT_EQ(v_["H_s_in_bytes"], kHashBlockBytes);
}

TEST_F(CpaceVectorTest, GeneratorStringMatchesTheVector) {
  crypto::SecretString gen_str =
      GeneratorString(kDsi, Field(v_, "PRS"), Field(v_, "CI"), Field(v_, "sid"), kHashBlockBytes);
  EXPECT_EQ(Hex(gen_str.str()), v_["generator_string"]);

  // The zero padding has the announced length: it sits after DSI and PRS.
  const size_t zpad = v_["ZPAD_length"];
  const size_t offset = PrependLen(kDsi).size() + PrependLen(Field(v_, "PRS")).size();
  ASSERT_GT(gen_str.str().size(), offset + 1 + zpad);
  EXPECT_EQ(static_cast<uint8_t>(gen_str.str()[offset]), zpad);
  EXPECT_EQ(gen_str.str().substr(offset + 1, zpad), std::string(zpad, '\0'));
}

TEST_F(CpaceVectorTest, GeneratorHashAndGeneratorMatchTheVector) {
  crypto::SecretString gen_str =
      GeneratorString(kDsi, Field(v_, "PRS"), Field(v_, "CI"), Field(v_, "sid"), kHashBlockBytes);
  GeneratorHash hash = HashGeneratorString(gen_str.str());
  EXPECT_EQ(Hex(hash.view()), v_["generator_hash"]);
  EXPECT_EQ(Hex(GeneratorFromHash(hash).view()), v_["g"]);
  EXPECT_EQ(Hex(CalculateGenerator(Field(v_, "PRS"), Field(v_, "CI"), Field(v_, "sid")).view()),
            v_["g"]);
}

TEST_F(CpaceVectorTest, PublicSharesMatchTheVector) {
  Generator g = CalculateGenerator(Field(v_, "PRS"), Field(v_, "CI"), Field(v_, "sid"));
  auto ya = ScalarMult(ScalarField("ya"), g);
  auto yb = ScalarMult(ScalarField("yb"), g);
  ASSERT_TRUE(ya.ok() && yb.ok());
  EXPECT_EQ(Hex(*ya), v_["Ya"]);
  EXPECT_EQ(Hex(*yb), v_["Yb"]);
}

TEST_F(CpaceVectorTest, ScalarSamplingDrawsFromTheInjectedRandom) {
  // 64 bytes are drawn and reduced; ya followed by 32 zero bytes reduces to ya.
  ScriptedRandom random(Field(v_, "ya") + std::string(32, '\0'));
  Scalar ya = SampleScalar(random);
  EXPECT_EQ(random.consumed(), 64u);
  EXPECT_FALSE(random.overrun());
  EXPECT_EQ(Hex(ya.view()), v_["ya"]);
}

TEST_F(CpaceVectorTest, ScalarSamplingRejectsZero) {
  // An all-zero draw reduces to zero, which is not a usable scalar: resample.
  ScriptedRandom random(std::string(64, '\0') + Field(v_, "yb") + std::string(32, '\0'));
  Scalar y = SampleScalar(random);
  EXPECT_EQ(random.consumed(), 128u);
  EXPECT_EQ(Hex(y.view()), v_["yb"]);
}

TEST_F(CpaceVectorTest, BothSidesComputeTheVectorsSharedSecret) {
  auto ka = ScalarMultVfy(ScalarField("ya"), Field(v_, "Yb"));
  auto kb = ScalarMultVfy(ScalarField("yb"), Field(v_, "Ya"));
  ASSERT_TRUE(ka.ok()) << ka.status().ToString();
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  EXPECT_EQ(Hex(ka->view()), v_["K"]);
  EXPECT_EQ(Hex(kb->view()), v_["K"]);
}

TEST_F(CpaceVectorTest, TranscriptsMatchTheVector) {
  std::string ya = Field(v_, "Ya"), ada = Field(v_, "ADa");
  std::string yb = Field(v_, "Yb"), adb = Field(v_, "ADb");
  EXPECT_EQ(Hex(TranscriptIr(ya, ada, yb, adb)), v_["transcript_ir"]);
  EXPECT_EQ(Hex(TranscriptOc(ya, ada, yb, adb)), v_["transcript_oc"]);
  // The ordered transcript does not depend on who is "a".
  EXPECT_EQ(TranscriptOc(yb, adb, ya, ada), TranscriptOc(ya, ada, yb, adb));
}

TEST_F(CpaceVectorTest, IntermediateSessionKeysMatchTheVector) {
  auto k = SharedPoint::FromBytes(Field(v_, "K"));
  ASSERT_TRUE(k.ok());
  std::string sid = Field(v_, "sid");
  std::string ir = Unhex(v_["transcript_ir"].get<std::string>());
  std::string oc = Unhex(v_["transcript_oc"].get<std::string>());
  EXPECT_EQ(Hex(DeriveIsk(sid, *k, ir).view()), v_["ISK_IR"]);
  EXPECT_EQ(Hex(DeriveIsk(sid, *k, oc).view()), v_["ISK_SY"]);
}

TEST_F(CpaceVectorTest, SessionIdOutputsMatchTheVector) {
  EXPECT_EQ(Hex(SidOutput(Field(v_, "transcript_ir"))), v_["sid_output_ir"]);
  EXPECT_EQ(Hex(SidOutput(Field(v_, "transcript_oc"))), v_["sid_output_oc"]);
}

TEST_F(CpaceVectorTest, AWholeRunFromTheVectorInputsReproducesTheVectorIsk) {
  // Both parties end to end, from inputs only.
  std::string prs = Field(v_, "PRS"), ci = Field(v_, "CI"), sid = Field(v_, "sid");
  Generator g = CalculateGenerator(prs, ci, sid);
  Scalar ya = ScalarField("ya"), yb = ScalarField("yb");
  auto big_ya = ScalarMult(ya, g);
  auto big_yb = ScalarMult(yb, g);
  ASSERT_TRUE(big_ya.ok() && big_yb.ok());
  auto ka = ScalarMultVfy(ya, *big_yb);
  auto kb = ScalarMultVfy(yb, *big_ya);
  ASSERT_TRUE(ka.ok() && kb.ok());
  std::string t = TranscriptIr(*big_ya, Field(v_, "ADa"), *big_yb, Field(v_, "ADb"));
  Isk isk_a = DeriveIsk(sid, *ka, t);
  Isk isk_b = DeriveIsk(sid, *kb, t);
  EXPECT_TRUE(isk_a.Equals(isk_b));
  EXPECT_EQ(Hex(isk_a.view()), v_["ISK_IR"]);
}

// The draft's ristretto255 cases for scalar_mult_vfy, which the shared vector
// file does not carry; see the "source" field of the file.
class CpaceScalarMultVectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init().ok());
    v_ = LoadVectors("cpace_scalar_mult_vectors.json");
    ASSERT_TRUE(v_.is_object());
  }
  nlohmann::json v_;
};

TEST_F(CpaceScalarMultVectorTest, AValidElementGivesTheVectorResult) {
  auto s = Scalar::FromBytes(Field(v_["valid"], "s"));
  ASSERT_TRUE(s.ok());
  auto k = ScalarMultVfy(*s, Field(v_["valid"], "X"));
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(Hex(k->view()), v_["valid"]["scalar_mult_vfy(s,X)"]);
}

TEST_F(CpaceScalarMultVectorTest, AnEncodingThatDoesNotDecodeIsRejected) {
  auto s = Scalar::FromBytes(Field(v_["invalid"], "s"));
  ASSERT_TRUE(s.ok());
  auto k = ScalarMultVfy(*s, Field(v_["invalid"], "Y_i1"));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), StatusCode::kCorruption);
}

TEST_F(CpaceScalarMultVectorTest, TheIdentityIsRejected) {
  auto s = Scalar::FromBytes(Field(v_["invalid"], "s"));
  ASSERT_TRUE(s.ok());
  auto k = ScalarMultVfy(*s, Field(v_["invalid"], "Y_i2"));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), StatusCode::kCorruption);
  EXPECT_NE(k.status().message().find("identity"), std::string::npos);
}

TEST(CpaceValidationTest, NonCanonicalNegativeAndWrongLengthEncodingsAreRejected) {
  ASSERT_TRUE(crypto::Init().ok());
  Scalar y;
  y.data()[0] = 7;
  // RFC 9496 A.2-style bad encodings: non-canonical field elements (>= p),
  // a negative field element, a set high bit; and wrong lengths.
  const char* bad_hex[] = {
      "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "0000000000000000000000000000000000000000000000000000000000000080",
  };
  for (const char* hex : bad_hex) {
    std::string x = Unhex(hex);
    auto k = ScalarMultVfy(y, x);
    EXPECT_FALSE(k.ok()) << hex;
    EXPECT_EQ(k.status().code(), StatusCode::kCorruption) << hex;
  }
  for (size_t size : {0, 1, 31, 33, 64}) {
    auto k = ScalarMultVfy(y, std::string(size, '\x2a'));
    EXPECT_EQ(k.status().code(), StatusCode::kCorruption) << size;
  }
}

TEST(CpaceValidationTest, AnEncodingWithTheTopBitSetIsRejectedThoughLibsodiumDecodesIt) {
  // libsodium 1.0.18 decodes base|0x80 as the base point; RFC 9496 says the
  // encoding is invalid, and a relay must not be able to flip that bit.
  ASSERT_TRUE(crypto::Init().ok());
  std::string base(crypto_core_ristretto255_BYTES, '\0');
  uint8_t one[crypto_core_ristretto255_SCALARBYTES] = {1};
  ASSERT_EQ(crypto_scalarmult_ristretto255_base(reinterpret_cast<uint8_t*>(base.data()), one), 0);
  Scalar y;
  y.data()[0] = 7;
  ASSERT_TRUE(ScalarMultVfy(y, base).ok());
  std::string flipped = base;
  flipped[31] = static_cast<char>(flipped[31] | 0x80);
  auto k = ScalarMultVfy(y, flipped);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("canonical"), std::string::npos);
}

TEST(CpaceValidationTest, AZeroScalarCannotProduceASharedSecret) {
  ASSERT_TRUE(crypto::Init().ok());
  Scalar zero;
  std::string base(crypto_core_ristretto255_BYTES, '\0');
  uint8_t one[crypto_core_ristretto255_SCALARBYTES] = {1};
  ASSERT_EQ(crypto_scalarmult_ristretto255_base(reinterpret_cast<uint8_t*>(base.data()), one), 0);
  EXPECT_FALSE(ScalarMultVfy(zero, base).ok());
}

// String utilities, against the draft's appendix vectors.
TEST(CpaceStringTest, PrependLenUsesLeb128) {
  EXPECT_EQ(Hex(PrependLen("")), "00");
  EXPECT_EQ(Hex(PrependLen("1234")), "0431323334");
  std::string b127, b128;
  for (int i = 0; i < 127; ++i) b127.push_back(static_cast<char>(i));
  b128 = b127 + static_cast<char>(127);
  EXPECT_EQ(Hex(PrependLen(b127).substr(0, 2)), "7f00");
  EXPECT_EQ(PrependLen(b127).size(), 128u);
  EXPECT_EQ(Hex(PrependLen(b128).substr(0, 3)), "800100");
  EXPECT_EQ(PrependLen(b128).size(), 130u);
  EXPECT_EQ(Hex(PrependLen(std::string(300, 'x')).substr(0, 2)), "ac02");
}

TEST(CpaceStringTest, LvCatPrefixesEveryPart) {
  EXPECT_EQ(Hex(LvCat({"1234", "5", "", "6789"})), "04313233340135000436373839");
}

TEST(CpaceStringTest, OrderedConcatenationPutsTheLargerStringFirst) {
  EXPECT_EQ(Hex(OCat("ABCD", "BCD")),
            "6f63"
            "424344"
            "41424344");
  EXPECT_EQ(Hex(OCat("BCD", "ABCDE")),
            "6f63"
            "424344"
            "4142434445");
  // A proper prefix sorts first; bytes compare as unsigned.
  EXPECT_EQ(OCat(std::string("\0", 1), std::string("\0\0", 2)), std::string("oc\0\0\0", 5));
  EXPECT_EQ(OCat("\x01", "\xff"), "oc\xff\x01");
}

TEST(CpaceStringTest, ZeroPaddingShrinksForLongPasswordsAndVanishesWhenTheyFillTheBlock) {
  // DSI (17 bytes) + PRS fill 128 bytes less one for the padding's own length.
  for (size_t prs_size : {0, 8, 100, 108, 109, 110, 200}) {
    std::string prs(prs_size, 'p');
    crypto::SecretString s = GeneratorString(kDsi, prs, "", "", kHashBlockBytes);
    size_t head = PrependLen(kDsi).size() + PrependLen(prs).size();
    size_t zpad = static_cast<uint8_t>(s.str()[head]);
    EXPECT_EQ(zpad, head + 1 < kHashBlockBytes ? kHashBlockBytes - head - 1 : 0) << prs_size;
    if (zpad > 0) {
      EXPECT_EQ(head + 1 + zpad, kHashBlockBytes) << prs_size;
    }
  }
}

}  // namespace
}  // namespace kindred::pairing::cpace
