// Helpers for sync tests: devices on temporary homes, linking them into one
// space, an event loop with a blocking pool and a time limit, servers on
// 127.0.0.1 port 0, state snapshots to compare, and raw peers that complete
// a real handshake and then say what the test wants.
#ifndef KINDRED_TESTS_SYNC_SYNC_TEST_UTIL_H_
#define KINDRED_TESTS_SYNC_SYNC_TEST_UTIL_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/transport_key.h"
#include "engine/sync/client.h"
#include "engine/sync/server.h"
#include "kindred/engine.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/fake_env.h"

namespace kindred::sync::testing {

using kindred::testing::TempDir;
using kindred::testing::TestEnv;

// One device on a temporary home (the shared engine fixture), with the
// journal writes sync tests make.
struct Device : kindred::testing::TestDevice {
  Device(const std::string& name, uint64_t seed, const std::string& device_name = "")
      : TestDevice(name, seed, device_name.empty() ? name + "-device" : device_name) {}

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

using kindred::testing::Admit;
using kindred::testing::Link;
using kindred::testing::Snapshot;

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

// ---- Hostile peers ----------------------------------------------------------
// A raw peer that completes a real handshake and then says whatever the test
// wants, byte for byte.

using ChannelPtr = std::unique_ptr<net::SecureChannel>;

// A raw connection: the channel, or why the handshake failed.
struct RawConnection {
  ChannelPtr channel;
  Status status;
};

// Completes a real handshake as `device` (trusting any responder), then
// lets the test say anything.
inline asio::awaitable<RawConnection> ConnectRaw(Device& device, HostPort where,
                                                 size_t max_message_bytes = kMaxMessageBytes) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  boost::system::error_code error;
  co_await socket.async_connect(
      asio::ip::tcp::endpoint(asio::ip::make_address(where.host), where.port),
      asio::redirect_error(asio::use_awaitable, error));
  EXPECT_FALSE(error) << error.message();
  auto key = core::TransportKeyPair(*device.engine);
  EXPECT_TRUE(key.ok());
  net::ChannelOptions options;
  options.max_message_bytes = max_message_bytes;
  options.idle_timeout = std::chrono::seconds(2);
  auto channel = co_await net::SecureChannel::Handshake(
      std::move(socket), net::Role::kInitiator, *key, device.env->random(),
      [](std::string_view, std::string_view) { return Status::Ok(); }, options);
  if (!channel.ok()) co_return RawConnection{nullptr, channel.status()};
  co_return RawConnection{std::move(*channel), Status::Ok()};
}

// What the raw peer saw after it had its say.
struct Heard {
  std::vector<v1::SyncMessage> messages;
  std::optional<v1::SyncError> error;
  std::string close;  // why the channel ended

  // The count of the last acknowledgement heard (0 if none).
  uint64_t Acked() const {
    uint64_t acked = 0;
    for (const auto& m : messages) {
      if (m.has_ack()) acked = m.ack().batches();
    }
    return acked;
  }
};

// Sends `messages` (already encoded) back to back, then reads until the
// channel closes. With `ack`, acknowledges every SyncBatch it receives.
inline asio::awaitable<Heard> SayAndListen(net::SecureChannel& channel,
                                           std::vector<std::string> messages, bool ack = false) {
  Heard heard;
  for (const std::string& m : messages) {
    Status s = co_await channel.Send(m);
    if (!s.ok()) break;  // the peer may close before we finish
  }
  uint64_t batches = 0;
  for (;;) {
    Result<std::string> bytes = co_await channel.Receive();
    if (!bytes.ok()) {
      heard.close = bytes.status().ToString();
      break;
    }
    auto message = ParseMessage(*bytes);
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    if (!message.ok()) break;
    if (message->has_error()) heard.error = message->error();
    if (message->has_batch() && ack) {
      v1::SyncMessage reply;
      reply.mutable_ack()->set_batches(++batches);
      Status s = co_await channel.Send(EncodeMessage(reply));
      s.IgnoreError();
    }
    heard.messages.push_back(std::move(*message));
  }
  co_await channel.Close();
  co_return heard;
}

// Connects to `where` as `device`, says `messages` and reports what it heard
// (see SayAndListen); an empty Heard if the handshake failed.
inline Heard TalkTo(Loop& loop, Device& device, HostPort where, std::vector<std::string> messages,
                    bool ack = false, size_t max_message_bytes = kMaxMessageBytes) {
  auto raw = loop.Await(ConnectRaw(device, where, max_message_bytes));
  EXPECT_TRUE(raw && raw->channel) << (raw ? raw->status.ToString() : "");
  if (!raw || !raw->channel) return {};
  auto heard = loop.Await(SayAndListen(*raw->channel, std::move(messages), ack));
  return heard ? std::move(*heard) : Heard{};
}

// An honest Hello from `device` about its personal space.
inline v1::SyncMessage HelloFrom(Device& device, uint32_t version = kProtocolVersion) {
  v1::SyncMessage message;
  v1::Hello* hello = message.mutable_hello();
  hello->set_protocol_version(version);
  hello->set_device_id(std::string(device.id().bytes()));
  hello->set_window(8);
  v1::SpaceHeads* space = hello->add_spaces();
  space->set_space_id(std::string(device.space().bytes()));
  auto heads = device.engine->Heads(device.space());
  auto devices = device.engine->SpaceDevices(device.space());
  EXPECT_TRUE(heads.ok() && devices.ok());
  for (const DeviceCard& d : *devices) {
    v1::DeviceHead* head = space->add_heads();
    head->set_device_id(std::string(d.id.bytes()));
    auto it = heads->find(d.id);
    if (it != heads->end() && it->second.seq > 0) {
      head->set_seq(it->second.seq);
      head->set_head_hash(it->second.hash);
    }
  }
  return message;
}

// The SyncBatch messages carrying all of `device`'s own log.
inline std::vector<std::string> OwnLog(Device& device, size_t max_ops = 1000) {
  std::vector<std::string> out;
  Status s = device.engine->ReadMissing(device.space(), {}, max_ops, [&](OpBatch&& batch) {
    std::vector<EncodedPart> parts;
    KnownHeads receiver;
    EXPECT_TRUE(EncodeBatch(batch, max_ops, 1 << 20, &receiver, &parts).ok());
    for (auto& p : parts) out.push_back(std::move(p.bytes));
    return true;
  });
  EXPECT_TRUE(s.ok());
  return out;
}

// A SyncDone that counts `batches`.
inline std::string Done(uint64_t batches) {
  v1::SyncMessage m;
  m.mutable_done()->set_batches(batches);
  return EncodeMessage(m);
}

}  // namespace kindred::sync::testing

#endif  // KINDRED_TESTS_SYNC_SYNC_TEST_UTIL_H_
