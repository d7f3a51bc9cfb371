// Sync over the real transport on loopback (docs/performance.md, "Sync").
//
//   build/bin/sync_bench                                  # everything
//   build/bin/sync_bench --benchmark_filter=InitialSync   # one of them
//
// Two devices in one process, each with its own event loop thread and its
// own pool for engine calls, as two `kindred` processes would have. Every
// store writes durably (fsync), and every batch is verified before it is
// stored.
// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "bench/common/sync_node.h"
#include "engine/sync/client.h"
#include "engine/sync/codec.h"
#include "engine/sync/server.h"
#include "kindred/engine.h"
#include "kindred/v1/store.pb.h"

namespace kindred::sync {
namespace {

using bench::EntryText;
using bench::Link;
using bench::Node;

constexpr int kEntries = 100000;

Mutation Entry(std::mt19937_64& rng) {
  return Mutation::Create("journal",
                          {{"text", EntryText(rng)}, {"shared", false}, {"mood", int64_t{3}}});
}

// CPU time of the whole process (every thread, user and system), in
// seconds. On a shared machine, wall time depends on the other load; the
// CPU time each entry costs does not, much.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Minor page faults of the whole process so far: first touches of memory
// the process got fresh from the kernel. They cost CPU that shows up
// nowhere else in a profile, and unlike time they barely move with the
// other load on the machine.
long ProcessPageFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// What 100k entries weigh, from the full device's log.
struct Weights {
  uint64_t ops = 0;
  uint64_t text_bytes = 0;        // the entries' text, as typed
  uint64_t payload_bytes = 0;     // plaintext OpPayload bytes (what is encrypted)
  uint64_t ciphertext_bytes = 0;  // payload + 16-byte tag each
  uint64_t envelope_bytes = 0;    // OpEnvelopes as stored with prev_hash (the naive wire form)
};

Weights Weigh(Engine& engine, const SpaceId& space, const VersionVector& from) {
  Weights w;
  Status s = engine.ReadMissing(space, from, 2000, [&](OpBatch&& batch) {
    for (const std::string& bytes : batch.ops) {
      v1::OpEnvelope op;
      if (!op.ParseFromString(bytes)) std::abort();
      ++w.ops;
      w.envelope_bytes += bytes.size();
      w.ciphertext_bytes += op.ciphertext().size();
      w.payload_bytes += op.ciphertext().size() - 16;
    }
    return true;
  });
  if (!s.ok()) std::abort();
  w.text_bytes = w.ops * 300;
  return w;
}

// A device with 100k entries of ~300 bytes, written in commits of 1000.
void Fill(Node& node) {
  std::mt19937_64 rng(42);
  const SpaceId space = node.engine->device().personal_space;
  for (int b = 0; b < kEntries / 1000; ++b) {
    std::vector<Mutation> batch;
    for (int i = 0; i < 1000; ++i) batch.push_back(Entry(rng));
    if (!node.engine->Commit(space, batch).ok()) std::abort();
  }
}

// The full device for the initial sync and the pieces: made once and
// serving on loopback for the whole run. It is never shut down (its threads
// run until the process exits); its home is removed at exit.
struct Full {
  Node* node;
  HostPort address;
};
struct RemoveAtExit {
  std::string path;
  ~RemoveAtExit() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};
Full& FullDevice() {
  static Full full = [] {
    auto* n = new Node("full");
    Fill(*n);
    HostPort address = n->Serve();
    return Full{n, address};
  }();
  static RemoveAtExit cleanup{full.node->home};
  return full;
}

void BM_InitialSync100kEntries(benchmark::State& state) {
  Node& full = *FullDevice().node;
  const HostPort address = FullDevice().address;
  const SpaceId space = full.engine->device().personal_space;
  const Weights w = Weigh(*full.engine, space, {});
  DialResult last;
  double cpu = 0;
  long faults = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto fresh = std::make_unique<Node>("fresh");
    Link(*full.engine, *fresh->engine);
    state.ResumeTiming();
    const double cpu_before = ProcessCpuSeconds();
    const long faults_before = ProcessPageFaults();
    last = fresh->Dial(address);
    cpu += ProcessCpuSeconds() - cpu_before;
    faults += ProcessPageFaults() - faults_before;
    state.PauseTiming();
    if (last.session.reason != EndReason::kCompleted || last.session.stats.ops_received != w.ops) {
      // Google Benchmark cannot skip once timing is paused: say why, and stop.
      std::fprintf(stderr, "initial sync failed after %llu of %llu ops: %s\n",
                   static_cast<unsigned long long>(last.session.stats.ops_received),
                   static_cast<unsigned long long>(w.ops), last.status.ToString().c_str());
      std::abort();
    }
    fresh.reset();
    state.ResumeTiming();
  }
  const double wire =
      static_cast<double>(last.session.stats.bytes_in + last.session.stats.bytes_out);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(w.ops));
  state.counters["wire_bytes"] = wire;
  state.counters["payload_bytes"] = static_cast<double>(w.payload_bytes);
  state.counters["wire_per_payload"] = wire / static_cast<double>(w.payload_bytes);
  state.counters["wire_per_text"] = wire / static_cast<double>(w.text_bytes);
  state.counters["naive_envelopes_per_payload"] =
      static_cast<double>(w.envelope_bytes) / static_cast<double>(w.payload_bytes);
  // Both devices' threads together, per entry.
  state.counters["cpu_us_per_entry"] =
      cpu * 1e6 / static_cast<double>(state.iterations() * static_cast<int64_t>(w.ops));
  state.counters["page_faults_per_sync"] =
      static_cast<double>(faults) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_InitialSync100kEntries)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// Both devices hold 100k entries; 10 new ones on one of them. (A pair of
