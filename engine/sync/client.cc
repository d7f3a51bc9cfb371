#include "engine/sync/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <memory>

#include "engine/core/transport_key.h"

namespace kindred::sync {

namespace {

using asio::ip::tcp;
using boost::system::error_code;

DialFailure FailureOfHandshake(const Status& status) {
  switch (status.code()) {
    case StatusCode::kPermissionDenied:
      return DialFailure::kRejected;
    case StatusCode::kUnavailable:
      return DialFailure::kUnreachable;
    default:
      return DialFailure::kHandshake;
  }
}

}  // namespace

std::string HostPort::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("`" + std::string(text) +
                                     "` is not HOST:PORT (an IPv6 address is written [::1]:47800)");
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return Status::InvalidArgument("`" + std::string(text) +
                                     "` is not HOST:PORT (an IPv6 address is written [::1]:47800)");
    }
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (out.host.empty()) return Status::InvalidArgument("`" + std::string(text) + "` names no host");
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Status::InvalidArgument("`" + std::string(port) + "` is not a port (0 to 65535)");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

void RecordPeerOutcome(Engine& engine, Clock& clock, const DeviceId& peer,
                       const SessionOutcome& outcome, const std::string& address) {
  const int64_t now = clock.NowMicros();
  Status s = engine.UpdatePeer(peer, [&](PeerInfo& info) {
    info.last_seen_micros = now;
    if (outcome.caught_up) info.last_sync_micros = now;
    if (outcome.caught_up && !address.empty()) info.address = address;
    const bool fine = outcome.reason == EndReason::kCompleted ||
                      (outcome.reason == EndReason::kStopped && outcome.caught_up);
    if (fine) {
      info.last_result = "ok";
    } else if (!outcome.status.ok()) {
      info.last_result =
          std::string(EndReasonName(outcome.reason)) + ": " + outcome.status.message();
    } else if (!outcome.caught_up) {
      info.last_result = std::string(EndReasonName(outcome.reason)) + " before catching up";
    }
  });
  s.IgnoreError();  // a record that could not be written is not worth failing the sync for
}

asio::awaitable<DialResult> Dial(Engine& engine, asio::any_io_executor blocking, HostPort address,
                                 DialOptions options) {
  const auto start = std::chrono::steady_clock::now();
  Env& env = options.env ? *options.env : Env::System();
  DialResult result;
  auto finish = [&]() {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return std::move(result);
  };
  const std::string where = address.ToString();
  auto executor = co_await asio::this_coro::executor;

  // Resolve and connect, within connect_timeout.
  tcp::resolver resolver(executor);
  error_code error;
  auto endpoints = co_await resolver.async_resolve(
      address.host, std::to_string(address.port), asio::redirect_error(asio::use_awaitable, error));
  if (error) {
    result.failure = DialFailure::kUnreachable;
    result.status = Status::Unavailable("cannot resolve " + address.host + ": " + error.message());
    co_return finish();
  }
  auto socket = std::make_shared<tcp::socket>(executor);
  asio::steady_timer deadline(executor);
  bool timed_out = false;
  deadline.expires_after(options.connect_timeout);
  deadline.async_wait([socket, &timed_out](const error_code& e) {
    if (e) return;
    timed_out = true;
    error_code ignored;
    socket->close(ignored);
  });
  co_await asio::async_connect(*socket, endpoints,
                               asio::redirect_error(asio::use_awaitable, error));
  const bool expired = timed_out;
  deadline.cancel();
  if (error || expired) {
    result.failure = DialFailure::kUnreachable;
    result.status = Status::Unavailable(
        "cannot reach a peer at " + where + ": " +
        (expired ? "no answer within " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          options.connect_timeout)
                                          .count()) +
                       " ms"
                 : error.message()));
    co_return finish();
  }
  socket->set_option(tcp::no_delay(true), error);

  // Handshake: only a device of a space here is accepted.
  Result<crypto::DhKeyPair> key = core::TransportKeyPair(engine);
  if (!key.ok()) {
    result.failure = DialFailure::kHandshake;
    result.status = key.status();
    co_return finish();
  }
  PeerInfo peer;
  net::ChannelOptions channel_options = options.channel;
  channel_options.max_message_bytes = kMaxMessageBytes;
  channel_options.local_payload.clear();
  Result<std::unique_ptr<net::SecureChannel>> channel = co_await net::SecureChannel::Handshake(
      std::move(*socket), net::Role::kInitiator, *key, env.random(),
      AcceptRosterDevices(engine, &peer, options.expected_peer), channel_options);
  if (!channel.ok()) {
    result.failure = FailureOfHandshake(channel.status());
    result.status = channel.status().WithContext("the handshake with " + where);
    co_return finish();
  }
  result.peer = peer;

  Session session(executor, std::move(*channel), peer, engine, blocking, options.session);
  if (options.on_session) options.on_session(&session);
  result.session = co_await session.Run();
  if (options.on_session) options.on_session(nullptr);
  result.status = result.session.status;
  co_await Offload(blocking, [&] {
    RecordPeerOutcome(engine, env.clock(), peer.card.id, result.session, where);
    return 0;
  });
  co_return finish();
}

}  // namespace kindred::sync
