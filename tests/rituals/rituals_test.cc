// The Rituals facade on one device: rituals and facts as records, bad input
// refused with nothing written, occurrences and their states, edits and rule
// changes, removal, and the record layout other code relies on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/rituals/rituals_fixture.h"

namespace kindred::rituals_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class RitualsTest : public ::testing::Test {
 protected:
  RitualsTest() : alex_("Alex", 1) { alex_.SetNow("2024-05-08T10:00"); }

  std::string AddWeeklyDateNight() {
    auto id = rituals().Add(
        MakeNew("Date night", "freq=weekly;byday=fr", "2024-05-03T19:00", "Europe/Berlin", 120));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }
  Rituals& rituals() { return *alex_.rituals; }
  // Occurrences of `id` in [from, to) (UTC).
  std::vector<OccurrenceView> Of(const std::string& id, const std::string& from,
                                 const std::string& to) {
    auto got = rituals().OccurrencesOf(id, {Utc(from), Utc(to)});
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::vector<OccurrenceView>{};
  }
  std::vector<std::string> Starts(const std::vector<OccurrenceView>& list) {
    std::vector<std::string> out;
    for (const auto& v : list) out.push_back(cal::FormatIso8601(v.occurrence.start));
    return out;
  }

  Device alex_;
};

TEST_F(RitualsTest, AnAddedRitualReadsBackWithItsRuleInCanonicalForm) {
  std::string id = AddWeeklyDateNight();
  auto info = rituals().Get(id);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->ritual.title, "Date night");
  EXPECT_EQ(info->ritual.visibility, cal::Visibility::kShared);
  ASSERT_EQ(info->ritual.segments.size(), 1u);
  EXPECT_EQ(info->ritual.segments[0].rrule, "FREQ=WEEKLY;BYDAY=FR");
  EXPECT_EQ(info->ritual.segments[0].zone, "Europe/Berlin");
  EXPECT_EQ(info->ritual.segments[0].duration, std::chrono::minutes(120));
  EXPECT_EQ(info->author, "Alex");
  EXPECT_THAT(info->conflicts, IsEmpty());
  auto list = rituals().List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().ritual, info->ritual);
}

TEST_F(RitualsTest, BadInputIsRefusedByNameAndNothingIsWritten) {
  const VersionVector before = alex_.Versions();
  struct Case {
    NewRitual ritual;
    std::string expected;
  };
  std::vector<Case> cases = {
      {MakeNew("Check-in", "FREQ=HOURLY", "2024-05-03T19:00", "Europe/Berlin"), "RRULE"},
      {MakeNew("Check-in", "FREQ=DAILY;BYHOUR=7", "2024-05-03T19:00", "Europe/Berlin"), "BYHOUR"},
      {MakeNew("Check-in", "FREQ=DAILY;COUNT=5x", "2024-05-03T19:00", "Europe/Berlin"), "COUNT"},
      {MakeNew("Check-in", "FREQ=DAILY", "2024-05-03T19:00", "Mars/Base"), "Mars/Base"},
      {MakeNew("Check-in", "FREQ=DAILY", "2024-03-31T02:30", "Europe/Berlin"), "does not exist"},
      {MakeNew("", "FREQ=DAILY", "2024-05-03T19:00", "Europe/Berlin"), "title"},
      {MakeNew("Check-in", "FREQ=DAILY", "2024-05-03T19:00", "Europe/Berlin", 0), "duration"},
  };
  for (const Case& c : cases) {
    auto id = rituals().Add(c.ritual);
    ASSERT_FALSE(id.ok()) << c.expected;
    EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(id.status().message(), HasSubstr(c.expected));
  }
  EXPECT_EQ(alex_.Versions(), before);
}

TEST_F(RitualsTest, DoneWithoutAnOccurrenceMarksTheNearestOne) {
  auto id = rituals().Add(
      MakeNew("Evening check-in", "FREQ=DAILY", "2024-05-01T21:00", "Europe/Berlin", 5));
  ASSERT_TRUE(id.ok());
  alex_.SetNow("2024-05-08T20:10");  // 22:10 in Berlin: tonight's was 70 minutes ago
  auto done = rituals().MarkDone(*id, std::nullopt, "we laughed", 5);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(cal::FormatIso8601(done->occurrence.start), "2024-05-08T21:00:00+02:00");
  ASSERT_EQ(done->completions.size(), 1u);
  EXPECT_EQ(done->completions[0].member, "Alex");
  EXPECT_EQ(done->completions[0].note, "we laughed");
  EXPECT_EQ(done->completions[0].mood, 5);
  EXPECT_EQ(done->completions[0].done_at, Utc("2024-05-08T20:10"));
}

