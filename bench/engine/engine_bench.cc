// Local commit throughput through the public API (docs/performance.md).
//
//   build/bin/engine_bench --benchmark_filter=Commit
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <thread>

#include "bench/common/devices.h"
#include "kindred/engine.h"

namespace kindred {
namespace {

using bench::EntryText;
using bench::TempHome;

std::unique_ptr<Engine> NewEngine(const std::string& home, bool sync) {
  return bench::NewEngine(home, "bench", sync);
}

// 100k entries of 300 bytes in batches of 1000, each batch one durable commit.
void BM_Commit100kEntriesInBatchesOf1000(benchmark::State& state) {
  std::mt19937_64 rng(42);
  std::vector<std::string> texts;
  for (int i = 0; i < 100000; ++i) texts.push_back(EntryText(rng));
  for (auto _ : state) {
    state.PauseTiming();
    std::string home = TempHome();
    auto engine = NewEngine(home, /*sync=*/true);
    SpaceId space = engine->device().personal_space;
    state.ResumeTiming();
    for (int b = 0; b < 100; ++b) {
      std::vector<Mutation> batch;
      batch.reserve(1000);
      for (int i = 0; i < 1000; ++i) {
        batch.push_back(Mutation::Create(
            "journal", {{"text", texts[b * 1000 + i]}, {"shared", false}, {"mood", int64_t{3}}}));
      }
      auto r = engine->Commit(space, batch);
      if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    }
    state.PauseTiming();
    engine.reset();
    std::filesystem::remove_all(home);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * 100000);
  state.SetBytesProcessed(state.iterations() * 100000 * 300);
}
BENCHMARK(BM_Commit100kEntriesInBatchesOf1000)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// Single-entry durable commits from several threads: fsyncs are shared.
void BM_DurableSingleEntryCommits(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kPerThread = 200;
  std::mt19937_64 rng(7);
  std::string text = EntryText(rng);
  for (auto _ : state) {
    state.PauseTiming();
    std::string home = TempHome();
    auto engine = NewEngine(home, /*sync=*/true);
    SpaceId space = engine->device().personal_space;
    state.ResumeTiming();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) {
          auto r = engine->Commit(space, {Mutation::Create("journal", {{"text", text}})});
          if (!r.ok()) std::abort();
        }
      });
    }
    for (auto& w : workers) w.join();
    state.PauseTiming();
    engine.reset();
    std::filesystem::remove_all(home);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * threads * kPerThread);
}
BENCHMARK(BM_DurableSingleEntryCommits)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

}  // namespace
}  // namespace kindred

BENCHMARK_MAIN();
