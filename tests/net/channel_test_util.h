// Helpers for testing SecureChannel over real loopback sockets: an event
// loop with a time limit, listeners on port 0, and a hand-driven peer that
// does a correct handshake and then sends whatever a test wants.
#ifndef KINDRED_TESTS_NET_CHANNEL_TEST_UTIL_H_
#define KINDRED_TESTS_NET_CHANNEL_TEST_UTIL_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "engine/crypto/crypto.h"
#include "engine/net/noise.h"
#include "engine/net/secure_channel.h"
#include "engine/net/wire.h"
#include "kindred/env.h"

namespace kindred::net::testing {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using ChannelPtr = std::unique_ptr<SecureChannel>;

// Runs coroutines on one io_context until they all finish, or fails the test
// when they take longer than a limit. Not thread-safe.
class EventLoop {
 public:
  // Starts `coroutine`, a callable returning asio::awaitable<void>. An
  // exception escaping it fails the test.
  template <typename F>
  void Spawn(F coroutine) {
    ++running_;
    asio::co_spawn(io_, std::move(coroutine), [this](std::exception_ptr error) {
      --running_;
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "exception escaped a coroutine: " << e.what();
      } catch (...) {
        ADD_FAILURE() << "unknown exception escaped a coroutine";
      }
    });
  }

  // Runs until every spawned coroutine is done, at most `limit`.
  void Run(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    io_.run_for(limit);
    EXPECT_EQ(running_, 0) << "coroutines still running after " << limit.count() << " ms";
  }

  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  int running_ = 0;
};

// Listens on `address` (e.g. "127.0.0.1" or "::1"), port 0. Empty if the
// address cannot be used here, e.g. no IPv6.
inline std::optional<tcp::acceptor> Listen(asio::io_context& io, const std::string& address) {
  error_code error;
  const tcp::endpoint endpoint(asio::ip::make_address(address, error), 0);
  if (error) return std::nullopt;
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) return std::nullopt;
  return acceptor;
}

inline asio::awaitable<tcp::socket> Accept(tcp::acceptor& acceptor) {
  error_code error;
  tcp::socket socket =
      co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
  EXPECT_FALSE(error) << "accept: " << error.message();
  co_return socket;
}

inline asio::awaitable<tcp::socket> Connect(tcp::endpoint endpoint) {
  tcp::socket socket(co_await asio::this_coro::executor);
  error_code error;
  co_await socket.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, error));
  EXPECT_FALSE(error) << "connect: " << error.message();
  co_return socket;
}

