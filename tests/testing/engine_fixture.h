// A device for engine-level tests: a fresh home in a temporary directory,
// a seeded test environment, and an engine initialised on it (no sync
// writes, for speed). Tests derive from it to add what they need.
#ifndef KINDRED_TESTS_TESTING_ENGINE_FIXTURE_H_
#define KINDRED_TESTS_TESTING_ENGINE_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

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

}  // namespace kindred::testing

#endif  // KINDRED_TESTS_TESTING_ENGINE_FIXTURE_H_
