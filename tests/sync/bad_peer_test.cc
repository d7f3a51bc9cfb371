// Hostile or broken peers at the sync layer: another protocol version,
// garbage, oversized messages, batches that fail verification, stalls,
// forks, strangers. Each ends in a clean close with a specific error,
// nothing partial is stored, and the server keeps serving others.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using testing::ConnectRaw;
using testing::Device;
using testing::Done;
using testing::FastSession;
using testing::Heard;
using testing::HelloFrom;
using testing::Link;
using testing::Loop;
using testing::OwnLog;
using testing::Snapshot;
using testing::SyncWith;
using testing::TalkTo;
using testing::TempDir;
using testing::TestServer;

ServerOptions Strict() {
  ServerOptions options;
  options.dial_known_peers = false;
  options.session = FastSession();
  options.channel.idle_timeout = std::chrono::milliseconds(500);
  return options;
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
    return TalkTo(loop_, b_, server_.address(), std::move(messages), ack, max_message_bytes);
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
  EXPECT_EQ(heard.Acked(), 2u);
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
