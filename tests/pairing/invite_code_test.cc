// Invite codes, the word list and safety words.
#include "engine/pairing/invite_code.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "engine/pairing/safety_words.h"
#include "engine/pairing/wordlist.h"
#include "tests/pairing/test_util.h"

namespace kindred::pairing {
namespace {

using testing::ScriptedRandom;
using testing::SeededRandom;

// --- The word list -----------------------------------------------------------

TEST(WordListTest, HasExactly1024SortedDistinctWords) {
  auto words = WordList();
  ASSERT_EQ(words.size(), kWordListSize);
  EXPECT_EQ(words.size(), 1024u);
  std::set<std::string_view> distinct(words.begin(), words.end());
  EXPECT_EQ(distinct.size(), words.size());
  EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
}

TEST(WordListTest, EveryWordIsFourToSevenLowercaseLetters) {
  for (std::string_view w : WordList()) {
    EXPECT_GE(w.size(), 4u) << w;
    EXPECT_LE(w.size(), 7u) << w;
    for (char c : w) EXPECT_TRUE(c >= 'a' && c <= 'z') << w;
  }
}

TEST(WordListTest, NoTwoWordsShareTheirFirstThreeLetters) {
  std::set<std::string_view> prefixes;
  for (std::string_view w : WordList()) {
    EXPECT_TRUE(prefixes.insert(w.substr(0, 3)).second) << w;
  }
}

TEST(WordListTest, EveryWordIsFoundByItselfAndByItsPrefixes) {
  for (size_t i = 0; i < kWordListSize; ++i) {
    std::string_view w = WordAt(i);
    EXPECT_EQ(FindWord(w), i) << w;
    for (size_t n = 3; n < w.size(); ++n) EXPECT_EQ(FindWord(w.substr(0, n)), i) << w;
  }
}

TEST(WordListTest, ShortOrUnknownInputsAreNotWords) {
  EXPECT_FALSE(FindWord(""));
  EXPECT_FALSE(FindWord("a"));
  EXPECT_FALSE(FindWord(WordAt(0).substr(0, 2)));
  EXPECT_FALSE(FindWord(std::string(WordAt(0)) + "x"));
  EXPECT_FALSE(FindWord("zzzz"));
  EXPECT_FALSE(FindWord("zzz"));
  EXPECT_FALSE(FindWord("ORBIT"));  // callers lowercase first
}

TEST(WordListTest, TyposGetTheIntendedWordSuggested) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(SuggestWords("mapel"), V{"maple"});       // swapped letters
  EXPECT_EQ(SuggestWords("lanturn"), V{"lantern"});   // wrong vowel
  EXPECT_EQ(SuggestWords("olbit"), V{"orbit"});       // wrong second letter
  EXPECT_EQ(SuggestWords("lanterns"), V{"lantern"});  // plural
  EXPECT_EQ(SuggestWords("xqzvwk"), V{});             // nothing close
}

TEST(WordListTest, EquallyCloseWordsAreAllSuggestedSamePrefixFirst) {
  // "lama" is one edit from both "lamp" and "llama"; the word sharing the
  // first three letters comes first.
  auto s = SuggestWords("lama");
  ASSERT_GE(s.size(), 2u);
  EXPECT_EQ(s[0], "lamp");
  EXPECT_NE(std::find(s.begin(), s.end(), "llama"), s.end());
  EXPECT_LE(SuggestWords("cat").size(), kMaxSuggestions);
}

TEST(WordListTest, NothingMoreThanTwoEditsAwayIsSuggested) {
  // Three substitutions from "zipper", further from everything else, and no
  // list word starts with "zqp".
  EXPECT_TRUE(SuggestWords("zqpqeq").empty());
  EXPECT_TRUE(SuggestWords("qqqqq").empty());
}

TEST(WordListTest, AFarOffWordWithAKnownPrefixStillGetsThatWord) {
  EXPECT_EQ(SuggestWords("lanternfish"), std::vector<std::string_view>{"lantern"});
}

// --- Invite codes --------------------------------------------------------------

TEST(InviteCodeTest, EntropyIsTheNumberRangeTimesTheWordsCubed) {
  EXPECT_EQ(InviteCode::CodeCount(), uint64_t{90} * 1024 * 1024 * 1024);
  EXPECT_NEAR(InviteCode::EntropyBits(), std::log2(90.0) + 30.0, 1e-9);
  EXPECT_GE(InviteCode::EntropyBits(), 32.0);
  EXPECT_NEAR(InviteCode::EntropyBits(), 36.49, 0.01);
}

TEST(InviteCodeTest, TheDocumentedExampleParses) {
  auto code = InviteCode::Parse("47-orbit-maple-lantern");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->number(), 47);
  EXPECT_EQ(code->ToString(), "47-orbit-maple-lantern");
  EXPECT_EQ(code->Password().str(), "47-orbit-maple-lantern");
}

