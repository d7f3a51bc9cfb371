// What the engine adds on top of calendar expansion for `ritual upcoming`
// and `today`: reading the rituals and the facts near the window from the
// store, merging them, and building the views. A home with the 100 rituals
// of bench/calendar (40 daily, 30 weekly or fortnightly, 20 monthly, 10
// yearly, five zones) and a year of history: every occurrence of 2025 marked
// done (about 15 000 fact records), plus skips and moves.
//
//   cmake --build build -j2 --target rituals_bench
//   build/bin/rituals_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/calendar/calendar.h"
#include "kindred/engine.h"
#include "kindred/rituals.h"

namespace kindred {
namespace {

namespace cal = calendar;

cal::CivilTime At(int year, int month, int day, int hour, int minute) {
  return cal::CivilTime{year, month, day, hour, minute, 0};
}

// The mix of bench/calendar/calendar_bench.cc, as NewRitual.
std::vector<NewRitual> MixOf100() {
  const char* zones[] = {"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney",
                         "America/Sao_Paulo"};
  struct Kind {
    const char* rrule;
    int count;
    int minutes;
  };
  const Kind kinds[] = {
      {"FREQ=DAILY", 30, 15},
      {"FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", 10, 10},
      {"FREQ=WEEKLY;BYDAY=FR", 15, 180},
      {"FREQ=WEEKLY;INTERVAL=2;BYDAY=SA", 10, 240},
      {"FREQ=WEEKLY;BYDAY=SU,WE", 5, 60},
      {"FREQ=MONTHLY;BYDAY=1SU", 6, 120},
      {"FREQ=MONTHLY;BYDAY=-1FR", 5, 150},
      {"FREQ=MONTHLY;BYMONTHDAY=15", 5, 60},
      {"FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", 4, 30},
      {"FREQ=YEARLY", 9, 240},
      {"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", 1, 240},
  };
  std::vector<NewRitual> out;
  int n = 0;
  for (const Kind& kind : kinds) {
    for (int i = 0; i < kind.count; ++i, ++n) {
      NewRitual r;
      r.title = "Ritual " + std::to_string(n);
      const bool leap = std::string(kind.rrule).find("BYMONTHDAY=29") != std::string::npos;
      r.rule.start = leap ? At(2020, 2, 29, 19, 0)
                          : At(2019 + n % 6, 1 + n % 12, 1 + n % 28, 6 + n % 15, (n % 4) * 15);
      r.rule.zone = zones[n % 5];
      r.rule.rrule = kind.rrule;
      r.rule.duration = std::chrono::minutes(kind.minutes);
      out.push_back(std::move(r));
    }
  }
  return out;
}

const cal::TimeWindow kYear2025{cal::CivilAsIfUtc(At(2025, 1, 1, 0, 0)),
                                cal::CivilAsIfUtc(At(2026, 1, 1, 0, 0))};
const cal::TimeWindow kWeek{cal::CivilAsIfUtc(At(2025, 12, 1, 0, 0)),
                            cal::CivilAsIfUtc(At(2025, 12, 8, 0, 0))};
const cal::TimeWindow kDay{cal::CivilAsIfUtc(At(2025, 12, 3, 0, 0)),
                           cal::CivilAsIfUtc(At(2025, 12, 4, 0, 0))};

// The home, built once: 100 rituals and a year of facts.
struct Home {
  std::string dir;
  std::unique_ptr<cal::Calendar> calendar;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Rituals> rituals;
  std::vector<std::string> ids;
  size_t facts = 0;
  std::string error;

