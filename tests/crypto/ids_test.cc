#include "kindred/ids.h"

#include <gtest/gtest.h>

#include "engine/crypto/crypto.h"

namespace kindred {
namespace {

TEST(DeviceIdTest, RoundTripsThroughItsGroupedForm) {
  std::string sign_pk(32, 'a'), dh_pk(32, 'b');
  DeviceId id = DeviceId::FromPublicKeys(sign_pk, dh_pk);
  std::string text = id.ToString();
  EXPECT_EQ(text.size(), 31u);  // 4 groups of 7 and 3 dashes
  auto parsed = DeviceId::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, id);
}

TEST(DeviceIdTest, ForgivesCaseAndSpacing) {
  DeviceId id = DeviceId::FromPublicKeys(std::string(32, '1'), std::string(32, '2'));
  std::string text = id.ToString();
  std::string lower;
  for (char c : text) lower += (c == '-') ? ' ' : static_cast<char>(std::tolower(c));
  auto parsed = DeviceId::Parse(lower);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, id);
}

TEST(DeviceIdTest, CatchesASingleMistypedCharacter) {
  DeviceId id = DeviceId::FromPublicKeys(std::string(32, 'x'), std::string(32, 'y'));
  std::string text = id.ToString();
  int caught = 0, tried = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-') continue;
    std::string typo = text;
    typo[i] = (typo[i] == 'A') ? 'B' : 'A';
    ++tried;
    if (!DeviceId::Parse(typo).ok()) ++caught;
  }
  EXPECT_EQ(caught, tried);
}

TEST(DeviceIdTest, DiffersWhenEitherKeyDiffers) {
  auto a = DeviceId::FromPublicKeys(std::string(32, 'a'), std::string(32, 'b'));
  auto b = DeviceId::FromPublicKeys(std::string(32, 'a'), std::string(32, 'c'));
  auto c = DeviceId::FromPublicKeys(std::string(32, 'd'), std::string(32, 'b'));
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

TEST(DeviceIdTest, RejectsWrongLengthWithAClearMessage) {
  auto r = DeviceId::Parse("ABCDEF");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("four groups"), std::string::npos);
}

TEST(HexTest, RoundTripsAndRejectsGarbage) {
  std::string raw("\x00\xff\x10\xab", 4);
  EXPECT_EQ(ToHex(raw), "00ff10ab");
  EXPECT_EQ(*FromHex("00FF10ab"), raw);
  EXPECT_FALSE(FromHex("abc").ok());
  EXPECT_FALSE(FromHex("zz").ok());
}

}  // namespace
}  // namespace kindred