TEST(InviteCodeTest, GeneratedCodesRoundTripThroughTheirText) {
  SeededRandom random(1);
  for (int i = 0; i < 2000; ++i) {
    InviteCode code = InviteCode::Generate(random);
    auto parsed = InviteCode::Parse(code.ToString());
    ASSERT_TRUE(parsed.ok()) << code.ToString() << ": " << parsed.status().ToString();
    EXPECT_EQ(*parsed, code);
    EXPECT_GE(code.number(), 10);
    EXPECT_LE(code.number(), 99);
  }
}

TEST(InviteCodeTest, GenerationIsDeterministicForAnInjectedRandom) {
  SeededRandom a(42), b(42), c(43);
  InviteCode ca = InviteCode::Generate(a);
  EXPECT_EQ(ca, InviteCode::Generate(b));
  EXPECT_NE(ca, InviteCode::Generate(c));
}

TEST(InviteCodeTest, GenerationCoversEveryNumberAndWordRoughlyEvenly) {
  // 200k codes: every number and every word appears, and no value is far
  // from its expected frequency (a loose check for bias, not a proof).
  SeededRandom random(7);
  constexpr int kCodes = 200000;
  std::vector<int> numbers(100, 0), words(kWordListSize, 0);
  std::set<std::string> distinct;
  for (int i = 0; i < kCodes; ++i) {
    InviteCode code = InviteCode::Generate(random);
    ++numbers[code.number()];
    for (uint16_t w : code.word_indices()) ++words[w];
    if (i < 20000) distinct.insert(code.ToString());
  }
  EXPECT_EQ(distinct.size(), 20000u);  // a collision here would be a ~0.2% fluke
  for (int n = 0; n < 100; ++n) {
    if (n < 10) {
      EXPECT_EQ(numbers[n], 0) << n;
    } else {
      EXPECT_NEAR(numbers[n], kCodes / 90.0, kCodes / 90.0 * 0.15) << n;
    }
  }
  const double expected = kCodes * 3.0 / kWordListSize;  // ~586
  for (size_t w = 0; w < kWordListSize; ++w) {
    EXPECT_NEAR(words[w], expected, expected * 0.3) << WordAt(w);
  }
}

TEST(InviteCodeTest, UniformBelowRejectsInsteadOfReducingWithBias) {
  // 2^32 - 1 is the one 32-bit value at or above the largest multiple of 3
  // (2^32 - 1 itself), so it must be rejected and the next draw used.
  ScriptedRandom random(std::string("\xff\xff\xff\xff\x00\x00\x00\x05", 8));
  EXPECT_EQ(UniformBelow(random, 3), 5u % 3);
  EXPECT_EQ(random.consumed(), 8u);
}

TEST(InviteCodeTest, ParsingForgivesCaseSeparatorsAndSpacing) {
  const char* spellings[] = {
      "47-orbit-maple-lantern",    "47 orbit maple lantern",       "  47  orbit--maple -lantern ",
      "47-ORBIT-Maple-LanTern",    "47_orbit_maple_lantern",       "47.orbit.maple.lantern",
      "47, orbit, maple, lantern", "\t47\norbit maple\tlantern\n", "047-orbit-maple-lantern",
      "-47-orbit-maple-lantern-",
  };
  for (const char* s : spellings) {
    auto code = InviteCode::Parse(s);
    ASSERT_TRUE(code.ok()) << "'" << s << "': " << code.status().ToString();
    EXPECT_EQ(code->ToString(), "47-orbit-maple-lantern") << s;
  }
}

TEST(InviteCodeTest, WordsMayBeShortenedToTheirFirstThreeLetters) {
  auto code = InviteCode::Parse("47 orb map lant");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->ToString(), "47-orbit-maple-lantern");
}

