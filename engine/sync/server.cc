#include "engine/sync/server.h"

#include <boost/asio/post.hpp>
#include <exception>

#include "engine/core/transport_key.h"

namespace kindred::sync {

namespace {

using asio::ip::tcp;
using boost::system::error_code;

// A pause after a failed accept (e.g. out of file descriptors), so the loop
// does not spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

}  // namespace

Server::Server(asio::any_io_executor executor, Engine& engine, asio::any_io_executor blocking,
               ServerOptions options)
    : executor_(std::move(executor)),
      engine_(engine),
      blocking_(std::move(blocking)),
      options_(std::move(options)),
      env_(options_.env ? *options_.env : Env::System()),
      acceptor_(executor_),
      sessions_changed_(executor_) {}

Server::~Server() {
  if (listener_handle_) engine_.RemoveChangeListener(listener_handle_);
}

template <typename F>
void Server::Spawn(F coroutine) {
  asio::co_spawn(executor_, std::move(coroutine), [this](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      Log(std::string("unexpected exception: ") + e.what());
    } catch (...) {
      Log("unexpected exception");
    }
  });
}

Result<tcp::endpoint> Server::Listen() {
  KINDRED_ASSIGN_OR_RETURN(HostPort where, ParseHostPort(options_.listen));
  error_code error;
  const auto address = asio::ip::make_address(where.host, error);
  if (error) {
    return Status::InvalidArgument("`" + where.host + "` is not an IP address to listen on");
  }
  const tcp::endpoint endpoint(address, where.port);
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    error_code ignored;
    acceptor_.close(ignored);
    return Status::Unavailable("cannot listen on " + where.ToString() + ": " + error.message());
  }
  tcp::endpoint bound = acceptor_.local_endpoint(error);
  if (error) return Status::Unavailable("cannot read the listening address: " + error.message());
  port_ = bound.port();
  return bound;
}

void Server::Start() {
  if (started_) return;
  started_ = true;
  auto executor = executor_;
  listener_handle_ = engine_.AddChangeListener([this, executor](const SpaceId& space) {
    asio::post(executor, [this, space] {
      for (Session* session : sessions_) {
        // A peer revoked meanwhile (e.g. by `kindred revoke`) is let go.
        Result<PeerInfo> still = engine_.PeerByTransportKey(session->peer().card.dh_pk);
        if (!still.ok() && still.status().code() == StatusCode::kPermissionDenied) {
          Log("ending the session with " + Describe(session->peer()) + ": " +
              still.status().message());
          session->Stop();
          continue;
        }
        session->NotifyChanged(space);
      }
    });
  });
  Spawn([this] { return AcceptLoop(); });
  if (options_.dial_known_peers) Spawn([this] { return WatchPeers(); });
}

asio::awaitable<void> Server::WatchPeers() {
  asio::steady_timer timer(executor_);
  while (!stopping_) {
    Result<std::vector<PeerInfo>> peers =
        co_await Offload(blocking_, [this] { return engine_.Peers(); });
    if (stopping_) break;
    if (!peers.ok()) {
      Log("cannot read the known peers: " + peers.status().message());
    } else {
      for (const PeerInfo& peer : *peers) {
        if (!peer.address.empty()) StartDialer(peer.card.id, peer.address);
      }
    }
    sleeping_timers_.insert(&timer);
    co_await SleepFor(timer, options_.peer_refresh);
    sleeping_timers_.erase(&timer);
  }
}

void Server::Stop() {
  if (stopping_) return;
  stopping_ = true;
  if (listener_handle_) {
    engine_.RemoveChangeListener(listener_handle_);
    listener_handle_ = 0;
  }
  error_code ignored;
  acceptor_.close(ignored);
  for (asio::steady_timer* timer : sleeping_timers_) timer->cancel();
  for (Session* session : sessions_) session->Stop();
  sessions_changed_.Notify();
}

SessionOptions Server::LiveSessionOptions() const {
  SessionOptions options = options_.session;
  options.live = true;
  options.listen_port = port_;
  options.progress = nullptr;
  return options;
}

std::string Server::Describe(const PeerInfo& peer) const {
  std::string name = peer.card.member_name;
  if (!peer.card.device_name.empty()) name += "'s " + peer.card.device_name;
  return name + " (" + peer.card.id.ToString() + ")";
}

void Server::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Server::Register(Session* session) {
  sessions_.insert(session);
  if (stopping_) session->Stop();
  sessions_changed_.Notify();
}

void Server::Unregister(Session* session) {
  sessions_.erase(session);
  sessions_changed_.Notify();
}

bool Server::HasSession(const DeviceId& device) const {
  for (const Session* session : sessions_) {
    if (session->peer().card.id == device) return true;
  }
  return false;
}

asio::awaitable<void> Server::AcceptLoop() {
  asio::steady_timer pause(executor_);
  while (!stopping_) {
    error_code error;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, error));
    if (stopping_) break;
    if (error) {
      if (error == asio::error::operation_aborted) break;
      Log("could not accept a connection: " + error.message());
      co_await SleepFor(pause, kAcceptRetryDelay);
      continue;
    }
    Spawn([this, s = std::move(socket)]() mutable { return ServeConnection(std::move(s)); });
  }
}

