// Hostile or broken peers at the sync layer: another protocol version,
// garbage, oversized messages, batches that fail verification, stalls,
// forks, strangers. Each ends in a clean close with a specific error,
// nothing partial is stored, and the server keeps serving others.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <filesystem>

#include "engine/core/transport_key.h"
#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using asio::ip::tcp;
using testing::Device;
using testing::FastSession;
using testing::Link;
using testing::Loop;
using testing::Snapshot;
using testing::SyncWith;
using testing::TempDir;
using testing::TestServer;
using ChannelPtr = std::unique_ptr<net::SecureChannel>;

ServerOptions Strict() {
  ServerOptions options;
  options.dial_known_peers = false;
  options.session = FastSession();
  options.channel.idle_timeout = std::chrono::milliseconds(500);
  return options;
}

// A raw connection: the channel, or why the handshake failed.
struct RawConnection {
  ChannelPtr channel;
  Status status;
};

// Completes a real handshake as `device` (trusting any responder), then
// lets the test say anything.
asio::awaitable<RawConnection> ConnectRaw(Device& device, HostPort where,
                                          size_t max_message_bytes = kMaxMessageBytes) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  boost::system::error_code error;
  co_await socket.async_connect(tcp::endpoint(asio::ip::make_address(where.host), where.port),
                                asio::redirect_error(asio::use_awaitable, error));
  EXPECT_FALSE(error) << error.message();
  auto key = core::TransportKeyPair(*device.engine);
  EXPECT_TRUE(key.ok());
  net::ChannelOptions options;
  options.max_message_bytes = max_message_bytes;
  options.idle_timeout = std::chrono::seconds(2);
  auto channel = co_await net::SecureChannel::Handshake(
      std::move(socket), net::Role::kInitiator, *key, device.env->random(),
      [](std::string_view, std::string_view) { return Status::Ok(); }, options);
  if (!channel.ok()) co_return RawConnection{nullptr, channel.status()};
  co_return RawConnection{std::move(*channel), Status::Ok()};
}

// What the raw peer saw after it had its say.
struct Heard {
  std::vector<v1::SyncMessage> messages;
  std::optional<v1::SyncError> error;
  std::string close;  // why the channel ended
};

// Sends `messages` (already encoded), then reads until the channel closes.
// With `ack`, acknowledges every SyncBatch it receives.
asio::awaitable<Heard> SayAndListen(net::SecureChannel& channel, std::vector<std::string> messages,
                                    bool ack = false) {
  Heard heard;
  for (const std::string& m : messages) {
    Status s = co_await channel.Send(m);
    if (!s.ok()) break;  // the peer may close before we finish
  }
  uint64_t batches = 0;
  for (;;) {
    Result<std::string> bytes = co_await channel.Receive();
    if (!bytes.ok()) {
      heard.close = bytes.status().ToString();
      break;
    }
    auto message = ParseMessage(*bytes);
    EXPECT_TRUE(message.ok()) << message.status().ToString();
    if (!message.ok()) break;
    if (message->has_error()) heard.error = message->error();
    if (message->has_batch() && ack) {
      v1::SyncMessage reply;
      reply.mutable_ack()->set_batches(++batches);
      Status s = co_await channel.Send(EncodeMessage(reply));
      s.IgnoreError();
    }
    heard.messages.push_back(std::move(*message));
  }
  co_await channel.Close();
  co_return heard;
}

// An honest Hello from `device` about its personal space.
v1::SyncMessage HelloFrom(Device& device, uint32_t version = kProtocolVersion) {
  v1::SyncMessage message;
  v1::Hello* hello = message.mutable_hello();
  hello->set_protocol_version(version);
  hello->set_device_id(std::string(device.id().bytes()));
  hello->set_window(8);
  v1::SpaceHeads* space = hello->add_spaces();
  space->set_space_id(std::string(device.space().bytes()));
  auto heads = device.engine->Heads(device.space());
  auto devices = device.engine->SpaceDevices(device.space());
  EXPECT_TRUE(heads.ok() && devices.ok());
  for (const DeviceCard& d : *devices) {
    v1::DeviceHead* head = space->add_heads();
    head->set_device_id(std::string(d.id.bytes()));
    auto it = heads->find(d.id);
    if (it != heads->end() && it->second.seq > 0) {
      head->set_seq(it->second.seq);
      head->set_head_hash(it->second.hash);
    }
  }
  return message;
}

