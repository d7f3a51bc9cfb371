#include "engine/calendar/civil_time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kindred::calendar {
namespace {

using ::testing::HasSubstr;

TEST(LocalDateTime, ParsesWithOrWithoutSecondsAndWithASpaceForTheT) {
  auto a = ParseLocalDateTime("2024-03-31T07:00");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, (CivilTime{2024, 3, 31, 7, 0, 0}));
  auto b = ParseLocalDateTime("2024-03-31 07:00:15");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (CivilTime{2024, 3, 31, 7, 0, 15}));
}

TEST(LocalDateTime, RejectsImpossibleDatesNamingTheField) {
  EXPECT_THAT(ParseLocalDateTime("2023-02-29T07:00").status().message(),
              HasSubstr("day 29 does not exist in 2023-02"));
  EXPECT_THAT(ParseLocalDateTime("2024-13-01T07:00").status().message(), HasSubstr("month 13"));
  EXPECT_THAT(ParseLocalDateTime("2024-01-01T24:00").status().message(), HasSubstr("hour 24"));
  EXPECT_THAT(ParseLocalDateTime("2024-01-01T07:60").status().message(), HasSubstr("minute 60"));
  EXPECT_THAT(ParseLocalDateTime("1066-10-14T09:00").status().message(), HasSubstr("year 1066"));
  for (const char* bad :
       {"", "2024-1-01T07:00", "2024-01-01", "2024-01-01T7:00", "2024-01-01T07:00x", "tomorrow"}) {
    auto r = ParseLocalDateTime(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("expected a local date-time")) << bad;
  }
}

TEST(LocalDate, ParsesADateToItsMidnight) {
  auto d = ParseLocalDate("2024-02-29");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (CivilTime{2024, 2, 29, 0, 0, 0}));
  EXPECT_FALSE(ParseLocalDate("2023-02-29").ok());
  EXPECT_FALSE(ParseLocalDate("2024-02-29T00:00").ok());
}

TEST(Iso8601, ShowsTheOffsetOfTheZone) {
  EXPECT_EQ(FormatIso8601({0, {2024, 3, 31, 7, 0, 0}, 7200}), "2024-03-31T07:00:00+02:00");
  EXPECT_EQ(FormatIso8601({0, {2024, 11, 3, 1, 30, 0}, -18000}), "2024-11-03T01:30:00-05:00");
  EXPECT_EQ(FormatIso8601({0, {2024, 1, 1, 9, 0, 0}, 19800}), "2024-01-01T09:00:00+05:30");
  EXPECT_EQ(FormatIso8601({0, {2024, 1, 1, 9, 0, 0}, 0}), "2024-01-01T09:00:00+00:00");
  EXPECT_EQ(FormatIso8601({0, {1900, 1, 1, 0, 0, 0}, 3208}), "1900-01-01T00:00:00+00:53:28");
}

TEST(DateTimeArg, ReadsLocalTimesAndTimesWithAnOffset) {
  auto local = ParseDateTimeArg("2024-03-31T07:00");
  ASSERT_TRUE(local.ok());
  EXPECT_FALSE(local->utc_offset_seconds.has_value());
  auto plus = ParseDateTimeArg("2024-03-31T07:00:00+02:00");
  ASSERT_TRUE(plus.ok());
  EXPECT_EQ(plus->utc_offset_seconds, 7200);
  auto minus = ParseDateTimeArg("2024-11-03T01:30-04:00");
  ASSERT_TRUE(minus.ok());
  EXPECT_EQ(minus->utc_offset_seconds, -14400);
  auto zulu = ParseDateTimeArg("2024-03-31T05:00Z");
  ASSERT_TRUE(zulu.ok());
  EXPECT_EQ(zulu->utc_offset_seconds, 0);
  EXPECT_THAT(ParseDateTimeArg("2024-03-31T07:00+2").status().message(),
              HasSubstr("bad UTC offset"));
}

TEST(CivilArithmetic, AddsDaysAcrossMonthsAndLeapDays) {
  EXPECT_EQ(AddDays({2024, 2, 28, 7, 0, 0}, 1), (CivilTime{2024, 2, 29, 7, 0, 0}));
  EXPECT_EQ(AddDays({2023, 2, 28, 7, 0, 0}, 1), (CivilTime{2023, 3, 1, 7, 0, 0}));
  EXPECT_EQ(AddDays({2024, 1, 1, 0, 0, 0}, -1), (CivilTime{2023, 12, 31, 0, 0, 0}));
  const CivilTime t{2024, 3, 31, 2, 30, 0};
  EXPECT_EQ(CivilFromSecondsAsIfUtc(CivilAsIfUtc(t)), t);
  EXPECT_EQ(CivilAsIfUtc({1970, 1, 1, 0, 0, 0}), 0);
  EXPECT_EQ(CivilAsIfUtc({2024, 3, 31, 1, 0, 0}), 1711846800);
}

}  // namespace
}  // namespace kindred::calendar
