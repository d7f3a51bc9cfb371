#include "engine/pairing/pairing.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <optional>

#include "engine/core/transport_key.h"

namespace kindred::pairing {
namespace {

using asio::ip::tcp;
using boost::system::error_code;
using ChannelPtr = std::shared_ptr<net::SecureChannel>;

constexpr std::string_view kExchangeLabel = "kindred-pairing-v1 exchange";
constexpr uint32_t kCertificateFormat = 1;
constexpr size_t kMaxMemberIdBytes = 64;

std::string Seconds(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

std::string CleanReason(std::string_view reason) {
  std::string out;
  for (char c : reason.substr(0, kMaxAbortReasonBytes)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

v1::PairingKind WireKind(PairingKind kind) {
  return kind == PairingKind::kPartner ? v1::PAIRING_KIND_PARTNER : v1::PAIRING_KIND_DEVICE;
}

crypto::SymmetricKey DirectionKey(const crypto::SymmetricKey& session_key, std::string_view who) {
  std::string label(kExchangeLabel);
  label.append(" ");
  label.append(who);
  crypto::SecretString bytes(crypto::KeyedHash(session_key, label, crypto::kKeyBytes));
  return *crypto::SymmetricKey::FromBytes(bytes.str());
}

std::string CertificateBody(const v1::DeviceCertificate& certificate, char role,
                            std::string_view channel_hash, std::string_view transcript_hash) {
  v1::DeviceCertificate unsigned_copy = certificate;
  unsigned_copy.clear_signature();
  std::string encoded;
  {
    google::protobuf::io::StringOutputStream stream(&encoded);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    unsigned_copy.SerializeToCodedStream(&coded);
  }
  std::string body(1, role);
  body.append(channel_hash);
  body.append(transcript_hash);
  body.append(encoded);
  return body;
}

// What one Receive on a pairing channel gave.
struct Incoming {
  Status status;  // not OK: the channel failed, timed out, or the peer aborted
  bool aborted = false;
  std::string abort_reason;  // printable, when aborted
  v1::PairingMessage message;
};

// Waits for the next message, for at most `limit`: past it, the channel is
// closed (which ends the pending Receive).
asio::awaitable<Incoming> ReceiveWithin(ChannelPtr channel, Duration limit, std::string_view what) {
  auto executor = co_await asio::this_coro::executor;
  auto fired = std::make_shared<bool>(false);
  asio::steady_timer timer(executor);
  timer.expires_after(limit);
  timer.async_wait([channel, fired, executor](const error_code& error) {
    if (error) return;
    *fired = true;
    asio::co_spawn(
        executor, [channel]() -> asio::awaitable<void> { co_await channel->Close(); },
        asio::detached);
  });
  Result<std::string> bytes = co_await channel->Receive();
  timer.cancel();
  Incoming in;
  if (*fired) {
    in.status = Status::Unavailable("the other device did not send " + std::string(what) +
                                    " within " + Seconds(limit));
    co_return in;
  }
  if (!bytes.ok()) {
    in.status = bytes.status().code() == StatusCode::kUnavailable ||
                        bytes.status().code() == StatusCode::kFailedPrecondition
                    ? Status::Unavailable("the other device went away before sending " +
                                          std::string(what))
                    : bytes.status().WithContext("the pairing channel");
    co_return in;
  }
  Result<v1::PairingMessage> message = DecodeMessage(*bytes);
  if (!message.ok()) {
    in.status = message.status();
    co_return in;
  }
  if (message->has_abort()) {
    in.aborted = true;
    in.abort_reason = CleanReason(message->abort().reason());
    in.status = Status::PermissionDenied("the other device gave up: " + in.abort_reason);
    co_return in;
  }
  in.message = std::move(*message);
  co_return in;
}

asio::awaitable<Status> SendMessage(net::SecureChannel& channel, const v1::PairingMessage& m) {
  const std::string bytes = EncodeMessage(m);
  co_return co_await channel.Send(bytes);
}

asio::awaitable<void> SendAbort(net::SecureChannel& channel, std::string_view reason) {
  v1::PairingMessage m;
  m.mutable_abort()->set_reason(CleanReason(reason));
  Status sent = co_await SendMessage(channel, m);
  sent.IgnoreError();  // best effort: the peer may be gone
}

asio::awaitable<Status> SendSealed(net::SecureChannel& channel, SealedExchange& exchange,
                                   const v1::PairingSecret& secret) {
  v1::PairingMessage m;
  m.set_sealed(exchange.Seal(secret));
  co_return co_await SendMessage(channel, m);
}

// Accepts any peer but this device itself: pairing is how devices meet.
net::AcceptPeerFn AcceptAnyOtherDevice(const Engine& engine) {
  const std::string own = engine.device().dh_pk;
  return [own](std::string_view key, std::string_view) -> Status {
    if (key == own) return Status::PermissionDenied("the other end is this very device");
    return Status::Ok();
  };
}

net::ChannelOptions PairingChannelOptions(Duration step_timeout) {
  net::ChannelOptions options;
  options.idle_timeout = step_timeout;
  options.max_message_bytes = kMaxExchangeMessageBytes;
  return options;
}

// One joiner's attempt, as the inviter sees it.
struct Attempt {
  Status status;       // OK when paired
  bool counts = true;  // reached the PAKE: it counts against the invite
  bool fatal = false;  // this device failed: stop
  std::optional<Paired> paired;
};

asio::awaitable<Attempt> ServeJoiner(Engine& engine, tcp::socket socket, const InviteCode& code,
                                     const InviteOptions& options, Env& env) {
  Attempt attempt;
  attempt.counts = false;
  Result<crypto::DhKeyPair> key = core::TransportKeyPair(engine);
  if (!key.ok()) {
    attempt.status = key.status();
    attempt.fatal = true;
    co_return attempt;
  }
  // Named, not temporaries: GCC 12 can destroy a temporary argument of a
  // co_await'ed call twice.
  net::AcceptPeerFn accept = AcceptAnyOtherDevice(engine);
  net::ChannelOptions channel_options = PairingChannelOptions(options.step_timeout);
  auto handshake = co_await net::SecureChannel::Handshake(
      std::move(socket), net::Role::kResponder, *key, env.random(), accept, channel_options);
  if (!handshake.ok()) {
    attempt.status = handshake.status().WithContext("the secure handshake");
    co_return attempt;
  }
  ChannelPtr channel(std::move(*handshake));
  const std::string hash = channel->handshake_hash();
  auto fail = [&](Status status) -> asio::awaitable<Attempt> {
    co_await SendAbort(*channel, status.message());
    co_await channel->Close();
    attempt.status = std::move(status);
    co_return attempt;
  };

  v1::PairingMessage hello;
  hello.mutable_hello()->set_version(kExchangeVersion);
  hello.mutable_hello()->set_kind(WireKind(options.kind));
  if (Status sent = co_await SendMessage(*channel, hello); !sent.ok()) {
    attempt.status = sent;
    co_return attempt;
  }
  Incoming first = co_await ReceiveWithin(channel, options.step_timeout, "its first PAKE message");
  if (!first.status.ok()) {
    Status failure_ = first.status;
    co_return co_await fail(std::move(failure_));
  }
  if (!first.message.has_pake()) {
    Status failure_ = Status::Corruption("it sent something else than the first PAKE message");
    co_return co_await fail(std::move(failure_));
  }
  // From here on the code is at stake: the attempt counts.
  attempt.counts = true;
  Result<PakeStart> start =
      PakeSession::Start(PakeRole::kResponder, code, ContextFor(options.kind, hash), env.random());
  if (!start.ok()) {
    attempt.fatal = true;
    Status failure_ = start.status();
    co_return co_await fail(std::move(failure_));
  }
  PakeSession& pake = *start->session;
  Result<std::string> reply = pake.Receive(first.message.pake());
  if (!reply.ok()) {
    Status failure_ = reply.status().WithContext("its first PAKE message");
    co_return co_await fail(std::move(failure_));
  }
  v1::PairingMessage second;
  second.set_pake(*reply);
  if (Status sent = co_await SendMessage(*channel, second); !sent.ok()) {
    attempt.status = sent;
    co_return attempt;
  }
  Incoming third = co_await ReceiveWithin(channel, options.step_timeout, "its PAKE confirmation");
  if (!third.status.ok()) {
    // An honest joiner with another code stops here (and says so).
    Status why = third.aborted ? Status::Unauthenticated("its invite code did not match")
                 : third.status.code() == StatusCode::kUnavailable
                     ? Status::Unauthenticated(
                           "it left without confirming the invite code (a wrong code?)")
                     : third.status;
    Status failure_ = why;
    co_return co_await fail(std::move(failure_));
  }
  if (!third.message.has_pake()) {
    Status failure_ = Status::Corruption("it sent something else than its PAKE confirmation");
    co_return co_await fail(std::move(failure_));
  }
  Result<std::string> last = pake.Receive(third.message.pake());
  if (!last.ok() || !pake.IsComplete()) {
    Status failure_ = Status::Unauthenticated(
        "the invite code did not match (its confirmation failed to verify)");
    co_return co_await fail(std::move(failure_));
  }
  Result<PakeOutcome> outcome = pake.Outcome();
  if (!outcome.ok()) {
    Status failure_ = outcome.status();
    co_return co_await fail(std::move(failure_));
  }
  SealedExchange exchange(outcome->session_key, PakeRole::kResponder, hash,
                          outcome->transcript_hash);

  // Its certificate.
  Incoming cert_in = co_await ReceiveWithin(channel, options.step_timeout, "its certificate");
  if (!cert_in.status.ok()) {
    Status failure_ = cert_in.status;
    co_return co_await fail(std::move(failure_));
  }
  if (!cert_in.message.has_sealed()) {
    Status failure_ = Status::Corruption("it sent no sealed certificate");
    co_return co_await fail(std::move(failure_));
  }
  Result<v1::PairingSecret> cert_secret = exchange.Open(cert_in.message.sealed());
  if (!cert_secret.ok()) {
    Status failure_ = cert_secret.status();
    co_return co_await fail(std::move(failure_));
  }
  if (!cert_secret->has_certificate()) {
    Status failure_ = Status::Corruption("it sent something else than its certificate");
    co_return co_await fail(std::move(failure_));
  }
  Result<DeviceCard> joiner = CheckCertificate(cert_secret->certificate(), 'J',
                                               channel->remote_static_key(), hash,
                                               outcome->transcript_hash);
  if (!joiner.ok()) {
    Status failure_ = joiner.status();
    co_return co_await fail(std::move(failure_));
  }

  // What to share with it; nothing is written yet.
  Result<std::unique_ptr<PendingAdmission>> pending = engine.PrepareAdmission(*joiner, options.kind);
  if (!pending.ok()) {
    Status failure_ = pending.status();
    co_return co_await fail(std::move(failure_));
  }
  Result<v1::DeviceCertificate> mine =
      MakeCertificate(engine, 'I', hash, outcome->transcript_hash);
  if (!mine.ok()) {
    attempt.fatal = true;
    Status failure_ = mine.status();
    co_return co_await fail(std::move(failure_));
  }
  v1::PairingSecret offer;
  *offer.mutable_offer()->mutable_inviter() = *mine;
  for (const std::string& grant : (*pending)->grants()) offer.mutable_offer()->add_grants(grant);
  if (Status sent = co_await SendSealed(*channel, exchange, offer); !sent.ok()) {
    attempt.status = sent;
    co_return attempt;
  }
  Incoming ready_in = co_await ReceiveWithin(channel, options.step_timeout, "its readiness");
  if (!ready_in.status.ok()) {
    Status failure_ = ready_in.status.code() == StatusCode::kUnavailable
                                ? Status::Unavailable(ready_in.status.message() +
                                                      "; nothing was changed")
                                : ready_in.status;
    co_return co_await fail(std::move(failure_));
  }
  Result<v1::PairingSecret> ready =
      ready_in.message.has_sealed() ? exchange.Open(ready_in.message.sealed())
                                    : Result<v1::PairingSecret>(Status::Corruption("not sealed"));
  if (!ready.ok() || !ready->has_ready()) {
    Status failure_ = Status::Corruption("it sent something else than its readiness");
    co_return co_await fail(std::move(failure_));
  }

  // Both sides agree: write the rosters, then tell the joiner.
  Status completed = engine.CompleteAdmission(**pending);
  if (!completed.ok()) {
    attempt.fatal = true;
    Status failure_ = completed;
    co_return co_await fail(std::move(failure_));
  }
  v1::PairingSecret done;
  done.mutable_done();
  Status sent = co_await SendSealed(*channel, exchange, done);
  sent.IgnoreError();  // written here: the joiner joins when it hears, or it retries the join
  // Wait for the joiner's goodbye, so the last message surely left.
  Incoming bye = co_await ReceiveWithin(channel, options.step_timeout, "its goodbye");
  static_cast<void>(bye);
  co_await channel->Close();
  attempt.status = Status::Ok();
  attempt.paired = Paired{options.kind, (*pending)->recipient(), outcome->safety_words, {}};
  co_return attempt;
}

}  // namespace

std::string_view KindName(PairingKind kind) {
  return kind == PairingKind::kPartner ? "partner" : "device";
}

PakeContext ContextFor(PairingKind kind, std::string_view channel_hash) {
  PakeContext context;
  context.initiator_id = "kindred join " + std::string(KindName(kind));
  context.responder_id = "kindred invite " + std::string(KindName(kind));
  context.channel_binding = std::string(channel_hash);
  return context;
}

SealedExchange::SealedExchange(const crypto::SymmetricKey& session_key, PakeRole role,
                               std::string_view channel_hash, std::string_view transcript_hash)
    : send_key_(DirectionKey(session_key, role == PakeRole::kInitiator ? "joiner" : "inviter")),
      receive_key_(DirectionKey(session_key, role == PakeRole::kInitiator ? "inviter" : "joiner")),
      ad_(kExchangeLabel) {
  ad_.append(channel_hash);
  ad_.append(transcript_hash);
}

std::string SealedExchange::Seal(const v1::PairingSecret& secret) {
  crypto::SecretString plain(secret.SerializeAsString());
  std::string nonce(crypto::kXNonceBytes - 8, '\0');
  crypto::PutU64(&nonce, sent_++);
  std::string out;
  crypto::AeadSeal(send_key_, nonce, ad_, plain.str(), &out);
  return out;
}

Result<v1::PairingSecret> SealedExchange::Open(std::string_view sealed) {
  std::string nonce(crypto::kXNonceBytes - 8, '\0');
  crypto::PutU64(&nonce, received_);
  crypto::SecretString plain;
  if (!crypto::AeadOpen(receive_key_, nonce, ad_, sealed, &plain.str()).ok()) {
    return Status::Unauthenticated(
        "a sealed pairing message failed authentication: altered, replayed or out of order");
  }
  ++received_;
  v1::PairingSecret secret;
  if (!secret.ParseFromString(plain.str()) ||
      secret.body_case() == v1::PairingSecret::BODY_NOT_SET) {
    return Status::Corruption("a sealed pairing message is malformed");
  }
  return secret;
}

Result<v1::DeviceCertificate> MakeCertificate(const Engine& engine, char role,
                                              std::string_view channel_hash,
                                              std::string_view transcript_hash) {
  const DeviceCard card = engine.card();
  v1::DeviceCertificate certificate;
  certificate.set_format(kCertificateFormat);
  certificate.set_device_id(std::string(card.id.bytes()));
  certificate.set_sign_pk(card.sign_pk);
  certificate.set_dh_pk(card.dh_pk);
  certificate.set_member_id(card.member_id);
  certificate.set_member_name(card.member_name);
  certificate.set_device_name(card.device_name);
  KINDRED_ASSIGN_OR_RETURN(
      std::string signature,
      core::SignPairingCertificate(
          engine, CertificateBody(certificate, role, channel_hash, transcript_hash)));
  certificate.set_signature(std::move(signature));
  return certificate;
}

Result<DeviceCard> CheckCertificate(const v1::DeviceCertificate& c, char role,
                                    std::string_view remote_static_key,
                                    std::string_view channel_hash,
                                    std::string_view transcript_hash) {
  const std::string what = "the other device's certificate ";
  if (c.format() != kCertificateFormat) {
    return Status::Corruption(what + "has unknown format " + std::to_string(c.format()));
  }
  if (c.sign_pk().size() != crypto::kSignPublicKeyBytes ||
      c.dh_pk().size() != crypto::kDhPublicKeyBytes) {
    return Status::Corruption(what + "holds keys of the wrong size");
  }
  auto id = DeviceId::FromBytes(c.device_id());
  if (!id.ok() || DeviceId::FromPublicKeys(c.sign_pk(), c.dh_pk()) != *id) {
    return Status::Corruption(what + "names a device id that does not match its keys");
  }
  if (!crypto::ConstantTimeEquals(c.dh_pk(), remote_static_key)) {
    return Status::Corruption(what + "names another key than the one it connected with");
  }
  if (c.member_name().empty() || c.member_name().size() > 255 || c.device_name().size() > 255 ||
      c.member_id().empty() || c.member_id().size() > kMaxMemberIdBytes) {
    return Status::Corruption(what + "has a missing or oversized name or member id");
  }
  std::string message(core::kPairingCertificateContext);
  message.append(CertificateBody(c, role, channel_hash, transcript_hash));
  if (!crypto::Verify(c.sign_pk(), message, c.signature())) {
    return Status::Corruption(what + "is not signed for this pairing by its own key");
  }
  DeviceCard card;
  card.id = *id;
  card.sign_pk = c.sign_pk();
  card.dh_pk = c.dh_pk();
  card.member_id = c.member_id();
  card.member_name = c.member_name();
  card.device_name = c.device_name();
  return card;
}

std::string EncodeMessage(const v1::PairingMessage& message) {
  return message.SerializeAsString();
}

Result<v1::PairingMessage> DecodeMessage(std::string_view bytes) {
  v1::PairingMessage message;
  if (bytes.size() > kMaxExchangeMessageBytes ||
      !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      message.body_case() == v1::PairingMessage::BODY_NOT_SET) {
    return Status::Corruption("the other device sent a malformed pairing message");
  }
  return message;
}

asio::awaitable<Result<Paired>> Invite(Engine& engine, tcp::acceptor& acceptor,
                                       const InviteCode& code, InviteOptions options) {
  Env& env = options.env ? *options.env : Env::System();
  auto executor = co_await asio::this_coro::executor;
  // The invite's life: when it ends, the acceptor closes and accept returns.
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer life(executor);
  life.expires_after(options.timeout);
  life.async_wait([&acceptor, expired](const error_code& error) {
    if (error) return;
    *expired = true;
    error_code ignored;
    acceptor.close(ignored);
  });
  auto finish = [&](Result<Paired> result) {
    life.cancel();
    error_code ignored;
    acceptor.close(ignored);  // single use: nobody else gets in
    return result;
  };
  int failed = 0;
  for (;;) {
    error_code error;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
    if (*expired) {
      co_return finish(Status::Unavailable("the invite expired after " + Seconds(options.timeout) +
                                           " with nobody paired; make a new one"));
    }
    if (error) {
      co_return finish(Status::Unavailable("the invite stopped listening: " + error.message()));
    }
    std::string from = "a device";
    if (auto remote = socket.remote_endpoint(error); !error) {
      from = "a device at " + remote.address().to_string();
    }
    socket.set_option(tcp::no_delay(true), error);
    Attempt attempt = co_await ServeJoiner(engine, std::move(socket), code, options, env);
    if (attempt.status.ok() && attempt.paired) co_return finish(std::move(*attempt.paired));
    if (attempt.fatal) co_return finish(attempt.status);
    if (!attempt.counts) {
      if (options.log) options.log(from + " connected but did not pair: " + attempt.status.message());
      continue;
    }
    ++failed;
    if (options.log) {
      options.log(from + " tried to pair and failed: " + attempt.status.message() + " (" +
                  std::to_string(failed) + " of " + std::to_string(options.max_failed_attempts) +
                  " failed attempts)");
    }
    if (failed >= options.max_failed_attempts) {
      co_return finish(Status::PermissionDenied(
          std::to_string(failed) +
          " attempts to pair failed, so the invite is closed (the last: " +
          attempt.status.message() + "); make a new one"));
    }
  }
}

asio::awaitable<Result<Paired>> Join(Engine& engine, tcp::endpoint inviter, const InviteCode& code,
                                     JoinOptions options) {
  Env& env = options.env ? *options.env : Env::System();
  auto executor = co_await asio::this_coro::executor;
  const std::string where = inviter.address().to_string() + ":" + std::to_string(inviter.port());

  // Connect, within connect_timeout.
  auto socket = std::make_shared<tcp::socket>(executor);
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(executor);
  deadline.expires_after(options.connect_timeout);
  deadline.async_wait([socket, timed_out](const error_code& e) {
    if (e) return;
    *timed_out = true;
    error_code ignored;
    socket->close(ignored);
  });
  error_code error;
  co_await socket->async_connect(inviter, asio::redirect_error(asio::use_awaitable, error));
  deadline.cancel();
  if (error || *timed_out) {
    co_return Status::Unavailable("cannot reach an invite at " + where + ": " +
                                  (*timed_out ? "no answer within " + Seconds(options.connect_timeout)
                                              : error.message()) +
                                  " (has it expired or closed?)");
  }
  socket->set_option(tcp::no_delay(true), error);
  Result<crypto::DhKeyPair> key = core::TransportKeyPair(engine);
  if (!key.ok()) co_return key.status();
  net::AcceptPeerFn accept = AcceptAnyOtherDevice(engine);
  net::ChannelOptions channel_options = PairingChannelOptions(options.step_timeout);
  auto handshake = co_await net::SecureChannel::Handshake(
      std::move(*socket), net::Role::kInitiator, *key, env.random(), accept, channel_options);
  if (!handshake.ok()) {
    co_return handshake.status().code() == StatusCode::kUnavailable
        ? Status::Unavailable("the invite at " + where + " closed the connection (" +
                              handshake.status().message() + ")")
        : handshake.status().WithContext("the secure handshake with " + where);
  }
  ChannelPtr channel(std::move(*handshake));
  const std::string hash = channel->handshake_hash();
  auto fail = [&](Status status, bool tell) -> asio::awaitable<Result<Paired>> {
    if (tell) co_await SendAbort(*channel, status.message());
    co_await channel->Close();
    co_return status;
  };
  auto refused = [](const Incoming& in) {
    return in.aborted ? Status::PermissionDenied("the inviter refused: " + in.abort_reason)
                      : in.status;
  };

  Incoming hello = co_await ReceiveWithin(channel, options.step_timeout, "its hello");
  if (!hello.status.ok()) {
    Status failure_ = refused(hello);
    co_return co_await fail(std::move(failure_), false);
  }
  if (!hello.message.has_hello()) {
    Status failure_ = Status::Corruption("the inviter did not start with a hello");
    co_return co_await fail(std::move(failure_), true);
  }
  if (hello.message.hello().version() != kExchangeVersion) {
    Status failure_ = Status::FailedPrecondition("the inviter speaks pairing version " +
                                   std::to_string(hello.message.hello().version()) +
                                   "; this device speaks version " +
                                   std::to_string(kExchangeVersion) +
                                   ": both devices need a compatible Kindred");
    co_return co_await fail(std::move(failure_), true);
  }
  PairingKind kind;
  switch (hello.message.hello().kind()) {
    case v1::PAIRING_KIND_PARTNER:
      kind = PairingKind::kPartner;
      break;
    case v1::PAIRING_KIND_DEVICE:
      kind = PairingKind::kOwnDevice;
      break;
    default:
      Status failure_ = Status::Corruption("the inviter named an unknown kind of pairing");
      co_return co_await fail(std::move(failure_), true);
  }

  Result<PakeStart> start =
      PakeSession::Start(PakeRole::kInitiator, code, ContextFor(kind, hash), env.random());
  if (!start.ok()) {
    Status failure_ = start.status();
    co_return co_await fail(std::move(failure_), true);
  }
  PakeSession& pake = *start->session;
  v1::PairingMessage first;
  first.set_pake(start->first_message);
  if (Status sent = co_await SendMessage(*channel, first); !sent.ok()) {
    Status failure_ = Status::Unavailable("the inviter went away: " + sent.message());
    co_return co_await fail(std::move(failure_), false);
  }
  Incoming second = co_await ReceiveWithin(channel, options.step_timeout, "its PAKE answer");
  if (!second.status.ok()) {
    Status failure_ = refused(second);
    co_return co_await fail(std::move(failure_), false);
  }
  if (!second.message.has_pake()) {
    Status failure_ = Status::Corruption("the inviter did not answer the PAKE");
    co_return co_await fail(std::move(failure_), true);
  }
  Result<std::string> third_bytes = pake.Receive(second.message.pake());
  if (!third_bytes.ok()) {
    if (third_bytes.status().code() == StatusCode::kUnauthenticated) {
      Status failure_ = Status::Unauthenticated(
              "the invite code does not match the inviter's: check it and try again (each "
              "failed try counts against the invite)");
      co_return co_await fail(std::move(failure_), true);
    }
    Status failure_ = third_bytes.status().WithContext("the inviter's PAKE answer");
    co_return co_await fail(std::move(failure_), true);
  }
  v1::PairingMessage third;
  third.set_pake(*third_bytes);
  if (Status sent = co_await SendMessage(*channel, third); !sent.ok()) {
    Status failure_ = Status::Unavailable("the inviter went away: " + sent.message());
    co_return co_await fail(std::move(failure_), false);
  }
  Result<PakeOutcome> outcome = pake.Outcome();
  if (!outcome.ok()) {
    Status failure_ = outcome.status();
    co_return co_await fail(std::move(failure_), true);
  }
  SealedExchange exchange(outcome->session_key, PakeRole::kInitiator, hash,
                          outcome->transcript_hash);

  Result<v1::DeviceCertificate> mine = MakeCertificate(engine, 'J', hash, outcome->transcript_hash);
  if (!mine.ok()) {
    Status failure_ = mine.status();
    co_return co_await fail(std::move(failure_), true);
  }
  v1::PairingSecret certificate;
  *certificate.mutable_certificate() = *mine;
  if (Status sent = co_await SendSealed(*channel, exchange, certificate); !sent.ok()) {
    Status failure_ = Status::Unavailable("the inviter went away: " + sent.message());
    co_return co_await fail(std::move(failure_), false);
  }
  Incoming offer_in = co_await ReceiveWithin(channel, options.step_timeout, "its offer");
  if (!offer_in.status.ok()) {
    Status failure_ = refused(offer_in);
    co_return co_await fail(std::move(failure_), false);
  }
  Result<v1::PairingSecret> offer =
      offer_in.message.has_sealed() ? exchange.Open(offer_in.message.sealed())
                                    : Result<v1::PairingSecret>(Status::Corruption(
                                          "the inviter sent no sealed offer"));
  if (!offer.ok()) {
    Status failure_ = offer.status();
    co_return co_await fail(std::move(failure_), true);
  }
  if (!offer->has_offer()) {
    Status failure_ = Status::Corruption("the inviter sent something else than its offer");
    co_return co_await fail(std::move(failure_), true);
  }
  Result<DeviceCard> inviter_card = CheckCertificate(
      offer->offer().inviter(), 'I', channel->remote_static_key(), hash, outcome->transcript_hash);
  if (!inviter_card.ok()) {
    Status failure_ = inviter_card.status();
    co_return co_await fail(std::move(failure_), true);
  }
  const std::vector<std::string> grants(offer->offer().grants().begin(),
                                        offer->offer().grants().end());
  Status checked = engine.CheckAdmission(grants, *inviter_card, kind);
  if (!checked.ok()) {
    Status failure_ = checked;
    co_return co_await fail(std::move(failure_), true);
  }
  v1::PairingSecret ready;
  ready.mutable_ready();
  if (Status sent = co_await SendSealed(*channel, exchange, ready); !sent.ok()) {
    Status failure_ = Status::Unavailable("the inviter went away: " + sent.message());
    co_return co_await fail(std::move(failure_), false);
  }
  Incoming done_in = co_await ReceiveWithin(channel, options.step_timeout, "its confirmation");
  if (!done_in.status.ok()) {
    Status failure_ = done_in.status.code() == StatusCode::kUnavailable
            ? Status::Unavailable(done_in.status.message() + "; nothing was changed here")
            : refused(done_in);
    co_return co_await fail(std::move(failure_), false);
  }
  Result<v1::PairingSecret> done =
      done_in.message.has_sealed() ? exchange.Open(done_in.message.sealed())
                                   : Result<v1::PairingSecret>(Status::Corruption("not sealed"));
  if (!done.ok() || !done->has_done()) {
    Status failure_ = Status::Corruption("the inviter sent something else than done");
    co_return co_await fail(std::move(failure_), true);
  }
  Result<std::vector<SpaceId>> joined = engine.AcceptAdmission(grants, *inviter_card, kind);
  if (!joined.ok()) {
    Status failure_ = joined.status();
    co_return co_await fail(std::move(failure_), false);
  }
  co_await channel->Close();
  co_return Paired{kind, *inviter_card, outcome->safety_words, std::move(*joined)};
}

}  // namespace kindred::pairing
