// What the ritual tests share: devices (a temporary home, a fake clock, an
// engine and Rituals over it), the one Calendar of the test binary, linking
// two devices into one space and syncing them through the engine API (as
// tests/core/sync_test.cc does), and small builders.
#ifndef KINDRED_TESTS_RITUALS_RITUALS_FIXTURE_H_
#define KINDRED_TESTS_RITUALS_RITUALS_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/calendar/calendar.h"
#include "kindred/engine.h"
#include "kindred/rituals.h"
#include "tests/testing/fake_env.h"

namespace kindred::rituals_testing {

namespace cal = calendar;
using kindred::testing::TempDir;
using kindred::testing::TestEnv;

// The one Calendar of the test binary, as a process has one.
inline cal::Calendar& TheCalendar() {
  static cal::Calendar* calendar = [] {
    auto made = cal::Calendar::Create();
    if (!made.ok()) {
      ADD_FAILURE() << made.status().ToString();
      std::abort();
    }
    return std::move(made).value().release();
  }();
  return *calendar;
}

// "YYYY-MM-DDTHH:MM" as a CivilTime. REQUIRES: well formed.
inline cal::CivilTime Local(const std::string& text) {
  auto t = cal::ParseLocalDateTime(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : cal::CivilTime{};
}

// A --at/--to style argument: "2024-05-10T19:00" or with an offset.
inline cal::DateTimeArg Arg(const std::string& text) {
  auto a = cal::ParseDateTimeArg(text);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? *a : cal::DateTimeArg{};
}

// The instant of "YYYY-MM-DDTHH:MM" read as UTC.
inline cal::UnixSeconds Utc(const std::string& text) { return cal::CivilAsIfUtc(Local(text)); }

inline NewRitual MakeNew(const std::string& title, const std::string& rrule,
                         const std::string& start, const std::string& zone, int minutes = 30) {
  NewRitual r;
  r.title = title;
  r.rule.rrule = rrule;
  r.rule.start = Local(start);
  r.rule.zone = zone;
  r.rule.duration = std::chrono::minutes(minutes);
  return r;
}

// One device: a fresh home with a fake clock, an engine and its Rituals.
struct Device {
  TempDir dir;
  std::unique_ptr<TestEnv> env;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Rituals> rituals;

  Device(const std::string& member, uint64_t seed) : env(std::make_unique<TestEnv>(seed)) {
    InitOptions init;
    init.engine.home = dir.path();
    init.engine.env = env.get();
    init.engine.sync_writes = false;
    init.member_name = member;
    init.device_name = member + "-device";
    auto e = Engine::Init(init);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) std::abort();
    engine = std::move(*e);
    rituals = std::make_unique<Rituals>(*engine, TheCalendar(), env->clock());
  }
  SpaceId space() const { return engine->device().personal_space; }
  kindred::testing::FakeClock& clock() { return env->fake_clock(); }
  // Sets the fake clock to `utc` ("YYYY-MM-DDTHH:MM" read as UTC).
  void SetNow(const std::string& utc) { env->fake_clock().Set(Utc(utc) * 1'000'000); }
  // Everything this device has written or received: device -> seq.
  VersionVector Versions() {
    auto v = engine->Versions(space());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : VersionVector{};
  }
};

// Puts `joiner` into `owner`'s personal space, which stands in for the
// couple's shared space until pairing exists: the rituals of both devices
// then live in one space. `joiner` keeps its own member name.
inline void Link(Device& owner, Device& joiner) {
  auto grant = owner.engine->GrantSpace(owner.space(), joiner.engine->card());
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  auto joined = joiner.engine->AcceptSpace(*grant, owner.engine->card(), /*as_personal=*/true);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  ASSERT_EQ(*joined, owner.space());
}

// Sends what `from` holds of the shared space that `to` lacks, in batches of
// about `max_ops`, at most `max_batches` of them (so a sync can stop half
// way). Returns the ops that were new to `to`.
inline uint64_t Push(Device& from, Device& to, size_t max_ops = 64,
                     size_t max_batches = static_cast<size_t>(-1)) {
  auto theirs = to.engine->Versions(to.space());
  EXPECT_TRUE(theirs.ok()) << theirs.status().ToString();
  uint64_t moved = 0;
  Status s = from.engine->ReadMissing(from.space(), *theirs, max_ops, [&](OpBatch&& batch) {
    auto n = to.engine->Ingest(batch);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    moved += n.ok() ? *n : 0;
    return n.ok() && --max_batches > 0;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return moved;
}

inline void SyncBoth(Device& a, Device& b) {
  Push(a, b);
  Push(b, a);
}

// A readable, complete picture of the occurrences in `window`, to compare
// two devices: ritual, key, start, end, status, completions (member, note,
// mood), who changed the schedule and why.
inline std::string Picture(Rituals& rituals, cal::TimeWindow window) {
  auto list = rituals.Occurrences(window);
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  if (!list.ok()) return "";
  std::ostringstream out;
  for (const OccurrenceView& v : *list) {
    out << v.title << " " << v.occurrence.ritual_id << " key=" << v.occurrence.key << " "
        << cal::FormatIso8601(v.occurrence.start) << ".." << cal::FormatIso8601(v.occurrence.end)
        << " status=" << static_cast<int>(v.occurrence.status);
    for (const auto& c : v.completions) {
      out << " done(" << c.member << "," << c.note << "," << c.mood << ")";
    }
    if (!v.changed_by.empty()) out << " by=" << v.changed_by << " reason=" << v.reason;
    out << "\n";
  }
  return out.str();
}

}  // namespace kindred::rituals_testing

#endif  // KINDRED_TESTS_RITUALS_RITUALS_FIXTURE_H_
