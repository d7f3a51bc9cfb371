// Plugin overhead on the apply path (docs/performance.md, "Plugins"): the
// initial sync of 100k journal entries to a fresh device, through the real
// transport, with and without the plugin host (and the first-party plugins,
// stats among them) attached to the receiving engine as `kindred serve`
// attaches it: a change listener that marks views stale after every ingest,
// and a background thread that brings the views current once changes
// settle.
//
//   build/bin/plugin_bench
//
// Variants (the benchmark's argument): 0 without plugins; 1 with the host,
// as serve runs it (refresh 250 ms after changes settle, at most 3 s after
// the first); 2 with the host refreshing every 100 ms during the sync (a
// worst case); 3 as 1, with stats run out of process (served by
// plugin_bench_runner over frames, as a third-party library would be). One
// in ten entries is tagged "closeness", which the stats view reads.
// `catch_up_ms` is how long the views then take to become current after the
// sync (what the next `kindred stats` would wait for).
//
// BM_Command and BM_OneShotCommand measure a plugin's commands in process
// and out of process: a command against a running host (what `kindred
// serve` pays per forwarded command), and a whole one-shot command as the
// CLI runs it (registry, host, the command, teardown: for an out-of-process
// plugin, a runner started to describe it and another to run it).
// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "bench/common/sync_node.h"
#include "engine/plugin/host.h"
#include "engine/plugin/registry.h"
#include "engine/sync/client.h"
#include "engine/sync/server.h"
#include "kindred/engine.h"
#include "plugins/builtin.h"
#include "plugins/gratitude/gratitude.h"
#include "plugins/repair/repair.h"
#include "plugins/stats/stats.h"

