// Devices sync over the real transport (Noise over loopback TCP) and
// converge: one-shot and live, two and three devices, random ops and random
// interleavings of sessions.
#include <gtest/gtest.h>

#include <random>

#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using testing::Device;
using testing::FastSession;
using testing::Link;
using testing::Loop;
using testing::Snapshot;
using testing::SyncWith;
using testing::TestServer;

ServerOptions Quiet() {
  ServerOptions options;
  options.dial_known_peers = false;
  return options;
}

TEST(SyncSessionTest, TwoDevicesConvergeThroughARealServer) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  a.AddMany(50, 7);
  b.AddMany(10, 3, "phone");
  Loop loop;
  TestServer server(loop, a, Quiet());
  DialResult r = SyncWith(loop, b, server.address());
  ASSERT_EQ(r.failure, DialFailure::kNone) << r.status.ToString();
  ASSERT_EQ(r.session.reason, EndReason::kCompleted) << r.status.ToString();
  EXPECT_EQ(r.session.stats.ops_sent, 10u);
  EXPECT_EQ(r.session.stats.ops_received, 50u);
  EXPECT_GT(r.session.stats.bytes_in, 0u);
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
  EXPECT_EQ(a.Versions(), b.Versions());
  VerifyReport report;
  EXPECT_TRUE(b.engine->Verify(&report).ok());
  EXPECT_EQ(report.ops, 60u);

  // A second sync moves nothing and still completes.
  DialResult again = SyncWith(loop, b, server.address());
  ASSERT_EQ(again.session.reason, EndReason::kCompleted) << again.status.ToString();
  EXPECT_EQ(again.session.stats.ops_sent + again.session.stats.ops_received, 0u);
}

TEST(SyncSessionTest, ALargeBacklogStreamsInManyBatchesWithinTheWindow) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  a.AddMany(3000, 50);
  Loop loop;
  ServerOptions options = Quiet();
  options.session.max_batch_ops = 100;
  options.session.window = 2;  // what b may have in flight towards a
  TestServer server(loop, a, options);
  DialOptions dial;
  dial.session.max_batch_ops = 100;
  dial.session.window = 2;
  uint64_t last_done = 0, calls = 0;
  dial.session.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    EXPECT_LE(done, total);
    last_done = done;
    ++calls;
  };
  DialResult r = SyncWith(loop, b, server.address(), dial);
  ASSERT_EQ(r.session.reason, EndReason::kCompleted) << r.status.ToString();
  EXPECT_EQ(r.session.stats.ops_received, 3000u);
  EXPECT_GE(r.session.stats.batches_received, 30u);
  EXPECT_EQ(last_done, 3000u);
  EXPECT_GT(calls, 10u);
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
}

TEST(SyncSessionTest, ASignedRunLongerThanABatchTravelsInParts) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  a.AddMany(1200, 1200);  // one commit: one signed run of 1200 ops
  Loop loop;
  ServerOptions options = Quiet();
  options.session.max_batch_ops = 100;
  TestServer server(loop, a, options);
  DialResult r = SyncWith(loop, b, server.address());
  ASSERT_EQ(r.session.reason, EndReason::kCompleted) << r.status.ToString();
  EXPECT_EQ(r.session.stats.ops_received, 1200u);
  EXPECT_EQ(r.session.stats.batches_received, 12u);
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
}

TEST(SyncSessionTest, ConcurrentEditsBecomeAConflictOnBothSides) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  std::string id = a.Add("draft");
  Loop loop;
  TestServer server(loop, a, Quiet());
  ASSERT_EQ(SyncWith(loop, b, server.address()).session.reason, EndReason::kCompleted);
  ASSERT_TRUE(
      a.engine
          ->Commit(a.space(), {Mutation::Update("journal", id, {{"text", std::string("laptop")}})})
          .ok());
  ASSERT_TRUE(
      b.engine
          ->Commit(a.space(), {Mutation::Update("journal", id, {{"text", std::string("phone")}})})
          .ok());
  ASSERT_EQ(SyncWith(loop, b, server.address()).session.reason, EndReason::kCompleted);
  auto ra = a.engine->Get(a.space(), "journal", id);
  auto rb = b.engine->Get(a.space(), "journal", id);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->conflicts["text"].size(), 2u);
  EXPECT_EQ(ra->Text("text"), rb->Text("text"));
}

