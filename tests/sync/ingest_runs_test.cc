// The receiver ingests a backlog of runs of one log together (one
// Engine::Ingest, one durable write, under the last run's signature). What
// a peer sees must not change: good runs before a bad one are kept, the bad
// one is refused as a verification failure, and nothing of it is stored.
#include <gtest/gtest.h>

#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using testing::Device;
using testing::Done;
using testing::FastSession;
using testing::Heard;
using testing::HelloFrom;
using testing::Link;
using testing::Loop;
using testing::OwnLog;
using testing::Snapshot;
using testing::TalkTo;
using testing::TestServer;

// One SyncBatch message per segment of `device`'s own log (each a whole
// run, so it carries the run's signature).
std::vector<v1::SyncMessage> RunsOf(Device& device, size_t ops_per_run) {
  std::vector<v1::SyncMessage> out;
  for (const std::string& bytes : OwnLog(device, ops_per_run)) {
    auto message = ParseMessage(bytes);
    EXPECT_TRUE(message.ok());
    EXPECT_FALSE(message->batch().signature().empty()) << "a run sent in parts";
    out.push_back(std::move(*message));
  }
  return out;
}

class IngestRunsTest : public ::testing::Test {
 protected:
  IngestRunsTest() : a_("Alex", 1, "laptop"), b_("Alex", 2, "phone") {
    Link(a_, b_);
    a_.Add("for the phone");
    b_.AddMany(400, 100);  // four runs of 100 ops
  }
  static ServerOptions Options() {
    ServerOptions options;
    options.dial_known_peers = false;
    options.session = FastSession();
    return options;
  }
  Heard Send(const std::vector<v1::SyncMessage>& runs) {
    std::vector<std::string> messages{EncodeMessage(HelloFrom(b_))};
    for (const auto& run : runs) messages.push_back(EncodeMessage(run));
    messages.push_back(Done(runs.size()));
    // Back to back, so that they queue up at the receiver; every batch of
    // the receiver's is acknowledged.
    return TalkTo(loop_, b_, server_.address(), std::move(messages), /*ack=*/true);
  }

  Device a_, b_;
  Loop loop_;
  TestServer server_{loop_, a_, Options()};
};

TEST_F(IngestRunsTest, ABacklogOfRunsIsStoredWhole) {
  auto runs = RunsOf(b_, 100);
  ASSERT_EQ(runs.size(), 4u);
  Heard heard = Send(runs);
  EXPECT_FALSE(heard.error.has_value()) << heard.error->reason();
  EXPECT_EQ(heard.Acked(), 4u);
  EXPECT_EQ(a_.Versions()[b_.id()], 400u);
  std::string theirs = Snapshot(*b_.engine, b_.space());
  EXPECT_NE(Snapshot(*a_.engine, a_.space()).find(theirs.substr(0, theirs.size() / 2)),
            std::string::npos);
  VerifyReport report;
  ASSERT_TRUE(a_.engine->Verify(&report).ok());
  EXPECT_EQ(report.decrypted, report.ops);  // every op stored, readable and merged
}

TEST_F(IngestRunsTest, GoodRunsBeforeABadOneAreKeptAndTheBadOneIsRefusedWhole) {
  for (int which : {0, 1}) {
    SCOPED_TRACE(which == 0 ? "a flipped ciphertext byte" : "a forged signature");
    auto runs = RunsOf(b_, 100);
    ASSERT_EQ(runs.size(), 4u);
    if (which == 0) {
      (*runs[2].mutable_batch()->mutable_ops(50)->mutable_ciphertext())[7] ^= 1;
    } else {
      (*runs[2].mutable_batch()->mutable_signature())[3] ^= 1;
    }
    Heard heard = Send(runs);
    ASSERT_TRUE(heard.error.has_value());
    EXPECT_EQ(heard.error->code(), v1::SyncError::CODE_VERIFICATION) << heard.error->reason();
    // Runs 1 and 2 are stored (or were, the first time round); nothing of run 3.
    EXPECT_EQ(a_.Versions()[b_.id()], 200u);
    VerifyReport report;
    ASSERT_TRUE(a_.engine->Verify(&report).ok());
  }
}

}  // namespace
}  // namespace kindred::sync