TEST_F(RitualsTest, AnOccurrenceThatDoesNotExistIsNamedWithTheNearestOne) {
  std::string id = AddWeeklyDateNight();
  auto done = rituals().MarkDone(id, Arg("2024-05-11T19:00"), "", 0);  // a Saturday
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(done.status().message(), HasSubstr("2024-05-11T19:00"));
  EXPECT_THAT(done.status().message(), HasSubstr("2024-05-10T19:00:00+02:00"));
  auto unknown = rituals().MarkDone("nosuchritual", std::nullopt, "", 0);
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST_F(RitualsTest, SkipMoveAndRestoreChangeTheScheduleOfOneOccurrence) {
  std::string id = AddWeeklyDateNight();
  auto skipped = rituals().Skip(id, Arg("2024-05-10T19:00"), "Sam is travelling");
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_EQ(skipped->occurrence.status, cal::OccurrenceStatus::kSkipped);
  EXPECT_EQ(skipped->reason, "Sam is travelling");
  EXPECT_EQ(skipped->changed_by, "Alex");

  auto moved = rituals().Move(id, Arg("2024-05-17T19:00"), Arg("2024-05-18T18:30"));
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->occurrence.status, cal::OccurrenceStatus::kMoved);
  EXPECT_EQ(cal::FormatIso8601(moved->occurrence.start), "2024-05-18T18:30:00+02:00");
  EXPECT_EQ(cal::FormatIso8601(moved->occurrence.end), "2024-05-18T20:30:00+02:00");

  auto list = Of(id, "2024-05-09T00:00", "2024-05-25T00:00");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].occurrence.status, cal::OccurrenceStatus::kSkipped);
  EXPECT_THAT(Starts(list), ElementsAre("2024-05-10T19:00:00+02:00", "2024-05-18T18:30:00+02:00",
                                        "2024-05-24T19:00:00+02:00"));

  // The moved occurrence is still named by its rule time; a restore puts it back.
  auto restored = rituals().Restore(id, Arg("2024-05-17T19:00"));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->occurrence.status, cal::OccurrenceStatus::kScheduled);
  EXPECT_EQ(cal::FormatIso8601(restored->occurrence.start), "2024-05-17T19:00:00+02:00");
  // Moving back to the rule's own time is a restore too.
  ASSERT_TRUE(rituals().Move(id, Arg("2024-05-24T19:00"), Arg("2024-05-24T20:00")).ok());
  auto back = rituals().Move(id, Arg("2024-05-24T20:00"), Arg("2024-05-24T19:00"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->occurrence.status, cal::OccurrenceStatus::kScheduled);
  EXPECT_THAT(back->changed_by, IsEmpty());
}

TEST_F(RitualsTest, AMoveIntoAnHourThatDoesNotExistIsRefused) {
  auto id = rituals().Add(MakeNew("Night walk", "FREQ=DAILY", "2024-03-28T22:00", "Europe/Berlin"));
  ASSERT_TRUE(id.ok());
  const VersionVector before = alex_.Versions();
  auto moved = rituals().Move(*id, Arg("2024-03-30T22:00"), Arg("2024-03-31T02:30"));
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(moved.status().message(), HasSubstr("does not exist in Europe/Berlin"));
  EXPECT_EQ(alex_.Versions(), before);
}

TEST_F(RitualsTest, ALaterFactAboutAnOccurrenceWinsEvenWhenTheClockWentBack) {
  std::string id = AddWeeklyDateNight();
  ASSERT_TRUE(rituals().Skip(id, Arg("2024-05-10T19:00"), "tired").ok());
  alex_.clock().Advance(-3'600'000'000);  // the clock is set back an hour
  auto restored = rituals().Restore(id, Arg("2024-05-10T19:00"));
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->occurrence.status, cal::OccurrenceStatus::kScheduled);
  ASSERT_TRUE(rituals().MarkDone(id, Arg("2024-05-10T19:00"), "", 0).ok());
  auto undone = rituals().Undo(id, Arg("2024-05-10T19:00"));  // same instant on the clock
  ASSERT_TRUE(undone.ok());
  EXPECT_THAT(undone->completions, IsEmpty());
}

