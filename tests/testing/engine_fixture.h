// A device for engine-level tests: a fresh home in a temporary directory,
// a seeded test environment, and an engine initialised on it (no sync
// writes, for speed). Tests derive from it to add what they need. Also the
// engine-level moves between devices that several tests share: linking a
// device into a space, pairing's admission, reading and pushing op batches,
// and snapshots of a space to compare.
#ifndef KINDRED_TESTS_TESTING_ENGINE_FIXTURE_H_
#define KINDRED_TESTS_TESTING_ENGINE_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kindred/engine.h"
#include "tests/testing/fake_env.h"

namespace kindred::testing {

struct TestDevice {
  TempDir dir;
  std::unique_ptr<TestEnv> env;
  std::unique_ptr<Engine> engine;

  // Initialises a device of member `name` called `device_name`; randomness
  // from `seed`. A failure is reported to GoogleTest (engine stays null).
  TestDevice(const std::string& name, uint64_t seed, const std::string& device_name)
      : env(std::make_unique<TestEnv>(seed)) {
    InitOptions init;
    init.engine.home = dir.path();
    init.engine.env = env.get();
    init.engine.sync_writes = false;
    init.member_name = name;
    init.device_name = device_name;
    auto e = Engine::Init(init);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (e.ok()) engine = std::move(*e);
  }

  SpaceId space() const { return engine->device().personal_space; }
  DeviceId id() const { return engine->device().id; }

  // Closes the engine and opens the home again.
  void Reopen() {
    engine.reset();
    auto e = Engine::Open({.home = dir.path(), .env = env.get(), .sync_writes = false});
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(*e);
  }

  // How many devices the rosters of this device's spaces list.
  size_t DeviceCount() const {
    auto d = engine->Devices();
    EXPECT_TRUE(d.ok());
    return d.ok() ? d->size() : 0;
  }
};

// Links `joiner` into `owner`'s personal space.
inline void Link(TestDevice& owner, TestDevice& joiner) {
  auto grant = owner.engine->GrantSpace(owner.space(), joiner.engine->card());
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  auto joined = joiner.engine->AcceptSpace(*grant, owner.engine->card(), /*as_personal=*/true);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
}

// Pairs `joiner` with `inviter` as pairing does once both are authenticated.
inline void Admit(TestDevice& inviter, TestDevice& joiner, PairingKind kind) {
  auto pending = inviter.engine->PrepareAdmission(joiner.engine->card(), kind);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_TRUE(inviter.engine->CompleteAdmission(**pending).ok());
  auto joined = joiner.engine->AcceptAdmission((*pending)->grants(), inviter.engine->card(), kind);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
}

// The batches of `space` that `e` would send a device holding `theirs`, of
// up to `max_ops` ops each.
inline std::vector<OpBatch> ReadAll(Engine& e, const SpaceId& space, const VersionVector& theirs,
                                    size_t max_ops) {
  std::vector<OpBatch> out;
  Status s = e.ReadMissing(space, theirs, max_ops, [&](OpBatch&& b) {
    out.push_back(std::move(b));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Moves what `to` lacks of `space` from `from`, in batches of up to
// `max_ops`, optionally only the logs of `only`. Returns the first refusal,
// or the ops moved.
inline Result<uint64_t> Push(Engine& from, Engine& to, const SpaceId& space, size_t max_ops = 1000,
                             std::optional<DeviceId> only = std::nullopt) {
  auto theirs = to.Versions(space);
  if (!theirs.ok()) return theirs.status();
  uint64_t moved = 0;
  Status refused;
  Status s = from.ReadMissing(space, *theirs, max_ops, [&](OpBatch&& batch) {
    if (only && batch.device != *only) return true;
    auto n = to.Ingest(batch);
    if (!n.ok()) {
      refused = n.status();
      return false;
    }
    moved += *n;
    return true;
  });
  if (!s.ok()) return s;
  if (!refused.ok()) return refused;
  return moved;
}

// Every journal record of `space`, in id order, as one string.
inline std::string Snapshot(Engine& e, const SpaceId& space) {
  std::string out;
  Status s = e.Scan(space, "journal", [&](const Record& r) {
    out += r.id + "=" + r.Text("text") + "/" + std::to_string(r.Int("mood").value_or(0));
    out += r.conflicts.empty() ? "" : "(conflict)";
    out += ";";
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

}  // namespace kindred::testing

#endif  // KINDRED_TESTS_TESTING_ENGINE_FIXTURE_H_