  Home() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "kindred-rituals-bench-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    auto made = cal::Calendar::Create();
    if (!made.ok()) {
      error = made.status().ToString();
      return;
    }
    calendar = std::move(*made);
    InitOptions init;
    init.engine.home = dir + "/home";
    init.engine.sync_writes = false;
    init.member_name = "Alex";
    auto e = Engine::Init(init);
    if (!e.ok()) {
      error = e.status().ToString();
      return;
    }
    engine = std::move(*e);
    rituals = std::make_unique<Rituals>(*engine, *calendar, Env::System().clock());
    for (const NewRitual& r : MixOf100()) {
      auto id = rituals->Add(r);
      if (!id.ok()) {
        error = id.status().ToString();
        return;
      }
      ids.push_back(*id);
    }
    auto year = rituals->Occurrences(kYear2025);
    if (!year.ok()) {
      error = year.status().ToString();
      return;
    }
    for (size_t i = 0; i < year->size(); ++i) {
      const cal::Occurrence& o = (*year)[i].occurrence;
      const cal::DateTimeArg at{cal::CivilFromSecondsAsIfUtc(o.key), 0};
      Result<OccurrenceView> r =
          i % 50 == 7 ? rituals->Skip(o.ritual_id, at, "away")
          : i % 50 == 9
              ? rituals->Move(o.ritual_id, at, {cal::CivilFromSecondsAsIfUtc(o.key + 3600), 0})
              : rituals->MarkDone(o.ritual_id, at, "kept", 4);
      if (!r.ok()) {
        error = r.status().ToString();
        return;
      }
      ++facts;
    }
  }
  ~Home() {
    rituals.reset();
    engine.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Home& TheHome() {
  static Home* home = new Home();  // built on first use, for the whole run
  return *home;
}

void Occurrences(benchmark::State& state, cal::TimeWindow window) {
  Home& home = TheHome();
  if (!home.error.empty()) {
    state.SkipWithError(home.error.c_str());
    return;
  }
  size_t n = 0;
  for (auto _ : state) {
    auto got = home.rituals->Occurrences(window);
    if (!got.ok()) {
      state.SkipWithError(got.status().ToString().c_str());
      return;
    }
    n = got->size();
    benchmark::DoNotOptimize(got->data());
  }
  state.counters["occurrences"] = static_cast<double>(n);
  state.counters["facts_in_home"] = static_cast<double>(home.facts);
}

void BM_TodayOf100RitualsWithAYearOfHistory(benchmark::State& state) { Occurrences(state, kDay); }
BENCHMARK(BM_TodayOf100RitualsWithAYearOfHistory)->Unit(benchmark::kMillisecond);

void BM_UpcomingWeekOf100RitualsWithAYearOfHistory(benchmark::State& state) {
  Occurrences(state, kWeek);
}
BENCHMARK(BM_UpcomingWeekOf100RitualsWithAYearOfHistory)->Unit(benchmark::kMillisecond);

void BM_UpcomingYearOf100RitualsWithAYearOfHistory(benchmark::State& state) {
  Occurrences(state, kYear2025);
}
BENCHMARK(BM_UpcomingYearOf100RitualsWithAYearOfHistory)->Unit(benchmark::kMillisecond);

// For comparison: the calendar alone, on the same rituals, without facts.
void BM_ExpandYearOf100RitualsCalendarOnly(benchmark::State& state) {
  Home& home = TheHome();
  if (!home.error.empty()) {
    state.SkipWithError(home.error.c_str());
    return;
  }
  auto infos = home.rituals->List();
  std::vector<cal::Ritual> rituals;
  for (const auto& i : *infos) rituals.push_back(i.ritual);
  for (auto _ : state) {
    auto got = home.calendar->ExpandAll(rituals, {}, kYear2025, {});
    benchmark::DoNotOptimize(got.ok());
  }
}
BENCHMARK(BM_ExpandYearOf100RitualsCalendarOnly)->Unit(benchmark::kMillisecond);

// One `ritual done --at` in a home with a year of history, on the
// occurrences of a week in turn (a commit with no fsync: the CLI adds one).
void BM_MarkDoneWithAYearOfHistory(benchmark::State& state) {
  Home& home = TheHome();
  if (!home.error.empty()) {
    state.SkipWithError(home.error.c_str());
    return;
  }
  auto week = home.rituals->Occurrences(kWeek);
  if (!week.ok() || week->empty()) {
    state.SkipWithError("no occurrence");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    const cal::Occurrence& o = (*week)[i++ % week->size()].occurrence;
    auto r = home.rituals->MarkDone(
        o.ritual_id, cal::DateTimeArg{cal::CivilFromSecondsAsIfUtc(o.key), 0}, "again", 5);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
  }
}
BENCHMARK(BM_MarkDoneWithAYearOfHistory)->Unit(benchmark::kMillisecond)->Iterations(600);

}  // namespace
}  // namespace kindred

BENCHMARK_MAIN();
