// Expansion checked against independently known calendars. Every expected
// date and instant below was computed on this machine with python3
// (calendar.monthcalendar, zoneinfo on the system tzdata) and spot-checked
// with e.g. `TZ=Europe/Berlin date -d 2024-03-31T07:00 +%s`; none comes from
// the code under test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <thread>

#include "tests/calendar/calendar_test_util.h"

namespace kindred::calendar {
namespace {

using testing::Dates;
using ::testing::ElementsAre;
using testing::ExpandUtc;
using ::testing::HasSubstr;
using testing::Local;
using testing::MakeRitual;
using testing::Segment;
using testing::Starts;
using testing::TheCalendar;
using testing::Utc;

std::vector<UnixSeconds> Keys(const std::vector<Occurrence>& occurrences) {
  std::vector<UnixSeconds> out;
  for (const Occurrence& o : occurrences) out.push_back(o.key);
  return out;
}

TEST(Expansion, ADailySevenOClockRitualKeepsItsWallTimeAcrossBerlinDstChanges) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  auto spring = ExpandUtc(r, "2024-03-29T00:00", "2024-04-02T00:00");
  EXPECT_THAT(Starts(spring),
              ElementsAre("2024-03-29T07:00:00+01:00", "2024-03-30T07:00:00+01:00",
                          "2024-03-31T07:00:00+02:00", "2024-04-01T07:00:00+02:00"));
  EXPECT_THAT(Keys(spring), ElementsAre(1711692000, 1711778400, 1711861200, 1711947600));
  auto autumn = ExpandUtc(r, "2024-10-26T00:00", "2024-10-30T00:00");
  EXPECT_THAT(Starts(autumn),
              ElementsAre("2024-10-26T07:00:00+02:00", "2024-10-27T07:00:00+01:00",
                          "2024-10-28T07:00:00+01:00", "2024-10-29T07:00:00+01:00"));
  EXPECT_THAT(Keys(autumn), ElementsAre(1729918800, 1730008800, 1730095200, 1730181600));
  EXPECT_EQ(FormatIso8601(autumn[0].end), "2024-10-26T07:30:00+02:00");
}

TEST(Expansion, ADailySevenOClockRitualKeepsItsWallTimeAcrossNewYorkDstChanges) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "America/New_York");
  auto spring = ExpandUtc(r, "2024-03-09T00:00", "2024-03-13T00:00");
  EXPECT_THAT(Starts(spring),
              ElementsAre("2024-03-09T07:00:00-05:00", "2024-03-10T07:00:00-04:00",
                          "2024-03-11T07:00:00-04:00", "2024-03-12T07:00:00-04:00"));
  EXPECT_THAT(Keys(spring), ElementsAre(1709985600, 1710068400, 1710154800, 1710241200));
  auto autumn = ExpandUtc(r, "2024-11-02T00:00", "2024-11-06T00:00");
  EXPECT_THAT(Starts(autumn),
              ElementsAre("2024-11-02T07:00:00-04:00", "2024-11-03T07:00:00-05:00",
                          "2024-11-04T07:00:00-05:00", "2024-11-05T07:00:00-05:00"));
  EXPECT_THAT(Keys(autumn), ElementsAre(1730545200, 1730635200, 1730721600, 1730808000));
}

TEST(Expansion, AnOccurrenceInTheSkippedHourMovesAnHourLaterOnlyThatDay) {
  // libical's own zone-aware iterator drifts to 03:30 for the days after
  // the change; Kindred iterates on wall-clock times and resolves each.
  auto r = MakeRitual("late", "FREQ=DAILY", "2024-03-01T02:30", "Europe/Berlin");
  auto got = ExpandUtc(r, "2024-03-29T12:00", "2024-04-01T12:00");
  EXPECT_THAT(Starts(got), ElementsAre("2024-03-30T02:30:00+01:00", "2024-03-31T03:30:00+02:00",
                                       "2024-04-01T02:30:00+02:00"));
  EXPECT_THAT(Keys(got), ElementsAre(1711762200, 1711848600, 1711931400));
  EXPECT_EQ(got[1].nominal_local, Local("2024-03-31T02:30"));
}

