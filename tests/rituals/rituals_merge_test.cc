// Two partners' devices share a space and exchange signed op batches through
// the engine API (ReadMissing/Ingest), as tests/core/sync_test.cc does. Each
// merge case runs under many random interleavings: the order in which the two
// devices act, when and in which direction they sync, in what batch sizes,
// and with skewed clocks. The seed is printed on failure.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "tests/rituals/rituals_fixture.h"

namespace kindred::rituals_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int kInterleavings = 24;

// Alex and Sam, each on their own device, keeping one space.
class CoupleTest : public ::testing::Test {
 protected:
  CoupleTest() : alex_("Alex", 11), sam_("Sam", 22) {
    Link(alex_, sam_);
    alex_.SetNow("2024-05-08T10:00");
    sam_.SetNow("2024-05-08T10:00");
  }

  // A fresh weekly date night (Fridays 19:00 Berlin, from 3 May 2024) that
  // both devices know about.
  std::string NewDateNight() {
    auto id = alex_.rituals->Add(
        MakeNew("Date night", "FREQ=WEEKLY;BYDAY=FR", "2024-05-03T19:00", "Europe/Berlin", 120));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    SyncBoth(alex_, sam_);
    return id.ok() ? *id : "";
  }

  using Step = std::function<void(Device&)>;

  // Runs Alex's steps and Sam's steps, each in its own order, interleaved at
  // random with random partial syncs in either direction and clock skew;
  // then syncs fully.
  void Interleave(std::mt19937& rng, std::vector<Step> alex_steps, std::vector<Step> sam_steps) {
    size_t a = 0, s = 0;
    while (a < alex_steps.size() || s < sam_steps.size()) {
      switch (rng() % 4) {
        case 0:
          Push(alex_, sam_, 1 + rng() % 3, 1 + rng() % 2);
          break;
        case 1:
          Push(sam_, alex_, 1 + rng() % 3, 1 + rng() % 2);
          break;
        default: {
          const bool alex_turn = s == sam_steps.size() || (a < alex_steps.size() && rng() % 2 == 0);
          Device& d = alex_turn ? alex_ : sam_;
          d.clock().Advance(static_cast<int64_t>(rng() % 120'000'000) - 60'000'000);  // +-1 min
          if (alex_turn)
            alex_steps[a++](d);
          else
            sam_steps[s++](d);
        }
      }
    }
    SyncBoth(alex_, sam_);
    SyncBoth(alex_, sam_);
  }

  // Both devices see exactly the same occurrences and states.
  void ExpectConverged(const cal::TimeWindow& window) {
    const std::string a = Picture(*alex_.rituals, window);
    EXPECT_EQ(a, Picture(*sam_.rituals, window));
    EXPECT_FALSE(a.empty());
  }

  OccurrenceView At(Device& d, const std::string& id, const std::string& key_utc) {
    auto list = d.rituals->OccurrencesOf(id, {Utc("2024-04-01T00:00"), Utc("2024-08-01T00:00")});
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    for (const auto& v : list.ok() ? *list : std::vector<OccurrenceView>{}) {
      if (v.occurrence.key == Utc(key_utc)) return v;
    }
    ADD_FAILURE() << "no occurrence with key " << key_utc;
    return {};
  }

  static Step Done(const std::string& id, const std::string& at, const std::string& note,
                   int mood) {
    return [=](Device& d) {
      auto r = d.rituals->MarkDone(id, Arg(at), note, mood);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    };
  }

  const cal::TimeWindow may_june_{Utc("2024-05-01T00:00"), Utc("2024-07-01T00:00")};
  Device alex_;
  Device sam_;
};

TEST_F(CoupleTest, WhenBothPartnersMarkTheSameOccurrenceDoneBothCount) {
  for (uint32_t seed = 1; seed <= kInterleavings; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string id = NewDateNight();
    Interleave(rng, {Done(id, "2024-05-10T19:00", "we cooked together", 5)},
               {Done(id, "2024-05-10T19:00", "felt close", 4)});
    ExpectConverged(may_june_);
    for (Device* d : {&alex_, &sam_}) {
      OccurrenceView v = At(*d, id, "2024-05-10T17:00");
      EXPECT_EQ(v.occurrence.status, cal::OccurrenceStatus::kScheduled);
      EXPECT_THAT(
          v.completions,
          ElementsAre(cal::Completion{"Alex", v.completions.at(0).done_at, "we cooked together", 5},
                      cal::Completion{"Sam", v.completions.at(1).done_at, "felt close", 4}));
    }
  }
}

