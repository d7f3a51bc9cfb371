// Calendar benchmarks. The goal: expanding a year of occurrences for 100
// rituals (a realistic mix) takes under 50 ms.
//
//   build-cal/bin/calendar_bench --benchmark_filter=ExpandYear
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/calendar/calendar.h"
#include "engine/calendar/occurrence_state.h"

namespace kindred::calendar {
namespace {

Calendar& TheCalendar() {
  static Calendar* calendar = [] {
    auto made = Calendar::Create();
    if (!made.ok()) {
      std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
      std::abort();
    }
    return std::move(made).value().release();
  }();
  return *calendar;
}

CivilTime At(int year, int month, int day, int hour, int minute) {
  return CivilTime{year, month, day, hour, minute, 0};
}

// 100 rituals as couples would have them, started at various times in the
// past five years, in a handful of zones: 40 daily check-ins (some on
// weekdays only), 30 weekly or fortnightly date nights, 20 monthly (first
// Sunday, last Friday, a day of the month, last weekday) and 10 yearly
// (anniversaries, one on February 29).
std::vector<Ritual> MixOf100() {
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
  std::vector<Ritual> out;
  int n = 0;
  for (const Kind& kind : kinds) {
    for (int i = 0; i < kind.count; ++i, ++n) {
      Ritual r;
      r.id = "ritual-" + std::to_string(n);
      r.title = "Ritual " + std::to_string(n);
      RuleSegment s;
      const bool leap = std::string(kind.rrule).find("BYMONTHDAY=29") != std::string::npos;
      s.start = leap ? At(2020, 2, 29, 19, 0)
                     : At(2019 + n % 6, 1 + n % 12, 1 + n % 28, 6 + n % 15, (n % 4) * 15);
      s.zone = zones[n % 5];
      s.rrule = kind.rrule;
      s.duration = std::chrono::minutes(kind.minutes);
      r.segments.push_back(s);
      out.push_back(std::move(r));
    }
  }
  return out;
}

const TimeWindow kYear2025{CivilAsIfUtc(At(2025, 1, 1, 0, 0)), CivilAsIfUtc(At(2026, 1, 1, 0, 0))};

void BM_ExpandYearOf100Rituals(benchmark::State& state) {
  const std::vector<Ritual> rituals = MixOf100();
  for (const Ritual& r : rituals) {
    Status s = TheCalendar().ValidateRitual(r);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
  }
  size_t occurrences = 0;
  for (auto _ : state) {
    auto got = TheCalendar().ExpandAll(rituals, {}, kYear2025, {});
    if (!got.ok()) {
      state.SkipWithError(got.status().ToString().c_str());
      return;
    }
    occurrences = got->size();
    benchmark::DoNotOptimize(got->data());
  }
  state.counters["occurrences"] = static_cast<double>(occurrences);
}
BENCHMARK(BM_ExpandYearOf100Rituals)->Unit(benchmark::kMillisecond);

void BM_ExpandYearOfOneDailyRitual(benchmark::State& state) {
  std::vector<Ritual> rituals = MixOf100();
  rituals.resize(1);
  for (auto _ : state) {
    auto got = TheCalendar().ExpandAll(rituals, {}, kYear2025, {});
    benchmark::DoNotOptimize(got.ok());
  }
}
BENCHMARK(BM_ExpandYearOfOneDailyRitual)->Unit(benchmark::kMicrosecond);

void BM_NearestOccurrence(benchmark::State& state) {
  const std::vector<Ritual> rituals = MixOf100();
  const UnixSeconds t = kYear2025.from + 100 * 86400;
  for (auto _ : state) {
    for (const Ritual& r : rituals) {
      auto got = TheCalendar().Nearest(r, {}, t);
      benchmark::DoNotOptimize(got.ok());
    }
  }
}
BENCHMARK(BM_NearestOccurrence)->Unit(benchmark::kMillisecond);

void BM_ExportThenImport100Rituals(benchmark::State& state) {
  const std::vector<Ritual> rituals = MixOf100();
  for (auto _ : state) {
    auto ics = TheCalendar().ExportIcs(rituals, {}, ExportOptions{kYear2025.from});
    if (!ics.ok()) {
      state.SkipWithError(ics.status().ToString().c_str());
      return;
    }
    auto back = TheCalendar().ImportIcs(*ics, {});
    benchmark::DoNotOptimize(back.ok());
  }
}
BENCHMARK(BM_ExportThenImport100Rituals)->Unit(benchmark::kMillisecond);

void BM_MergeFacts(benchmark::State& state) {
  std::vector<OccurrenceFact> facts;
  for (int i = 0; i < 10000; ++i) {
    OccurrenceFact f;
    f.ritual_id = "ritual-" + std::to_string(i % 100);
    f.key = kYear2025.from + (i % 365) * 86400;
    f.kind = i % 3 == 0 ? FactKind::kMoved : FactKind::kDone;
    f.member = i % 2 ? "alex" : "sam";
    f.hlc = static_cast<uint64_t>(i);
    f.at = f.key + 60;
    facts.push_back(f);
  }
  for (auto _ : state) {
    OccurrenceStates states;
    for (const OccurrenceFact& f : facts) states.Apply(f).IgnoreError();
    benchmark::DoNotOptimize(states.size());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(facts.size()));
}
BENCHMARK(BM_MergeFacts)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kindred::calendar

BENCHMARK_MAIN();