// Random ops on three devices, and random sessions between random pairs,
// sometimes several at once, over the real transport. The final states are
// equal. The seed is printed on failure.
TEST(SyncSessionTest, ThreeDevicesConvergeUnderRandomOpsAndRandomInterleavedSessions) {
  for (uint32_t seed : {11u, 4242u, 90210u}) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with this seed to reproduce)");
    std::mt19937 rng(seed);
    Device a("Alex", seed * 3 + 1), b("Alex", seed * 3 + 2), c("Alex", seed * 3 + 3);
    Link(a, b);
    Link(a, c);
    ASSERT_TRUE(b.engine->GrantSpace(a.space(), c.engine->card()).ok());  // rosters do not sync yet
    std::vector<Device*> devices{&a, &b, &c};
    Loop loop;
    std::vector<std::unique_ptr<TestServer>> servers;
    for (Device* d : devices) {
      ServerOptions options = Quiet();
      options.session.max_batch_ops = 1 + rng() % 8;
      servers.push_back(std::make_unique<TestServer>(loop, *d, options));
    }
    std::vector<std::string> ids;
    for (int step = 0; step < 80; ++step) {
      Device& d = *devices[rng() % 3];
      d.env->fake_clock().Advance(static_cast<int64_t>(rng() % 2000) - 500);  // skewed clocks
      const int action = static_cast<int>(rng() % 10);
      if (action < 3 || ids.empty()) {
        ids.push_back(d.Add("entry " + std::to_string(step)));
      } else if (action < 6) {
        std::map<std::string, Value> fields;
        if (rng() % 2)
          fields["text"] = "edit " + std::to_string(step);
        else
          fields["mood"] = static_cast<int64_t>(rng() % 5 + 1);
        auto r = d.engine->Commit(a.space(),
                                  {Mutation::Update("journal", ids[rng() % ids.size()], fields)});
        EXPECT_TRUE(r.ok() || r.status().code() == StatusCode::kNotFound) << r.status().ToString();
      } else if (action < 7) {
        auto r =
            d.engine->Commit(a.space(), {Mutation::Delete("journal", ids[rng() % ids.size()])});
        EXPECT_TRUE(r.ok() || r.status().code() == StatusCode::kNotFound) << r.status().ToString();
      } else {
        // One to three sessions at once between random pairs.
        const int sessions = 1 + static_cast<int>(rng() % 3);
        int running = 0;
        for (int s = 0; s < sessions; ++s) {
          const size_t from = rng() % 3, to = (from + 1 + rng() % 2) % 3;
          ++running;
          DialOptions dial;
          dial.env = devices[from]->env.get();
          dial.session.max_batch_ops = 1 + rng() % 8;
          dial.session.window = 1 + rng() % 4;
          asio::co_spawn(
              loop.io(),
              Dial(*devices[from]->engine, loop.blocking(), servers[to]->address(), dial),
              [&, from, to](std::exception_ptr e, DialResult r) {
                --running;
                EXPECT_FALSE(e);
                EXPECT_EQ(r.session.reason, EndReason::kCompleted)
                    << from << " -> " << to << ": " << r.status.ToString();
              });
        }
        ASSERT_TRUE(loop.RunUntil([&] { return running == 0; }));
      }
    }
    for (int round = 0; round < 2; ++round) {
      for (size_t x = 0; x < 3; ++x) {
        for (size_t y = 0; y < 3; ++y) {
          if (x == y) continue;
          DialResult r = SyncWith(loop, *devices[x], servers[y]->address());
          ASSERT_EQ(r.session.reason, EndReason::kCompleted) << r.status.ToString();
        }
      }
    }
    const std::string expected = Snapshot(*a.engine, a.space());
    EXPECT_EQ(Snapshot(*b.engine, a.space()), expected);
    EXPECT_EQ(Snapshot(*c.engine, a.space()), expected);
    EXPECT_EQ(b.Versions(), a.Versions());
    EXPECT_EQ(c.Versions(), a.Versions());
    for (Device* d : devices) {
      VerifyReport report;
      EXPECT_TRUE(d->engine->Verify(&report).ok());
    }
    servers.clear();
  }
}