TEST_F(RitualsTest, EditsChangeTitleDescriptionVisibilityAndTheCurrentDuration) {
  std::string id = AddWeeklyDateNight();
  RitualEdit edit;
  edit.title = "Friday date night";
  edit.description = "Phones away.";
  edit.visibility = cal::Visibility::kPrivate;
  edit.duration = std::chrono::minutes(150);
  ASSERT_TRUE(rituals().Edit(id, edit).ok());
  auto info = rituals().Get(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->ritual.title, "Friday date night");
  EXPECT_EQ(info->ritual.description, "Phones away.");
  EXPECT_EQ(info->ritual.visibility, cal::Visibility::kPrivate);
  EXPECT_EQ(info->ritual.segments[0].duration, std::chrono::minutes(150));

  const VersionVector before = alex_.Versions();
  EXPECT_EQ(rituals().Edit(id, {}).code(), StatusCode::kInvalidArgument);
  RitualEdit bad;
  bad.title = "two\nlines";
  EXPECT_EQ(rituals().Edit(id, bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rituals().Edit("nosuchritual", edit).code(), StatusCode::kNotFound);
  EXPECT_EQ(alex_.Versions(), before);
}

TEST_F(RitualsTest, ARuleChangeFromAnOccurrenceKeepsPastOccurrencesAndTheirCompletions) {
  std::string id = AddWeeklyDateNight();
  ASSERT_TRUE(rituals().MarkDone(id, Arg("2024-05-03T19:00"), "lovely", 5).ok());
  ASSERT_TRUE(rituals().Skip(id, Arg("2024-05-10T19:00"), "ill").ok());
  const auto before = Of(id, "2024-05-01T00:00", "2024-05-12T00:00");

  RuleChange change;
  change.from = Arg("2024-05-17T19:00");
  change.rrule = "FREQ=WEEKLY;BYDAY=SA";
  change.start = Local("2024-05-18T18:00");
  change.duration = std::chrono::minutes(180);
  ASSERT_TRUE(rituals().ChangeRule(id, change).ok());

  auto list = Of(id, "2024-05-01T00:00", "2024-06-02T00:00");
  EXPECT_THAT(Starts(list), ElementsAre("2024-05-03T19:00:00+02:00", "2024-05-10T19:00:00+02:00",
                                        "2024-05-18T18:00:00+02:00", "2024-05-25T18:00:00+02:00",
                                        "2024-06-01T18:00:00+02:00"));
  ASSERT_GE(list.size(), 2u);
  EXPECT_EQ(list[0].occurrence, before[0].occurrence);  // same key, same times
  EXPECT_EQ(list[0].completions, before[0].completions);
  EXPECT_EQ(list[1].occurrence.status, cal::OccurrenceStatus::kSkipped);
  EXPECT_EQ(list[2].occurrence.end.local, Local("2024-05-18T21:00"));

  auto info = rituals().Get(id);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->ritual.segments.size(), 2u);
  EXPECT_EQ(info->ritual.segments[1].effective_from, Utc("2024-05-17T17:00"));
}

TEST_F(RitualsTest, ARuleChangeThatWouldDetachACompletionIsRefused) {
  std::string id = AddWeeklyDateNight();
  ASSERT_TRUE(rituals().MarkDone(id, Arg("2024-05-10T19:00"), "", 0).ok());
  const VersionVector before = alex_.Versions();
  RuleChange change;
  change.from = Arg("2024-05-10T19:00");
  change.start = Local("2024-05-10T18:00");  // that occurrence would become 18:00
  Status s = rituals().ChangeRule(id, change);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("already marked done"));
  EXPECT_THAT(s.message(), HasSubstr("2024-05-10T19:00:00+02:00"));

  change.from = Arg("2024-05-11T19:00");  // not an occurrence
  s = rituals().ChangeRule(id, change);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("is not an occurrence"));

  change.from = Arg("2024-05-17T19:00");
  change.rrule = "FREQ=WEEKLY;BYDAY=XX";
  s = rituals().ChangeRule(id, change);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("RRULE"));
  EXPECT_EQ(alex_.Versions(), before);

  // A change that keeps the completed occurrence where it is (only the
  // duration changes) is fine.
  RuleChange longer;
  longer.from = Arg("2024-05-10T19:00");
  longer.duration = std::chrono::minutes(150);
  EXPECT_TRUE(rituals().ChangeRule(id, longer).ok());
  auto list = Of(id, "2024-05-10T00:00", "2024-05-11T00:00");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].completions.size(), 1u);
}