TEST(Expansion, AnOccurrenceInTheRepeatedHourHappensOnceAtTheFirstInstant) {
  auto r = MakeRitual("late", "FREQ=DAILY", "2024-10-01T02:30", "Europe/Berlin");
  auto got = ExpandUtc(r, "2024-10-26T12:00", "2024-10-28T12:00");
  EXPECT_THAT(Starts(got), ElementsAre("2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"));
  EXPECT_EQ(got[0].key, 1729989000);
}

TEST(Expansion, AYearlyRitualOnFebruary29HappensOnlyInLeapYears) {
  auto r = MakeRitual("leap", "FREQ=YEARLY", "2024-02-29T20:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2041-01-01T00:00")),
              ElementsAre("2024-02-29", "2028-02-29", "2032-02-29", "2036-02-29", "2040-02-29"));
  // 2100 is not a leap year: from 2096 the next is 2104.
  EXPECT_THAT(Dates(ExpandUtc(r, "2095-01-01T00:00", "2106-01-01T00:00")),
              ElementsAre("2096-02-29", "2104-02-29"));
}

TEST(Expansion, AMonthlyRitualOnThe31stSkipsShorterMonths) {
  auto r = MakeRitual("m31", "FREQ=MONTHLY", "2024-01-31T19:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2025-01-01T00:00")),
              ElementsAre("2024-01-31", "2024-03-31", "2024-05-31", "2024-07-31", "2024-08-31",
                          "2024-10-31", "2024-12-31"));
}

TEST(Expansion, AMonthlyRitualOnThe29thSkipsFebruaryOfCommonYears) {
  auto r = MakeRitual("m29", "FREQ=MONTHLY;BYMONTHDAY=29", "2024-01-29T19:00", "Europe/Berlin");
  auto dates = Dates(ExpandUtc(r, "2024-01-01T00:00", "2025-06-01T00:00"));
  EXPECT_THAT(dates, ::testing::Contains("2024-02-29"));
  EXPECT_THAT(std::vector<std::string>(dates.end() - 5, dates.end()),
              ElementsAre("2024-12-29", "2025-01-29", "2025-03-29", "2025-04-29", "2025-05-29"));
  EXPECT_EQ(dates.size(), 16u);  // all 12 in 2024; Jan, Mar, Apr, May 2025 (no Feb 2025)
}

TEST(Expansion, TheFifthFridayComesOnlyInMonthsThatHaveOne) {
  auto r = MakeRitual("5fr", "FREQ=MONTHLY;BYDAY=5FR", "2024-01-01T19:00", "America/New_York");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2025-06-01T00:00")),
              ElementsAre("2024-03-29", "2024-05-31", "2024-08-30", "2024-11-29", "2025-01-31",
                          "2025-05-30"));
}

TEST(Expansion, TheLastFridayIsInEveryMonth) {
  auto r = MakeRitual("last-fr", "FREQ=MONTHLY;BYDAY=-1FR", "2024-01-01T19:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2025-01-01T00:00")),
              ElementsAre("2024-01-26", "2024-02-23", "2024-03-29", "2024-04-26", "2024-05-31",
                          "2024-06-28", "2024-07-26", "2024-08-30", "2024-09-27", "2024-10-25",
                          "2024-11-29", "2024-12-27"));
}

TEST(Expansion, BySetPosPicksTheLastWeekdayOfTheMonth) {
  auto r = MakeRitual("payday", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "2024-01-01T18:00",
                      "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2025-01-01T00:00")),
              ElementsAre("2024-01-31", "2024-02-29", "2024-03-29", "2024-04-30", "2024-05-31",
                          "2024-06-28", "2024-07-31", "2024-08-30", "2024-09-30", "2024-10-31",
                          "2024-11-29", "2024-12-31"));
}