// The SyncBatch messages carrying all of `device`'s own log.
std::vector<std::string> OwnLog(Device& device, size_t max_ops = 1000) {
  std::vector<std::string> out;
  Status s = device.engine->ReadMissing(device.space(), {}, max_ops, [&](OpBatch&& batch) {
    std::vector<EncodedPart> parts;
    KnownHeads receiver;
    EXPECT_TRUE(EncodeBatch(batch, max_ops, 1 << 20, &receiver, &parts).ok());
    for (auto& p : parts) out.push_back(std::move(p.bytes));
    return true;
  });
  EXPECT_TRUE(s.ok());
  return out;
}

std::string Done(uint64_t batches) {
  v1::SyncMessage m;
  m.mutable_done()->set_batches(batches);
  return EncodeMessage(m);
}

class BadPeerTest : public ::testing::Test {
 protected:
  // A has something for B, so a session stays open until B acknowledges it.
  BadPeerTest() : a_("Alex", 1, "laptop"), b_("Alex", 2, "phone") {
    Link(a_, b_);
    a_.Add("for the phone");
  }

  Heard Talk(std::vector<std::string> messages, bool ack = false,
             size_t max_message_bytes = kMaxMessageBytes) {
    auto raw = loop_.Await(ConnectRaw(b_, server_.address(), max_message_bytes));
    EXPECT_TRUE(raw && raw->channel) << (raw ? raw->status.ToString() : "");
    if (!raw || !raw->channel) return {};
    auto heard = loop_.Await(SayAndListen(*raw->channel, std::move(messages), ack));
    return heard ? std::move(*heard) : Heard{};
  }
  // The server notices and logs the end of the session; it keeps serving:
  // an honest sync still completes.
  void ExpectServerLoggedAndStillServes(const std::string& needle) {
    ASSERT_TRUE(loop_.RunUntil([&] { return server_.LogText().find(needle) != std::string::npos; },
                               std::chrono::seconds(5)))
        << "log:\n"
        << server_.LogText();
    DialResult honest = SyncWith(loop_, b_, server_.address());
    EXPECT_EQ(honest.session.reason, EndReason::kCompleted) << honest.status.ToString();
  }

  Device a_, b_;
  Loop loop_;
  TestServer server_{loop_, a_, Strict()};
};

TEST_F(BadPeerTest, AHelloWithAnotherProtocolVersionGetsAVersionErrorAndAClose) {
  Heard heard = Talk({EncodeMessage(HelloFrom(b_, 2))});
  ASSERT_TRUE(heard.error.has_value()) << heard.close;
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_VERSION);
  EXPECT_NE(heard.error->reason().find("version 2"), std::string::npos) << heard.error->reason();
  EXPECT_NE(heard.close.find("closed"), std::string::npos) << heard.close;
  ExpectServerLoggedAndStillServes("protocol version");
}

TEST_F(BadPeerTest, GarbageAfterTheHandshakeIsAProtocolError) {
  Heard heard = Talk({std::string("\xff\xff\xff not a sync message")});
  ASSERT_TRUE(heard.error.has_value()) << heard.close;
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_PROTOCOL);
  ExpectServerLoggedAndStillServes("protocol error");
}

TEST_F(BadPeerTest, AnOversizedAcknowledgementIsRefusedBeforeParsing) {
  std::string ack = EncodeMessage(HelloFrom(b_));
  v1::SyncMessage big;
  big.mutable_ack()->set_batches(0);
  big.mutable_ack()
      ->GetReflection()
      ->MutableUnknownFields(big.mutable_ack())
      ->AddLengthDelimited(15, std::string(4000, 'x'));
  Heard heard = Talk({ack, EncodeMessage(big)});
  ASSERT_TRUE(heard.error.has_value()) << heard.close;
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_PROTOCOL);
  EXPECT_NE(heard.error->reason().find("over its limit"), std::string::npos)
      << heard.error->reason();
  ExpectServerLoggedAndStillServes("protocol error");
}

TEST_F(BadPeerTest, AMessageOverTheChannelCapIsRefusedByTheTransport) {
  Heard heard = Talk({EncodeMessage(HelloFrom(b_)), std::string(kMaxMessageBytes + 10, 'x')}, false,
                     2 * kMaxMessageBytes);
  EXPECT_FALSE(heard.error.has_value());  // the transport closes: no sync message
  EXPECT_FALSE(heard.close.empty());
  ExpectServerLoggedAndStillServes("over the limit");
}

TEST_F(BadPeerTest, ABatchBeforeTheHelloIsAProtocolError) {
  b_.Add("hello");
  Heard heard = Talk(OwnLog(b_));
  ASSERT_TRUE(heard.error.has_value());
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_PROTOCOL);
  EXPECT_NE(heard.error->reason().find("before its Hello"), std::string::npos);
  EXPECT_EQ(a_.Versions().count(b_.id()), 0u);
}

