// The real `kindred` binary in child processes, on temporary homes, over
// 127.0.0.1: serve and sync, their exit codes and messages, and SIGKILL of
// either side in the middle of a sync, after which the next sync resumes
// where the last one stopped and nothing acknowledged is lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/sync/sync_test_util.h"
#include "tests/testing/kindred_child.h"

namespace kindred::sync {
namespace {

using nlohmann::json;
using testing::TempDir;

using Child = kindred::testing::KindredChild;
using kindred::testing::Ran;
using kindred::testing::ReadFile;
using kindred::testing::RunKindred;

class CliSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    a_ = scratch_.path() + "/a";
    b_ = scratch_.path() + "/b";
    ASSERT_EQ(RunKindred({"--home", a_, "init", "--name", "Alex", "--device-name", "laptop"},
                         scratch_.path())
                  .code,
              0);
    ASSERT_EQ(RunKindred({"--home", b_, "init", "--name", "Alex", "--device-name", "phone"},
                         scratch_.path())
                  .code,
              0);
    LinkHomes(a_, b_);
  }
  // Links `joiner` into `owner`'s personal space (what pairing will do).
  static void LinkHomes(const std::string& owner, const std::string& joiner) {
    auto o = Engine::Open({.home = owner});
    auto j = Engine::Open({.home = joiner});
    ASSERT_TRUE(o.ok() && j.ok());
    auto grant = (*o)->GrantSpace((*o)->device().personal_space, (*j)->card());
    ASSERT_TRUE(grant.ok());
    ASSERT_TRUE((*j)->AcceptSpace(*grant, (*o)->card(), true).ok());
  }
  // Writes `n` journal entries of about 300 bytes into `home` directly.
  static void Fill(const std::string& home, int n) {
    auto e = Engine::Open({.home = home, .sync_writes = false});
    ASSERT_TRUE(e.ok());
    const SpaceId space = (*e)->device().personal_space;
    for (int done = 0; done < n;) {
      std::vector<Mutation> batch;
      for (int i = 0; i < 1000 && done < n; ++i, ++done) {
        std::string text = "entry " + std::to_string(done) + " " + std::string(290, 'x');
        batch.push_back(Mutation::Create("journal", {{"text", text}}));
      }
      ASSERT_TRUE((*e)->Commit(space, batch).ok());
    }
  }
  // How many of `author`'s ops `home` holds; also checks every chain and signature.
  static DeviceId IdOf(const std::string& home) {
    auto e = Engine::Open({.home = home});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? (*e)->device().id : DeviceId();
  }
  // Waits until `serve` has accepted a session (its "connected from" line,
  // logged after the handshake and the accept record are done), so that a
  // kill after it lands in the middle of a sync rather than before the
  // syncing child (slow to start under load) has even connected.
  static bool WaitUntilConnected(Child& serve, Child& sync) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (serve.err().find("connected from") == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the sync never connected; serve: " << serve.err()
                      << "; sync: " << sync.err();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }
  static uint64_t Held(const std::string& home, const DeviceId& id) {
    auto e = Engine::Open({.home = home});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return 0;
    VerifyReport report;
    Status verified = (*e)->Verify(&report);
    EXPECT_TRUE(verified.ok()) << verified.ToString();
    auto vv = (*e)->Versions((*e)->device().personal_space);
    EXPECT_TRUE(vv.ok());
    auto it = vv->find(id);
    return it == vv->end() ? 0 : it->second;
  }

  TempDir scratch_;
  std::string a_, b_;
};

