// What the engine knows about other devices (rosters, peer records), the
// heads of its logs, and change listeners: the sync layer's view of it.
#include <gtest/gtest.h>

#include <atomic>

#include "engine/core/transport_key.h"
#include "kindred/engine.h"
#include "tests/testing/engine_fixture.h"

namespace kindred {
namespace {

using Device = testing::TestDevice;
using testing::Link;

TEST(EnginePeersTest, PeersAreTheOtherDevicesOfTheRostersWithWhatIsRememberedAboutThem) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone"), eve("Eve", 3, "hers");
  auto none = a.engine->Peers();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  Link(a, b);
  auto peers = a.engine->Peers();
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  const PeerInfo& phone = (*peers)[0];
  EXPECT_EQ(phone.card.id, b.engine->device().id);
  EXPECT_EQ(phone.card.device_name, "phone");
  EXPECT_EQ(phone.spaces, std::vector<SpaceId>{a.space()});
  EXPECT_EQ(phone.address, "");
  EXPECT_EQ(phone.last_result, "");

  ASSERT_TRUE(a.engine
                  ->UpdatePeer(phone.card.id,
                               [](PeerInfo& p) {
                                 p.address = "192.0.2.7:47800";
                                 p.last_seen_micros = 11;
                                 p.last_sync_micros = 12;
                                 p.last_result = "ok";
                               })
                  .ok());
  a.Reopen();
  peers = a.engine->Peers();
  ASSERT_TRUE(peers.ok());
  EXPECT_EQ((*peers)[0].address, "192.0.2.7:47800");
  EXPECT_EQ((*peers)[0].last_seen_micros, 11);
  EXPECT_EQ((*peers)[0].last_sync_micros, 12);
  EXPECT_EQ((*peers)[0].last_result, "ok");
  // Neither this device nor a stranger can be given a record.
  EXPECT_EQ(a.engine->UpdatePeer(a.engine->device().id, [](PeerInfo&) {}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(a.engine->UpdatePeer(eve.engine->device().id, [](PeerInfo&) {}).code(),
            StatusCode::kNotFound);
}

TEST(EnginePeersTest, ATransportKeyNamesADeviceOfASharedSpaceOnly) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone"), eve("Eve", 3, "hers");
  Link(a, b);
  auto found = a.engine->PeerByTransportKey(b.engine->device().dh_pk);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->card.id, b.engine->device().id);
  EXPECT_EQ(a.engine->PeerByTransportKey(a.engine->device().dh_pk).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(a.engine->PeerByTransportKey(eve.engine->device().dh_pk).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(a.engine->PeerByTransportKey("short").status().code(), StatusCode::kInvalidArgument);
  // The key pair the transport uses is the device's own.
  auto key = core::TransportKeyPair(*a.engine);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->public_key, a.engine->device().dh_pk);
}

TEST(EnginePeersTest, SpaceDevicesAndHeadsDescribeASpace) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  auto devices = a.engine->SpaceDevices(a.space());
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_LT((*devices)[0].id, (*devices)[1].id);
  EXPECT_EQ(a.engine->SpaceDevices(SpaceId()).status().code(), StatusCode::kNotFound);

  auto empty = a.engine->Heads(a.space());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  ASSERT_TRUE(a.engine
                  ->Commit(a.space(), {Mutation::Create("journal", {{"text", std::string("x")}}),
                                       Mutation::Create("journal", {{"text", std::string("y")}})})
                  .ok());
  auto heads = a.engine->Heads(a.space());
  ASSERT_TRUE(heads.ok());
  ASSERT_EQ(heads->size(), 1u);
  const LogHead& head = heads->at(a.engine->device().id);
  EXPECT_EQ(head.seq, 2u);
  EXPECT_EQ(head.hash.size(), 32u);
  EXPECT_EQ(a.engine->Versions(a.space())->at(a.engine->device().id), 2u);
}

TEST(EnginePeersTest, ChangeListenersHearOfCommitsAndOfIngestedOpsUntilRemoved) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  std::atomic<int> heard_a{0}, heard_b{0};
  const uint64_t ha = a.engine->AddChangeListener([&](const SpaceId& s) {
    EXPECT_EQ(s, a.space());
    ++heard_a;
  });
  const uint64_t hb = b.engine->AddChangeListener([&](const SpaceId&) { ++heard_b; });
  ASSERT_TRUE(
      a.engine->Commit(a.space(), {Mutation::Create("journal", {{"text", std::string("x")}})})
          .ok());
  EXPECT_EQ(heard_a.load(), 1);
  std::vector<OpBatch> batches;
  ASSERT_TRUE(a.engine
                  ->ReadMissing(a.space(), {}, 100,
                                [&](OpBatch&& batch) {
                                  batches.push_back(std::move(batch));
                                  return true;
                                })
                  .ok());
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_TRUE(b.engine->Ingest(batches[0]).ok());
  EXPECT_EQ(heard_b.load(), 1);
  ASSERT_TRUE(b.engine->Ingest(batches[0]).ok());  // nothing new: no change
  EXPECT_EQ(heard_b.load(), 1);
  a.engine->RemoveChangeListener(ha);
  a.engine->RemoveChangeListener(ha + 1000);  // unknown: ignored
  ASSERT_TRUE(
      a.engine->Commit(a.space(), {Mutation::Create("journal", {{"text", std::string("y")}})})
          .ok());
  EXPECT_EQ(heard_a.load(), 1);
  b.engine->RemoveChangeListener(hb);
}

}  // namespace
}  // namespace kindred
