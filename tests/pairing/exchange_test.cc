// The pairing exchange over loopback TCP, in process: an honest inviter and
// joiner, and joiners that misbehave (replayed PAKE messages, a forged
// certificate, vanishing halfway), with what each leaves behind. Also the
// sealed layer, certificates and LAN discovery on 127.0.0.1.
// clang-format off: Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it has to come first.
#include <utility>
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "engine/core/transport_key.h"
#include "engine/pairing/discovery.h"
#include "engine/pairing/pairing.h"
#include "kindred/engine.h"
#include "tests/testing/engine_fixture.h"

namespace kindred::pairing {
namespace {

using asio::ip::tcp;
using kindred::testing::TestEnv;

using Device = kindred::testing::TestDevice;

// Runs coroutines on one loop until `done` or a time limit.
class Loop {
 public:
  asio::io_context& io() { return io_; }
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

 private:
  asio::io_context io_;
};

// An open invite on 127.0.0.1, port 0.
class OpenInvite {
 public:
  OpenInvite(Loop& loop, Device& inviter, const InviteCode& code, InviteOptions options)
      : acceptor_(loop.io()) {
    tcp::endpoint where(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(where.protocol());
    acceptor_.bind(where);
    acceptor_.listen();
    endpoint_ = acceptor_.local_endpoint();
    options.env = inviter.env.get();
    options.log = [this](const std::string& line) { log_ += line + "\n"; };
    asio::co_spawn(
        loop.io(),
        [this, &inviter, code, options]() -> asio::awaitable<void> {
          result_.emplace(co_await Invite(*inviter.engine, acceptor_, code, options));
        },
        asio::detached);
  }
  tcp::endpoint endpoint() const { return endpoint_; }
  bool done() const { return result_.has_value(); }
  const Result<Paired>& result() const { return *result_; }
  const std::string& log() const { return log_; }

 private:
  tcp::acceptor acceptor_;
  tcp::endpoint endpoint_;
  std::optional<Result<Paired>> result_;
  std::string log_;
};

InviteCode CodeFor(uint64_t seed) {
  TestEnv env(seed);
  return InviteCode::Generate(env.random());
}

std::optional<Result<Paired>> JoinFrom(Loop& loop, Device& joiner, tcp::endpoint where,
                                       const InviteCode& code) {
  std::optional<Result<Paired>> result;
  JoinOptions options;
  options.env = joiner.env.get();
  options.step_timeout = std::chrono::seconds(5);
  asio::co_spawn(
      loop.io(),
      [&]() -> asio::awaitable<void> {
        result.emplace(co_await Join(*joiner.engine, where, code, options));
      },
      asio::detached);
  EXPECT_TRUE(loop.RunUntil([&] { return result.has_value(); }));
  return result;
}

// A joiner under the test's control: connects, runs Noise, reads the
// inviter's hello, and lets the test say the rest.
struct ScriptedJoiner {
  Device& device;
  std::shared_ptr<net::SecureChannel> channel;
  PairingKind kind = PairingKind::kPartner;

