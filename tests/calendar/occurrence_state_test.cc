// The merge of occurrence facts: the rules one by one, then the property
// that makes sync safe: any order, any duplicates, same state.
#include "engine/calendar/occurrence_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace kindred::calendar {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DeviceId Device(uint8_t n) {
  std::array<uint8_t, DeviceId::kBytes> bytes{};
  bytes[0] = n;
  return DeviceId(bytes);
}

constexpr UnixSeconds kKey = 1711861200;  // 2024-03-31T07:00+02:00

OccurrenceFact Fact(FactKind kind, const std::string& member, uint64_t hlc, uint8_t device) {
  OccurrenceFact f;
  f.ritual_id = "walk";
  f.key = kKey;
  f.kind = kind;
  f.member = member;
  f.hlc = hlc;
  f.device = Device(device);
  return f;
}

OccurrenceFact Done(const std::string& member, uint64_t hlc, uint8_t device,
                    const std::string& note = "", int mood = 0) {
  OccurrenceFact f = Fact(FactKind::kDone, member, hlc, device);
  f.at = kKey + 1800;
  f.text = note;
  f.mood = mood;
  return f;
}

OccurrenceFact Moved(const std::string& member, uint64_t hlc, uint8_t device, UnixSeconds to) {
  OccurrenceFact f = Fact(FactKind::kMoved, member, hlc, device);
  f.at = to;
  return f;
}

OccurrenceFact Skipped(const std::string& member, uint64_t hlc, uint8_t device,
                       const std::string& reason) {
  OccurrenceFact f = Fact(FactKind::kSkipped, member, hlc, device);
  f.text = reason;
  return f;
}

std::vector<std::string> DoneMembers(const OccurrenceState& s) {
  std::vector<std::string> out;
  for (const Completion& c : s.Completions()) out.push_back(c.member);
  return out;
}

TEST(OccurrenceState, BothPartnersMarkingTheSameOccurrenceDoneBothCount) {
  OccurrenceState s;
  s.Apply(Done("alex", 10, 1, "lovely", 5));
  s.Apply(Done("sam", 11, 2, "", 4));
  EXPECT_THAT(DoneMembers(s), ElementsAre("alex", "sam"));
  EXPECT_EQ(s.Completions()[0].note, "lovely");
  EXPECT_EQ(s.Completions()[0].mood, 5);
  EXPECT_EQ(s.schedule(), OccurrenceState::Schedule::kAsPlanned);
}

TEST(OccurrenceState, OneMemberCountsOnceWithTheirLatestNote) {
  OccurrenceState s;
  s.Apply(Done("alex", 10, 1, "first"));
  s.Apply(Done("alex", 12, 2, "second"));  // from the other phone
  s.Apply(Done("alex", 11, 1, "between"));
  ASSERT_EQ(s.Completions().size(), 1u);
  EXPECT_EQ(s.Completions()[0].note, "second");
}

TEST(OccurrenceState, AMoveAndACompletionFromDifferentPartnersBothSurvive) {
  OccurrenceState s;
  s.Apply(Moved("sam", 20, 2, kKey + 3600));
  s.Apply(Done("alex", 15, 1));
  EXPECT_THAT(DoneMembers(s), ElementsAre("alex"));
  EXPECT_EQ(s.schedule(), OccurrenceState::Schedule::kMoved);
  ASSERT_TRUE(s.Override().has_value());
  EXPECT_EQ(s.Override()->moved_to, kKey + 3600);
}

TEST(OccurrenceState, TheLatestMoveWinsByClockThenByDevice) {
  OccurrenceState s;
  s.Apply(Moved("alex", 30, 1, kKey + 100));
  s.Apply(Moved("sam", 31, 2, kKey + 200));
  EXPECT_EQ(s.Override()->moved_to, kKey + 200);
  s.Apply(Moved("alex", 31, 3, kKey + 300));  // same clock, higher device id
  EXPECT_EQ(s.Override()->moved_to, kKey + 300);
  s.Apply(Moved("sam", 29, 9, kKey + 400));  // older
  EXPECT_EQ(s.Override()->moved_to, kKey + 300);
  EXPECT_EQ(s.schedule_fact()->member, "alex");
}

TEST(OccurrenceState, ALaterSkipOrRestoreDecidesTheSchedule) {
  OccurrenceState s;
  s.Apply(Moved("alex", 30, 1, kKey + 100));
  s.Apply(Skipped("sam", 31, 2, "rain"));
  EXPECT_EQ(s.schedule(), OccurrenceState::Schedule::kSkipped);
  EXPECT_EQ(s.Override()->reason, "rain");
  s.Apply(Fact(FactKind::kRestored, "alex", 32, 1));
  EXPECT_EQ(s.schedule(), OccurrenceState::Schedule::kAsPlanned);
  EXPECT_FALSE(s.Override().has_value());
}

TEST(OccurrenceState, UndoneTakesBackOnlyThatMembersCompletion) {
  OccurrenceState s;
  s.Apply(Done("alex", 10, 1));
  s.Apply(Done("sam", 10, 2));
  s.Apply(Fact(FactKind::kUndone, "alex", 11, 1));
  EXPECT_THAT(DoneMembers(s), ElementsAre("sam"));
  EXPECT_FALSE(s.IsDoneBy("alex"));
  s.Apply(Done("alex", 9, 1));  // an older done arriving late changes nothing
  EXPECT_FALSE(s.IsDoneBy("alex"));
  s.Apply(Done("alex", 12, 1));
  EXPECT_TRUE(s.IsDoneBy("alex"));
}