TEST_F(CoupleTest, MovingAnOccurrenceWhileThePartnerCompletesItKeepsBothFacts) {
  for (uint32_t seed = 1; seed <= kInterleavings; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string id = NewDateNight();
    Interleave(rng, {[&](Device& d) {
                 auto r = d.rituals->Move(id, Arg("2024-05-10T19:00"), Arg("2024-05-11T18:00"));
                 EXPECT_TRUE(r.ok()) << r.status().ToString();
               }},
               // Sam names the occurrence by its rule time, which a move never changes.
               {Done(id, "2024-05-10T19:00:00+02:00", "", 0)});
    ExpectConverged(may_june_);
    for (Device* d : {&alex_, &sam_}) {
      OccurrenceView v = At(*d, id, "2024-05-10T17:00");
      EXPECT_EQ(v.occurrence.status, cal::OccurrenceStatus::kMoved);
      EXPECT_EQ(cal::FormatIso8601(v.occurrence.start), "2024-05-11T18:00:00+02:00");
      EXPECT_EQ(v.changed_by, "Alex");
      ASSERT_EQ(v.completions.size(), 1u);
      EXPECT_EQ(v.completions[0].member, "Sam");
    }
  }
}

TEST_F(CoupleTest, ASkipHoldsWhateverElseHappensAroundIt) {
  for (uint32_t seed = 1; seed <= kInterleavings; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string id = NewDateNight();
    Interleave(rng,
               {[&](Device& d) {
                  auto r = d.rituals->Skip(id, Arg("2024-05-17T19:00"), "Sam is travelling");
                  EXPECT_TRUE(r.ok()) << r.status().ToString();
                },
                Done(id, "2024-05-10T19:00", "", 0)},
               {Done(id, "2024-05-10T19:00", "", 0), Done(id, "2024-05-24T19:00", "", 0)});
    ExpectConverged(may_june_);
    for (Device* d : {&alex_, &sam_}) {
      OccurrenceView skipped = At(*d, id, "2024-05-17T17:00");
      EXPECT_EQ(skipped.occurrence.status, cal::OccurrenceStatus::kSkipped);
      EXPECT_EQ(skipped.reason, "Sam is travelling");
      EXPECT_THAT(skipped.completions, IsEmpty());
      EXPECT_EQ(At(*d, id, "2024-05-10T17:00").completions.size(), 2u);
      EXPECT_EQ(At(*d, id, "2024-05-24T17:00").completions.size(), 1u);
    }
  }
}

TEST_F(CoupleTest, ARuleChangeFromAnOccurrenceKeepsPastCompletionsOnBothDevices) {
  for (uint32_t seed = 1; seed <= kInterleavings; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string id = NewDateNight();
    Interleave(rng,
               {Done(id, "2024-05-03T19:00", "first one", 5), Done(id, "2024-05-10T19:00", "", 3)},
               {Done(id, "2024-05-10T19:00", "", 0), [&](Device& d) {
                  RuleChange change;  // from 17 May on: Saturdays at 18:00
                  change.from = Arg("2024-05-17T19:00");
                  change.rrule = "FREQ=WEEKLY;BYDAY=SA";
                  change.start = Local("2024-05-18T18:00");
                  Status s = d.rituals->ChangeRule(id, change);
                  EXPECT_TRUE(s.ok()) << s.ToString();
                }});
    ExpectConverged(may_june_);
    for (Device* d : {&alex_, &sam_}) {
      auto list = d->rituals->OccurrencesOf(id, {Utc("2024-05-01T00:00"), Utc("2024-05-26T00:00")});
      ASSERT_TRUE(list.ok());
      std::vector<std::string> starts;
      for (const auto& v : *list) starts.push_back(cal::FormatIso8601(v.occurrence.start));
      EXPECT_THAT(starts, ElementsAre("2024-05-03T19:00:00+02:00", "2024-05-10T19:00:00+02:00",
                                      "2024-05-18T18:00:00+02:00", "2024-05-25T18:00:00+02:00"));
      ASSERT_EQ(list->size(), 4u);
      EXPECT_EQ((*list)[0].occurrence.key, Utc("2024-05-03T17:00"));
      ASSERT_EQ((*list)[0].completions.size(), 1u);
      EXPECT_EQ((*list)[0].completions[0].note, "first one");
      EXPECT_EQ((*list)[1].completions.size(), 2u);
      EXPECT_THAT((*list)[2].completions, IsEmpty());
    }
  }
}

TEST_F(CoupleTest, ARestoreMadeAfterSeeingASkipWinsEvenOnASlowerClock) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string id = NewDateNight();
    ASSERT_TRUE(alex_.rituals->Skip(id, Arg("2024-05-10T19:00"), "tired").ok());
    Push(alex_, sam_);
    sam_.clock().Advance(-static_cast<int64_t>(1 + rng() % 7200) *
                         1'000'000);  // Sam's clock is behind
    ASSERT_TRUE(sam_.rituals->Restore(id, Arg("2024-05-10T19:00")).ok());
    SyncBoth(alex_, sam_);
    ExpectConverged(may_june_);
    EXPECT_EQ(At(alex_, id, "2024-05-10T17:00").occurrence.status,
              cal::OccurrenceStatus::kScheduled);
    sam_.SetNow("2024-05-08T10:00");
  }
}