TEST_F(RitualsTest, RemovingARitualRemovesWhatWasRecordedAboutIt) {
  std::string id = AddWeeklyDateNight();
  std::string other = AddWeeklyDateNight();
  ASSERT_TRUE(rituals().MarkDone(id, Arg("2024-05-03T19:00"), "", 0).ok());
  ASSERT_TRUE(rituals().Skip(id, Arg("2024-05-10T19:00"), "").ok());
  ASSERT_TRUE(rituals().MarkDone(other, Arg("2024-05-03T19:00"), "", 0).ok());
  ASSERT_TRUE(rituals().Remove(id).ok());
  EXPECT_EQ(rituals().Get(id).status().code(), StatusCode::kNotFound);
  int facts = 0;
  ASSERT_TRUE(alex_.engine
                  ->Scan(alex_.space(), Rituals::kFactCollection,
                         [&](const Record& r) {
                           EXPECT_EQ(r.Text("ritual"), other);
                           ++facts;
                           return true;
                         })
                  .ok());
  EXPECT_EQ(facts, 1);
  EXPECT_EQ(rituals().Remove(id).code(), StatusCode::kNotFound);
}

// Occurrences() reads facts day by day through the index, and
// OccurrencesOf() occurrence by occurrence for short windows and all of the
// ritual's for long ones: every way must see the same states, including an
// occurrence moved into the window from outside it and later moved again.
TEST_F(RitualsTest, ShortAndLongWindowsSeeTheSameStates) {
  auto added = rituals().Add(
      MakeNew("Date night", "FREQ=WEEKLY;BYDAY=FR", "2024-04-05T19:00", "Europe/Berlin", 120));
  ASSERT_TRUE(added.ok());
  const std::string date = *added;
  auto daily =
      rituals().Add(MakeNew("Check-in", "FREQ=DAILY", "2024-05-01T07:00", "America/New_York", 10));
  ASSERT_TRUE(daily.ok());
  ASSERT_TRUE(rituals().Move(date, Arg("2024-04-26T19:00"), Arg("2024-05-14T20:00")).ok());
  ASSERT_TRUE(rituals().Move(date, Arg("2024-04-26T19:00"), Arg("2024-05-15T20:00")).ok());
  ASSERT_TRUE(rituals().Move(date, Arg("2024-06-28T19:00"), Arg("2024-05-16T21:00")).ok());
  ASSERT_TRUE(rituals().Restore(date, Arg("2024-06-28T19:00")).ok());
  ASSERT_TRUE(rituals().Move(date, Arg("2024-05-17T19:00"), Arg("2024-07-01T19:00")).ok());
  ASSERT_TRUE(rituals().MarkDone(*daily, Arg("2024-05-14T07:00"), "early", 3).ok());
  ASSERT_TRUE(rituals().Skip(*daily, Arg("2024-05-16T07:00"), "").ok());
  ASSERT_TRUE(rituals().MarkDone(date, Arg("2024-05-15T20:00"), "", 0).ok());

  const cal::TimeWindow week{Utc("2024-05-13T00:00"), Utc("2024-05-20T00:00")};
  const cal::TimeWindow long_window{Utc("2024-03-01T00:00"), Utc("2024-08-01T00:00")};
  auto short_list = rituals().Occurrences(week);
  auto long_list = rituals().Occurrences(long_window);
  ASSERT_TRUE(short_list.ok() && long_list.ok());
  std::vector<OccurrenceView> clipped;
  for (const auto& v : *long_list) {
    if (v.occurrence.start.utc >= week.from && v.occurrence.start.utc < week.to)
      clipped.push_back(v);
  }
  ASSERT_EQ(short_list->size(), clipped.size());
  for (size_t i = 0; i < clipped.size(); ++i) {
    EXPECT_EQ((*short_list)[i].occurrence, clipped[i].occurrence) << i;
    EXPECT_EQ((*short_list)[i].completions, clipped[i].completions) << i;
    EXPECT_EQ((*short_list)[i].reason, clipped[i].reason) << i;
  }
  // The same for one ritual: few occurrences are read one by one, many all at once.
  for (const std::string& id : {date, *daily}) {
    auto few = rituals().OccurrencesOf(id, week);
    auto many = rituals().OccurrencesOf(id, long_window);
    ASSERT_TRUE(few.ok() && many.ok());
    size_t i = 0;
    for (const auto& v : *many) {
      if (v.occurrence.start.utc < week.from || v.occurrence.start.utc >= week.to) continue;
      ASSERT_LT(i, few->size());
      EXPECT_EQ((*few)[i].occurrence, v.occurrence);
      EXPECT_EQ((*few)[i].completions, v.completions);
      ++i;
    }
    EXPECT_EQ(i, few->size());
  }
  // The date night of 26 April sits on 15 May (its latest move), done.
  bool found = false;
  for (const auto& v : *short_list) {
    if (v.occurrence.ritual_id == date && v.occurrence.key == Utc("2024-04-26T17:00")) {
      found = true;
      EXPECT_EQ(cal::FormatIso8601(v.occurrence.start), "2024-05-15T20:00:00+02:00");
      EXPECT_EQ(v.completions.size(), 1u);
    }
    EXPECT_NE(v.occurrence.key, Utc("2024-05-17T17:00")) << "moved out of the window";
    EXPECT_NE(v.occurrence.key, Utc("2024-06-28T17:00")) << "restored outside the window";
  }
  EXPECT_TRUE(found);
}

