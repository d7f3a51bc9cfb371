// The long-running side of sync (`kindred serve`): listens for peers,
// keeps live sessions with them, dials the peers it remembers and
// reconnects with exponential backoff, and pushes every change to the
// store to every connected peer at once. Internal to the engine.
//
//   asio::io_context io;
//   asio::thread_pool pool(2);
//   Server server(io.get_executor(), *engine, pool.get_executor(), options);
//   auto endpoint = server.Listen();   // port 0 picks a free port
//   server.Start();
//   io.run();                          // until Stop() and everything has closed
#ifndef KINDRED_ENGINE_SYNC_SERVER_H_
#define KINDRED_ENGINE_SYNC_SERVER_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "engine/net/secure_channel.h"
#include "engine/sync/async.h"
#include "engine/sync/client.h"
#include "engine/sync/session.h"
#include "kindred/engine.h"
#include "kindred/env.h"

namespace kindred::sync {

struct ServerOptions {
  // Where to listen, HOST:PORT; port 0 picks a free port.
  std::string listen = "0.0.0.0:47800";
  // Per connection: the transport's idle timeout (the rest is set here).
  net::ChannelOptions channel;
  // Per session; `live` and `listen_port` are set by the server.
  SessionOptions session;
  // Dial the peers whose address is remembered, and keep reconnecting.
  bool dial_known_peers = true;
  // How often the remembered peers are read again, so that a peer whose
  // address became known after Start (a one-shot sync run through this
  // server, a device paired since and synced once) is dialled too.
  Duration peer_refresh = std::chrono::seconds(30);
  // Reconnection backoff: starts here, doubles after each failure up to
  // the maximum, with +-25% jitter; back to the start after a session
  // that caught up.
  Duration backoff_initial = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::seconds(60);
  Duration connect_timeout = std::chrono::seconds(10);
  // Clock for peer records, randomness for handshakes and jitter. Null = the real OS.
  Env* env = nullptr;
  // Called on the event loop with one line per event worth telling a
  // person (a peer connected, caught up, went away). May be empty.
  std::function<void(const std::string&)> log;
};

// Threading: create, Listen, Start and Stop on the executor's thread (or
// before the loop runs); everything else runs on the executor, engine calls
// on `blocking`. `engine` must outlive the server, and the server must
// outlive the executor's run.
class Server {
 public:
  Server(asio::any_io_executor executor, Engine& engine, asio::any_io_executor blocking,
         ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on options.listen. Returns the bound endpoint, with
  // the real port. InvalidArgument for a bad address; Unavailable if the
  // address cannot be bound (e.g. in use).
  Result<asio::ip::tcp::endpoint> Listen();
  // Starts accepting, dialling remembered peers and pushing changes.
  // REQUIRES: Listen() succeeded.
  void Start();
  // Stops: closes the listener, tells every peer and ends every session,
  // stops the dialers. The executor runs out of work once all has closed.
  // Idempotent.
  void Stop();

  // The live sessions right now (for tests).
  size_t SessionCountForTest() const { return sessions_.size(); }

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> ServeConnection(asio::ip::tcp::socket socket);
  asio::awaitable<void> DialLoop(DeviceId device);
  // Until Stop: starts a dialer for every remembered peer with an address,
  // then again every options.peer_refresh.
  asio::awaitable<void> WatchPeers();
  // Starts a dialer for `device` at `address` unless one runs.
  void StartDialer(const DeviceId& device, const std::string& address);
  // Runs `coroutine` on the executor, counted so Stop can wait for it.
  template <typename F>
  void Spawn(F coroutine);
  void Register(Session* session);
  void Unregister(Session* session);
  bool HasSession(const DeviceId& device) const;
  void Log(const std::string& line) const;
  SessionOptions LiveSessionOptions() const;
  std::string Describe(const PeerInfo& peer) const;

  asio::any_io_executor executor_;
  Engine& engine_;
  asio::any_io_executor blocking_;
  ServerOptions options_;
  Env& env_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  uint64_t listener_handle_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::set<Session*> sessions_;
  std::map<DeviceId, std::string> dialers_;  // device -> address being dialled
  // Timers a coroutine sleeps on (a dialer's backoff, the peer watch): Stop cancels them.
  std::set<asio::steady_timer*> sleeping_timers_;
  Event sessions_changed_;
};

}  // namespace kindred::sync

#endif  // KINDRED_ENGINE_SYNC_SERVER_H_
