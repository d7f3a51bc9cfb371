// SecureChannel: an authenticated, encrypted, message-oriented connection
// between two devices over TCP, built from Noise_XX (noise.h) and Kindred's
// framing (wire.h). The wire protocol is in docs/protocol.md, Part I.
//
// Usage, inside a coroutine on the socket's executor:
//
//   auto channel = co_await SecureChannel::Handshake(std::move(socket), Role::kInitiator,
//                                                    device_key, random, accept_peer, options);
//   if (!channel.ok()) ... channel.status() says why ...
//   Status sent = co_await (*channel)->Send(bytes);
//   Result<std::string> reply = co_await (*channel)->Receive();
//
// Errors come back as values. Once any operation fails, the channel is
// closed and every later operation returns that first error. Internal to the
// engine.
#ifndef KINDRED_ENGINE_NET_SECURE_CHANNEL_H_
#define KINDRED_ENGINE_NET_SECURE_CHANNEL_H_

// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "engine/net/noise.h"
#include "engine/net/wire.h"
#include "kindred/env.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::net {

using noise::Role;

// Decides whether to talk to the peer, once its static key is authenticated.
// Receives the peer's static X25519 public key (32 bytes) and the handshake
// payload it sent. Returns OK to accept; any error rejects the peer, and the
// error's message is reported locally but never sent. Called at most once,
// on the channel's executor; it must not block for long.
using AcceptPeerFn =
    std::function<Status(std::string_view remote_static_key, std::string_view remote_payload)>;

// Tuning for one channel.
struct ChannelOptions {
  // How long the peer may keep us waiting in the middle of something: for
  // each handshake message, for each frame once a message has begun
  // arriving, and for each of our writes. A peer that stalls longer is
  // disconnected. Waiting for the next message to begin is not limited;
  // keepalives belong to the protocol above.
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(30);
  // The largest application message Send accepts and Receive buffers. Both
  // peers should agree (the default is the protocol's). At most
  // wire::kMaxMessageBytesLimit.
  size_t max_message_bytes = wire::kDefaultMaxMessageBytes;
  // This party's handshake payload, e.g. protocol version and device
  // information; at most wire::kMaxHandshakePayloadBytes. It travels
  // encrypted (the responder's in message 2, the initiator's in message 3)
  // and the peer sees it as remote_payload().
  std::string local_payload;
};

// An established channel. Create one with Handshake().
//
// Threading: not thread-safe. Use it from the socket's executor only (a
// single-threaded io_context, or a strand). One Send and one Receive may be
// pending at the same time; a second concurrent Send or Receive fails with
// FailedPrecondition. The channel must outlive its pending operations.
class SecureChannel {
  // Lets Handshake() use std::make_unique while only it can construct.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Runs the Noise_XX handshake on a connected `socket` as `role`, proving
  // ownership of `static_key` and learning the peer's. `random` supplies
  // the ephemeral key and must outlive the returned awaitable. After the
  // peer's static key is authenticated, `accept_peer` decides whether to go
  // on; a responder that rejects sends a close record (kRejected) and
  // closes, and an initiator that rejects closes without sending message 3
  // (so it never reveals its own key to that peer).
  //
  // Returns the channel once both sides have accepted each other. Errors,
  // after which the socket is closed:
  //   InvalidArgument     bad options or key (nothing is sent)
  //   PermissionDenied    we rejected the peer's key, or it rejected ours
  //   Unauthenticated     a handshake message failed to decrypt
  //   Corruption          a message had an impossible length or layout
  //   Unavailable         the peer closed, reset or stalled (idle_timeout)
  static boost::asio::awaitable<Result<std::unique_ptr<SecureChannel>>> Handshake(
      boost::asio::ip::tcp::socket socket, Role role, crypto::DhKeyPair static_key, Random& random,
      AcceptPeerFn accept_peer, ChannelOptions options = {});

  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;
  // Closes the socket at once, without a close record. REQUIRES: no
  // operation is pending (Close() first and let them finish).
  ~SecureChannel();

  // Sends one application message of up to options.max_message_bytes,
  // split over as many transport messages as it needs. `message` must stay
  // valid until the awaitable completes. InvalidArgument if the message is
  // too large (the channel stays open); any other error closes the channel.
  boost::asio::awaitable<Status> Send(std::string_view message);

