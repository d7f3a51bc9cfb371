// Finding an open invite on the local network, so that `kindred join CODE`
// works without --peer: the joiner sends a probe by UDP (broadcast by
// default) and every open invite that hears it answers with the TCP port it
// listens on. Then the joiner tries them in turn; the PAKE decides which
// one holds its code.
//
// Datagrams (all integers big-endian):
//   probe   "KINDRED-PAIR?" | version (1) | nonce (16 random bytes)           30 bytes
//   answer  "KINDRED-PAIR!" | version (1) | nonce (the probe's) | port (u16)   32 bytes
//
// Neither says anything about the code, so someone listening on the
// network learns only that an invite is open, and where: nothing to test a
// guess of the code against. Someone who answers probes falsely gets the
// joiner to run a PAKE with it, which fails without revealing the code
// (one online guess, see docs/security.md). The addresses are injectable so
// tests stay on 127.0.0.1. Internal to the engine.
#ifndef KINDRED_ENGINE_PAIRING_DISCOVERY_H_
#define KINDRED_ENGINE_PAIRING_DISCOVERY_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "kindred/env.h"
#include "kindred/result.h"

namespace kindred::pairing {

// The UDP port invites listen on for probes by default.
inline constexpr uint16_t kDefaultDiscoveryPort = 47801;

// Answers probes for one open invite. Create, Bind, then co_spawn Run; Stop
// (or destroying it after Run returned) ends it. Runs on one executor; not
// thread-safe.
class DiscoveryResponder {
 public:
  // Answers with `tcp_port`, the port the invite's TCP listener has.
  DiscoveryResponder(boost::asio::any_io_executor executor, uint16_t tcp_port);
  // Binds to `where` (port 0 picks a free one) and returns the bound
  // endpoint. Unavailable if it cannot be bound (e.g. the port is in use).
  Result<boost::asio::ip::udp::endpoint> Bind(const boost::asio::ip::udp::endpoint& where);
  // Answers probes until Stop(). REQUIRES: Bind succeeded. The responder
  // must outlive the awaitable.
  boost::asio::awaitable<void> Run();
  void Stop();

 private:
  boost::asio::ip::udp::socket socket_;
  uint16_t tcp_port_;
  bool stopped_ = false;
};

// Sends a probe to `target` (a broadcast address enables broadcast) up to
// three times within `wait`, and returns the TCP endpoints of the invites
// that answered, in the order they answered, without duplicates: it stops
// a quarter of a second after the first answer, or after `wait`. An empty
// list when none answered. Unavailable if the probe cannot be sent at all.
boost::asio::awaitable<Result<std::vector<boost::asio::ip::tcp::endpoint>>> Discover(
    boost::asio::ip::udp::endpoint target, std::chrono::steady_clock::duration wait,
    Random& random);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_DISCOVERY_H_
