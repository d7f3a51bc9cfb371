// Sync sessions and the roster: a revoked device's live session ends and it
// cannot connect again; the end of a partnership travels in the Hello and
// stops the shared space from syncing; a device learns of the couple's
// space through its personal space and syncs it in the same session.
#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>

#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using testing::Admit;
using testing::Device;
using testing::FastSession;
using testing::Loop;
using testing::SyncWith;
using testing::TestServer;

ServerOptions Quiet() {
  ServerOptions options;
  options.dial_known_peers = false;
  return options;
}

TEST(RosterSyncTest, ARevokedDevicesLiveSessionEndsAndItCannotReconnect) {
  Device laptop("Alex", 1, "laptop"), phone("Alex", 2, "phone");
  Admit(laptop, phone, PairingKind::kOwnDevice);
  Loop loop;
  TestServer server(loop, laptop, Quiet());
  DialOptions live;
  live.session = FastSession();
  live.session.live = true;
  live.env = phone.env.get();
  std::optional<DialResult> ended;
  asio::co_spawn(
      loop.io(),
      [&]() -> asio::awaitable<void> {
        ended = co_await Dial(*phone.engine, loop.blocking(), server.address(), live);
      },
      asio::detached);
  ASSERT_TRUE(loop.RunUntil([&] { return server.server().SessionCountForTest() == 1; }));
  ASSERT_TRUE(laptop.engine->RevokeDevice(phone.id()).ok());
  ASSERT_TRUE(loop.RunUntil([&] { return ended.has_value(); }, std::chrono::seconds(10)))
      << server.LogText();
  EXPECT_NE(server.LogText().find("was revoked"), std::string::npos) << server.LogText();
  // It keeps trying: the handshake refuses it.
  for (int i = 0; i < 2; ++i) {
    DialResult again = SyncWith(loop, phone, server.address());
    EXPECT_EQ(again.failure, DialFailure::kRejected) << again.status.ToString();
  }
}

TEST(RosterSyncTest, TheEndOfAPartnershipTravelsInTheHelloAndNothingMoreIsShared) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  Admit(alex, sam, PairingKind::kPartner);
  const SpaceId shared = *alex.engine->SharedSpace();
  ASSERT_TRUE(alex.engine->Commit(shared, {Mutation::Create("journal", {{"text", std::string("before")}})}).ok());
  Loop loop;
  TestServer server(loop, alex, Quiet());
  ASSERT_EQ(SyncWith(loop, sam, server.address()).session.reason, EndReason::kCompleted);
  ASSERT_TRUE(sam.engine->Commit(shared, {Mutation::Create("journal", {{"text", std::string("late")}})}).ok());
  ASSERT_TRUE(alex.engine->EndSpace(shared).ok());
  DialResult r = SyncWith(loop, sam, server.address());
  EXPECT_EQ(r.session.reason, EndReason::kCompleted) << r.status.ToString();
  EXPECT_EQ(r.session.stats.ops_sent, 0u);  // Sam's late entry stays with Sam
  EXPECT_TRUE(sam.engine->SpaceEnded(shared));
  EXPECT_EQ(alex.engine->Versions(shared)->count(sam.id()), 0u);
  EXPECT_EQ(sam.engine->Commit(shared, {Mutation::Create("journal", {{"text", std::string("x")}})})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST(RosterSyncTest, AMembersOtherDeviceJoinsTheCoupleSpaceBySyncing) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  const SpaceId shared = *alex.engine->SharedSpace();
  ASSERT_TRUE(sam.engine->Commit(shared, {Mutation::Create("journal", {{"text", std::string("hi")}})}).ok());
  Loop loop;
  TestServer sam_server(loop, sam, Quiet());
  ASSERT_EQ(SyncWith(loop, alex, sam_server.address()).session.reason, EndReason::kCompleted);
  TestServer alex_server(loop, alex, Quiet());
  // The phone learns of the shared space from the personal space...
  ASSERT_EQ(SyncWith(loop, phone, alex_server.address()).session.reason, EndReason::kCompleted);
  ASSERT_EQ(phone.engine->SharedSpace(), shared);
  // ...and the next session brings it what is in it.
  ASSERT_EQ(SyncWith(loop, phone, alex_server.address()).session.reason, EndReason::kCompleted);
  int entries = 0;
  ASSERT_TRUE(phone.engine->Scan(shared, "journal", [&](const Record&) { return ++entries; }).ok());
  EXPECT_EQ(entries, 1);
}

}  // namespace
}  // namespace kindred::sync
