#include "engine/net/secure_channel.h"

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cassert>
#include <exception>

namespace kindred::net {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Duration = std::chrono::steady_clock::duration;

namespace {

// Waits as long as it takes.
constexpr Duration kNoDeadline = Duration::max();

std::string Millis(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

bool IsProtocolError(const Status& status) {
  return status.code() == StatusCode::kCorruption || status.code() == StatusCode::kUnauthenticated;
}

// What a close record from the peer means for us.
Status PeerClosed(std::string_view body) {
  Result<wire::CloseNotice> notice = wire::ParseClose(body);
  if (!notice.ok()) return notice.status();
  const std::string reason = notice->reason.empty() ? "" : " (" + notice->reason + ")";
  switch (notice->code) {
    case wire::CloseCode::kNormal:
      return Status::Unavailable("peer closed the channel" + reason);
    case wire::CloseCode::kRejected:
      return Status::PermissionDenied("peer closed the channel: it does not accept our static key" +
                                      reason);
    case wire::CloseCode::kProtocolError:
      return Status::Unavailable("peer closed the channel after a protocol error" + reason);
  }
  return Status::Unavailable("peer closed the channel with code " +
                             std::to_string(static_cast<int>(notice->code)) + reason);
}

std::string ExceptionMessage(std::string_view where, const std::exception& e) {
  return "unexpected exception in " + std::string(where) + ": " + e.what();
}

}  // namespace

// How one read or write ended.
struct SecureChannel::IoOutcome {
  error_code error;
  size_t bytes = 0;
  bool timed_out = false;  // the deadline passed and closed the socket

  bool ok() const { return !error; }
};

// The socket and the two deadline timers that guard its reads and writes.
// Pending timer handlers hold a shared_ptr to it, so a timer that fires
// after the channel is gone still finds a live (closed) socket.
struct SecureChannel::Link : std::enable_shared_from_this<Link> {
  explicit Link(tcp::socket s)
      : socket(std::move(s)),
        read_deadline(socket.get_executor()),
        write_deadline(socket.get_executor()) {}

  // Reads exactly `buffer.size()` bytes. If they take longer than
  // `timeout`, closes the socket, which ends the read.
  asio::awaitable<IoOutcome> Read(asio::mutable_buffer buffer, Duration timeout) {
    Arm(read_deadline, read_timed_out, timeout);
    IoOutcome outcome;
    outcome.bytes = co_await asio::async_read(
        socket, buffer, asio::redirect_error(asio::use_awaitable, outcome.error));
    bytes_read += outcome.bytes;
    Disarm(read_deadline);
    outcome.timed_out = std::exchange(read_timed_out, false);
    co_return outcome;
  }

  // Writes all of `buffer`, with the same deadline rule as Read.
  asio::awaitable<IoOutcome> Write(asio::const_buffer buffer, Duration timeout) {
    Arm(write_deadline, write_timed_out, timeout);
    IoOutcome outcome;
    outcome.bytes = co_await asio::async_write(
        socket, buffer, asio::redirect_error(asio::use_awaitable, outcome.error));
    bytes_written += outcome.bytes;
    Disarm(write_deadline);
    outcome.timed_out = std::exchange(write_timed_out, false);
    co_return outcome;
  }

