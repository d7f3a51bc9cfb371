// Rosters as signed ops, pairing's admissions, revocation with a new epoch
// key, and the end of a partnership, at the engine's API (no network).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "engine/core/engine_impl.h"
#include "kindred/engine.h"
#include "tests/testing/engine_fixture.h"

namespace kindred {
namespace {

using testing::Push;

struct Device : testing::TestDevice {
  using TestDevice::TestDevice;
  SpaceId personal() const { return space(); }
  SpaceId shared() const {
    auto s = engine->SharedSpace();
    EXPECT_TRUE(s.has_value());
    return s.value_or(SpaceId());
  }
  std::string Add(const SpaceId& space, const std::string& text) {
    auto ids = engine->Commit(space, {Mutation::Create("journal", {{"text", text}})});
    EXPECT_TRUE(ids.ok()) << ids.status().ToString();
    return ids.ok() ? ids->front() : "";
  }
  std::set<std::string> Texts(const SpaceId& space) {
    std::set<std::string> out;
    Status s = engine->Scan(space, "journal", [&](const Record& r) {
      out.insert(r.Text("text"));
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  std::map<uint32_t, std::string> Keys(const SpaceId& space) {
    return static_cast<core::EngineImpl&>(*engine).EpochKeysForTest(space);
  }
};

// Pairs `joiner` with `inviter` as pairing does once both are authenticated.
void Admit(Device& inviter, Device& joiner, PairingKind kind) {
  auto pending = inviter.engine->PrepareAdmission(joiner.engine->card(), kind);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_TRUE(joiner.engine->CheckAdmission((*pending)->grants(), inviter.engine->card(), kind).ok());
  ASSERT_TRUE(inviter.engine->CompleteAdmission(**pending).ok());
  auto joined = joiner.engine->AcceptAdmission((*pending)->grants(), inviter.engine->card(), kind);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
}

void SyncBoth(Device& a, Device& b, const SpaceId& space) {
  auto there = Push(*a.engine, *b.engine, space);
  ASSERT_TRUE(there.ok()) << there.status().ToString();
  auto back = Push(*b.engine, *a.engine, space);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
}

std::set<DeviceId> Active(Engine& e, const SpaceId& space) {
  std::set<DeviceId> out;
  auto devices = e.SpaceDevices(space);
  EXPECT_TRUE(devices.ok());
  if (devices.ok()) {
    for (const auto& d : *devices) out.insert(d.id);
  }
  return out;
}

TEST(RosterTest, PartnerPairingCreatesOneSharedSpaceThatListsBothMembers) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  Admit(alex, sam, PairingKind::kPartner);
  ASSERT_TRUE(alex.engine->SharedSpace().has_value());
  EXPECT_EQ(alex.shared(), sam.shared());
  EXPECT_EQ(Active(*alex.engine, alex.shared()), (std::set<DeviceId>{alex.id(), sam.id()}));
  EXPECT_EQ(Active(*sam.engine, sam.shared()), (std::set<DeviceId>{alex.id(), sam.id()}));
  // Each keeps its own personal space, which lists only its own device.
  EXPECT_NE(alex.personal(), sam.personal());
  EXPECT_EQ(Active(*alex.engine, alex.personal()), (std::set<DeviceId>{alex.id()}));
  EXPECT_EQ(sam.engine->MemberName(alex.id()), "Alex");
}

TEST(RosterTest, AnAbandonedAdmissionChangesNothing) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  {
    auto pending = alex.engine->PrepareAdmission(sam.engine->card(), PairingKind::kPartner);
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ((*pending)->grants().size(), 1u);
  }  // the joiner vanished: never completed
  EXPECT_FALSE(alex.engine->SharedSpace().has_value());
  auto devices = alex.engine->Devices();
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ(devices->size(), 1u);
  EXPECT_EQ(alex.engine->Spaces()->size(), 1u);
}

TEST(RosterTest, SharedEntriesReachThePartnerAndThePersonalSpaceNeverDoes) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  Admit(alex, sam, PairingKind::kPartner);
  alex.Add(alex.personal(), "private thought");
  alex.Add(alex.shared(), "shared thought");
  SyncBoth(alex, sam, alex.shared());
  EXPECT_EQ(sam.Texts(sam.shared()), (std::set<std::string>{"shared thought"}));
  // The personal space is not Sam's: Sam holds none of it and accepts none of it.
  auto spaces = sam.engine->Spaces();
  ASSERT_TRUE(spaces.ok());
  for (const auto& s : *spaces) EXPECT_NE(s.id, alex.personal());
  auto pushed = Push(*alex.engine, *sam.engine, alex.personal());
  EXPECT_FALSE(pushed.ok());
}

TEST(RosterTest, ALinkedDeviceJoinsThePersonalAndSharedSpacesAsTheSameMember) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone"), tablet("Someone", 3, "tablet");
  Admit(alex, sam, PairingKind::kPartner);
  alex.Add(alex.personal(), "private thought");
  Admit(alex, tablet, PairingKind::kOwnDevice);
  EXPECT_EQ(tablet.personal(), alex.personal());
  EXPECT_EQ(tablet.shared(), alex.shared());
  EXPECT_EQ(tablet.engine->device().member_name, "Alex");
  EXPECT_EQ(tablet.engine->card().member_id, alex.engine->card().member_id);
  EXPECT_EQ(tablet.engine->Spaces()->size(), 2u);  // its own empty space is gone
  SyncBoth(alex, tablet, alex.personal());
  EXPECT_EQ(tablet.Texts(tablet.personal()), (std::set<std::string>{"private thought"}));
  // Sam learns of the tablet through Alex's roster ops in the shared space.
  SyncBoth(alex, sam, alex.shared());
  EXPECT_EQ(Active(*sam.engine, sam.shared()),
            (std::set<DeviceId>{alex.id(), sam.id(), tablet.id()}));
  EXPECT_EQ(sam.engine->MemberName(tablet.id()), "Alex");
}

TEST(RosterTest, AMembersOtherDevicesReceiveTheSharedSpaceThroughThePersonalSpace) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  EXPECT_FALSE(phone.engine->SharedSpace().has_value());
  SyncBoth(alex, phone, alex.personal());
  ASSERT_TRUE(phone.engine->SharedSpace().has_value());
  EXPECT_EQ(phone.shared(), alex.shared());
  sam.Add(sam.shared(), "from Sam");
  SyncBoth(sam, phone, sam.shared());
  EXPECT_EQ(phone.Texts(phone.shared()), (std::set<std::string>{"from Sam"}));
}

