// What the sync and plugin benchmarks share (besides bench/common/devices.h):
// a Node, a device with its own event loop thread and engine pool that can
// serve on loopback and dial, as a `kindred` process would. Benchmarks
// abort on setup failures.
#ifndef KINDRED_BENCH_COMMON_SYNC_NODE_H_
#define KINDRED_BENCH_COMMON_SYNC_NODE_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <pthread.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <latch>
#include <memory>
#include <string>
#include <thread>

#include "bench/common/devices.h"
#include "engine/sync/client.h"
#include "engine/sync/server.h"
#include "kindred/engine.h"

namespace kindred::bench {

namespace asio = boost::asio;

// Joins `joiner` into `owner`'s personal space (the engine API under
// pairing, without the network exchange).
inline void Link(Engine& owner, Engine& joiner) {
  auto grant = owner.GrantSpace(owner.device().personal_space, joiner.card());
  if (!grant.ok() || !joiner.AcceptSpace(*grant, owner.card(), true).ok()) std::abort();
}

// One device with its own event loop thread and engine pool, in a fresh
// home that is removed with it.
struct Node {
  explicit Node(const std::string& name)
      : home(TempHome()), engine(NewEngine(home, name)), pool(2), work(io.get_executor()) {
    thread = std::thread([this] { io.run(); });
    pthread_setname_np(thread.native_handle(), ("io-" + name).substr(0, 15).c_str());
    // Names both pool threads: each task holds its thread until both ran.
    // The latch is shared: a task may still be leaving arrive_and_wait()
    // after this constructor has returned.
    auto named = std::make_shared<std::latch>(2);
    for (int i = 0; i < 2; ++i) {
      asio::post(pool, [named, name] {
        pthread_setname_np(pthread_self(), ("pool-" + name).substr(0, 15).c_str());
        named->arrive_and_wait();
      });
    }
    named->wait();
  }
  ~Node() {
    work.reset();
    if (server) {
      std::promise<void> stopped;
      asio::post(io, [&] {
        server->Stop();
        stopped.set_value();
      });
      stopped.get_future().wait();
    }
    thread.join();
    pool.join();
    server.reset();
    engine.reset();
    std::filesystem::remove_all(home);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Starts a `serve` on 127.0.0.1, port 0, and returns where it listens.
  sync::HostPort Serve() {
    sync::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.dial_known_peers = false;
    server =
        std::make_unique<sync::Server>(io.get_executor(), *engine, pool.get_executor(), options);
    auto bound = server->Listen();
    if (!bound.ok()) std::abort();
    std::promise<void> started;
    asio::post(io, [&] {
      server->Start();
      started.set_value();
    });
    started.get_future().wait();
    return sync::HostPort{"127.0.0.1", bound->port()};
  }
  // Dials `where` and waits for the session to end (one-shot), or for it to
  // begin (live: `on_session` sees it).
  sync::DialResult Dial(const sync::HostPort& where, sync::DialOptions options = {}) {
    std::promise<sync::DialResult> done;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          done.set_value(co_await sync::Dial(*engine, pool.get_executor(), where, options));
        },
        asio::detached);
    return done.get_future().get();
  }

  std::string home;
  std::unique_ptr<Engine> engine;
  asio::io_context io;
  asio::thread_pool pool;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::unique_ptr<sync::Server> server;
};

}  // namespace kindred::bench

#endif  // KINDRED_BENCH_COMMON_SYNC_NODE_H_