  static asio::awaitable<std::unique_ptr<ScriptedJoiner>> Connect(Device& device,
                                                                  tcp::endpoint where) {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    co_await socket.async_connect(where, asio::use_awaitable);
    auto key = core::TransportKeyPair(*device.engine);
    // Options given explicitly: GCC 12 mishandles a coroutine's default
    // arguments (they are destroyed twice).
    net::ChannelOptions options;
    options.max_message_bytes = kMaxExchangeMessageBytes;
    auto channel = co_await net::SecureChannel::Handshake(
        std::move(socket), net::Role::kInitiator, *key, device.env->random(),
        [](std::string_view, std::string_view) { return Status::Ok(); }, options);
    EXPECT_TRUE(channel.ok()) << channel.status().ToString();
    auto joiner = std::make_unique<ScriptedJoiner>(ScriptedJoiner{device, std::move(*channel)});
    auto hello = co_await joiner->Next();
    EXPECT_TRUE(hello.has_hello());
    co_return joiner;
  }
  asio::awaitable<v1::PairingMessage> Next() {
    auto bytes = co_await channel->Receive();
    v1::PairingMessage m;
    if (bytes.ok()) {
      auto decoded = DecodeMessage(*bytes);
      if (decoded.ok()) m = std::move(*decoded);
    }
    co_return m;
  }
  asio::awaitable<Status> Send(const v1::PairingMessage& m) {
    const std::string bytes = EncodeMessage(m);
    co_return co_await channel->Send(bytes);
  }
  asio::awaitable<Status> SendPake(const std::string& pake) {
    v1::PairingMessage m;
    m.set_pake(pake);
    co_return co_await Send(m);
  }
  // Sends `m` and reads the inviter's answer: whether it aborted.
  asio::awaitable<bool> SendAndHearAbort(const v1::PairingMessage& m) {
    { Status sent_ = co_await Send(m); EXPECT_TRUE(sent_.ok()); }
    v1::PairingMessage verdict = co_await Next();
    co_return verdict.has_abort();
  }
};

// Runs `script` against an invite that allows one failed attempt, and
// returns the invite's result.
Result<Paired> InviteAgainst(Device& inviter, Device& joiner, const InviteCode& code,
                             std::function<asio::awaitable<void>(ScriptedJoiner&)> script,
                             std::string* log = nullptr) {
  Loop loop;
  InviteOptions options;
  options.max_failed_attempts = 1;
  options.step_timeout = std::chrono::seconds(2);
  OpenInvite invite(loop, inviter, code, options);
  bool scripted = false;
  asio::co_spawn(
      loop.io(),
      [&]() -> asio::awaitable<void> {
        auto j = co_await ScriptedJoiner::Connect(joiner, invite.endpoint());
        co_await script(*j);
        co_await j->channel->Close();
        scripted = true;
      },
      asio::detached);
  EXPECT_TRUE(loop.RunUntil([&] { return invite.done() && scripted; }));
  if (log) *log = invite.log();
  return invite.done() ? invite.result() : Result<Paired>(Status::Internal("did not finish"));
}

TEST(PairingExchangeTest, AnInviterAndAJoinerWithTheSameCodePairAndSeeTheSameSafetyWords) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  const InviteCode code = CodeFor(7);
  Loop loop;
  OpenInvite invite(loop, alex, code, {});
  auto joined = JoinFrom(loop, sam, invite.endpoint(), code);
  ASSERT_TRUE(joined && joined->ok()) << (joined ? joined->status().ToString() : "");
  ASSERT_TRUE(loop.RunUntil([&] { return invite.done(); }));
  ASSERT_TRUE(invite.result().ok()) << invite.result().status().ToString();
  EXPECT_EQ((*joined)->safety_words, invite.result()->safety_words);
  EXPECT_EQ((*joined)->peer.id, alex.engine->device().id);
  EXPECT_EQ(invite.result()->peer.id, sam.engine->device().id);
  EXPECT_EQ(alex.engine->SharedSpace(), sam.engine->SharedSpace());
  EXPECT_TRUE(alex.engine->SharedSpace().has_value());
}

TEST(PairingExchangeTest, AWrongCodeFailsOnBothSidesAndWritesNothing) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  Loop loop;
  InviteOptions options;
  options.max_failed_attempts = 1;
  OpenInvite invite(loop, alex, CodeFor(7), options);
  auto joined = JoinFrom(loop, sam, invite.endpoint(), CodeFor(8));
  ASSERT_TRUE(joined.has_value());
  EXPECT_EQ(joined->status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(joined->status().message().find("does not match"), std::string::npos);
  ASSERT_TRUE(loop.RunUntil([&] { return invite.done(); }));
  EXPECT_EQ(invite.result().status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(invite.log().find("code did not match"), std::string::npos) << invite.log();
  EXPECT_FALSE(alex.engine->SharedSpace().has_value());
  EXPECT_FALSE(sam.engine->SharedSpace().has_value());
  EXPECT_EQ(alex.DeviceCount(), 1u);
  EXPECT_EQ(sam.DeviceCount(), 1u);
}

TEST(PairingExchangeTest, ReplayedPakeMessagesFromAnotherRunAreRefused) {
  Device alex("Alex", 1, "laptop"), eve("Eve", 3, "phone");
  const InviteCode code = CodeFor(7);
  // Messages of a genuine run with this code, over another connection
  // (another channel binding), as an eavesdropper could have recorded them.
  TestEnv env(99);
  const PakeContext recorded = ContextFor(PairingKind::kPartner, std::string(32, 'x'));
  auto a = PakeSession::Start(PakeRole::kInitiator, code, recorded, env.random());
  auto b = PakeSession::Start(PakeRole::kResponder, code, recorded, env.random());
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string m1 = a->first_message;
  auto m2 = b->session->Receive(m1);
  ASSERT_TRUE(m2.ok());
  auto m3 = a->session->Receive(*m2);
  ASSERT_TRUE(m3.ok());

  std::string log;
  auto result = InviteAgainst(
      alex, eve, code,
      [&](ScriptedJoiner& j) -> asio::awaitable<void> {
        { Status sent_ = co_await j.SendPake(m1); EXPECT_TRUE(sent_.ok()); }
        v1::PairingMessage answer = co_await j.Next();
        EXPECT_TRUE(answer.has_pake());
        EXPECT_NE(answer.pake(), *m2);  // a fresh share: the recording does not fit
        { Status sent_ = co_await j.SendPake(*m3); EXPECT_TRUE(sent_.ok()); }
        v1::PairingMessage verdict = co_await j.Next();
        EXPECT_TRUE(verdict.has_abort());
      },
      &log);
  EXPECT_EQ(result.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(log.find("code did not match"), std::string::npos) << log;
  EXPECT_FALSE(alex.engine->SharedSpace().has_value());
  EXPECT_EQ(alex.DeviceCount(), 1u);
}

// Completes the PAKE honestly (the scripted joiner knows the code) and
// returns the sealed layer and the hashes, for scripts that go on to cheat.
struct AfterPake {
  std::unique_ptr<SealedExchange> exchange;
  std::string channel_hash;
  std::string transcript_hash;
  // Once SendCertificate has run: the sealed certificate sent, and the
  // inviter's answer (its sealed offer).
  std::string sealed_certificate;
  v1::PairingMessage offer;
};

// (Fills `*out` rather than returning it: GCC 12 double-destroys a
// coroutine's returned struct in some cases.)
asio::awaitable<void> RunPake(ScriptedJoiner& j, const InviteCode& code, AfterPake* result) {
  AfterPake& out = *result;
  out.channel_hash = j.channel->handshake_hash();
  auto start = PakeSession::Start(PakeRole::kInitiator, code,
                                  ContextFor(j.kind, out.channel_hash), j.device.env->random());
  EXPECT_TRUE(start.ok());
  { Status sent_ = co_await j.SendPake(start->first_message); EXPECT_TRUE(sent_.ok()); }
  v1::PairingMessage second = co_await j.Next();
  auto third = start->session->Receive(second.pake());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
  { Status sent_ = co_await j.SendPake(*third); EXPECT_TRUE(sent_.ok()); }
  auto outcome = start->session->Outcome();
  EXPECT_TRUE(outcome.ok());
  out.transcript_hash = outcome->transcript_hash;
  out.exchange = std::make_unique<SealedExchange>(outcome->session_key, PakeRole::kInitiator,
                                                  out.channel_hash, out.transcript_hash);
}

// The joiner's certificate for the pairing `p` has run, spoilt by `spoil`
// (if any), sealed.
std::string SealedCertificate(ScriptedJoiner& j, const AfterPake& p,
                              const std::function<void(v1::DeviceCertificate&)>& spoil) {
  auto cert = MakeCertificate(*j.device.engine, 'J', p.channel_hash, p.transcript_hash);
  EXPECT_TRUE(cert.ok());
  if (spoil) spoil(*cert);
  v1::PairingSecret secret;
  *secret.mutable_certificate() = *cert;
  return p.exchange->Seal(secret);
}

// Runs an honest PAKE and sends the joiner's sealed certificate; fills in
// the sealed bytes sent and the inviter's answer, which must be sealed.
asio::awaitable<void> SendCertificate(ScriptedJoiner& j, const InviteCode& code, AfterPake* p) {
  co_await RunPake(j, code, p);
  v1::PairingMessage m;
  m.set_sealed(SealedCertificate(j, *p, nullptr));
  p->sealed_certificate = m.sealed();
  { Status sent_ = co_await j.Send(m); EXPECT_TRUE(sent_.ok()); }
  p->offer = co_await j.Next();
  EXPECT_TRUE(p->offer.has_sealed());
}

// Alex invites (code 7); Sam's scripted joiner runs an honest PAKE, sends
// its honest certificate too if `after_certificate`, and then sends what
// `cheat` makes. The inviter must abort, refuse the pairing with `expect`
// in its log, and write nothing.
using Cheat = std::function<v1::PairingMessage(ScriptedJoiner&, const AfterPake&)>;
void ExpectCheatRefused(bool after_certificate, const Cheat& cheat, const std::string& expect) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  const InviteCode code = CodeFor(7);
  std::string log;
  bool aborted = false;
  auto result = InviteAgainst(
      alex, sam, code,
      [&](ScriptedJoiner& j) -> asio::awaitable<void> {
        AfterPake p;
        if (after_certificate) {
          co_await SendCertificate(j, code, &p);
        } else {
          co_await RunPake(j, code, &p);
        }
        const v1::PairingMessage m = cheat(j, p);
        aborted = co_await j.SendAndHearAbort(m);
      },
      &log);
  EXPECT_TRUE(aborted);
  EXPECT_EQ(result.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(log.find(expect), std::string::npos) << log;
  EXPECT_EQ(alex.DeviceCount(), 1u);
  EXPECT_FALSE(alex.engine->SharedSpace().has_value());
}

TEST(PairingExchangeTest, AJoinerThatVanishesMidPairingLeavesNoPartialRoster) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  const InviteCode code = CodeFor(7);
  std::string log;
  auto result = InviteAgainst(
      alex, sam, code,
      [&](ScriptedJoiner& j) -> asio::awaitable<void> {
        AfterPake p;
        co_await SendCertificate(j, code, &p);
        // ...and it goes away without saying it is ready.
      },
      &log);
  EXPECT_EQ(result.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(log.find("went away"), std::string::npos) << log;
  EXPECT_NE(log.find("nothing was changed"), std::string::npos) << log;
  EXPECT_FALSE(alex.engine->SharedSpace().has_value());
  EXPECT_EQ(alex.DeviceCount(), 1u);
  EXPECT_EQ(alex.engine->Spaces()->size(), 1u);
}

TEST(PairingExchangeTest, AReplayedSealedMessageInPlaceOfTheNextOneIsRefused) {
  ExpectCheatRefused(
      /*after_certificate=*/true,
      [](ScriptedJoiner&, const AfterPake& p) {
        // The certificate again, byte for byte, where "ready" belongs.
        v1::PairingMessage replay;
        replay.set_sealed(p.sealed_certificate);
        return replay;
      },
      "something else than its readiness");
}

// Eve knows the code (she overheard it) and connects while Sam is halfway
// through pairing: she is not even answered until Sam's pairing is done,
// and then the invite is closed. Sam's pairing succeeds; Eve is in no roster.
TEST(PairingExchangeTest, AThirdDeviceThatConnectsWhileAJoinerIsMidPairingGetsNothing) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone"), eve("Eve", 3, "tablet");
  const InviteCode code = CodeFor(7);
  Loop loop;
  InviteOptions options;
  options.step_timeout = std::chrono::seconds(5);
  OpenInvite invite(loop, alex, code, options);
  std::optional<Result<Paired>> eve_joined;
  bool sam_done = false;
  bool eve_waiting_while_sam_paired = false;
  asio::co_spawn(
      loop.io(),
      [&]() -> asio::awaitable<void> {
        auto j = co_await ScriptedJoiner::Connect(sam, invite.endpoint());
        AfterPake p;
        co_await SendCertificate(*j, code, &p);
        EXPECT_TRUE(p.exchange->Open(p.offer.sealed()).ok());
        // Sam is mid-pairing: Eve joins with the right code.
        asio::co_spawn(
            loop.io(),
            [&]() -> asio::awaitable<void> {
              JoinOptions eve_options;
              eve_options.env = eve.env.get();
              eve_options.step_timeout = std::chrono::seconds(5);
              eve_joined.emplace(co_await Join(*eve.engine, invite.endpoint(), code, eve_options));
            },
            asio::detached);
        asio::steady_timer pause(loop.io());
        pause.expires_after(std::chrono::milliseconds(300));
        co_await pause.async_wait(asio::use_awaitable);
        eve_waiting_while_sam_paired = !eve_joined.has_value();
        // Sam goes on: ready, and the inviter says done.
        v1::PairingSecret ready;
        ready.mutable_ready();
        v1::PairingMessage m;
        m.set_sealed(p.exchange->Seal(ready));
        { Status sent_ = co_await j->Send(m); EXPECT_TRUE(sent_.ok()); }
        v1::PairingMessage done = co_await j->Next();
        auto opened = p.exchange->Open(done.sealed());
        EXPECT_TRUE(opened.ok() && opened->has_done());
        co_await j->channel->Close();
        sam_done = true;
      },
      asio::detached);
  ASSERT_TRUE(loop.RunUntil([&] { return invite.done() && sam_done && eve_joined.has_value(); }));
  EXPECT_TRUE(eve_waiting_while_sam_paired);
  ASSERT_TRUE(invite.result().ok()) << invite.result().status().ToString();
  EXPECT_EQ(invite.result()->peer.id, sam.engine->device().id);
  EXPECT_EQ(eve_joined->status().code(), StatusCode::kUnavailable)
      << eve_joined->status().ToString();
  EXPECT_EQ(alex.DeviceCount(), 2u);
  auto devices = alex.engine->Devices();
  ASSERT_TRUE(devices.ok());
  for (const RosterDevice& d : *devices) EXPECT_NE(d.card.id, eve.engine->device().id);
  EXPECT_FALSE(eve.engine->SharedSpace().has_value());
  EXPECT_EQ(eve.DeviceCount(), 1u);
}

// Eve races Sam to the invite with a wrong code: her attempt fails and
// counts, and Sam, with the right code, pairs as if she had not been there.
TEST(PairingExchangeTest, ARacingJoinerWithAWrongCodeDoesNotSpoilTheRealPairing) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone"), eve("Eve", 3, "tablet");
  const InviteCode code = CodeFor(7);
  Loop loop;
  OpenInvite invite(loop, alex, code, {});
  auto eve_joined = JoinFrom(loop, eve, invite.endpoint(), CodeFor(8));
  ASSERT_TRUE(eve_joined.has_value());
  EXPECT_EQ(eve_joined->status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(invite.done());  // one failed attempt does not close it
  auto sam_joined = JoinFrom(loop, sam, invite.endpoint(), code);
  ASSERT_TRUE(sam_joined && sam_joined->ok()) << (sam_joined ? sam_joined->status().ToString() : "");
  ASSERT_TRUE(loop.RunUntil([&] { return invite.done(); }));
  ASSERT_TRUE(invite.result().ok()) << invite.result().status().ToString();
  EXPECT_EQ(invite.result()->peer.id, sam.engine->device().id);
  EXPECT_EQ((*sam_joined)->safety_words, invite.result()->safety_words);
  EXPECT_NE(invite.log().find("(1 of 3 failed attempts)"), std::string::npos) << invite.log();
  EXPECT_EQ(alex.DeviceCount(), 2u);
  EXPECT_EQ(sam.DeviceCount(), 2u);
  EXPECT_EQ(eve.DeviceCount(), 1u);
  EXPECT_FALSE(eve.engine->SharedSpace().has_value());
}

TEST(PairingExchangeTest, AMalformedCertificateIsRefusedWithAClearMessage) {
  struct Case {
    const char* what;
    std::function<void(v1::DeviceCertificate&)> spoil;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"another device's key", [](v1::DeviceCertificate& c) { c.set_dh_pk(std::string(32, '\x05')); },
       "does not match its keys"},
      {"a bad signature",
       [](v1::DeviceCertificate& c) { c.mutable_signature()->at(0) ^= 1; },
       "not signed for this pairing"},
      {"a truncated key", [](v1::DeviceCertificate& c) { c.mutable_sign_pk()->resize(5); },
       "wrong size"},
      {"no member name", [](v1::DeviceCertificate& c) { c.clear_member_name(); },
       "missing or oversized"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ExpectCheatRefused(
        /*after_certificate=*/false,
        [&](ScriptedJoiner& j, const AfterPake& p) {
          v1::PairingMessage m;
          m.set_sealed(SealedCertificate(j, p, c.spoil));
          return m;
        },
        c.expect);
  }
}

TEST(PairingExchangeTest, ACertificateSignedForAnotherRunOrRoleIsRefused) {
  Device sam("Sam", 2, "phone");
  const std::string hash(32, 'h'), th(64, 't');
  auto cert = MakeCertificate(*sam.engine, 'J', hash, th);
  ASSERT_TRUE(cert.ok());
  const std::string& key = sam.engine->device().dh_pk;
  EXPECT_TRUE(CheckCertificate(*cert, 'J', key, hash, th).ok());
  EXPECT_EQ(CheckCertificate(*cert, 'I', key, hash, th).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(CheckCertificate(*cert, 'J', key, std::string(32, 'o'), th).status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(CheckCertificate(*cert, 'J', key, hash, std::string(64, 'o')).status().code(),
            StatusCode::kCorruption);
}

TEST(PairingExchangeTest, SealedMessagesOpenOnlyOnceInOrderAndUnaltered) {
  auto key = crypto::SymmetricKey::FromBytes(std::string(32, 'k'));
  SealedExchange joiner(*key, PakeRole::kInitiator, "hash", "transcript");
  SealedExchange inviter(*key, PakeRole::kResponder, "hash", "transcript");
  v1::PairingSecret ready;
  ready.mutable_ready();
  v1::PairingSecret done;
  done.mutable_done();
  const std::string first = joiner.Seal(ready);
  const std::string second = joiner.Seal(done);
  EXPECT_EQ(inviter.Open(second).status().code(), StatusCode::kUnauthenticated);  // reordered
  ASSERT_TRUE(inviter.Open(first).ok());
  EXPECT_EQ(inviter.Open(first).status().code(), StatusCode::kUnauthenticated);  // replayed
  std::string altered = second;
  altered[0] ^= 1;
  EXPECT_EQ(inviter.Open(altered).status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(inviter.Open(second).ok());
  // Its own messages do not open as the peer's (one key per direction).
  SealedExchange other(*key, PakeRole::kInitiator, "hash", "transcript");
  EXPECT_EQ(other.Open(joiner.Seal(ready)).status().code(), StatusCode::kUnauthenticated);
}

TEST(PairingExchangeTest, AnInviteClosesAfterItsFirstSuccessfulPairing) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone"), eve("Eve", 3, "tablet");
  const InviteCode code = CodeFor(7);
  Loop loop;
  OpenInvite invite(loop, alex, code, {});
  auto joined = JoinFrom(loop, sam, invite.endpoint(), code);
  ASSERT_TRUE(joined && joined->ok());
  ASSERT_TRUE(loop.RunUntil([&] { return invite.done(); }));
  auto late = JoinFrom(loop, eve, invite.endpoint(), code);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(alex.DeviceCount(), 2u);
  EXPECT_FALSE(eve.engine->SharedSpace().has_value());
}

TEST(PairingExchangeTest, AnInviteThatNobodyJoinsExpires) {
  Device alex("Alex", 1, "laptop");
  Loop loop;
  InviteOptions options;
  options.timeout = std::chrono::milliseconds(200);
  OpenInvite invite(loop, alex, CodeFor(7), options);
  ASSERT_TRUE(loop.RunUntil([&] { return invite.done(); }, std::chrono::seconds(5)));
  EXPECT_EQ(invite.result().status().code(), StatusCode::kUnavailable);
  EXPECT_NE(invite.result().status().message().find("expired"), std::string::npos);
}

TEST(PairingExchangeTest, ADeviceLinkGivesTheNewDeviceItsMembersSpaces) {
  Device alex("Alex", 1, "laptop"), laptop2("Alex", 2, "desktop");
  const SpaceId personal = alex.engine->device().personal_space;
  ASSERT_TRUE(alex.engine
                  ->Commit(personal, {Mutation::Create("journal", {{"text", std::string("mine")}})})
                  .ok());
  const InviteCode code = CodeFor(7);
  Loop loop;
  InviteOptions options;
  options.kind = PairingKind::kOwnDevice;
  OpenInvite invite(loop, alex, code, options);
  auto joined = JoinFrom(loop, laptop2, invite.endpoint(), code);
  ASSERT_TRUE(joined && joined->ok()) << (joined ? joined->status().ToString() : "");
  EXPECT_EQ((*joined)->kind, PairingKind::kOwnDevice);
  EXPECT_EQ(laptop2.engine->device().personal_space, personal);
  EXPECT_EQ(laptop2.engine->device().member_name, "Alex");
}

TEST(PairingExchangeTest, DiscoveryFindsAnOpenInviteOnLoopback) {
  Loop loop;
  DiscoveryResponder responder(loop.io().get_executor(), 4242);
  auto bound = responder.Bind({asio::ip::make_address("127.0.0.1"), 0});
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  asio::co_spawn(loop.io(), responder.Run(), asio::detached);
  TestEnv env(5);
  std::optional<Result<std::vector<tcp::endpoint>>> found;
  asio::co_spawn(
      loop.io(),
      [&]() -> asio::awaitable<void> {
        found.emplace(co_await Discover(*bound, std::chrono::milliseconds(600), env.random()));
      },
      asio::detached);
  ASSERT_TRUE(loop.RunUntil([&] { return found.has_value(); }));
  ASSERT_TRUE(found->ok()) << found->status().ToString();
  ASSERT_EQ((*found)->size(), 1u);
  EXPECT_EQ((*found)->front().port(), 4242);
  EXPECT_EQ((*found)->front().address().to_string(), "127.0.0.1");
  responder.Stop();
  loop.RunUntil([] { return false; }, std::chrono::milliseconds(20));
}

TEST(PairingExchangeTest, DiscoveryWithNobodyListeningFindsNothing) {
  Loop loop;
  // A port nothing answers on: bind one, then close it.
  asio::ip::udp::socket probe(loop.io());
  probe.open(asio::ip::udp::v4());
  probe.bind({asio::ip::make_address("127.0.0.1"), 0});
  const auto silent = probe.local_endpoint();
  probe.close();
  TestEnv env(5);
  std::optional<Result<std::vector<tcp::endpoint>>> found;
  asio::co_spawn(
      loop.io(),
      [&]() -> asio::awaitable<void> {
        found.emplace(co_await Discover(silent, std::chrono::milliseconds(300), env.random()));
      },
      asio::detached);
  ASSERT_TRUE(loop.RunUntil([&] { return found.has_value(); }));
  ASSERT_TRUE(found->ok()) << found->status().ToString();
  EXPECT_TRUE((*found)->empty());
}

}  // namespace
}  // namespace kindred::pairing
