// iCalendar through the engine: export from one home, import into a fresh
// one, and the same occurrences come out; bad files write nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/rituals/rituals_fixture.h"

namespace kindred::rituals_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// What must survive a round trip: which ritual, which occurrence (key),
// when, how long, and whether it is skipped or moved.
std::vector<std::string> Schedule(Rituals& rituals, cal::TimeWindow window) {
  auto list = rituals.Occurrences(window);
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  std::vector<std::string> out;
  for (const auto& v : list.ok() ? *list : std::vector<OccurrenceView>{}) {
    out.push_back(v.title + " " + v.occurrence.ritual_id + " " + std::to_string(v.occurrence.key) +
                  " " + cal::FormatIso8601(v.occurrence.start) + " " +
                  cal::FormatIso8601(v.occurrence.end) + " " +
                  std::to_string(static_cast<int>(v.occurrence.status)));
  }
  return out;
}

TEST(RitualsIcsTest, ExportThenImportIntoAFreshHomeGivesTheSameOccurrences) {
  Device alex("Alex", 1);
  alex.SetNow("2024-05-08T10:00");
  Rituals& r = *alex.rituals;
  auto date = r.Add(
      MakeNew("Date night", "FREQ=WEEKLY;BYDAY=FR", "2024-01-05T19:00", "Europe/Berlin", 150));
  auto checkin = r.Add(MakeNew("Five-minute check-in", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
                               "2024-03-01T18:00", "America/New_York", 5));
  NewRitual retreat = MakeNew("Yearly retreat, goals", "FREQ=YEARLY;BYMONTH=9;BYDAY=1SA",
                              "2023-09-02T10:00", "Asia/Kolkata", 480);
  retreat.visibility = cal::Visibility::kPrivate;
  retreat.description = "Where are we going, together?\nWhat do we want to keep?";
  auto yearly = r.Add(retreat);
  auto monthly = r.Add(MakeNew("Monthly check-in", "FREQ=MONTHLY;BYDAY=1SU;COUNT=24",
                               "2024-01-07T20:00", "Europe/London", 60));
  ASSERT_TRUE(date.ok() && checkin.ok() && yearly.ok() && monthly.ok());
  ASSERT_TRUE(r.Skip(*date, Arg("2024-05-10T19:00"), "Sam is travelling").ok());
  ASSERT_TRUE(r.Move(*date, Arg("2024-05-17T19:00"), Arg("2024-05-18T18:30")).ok());
  ASSERT_TRUE(
      r.Move(*checkin, Arg("2024-03-11T18:00"), Arg("2024-03-11T07:30")).ok());  // across DST
  ASSERT_TRUE(r.MarkDone(*checkin, Arg("2024-03-12T18:00"), "not exported", 4).ok());
  RuleChange saturdays;
  saturdays.from = Arg("2024-06-07T19:00");
  saturdays.rrule = "FREQ=WEEKLY;BYDAY=SA";
  saturdays.start = Local("2024-06-08T18:00");
  ASSERT_TRUE(r.ChangeRule(*date, saturdays).ok());

  auto ics = r.ExportIcs();
  ASSERT_TRUE(ics.ok()) << ics.status().ToString();
  EXPECT_THAT(*ics, HasSubstr("BEGIN:VTIMEZONE"));
  EXPECT_THAT(*ics, HasSubstr("EXDATE;TZID=Europe/Berlin:20240510T190000"));
  EXPECT_THAT(*ics, HasSubstr("RECURRENCE-ID;TZID=Europe/Berlin:20240517T190000"));
  EXPECT_THAT(*ics, HasSubstr("CLASS:PRIVATE"));
  EXPECT_THAT(*ics, ::testing::Not(HasSubstr("not exported")));

  Device sam("Sam", 2);
  sam.SetNow("2024-05-09T10:00");
  auto imported = sam.rituals->ImportIcs(*ics, "");
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_THAT(imported->imported, SizeIs(4));
  EXPECT_THAT(imported->already_here, IsEmpty());
  EXPECT_THAT(imported->problems, IsEmpty());
  EXPECT_EQ(imported->facts, 3u);

  const cal::TimeWindow window{Utc("2023-06-01T00:00"), Utc("2026-01-01T00:00")};
  const auto expected = Schedule(r, window);
  EXPECT_GT(expected.size(), 500u);
  EXPECT_EQ(Schedule(*sam.rituals, window), expected);
  auto back = sam.rituals->Get(*yearly);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ritual.visibility, cal::Visibility::kPrivate);
  EXPECT_EQ(back->ritual.description, retreat.description);
  auto original = r.Get(*date);
  auto copy = sam.rituals->Get(*date);
  ASSERT_TRUE(original.ok() && copy.ok());
  EXPECT_EQ(copy->ritual.segments.size(), 2u);

  // Importing the same file again changes nothing.
  const VersionVector before = sam.Versions();
  auto again = sam.rituals->ImportIcs(*ics, "");
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(again->imported, IsEmpty());
  EXPECT_THAT(again->already_here, SizeIs(4));
  EXPECT_EQ(sam.Versions(), before);
}

