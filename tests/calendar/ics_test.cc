// iCalendar export and import: the RFC 5545 shape of what Kindred writes, a
// round trip that keeps every occurrence, what other calendars' files turn
// into, and clear errors (with line numbers) for bad files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "tests/calendar/calendar_test_util.h"

namespace kindred::calendar {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Local;
using testing::MakeRitual;
using ::testing::Not;
using testing::Segment;
using testing::TheCalendar;
using testing::Utc;

// Rituals of every kind the exporter has to handle, with skips and moves.
struct Fixture {
  std::vector<Ritual> rituals;
  OverridesByRitual overrides;
};

Fixture MixedCalendar() {
  Fixture f;
  Ritual checkin = MakeRitual("checkin", "FREQ=DAILY", "2024-01-01T07:00", "Europe/Berlin", 15);
  checkin.title = "Morning check-in";
  checkin.description = "How are you, really?\nOne word; then coffee.";
  auto changed = TheCalendar().ChangeRule(
      checkin, Utc("2024-06-01T05:00"),
      Segment("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "2024-06-03T06:30", "Europe/Berlin", 20));
  EXPECT_TRUE(changed.ok()) << changed.status().ToString();
  f.rituals.push_back(*changed);

  Ritual date = MakeRitual("date-night", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR", "2024-01-05T19:30",
                           "America/New_York", 180);
  date.title = "Date night";
  f.rituals.push_back(date);

  Ritual brunch = MakeRitual("brunch", "FREQ=MONTHLY;BYDAY=1SU;COUNT=10", "2024-01-07T10:00",
                             "Europe/Berlin", 120);
  brunch.visibility = Visibility::kPrivate;
  f.rituals.push_back(brunch);

  f.rituals.push_back(MakeRitual("leap", "FREQ=YEARLY", "2024-02-29T20:00", "UTC", 60));
  f.rituals.push_back(MakeRitual("last-weekday",
                                 "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;UNTIL=20250101",
                                 "2024-01-31T18:00", "Asia/Kolkata", 45));
  // A ritual at 02:30 in Berlin meets the skipped hour every spring.
  f.rituals.push_back(MakeRitual("night", "FREQ=DAILY", "2024-03-25T02:30", "Europe/Berlin", 5));

  f.overrides["checkin"][Utc("2024-01-02T06:00")] = {OccurrenceOverride::Kind::kSkipped, 0, "ill"};
  f.overrides["checkin"][Utc("2024-01-03T06:00")] = {OccurrenceOverride::Kind::kMoved,
                                                     Utc("2024-01-03T17:00"), ""};
  f.overrides["checkin"][Utc("2024-06-04T04:30")] = {OccurrenceOverride::Kind::kSkipped, 0, ""};
  f.overrides["date-night"][Utc("2024-01-20T00:30")] = {OccurrenceOverride::Kind::kMoved,
                                                        Utc("2024-01-21T00:30"), ""};
  f.overrides["brunch"][Utc("2024-03-03T09:00")] = {OccurrenceOverride::Kind::kSkipped, 0, ""};
  // Moved into the repeated hour's second pass: must come back as that instant.
  f.overrides["night"][Utc("2024-10-26T00:30")] = {OccurrenceOverride::Kind::kMoved,
                                                   Utc("2024-10-27T01:30"), ""};
  return f;
}

std::string ExportOrDie(const Fixture& f) {
  auto out =
      TheCalendar().ExportIcs(f.rituals, f.overrides, ExportOptions{Utc("2024-06-01T12:00")});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : "";
}

std::vector<std::string> Describe(const std::vector<Occurrence>& occurrences) {
  std::vector<std::string> out;
  for (const Occurrence& o : occurrences) {
    out.push_back(o.ritual_id + " " + std::to_string(o.key) + " " + FormatIso8601(o.start) + " " +
                  FormatIso8601(o.end) + " " + std::to_string(static_cast<int>(o.status)));
  }
  return out;
}

TEST(IcsExport, WritesAnRfc5545CalendarOtherApplicationsRead) {
  const std::string ics = ExportOrDie(MixedCalendar());
  EXPECT_THAT(ics, ::testing::StartsWith("BEGIN:VCALENDAR\r\n"));
  EXPECT_THAT(ics, ::testing::EndsWith("END:VCALENDAR\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nPRODID:-//Kindred//Kindred 0.1//EN\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nVERSION:2.0\r\n"));
  // One VTIMEZONE per zone used, named by its IANA name; none for UTC.
  EXPECT_THAT(ics, HasSubstr("\r\nTZID:Europe/Berlin\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nTZID:America/New_York\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nTZID:Asia/Kolkata\r\n"));
  EXPECT_THAT(ics, Not(HasSubstr("freeassociation")));
  EXPECT_THAT(ics, Not(HasSubstr("TZID:UTC")));
  // The master events.
  EXPECT_THAT(ics, HasSubstr("\r\nUID:date-night\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nDTSTART;TZID=America/New_York:20240105T193000\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=FR\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nDURATION:PT3H\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nDTSTAMP:20240601T120000Z\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nDTSTART:20240229T200000Z\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1SU\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nCLASS:PRIVATE\r\n"));
  // Text is escaped.
  EXPECT_THAT(ics, HasSubstr("DESCRIPTION:How are you\\, really?\\nOne word\\; then coffee."));
  // Skips are EXDATEs, moves are VEVENTs with RECURRENCE-ID and the same UID.
  EXPECT_THAT(ics, HasSubstr("\r\nEXDATE;TZID=Europe/Berlin:20240102T070000\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240103T070000\r\n"
                             "DTSTART;TZID=Europe/Berlin:20240103T180000\r\n"));
  // A rule change is a second series that starts where the first one ends.
  EXPECT_THAT(ics, HasSubstr("\r\nUID:checkin\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nRRULE:FREQ=DAILY;UNTIL=20240531T050000Z\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nUID:checkin-from-20240601T050000Z\r\n"));
  EXPECT_THAT(ics, HasSubstr("\r\nDTSTART;TZID=Europe/Berlin:20240603T063000\r\n"));
  // A date UNTIL is written as the UTC instant of the last occurrence.
  EXPECT_THAT(ics, HasSubstr("RRULE:FREQ=MONTHLY;UNTIL=20241231T123000Z;"));
  // The moved "night" occurrence lands in the repeated hour's second pass,
  // so its new start is written in UTC.
  EXPECT_THAT(ics, HasSubstr("\r\nRECURRENCE-ID;TZID=Europe/Berlin:20241026T023000\r\n"
                             "DTSTART:20241027T013000Z\r\n"));
  // Lines are folded at 75 octets.
  size_t begin = 0;
  while (begin < ics.size()) {
    const size_t end = ics.find("\r\n", begin);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - begin, 75u) << ics.substr(begin, end - begin);
    begin = end + 2;
  }
}

TEST(IcsExport, ExportThenImportGivesTheSameOccurrences) {
  const Fixture f = MixedCalendar();
  const std::string ics = ExportOrDie(f);
  auto imported = TheCalendar().ImportIcs(ics, {});
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_TRUE(imported->problems.empty()) << imported->problems[0].message;
  ASSERT_EQ(imported->rituals.size(), f.rituals.size());
  for (size_t i = 0; i < f.rituals.size(); ++i) {
    EXPECT_EQ(imported->rituals[i].id, f.rituals[i].id);
    EXPECT_EQ(imported->rituals[i].title, f.rituals[i].title);
    EXPECT_EQ(imported->rituals[i].description, f.rituals[i].description);
    EXPECT_EQ(imported->rituals[i].visibility, f.rituals[i].visibility);
    EXPECT_EQ(imported->rituals[i].segments.size(), f.rituals[i].segments.size());
  }
  ExpandOptions all;
  all.include_skipped = true;
  const TimeWindow window{Utc("2023-12-01T00:00"), Utc("2026-01-01T00:00")};
  auto before = TheCalendar().ExpandAll(f.rituals, f.overrides, window, all);
  auto after = TheCalendar().ExpandAll(imported->rituals, imported->overrides, window, all);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_GT(before->size(), 900u);
  EXPECT_EQ(Describe(*after), Describe(*before));
  // And once more: the second export is the first.
  EXPECT_EQ(ExportOrDie(Fixture{imported->rituals, imported->overrides}), ics);
}

TEST(IcsExport, RandomCalendarsSurviveTheRoundTrip) {
  const char* rules[] = {
      "FREQ=DAILY",
      "FREQ=DAILY;INTERVAL=2;COUNT=40",
      "FREQ=WEEKLY;BYDAY=MO,TH",
      "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;UNTIL=20250301T000000Z",
      "FREQ=MONTHLY;BYDAY=-1FR",
      "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=6",
      "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
      "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
      "FREQ=DAILY;UNTIL=20250110",
  };
  const char* zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                         "UTC",           "Asia/Kathmandu",   "America/Santiago"};
  const uint32_t seed = 7;
  std::mt19937 rng(seed);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    Fixture f;
    for (int i = 0; i < 6; ++i) {
      const std::string start = "2024-0" + std::to_string(1 + rng() % 9) + "-1" +
                                std::to_string(rng() % 9) + "T" + std::to_string(10 + rng() % 13) +
                                ":" + std::to_string(10 + rng() % 5 * 10);
      Ritual r = MakeRitual("r" + std::to_string(i), rules[rng() % std::size(rules)], start,
                            zones[rng() % std::size(zones)], 5 + static_cast<int>(rng() % 300));
      ASSERT_TRUE(TheCalendar().ValidateRitual(r).ok()) << r.segments[0].rrule << " " << start;
      auto occurrences = TheCalendar().Expand(
          r, {}, TimeWindow{Utc("2024-01-01T00:00"), Utc("2026-01-01T00:00")}, {});
      ASSERT_TRUE(occurrences.ok());
      if (rng() % 2 && occurrences->size() > 4) {  // a rule change at a random occurrence
        const Occurrence& at = (*occurrences)[2 + rng() % (occurrences->size() - 3)];
        auto changed = TheCalendar().ChangeRule(
            r, at.key,
            Segment(rules[rng() % std::size(rules)], FormatCivilTime(at.start.local).substr(0, 16),
                    zones[rng() % std::size(zones)], 30));
        if (changed.ok()) r = *changed;  // some rules end before the change; fine
      }
      for (const Occurrence& o : *occurrences) {
        switch (rng() % 8) {
          case 0:
            f.overrides[r.id][o.key] = {OccurrenceOverride::Kind::kSkipped, 0, ""};
            break;
          case 1:
            f.overrides[r.id][o.key] = {OccurrenceOverride::Kind::kMoved,
                                        o.key + (static_cast<int>(rng() % 97) - 48) * 1800, ""};
            break;
          default:
            break;
        }
      }
      f.rituals.push_back(r);
    }
    const std::string ics = ExportOrDie(f);
    auto imported = TheCalendar().ImportIcs(ics, {});
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    ASSERT_TRUE(imported->problems.empty()) << imported->problems[0].message << "\n" << ics;
    ExpandOptions all;
    all.include_skipped = true;
    const TimeWindow window{Utc("2023-06-01T00:00"), Utc("2026-06-01T00:00")};
    auto before = TheCalendar().ExpandAll(f.rituals, f.overrides, window, all);
    auto after = TheCalendar().ExpandAll(imported->rituals, imported->overrides, window, all);
    ASSERT_TRUE(before.ok() && after.ok());
    const auto a = Describe(*after), b = Describe(*before);
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      const std::string x = i < a.size() ? a[i] : "-", y = i < b.size() ? b[i] : "-";
      if (x != y) {
        ADD_FAILURE() << "first difference at " << i << ": imported " << x << " vs original " << y;
        break;
      }
    }
  }
}