TEST(SyncSessionTest, PeerRecordsRememberTheAddressTheLastSyncAndItsResult) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  Loop loop;
  auto before = b.engine->Peers();
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].card.device_name, "laptop");
  EXPECT_EQ((*before)[0].last_result, "");
  {
    TestServer server(loop, a, Quiet());
    ASSERT_EQ(SyncWith(loop, b, server.address()).session.reason, EndReason::kCompleted);
    auto peers = b.engine->Peers();
    ASSERT_TRUE(peers.ok());
    EXPECT_EQ((*peers)[0].address, server.address().ToString());
    EXPECT_EQ((*peers)[0].last_result, "ok");
    EXPECT_GT((*peers)[0].last_sync_micros, 0);
    EXPECT_GT((*peers)[0].last_seen_micros, 0);
    // The server side remembers the client too (without an address: it does not listen).
    loop.RunFor(std::chrono::milliseconds(50));
    auto theirs = a.engine->Peers();
    ASSERT_TRUE(theirs.ok());
    EXPECT_EQ((*theirs)[0].last_result, "ok");
    EXPECT_EQ((*theirs)[0].address, "");
  }
  EXPECT_EQ(b.engine->UpdatePeer(b.id(), [](PeerInfo&) {}).code(), StatusCode::kNotFound);
}

// Live: B's serve dials A's (remembered from a sync), and each new commit
// travels at once in both directions.
TEST(SyncSessionTest, LiveSessionsPushEachNewCommitAtOnce) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  Loop loop;
  TestServer server_a(loop, a, Quiet());
  ASSERT_EQ(SyncWith(loop, b, server_a.address()).session.reason, EndReason::kCompleted);
  ServerOptions options;
  options.session = FastSession();
  TestServer server_b(loop, b, options);  // dials A, remembered above
  ASSERT_TRUE(loop.RunUntil([&] {
    return server_a.server().SessionCountForTest() == 1 &&
           server_b.server().SessionCountForTest() == 1;
  })) << server_b.LogText();
  for (int i = 0; i < 5; ++i) {
    a.Add("from the laptop " + std::to_string(i));
    ASSERT_TRUE(
        loop.RunUntil([&] { return b.Versions() == a.Versions(); }, std::chrono::seconds(5)));
    b.Add("from the phone " + std::to_string(i));
    ASSERT_TRUE(
        loop.RunUntil([&] { return b.Versions() == a.Versions(); }, std::chrono::seconds(5)));
  }
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
  // Quiet for a while: keepalives keep the session up.
  loop.RunFor(std::chrono::milliseconds(600));
  EXPECT_EQ(server_b.server().SessionCountForTest(), 1u) << server_b.LogText();
  a.Add("after the quiet");
  EXPECT_TRUE(loop.RunUntil([&] { return b.Versions() == a.Versions(); }, std::chrono::seconds(5)));
}

TEST(SyncSessionTest, ALiveSessionRelaysOpsBetweenThreeDevices) {
  Device a("Alex", 1), b("Alex", 2), c("Alex", 3);
  Link(a, b);
  Link(a, c);
  ASSERT_TRUE(b.engine->GrantSpace(a.space(), c.engine->card()).ok());
  ASSERT_TRUE(c.engine->GrantSpace(a.space(), b.engine->card()).ok());
  Loop loop;
  TestServer server_a(loop, a, Quiet());
  // b and c each know only a.
  ASSERT_EQ(SyncWith(loop, b, server_a.address()).session.reason, EndReason::kCompleted);
  ASSERT_EQ(SyncWith(loop, c, server_a.address()).session.reason, EndReason::kCompleted);
  TestServer server_b(loop, b), server_c(loop, c);
  ASSERT_TRUE(loop.RunUntil([&] { return server_a.server().SessionCountForTest() == 2; }));
  b.Add("from b");
  ASSERT_TRUE(loop.RunUntil([&] { return c.Versions() == b.Versions(); }, std::chrono::seconds(5)));
  c.Add("from c");
  ASSERT_TRUE(loop.RunUntil([&] { return b.Versions() == c.Versions(); }, std::chrono::seconds(5)));
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*c.engine, a.space()));
}