inline asio::awaitable<void> Sleep(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

inline crypto::DhKeyPair NewKey() { return crypto::DhKeyPair::Generate(Env::System().random()); }

// Accepts every peer.
inline AcceptPeerFn AcceptAnyone() {
  return [](std::string_view, std::string_view) { return Status::Ok(); };
}

// Accepts only the peer whose static public key is `key`.
inline AcceptPeerFn AcceptOnly(std::string key) {
  return [key = std::move(key)](std::string_view remote, std::string_view) {
    return remote == key ? Status::Ok() : Status::PermissionDenied("unknown device");
  };
}

// Short timeouts keep the stall tests fast.
inline ChannelOptions FastOptions(std::string payload = "") {
  ChannelOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  options.local_payload = std::move(payload);
  return options;
}

// Accepts one connection and runs the responder's handshake on it.
inline asio::awaitable<Result<ChannelPtr>> AcceptChannel(tcp::acceptor& acceptor,
                                                         const crypto::DhKeyPair& key,
                                                         AcceptPeerFn accept_peer,
                                                         ChannelOptions options) {
  tcp::socket socket = co_await Accept(acceptor);
  co_return co_await SecureChannel::Handshake(std::move(socket), Role::kResponder, key,
                                              Env::System().random(), std::move(accept_peer),
                                              std::move(options));
}

// Connects to `endpoint` and runs the initiator's handshake.
inline asio::awaitable<Result<ChannelPtr>> ConnectChannel(tcp::endpoint endpoint,
                                                          const crypto::DhKeyPair& key,
                                                          AcceptPeerFn accept_peer,
                                                          ChannelOptions options) {
  tcp::socket socket = co_await Connect(endpoint);
  co_return co_await SecureChannel::Handshake(std::move(socket), Role::kInitiator, key,
                                              Env::System().random(), std::move(accept_peer),
                                              std::move(options));
}

// A kMessage record announcing `announced` bytes and carrying `chunk`.
inline std::string MessageRecord(uint32_t announced, std::string_view chunk) {
  std::string record(1, static_cast<char>(wire::RecordType::kMessage));
  for (int shift = 24; shift >= 0; shift -= 8) {
    record.push_back(static_cast<char>(announced >> shift));
  }
  record.append(chunk);
  return record;
}

// The 2-byte big-endian length prefix for `length`.
inline std::string LengthPrefix(size_t length) {
  return {static_cast<char>(length >> 8), static_cast<char>(length & 0xff)};
}

// A peer driven by hand. It runs the initiator's side of the handshake with
// the Noise layer directly, then lets a test write arbitrary bytes or
// correctly sealed records, so each kind of bad input can be produced.
class RawPeer {
 public:
  explicit RawPeer(tcp::socket socket) : socket_(std::move(socket)) {}

  // Writes `bytes` as they are.
  asio::awaitable<void> Write(std::string bytes) {
    error_code error;
    co_await asio::async_write(socket_, asio::buffer(bytes),
                               asio::redirect_error(asio::use_awaitable, error));
    EXPECT_FALSE(error) << "raw write: " << error.message();
  }

  // Reads one length-prefixed frame; Unavailable on EOF or error.
  asio::awaitable<Result<std::string>> ReadFrame() {
    char prefix[2];
    error_code error;
    co_await asio::async_read(socket_, asio::buffer(prefix),
                              asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return Status::Unavailable("raw read: " + error.message());
    std::string body(wire::DecodeLengthPrefix({prefix, 2}), '\0');
    co_await asio::async_read(socket_, asio::buffer(body),
                              asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return Status::Unavailable("raw read: " + error.message());
    co_return body;
  }

  // Runs the whole initiator handshake with `key`, with an empty payload,
  // and waits for the responder's verdict record.
  asio::awaitable<Status> HandshakeAsInitiator(const crypto::DhKeyPair& key) {
    noise::HandshakeState handshake(Role::kInitiator, wire::kPrologue, key, Env::System().random());
    std::string message;
    Status status = handshake.WriteMessage("", &message);
    if (!status.ok()) co_return status;
    co_await Write(LengthPrefix(message.size()) + message);
    Result<std::string> reply = co_await ReadFrame();
    if (!reply.ok()) co_return reply.status();
    std::string payload;
    status = handshake.ReadMessage(*reply, &payload);
    if (!status.ok()) co_return status;
    message.clear();
    status = handshake.WriteMessage("", &message);
    if (!status.ok()) co_return status;
    co_await Write(LengthPrefix(message.size()) + message);
    Result<noise::TransportCiphers> ciphers = handshake.Split();
    if (!ciphers.ok()) co_return ciphers.status();
    ciphers_ = std::move(*ciphers);
    Result<std::string> verdict = co_await ReadRecord();
    if (!verdict.ok()) co_return verdict.status();
    if (*verdict != wire::EncodeAccept()) co_return Status::PermissionDenied("not accepted");
    co_return Status::Ok();
  }

  // Encrypts `record` with the next send nonce and frames it, without sending.
  std::string Seal(std::string_view record) {
    std::string ciphertext;
    EXPECT_TRUE(ciphers_.send.EncryptWithAd("", record, &ciphertext).ok());
    return LengthPrefix(ciphertext.size()) + ciphertext;
  }

  // Reads and decrypts the next record.
  asio::awaitable<Result<std::string>> ReadRecord() {
    Result<std::string> frame = co_await ReadFrame();
    if (!frame.ok()) co_return frame.status();
    std::string plaintext;
    Status status = ciphers_.receive.DecryptWithAd("", *frame, &plaintext);
    if (!status.ok()) co_return status;
    co_return plaintext;
  }

  // Sends FIN: the peer sees end of stream after what was written.
  void ShutdownSend() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

 private:
  tcp::socket socket_;
  noise::TransportCiphers ciphers_;
};

}  // namespace kindred::net::testing

#endif  // KINDRED_TESTS_NET_CHANNEL_TEST_UTIL_H_