TEST_F(BadPeerTest, ASyncDoneThatMiscountsIsAProtocolError) {
  b_.Add("owed");
  Heard heard = Talk({EncodeMessage(HelloFrom(b_)), Done(3)});
  ASSERT_TRUE(heard.error.has_value());
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_PROTOCOL);
  EXPECT_NE(heard.error->reason().find("SyncDone counts 3"), std::string::npos);
}

TEST_F(BadPeerTest, ABatchThatFailsVerificationIsRefusedAndNothingOfItIsStored) {
  b_.AddMany(5, 5);
  const auto before = Snapshot(*a_.engine, a_.space());
  for (int which : {0, 1}) {
    SCOPED_TRACE(which == 0 ? "a flipped ciphertext byte" : "a forged signature");
    std::vector<std::string> log = OwnLog(b_);
    ASSERT_EQ(log.size(), 1u);
    auto message = ParseMessage(log[0]);
    ASSERT_TRUE(message.ok());
    if (which == 0) {
      (*message->mutable_batch()->mutable_ops(2)->mutable_ciphertext())[7] ^= 1;
    } else {
      (*message->mutable_batch()->mutable_signature())[3] ^= 1;
    }
    Heard heard = Talk({EncodeMessage(HelloFrom(b_)), EncodeMessage(*message), Done(1)});
    ASSERT_TRUE(heard.error.has_value()) << heard.close;
    EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_VERIFICATION) << heard.error->reason();
    EXPECT_EQ(a_.Versions().count(b_.id()), 0u);
    EXPECT_EQ(Snapshot(*a_.engine, a_.space()), before);
  }
  ExpectServerLoggedAndStillServes("verification failed");
  EXPECT_EQ(a_.Versions(), b_.Versions());  // the honest sync brought the genuine ops
}

TEST_F(BadPeerTest, APeerThatStallsMidRunIsDisconnectedAndItsPartialRunDiscarded) {
  b_.AddMany(10, 10);
  std::vector<std::string> log = OwnLog(b_, 4);  // parts of 4, 4 and 2 ops
  ASSERT_EQ(log.size(), 3u);
  const auto start = std::chrono::steady_clock::now();
  Heard heard = Talk({EncodeMessage(HelloFrom(b_)), log[0], log[1]});  // then silence
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(heard.error.has_value()) << heard.close;
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_STALLED);
  EXPECT_NE(heard.error->reason().find("stalled"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(a_.Versions().count(b_.id()), 0u);  // no partial commit
  ExpectServerLoggedAndStillServes("stalled");
}

TEST_F(BadPeerTest, APeerThatNeverAcknowledgesIsDisconnected) {
  a_.AddMany(2000, 100);
  // Reads everything, acknowledges nothing.
  Heard heard = Talk({EncodeMessage(HelloFrom(b_))}, /*ack=*/false);
  ASSERT_TRUE(heard.error.has_value()) << heard.close;
  EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_STALLED);
  EXPECT_NE(heard.error->reason().find("acknowledgements"), std::string::npos);
  size_t batches = 0;
  for (const auto& m : heard.messages) batches += m.has_batch();
  EXPECT_LE(batches, 8u);  // never more than the window
  ExpectServerLoggedAndStillServes("stalled");
}

TEST_F(BadPeerTest, ReplayingABatchInOneSessionIsHarmless) {
  b_.AddMany(4, 4);
  std::vector<std::string> log = OwnLog(b_);
  ASSERT_EQ(log.size(), 1u);
  Heard heard = Talk({EncodeMessage(HelloFrom(b_)), log[0], log[0], Done(2)}, /*ack=*/true);
  EXPECT_FALSE(heard.error.has_value()) << heard.error->reason();
  uint64_t acked = 0;
  for (const auto& m : heard.messages) {
    if (m.has_ack()) acked = m.ack().batches();
  }
  EXPECT_EQ(acked, 2u);
  EXPECT_EQ(a_.Versions()[b_.id()], 4u);
}

TEST_F(BadPeerTest, AStrangersKeyGetsARejectionAndACloseAndTheServerKeepsServing) {
  Device stranger("Eve", 66);
  // The stranger trusts anyone; the server does not know its key.
  auto raw = loop_.Await(ConnectRaw(stranger, server_.address()));
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->channel, nullptr);
  EXPECT_EQ(raw->status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(raw->status.message().find("does not accept our static key"), std::string::npos)
      << raw->status.message();
  ExpectServerLoggedAndStillServes("refused a connection");
}