TEST(RosterTest, ThePartnersOtherDevicesJoinTheSharedSpaceToo) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone"), sam_laptop("Sam", 3, "laptop");
  Admit(sam, sam_laptop, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  SyncBoth(sam, sam_laptop, sam.personal());
  ASSERT_TRUE(sam_laptop.engine->SharedSpace().has_value());
  SyncBoth(sam, alex, sam.shared());
  EXPECT_EQ(Active(*alex.engine, alex.shared()),
            (std::set<DeviceId>{alex.id(), sam.id(), sam_laptop.id()}));
  alex.Add(alex.shared(), "hello both");
  SyncBoth(alex, sam_laptop, alex.shared());
  EXPECT_EQ(sam_laptop.Texts(sam_laptop.shared()), (std::set<std::string>{"hello both"}));
}

TEST(RosterTest, PairingTwiceOrWithOnesOwnDeviceIsRefused) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone"),
      other("Kim", 4, "phone");
  Admit(alex, phone, PairingKind::kOwnDevice);
  EXPECT_EQ(alex.engine->PrepareAdmission(phone.engine->card(), PairingKind::kPartner)
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
  Admit(alex, sam, PairingKind::kPartner);
  auto again = alex.engine->PrepareAdmission(other.engine->card(), PairingKind::kPartner);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("already paired with Sam"), std::string::npos);
  // A device with entries of its own cannot become someone else's device.
  other.Add(other.personal(), "mine");
  auto link = alex.engine->PrepareAdmission(other.engine->card(), PairingKind::kOwnDevice);
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(other.engine->CheckAdmission((*link)->grants(), alex.engine->card(),
                                         PairingKind::kOwnDevice)
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST(RosterTest, AGrantMeantForAnotherDeviceOrSignedByAnotherIsRefused) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone"), eve("Eve", 3, "phone");
  auto pending = alex.engine->PrepareAdmission(sam.engine->card(), PairingKind::kPartner);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(eve.engine->CheckAdmission((*pending)->grants(), alex.engine->card(),
                                       PairingKind::kPartner)
                .code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(sam.engine->CheckAdmission((*pending)->grants(), eve.engine->card(),
                                       PairingKind::kPartner)
                .code(),
            StatusCode::kUnauthenticated);
  std::vector<std::string> garbled = (*pending)->grants();
  garbled[0][garbled[0].size() / 2] ^= 1;
  EXPECT_EQ(sam.engine->AcceptAdmission(garbled, alex.engine->card(), PairingKind::kPartner)
                .status()
                .code(),
            StatusCode::kUnauthenticated);
  EXPECT_FALSE(sam.engine->SharedSpace().has_value());
}

TEST(RosterTest, CommitRefusesTheEnginesReservedCollections) {
  Device alex("Alex", 1, "laptop");
  auto ids = alex.engine->Commit(alex.personal(), {Mutation::Create("_roster", {{"x", int64_t{1}}})});
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
}

TEST(RosterTest, RevokingADeviceMovesTheRestToANewEpochItCannotRead) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  SyncBoth(alex, phone, alex.personal());
  SyncBoth(alex, phone, alex.shared());
  phone.Add(phone.personal(), "before the loss");
  SyncBoth(alex, phone, alex.personal());
  const auto phone_personal_keys = phone.Keys(alex.personal());
  const auto phone_shared_keys = phone.Keys(alex.shared());

  ASSERT_TRUE(alex.engine->RevokeDevice(phone.id()).ok());
  EXPECT_EQ(alex.engine->RevokeDevice(phone.id()).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Active(*alex.engine, alex.personal()), (std::set<DeviceId>{alex.id()}));
  auto devices = alex.engine->Devices();
  ASSERT_TRUE(devices.ok());
  auto listed = std::find_if(devices->begin(), devices->end(),
                             [&](const RosterDevice& d) { return d.card.id == phone.id(); });
  ASSERT_NE(listed, devices->end());
  EXPECT_TRUE(listed->revoked);
  EXPECT_EQ(listed->revoked_by, alex.id());
  // It may no longer connect...
  EXPECT_EQ(alex.engine->PeerByTransportKey(phone.engine->device().dh_pk).status().code(),
            StatusCode::kPermissionDenied);
  // ...what it writes now is refused...
  phone.Add(phone.personal(), "after the loss");
  auto refused = Push(*phone.engine, *alex.engine, alex.personal());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  // ...and what is written from now on uses a key it never held.
  alex.Add(alex.personal(), "a new private entry");
  alex.Add(alex.shared(), "a new shared entry");
  for (const SpaceId& space : {alex.personal(), alex.shared()}) {
    auto summary = alex.engine->Spaces();
    ASSERT_TRUE(summary.ok());
    for (const auto& s : *summary) {
      if (s.id != space) continue;
      const auto& held = space == alex.personal() ? phone_personal_keys : phone_shared_keys;
      EXPECT_FALSE(held.count(s.epoch)) << "epoch " << s.epoch;
      EXPECT_TRUE(alex.Keys(space).count(s.epoch));
    }
  }
  // Its earlier entry stays, and the log still verifies.
  EXPECT_TRUE(alex.Texts(alex.personal()).count("before the loss"));
  VerifyReport report;
  EXPECT_TRUE(alex.engine->Verify(&report).ok());
}