TEST_F(CoupleTest, BothPartnersAreMembersOnBothDevicesOnceTheyHaveSynced) {
  const std::string id = NewDateNight();
  ASSERT_TRUE(sam_.rituals->MarkDone(id, Arg("2024-05-10T19:00"), "", 0).ok());
  SyncBoth(alex_, sam_);
  for (Device* d : {&alex_, &sam_}) {
    auto members = d->rituals->Members();
    ASSERT_TRUE(members.ok());
    ASSERT_EQ(members->size(), 2u);
    EXPECT_EQ(members->front(), d->engine->device().member_name);  // this device's member first
  }
}

// A delete on one device and an edit on the other leave the edited field
// alive (the engine drops nothing silently), but not a ritual: it is left out
// of every list instead of breaking them, and can still be removed.
TEST_F(CoupleTest, ARitualRemovedWhileThePartnerEditsItLeavesTheCalendarWhole) {
  const std::string kept = NewDateNight();
  const std::string id = NewDateNight();
  ASSERT_TRUE(alex_.rituals->Remove(id).ok());
  RitualEdit edit;
  edit.title = "Date night, somewhere new";
  ASSERT_TRUE(sam_.rituals->Edit(id, edit).ok());
  SyncBoth(alex_, sam_);
  for (Device* d : {&alex_, &sam_}) {
    auto list = d->rituals->List();
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ(list->front().ritual.id, kept);
    EXPECT_TRUE(d->rituals->Occurrences(may_june_).ok());
    EXPECT_TRUE(d->rituals->ExportIcs().ok());
    EXPECT_EQ(d->rituals->Get(id).status().code(), StatusCode::kFailedPrecondition);
  }
  ASSERT_TRUE(sam_.rituals->Remove(id).ok());
  SyncBoth(alex_, sam_);
  EXPECT_EQ(alex_.rituals->Get(id).status().code(), StatusCode::kNotFound);
}

// Many random facts and edits from both devices over two rituals, with random
// partial syncs: afterwards both devices agree on every occurrence's state.
TEST_F(CoupleTest, RandomFactsFromBothDevicesConverge) {
  for (uint32_t seed : {3u, 17u, 2024u, 90210u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string date = NewDateNight();
    auto daily = sam_.rituals->Add(
        MakeNew("Gratitude before sleep", "FREQ=DAILY", "2024-05-01T22:30", "Europe/Berlin", 5));
    ASSERT_TRUE(daily.ok());
    SyncBoth(alex_, sam_);
    const std::vector<std::string> dates = {"2024-05-03T19:00", "2024-05-10T19:00",
                                            "2024-05-17T19:00"};
    const std::vector<std::string> days = {"2024-05-08T22:30", "2024-05-09T22:30",
                                           "2024-05-10T22:30"};
    for (int step = 0; step < 60; ++step) {
      Device& d = rng() % 2 ? alex_ : sam_;
      d.clock().Advance(static_cast<int64_t>(rng() % 4'000'000) - 1'000'000);
      const bool on_date = rng() % 2;
      const std::string& id = on_date ? date : *daily;
      const std::string at = on_date ? dates[rng() % dates.size()] : days[rng() % days.size()];
      Result<OccurrenceView> r = Status::Internal("no step");
      switch (rng() % 9) {
        case 0:
        case 1:
          r = d.rituals->MarkDone(id, Arg(at), "note " + std::to_string(step), rng() % 6);
          break;
        case 2:
          r = d.rituals->Undo(id, Arg(at));
          break;
        case 3:
          r = d.rituals->Skip(id, Arg(at), "reason " + std::to_string(step));
          break;
        case 4: {
          auto to = Local(at);
          to.hour = static_cast<int>(8 + rng() % 12);
          r = d.rituals->Move(id, Arg(at), cal::DateTimeArg{to, std::nullopt});
          break;
        }
        case 5:
          r = d.rituals->Restore(id, Arg(at));
          break;
        case 6: {
          RitualEdit edit;
          edit.title = "Title " + std::to_string(step);
          Status s = d.rituals->Edit(id, edit);
          EXPECT_TRUE(s.ok()) << s.ToString();
          continue;
        }
        default:
          Push(&d == &alex_ ? sam_ : alex_, d, 1 + rng() % 5, 1 + rng() % 3);
          continue;
      }
      // A move elsewhere leaves the rule time free, so a later step may not
      // find an occurrence there; that is the only acceptable failure.
      EXPECT_TRUE(r.ok() || r.status().code() == StatusCode::kNotFound) << r.status().ToString();
    }
    SyncBoth(alex_, sam_);
    SyncBoth(alex_, sam_);
    ExpectConverged(may_june_);
    auto a = alex_.rituals->Get(date);
    auto b = sam_.rituals->Get(date);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->ritual, b->ritual);
  }
}

}  // namespace
}  // namespace kindred::rituals_testing