TEST(IcsImport, ReadsRecurringEventsFromAnotherCalendar) {
  // Shaped like an export of a common calendar application: its own TZID
  // naming, DTEND instead of DURATION, EXDATE lists, an override moving one
  // occurrence, one cancelling another, and a plain one-off event.
  const std::string ics =
      "BEGIN:VCALENDAR\r\n"
      "PRODID:-//Example Corp.//Calendar 1.0//EN\r\n"
      "VERSION:2.0\r\n"
      "BEGIN:VTIMEZONE\r\n"
      "TZID:/example.org/20240101_1/Europe/Berlin\r\n"
      "X-LIC-LOCATION:Europe/Berlin\r\n"
      "BEGIN:STANDARD\r\n"
      "DTSTART:19701025T030000\r\n"
      "TZOFFSETFROM:+0200\r\n"
      "TZOFFSETTO:+0100\r\n"
      "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
      "END:STANDARD\r\n"
      "END:VTIMEZONE\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:abc123@example.org\r\n"
      "SUMMARY:Sunday walk\r\n"
      "DTSTART;TZID=/example.org/20240101_1/Europe/Berlin:20240107T100000\r\n"
      "DTEND;TZID=/example.org/20240101_1/Europe/Berlin:20240107T113000\r\n"
      "RRULE:FREQ=WEEKLY;BYDAY=SU\r\n"
      "EXDATE;TZID=/example.org/20240101_1/Europe/Berlin:20240114T100000,20240121T100000\r\n"
      "CLASS:CONFIDENTIAL\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:abc123@example.org\r\n"
      "RECURRENCE-ID;TZID=/example.org/20240101_1/Europe/Berlin:20240128T100000\r\n"
      "DTSTART;TZID=/example.org/20240101_1/Europe/Berlin:20240128T150000\r\n"
      "DTEND;TZID=/example.org/20240101_1/Europe/Berlin:20240128T163000\r\n"
      "SUMMARY:Sunday walk (later)\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:abc123@example.org\r\n"
      "RECURRENCE-ID:20240204T090000Z\r\n"
      "DTSTART:20240204T090000Z\r\n"
      "STATUS:CANCELLED\r\n"
      "END:VEVENT\r\n"
      "BEGIN:VEVENT\r\n"
      "UID:once@example.org\r\n"
      "SUMMARY:Dentist\r\n"
      "DTSTART:20240110T090000Z\r\n"
      "DTEND:20240110T100000Z\r\n"
      "END:VEVENT\r\n"
      "END:VCALENDAR\r\n";
  auto got = TheCalendar().ImportIcs(ics, {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->rituals.size(), 1u);
  const Ritual& walk = got->rituals[0];
  EXPECT_EQ(walk.id, "abc123@example.org");
  EXPECT_EQ(walk.title, "Sunday walk");
  EXPECT_EQ(walk.visibility, Visibility::kPrivate);
  ASSERT_EQ(walk.segments.size(), 1u);
  EXPECT_EQ(walk.segments[0].zone, "Europe/Berlin");
  EXPECT_EQ(walk.segments[0].start, Local("2024-01-07T10:00"));
  EXPECT_EQ(walk.segments[0].duration, std::chrono::minutes(90));
  EXPECT_EQ(walk.segments[0].rrule, "FREQ=WEEKLY;BYDAY=SU");
  // The one-off event is reported, not turned into a ritual.
  ASSERT_EQ(got->problems.size(), 1u);
  EXPECT_EQ(got->problems[0].line, 36);
  EXPECT_EQ(got->problems[0].summary, "Dentist");
  EXPECT_THAT(got->problems[0].message, HasSubstr("not a recurring event"));

  auto occurrences =
      TheCalendar().Expand(walk, got->overrides[walk.id],
                           TimeWindow{Utc("2024-01-01T00:00"), Utc("2024-02-12T00:00")}, {});
  ASSERT_TRUE(occurrences.ok());
  EXPECT_THAT(testing::Starts(*occurrences),
              ElementsAre("2024-01-07T10:00:00+01:00", "2024-01-28T15:00:00+01:00",
                          "2024-02-11T10:00:00+01:00"));
}

TEST(IcsImport, SkipsWholeDatesAndReportsChangesToOccurrencesThatDoNotExist) {
  const std::string ics =
      "BEGIN:VCALENDAR\r\n"                                      // 1
      "BEGIN:VEVENT\r\n"                                         // 2
      "UID:tea\r\n"                                              // 3
      "SUMMARY:Tea\r\n"                                          // 4
      "DTSTART;TZID=America/New_York:20240101T160000\r\n"        // 5
      "DURATION:PT30M\r\n"                                       // 6
      "RRULE:FREQ=DAILY;COUNT=5\r\n"                             // 7
      "EXDATE;VALUE=DATE:20240102\r\n"                           // 8
      "EXDATE;TZID=America/New_York:20240104T170000\r\n"         // 9: no such time
      "END:VEVENT\r\n"                                           // 10
      "BEGIN:VEVENT\r\n"                                         // 11
      "UID:tea\r\n"                                              // 12
      "RECURRENCE-ID;TZID=America/New_York:20240103T170000\r\n"  // 13: no such time
      "DTSTART;TZID=America/New_York:20240103T180000\r\n"        // 14
      "END:VEVENT\r\n"                                           // 15
      "END:VCALENDAR\r\n";
  auto got = TheCalendar().ImportIcs(ics, {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->rituals.size(), 1u);
  ASSERT_EQ(got->problems.size(), 1u);
  EXPECT_EQ(got->problems[0].line, 13);
  EXPECT_THAT(got->problems[0].message, HasSubstr("no occurrence at that time"));
  const OccurrenceOverrides& skips = got->overrides["tea"];
  ASSERT_EQ(skips.size(), 1u);
  EXPECT_EQ(skips.begin()->first, Utc("2024-01-02T21:00"));  // 16:00-05:00
}

TEST(IcsImport, ReportsEventsItCannotImportWithTheirLine) {
  const std::string ics =
      "BEGIN:VCALENDAR\n"                                       // 1
      "VERSION:2.0\n"                                           // 2
      "BEGIN:VEVENT\n"                                          // 3
      "UID:hourly\n"                                            // 4
      "DTSTART:20240101T070000Z\n"                              // 5
      "DURATION:PT5M\n"                                         // 6
      "RRULE:FREQ=HOURLY\n"                                     // 7
      "END:VEVENT\n"                                            // 8
      "BEGIN:VEVENT\n"                                          // 9
      "UID:birthday\n"                                          // 10
      "DTSTART;VALUE=DATE:19900515\n"                           // 11
      "RRULE:FREQ=YEARLY\n"                                     // 12
      "END:VEVENT\n"                                            // 13
      "BEGIN:VEVENT\n"                                          // 14
      "UID:windows\n"                                           // 15
      "DTSTART;TZID=W. Europe Standard Time:20240101T070000\n"  // 16
      "DURATION:PT5M\n"                                         // 17
      "RRULE:FREQ=DAILY\n"                                      // 18
      "END:VEVENT\n"                                            // 19
      "BEGIN:VEVENT\n"                                          // 20
      "UID:floating\n"                                          // 21
      "DTSTART:20240101T070000\n"                               // 22
      "DURATION:PT5M\n"                                         // 23
      "RRULE:FREQ=DAILY\n"                                      // 24
      "END:VEVENT\n"                                            // 25
      "BEGIN:VEVENT\n"                                          // 26
      "UID:rdate\n"                                             // 27
      "DTSTART:20240101T070000Z\n"                              // 28
      "DURATION:PT5M\n"                                         // 29
      "RRULE:FREQ=DAILY\n"                                      // 30
      "RDATE:20240105T120000Z\n"                                // 31
      "END:VEVENT\n"                                            // 32
      "BEGIN:VEVENT\n"                                          // 33
      "UID:badcount\n"                                          // 34
      "DTSTART:20240101T070000Z\n"                              // 35
      "DURATION:PT5M\n"                                         // 36
      "RRULE:FREQ=DAILY;COUNT=many\n"                           // 37
      "END:VEVENT\n"                                            // 38
      "BEGIN:VEVENT\n"                                          // 39
      "UID:noend\n"                                             // 40
      "DTSTART:20240101T070000Z\n"                              // 41
      "RRULE:FREQ=DAILY\n"                                      // 42
      "END:VEVENT\n"                                            // 43
      "BEGIN:VEVENT\n"                                          // 44
      "UID:baddate\n"                                           // 45
      "DTSTART:2024-01-01\n"                                    // 46
      "DURATION:PT5M\n"                                         // 47
      "RRULE:FREQ=DAILY\n"                                      // 48
      "END:VEVENT\n"                                            // 49
      "BEGIN:VEVENT\n"                                          // 50
      "UID:fine\n"                                              // 51
      "SUMMARY:Fine\n"                                          // 52
      "DTSTART:20240101T070000\n"                               // 53
      "DURATION:PT5M\n"                                         // 54
      "RRULE:FREQ=DAILY;COUNT=2\n"                              // 55
      "END:VEVENT\n"                                            // 56
      "END:VCALENDAR\n";
  auto got = TheCalendar().ImportIcs(ics, {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  std::vector<std::string> seen;
  for (const ImportProblem& p : got->problems) {
    seen.push_back(std::to_string(p.line) + " " + p.uid + ": " + p.message);
  }
  ASSERT_EQ(seen.size(), 9u) << ::testing::PrintToString(seen);
  EXPECT_THAT(seen[0], AllOf(HasSubstr("7 hourly: RRULE FREQ=HOURLY is not supported")));
  EXPECT_THAT(seen[1], HasSubstr("11 birthday: DTSTART: all-day events are not supported"));
  EXPECT_THAT(seen[2], HasSubstr("16 windows: DTSTART: TZID 'W. Europe Standard Time' is not an "
                                 "IANA time zone name"));
  EXPECT_THAT(seen[3], HasSubstr("22 floating: DTSTART: the time has no zone (floating)"));
  EXPECT_THAT(seen[4], HasSubstr("31 rdate: RDATE (extra dates) is not supported"));
  EXPECT_THAT(seen[5], HasSubstr("37 badcount: RRULE COUNT=MANY is not a whole number"));
  EXPECT_THAT(seen[6], HasSubstr("39 noend: the event has neither DTEND nor DURATION"));
  EXPECT_THAT(seen[7], HasSubstr("46 baddate: DTSTART: "));
  EXPECT_THAT(seen[8], HasSubstr("53 fine: DTSTART: the time has no zone"));  // no zone given

  ImportOptions with_zone;
  with_zone.floating_zone = "America/New_York";
  auto again = TheCalendar().ImportIcs(ics, with_zone);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->rituals.size(), 2u);  // "floating" and "fine"
  EXPECT_EQ(again->rituals[1].id, "fine");
  EXPECT_EQ(again->rituals[1].segments[0].zone, "America/New_York");
}

TEST(IcsImport, RefusesMalformedFilesNamingTheLine) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "iCalendar input is empty"},
      {"hello world\nthis is not ical\n", "line 1: not an iCalendar content line"},
      {"BEGIN:VEVENT\nEND:VEVENT\n", "line 1: expected BEGIN:VCALENDAR, found BEGIN:VEVENT"},
      {"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nJUNK LINE\nEND:VEVENT\nEND:VCALENDAR\n",
       "line 4: not an iCalendar content line (NAME:VALUE): 'JUNK LINE'"},
      {"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nEND:VTODO\nEND:VCALENDAR\n",
       "line 4: END:VTODO does not match BEGIN:VEVENT at line 2"},
      {"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\n"
       "DTSTART;TZID=Europe/Berlin:20240101T070000\r\nRRU",
       "line 6: the file is truncated: 'RRU' is not a complete content line and VEVENT (line 3) "
       "is never closed"},
      {"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nEND:VEVENT\n",
       "line 4: the file ends inside VCALENDAR begun at line 1 (truncated?)"},
      {"BEGIN:VCALENDAR\nEND:VCALENDAR\nEND:VCALENDAR\n", "line 3: END:VCALENDAR without"},
      {std::string("BEGIN:VCALENDAR\nX-BIN:\0\x01\nEND:VCALENDAR\n", 39), "line 2: contains a NUL"},
      {" folded\nBEGIN:VCALENDAR\n", "line 1: a folded continuation line starts the file"},
      {"BEGIN:VCALENDAR\nDTSTART;TZID=\"unclosed:20240101\nEND:VCALENDAR\n",
       "line 2: not an iCalendar content line"},
  };
  for (const auto& [text, why] : cases) {
    auto got = TheCalendar().ImportIcs(text, {});
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(got.status().message(), HasSubstr(why));
  }
}

TEST(IcsImport, RefusesHugeInputBeforeParsingIt) {
  std::string huge = "BEGIN:VCALENDAR\r\n";
  huge += std::string(8 * 1024 * 1024, 'X');  // would be a malformed line, if it were read
  auto got = TheCalendar().ImportIcs(huge, {});
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("the limit is 8388608 bytes"));
  std::string deep = "BEGIN:VCALENDAR\n";
  for (int i = 0; i < 20; ++i) deep += "BEGIN:X-NEST\n";
  EXPECT_THAT(TheCalendar().ImportIcs(deep, {}).status().message(),
              HasSubstr("nested more than 8 deep"));
}

}  // namespace
}  // namespace kindred::calendar