TEST(RosterTest, ARevocationMadeWhileThePartnerIsOfflineReachesThemLater) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  SyncBoth(alex, phone, alex.personal());
  SyncBoth(alex, phone, alex.shared());
  SyncBoth(alex, sam, alex.shared());
  EXPECT_TRUE(sam.engine->PeerByTransportKey(phone.engine->device().dh_pk).ok());
  const auto phone_keys = phone.Keys(alex.shared());

  ASSERT_TRUE(alex.engine->RevokeDevice(phone.id()).ok());  // Sam is away
  SyncBoth(alex, sam, alex.shared());                       // Sam comes back
  EXPECT_EQ(sam.engine->PeerByTransportKey(phone.engine->device().dh_pk).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(Active(*sam.engine, sam.shared()), (std::set<DeviceId>{alex.id(), sam.id()}));
  sam.Add(sam.shared(), "written after the revocation");
  auto spaces = sam.engine->Spaces();
  ASSERT_TRUE(spaces.ok());
  for (const auto& s : *spaces) {
    if (s.id == sam.shared()) {
      EXPECT_FALSE(phone_keys.count(s.epoch));
    }
  }
  // The phone keeps trying: Sam refuses what it wrote since.
  phone.Add(phone.shared(), "sneaking in");
  EXPECT_EQ(Push(*phone.engine, *sam.engine, sam.shared()).status().code(),
            StatusCode::kPermissionDenied);
}

