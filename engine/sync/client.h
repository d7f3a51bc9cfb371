// Dialling a peer: resolve HOST:PORT, connect, run the Noise handshake as
// initiator (accepting only a device of a shared space), run a sync session
// and remember what was learnt in the engine's peer records. Internal to the
// engine; `kindred sync` and `kindred serve` use it.
#ifndef KINDRED_ENGINE_SYNC_CLIENT_H_
#define KINDRED_ENGINE_SYNC_CLIENT_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/net/secure_channel.h"
#include "engine/sync/session.h"
#include "kindred/engine.h"
#include "kindred/env.h"

namespace kindred::sync {

// The default TCP port of `kindred serve`.
inline constexpr uint16_t kDefaultPort = 47800;

// A parsed "HOST:PORT"; an IPv6 literal is written "[::1]:47800".
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};
// InvalidArgument naming what is wrong (no port, a port out of range, ...).
[[nodiscard]] Result<HostPort> ParseHostPort(std::string_view text);

// Options for connecting to a peer.
struct DialOptions {
  // The channel's idle timeout; max_message_bytes and the handshake payload
  // are set by the sync layer.
  net::ChannelOptions channel;
  SessionOptions session;
  Duration connect_timeout = std::chrono::seconds(10);
  // Only this device is accepted at the other end, when set.
  std::optional<DeviceId> expected_peer;
  // Clock for peer records and randomness for the handshake. Null = the real OS.
  Env* env = nullptr;
  // Called on the executor once the session exists (e.g. to register it for
  // live pushes), and again with null when it has ended.
  std::function<void(Session*)> on_session;
};

// How far a sync got.
enum class DialFailure {
  kNone,         // a session ran; see `session`
  kUnreachable,  // no connection, or it broke during the handshake
  kRejected,     // one side does not know the other's device key
  kHandshake,    // the handshake failed (authentication, another transport version)
};

struct DialResult {
  DialFailure failure = DialFailure::kNone;
  Status status;  // OK when the session completed (or was stopped)
  std::optional<PeerInfo> peer;
  SessionOutcome session;  // when failure is kNone
  std::chrono::milliseconds elapsed{0};
};

// Connects to `address` and syncs with the device there. Runs on the
// calling coroutine's executor; engine calls run on `blocking`. `engine`
// must outlive the awaitable. Afterwards the peer's record holds the time
// it was seen, the result and (after a completed sync) the address.
asio::awaitable<DialResult> Dial(Engine& engine, asio::any_io_executor blocking, HostPort address,
                                 DialOptions options);

// Records how a session with `peer` went (last seen, last sync, result and,
// when it caught up and `address` is not empty, the address). Blocking.
void RecordPeerOutcome(Engine& engine, Clock& clock, const DeviceId& peer,
                       const SessionOutcome& outcome, const std::string& address);

}  // namespace kindred::sync

#endif  // KINDRED_ENGINE_SYNC_CLIENT_H_
