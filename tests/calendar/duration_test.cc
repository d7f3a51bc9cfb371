#include "engine/calendar/duration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kindred::calendar {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(Duration, ReadsDurationsAsPeopleWriteThem) {
  const std::pair<const char*, int64_t> cases[] = {
      {"5m", 300},     {"90m", 5400}, {"2h", 7200},    {"1h30m", 5400},
      {"1H30M", 5400}, {"1d", 86400}, {"1d2h", 93600}, {"7d", 7 * 86400},
  };
  for (const auto& [text, want] : cases) {
    auto got = ParseDuration(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status().ToString();
    EXPECT_EQ(got->count(), want) << text;
  }
}

TEST(Duration, RejectsGarbageZeroAndTooLongSayingWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "is empty"},
      {"0m", "longer than zero"},
      {"0h0m", "longer than zero"},
      {"m", "expected a number"},
      {"5", "has no unit"},
      {"5x", "unknown unit 'x'"},
      {"-5m", "expected a number"},
      {"1m30h", "in the order d, h, m"},
      {"5m5m", "in the order d, h, m"},
      {"1.5h", "unknown unit '.'"},
      {"1h 30m", "expected a number"},
      {"8d", "longer than 7 days"},
      {"99999999999h", "far too long"},
  };
  for (const auto& [text, why] : cases) {
    auto got = ParseDuration(text);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(got.status().message(), HasSubstr(why)) << text;
    EXPECT_THAT(got.status().message(), HasSubstr("1h30m")) << "the message shows an example";
  }
}

TEST(Duration, FormatsTheWayItIsRead) {
  EXPECT_EQ(FormatDuration(seconds(300)), "5m");
  EXPECT_EQ(FormatDuration(seconds(5400)), "1h30m");
  EXPECT_EQ(FormatDuration(seconds(7200)), "2h");
  EXPECT_EQ(FormatDuration(seconds(93600)), "1d2h");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  for (int64_t s : {60, 300, 5400, 86400, 93660}) {
    auto back = ParseDuration(FormatDuration(seconds(s)));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->count(), s);
  }
}

}  // namespace
}  // namespace kindred::calendar