TEST(Expansion, TheFirstSundayOfEachMonth) {
  auto r = MakeRitual("1su", "FREQ=MONTHLY;BYDAY=1SU", "2024-01-01T10:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2024-07-01T00:00")),
              ElementsAre("2024-01-07", "2024-02-04", "2024-03-03", "2024-04-07", "2024-05-05",
                          "2024-06-02"));
}

TEST(Expansion, AStartThatTheRuleDoesNotProduceIsNotAnOccurrence) {
  // 2024-01-10 is a Wednesday; first Fridays are Jan 5, Feb 2, Mar 1.
  auto r = MakeRitual("1fr", "FREQ=MONTHLY;BYDAY=1FR", "2024-01-10T19:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2024-03-15T00:00")),
              ElementsAre("2024-02-02", "2024-03-01"));
}

TEST(Expansion, CountStopsAfterThatManyAndUntilIsInclusive) {
  auto counted = MakeRitual("c", "FREQ=DAILY;COUNT=3", "2024-01-01T07:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(counted, "2023-12-01T00:00", "2024-02-01T00:00")),
              ElementsAre("2024-01-01", "2024-01-02", "2024-01-03"));
  // The third occurrence is 2024-01-03T07:00+01:00 = 06:00Z.
  auto until =
      MakeRitual("u", "FREQ=DAILY;UNTIL=20240103T060000Z", "2024-01-01T07:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(until, "2023-12-01T00:00", "2024-02-01T00:00")),
              ElementsAre("2024-01-01", "2024-01-02", "2024-01-03"));
  auto until_before =
      MakeRitual("u2", "FREQ=DAILY;UNTIL=20240103T055959Z", "2024-01-01T07:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(until_before, "2023-12-01T00:00", "2024-02-01T00:00")),
              ElementsAre("2024-01-01", "2024-01-02"));
  // A date UNTIL includes that whole day in the ritual's zone.
  auto until_date =
      MakeRitual("u3", "FREQ=DAILY;UNTIL=20240103", "2024-01-01T23:30", "America/New_York");
  EXPECT_THAT(Dates(ExpandUtc(until_date, "2023-12-01T00:00", "2024-02-01T00:00")),
              ElementsAre("2024-01-01", "2024-01-02", "2024-01-03"));
  // COUNT counts from the start even when the window starts later.
  auto weekly = MakeRitual("w", "FREQ=WEEKLY;COUNT=4", "2024-01-05T19:00", "Europe/Berlin");
  EXPECT_THAT(Dates(ExpandUtc(weekly, "2024-01-20T00:00", "2024-12-01T00:00")),
              ElementsAre("2024-01-26"));
}

TEST(Expansion, EveryOtherWeekFollowsTheStartWeek) {
  auto r = MakeRitual("date", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR", "2024-01-05T19:00",
                      "Europe/Berlin", 180);
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2024-03-01T00:00")),
              ElementsAre("2024-01-05", "2024-01-19", "2024-02-02", "2024-02-16"));
}

