// RRULE reading: the supported subset, and a clear message for everything
// else, including what libical alone would silently accept.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/calendar/calendar_test_util.h"

namespace kindred::calendar {
namespace {

using ::testing::HasSubstr;
using testing::TheCalendar;

TEST(RruleParsing, AcceptsTheSupportedSubsetInCanonicalForm) {
  const std::pair<const char*, const char*> cases[] = {
      {"FREQ=DAILY", "FREQ=DAILY"},
      {"freq=weekly;byday=fr", "FREQ=WEEKLY;BYDAY=FR"},
      {"RRULE:FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"},
      {"FREQ=MONTHLY;BYDAY=1SU;INTERVAL=1", "FREQ=MONTHLY;BYDAY=1SU"},
      {"BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR;FREQ=MONTHLY",
       "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
      {"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"},
      {"FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;WKST=SU", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;WKST=SU"},
      {"FREQ=DAILY;COUNT=10;", "FREQ=DAILY;COUNT=10"},
      {"FREQ=DAILY;UNTIL=20241231T230000Z", "FREQ=DAILY;UNTIL=20241231T230000Z"},
      {"FREQ=YEARLY;BYDAY=20MO", "FREQ=YEARLY;BYDAY=20MO"},
  };
  for (const auto& [text, canonical] : cases) {
    auto rule = TheCalendar().ParseRule(text);
    ASSERT_TRUE(rule.ok()) << text << ": " << rule.status().ToString();
    EXPECT_EQ(rule->text, canonical);
  }
  auto counted = TheCalendar().ParseRule("FREQ=WEEKLY;COUNT=5");
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted->frequency, Frequency::kWeekly);
  EXPECT_EQ(counted->count, 5);
  auto until = TheCalendar().ParseRule("FREQ=DAILY;UNTIL=20240301");
  ASSERT_TRUE(until.ok());
  ASSERT_TRUE(until->until.has_value());
  EXPECT_EQ(until->until->kind, RuleUntil::Kind::kDate);
  EXPECT_EQ(until->until->time, (CivilTime{2024, 3, 1, 0, 0, 0}));
}

TEST(RruleParsing, SaysClearlyWhatIsNotSupported) {
  const std::pair<const char*, const char*> cases[] = {
      {"FREQ=HOURLY", "FREQ=HOURLY is not supported"},
      {"FREQ=MINUTELY;INTERVAL=15", "FREQ=MINUTELY is not supported"},
      {"FREQ=DAILY;BYHOUR=7,19", "BYHOUR is not supported"},
      {"FREQ=DAILY;BYMINUTE=30", "BYMINUTE is not supported"},
      {"FREQ=YEARLY;BYWEEKNO=1", "BYWEEKNO is not supported"},
      {"FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY is not supported"},
      {"RSCALE=HEBREW;FREQ=YEARLY", "RSCALE is not supported"},
  };
  for (const auto& [text, why] : cases) {
    auto rule = TheCalendar().ParseRule(text);
    EXPECT_EQ(rule.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(rule.status().message(), HasSubstr(why)) << text;
  }
}

TEST(RruleParsing, RejectsWhatLibicalAloneWouldSilentlyAcceptOrChange) {
  // Each of these parses in libical 3.0 (checked by hand): it clamps, drops or
  // reinterprets the part. Kindred names the part instead.
  const std::pair<const char*, const char*> cases[] = {
      {"FREQ=DAILY;COUNT=5x", "COUNT=5X is not a whole number"},
      {"FREQ=DAILY;;COUNT=2", "empty part"},
      {"FREQ=MONTHLY;BYDAY=0FR", "BYDAY=0FR: '0FR' has a bad position"},
      {"FREQ=YEARLY;BYMONTH=13", "'13' is not a month"},
      {"FREQ=WEEKLY;BYDAY=1MO", "only FREQ=MONTHLY or YEARLY allow"},
      {"FREQ=MONTHLY;BYDAY=6FR", "a month has at most 5"},
      {"FREQ=YEARLY;BYMONTH=3;BYDAY=-6SU", "a month has at most 5"},
      {"FREQ=YEARLY;BYDAY=54MO", "a year has at most 53"},
      {"FREQ=DAILY;UNTIL=20240101T000000", ""},  // accepted: a floating UNTIL
  };
  for (const auto& [text, why] : cases) {
    auto rule = TheCalendar().ParseRule(text);
    if (*why == '\0') {
      EXPECT_TRUE(rule.ok()) << text << ": " << rule.status().ToString();
      continue;
    }
    EXPECT_EQ(rule.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(rule.status().message(), HasSubstr(why)) << text;
  }
}

TEST(RruleParsing, RejectsMalformedRulesNamingThePart) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "RRULE is empty"},
      {"BYDAY=MO", "has no FREQ"},
      {"FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY is not one of"},
      {"FREQ=DAILY;FREQ=WEEKLY", "FREQ appears more than once"},
      {"FREQ=DAILY;FOO=1", "part 'FOO' is unknown"},
      {"FREQ=DAILY;COUNT", "part 'COUNT' is not NAME=VALUE"},
      {"FREQ=DAILY;COUNT=", "COUNT has no value"},
      {"FREQ=DAILY;COUNT=0", "COUNT=0 is not a whole number 1..10000"},
      {"FREQ=DAILY;COUNT=10001", "COUNT=10001"},
      {"FREQ=DAILY;INTERVAL=0", "INTERVAL=0"},
      {"FREQ=DAILY;COUNT=3;UNTIL=20240101T000000Z", "both COUNT and UNTIL"},
      {"FREQ=DAILY;UNTIL=2024", "UNTIL=2024 is not a date"},
      {"FREQ=DAILY;UNTIL=20240230", "UNTIL=20240230 is not a real date"},
      {"FREQ=WEEKLY;BYDAY=MO,,TU", "has an empty value"},
      {"FREQ=WEEKLY;BYDAY=XX", "'XX' does not end in a weekday"},
      {"FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY"},
      {"FREQ=MONTHLY;BYMONTHDAY=32", "'32' is not a day of the month"},
      {"FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH"},
      {"FREQ=YEARLY;BYMONTH=4,6;BYMONTHDAY=31", "BYMONTHDAY=31 never falls in BYMONTH=4,6"},
      {"FREQ=DAILY;WKST=XX", "WKST=XX is not a weekday"},
      {"FREQ=DAILY; COUNT=2", "space or unexpected character at position 12"},
  };
  for (const auto& [text, why] : cases) {
    auto rule = TheCalendar().ParseRule(text);
    EXPECT_EQ(rule.status().code(), StatusCode::kInvalidArgument) << "'" << text << "'";
    EXPECT_THAT(rule.status().message(), HasSubstr(why)) << "'" << text << "'";
    EXPECT_THAT(rule.status().message(), ::testing::StartsWith("RRULE")) << text;
  }
}

}  // namespace
}  // namespace kindred::calendar