TEST_F(RitualsTest, MembersStartWithThisDevicesMember) {
  auto members = rituals().Members();
  ASSERT_TRUE(members.ok());
  EXPECT_THAT(*members, ElementsAre("Alex"));
}

// The layout in docs/architecture.md ("Rituals"): other code (sync, pairing,
// a later release) relies on it.
TEST_F(RitualsTest, RecordsFollowTheDocumentedLayout) {
  std::string id = AddWeeklyDateNight();
  ASSERT_TRUE(rituals().Move(id, Arg("2024-05-10T19:00"), Arg("2024-05-11T19:00")).ok());
  auto r = alex_.engine->Get(alex_.space(), Rituals::kCollection, id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Text("title"), "Date night");
  EXPECT_EQ(r->Text("description"), "");
  EXPECT_TRUE(r->Flag("shared", false));
  auto rule = nlohmann::json::parse(r->Text("rule"));
  EXPECT_EQ(rule["model"], cal::kCalendarModelName);
  ASSERT_EQ(rule["segments"].size(), 1u);
  EXPECT_TRUE(rule["segments"][0]["from"].is_null());
  EXPECT_EQ(rule["segments"][0]["start"], "2024-05-03T19:00:00");
  EXPECT_EQ(rule["segments"][0]["zone"], "Europe/Berlin");
  EXPECT_EQ(rule["segments"][0]["rrule"], "FREQ=WEEKLY;BYDAY=FR");
  EXPECT_EQ(rule["segments"][0]["duration"], 7200);

  std::vector<Record> facts;
  ASSERT_TRUE(alex_.engine
                  ->Scan(alex_.space(), Rituals::kFactCollection,
                         [&](const Record& f) {
                           facts.push_back(f);
                           return true;
                         })
                  .ok());
  ASSERT_EQ(facts.size(), 1u);
  const Record& f = facts[0];
  EXPECT_EQ(f.Text("model"), cal::kCalendarModelName);
  EXPECT_EQ(f.Text("ritual"), id);
  EXPECT_EQ(f.Int("key"), Utc("2024-05-10T17:00"));
  EXPECT_EQ(f.Text("kind"), "moved");
  EXPECT_EQ(f.Text("member"), "Alex");
  EXPECT_EQ(f.Int("at"), Utc("2024-05-11T17:00"));
  EXPECT_EQ(f.Int("stamp"), Utc("2024-05-08T10:00") * 1'000'000);
  EXPECT_THAT(f.List("refs"),
              ElementsAre("r:" + id, "o:" + std::to_string(Utc("2024-05-10T17:00")) + ":" + id,
                          "d:2024-05-10", "s:" + id, "d:2024-05-11"));
  EXPECT_EQ(f.created_by, alex_.engine->device().id);
}

TEST_F(RitualsTest, ARitualFromANewerModelIsLeftOutOfListsAndNamedWhenAskedFor) {
  std::string id = AddWeeklyDateNight();
  auto newer = alex_.engine->Commit(
      alex_.space(),
      {Mutation::Create(
          Rituals::kCollection,
          {{"title", std::string("From the future")},
           {"shared", true},
           {"rule", std::string(R"({"model":"kindred.calendar.ritual.v9","segments":[]})")}})});
  ASSERT_TRUE(newer.ok());
  auto list = rituals().List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().ritual.id, id);
  auto got = rituals().Get(newer->front());
  EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("newer Kindred"));
  EXPECT_TRUE(rituals().Occurrences({Utc("2024-05-01T00:00"), Utc("2024-05-08T00:00")}).ok());
}

}  // namespace
}  // namespace kindred::rituals_testing
