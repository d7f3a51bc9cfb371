// What the plugin tests share: a device (a temporary home with a fake clock,
// an engine, a registry and a plugin host over them), running a plugin's
// command as the CLI would, and pairing and syncing two devices through the
// engine API (as tests/core/roster_test.cc does).
#ifndef KINDRED_TESTS_PLUGIN_PLUGIN_FIXTURE_H_
#define KINDRED_TESTS_PLUGIN_PLUGIN_FIXTURE_H_

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/plugin/host.h"
#include "engine/plugin/registry.h"
#include "kindred/engine.h"
#include "tests/testing/fake_env.h"

namespace kindred::plugin_testing {

using kindred::testing::FakeClock;
using kindred::testing::TempDir;
using kindred::testing::TestEnv;
namespace pv1 = ::kindred::plugin::v1;

// Arguments of a command: name -> values (none for a flag).
using Args = std::map<std::string, std::vector<std::string>>;

struct Device {
  TempDir dir;
  std::unique_ptr<TestEnv> env;
  std::unique_ptr<Engine> engine;
  plugin::Registry registry;
  std::unique_ptr<plugin::ViewStore> views = plugin::NewMemoryViewStore();
  std::unique_ptr<plugin::Host> host;

  // A fresh device of `member`; `fill` registers its plugins (then the host
  // starts). Its clock starts at `start_micros` when given.
  Device(const std::string& member, uint64_t seed,
         const std::function<void(plugin::Registry&)>& fill, bool live = false,
         int64_t start_micros = 0)
      : env(std::make_unique<TestEnv>(seed)) {
    if (start_micros != 0) env->fake_clock().Set(start_micros);
    InitOptions init;
    init.engine.home = dir.path() + "/home";
    init.engine.env = env.get();
    init.engine.sync_writes = false;
    init.member_name = member;
    init.device_name = member + "-device";
    auto e = Engine::Init(init);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(*e);
    fill(registry);
    StartHost(live);
  }

  void StartHost(bool live = false) {
    host.reset();
    plugin::HostOptions options;
    options.views = views.get();
    options.state_path = StatePath();
    options.clock = &env->clock();
    options.live = live;
    options.settle = std::chrono::milliseconds(20);
    options.max_delay = std::chrono::milliseconds(200);
    auto h = plugin::Host::Create(*engine, registry, std::move(options));
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    host = std::move(*h);
  }

  std::string Home() const { return dir.path() + "/home"; }
  std::string StatePath() const { return dir.path() + "/home/plugin-state.json"; }
  // The personal space.
  SpaceId space() const { return engine->device().personal_space; }
  // Where a record of this visibility lives: shared ones in the couple's
  // shared space once paired, the rest in the personal space.
  SpaceId SpaceFor(bool shared) const {
    if (shared) {
      if (auto s = engine->SharedSpace()) return *s;
    }
    return space();
  }
  FakeClock& clock() { return env->fake_clock(); }

  // Runs `path` of plugin `id` with `args`, as the CLI does.
  Result<pv1::CommandResponse> Run(const std::string& id, const std::vector<std::string>& path,
                                   const Args& args = {}, bool json = false) {
    pv1::CommandRequest request;
    for (const auto& p : path) request.add_path(p);
    for (const auto& [name, values] : args) {
      auto* a = request.add_arguments();
      a->set_name(name);
      for (const auto& v : values) a->add_values(v);
    }
    request.set_json(json);
    return host->RunCommand(id, request);
  }

  // The same with --json; the output parsed. Fails the test if it fails.
  nlohmann::json Json(const std::string& id, const std::vector<std::string>& path,
                      const Args& args = {}) {
    auto r = Run(id, path, args, /*json=*/true);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return nullptr;
    EXPECT_EQ(r->exit_code(), 0) << r->err();
    auto j = nlohmann::json::parse(r->out(), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->out();
    return j;
  }

  // The state `kindred plugins` shows for `id`.
  std::string StateOf(const std::string& id) {
    for (const auto& p : host->Plugins()) {
      if (p.id == id) return p.state;
    }
    return "absent";
  }
};

// Pairs two members' devices as partners, as `kindred invite partner` /
// `kindred join` do once both are authenticated: they get the couple's
// shared space, and each keeps a personal space the other never holds.
inline void PairPartners(Device& inviter, Device& joiner) {
  auto pending = inviter.engine->PrepareAdmission(joiner.engine->card(), PairingKind::kPartner);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_TRUE(inviter.engine->CompleteAdmission(**pending).ok());
  auto joined = joiner.engine->AcceptAdmission((*pending)->grants(), inviter.engine->card(),
                                               PairingKind::kPartner);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
}

// Everything `from` has, of every space both devices hold, that `to`
// lacks. Returns ops moved.
inline uint64_t Push(Device& from, Device& to) {
  std::vector<SpaceId> spaces = from.engine->SharedSpaces();
  spaces.push_back(from.space());
  uint64_t moved = 0;
  for (const SpaceId& space : spaces) {
    if (!to.engine->SpaceDevices(space).ok()) continue;  // not a space `to` belongs to
    auto theirs = to.engine->Versions(space);
    EXPECT_TRUE(theirs.ok()) << theirs.status().ToString();
    if (!theirs.ok()) continue;
    Status s = from.engine->ReadMissing(space, *theirs, 64, [&](OpBatch&& batch) {
      auto n = to.engine->Ingest(batch);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      moved += n.ok() ? *n : 0;
      return n.ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return moved;
}

inline void SyncBoth(Device& a, Device& b) {
  Push(a, b);
  Push(b, a);
}

}  // namespace kindred::plugin_testing

#endif  // KINDRED_TESTS_PLUGIN_PLUGIN_FIXTURE_H_