TEST(Expansion, AWindowFarFromTheStartGivesWhatExpandingFromTheStartGives) {
  // libical's iterator can jump ahead (icalrecur_iterator_set_start); this
  // checks the jump against a walk from the start for many rules and windows.
  const char* rules[] = {
      "FREQ=DAILY",
      "FREQ=DAILY;INTERVAL=3",
      "FREQ=DAILY;BYDAY=MO,WE",
      "FREQ=WEEKLY;INTERVAL=2",
      "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU,MO;WKST=SU",
      "FREQ=MONTHLY;BYDAY=1SU",
      "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
      "FREQ=MONTHLY;BYMONTHDAY=31",
      "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
      "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
      "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYDAY=-1SU",
      "FREQ=DAILY;UNTIL=20300101T000000Z",
  };
  const uint32_t seed = 20240601;
  std::mt19937 rng(seed);
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    const char* rule = rules[rng() % std::size(rules)];
    const std::string start = "20" + std::to_string(15 + rng() % 5) + "-0" +
                              std::to_string(1 + rng() % 9) + "-1" + std::to_string(rng() % 9) +
                              "T0" + std::to_string(rng() % 10) + ":30";
    auto r = MakeRitual("p", rule, start, round % 2 ? "Europe/Berlin" : "America/New_York");
    ASSERT_TRUE(TheCalendar().ValidateRitual(r).ok()) << rule << " " << start;
    const UnixSeconds from = Utc("2015-01-01T00:00") +
                             static_cast<UnixSeconds>(rng() % 4000) * 86400 +
                             static_cast<UnixSeconds>(rng() % 86400);
    const UnixSeconds to = from + static_cast<UnixSeconds>(1 + rng() % 400) * 86400;
    auto all = TheCalendar().Expand(r, {}, TimeWindow{Utc("2014-01-01T00:00"), to}, {});
    auto part = TheCalendar().Expand(r, {}, TimeWindow{from, to}, {});
    ASSERT_TRUE(all.ok() && part.ok());
    std::vector<Occurrence> want;
    for (const Occurrence& o : *all) {
      if (o.start.utc >= from) want.push_back(o);
    }
    EXPECT_EQ(Keys(*part), Keys(want)) << rule << " from " << start;
  }
}

TEST(Overrides, ASkippedOccurrenceIsLeftOutUnlessAskedFor) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  const UnixSeconds second = Utc("2024-01-02T06:00");
  OccurrenceOverrides overrides{{second, {OccurrenceOverride::Kind::kSkipped, 0, "ill"}}};
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-01T00:00", "2024-01-04T00:00", overrides)),
              ElementsAre("2024-01-01", "2024-01-03"));
  ExpandOptions with_skipped;
  with_skipped.include_skipped = true;
  auto all = ExpandUtc(r, "2024-01-01T00:00", "2024-01-04T00:00", overrides, with_skipped);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].status, OccurrenceStatus::kSkipped);
  EXPECT_EQ(all[1].key, second);
}

TEST(Overrides, AMovedOccurrenceKeepsItsKeyAndAppearsWhereItWasMovedTo) {
  auto r = MakeRitual("date", "FREQ=WEEKLY;BYDAY=FR", "2024-01-05T19:00", "Europe/Berlin", 120);
  const UnixSeconds friday = Utc("2024-01-12T18:00");    // 19:00+01:00
  const UnixSeconds saturday = Utc("2024-01-13T19:30");  // 20:30+01:00
  OccurrenceOverrides overrides{{friday, {OccurrenceOverride::Kind::kMoved, saturday, ""}}};
  auto got = ExpandUtc(r, "2024-01-08T00:00", "2024-01-20T00:00", overrides);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, friday);
  EXPECT_EQ(got[0].status, OccurrenceStatus::kMoved);
  EXPECT_EQ(FormatIso8601(got[0].start), "2024-01-13T20:30:00+01:00");
  EXPECT_EQ(FormatIso8601(got[0].end), "2024-01-13T22:30:00+01:00");
  EXPECT_EQ(got[0].nominal_local, Local("2024-01-12T19:00"));
  // Seen from a window that holds only the new time, or only the old one.
  auto only_new = ExpandUtc(r, "2024-01-13T00:00", "2024-01-14T00:00", overrides);
  ASSERT_EQ(only_new.size(), 1u);
  EXPECT_EQ(only_new[0].key, friday);
  EXPECT_TRUE(ExpandUtc(r, "2024-01-12T00:00", "2024-01-13T00:00", overrides).empty());
  // Moved before a later occurrence: the list stays in start order.
  OccurrenceOverrides later{
      {friday, {OccurrenceOverride::Kind::kMoved, Utc("2024-01-20T10:00"), ""}}};
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-08T00:00", "2024-01-26T00:00", later)),
              ElementsAre("2024-01-19", "2024-01-20"));
}