  // Sends FIN after anything already written, then closes. Idempotent.
  void Shutdown() {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  tcp::socket socket;
  asio::steady_timer read_deadline;
  asio::steady_timer write_deadline;
  bool read_timed_out = false;
  bool write_timed_out = false;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;

 private:
  void Arm(asio::steady_timer& timer, bool& timed_out, Duration timeout) {
    if (timeout == kNoDeadline) return;
    timer.expires_after(timeout);
    timer.async_wait([self = shared_from_this(), &timer, &timed_out](const error_code& error) {
      // A handler queued just before Disarm() sees the far-future expiry.
      if (error || timer.expiry() > asio::steady_timer::clock_type::now()) return;
      timed_out = true;
      error_code ignored;
      self->socket.close(ignored);
    });
  }

  static void Disarm(asio::steady_timer& timer) {
    timer.expires_at(asio::steady_timer::time_point::max());  // cancels the wait
  }
};

// ---------------------------------------------------------------------------
// Construction and the handshake

SecureChannel::SecureChannel(PrivateTag, tcp::socket socket, Role role, ChannelOptions options)
    : link_(std::make_shared<Link>(std::move(socket))), role_(role), options_(std::move(options)) {}

SecureChannel::~SecureChannel() { link_->Shutdown(); }

uint64_t SecureChannel::bytes_received() const { return link_->bytes_read; }
uint64_t SecureChannel::bytes_sent() const { return link_->bytes_written; }

asio::awaitable<Result<std::unique_ptr<SecureChannel>>> SecureChannel::Handshake(
    tcp::socket socket, Role role, crypto::DhKeyPair static_key, Random& random,
    AcceptPeerFn accept_peer, ChannelOptions options) {
  auto channel =
      std::make_unique<SecureChannel>(PrivateTag{}, std::move(socket), role, std::move(options));
  Status status;
  try {
    status = co_await channel->RunHandshake(static_key, random, accept_peer);
  } catch (const std::exception& e) {
    status = Status::Internal(ExceptionMessage("the handshake", e));
  }
  if (!status.ok()) co_return channel->FailNow(std::move(status));
  co_return std::move(channel);
}

asio::awaitable<Status> SecureChannel::RunHandshake(const crypto::DhKeyPair& static_key,
                                                    Random& random,
                                                    const AcceptPeerFn& accept_peer) {
  Status init = crypto::Init();
  if (!init.ok()) co_return init;
  if (static_key.public_key.size() != noise::kDhBytes) {
    co_return Status::InvalidArgument("static key is not an X25519 key pair");
  }
  if (options_.local_payload.size() > wire::kMaxHandshakePayloadBytes) {
    co_return Status::InvalidArgument(
        "handshake payload of " + std::to_string(options_.local_payload.size()) +
        " bytes is over the limit of " + std::to_string(wire::kMaxHandshakePayloadBytes));
  }
  if (options_.max_message_bytes > wire::kMaxMessageBytesLimit) {
    co_return Status::InvalidArgument("max_message_bytes is over 2^32-1");
  }
  if (options_.idle_timeout <= Duration::zero()) {
    co_return Status::InvalidArgument("idle_timeout must be positive");
  }
  if (!accept_peer) co_return Status::InvalidArgument("accept_peer is required");

  noise::HandshakeState handshake(role_, wire::kPrologue, static_key, random);
  if (role_ == Role::kInitiator) co_return co_await HandshakeAsInitiator(handshake, accept_peer);
  co_return co_await HandshakeAsResponder(handshake, accept_peer);
}

asio::awaitable<Status> SecureChannel::HandshakeAsInitiator(noise::HandshakeState& handshake,
                                                            const AcceptPeerFn& accept_peer) {
  // -> e, with an empty payload: nothing in it would be encrypted yet.
  std::string message;
  Status status = handshake.WriteMessage("", &message);
  if (!status.ok()) co_return status;
  status = co_await WriteFrame(message, "handshake message 1");
  if (!status.ok()) co_return status;

  // <- e, ee, s, es, responder's payload
  Result<std::string> reply = co_await ReadFrame(
      {"handshake message 2", wire::kMinHandshakeMessage2Bytes, wire::kMaxHandshakeMessage2Bytes,
       /*may_idle=*/false});
  if (!reply.ok()) co_return reply.status();
  std::string payload;
  status = handshake.ReadMessage(*reply, &payload);
  if (!status.ok()) co_return status;
  status = accept_peer(handshake.remote_static_key(), payload);
  if (!status.ok()) {
    // Close without message 3, so a peer we do not trust never learns our key.
    co_return Status::PermissionDenied("we rejected the responder's static key: " +
                                       status.message());
  }

  // -> s, se, our payload
  message.clear();
  status = handshake.WriteMessage(options_.local_payload, &message);
  if (!status.ok()) co_return status;
  status = co_await WriteFrame(message, "handshake message 3");
  if (!status.ok()) co_return status;
  CompleteHandshake(handshake, std::move(payload));
  co_return co_await AwaitAcceptance();
}

asio::awaitable<Status> SecureChannel::HandshakeAsResponder(noise::HandshakeState& handshake,
                                                            const AcceptPeerFn& accept_peer) {
  // -> e (exactly 32 bytes: the payload must be empty)
  Result<std::string> first =
      co_await ReadFrame({"handshake message 1", wire::kHandshakeMessage1Bytes,
                          wire::kHandshakeMessage1Bytes, /*may_idle=*/false});
  if (!first.ok()) co_return first.status();
  std::string empty_payload;
  Status status = handshake.ReadMessage(*first, &empty_payload);
  if (!status.ok()) co_return status;

  // <- e, ee, s, es, our payload
  std::string message;
  status = handshake.WriteMessage(options_.local_payload, &message);
  if (!status.ok()) co_return status;
  status = co_await WriteFrame(message, "handshake message 2");
  if (!status.ok()) co_return status;

  // -> s, se, initiator's payload
  Result<std::string> third = co_await ReadFrame(
      {"handshake message 3", wire::kMinHandshakeMessage3Bytes, wire::kMaxHandshakeMessage3Bytes,
       /*may_idle=*/false});
  if (!third.ok()) co_return third.status();
  std::string payload;
  status = handshake.ReadMessage(*third, &payload);
  if (!status.ok()) co_return status;
  CompleteHandshake(handshake, std::move(payload));

  status = accept_peer(remote_static_key_, remote_payload_);
  if (!status.ok()) {
    co_return co_await Fail(
        Status::PermissionDenied("we rejected the initiator's static key: " + status.message()),
        wire::CloseCode::kRejected, "static key not accepted");
  }
  const std::string accept = wire::EncodeAccept();
  co_return co_await SendRecord(accept);
}

void SecureChannel::CompleteHandshake(const noise::HandshakeState& handshake,
                                      std::string remote_payload) {
  Result<noise::TransportCiphers> ciphers = handshake.Split();
  assert(ciphers.ok());  // only called once the handshake is complete
  send_ = std::move(ciphers->send);
  receive_ = std::move(ciphers->receive);
  remote_static_key_ = handshake.remote_static_key();
  remote_payload_ = std::move(remote_payload);
  handshake_hash_ = handshake.handshake_hash();
}

asio::awaitable<Status> SecureChannel::AwaitAcceptance() {
  for (;;) {
    Result<std::string> plaintext = co_await ReceiveRecord("the responder's verdict", false);
    if (!plaintext.ok()) co_return plaintext.status();
    Result<wire::Record> record = wire::ParseRecord(*plaintext);
    if (!record.ok()) co_return record.status();
    switch (record->type) {
      case wire::RecordType::kAccept:
        co_return Status::Ok();
      case wire::RecordType::kClose:
        co_return PeerClosed(record->body);
      case wire::RecordType::kMessage:
      case wire::RecordType::kContinuation:
        co_return Status::Corruption("responder sent a message before accepting our key");
      default:
        break;  // unknown record types are skipped, so the protocol can grow
    }
  }
}

// ---------------------------------------------------------------------------
// Sending

asio::awaitable<Status> SecureChannel::Send(std::string_view message) {
  if (!failure_.ok()) co_return failure_;
  if (sending_) co_return Status::FailedPrecondition("another Send is already in progress");
  if (message.size() > options_.max_message_bytes) {
    co_return Status::InvalidArgument("message of " + std::to_string(message.size()) +
                                      " bytes is over the limit of " +
                                      std::to_string(options_.max_message_bytes));
  }
  sending_ = true;
  Status status;
  try {
    status = co_await SendUnchecked(message);
  } catch (const std::exception& e) {
    status = Status::Internal(ExceptionMessage("Send", e));
  }
  sending_ = false;
  if (!status.ok()) co_return co_await Fail(std::move(status), std::nullopt, "");
  co_return Status::Ok();
}

asio::awaitable<Status> SecureChannel::SendUnchecked(std::string_view message) {
  wire::MessageSplitter splitter(message);
  while (!splitter.done()) {
    const std::string record = splitter.Next();
    Status status = co_await SendRecord(record);
    if (!status.ok()) co_return status;
  }
  co_return Status::Ok();
}

asio::awaitable<Status> SecureChannel::SendRecord(std::string_view record) {
  std::string ciphertext;
  Status status = send_.EncryptWithAd("", record, &ciphertext);
  if (!status.ok()) co_return status;
  co_return co_await WriteFrame(ciphertext, "a transport message");
}

asio::awaitable<Status> SecureChannel::WriteFrame(std::string_view noise_message,
                                                  std::string_view name) {
  std::string frame;
  frame.reserve(wire::kLengthPrefixBytes + noise_message.size());
  wire::AppendFrame(noise_message, &frame);
  IoOutcome io = co_await link_->Write(asio::buffer(frame), options_.idle_timeout);
  if (io.ok()) co_return Status::Ok();
  if (!failure_.ok()) co_return failure_;
  if (io.timed_out) {
    co_return Status::Unavailable("peer stalled: it did not take " + std::string(name) +
                                  " within the idle timeout of " + Millis(options_.idle_timeout));
  }
  co_return Status::Unavailable("could not write " + std::string(name) + ": " + io.error.message());
}

// ---------------------------------------------------------------------------
// Receiving

asio::awaitable<Result<std::string>> SecureChannel::Receive() {
  if (!failure_.ok()) co_return failure_;
  if (receiving_) co_return Status::FailedPrecondition("another Receive is already in progress");
  receiving_ = true;
  Result<std::string> result = Status::Internal("Receive produced no result");
  try {
    result = co_await ReceiveUnchecked();
  } catch (const std::exception& e) {
    result = FailNow(Status::Internal(ExceptionMessage("Receive", e)));
  }
  receiving_ = false;
  co_return result;
}

asio::awaitable<Result<std::string>> SecureChannel::ReceiveUnchecked() {
  wire::MessageAssembler assembler(options_.max_message_bytes);
  for (;;) {
    const bool between_messages = !assembler.in_progress();
    Result<std::string> plaintext = co_await ReceiveRecord(
        between_messages ? "the next message" : "the rest of a message", between_messages);
    if (!plaintext.ok()) {
      Status status = plaintext.status();
      std::optional<wire::CloseCode> notify;
      if (IsProtocolError(status)) notify = wire::CloseCode::kProtocolError;
      std::string reason = status.message();
      co_return co_await Fail(std::move(status), notify, std::move(reason));
    }
    Result<wire::Record> record = wire::ParseRecord(*plaintext);
    if (!record.ok()) {
      std::string reason = record.status().message();
      co_return co_await Fail(record.status(), wire::CloseCode::kProtocolError, std::move(reason));
    }
    switch (record->type) {
      case wire::RecordType::kMessage:
      case wire::RecordType::kContinuation: {
        Result<bool> complete = assembler.Add(*record);
        if (!complete.ok()) {
          std::string reason = complete.status().message();
          co_return co_await Fail(complete.status(), wire::CloseCode::kProtocolError,
                                  std::move(reason));
        }
        if (*complete) co_return assembler.TakeMessage();
        break;
      }
      case wire::RecordType::kClose:
        co_return co_await Fail(PeerClosed(record->body), std::nullopt, "");
      case wire::RecordType::kAccept:
        co_return co_await Fail(Status::Corruption("unexpected accept record after the handshake"),
                                wire::CloseCode::kProtocolError, "unexpected accept record");
      default:
        break;  // unknown record types are skipped, so the protocol can grow
    }
  }
}

asio::awaitable<Result<std::string>> SecureChannel::ReceiveRecord(std::string_view name,
                                                                  bool may_idle) {
  Result<std::string> frame = co_await ReadFrame(
      {name, wire::kMinTransportMessageBytes, noise::kMaxMessageBytes, may_idle});
  if (!frame.ok()) co_return frame.status();
  const uint64_t number = receive_.nonce();
  std::string plaintext;
  Status status = receive_.DecryptWithAd("", *frame, &plaintext);
  if (status.code() == StatusCode::kUnauthenticated) {
    co_return Status::Unauthenticated(
        "transport message " + std::to_string(number) +
        " from the peer failed authentication: it was corrupted, forged, replayed or reordered");
  }
  if (!status.ok()) co_return status;
  co_return plaintext;
}

asio::awaitable<Result<std::string>> SecureChannel::ReadFrame(FrameSpec spec) {
  const Duration idle = options_.idle_timeout;
  uint8_t prefix[wire::kLengthPrefixBytes];
  IoOutcome io;
  if (spec.may_idle) {
    // The first byte may take as long as it likes; the rest may not.
    io = co_await link_->Read(asio::buffer(prefix, 1), kNoDeadline);
    if (io.ok()) {
      io = co_await link_->Read(asio::buffer(prefix + 1, 1), idle);
      io.bytes += 1;
    }
  } else {
    io = co_await link_->Read(asio::buffer(prefix), idle);
  }
  if (!io.ok()) co_return ReadError(io, spec.name, /*in_body=*/false, sizeof prefix);

  const size_t length =
      wire::DecodeLengthPrefix({reinterpret_cast<const char*>(prefix), sizeof prefix});
  if (length < spec.min_bytes || length > spec.max_bytes) {
    const std::string allowed = spec.min_bytes == spec.max_bytes
                                    ? std::to_string(spec.min_bytes)
                                    : "between " + std::to_string(spec.min_bytes) + " and " +
                                          std::to_string(spec.max_bytes);
    co_return Status::Corruption("length prefix announces " + std::string(spec.name) + " of " +
                                 std::to_string(length) + " bytes; it must be " + allowed);
  }
  std::string message(length, '\0');
  io = co_await link_->Read(asio::buffer(message), idle);
  if (!io.ok()) co_return ReadError(io, spec.name, /*in_body=*/true, length);
  co_return message;
}

Status SecureChannel::ReadError(const IoOutcome& io, std::string_view what, bool in_body,
                                size_t expected) const {
  if (!failure_.ok()) return failure_;  // we closed the socket ourselves
  const std::string name(what);
  if (io.timed_out) {
    return Status::Unavailable("peer stalled: no progress on " + name +
                               " within the idle timeout of " + Millis(options_.idle_timeout));
  }
  if (io.error == asio::error::eof) {
    if (!in_body && io.bytes == 0) {
      return Status::Unavailable("peer closed the connection while we waited for " + name);
    }
    return Status::Unavailable("connection ended in the middle of a frame (" + name +
                               "): received " + std::to_string(io.bytes) + " of the " +
                               std::to_string(expected) + " bytes of its " +
                               (in_body ? "body" : "length prefix"));
  }
  return Status::Unavailable("could not read " + name + ": " + io.error.message());
}

// ---------------------------------------------------------------------------
// Closing

asio::awaitable<void> SecureChannel::Close() {
  try {
    Status closed = co_await Fail(Status::FailedPrecondition("the channel was closed"),
                                  wire::CloseCode::kNormal, "");
    closed.IgnoreError();
  } catch (const std::exception& e) {
    FailNow(Status::Internal(ExceptionMessage("Close", e))).IgnoreError();
  }
}

asio::awaitable<Status> SecureChannel::Fail(Status status, std::optional<wire::CloseCode> notify,
                                            std::string reason_for_peer) {
  if (!failure_.ok()) co_return failure_;
  failure_ = std::move(status);
  if (notify.has_value() && !sending_) {
    // Best effort: the peer learns why, if it is still listening.
    sending_ = true;
    const std::string record = wire::EncodeClose(*notify, reason_for_peer);
    Status sent = co_await SendRecord(record);
    sent.IgnoreError();
    sending_ = false;
  }
  link_->Shutdown();
  co_return failure_;
}

Status SecureChannel::FailNow(Status status) {
  if (failure_.ok()) failure_ = std::move(status);
  link_->Shutdown();
  return failure_;
}

}  // namespace kindred::net