TEST(RosterTest, OpsUnderAKeyThatHasNotArrivedWaitAndMergeOnceItDoes) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone"),
      sam_laptop("Sam", 4, "laptop");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(sam, sam_laptop, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  SyncBoth(sam, sam_laptop, sam.personal());
  SyncBoth(sam, alex, sam.shared());
  SyncBoth(sam, sam_laptop, sam.shared());
  ASSERT_TRUE(alex.engine->RevokeDevice(phone.id()).ok());
  SyncBoth(alex, sam, alex.shared());
  sam.Add(sam.shared(), "under the new key");
  // Sam's laptop gets Sam's log before Alex's, which carries the key.
  auto early = Push(*sam.engine, *sam_laptop.engine, sam.shared(), 1000, sam.id());
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_FALSE(sam_laptop.Texts(sam.shared()).count("under the new key"));
  VerifyReport waiting;
  ASSERT_TRUE(sam_laptop.engine->Verify(&waiting).ok());
  EXPECT_GT(waiting.pending, 0u);
  auto rest = Push(*sam.engine, *sam_laptop.engine, sam.shared());
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_TRUE(sam_laptop.Texts(sam.shared()).count("under the new key"));
  VerifyReport done;
  ASSERT_TRUE(sam_laptop.engine->Verify(&done).ok());
  EXPECT_EQ(done.pending, 0u);
}

TEST(RosterTest, ThePartnersDevicesAreTheirsToRevoke) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  Admit(alex, sam, PairingKind::kPartner);
  EXPECT_EQ(alex.engine->RevokeDevice(sam.id()).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(alex.engine->RevokeDevice(alex.id()).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Active(*alex.engine, alex.shared()), (std::set<DeviceId>{alex.id(), sam.id()}));
}

TEST(RosterTest, AnEndedSharedSpaceIsReadOnlyAndKeepsWhatWasShared) {
  Device alex("Alex", 1, "laptop"), sam("Sam", 2, "phone");
  Admit(alex, sam, PairingKind::kPartner);
  alex.Add(alex.shared(), "shared before the end");
  SyncBoth(alex, sam, alex.shared());
  const SpaceId shared = alex.shared();
  ASSERT_TRUE(alex.engine->EndSpace(shared).ok());
  auto write = alex.engine->Commit(shared, {Mutation::Create("journal", {{"text", std::string("x")}})});
  EXPECT_EQ(write.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(write.status().message().find("read-only"), std::string::npos);
  EXPECT_EQ(alex.engine->SharedSpace(), shared);  // still readable
  EXPECT_EQ(alex.Texts(shared), (std::set<std::string>{"shared before the end"}));
  EXPECT_EQ(sam.Texts(shared), (std::set<std::string>{"shared before the end"}));
  // No longer a peer to dial, and free to pair anew.
  EXPECT_TRUE(alex.engine->Peers()->empty());
  Device kim("Kim", 3, "phone");
  EXPECT_TRUE(alex.engine->PrepareAdmission(kim.engine->card(), PairingKind::kPartner).ok());
}

TEST(RosterTest, TheRosterAndKeysSurviveReopening) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), sam("Sam", 3, "phone");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, sam, PairingKind::kPartner);
  ASSERT_TRUE(alex.engine->RevokeDevice(phone.id()).ok());
  const auto keys = alex.Keys(alex.shared());
  const SpaceId shared = alex.shared();
  alex.engine.reset();
  auto reopened = Engine::Open({.home = alex.dir.path(), .env = alex.env.get()});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  alex.engine = std::move(*reopened);
  EXPECT_EQ(alex.Keys(shared), keys);
  EXPECT_EQ(Active(*alex.engine, shared), (std::set<DeviceId>{alex.id(), sam.id()}));
  EXPECT_EQ(alex.engine->PeerByTransportKey(phone.engine->device().dh_pk).status().code(),
            StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace kindred