TEST_F(BadPeerTest, AStrangerDiallingAServerItDoesNotKnowStopsBeforeRevealingItself) {
  Device stranger("Eve", 66);
  DialResult r = SyncWith(loop_, stranger, server_.address());
  EXPECT_EQ(r.failure, DialFailure::kRejected) << r.status.ToString();
  EXPECT_NE(r.status.message().find("we rejected"), std::string::npos) << r.status.message();
}

TEST_F(BadPeerTest, ADeviceWeDoNotKnowIsNotTrustedWhenWeDial) {
  Device stranger("Eve", 66);
  TestServer eve(loop_, stranger, Strict());
  DialResult r = SyncWith(loop_, b_, eve.address());
  EXPECT_EQ(r.failure, DialFailure::kRejected);
  EXPECT_NE(r.status.message().find("we rejected"), std::string::npos) << r.status.message();
}

// A copy of A's home, used as A, writes a different history: a fork.
class ForkTest : public ::testing::Test {
 protected:
  ForkTest() : a_("Alex", 1, "laptop"), b_("Alex", 2, "phone") {
    Link(a_, b_);
    a_.Add("shared past");
    {
      TestServer server(loop_, a_, Strict());
      EXPECT_EQ(SyncWith(loop_, b_, server.address()).session.reason, EndReason::kCompleted);
    }
    a_.engine.reset();
    std::filesystem::copy(a_.dir.path(), clone_dir_.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
    auto reopened =
        Engine::Open({.home = a_.dir.path(), .env = a_.env.get(), .sync_writes = false});
    EXPECT_TRUE(reopened.ok());
    a_.engine = std::move(*reopened);
    auto clone =
        Engine::Open({.home = clone_dir_.path(), .env = &clone_env_, .sync_writes = false});
    EXPECT_TRUE(clone.ok());
    clone_ = std::move(*clone);
  }
  void CloneAdds(const std::string& text) {
    ASSERT_TRUE(clone_->Commit(a_.space(), {Mutation::Create("journal", {{"text", text}})}).ok());
  }

  Device a_, b_;
  TempDir clone_dir_;
  kindred::testing::TestEnv clone_env_{77};
  std::unique_ptr<Engine> clone_;
  Loop loop_;
};

TEST_F(ForkTest, TwoDifferentOpsAtTheSameSeqAreSeenInTheHellosAndRefused) {
  a_.Add("original op 2");
  CloneAdds("clone op 2");
  {
    TestServer server(loop_, a_, Strict());
    ASSERT_EQ(SyncWith(loop_, b_, server.address()).session.reason, EndReason::kCompleted);
  }
  const auto held = b_.Versions();
  TestServer clone_server(loop_, *clone_, &clone_env_, Strict());
  DialResult r = SyncWith(loop_, b_, clone_server.address());
  EXPECT_EQ(r.failure, DialFailure::kNone);
  EXPECT_EQ(r.session.reason, EndReason::kFork) << r.status.ToString();
  EXPECT_EQ(r.status.message().rfind("fork", 0), 0u) << r.status.message();
  EXPECT_EQ(b_.Versions(), held);
  auto peers = b_.engine->Peers();
  ASSERT_TRUE(peers.ok());
  EXPECT_EQ((*peers)[0].last_result.rfind("fork", 0), 0u) << (*peers)[0].last_result;
  // The clone's side learns of it too.
  EXPECT_TRUE(
      loop_.RunUntil([&] { return clone_server.LogText().find("fork") != std::string::npos; },
                     std::chrono::seconds(5)))
      << clone_server.LogText();
}

TEST_F(ForkTest, ALogThatContinuesFromADifferentOpIsRefusedAsAFork) {
  a_.Add("original op 2");
  CloneAdds("clone op 2");
  CloneAdds("clone op 3");
  {
    TestServer server(loop_, a_, Strict());
    ASSERT_EQ(SyncWith(loop_, b_, server.address()).session.reason, EndReason::kCompleted);
  }
  const auto held = b_.Versions();
  const auto snapshot = Snapshot(*b_.engine, a_.space());
  TestServer clone_server(loop_, *clone_, &clone_env_, Strict());
  DialResult r = SyncWith(loop_, b_, clone_server.address());
  EXPECT_EQ(r.session.reason, EndReason::kFork) << r.status.ToString();
  EXPECT_NE(r.status.message().find("fork"), std::string::npos) << r.status.message();
  EXPECT_EQ(b_.Versions(), held);
  EXPECT_EQ(Snapshot(*b_.engine, a_.space()), snapshot);
}

}  // namespace
}  // namespace kindred::sync