  // Waits for the next whole application message. Errors, after which the
  // channel is closed:
  //   Unavailable       the peer closed (normally or not), reset or stalled mid-message
  //   Unauthenticated   a transport message failed authentication: it was
  //                     corrupted, forged, replayed or reordered
  //   Corruption        a malformed record, or a message over the size cap
  //   PermissionDenied  the peer closed the channel because it rejects us
  // Protocol errors are reported to the peer in a close record when no Send
  // is in progress.
  boost::asio::awaitable<Result<std::string>> Receive();

  // Says goodbye (a kNormal close record, unless a Send is in progress) and
  // closes. Pending and later operations fail with FailedPrecondition.
  // Idempotent.
  boost::asio::awaitable<void> Close();

  // True until the channel fails or is closed.
  bool is_open() const { return failure_.ok(); }
  Role role() const { return role_; }
  // The peer's authenticated static X25519 public key (32 bytes).
  const std::string& remote_static_key() const { return remote_static_key_; }
  // The handshake payload the peer sent (see ChannelOptions::local_payload).
  const std::string& remote_payload() const { return remote_payload_; }
  // The Noise handshake hash (32 bytes), the same on both ends; binds
  // higher-level protocols to this session.
  const std::string& handshake_hash() const { return handshake_hash_; }
  // Bytes read from and written to the connection so far, the handshake
  // and framing included.
  uint64_t bytes_received() const;
  uint64_t bytes_sent() const;

  // For Handshake() only.
  SecureChannel(PrivateTag, boost::asio::ip::tcp::socket socket, Role role, ChannelOptions options);

 private:
  struct Link;
  struct IoOutcome;
  // What ReadFrame is waiting for, for its limits and error messages.
  struct FrameSpec {
    std::string_view name;  // e.g. "handshake message 2"; a string literal
    size_t min_bytes;
    size_t max_bytes;
    bool may_idle;  // no deadline until the first byte arrives
  };

  boost::asio::awaitable<Status> RunHandshake(const crypto::DhKeyPair& static_key, Random& random,
                                              const AcceptPeerFn& accept_peer);
  boost::asio::awaitable<Status> HandshakeAsInitiator(noise::HandshakeState& handshake,
                                                      const AcceptPeerFn& accept_peer);
  boost::asio::awaitable<Status> HandshakeAsResponder(noise::HandshakeState& handshake,
                                                      const AcceptPeerFn& accept_peer);
  // Waits for the responder's first record: accept, or close.
  boost::asio::awaitable<Status> AwaitAcceptance();

  boost::asio::awaitable<Status> SendUnchecked(std::string_view message);
  boost::asio::awaitable<Result<std::string>> ReceiveUnchecked();
  // Reads the next transport message and decrypts it.
  // `name` is a string literal for error messages.
  boost::asio::awaitable<Result<std::string>> ReceiveRecord(std::string_view name, bool may_idle);
  // Encrypts `record`, frames it and writes it.
  boost::asio::awaitable<Status> SendRecord(std::string_view record);
  // Frames and writes one Noise message; `name` is for error messages.
  boost::asio::awaitable<Status> WriteFrame(std::string_view noise_message, std::string_view name);
  // Reads one frame's Noise message, checking its length against `spec`.
  boost::asio::awaitable<Result<std::string>> ReadFrame(FrameSpec spec);
  // The error for a read that did not complete: closed, reset or stalled.
  // `in_body` says whether the length prefix had been read; `expected` is
  // the size of the part that was being read.
  Status ReadError(const IoOutcome& io, std::string_view what, bool in_body, size_t expected) const;
  // Installs the transport ciphers and what the handshake learnt.
  void CompleteHandshake(const noise::HandshakeState& handshake, std::string remote_payload);

  // Closes the channel because of `status`, first telling the peer with a
  // close record when `notify` is set and no Send is in progress. Returns
  // the channel's first error (normally `status`).
  boost::asio::awaitable<Status> Fail(Status status, std::optional<wire::CloseCode> notify,
                                      std::string reason_for_peer);
  // Closes the channel at once because of `status`; returns the first error.
  Status FailNow(Status status);

  std::shared_ptr<Link> link_;
  Role role_;
  ChannelOptions options_;
  noise::CipherState send_;
  noise::CipherState receive_;
  std::string remote_static_key_;
  std::string remote_payload_;
  std::string handshake_hash_;
  Status failure_;  // OK while open
  bool sending_ = false;
  bool receiving_ = false;
};

}  // namespace kindred::net

#endif  // KINDRED_ENGINE_NET_SECURE_CHANNEL_H_