TEST(OccurrenceStates, KeepsOccurrencesApartAndGivesOverridesPerRitual) {
  OccurrenceStates states;
  ASSERT_TRUE(states.Apply(Done("alex", 1, 1)).ok());
  OccurrenceFact other = Skipped("sam", 2, 2, "away");
  other.key = kKey + 86400;
  ASSERT_TRUE(states.Apply(other).ok());
  OccurrenceFact elsewhere = Moved("sam", 3, 2, 5000);
  elsewhere.ritual_id = "dinner";
  ASSERT_TRUE(states.Apply(elsewhere).ok());
  EXPECT_EQ(states.size(), 3u);
  ASSERT_NE(states.Find("walk", kKey), nullptr);
  EXPECT_TRUE(states.Find("walk", kKey)->IsDoneBy("alex"));
  EXPECT_EQ(states.Find("walk", kKey + 1), nullptr);
  const OccurrenceOverrides walk = states.OverridesFor("walk");
  ASSERT_EQ(walk.size(), 1u);
  EXPECT_EQ(walk.at(kKey + 86400).kind, OccurrenceOverride::Kind::kSkipped);
  EXPECT_EQ(states.AllOverrides().at("dinner").at(kKey).moved_to, 5000);
}

TEST(OccurrenceStates, RejectsMalformedFactsNamingTheField) {
  OccurrenceStates states;
  OccurrenceFact mood = Done("alex", 1, 1, "", 6);
  EXPECT_THAT(states.Apply(mood).message(), HasSubstr("mood 6"));
  EXPECT_THAT(states.Apply(Done("", 1, 1)).message(), HasSubstr("member is empty"));
  OccurrenceFact no_ritual = Done("alex", 1, 1);
  no_ritual.ritual_id.clear();
  EXPECT_THAT(states.Apply(no_ritual).message(), HasSubstr("ritual_id"));
  OccurrenceFact long_note = Done("alex", 1, 1, std::string(kMaxFactTextBytes + 1, 'x'));
  EXPECT_THAT(states.Apply(long_note).message(), HasSubstr("longer than"));
  OccurrenceFact moved_with_note = Moved("alex", 1, 1, 5);
  moved_with_note.text = "why";
  EXPECT_THAT(states.Apply(moved_with_note).message(), HasSubstr("only the new start"));
  EXPECT_EQ(states.size(), 0u);
}

// A random fact about one of a few occurrences, from one of two members on
// one of three devices, with clocks that collide on purpose.
OccurrenceFact RandomFact(std::mt19937& rng) {
  const char* members[] = {"alex", "sam"};
  const std::string member = members[rng() % 2];
  const uint64_t hlc = rng() % 6;
  const uint8_t device = static_cast<uint8_t>(rng() % 3);
  OccurrenceFact f;
  switch (rng() % 5) {
    case 0:
      f = Done(member, hlc, device, rng() % 2 ? "note" : "", static_cast<int>(rng() % 6));
      break;
    case 1:
      f = Fact(FactKind::kUndone, member, hlc, device);
      break;
    case 2:
      f = Skipped(member, hlc, device, rng() % 2 ? "rain" : "tired");
      break;
    case 3:
      f = Moved(member, hlc, device, kKey + static_cast<UnixSeconds>(rng() % 4) * 3600);
      break;
    default:
      f = Fact(FactKind::kRestored, member, hlc, device);
      break;
  }
  f.key = kKey + static_cast<UnixSeconds>(rng() % 3) * 86400;
  f.ritual_id = rng() % 4 ? "walk" : "dinner";
  return f;
}

TEST(OccurrenceStatesProperty, TheSameFactsInAnyOrderWithDuplicatesGiveTheSameState) {
  const uint32_t seed = 424242;
  std::mt19937 rng(seed);
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", round " + std::to_string(round));
    std::vector<OccurrenceFact> facts(1 + rng() % 25);
    for (OccurrenceFact& f : facts) f = RandomFact(rng);

    OccurrenceStates reference;
    for (const OccurrenceFact& f : facts) ASSERT_TRUE(reference.Apply(f).ok());

    for (int order = 0; order < 8; ++order) {
      // Shuffle, and deliver some facts again (sync may repeat itself).
      std::vector<OccurrenceFact> delivered = facts;
      const size_t repeats = rng() % (facts.size() + 1);
      for (size_t i = 0; i < repeats; ++i) delivered.push_back(facts[rng() % facts.size()]);
      std::shuffle(delivered.begin(), delivered.end(), rng);
      OccurrenceStates got;
      for (const OccurrenceFact& f : delivered) ASSERT_TRUE(got.Apply(f).ok());
      ASSERT_EQ(got, reference) << "order " << order;
      ASSERT_EQ(got.AllOverrides(), reference.AllOverrides());
    }

    // Two devices that each saw part of the facts, then merged, agree too.
    std::vector<OccurrenceFact> shuffled = facts;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const size_t split = rng() % (shuffled.size() + 1);
    OccurrenceStates left, right;
    for (size_t i = 0; i < shuffled.size(); ++i) {
      ASSERT_TRUE((i < split ? left : right).Apply(shuffled[i]).ok());
    }
    OccurrenceStates left_then_right = left;
    left_then_right.MergeFrom(right);
    right.MergeFrom(left);
    ASSERT_EQ(left_then_right, reference);
    ASSERT_EQ(right, reference);
  }
}

}  // namespace
}  // namespace kindred::calendar