TEST(Overrides, AnOverrideForATimeThatIsNoOccurrenceIsIgnored) {
  auto r = MakeRitual("date", "FREQ=WEEKLY;BYDAY=FR", "2024-01-05T19:00", "Europe/Berlin");
  OccurrenceOverrides overrides{
      {Utc("2024-01-11T18:00"), {OccurrenceOverride::Kind::kMoved, Utc("2024-01-10T18:00"), ""}}};
  EXPECT_THAT(Dates(ExpandUtc(r, "2024-01-08T00:00", "2024-01-14T00:00", overrides)),
              ElementsAre("2024-01-12"));
}

TEST(RuleChanges, ApplyFromTheChosenOccurrenceAndLeaveThePastAlone) {
  auto r = MakeRitual("walk", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  const UnixSeconds jan10 = Utc("2024-01-10T06:00");
  auto changed = TheCalendar().ChangeRule(
      r, jan10, Segment("FREQ=WEEKLY;BYDAY=SA", "2024-01-10T09:00", "Europe/Berlin", 60));
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  ASSERT_EQ(changed->segments.size(), 2u);
  EXPECT_EQ(changed->segments[1].effective_from, jan10);
  auto got = ExpandUtc(*changed, "2024-01-07T00:00", "2024-01-21T00:00");
  EXPECT_THAT(Starts(got), ElementsAre("2024-01-07T07:00:00+01:00", "2024-01-08T07:00:00+01:00",
                                       "2024-01-09T07:00:00+01:00", "2024-01-13T09:00:00+01:00",
                                       "2024-01-20T09:00:00+01:00"));
  EXPECT_EQ(got[0].segment_index, 0u);
  EXPECT_EQ(got[3].segment_index, 1u);
  EXPECT_EQ(FormatIso8601(got[3].end), "2024-01-13T10:00:00+01:00");
  // The keys of past occurrences are unchanged, so their states stay attached.
  auto before = ExpandUtc(r, "2024-01-01T00:00", "2024-01-10T00:00");
  auto after = ExpandUtc(*changed, "2024-01-01T00:00", "2024-01-10T00:00");
  EXPECT_EQ(Keys(before), Keys(after));
}

TEST(RuleChanges, AnEarlierTimeOfDayTakesEffectOnTheChosenDay) {
  auto r = MakeRitual("walk", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  auto changed = TheCalendar().ChangeRule(
      r, Utc("2024-01-10T06:00"), Segment("FREQ=DAILY", "2024-01-10T06:00", "Europe/Berlin"));
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_THAT(Starts(ExpandUtc(*changed, "2024-01-09T00:00", "2024-01-12T00:00")),
              ElementsAre("2024-01-09T07:00:00+01:00", "2024-01-10T06:00:00+01:00",
                          "2024-01-11T06:00:00+01:00"));
}

TEST(RuleChanges, AChangeThatWouldRewriteThePastIsRefused) {
  auto r = MakeRitual("walk", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  auto changed = TheCalendar().ChangeRule(
      r, Utc("2024-01-10T06:00"), Segment("FREQ=DAILY", "2024-01-05T07:00", "Europe/Berlin"));
  EXPECT_EQ(changed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(changed.status().message(), HasSubstr("rewrite the past"));
}

TEST(RuleChanges, ALaterChangeReplacesOneThatStartsAfterIt) {
  auto r = MakeRitual("walk", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  auto first = TheCalendar().ChangeRule(r, Utc("2024-02-01T06:00"),
                                        Segment("FREQ=DAILY", "2024-02-01T08:00", "Europe/Berlin"));
  ASSERT_TRUE(first.ok());
  auto second = TheCalendar().ChangeRule(
      *first, Utc("2024-01-15T06:00"), Segment("FREQ=WEEKLY", "2024-01-15T07:00", "Europe/Berlin"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_EQ(second->segments.size(), 2u);
  EXPECT_EQ(second->segments[1].rrule, "FREQ=WEEKLY");
  // Changing from the very first occurrence replaces the first rule.
  auto from_start = TheCalendar().ChangeRule(
      r, Utc("2024-01-01T06:00"), Segment("FREQ=WEEKLY", "2024-01-01T07:00", "Europe/Berlin"));
  ASSERT_TRUE(from_start.ok()) << from_start.status().ToString();
  ASSERT_EQ(from_start->segments.size(), 1u);
  EXPECT_EQ(from_start->segments[0].rrule, "FREQ=WEEKLY");
}

TEST(Nearest, FindsTheClosestOccurrenceAndPrefersTheEarlierOnATie) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  auto at_noon = TheCalendar().Nearest(r, {}, Utc("2024-01-10T11:00"));  // 12:00 local
  ASSERT_TRUE(at_noon.ok());
  EXPECT_EQ(FormatIso8601(at_noon->start), "2024-01-10T07:00:00+01:00");
  auto evening = TheCalendar().Nearest(r, {}, Utc("2024-01-10T20:00"));
  ASSERT_TRUE(evening.ok());
  EXPECT_EQ(FormatIso8601(evening->start), "2024-01-11T07:00:00+01:00");
  auto tie = TheCalendar().Nearest(r, {}, Utc("2024-01-10T18:00"));  // 19:00 local, 12 h each way
  ASSERT_TRUE(tie.ok());
  EXPECT_EQ(FormatIso8601(tie->start), "2024-01-10T07:00:00+01:00");
}

TEST(Nearest, SkipsSkippedOccurrencesAndFindsMovedOnesAtTheirNewTime) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  OccurrenceOverrides overrides{
      {Utc("2024-01-10T06:00"), {OccurrenceOverride::Kind::kSkipped, 0, ""}},
      {Utc("2024-01-11T06:00"), {OccurrenceOverride::Kind::kMoved, Utc("2024-01-10T11:30"), ""}}};
  auto got = TheCalendar().Nearest(r, overrides, Utc("2024-01-10T08:00"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->key, Utc("2024-01-11T06:00"));
  EXPECT_EQ(got->status, OccurrenceStatus::kMoved);
}

TEST(Nearest, ReachesAcrossYearsForSparseRitualsAndSaysWhenThereIsNone) {
  auto leap = MakeRitual("leap", "FREQ=YEARLY", "2024-02-29T20:00", "Europe/Berlin");
  auto got = TheCalendar().Nearest(leap, {}, Utc("2026-06-01T00:00"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(FormatCivilTime(got->start.local), "2028-02-29T20:00:00");
  auto finished = MakeRitual("f", "FREQ=DAILY;COUNT=2", "2024-01-01T07:00", "Europe/Berlin");
  auto far = TheCalendar().Nearest(finished, {}, Utc("2030-01-01T00:00"));
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(FormatCivilTime(far->start.local), "2024-01-02T07:00:00");
  EXPECT_EQ(TheCalendar().Nearest(finished, {}, Utc("2200-01-01T00:00")).status().code(),
            StatusCode::kNotFound);
}

TEST(FindOccurrence, ByItsLocalStartItsOffsetFormOrWhereItWasMoved) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  const UnixSeconds key = Utc("2024-03-31T05:00");
  auto local = TheCalendar().FindOccurrence(r, {}, DateTimeArg{Local("2024-03-31T07:00"), {}});
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->key, key);
  auto offset = TheCalendar().FindOccurrence(r, {}, *ParseDateTimeArg("2024-03-31T07:00+02:00"));
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(offset->key, key);
  OccurrenceOverrides moved{{key, {OccurrenceOverride::Kind::kMoved, Utc("2024-03-31T16:00"), ""}}};
  auto by_key = TheCalendar().FindOccurrence(r, moved, DateTimeArg{Local("2024-03-31T07:00"), {}});
  ASSERT_TRUE(by_key.ok());
  EXPECT_EQ(by_key->key, key);
  auto by_new = TheCalendar().FindOccurrence(r, moved, DateTimeArg{Local("2024-03-31T18:00"), {}});
  ASSERT_TRUE(by_new.ok());
  EXPECT_EQ(by_new->key, key);
  EXPECT_EQ(TheCalendar()
                .FindOccurrence(r, {}, DateTimeArg{Local("2024-03-31T08:00"), {}})
                .status()
                .code(),
            StatusCode::kNotFound);
}

TEST(ExpandAll, MergesRitualsInTimeOrder) {
  std::vector<Ritual> rituals = {
      MakeRitual("b-weekly", "FREQ=WEEKLY;BYDAY=MO", "2024-01-01T07:00", "Europe/Berlin"),
      MakeRitual("a-daily", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin"),
      MakeRitual("c-ny", "FREQ=DAILY", "2024-01-01T01:00", "America/New_York"),
  };
  auto got = TheCalendar().ExpandAll(rituals, {},
                                     TimeWindow{Utc("2024-01-01T00:00"), Utc("2024-01-02T12:00")});
  ASSERT_TRUE(got.ok());
  std::vector<std::string> seen;
  for (const Occurrence& o : *got) seen.push_back(o.ritual_id + " " + FormatIso8601(o.start));
  EXPECT_THAT(seen,
              ElementsAre("a-daily 2024-01-01T07:00:00+01:00", "b-weekly 2024-01-01T07:00:00+01:00",
                          "c-ny 2024-01-01T01:00:00-05:00", "a-daily 2024-01-02T07:00:00+01:00",
                          "c-ny 2024-01-02T01:00:00-05:00"));
}

TEST(ExpandAll, RefusesAWindowWithTooManyOccurrences) {
  auto r = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin");
  ExpandOptions small;
  small.max_occurrences = 10;
  auto got = TheCalendar().Expand(
      r, {}, TimeWindow{Utc("2024-01-01T00:00"), Utc("2025-01-01T00:00")}, small);
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("more than 10 occurrences"));
  // The widest window there is works and ends where the rule does.
  auto counted = MakeRitual("c", "FREQ=DAILY;COUNT=3", "2024-01-01T07:00", "Europe/Berlin");
  auto all = TheCalendar().Expand(
      counted, {},
      TimeWindow{std::numeric_limits<UnixSeconds>::min(), std::numeric_limits<UnixSeconds>::max()});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 3u);
}

TEST(Threading, CallsFromSeveralThreadsThroughOneCalendarAgree) {
  // libical's zone cache and error state are process-wide; the Calendar's
  // mutex serializes every call into it. Zones not yet loaded make the race
  // real: each thread loads a different one first.
  const char* zones[] = {"Pacific/Auckland", "America/Chicago", "Africa/Cairo", "Asia/Tokyo"};
  std::vector<Ritual> rituals;
  for (const char* zone : zones) {
    rituals.push_back(MakeRitual(zone, "FREQ=DAILY", "2024-01-01T07:00", zone));
  }
  const TimeWindow window{Utc("2024-01-01T00:00"), Utc("2025-01-01T00:00")};
  std::vector<std::vector<Occurrence>> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      std::vector<Ritual> mine = {rituals[i % 4], rituals[(i + 1) % 4]};
      auto got = TheCalendar().ExpandAll(mine, {}, window, {});
      if (got.ok()) results[i] = *got;
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].size(), 2u * 366u) << i;
    EXPECT_EQ(Keys(results[i]), Keys(results[i % 4])) << i;
  }
}

}  // namespace
}  // namespace kindred::calendar
