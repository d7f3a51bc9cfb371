// Helpers for sync tests: devices on temporary homes, linking them into one
// space, an event loop with a blocking pool and a time limit, servers on
// 127.0.0.1 port 0, and state snapshots to compare.
#ifndef KINDRED_TESTS_SYNC_SYNC_TEST_UTIL_H_
#define KINDRED_TESTS_SYNC_SYNC_TEST_UTIL_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/sync/client.h"
#include "engine/sync/server.h"
#include "kindred/engine.h"
#include "tests/testing/fake_env.h"

namespace kindred::sync::testing {

using kindred::testing::TempDir;
using kindred::testing::TestEnv;

// One device on a temporary home.
struct Device {
  TempDir dir;
  std::unique_ptr<TestEnv> env;
  std::unique_ptr<Engine> engine;

  Device(const std::string& name, uint64_t seed, const std::string& device_name = "")
      : env(std::make_unique<TestEnv>(seed)) {
    InitOptions init;
    init.engine.home = dir.path();
    init.engine.env = env.get();
    init.engine.sync_writes = false;
    init.member_name = name;
    init.device_name = device_name.empty() ? name + "-device" : device_name;
    auto e = Engine::Init(init);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(*e);
  }
  SpaceId space() const { return engine->device().personal_space; }
  DeviceId id() const { return engine->device().id; }

  std::string Add(const std::string& text) {
    auto ids = engine->Commit(space(), {Mutation::Create("journal", {{"text", text}})});
    EXPECT_TRUE(ids.ok()) << ids.status().ToString();
    return ids.ok() ? ids->front() : "";
  }
  // Adds `n` entries in commits of `per_commit`.
  void AddMany(int n, int per_commit = 100, const std::string& prefix = "entry") {
    for (int done = 0; done < n;) {
      std::vector<Mutation> batch;
      for (int i = 0; i < per_commit && done < n; ++i, ++done) {
        batch.push_back(
            Mutation::Create("journal", {{"text", prefix + " " + std::to_string(done)}}));
      }
      ASSERT_TRUE(engine->Commit(space(), batch).ok());
    }
  }
  VersionVector Versions() {
    auto v = engine->Versions(space());
    EXPECT_TRUE(v.ok());
    return v.ok() ? *v : VersionVector{};
  }
};

// Links `joiner` into `owner`'s personal space.
inline void Link(Device& owner, Device& joiner) {
  auto grant = owner.engine->GrantSpace(owner.space(), joiner.engine->card());
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  auto joined = joiner.engine->AcceptSpace(*grant, owner.engine->card(), /*as_personal=*/true);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
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

// An io_context for the test's coroutines and a pool for engine calls.
// Not thread-safe; run from the test's thread.
class Loop {
 public:
  Loop() : pool_(2) {}
  ~Loop() {
    io_.stop();
    pool_.join();  // before the io_context dies: pool jobs refer to coroutine frames
  }
  asio::io_context& io() { return io_; }
  asio::any_io_executor executor() { return io_.get_executor(); }
  asio::any_io_executor blocking() { return pool_.get_executor(); }

  // Runs the loop until `done()` or `limit` passes; false on timeout.
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  void RunFor(std::chrono::milliseconds duration) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    RunUntil([&] { return std::chrono::steady_clock::now() > deadline; }, duration * 2);
  }

  // Runs `coroutine` to its end and returns its result; fails the test if
  // it takes longer than `limit` or throws.
  template <typename T>
  std::optional<T> Await(asio::awaitable<T> coroutine,
                         std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    std::optional<T> result;
    bool done = false;
    asio::co_spawn(io_, std::move(coroutine), [&](std::exception_ptr error, T value) {
      done = true;
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "exception escaped a coroutine: " << e.what();
        }
        return;
      }
      result = std::move(value);
    });
    EXPECT_TRUE(RunUntil([&] { return done; }, limit)) << "the coroutine took too long";
    return result;
  }

 private:
  asio::io_context io_;
  asio::thread_pool pool_;
};

// A `kindred serve` in the test: a Server for `device` on 127.0.0.1, port 0.
class TestServer {
 public:
  TestServer(Loop& loop, Device& device, ServerOptions options = {})
      : TestServer(loop, *device.engine, device.env.get(), std::move(options)) {}
  TestServer(Loop& loop, Engine& engine, Env* env, ServerOptions options = {}) : loop_(loop) {
    options.listen = "127.0.0.1:" + std::to_string(port_hint_);
    if (options.env == nullptr) options.env = env;
    options.log = [this](const std::string& line) { log_.push_back(line); };
    server_ = std::make_unique<Server>(loop.executor(), engine, loop.blocking(), options);
    auto bound = server_->Listen();
    EXPECT_TRUE(bound.ok()) << bound.status().ToString();
    if (bound.ok()) port_ = bound->port();
    server_->Start();
  }
  ~TestServer() {
    server_->Stop();
    loop_.RunUntil([&] { return server_->SessionCountForTest() == 0; }, std::chrono::seconds(10));
    loop_.RunFor(std::chrono::milliseconds(20));  // let closing coroutines finish
  }
  uint16_t port() const { return port_; }
  HostPort address() const { return HostPort{"127.0.0.1", port_}; }
  Server& server() { return *server_; }
  const std::vector<std::string>& log() const { return log_; }
  std::string LogText() const {
    std::string out;
    for (const auto& line : log_) out += line + "\n";
    return out;
  }

 private:
  static constexpr uint16_t port_hint_ = 0;
  Loop& loop_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::vector<std::string> log_;
};

// Short timeouts keep stall tests fast.
inline SessionOptions FastSession() {
  SessionOptions options;
  options.stall_timeout = std::chrono::milliseconds(300);
  options.keepalive = std::chrono::milliseconds(100);
  return options;
}

// Syncs `client` once with the server at `where`.
inline DialResult SyncWith(Loop& loop, Device& client, const HostPort& where,
                           DialOptions options = {}) {
  if (options.env == nullptr) options.env = client.env.get();
  auto result = loop.Await(Dial(*client.engine, loop.blocking(), where, std::move(options)));
  return result ? std::move(*result) : DialResult{};
}

}  // namespace kindred::sync::testing

#endif  // KINDRED_TESTS_SYNC_SYNC_TEST_UTIL_H_