// its own, so that the rosters hold just the two devices.)
void BM_DeltaSync10NewOf100k(benchmark::State& state) {
  auto owner = std::make_unique<Node>("owner");
  Fill(*owner);
  Node& full = *owner;
  const HostPort address = full.Serve();
  const SpaceId space = full.engine->device().personal_space;
  auto other = std::make_unique<Node>("other");
  Link(*full.engine, *other->engine);
  if (other->Dial(address).session.reason != EndReason::kCompleted) std::abort();
  std::mt19937_64 rng(7);
  DialResult last;
  Weights w;
  for (auto _ : state) {
    state.PauseTiming();
    const VersionVector before = *full.engine->Versions(space);
    std::vector<Mutation> ten;
    for (int i = 0; i < 10; ++i) ten.push_back(Entry(rng));
    if (!full.engine->Commit(space, ten).ok()) std::abort();
    w = Weigh(*full.engine, space, before);
    state.ResumeTiming();
    last = other->Dial(address);
    if (last.session.stats.ops_received != 10) state.SkipWithError("not 10 ops");
  }
  const double wire =
      static_cast<double>(last.session.stats.bytes_in + last.session.stats.bytes_out);
  state.counters["wire_bytes"] = wire;
  state.counters["payload_bytes"] = static_cast<double>(w.payload_bytes);
  state.counters["bytes_over_payload"] = wire - static_cast<double>(w.payload_bytes);
  state.counters["batches_received"] = static_cast<double>(last.session.stats.batches_received);
}
BENCHMARK(BM_DeltaSync10NewOf100k)->Unit(benchmark::kMillisecond)->Iterations(20)->UseRealTime();