TEST_F(CliSyncTest, ServeSaysWhereItListensAndSyncPrintsASummary) {
  Fill(a_, 20);
  Child serve({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const uint16_t port = serve.ListeningPort();
  ASSERT_NE(port, 0);
  const std::string peer = "127.0.0.1:" + std::to_string(port);
  Ran text = RunKindred({"--home", b_, "sync", "--peer", peer}, scratch_.path());
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("received 20 ops"), std::string::npos) << text.out;
  EXPECT_EQ(text.err, "");  // no progress bar without a terminal
  Ran js = RunKindred({"--home", b_, "--json", "sync", "--peer", peer}, scratch_.path());
  ASSERT_EQ(js.code, 0) << js.err;
  json summary = json::parse(js.out);
  for (const char* key : {"sent", "received", "bytes_out", "bytes_in", "ms"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_EQ(summary["received"], 0);
  EXPECT_GT(summary["bytes_out"].get<uint64_t>(), 0u);

  Ran peers = RunKindred({"--home", b_, "--json", "peers"}, scratch_.path());
  ASSERT_EQ(peers.code, 0) << peers.err;
  json list = json::parse(peers.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["address"], peer);
  EXPECT_EQ(list[0]["last_result"], "ok");
  EXPECT_EQ(list[0]["device_name"], "laptop");

  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(10)), 0) << serve.err();
}

TEST_F(CliSyncTest, AnUnreachableOrUnknownPeerGivesANonZeroExitThatSaysWhich) {
  // Nothing listens on a port we just had and closed.
  Child serve({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const uint16_t port = serve.ListeningPort();
  serve.Signal(SIGINT);
  ASSERT_EQ(serve.Wait(std::chrono::seconds(10)), 0);
  Ran unreachable = RunKindred(
      {"--home", b_, "sync", "--peer", "127.0.0.1:" + std::to_string(port)}, scratch_.path());
  EXPECT_EQ(unreachable.code, 3);
  EXPECT_NE(unreachable.err.find("unreachable"), std::string::npos) << unreachable.err;

  const std::string stranger = scratch_.path() + "/eve";
  ASSERT_EQ(RunKindred({"--home", stranger, "init", "--name", "Eve"}, scratch_.path()).code, 0);
  Child eve({"--home", stranger, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const std::string at = "127.0.0.1:" + std::to_string(eve.ListeningPort());
  Ran unknown = RunKindred({"--home", b_, "sync", "--peer", at}, scratch_.path());
  EXPECT_EQ(unknown.code, 3);
  EXPECT_NE(unknown.err.find("unknown"), std::string::npos) << unknown.err;
  Ran bad = RunKindred({"--home", b_, "sync", "--peer", "nonsense"}, scratch_.path());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("HOST:PORT"), std::string::npos) << bad.err;
}

// SIGKILL of the receiving `kindred sync`, and then of the sending `kindred
// serve`, at random moments: every store stays consistent, and the next
// sync moves exactly what is still missing.
TEST_F(CliSyncTest, KillingEitherSideMidSyncLosesNothingAndTheNextSyncResumes) {
  constexpr int kEntries = 30000;
  Fill(a_, kEntries);
  const uint32_t seed = static_cast<uint32_t>(std::random_device{}());
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const DeviceId author = IdOf(a_);

  Child serve({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  std::string peer = "127.0.0.1:" + std::to_string(serve.ListeningPort());

  // Kill the receiver.
  {
    Child sync({"--home", b_, "sync", "--peer", peer}, scratch_.path());
    ASSERT_TRUE(WaitUntilConnected(serve, sync));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    sync.Signal(SIGKILL);
    sync.Wait();
  }
  const uint64_t kept = Held(b_, author);
  RecordProperty("kept_after_killing_the_receiver", std::to_string(kept));
  Ran resumed = RunKindred({"--home", b_, "--json", "sync", "--peer", peer}, scratch_.path());
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(json::parse(resumed.out)["received"].get<uint64_t>(), kEntries - kept)
      << "kept " << kept << " after the kill";
  EXPECT_EQ(Held(b_, author), static_cast<uint64_t>(kEntries));

  // Kill the sender, in the middle of a sync to a third device.
  const std::string c = scratch_.path() + "/c";
  ASSERT_EQ(RunKindred({"--home", c, "init", "--name", "Alex", "--device-name", "tablet"},
                       scratch_.path())
                .code,
            0);
  serve.Signal(SIGTERM);
  ASSERT_EQ(serve.Wait(std::chrono::seconds(10)), 0);
  LinkHomes(a_, c);
  Child serve2({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  peer = "127.0.0.1:" + std::to_string(serve2.ListeningPort());
  Child sync({"--home", c, "sync", "--peer", peer}, scratch_.path());
  ASSERT_TRUE(WaitUntilConnected(serve2, sync));
  std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
  serve2.Signal(SIGKILL);
  const int code = sync.Wait();
  serve2.Wait();
  const uint64_t kept_c = Held(c, author);
  RecordProperty("kept_after_killing_the_sender", std::to_string(kept_c));
  if (kept_c < kEntries) {
    EXPECT_EQ(code, 3) << sync.err();
    EXPECT_NE(sync.err().find("did not finish"), std::string::npos) << sync.err();
  }
  EXPECT_EQ(Held(a_, author),
            static_cast<uint64_t>(kEntries));  // the killed server's store is whole
  Child serve3({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  peer = "127.0.0.1:" + std::to_string(serve3.ListeningPort());
  Ran again = RunKindred({"--home", c, "--json", "sync", "--peer", peer}, scratch_.path());
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["received"].get<uint64_t>(), kEntries - kept_c);
  EXPECT_EQ(Held(c, author), static_cast<uint64_t>(kEntries));
  serve3.Signal(SIGTERM);
  EXPECT_EQ(serve3.Wait(std::chrono::seconds(10)), 0) << serve3.err();
}

// While `kindred serve` holds the store, every other command on the home
// is forwarded to it over HOME/serve.sock and behaves exactly as before.
TEST_F(CliSyncTest, WhileServeRunsEveryOtherCommandWorksTheSame) {
  Fill(a_, 3);
  const std::string s = scratch_.path();
  auto run = [&](const std::vector<std::string>& args,
                 const std::optional<std::string>& input = std::nullopt) {
    std::vector<std::string> full{"--home", a_};
    full.insert(full.end(), args.begin(), args.end());
    return RunKindred(full, s, input, s);
  };
  const std::vector<std::vector<std::string>> reads = {
      {"--json", "journal", "list"}, {"journal", "list"},      {"--json", "status"},
      {"--json", "verify"},          {"--json", "id"},         {"journal", "show", "nosuchid"},
      {"--json", "peers"},           {"journal", "frobnicate"}};
  std::vector<Ran> alone;
  for (const auto& args : reads) alone.push_back(run(args));

  Child serve({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, s);
  ASSERT_NE(serve.ListeningPort(), 0);
  struct stat st {};
  ASSERT_EQ(::stat((a_ + "/serve.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (size_t i = 0; i < reads.size(); ++i) {
    Ran served = run(reads[i]);
    EXPECT_EQ(served.code, alone[i].code) << reads[i].back() << ": " << served.err;
    EXPECT_EQ(served.out, alone[i].out) << reads[i].back();
    EXPECT_EQ(served.err, alone[i].err) << reads[i].back();
  }
  // Writes, standard input and paths relative to where the command was typed.
  Ran added = run({"--json", "journal", "add", "--mood", "4", "written while serving"});
  EXPECT_EQ(added.code, 0) << added.err;
  EXPECT_TRUE(json::parse(added.out).contains("id"));
  Ran piped = run({"journal", "add", "-"}, std::string("from standard input\n"));
  EXPECT_EQ(piped.code, 0) << piped.err;
  EXPECT_EQ(piped.err, "Saved, just for you.\n");
  Ran exported = run({"journal", "export", "--out", "export.jsonl"});
  EXPECT_EQ(exported.code, 0) << exported.err;
  const std::string lines = ReadFile(s + "/export.jsonl");
  EXPECT_NE(lines.find("written while serving"), std::string::npos);
  EXPECT_NE(lines.find("from standard input"), std::string::npos);
  // A second serve on the same home is refused as busy.
  Ran second = run({"serve", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(second.code, 2);
  EXPECT_NE(second.err.find("another kindred command is using this home"), std::string::npos)
      << second.err;

  serve.Signal(SIGTERM);
  ASSERT_EQ(serve.Wait(std::chrono::seconds(10)), 0) << serve.err();
  EXPECT_NE(::stat((a_ + "/serve.sock").c_str(), &st), 0) << "the socket is removed";
  Ran after = run({"--json", "journal", "list"});
  EXPECT_EQ(json::parse(after.out).size(), 5u);
}

TEST_F(CliSyncTest, AStaleSocketIsIgnored) {
  Child serve({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  ASSERT_NE(serve.ListeningPort(), 0);
  serve.Signal(SIGKILL);
  serve.Wait();
  struct stat st {};
  ASSERT_EQ(::stat((a_ + "/serve.sock").c_str(), &st), 0) << "kill -9 leaves the socket behind";
  Ran list = RunKindred({"--home", a_, "journal", "list"}, scratch_.path());
  EXPECT_EQ(list.code, 0) << list.err;
  // With the store held by something else and a stale socket: the clear Busy message.
  auto holder = Engine::Open({.home = a_});
  ASSERT_TRUE(holder.ok());
  Ran busy = RunKindred({"--home", a_, "journal", "list"}, scratch_.path());
  EXPECT_EQ(busy.code, 2);
  EXPECT_NE(busy.err.find("another kindred command is using this home"), std::string::npos)
      << busy.err;
}

// Two serves in a live session: an entry written on one (through its
// control socket) reaches the other at once.
TEST_F(CliSyncTest, AnEntryWrittenWhileServingIsPushedToTheConnectedPeer) {
  Child serve_a({"--home", a_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  const std::string peer = "127.0.0.1:" + std::to_string(serve_a.ListeningPort());
  ASSERT_EQ(RunKindred({"--home", b_, "sync", "--peer", peer}, scratch_.path()).code, 0);
  Child serve_b({"--home", b_, "serve", "--listen", "127.0.0.1:0"}, scratch_.path());
  ASSERT_NE(serve_b.ListeningPort(), 0);
  // B's serve dials A (remembered from the sync); wait until A sees it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (serve_a.err().find("connected from") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Ran added = RunKindred({"--home", b_, "journal", "add", "pushed at once"}, scratch_.path());
  ASSERT_EQ(added.code, 0) << added.err;
  const auto start = std::chrono::steady_clock::now();
  bool arrived = false;
  while (!arrived && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    Ran list = RunKindred({"--home", a_, "journal", "list"}, scratch_.path());
    arrived = list.out.find("pushed at once") != std::string::npos;
  }
  EXPECT_TRUE(arrived) << serve_a.err() << serve_b.err();
  serve_b.Signal(SIGTERM);
  serve_a.Signal(SIGTERM);
  EXPECT_EQ(serve_b.Wait(std::chrono::seconds(10)), 0) << serve_b.err();
  EXPECT_EQ(serve_a.Wait(std::chrono::seconds(10)), 0) << serve_a.err();
}

}  // namespace
}  // namespace kindred::sync
