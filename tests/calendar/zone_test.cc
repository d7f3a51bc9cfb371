// Time zones and wall-clock times. Expected instants were computed on this
// machine's tzdata with python3's zoneinfo (fold=0 is RFC 5545's choice) and
// checked with `TZ=Europe/Berlin date -d @1711848600` and the like.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "tests/calendar/calendar_test_util.h"

namespace kindred::calendar {
namespace {

using ::testing::HasSubstr;
using testing::Local;
using testing::MakeRitual;
using testing::TheCalendar;

TEST(Zones, KnowsIanaNamesUtcAndAliases) {
  for (const char* zone : {"Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC", "Etc/UTC",
                           "Australia/Lord_Howe", "America/Argentina/Buenos_Aires", "US/Eastern"}) {
    EXPECT_TRUE(TheCalendar().CheckZone(zone).ok()) << zone;
  }
}

TEST(Zones, AnUnknownZoneIsAnErrorNamingIt) {
  for (const char* zone : {"Mars/Olympus_Mons", "europe/berlin", "Berlin", "", "../etc/passwd",
                           "/usr/share/zoneinfo/Europe/Berlin", "Europe/Berlin "}) {
    Status s = TheCalendar().CheckZone(zone);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << zone;
    EXPECT_THAT(s.message(), HasSubstr("unknown time zone '" + std::string(zone) + "'"));
  }
}

TEST(LocalTimes, AnOrdinaryTimeHasOneInstant) {
  auto r = TheCalendar().ResolveLocal(Local("2024-03-31T07:00"), "Europe/Berlin");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, LocalTimeKind::kUnique);
  EXPECT_EQ(r->time.utc, 1711861200);
  EXPECT_EQ(FormatIso8601(r->time), "2024-03-31T07:00:00+02:00");
}

TEST(LocalTimes, ATimeInTheSkippedHourIsReadWithTheOffsetBeforeTheGap) {
  // Berlin, 2024-03-31: 02:00 CET becomes 03:00 CEST. 02:30+01:00 = 01:30Z.
  auto berlin = TheCalendar().ResolveLocal(Local("2024-03-31T02:30"), "Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  EXPECT_EQ(berlin->kind, LocalTimeKind::kSkipped);
  EXPECT_EQ(berlin->time.utc, 1711848600);
  EXPECT_EQ(FormatIso8601(berlin->time), "2024-03-31T03:30:00+02:00");
  // New York, 2024-03-10: 02:00 EST becomes 03:00 EDT.
  auto ny = TheCalendar().ResolveLocal(Local("2024-03-10T02:30"), "America/New_York");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ(ny->kind, LocalTimeKind::kSkipped);
  EXPECT_EQ(ny->time.utc, 1710055800);
  EXPECT_EQ(FormatIso8601(ny->time), "2024-03-10T03:30:00-04:00");
}

TEST(LocalTimes, ATimeInTheRepeatedHourIsTheFirstOfItsTwoInstants) {
  // Berlin, 2024-10-27: 02:30 happens at +02:00 (00:30Z) and at +01:00 (01:30Z).
  auto berlin = TheCalendar().ResolveLocal(Local("2024-10-27T02:30"), "Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  EXPECT_EQ(berlin->kind, LocalTimeKind::kAmbiguous);
  EXPECT_EQ(berlin->time.utc, 1729989000);
  EXPECT_EQ(FormatIso8601(berlin->time), "2024-10-27T02:30:00+02:00");
  // New York, 2024-11-03: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z).
  auto ny = TheCalendar().ResolveLocal(Local("2024-11-03T01:30"), "America/New_York");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ(ny->kind, LocalTimeKind::kAmbiguous);
  EXPECT_EQ(ny->time.utc, 1730611800);
  EXPECT_EQ(FormatIso8601(ny->time), "2024-11-03T01:30:00-04:00");
}

TEST(LocalTimes, AnInstantIsShownWithTheOffsetInForceThen) {
  auto winter = TheCalendar().ToZone(1711846800 - 1, "Europe/Berlin");
  auto summer = TheCalendar().ToZone(1711846800, "Europe/Berlin");
  ASSERT_TRUE(winter.ok() && summer.ok());
  EXPECT_EQ(FormatIso8601(*winter), "2024-03-31T01:59:59+01:00");
  EXPECT_EQ(FormatIso8601(*summer), "2024-03-31T03:00:00+02:00");
  auto kolkata = TheCalendar().ToZone(1704067200, "Asia/Kolkata");
  ASSERT_TRUE(kolkata.ok());
  EXPECT_EQ(FormatIso8601(*kolkata), "2024-01-01T05:30:00+05:30");
}

TEST(LocalDays, AWindowStartsAtLocalMidnightAndADstDayHas23Hours) {
  auto w = TheCalendar().LocalDays(Local("2024-03-31T15:00"), 1, "Europe/Berlin");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->from, 1711839600);  // 2024-03-31T00:00+01:00
  EXPECT_EQ(w->to, 1711922400);    // 2024-04-01T00:00+02:00
  EXPECT_EQ(w->to - w->from, 23 * 3600);
}

TEST(LocalDays, WhereMidnightDoesNotExistTheDayStartsWhenItDoes) {
  // Santiago, 2024-09-08: 00:00-04:00 becomes 01:00-03:00 (04:00Z).
  auto w = TheCalendar().LocalDays(Local("2024-09-08T00:00"), 1, "America/Santiago");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->from, 1725768000);
  EXPECT_EQ(w->to, 1725850800);
  EXPECT_FALSE(TheCalendar().LocalDays(Local("2024-09-08T00:00"), 0, "UTC").ok());
}

TEST(RitualValidation, AStartInTheSkippedHourIsRejectedWithTheTimeItWouldBe) {
  auto r = MakeRitual("r1", "FREQ=DAILY", "2024-03-31T02:30", "Europe/Berlin");
  Status s = TheCalendar().ValidateRitual(r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("start 2024-03-31T02:30 does not exist in Europe/Berlin"));
  EXPECT_THAT(s.message(), HasSubstr("2024-03-31T03:30"));
}

TEST(RitualValidation, AStartInTheRepeatedHourIsAccepted) {
  auto r = MakeRitual("r1", "FREQ=DAILY", "2024-10-27T02:30", "Europe/Berlin");
  EXPECT_TRUE(TheCalendar().ValidateRitual(r).ok());
}

TEST(RitualValidation, NamesTheFieldThatIsWrong) {
  auto base = MakeRitual("r1", "FREQ=WEEKLY;BYDAY=FR", "2024-01-05T19:00", "Europe/Berlin");
  ASSERT_TRUE(TheCalendar().ValidateRitual(base).ok());
  struct Case {
    std::function<void(Ritual&)> change;
    const char* why;
  };
  const Case cases[] = {
      {[](Ritual& r) { r.segments[0].zone = "Mars/Base"; }, "unknown time zone 'Mars/Base'"},
      {[](Ritual& r) { r.segments[0].rrule = "FREQ=HOURLY"; }, "FREQ=HOURLY is not supported"},
      {[](Ritual& r) { r.segments[0].duration = std::chrono::seconds(0); }, "duration"},
      {[](Ritual& r) { r.segments[0].duration = std::chrono::hours(24 * 8); }, "duration"},
      {[](Ritual& r) {
         r.segments[0].start.month = 2;
         r.segments[0].start.day = 30;
       },
       "not a valid date"},
      {[](Ritual& r) { r.title.clear(); }, "title is empty"},
      {[](Ritual& r) { r.title = "two\nlines"; }, "title"},
      {[](Ritual& r) { r.id.clear(); }, "ritual id"},
      {[](Ritual& r) { r.segments.clear(); }, "no rule"},
      {[](Ritual& r) { r.segments[0].rrule = "FREQ=DAILY;UNTIL=20230101T000000Z"; },
       "produces no occurrence"},
      {[](Ritual& r) { r.segments[0].rrule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"; },
       "never falls in BYMONTH=2"},
  };
  for (const Case& c : cases) {
    Ritual r = base;
    c.change(r);
    Status s = TheCalendar().ValidateRitual(r);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.why;
    EXPECT_THAT(s.message(), HasSubstr(c.why));
  }
}

}  // namespace
}  // namespace kindred::calendar