// A live session; one entry committed on A at a time; the time until B has
// stored it durably (B's change listener fires after its write).
void BM_LivePushLatency(benchmark::State& state) {
  auto a = std::make_unique<Node>("a");
  auto b = std::make_unique<Node>("b");
  Link(*a->engine, *b->engine);
  const HostPort where = a->Serve();
  std::mutex mu;
  std::condition_variable cv;
  uint64_t stored = 0;
  const uint64_t handle = b->engine->AddChangeListener([&](const SpaceId&) {
    std::lock_guard<std::mutex> lock(mu);
    ++stored;
    cv.notify_all();
  });
  std::promise<void> live;
  bool announced = false;
  DialOptions options;
  options.session.live = true;
  std::atomic<Session*> session{nullptr};
  options.on_session = [&](Session* s) {
    session = s;
    if (s)
      s->set_on_caught_up([&] {
        if (!announced) live.set_value();
        announced = true;
      });
  };
  std::promise<DialResult> ended;
  asio::co_spawn(
      b->io,
      [&]() -> asio::awaitable<void> {
        ended.set_value(co_await sync::Dial(*b->engine, b->pool.get_executor(), where, options));
      },
      asio::detached);
  live.get_future().wait();
  const SpaceId space = a->engine->device().personal_space;
  std::mt19937_64 rng(9);
  std::vector<double> micros;
  for (auto _ : state) {
    uint64_t target;
    {
      std::lock_guard<std::mutex> lock(mu);
      target = stored + 1;
    }
    const auto start = std::chrono::steady_clock::now();
    if (!a->engine->Commit(space, {Entry(rng)}).ok()) std::abort();
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stored >= target; });
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  b->engine->RemoveChangeListener(handle);
  asio::post(b->io, [&] {
    if (Session* s = session.load()) s->Stop();
  });
  ended.get_future().wait();
  std::sort(micros.begin(), micros.end());
  auto pct = [&](double p) { return micros[static_cast<size_t>(p * (micros.size() - 1))]; };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p90_us"] = pct(0.90);
  state.counters["p99_us"] = pct(0.99);
  state.counters["max_us"] = micros.back();
}
BENCHMARK(BM_LivePushLatency)->Unit(benchmark::kMicrosecond)->Iterations(2000)->UseRealTime();

// The pieces, without the network: encoding what the full device sends,
// rebuilding it, and the receiver's verify-and-store (Engine::Ingest).
void BM_EncodeAndRebuild100k(benchmark::State& state) {
  Node& full = *FullDevice().node;
  const SpaceId space = full.engine->device().personal_space;
  std::vector<OpBatch> batches;
  if (!full.engine
           ->ReadMissing(space, {}, 2000,
                         [&](OpBatch&& b) {
                           batches.push_back(std::move(b));
                           return true;
                         })
           .ok()) {
    std::abort();
  }
  for (auto _ : state) {
    RunBuilder builder;
    KnownHeads sender_view, receiver_view;
    for (const OpBatch& batch : batches) {
      std::vector<EncodedPart> parts;
      if (!EncodeBatch(batch, 2000, 1 << 20, &sender_view, &parts).ok()) std::abort();
      for (const EncodedPart& part : parts) {
        auto message = ParseMessage(part.bytes);
        // As the session does: the part's ciphertexts move into the run.
        if (!message.ok() || !builder.Add(std::move(*message->mutable_batch()), receiver_view).ok())
          std::abort();
      }
      SignedRun run = builder.Take();
      receiver_view.last_run = LogHead{run.batch.first_seq + run.batch.size() - 1, run.head_hash};
      benchmark::DoNotOptimize(run);
    }
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
}
BENCHMARK(BM_EncodeAndRebuild100k)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_Ingest100k(benchmark::State& state) {
  Node& full = *FullDevice().node;
  const SpaceId space = full.engine->device().personal_space;
  std::vector<OpBatch> batches;
  if (!full.engine
           ->ReadMissing(space, {}, 2000,
                         [&](OpBatch&& b) {
                           batches.push_back(std::move(b));
                           return true;
                         })
           .ok()) {
    std::abort();
  }
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto fresh = std::make_unique<Node>("fresh");
    Link(*full.engine, *fresh->engine);
    state.ResumeTiming();
    const double cpu_before = ProcessCpuSeconds();
    for (const OpBatch& batch : batches) {
      if (!fresh->engine->Ingest(batch).ok()) std::abort();
    }
    cpu += ProcessCpuSeconds() - cpu_before;
    state.PauseTiming();
    fresh.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
  state.counters["cpu_us_per_entry"] =
      cpu * 1e6 / static_cast<double>(state.iterations() * kEntries);
}
BENCHMARK(BM_Ingest100k)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace
}  // namespace kindred::sync

BENCHMARK_MAIN();