namespace kindred {
namespace {

namespace asio = boost::asio;
using bench::EntryText;
using bench::NewEngine;
using bench::Node;
using bench::TempHome;

constexpr int kEntries = 100000;

Mutation Entry(std::mt19937_64& rng, int i) {
  std::map<std::string, Value> fields{
      {"text", EntryText(rng)}, {"shared", i % 3 == 0}, {"mood", int64_t{3}}};
  if (i % 10 == 0) fields["tags"] = std::vector<std::string>{"closeness"};
  return Mutation::Create("journal", std::move(fields));
}

// The first-party plugins, with the one named `out_of_process` (if any)
// served by plugin_bench_runner in a process of its own.
void FillRegistry(plugin::Registry& registry, const std::string& out_of_process) {
  const std::pair<const char*, kindred_plugin_entry_fn> plugins[] = {
      {"gratitude", &kindred_gratitude_plugin_entry},
      {"repair", &kindred_repair_plugin_entry},
      {"stats", &kindred_stats_plugin_entry}};
  for (const auto& [name, entry] : plugins) {
    Status s = name == out_of_process
                   ? registry.AddOutOfProcess({KINDRED_BENCH_RUNNER_PATH, name},
                                              std::string("plugin_bench_runner ") + name)
                   : registry.AddBuiltin(entry);
    if (!s.ok()) std::abort();
  }
}

struct Full {
  Node* node;
  sync::HostPort address;
};
Full& FullDevice() {
  static Full full = [] {
    auto* n = new Node("full");  // lives until the process exits, serving
    std::mt19937_64 rng(42);
    const SpaceId space = n->engine->device().personal_space;
    for (int b = 0; b < kEntries / 1000; ++b) {
      std::vector<Mutation> batch;
      for (int i = 0; i < 1000; ++i) batch.push_back(Entry(rng, b * 1000 + i));
      if (!n->engine->Commit(space, batch).ok()) std::abort();
    }
    return Full{n, n->Serve()};
  }();
  return full;
}

void BM_InitialSync100kEntries(benchmark::State& state) {
  const int variant = static_cast<int>(state.range(0));
  Node& full = *FullDevice().node;
  const sync::HostPort address = FullDevice().address;
  plugin::Registry registry;
  FillRegistry(registry, variant == 3 ? "stats" : "");
  double catch_up_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto fresh = std::make_unique<Node>("fresh");
    auto grant =
        full.engine->GrantSpace(full.engine->device().personal_space, fresh->engine->card());
    if (!grant.ok() || !fresh->engine->AcceptSpace(*grant, full.engine->card(), true).ok())
      std::abort();
    std::unique_ptr<plugin::Host> host;
    if (variant > 0) {
      plugin::HostOptions options;
      options.live = true;
      if (variant == 2) {
        options.settle = std::chrono::milliseconds(100);
        options.max_delay = std::chrono::milliseconds(100);
      }
      auto made = plugin::Host::Create(*fresh->engine, registry, std::move(options));
      if (!made.ok()) std::abort();
      host = std::move(*made);
      if (!host->CatchUp().ok()) std::abort();  // empty views, as after `kindred init`
    }
    state.ResumeTiming();
    sync::DialResult result = fresh->Dial(address);
    state.PauseTiming();
    if (result.session.reason != sync::EndReason::kCompleted)
      state.SkipWithError(result.status.ToString().c_str());
    if (host) {
      const auto start = std::chrono::steady_clock::now();
      if (!host->CatchUp().ok()) state.SkipWithError("catch up failed");
      catch_up_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      auto rows = host->ViewRows("org.kindred.stats", "weekly");
      if (!rows.ok() || rows->size() != kEntries / 10)
        state.SkipWithError("the stats view is incomplete");
    }
    host.reset();
    fresh.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
  state.counters["catch_up_ms"] = catch_up_ms / static_cast<double>(state.iterations());
}
BENCHMARK(BM_InitialSync100kEntries)
    ->ArgName("plugins")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Arg(3)
    ->Arg(0)
    ->Arg(1)
    ->Arg(3)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

// ---- Commands, in process and out of process ------------------------------------------------

constexpr int kNotes = 1000;

// A device for commands (no fsync per commit, so that the plugin's share
// shows). With `filled`, 1000 gratitude notes and 2000 closeness-tagged
// journal entries, which the benchmarks only read.
struct CommandDevice {
  std::string home = TempHome();
  std::unique_ptr<Engine> engine = NewEngine(home, "commands", /*sync_writes=*/false);
  explicit CommandDevice(bool filled) {
    if (!filled) return;
    plugin::Registry registry;
    FillRegistry(registry, "");
    auto host = plugin::Host::Create(*engine, registry, {});
    if (!host.ok()) std::abort();
    for (int i = 0; i < kNotes; ++i) {
      if (!(*host)->RunCommand("org.kindred.gratitude", Request({"gratitude", "add"},
                                                                 "a small thing you did today"))
               .ok())
        std::abort();
    }
    std::mt19937_64 rng(7);
    std::vector<Mutation> batch;
    for (int i = 0; i < 2000; ++i) batch.push_back(Entry(rng, i * 10));  // all tagged
    if (!engine->Commit(engine->device().personal_space, batch).ok()) std::abort();
  }
  ~CommandDevice() {
    engine.reset();
    std::filesystem::remove_all(home);
  }
  static plugin::v1::CommandRequest Request(std::vector<std::string> path, std::string text = "") {
    plugin::v1::CommandRequest request;
    for (auto& p : path) request.add_path(p);
    if (!text.empty()) {
      auto* a = request.add_arguments();
      a->set_name("text");
      a->add_values(text);
    }
    return request;
  }
};
CommandDevice& ReadDevice() {
  static CommandDevice* device = new CommandDevice(true);  // lives until the process exits
  return *device;
}
CommandDevice& WriteDevice() {
  static CommandDevice* device = new CommandDevice(false);
  return *device;
}

struct CommandCase {
  const char* plugin;
  std::vector<std::string> path;
  std::string text;
};
CommandCase Case(int64_t which) {
  switch (which) {
    case 0:
      return {"gratitude", {"gratitude", "add"}, "thank you for the coffee"};
    case 1:
      return {"gratitude", {"gratitude", "list"}, ""};
    default:
      return {"stats", {"stats"}, ""};
  }
}

// Arguments: the command (0 `gratitude add`, 1 `gratitude list` of 1000+
// notes, 2 `stats` over 2000 tagged entries and 1000+ notes), and where its
// plugin runs (0 in process, 1 out of process).
void BM_Command(benchmark::State& state) {
  const CommandCase c = Case(state.range(0));
  CommandDevice& device = state.range(0) == 0 ? WriteDevice() : ReadDevice();
  plugin::Registry registry;
  FillRegistry(registry, state.range(1) == 1 ? c.plugin : "");
  auto host = plugin::Host::Create(*device.engine, registry, {});
  if (!host.ok()) std::abort();
  const std::string id = std::string("org.kindred.") + c.plugin;
  if (!(*host)->CatchUp().ok()) std::abort();  // views built once, as serve keeps them
  for (auto _ : state) {
    auto r = (*host)->RunCommand(id, CommandDevice::Request(c.path, c.text));
    if (!r.ok() || r->exit_code() != 0) state.SkipWithError("the command failed");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Command)
    ->ArgNames({"command", "own_process"})
    ->ArgsProduct({{0, 1, 2}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(1.0)
    ->UseRealTime();

// A one-shot command as the CLI runs it, minus opening the engine: a
// registry filled (out of process: a runner started to describe the
// plugin), a host made, the command (out of process: a second runner
// started, create, the call, destroy), everything torn down. Argument: 0
// `gratitude add` in process; 1 the same with gratitude served by
// plugin_bench_runner; 2 `hello say`, examples/hello-plugin built as a
// library and run by kindred-plugin-runner, as every third-party plugin is.
void BM_OneShotCommand(benchmark::State& state) {
  CommandDevice& device = WriteDevice();
  const int64_t variant = state.range(0);
  const std::string id = variant == 2 ? "org.example.hello" : "org.kindred.gratitude";
  const auto request = variant == 2 ? CommandDevice::Request({"hello", "say"}, "hi")
                                    : CommandDevice::Request({"gratitude", "add"}, "thanks");
  for (auto _ : state) {
    plugin::Registry registry;
    if (variant == 2) {
      plugin::RunnerOptions runner;
      runner.runner_path = KINDRED_PLUGIN_RUNNER_PATH;
      registry.SetRunnerOptions(runner);
      if (!registry.LoadLibrary(KINDRED_BENCH_HELLO_PLUGIN_PATH).ok()) std::abort();
    } else {
      FillRegistry(registry, variant == 1 ? "gratitude" : "");
    }
    auto host = plugin::Host::Create(*device.engine, registry, {});
    if (!host.ok()) std::abort();
    auto r = (*host)->RunCommand(id, request);
    if (!r.ok() || r->exit_code() != 0) state.SkipWithError("the command failed");
  }
}
BENCHMARK(BM_OneShotCommand)
    ->ArgName("variant")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(1.0)
    ->UseRealTime();

}  // namespace
}  // namespace kindred

BENCHMARK_MAIN();