TEST(RitualsIcsTest, ABadFileIsRefusedByLineAndNothingIsWritten) {
  Device alex("Alex", 1);
  const VersionVector before = alex.Versions();
  const std::string good_head =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//"
      "EN\r\nBEGIN:VEVENT\r\nUID:a@example.com\r\n"
      "DTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20240105T190000\r\nDURATION:PT1H\r\n";
  struct Case {
    std::string ics;
    std::string expected;
  };
  std::vector<Case> cases = {
      {good_head + "RRULE:FREQ=WEEKLY\r\nJUNK LINE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 10"},
      {good_head + "RRU", "truncated"},
      {"not a calendar\r\n", "line 1"},
      {std::string(8 * 1024 * 1024 + 1, 'x'), "limit"},
  };
  for (const Case& c : cases) {
    auto got = alex.rituals->ImportIcs(c.ics, "");
    ASSERT_FALSE(got.ok()) << c.expected;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(got.status().message(), HasSubstr(c.expected));
  }
  EXPECT_EQ(alex.Versions(), before);
}

TEST(RitualsIcsTest, EventsFromAnotherCalendarBecomeRitualsAndTheRestAreNamed) {
  Device alex("Alex", 1);
  const std::string ics =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
      "BEGIN:VEVENT\r\nUID:0f3c2@google.com\r\nDTSTAMP:20240101T000000Z\r\n"
      "DTSTART;TZID=Europe/Berlin:20240105T190000\r\nDTEND;TZID=Europe/Berlin:20240105T210000\r\n"
      "RRULE:FREQ=WEEKLY;BYDAY=FR\r\nEXDATE;TZID=Europe/Berlin:20240112T190000\r\n"
      "SUMMARY:Date night\r\nEND:VEVENT\r\n"
      "BEGIN:VEVENT\r\nUID:standup@work\r\nDTSTAMP:20240101T000000Z\r\n"
      "DTSTART:20240105T090000Z\r\nDURATION:PT15M\r\nRRULE:FREQ=HOURLY\r\nSUMMARY:Standup\r\n"
      "END:VEVENT\r\nEND:VCALENDAR\r\n";
  auto got = alex.rituals->ImportIcs(ics, "Europe/Berlin");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_THAT(got->imported, ElementsAre("0f3c2@google.com"));
  EXPECT_EQ(got->facts, 1u);
  ASSERT_THAT(got->problems, SizeIs(1));
  EXPECT_EQ(got->problems[0].summary, "Standup");
  EXPECT_THAT(got->problems[0].message, HasSubstr("HOURLY"));
  EXPECT_GT(got->problems[0].line, 0);
  auto list = alex.rituals->OccurrencesOf("0f3c2@google.com",
                                          {Utc("2024-01-01T00:00"), Utc("2024-01-20T00:00")});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].occurrence.status, cal::OccurrenceStatus::kSkipped);
  EXPECT_EQ(cal::FormatIso8601((*list)[2].occurrence.end), "2024-01-19T21:00:00+01:00");
}

}  // namespace
}  // namespace kindred::rituals_testing