TEST(InviteCodeTest, ATypoInAWordNamesTheWordAndSuggestsTheFix) {
  auto code = InviteCode::Parse("47-orbit-mapel-lantern");
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(code.status().message().find("'mapel'"), std::string::npos) << code.status().message();
  EXPECT_NE(code.status().message().find("did you mean 'maple'?"), std::string::npos)
      << code.status().message();
}

TEST(InviteCodeTest, EveryBadWordIsNamed) {
  auto code = InviteCode::Parse("47 olbit maple lanturn");
  ASSERT_FALSE(code.ok());
  const std::string m = code.status().message();
  EXPECT_NE(m.find("'olbit'"), std::string::npos) << m;
  EXPECT_NE(m.find("'orbit'"), std::string::npos) << m;
  EXPECT_NE(m.find("'lanturn'"), std::string::npos) << m;
  EXPECT_NE(m.find("'lantern'"), std::string::npos) << m;
  EXPECT_EQ(m.find("'maple'"), std::string::npos) << m;
}

TEST(InviteCodeTest, AWordWithNoCloseMatchIsNamedWithoutASuggestion) {
  auto code = InviteCode::Parse("47 orbit maple xqzvwk");
  ASSERT_FALSE(code.ok());
  EXPECT_NE(code.status().message().find("'xqzvwk' is not a word"), std::string::npos);
  EXPECT_EQ(code.status().message().find("did you mean"), std::string::npos);
}

TEST(InviteCodeTest, MalformedCodesGetClearErrors) {
  struct Case {
    const char* text;
    const char* mentions;
  };
  const Case cases[] = {
      {"", "empty"},
      {" - -  ", "empty"},
      {"orbit-maple-lantern-47", "starts with its number"},
      {"orbit-maple-lantern", "starts with its number"},
      {"7-orbit-maple-lantern", "between 10 and 99"},
      {"100-orbit-maple-lantern", "between 10 and 99"},
      {"99999999999999999999-orbit-maple-lantern", "between 10 and 99"},
      {"47", "has 0 words"},
      {"47-orbit-maple", "has 2 words"},
      {"47-orbit-maple-lantern-orbit", "has 4 words"},
      {"47-orbit-ma-lantern", "'ma' is not a word"},
      {"47-orbit-m4ple-lantern", "'m4ple' is not a word"},
  };
  for (const Case& c : cases) {
    auto code = InviteCode::Parse(c.text);
    ASSERT_FALSE(code.ok()) << c.text;
    EXPECT_EQ(code.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(code.status().message().find(c.mentions), std::string::npos)
        << c.text << " -> " << code.status().message();
  }
}

TEST(InviteCodeTest, NonAsciiInputIsAnErrorNotACrash) {
  auto code = InviteCode::Parse("47-orb\xc3\xaft-maple-lantern");  // "orbït"
  ASSERT_FALSE(code.ok());
  EXPECT_NE(code.status().message().find("'orb\\xc3\\xaft'"), std::string::npos)
      << code.status().message();
  static constexpr char kBinary[] = "47-\x00\xff\x80-maple-lantern";
  std::string binary(kBinary, sizeof(kBinary) - 1);
  auto bin = InviteCode::Parse(binary);
  ASSERT_FALSE(bin.ok());
  // Raw bytes are escaped, never copied into the message.
  EXPECT_NE(bin.status().message().find("'\\x00\\xff\\x80'"), std::string::npos)
      << bin.status().message();
}

// --- Safety words --------------------------------------------------------------

TEST(SafetyWordsTest, AreFiveWordsFromTheList) {
  std::string words = SafetyWords(std::string(64, 'h'));
  size_t count = 0;
  size_t start = 0;
  while (start <= words.size()) {
    size_t end = words.find(' ', start);
    if (end == std::string::npos) end = words.size();
    EXPECT_TRUE(FindWord(words.substr(start, end - start))) << words;
    ++count;
    start = end + 1;
  }
  EXPECT_EQ(count, kSafetyWordCount);
}

TEST(SafetyWordsTest, AreAFunctionOfTheTranscriptHashAlone) {
  std::string th(64, 'a');
  EXPECT_EQ(SafetyWords(th), SafetyWords(th));
  std::string other = th;
  other[63] ^= 1;
  EXPECT_NE(SafetyWords(th), SafetyWords(other));
}

}  // namespace
}  // namespace kindred::pairing