asio::awaitable<void> Server::ServeConnection(tcp::socket socket) {
  error_code error;
  const tcp::endpoint remote = socket.remote_endpoint(error);
  const bool known_remote = !error;
  const std::string from = known_remote ? remote.address().to_string() : "an unknown address";
  socket.set_option(tcp::no_delay(true), error);
  Result<crypto::DhKeyPair> key = core::TransportKeyPair(engine_);
  if (!key.ok()) {
    Log("cannot answer a connection: " + key.status().message());
    co_return;
  }
  PeerInfo peer;
  net::ChannelOptions channel_options = options_.channel;
  channel_options.max_message_bytes = kMaxMessageBytes;
  channel_options.local_payload.clear();
  Result<std::unique_ptr<net::SecureChannel>> channel = co_await net::SecureChannel::Handshake(
      std::move(socket), net::Role::kResponder, *key, env_.random(),
      AcceptRosterDevices(engine_, &peer), channel_options);
  if (!channel.ok()) {
    Log("refused a connection from " + from + ": " + channel.status().message());
    co_return;
  }
  if (stopping_) co_return;  // the channel's destructor closes it

  Session session(executor_, std::move(*channel), peer, engine_, blocking_, LiveSessionOptions());
  session.set_on_caught_up([this, &peer] { Log("in sync with " + Describe(peer)); });
  Register(&session);
  Log("connected from " + from + ": " + Describe(peer));
  SessionOutcome outcome = co_await session.Run();
  Unregister(&session);
  // Where the peer can be dialled back: its address and the port it listens on.
  std::string address;
  if (session.peer_listen_port() != 0 && known_remote) {
    HostPort back{remote.address().to_string(), session.peer_listen_port()};
    address = back.ToString();
  }
  co_await Offload(blocking_, [&] {
    RecordPeerOutcome(engine_, env_.clock(), peer.card.id, outcome, address);
    return 0;
  });
  Log("session with " + Describe(peer) + " ended (" + std::string(EndReasonName(outcome.reason)) +
      (outcome.status.ok() ? "" : ": " + outcome.status.message()) + ")");
  if (!address.empty() && outcome.caught_up && options_.dial_known_peers) {
    StartDialer(peer.card.id, address);
  }
}

void Server::StartDialer(const DeviceId& device, const std::string& address) {
  if (stopping_) return;
  auto [it, inserted] = dialers_.emplace(device, address);
  if (!inserted) {
    it->second = address;  // the running dialer uses the newest address
    return;
  }
  Spawn([this, device] { return DialLoop(device); });
}

asio::awaitable<void> Server::DialLoop(DeviceId device) {
  Duration backoff = options_.backoff_initial;
  asio::steady_timer timer(executor_);
  while (!stopping_) {
    if (HasSession(device)) {
      co_await sessions_changed_.Wait();
      continue;
    }
    Result<HostPort> where = ParseHostPort(dialers_[device]);
    if (!where.ok()) {
      Log("cannot dial " + device.ToString() + ": " + where.status().message());
      break;
    }
    DialOptions dial;
    dial.channel = options_.channel;
    dial.session = LiveSessionOptions();
    dial.connect_timeout = options_.connect_timeout;
    dial.expected_peer = device;
    dial.env = &env_;
    Session* current = nullptr;
    dial.on_session = [this, &current](Session* session) {
      if (session) {
        current = session;
        session->set_on_caught_up(
            [this, session] { Log("in sync with " + Describe(session->peer())); });
        Register(session);
        Log("connected to " + Describe(session->peer()));
      } else if (current) {
        Unregister(current);
        current = nullptr;
      }
    };
    DialResult result = co_await Dial(engine_, blocking_, *where, dial);
    if (stopping_) break;
    if (result.failure == DialFailure::kNone) {
      Log("session with " + (result.peer ? Describe(*result.peer) : device.ToString()) +
          " ended (" + std::string(EndReasonName(result.session.reason)) +
          (result.status.ok() ? "" : ": " + result.status.message()) + ")");
      if (result.session.caught_up) backoff = options_.backoff_initial;
    } else {
      const std::string why = result.status.message();
      co_await Offload(blocking_, [&] {
        Status s = engine_.UpdatePeer(device, [&](PeerInfo& info) {
          info.last_result =
              (result.failure == DialFailure::kUnreachable ? "unreachable: " : "refused: ") + why;
        });
        s.IgnoreError();
        return 0;
      });
    }
    // Wait, with jitter, before dialling again.
    uint32_t random = 0;
    env_.random().Fill(reinterpret_cast<uint8_t*>(&random), sizeof random);
    const double jitter = 0.75 + 0.5 * (static_cast<double>(random) / 4294967295.0);
    const auto wait = std::chrono::duration_cast<Duration>(backoff * jitter);
    backoff = std::min<Duration>(backoff * 2, options_.backoff_max);
    sleeping_timers_.insert(&timer);
    co_await SleepFor(timer, wait);
    sleeping_timers_.erase(&timer);
  }
  dialers_.erase(device);
}

}  // namespace kindred::sync