// C's log reaches A and B by different paths while A and B are in a live
// session: B forwards C's op 1 to A, then A forwards C's op 2 to B. A must
// not assume B knows where C's log stands just because B sent it op 1.
TEST(SyncSessionTest, ALiveSessionForwardsALogThatReachedEachSideFromElsewhere) {
  Device a("Alex", 1), b("Alex", 2), c("Alex", 3);
  Link(a, b);
  Link(a, c);
  ASSERT_TRUE(b.engine->GrantSpace(a.space(), c.engine->card()).ok());
  ASSERT_TRUE(c.engine->GrantSpace(a.space(), b.engine->card()).ok());
  Loop loop;
  TestServer server_a(loop, a, Quiet());
  ASSERT_EQ(SyncWith(loop, b, server_a.address()).session.reason, EndReason::kCompleted);
  ServerOptions live;
  live.session = FastSession();
  TestServer server_b(loop, b, live);  // dials A: a live session
  ASSERT_TRUE(loop.RunUntil([&] { return server_a.server().SessionCountForTest() == 1; }));
  c.Add("c one");
  ASSERT_EQ(SyncWith(loop, c, server_b.address()).session.reason, EndReason::kCompleted);
  ASSERT_TRUE(loop.RunUntil([&] { return a.Versions()[c.id()] == 1; }, std::chrono::seconds(5)));
  c.Add("c two");
  ASSERT_EQ(SyncWith(loop, c, server_a.address()).session.reason, EndReason::kCompleted);
  ASSERT_TRUE(loop.RunUntil([&] { return b.Versions()[c.id()] == 2; }, std::chrono::seconds(5)))
      << server_a.LogText() << server_b.LogText();
  // The live session with B is still up (C's one-shot session ends on its own).
  EXPECT_TRUE(loop.RunUntil([&] { return server_a.server().SessionCountForTest() == 1; }))
      << server_a.LogText();
  EXPECT_EQ(server_b.server().SessionCountForTest(), 1u) << server_b.LogText();
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
}

TEST(SyncSessionTest, ServeDialsAPeerFirstReachedAfterItStarted) {
  // B's server starts knowing no address of A's (a device just paired, say).
  // A one-shot sync of B's with A (as `kindred sync --peer`, run through
  // B's server) records where A listens; B's server then keeps a live
  // session with A, and A's next entry reaches B at once.
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  Loop loop;
  TestServer server_a(loop, a, Quiet());
  ServerOptions options;
  options.session = FastSession();
  options.peer_refresh = std::chrono::milliseconds(50);
  TestServer server_b(loop, b, options);
  loop.RunFor(std::chrono::milliseconds(150));
  EXPECT_EQ(server_b.server().SessionCountForTest(), 0u) << server_b.LogText();
  a.Add("before the first sync");
  ASSERT_EQ(SyncWith(loop, b, server_a.address()).session.reason, EndReason::kCompleted);
  EXPECT_TRUE(loop.RunUntil([&] { return server_b.server().SessionCountForTest() == 1; },
                            std::chrono::seconds(5)))
      << server_b.LogText();
  a.Add("pushed live");
  EXPECT_TRUE(loop.RunUntil([&] { return b.Versions() == a.Versions(); }, std::chrono::seconds(5)))
      << server_b.LogText();
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
}

TEST(SyncSessionTest, ServeReconnectsWithBackoffWhenThePeerComesBack) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  Loop loop;
  uint16_t port = 0;
  {
    TestServer server_a(loop, a, Quiet());
    port = server_a.port();
    ASSERT_EQ(SyncWith(loop, b, server_a.address()).session.reason, EndReason::kCompleted);
  }
  // A is gone; B keeps trying, backing off.
  ServerOptions options;
  options.session = FastSession();
  options.backoff_initial = std::chrono::milliseconds(20);
  options.backoff_max = std::chrono::milliseconds(200);
  TestServer server_b(loop, b, options);
  loop.RunFor(std::chrono::milliseconds(300));
  auto peers = b.engine->Peers();
  ASSERT_TRUE(peers.ok());
  EXPECT_EQ((*peers)[0].last_result.rfind("unreachable", 0), 0u) << (*peers)[0].last_result;
  a.Add("written while apart");
  // A comes back on the same port.
  ServerOptions back = Quiet();
  back.listen = "127.0.0.1:" + std::to_string(port);
  Server server_a(loop.executor(), *a.engine, loop.blocking(), back);
  ASSERT_TRUE(server_a.Listen().ok());
  server_a.Start();
  EXPECT_TRUE(loop.RunUntil([&] { return b.Versions() == a.Versions(); }, std::chrono::seconds(5)))
      << server_b.LogText();
  server_a.Stop();
  loop.RunUntil([&] { return server_a.SessionCountForTest() == 0; });
  loop.RunFor(std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace kindred::sync
