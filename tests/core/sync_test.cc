// Engines that share a space exchange signed op batches and converge.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/core/engine_impl.h"
#include "kindred/engine.h"
#include "kindred/v1/store.pb.h"
#include "tests/testing/engine_fixture.h"

namespace kindred {
namespace {

using testing::ReadAll;
using testing::Snapshot;
using testing::TempDir;

// A device named after its member.
struct Device : testing::TestDevice {
  Device(const std::string& name, uint64_t seed) : TestDevice(name, seed, name + "-device") {}
};

// Links `joiner` into `owner`'s personal space, which becomes its own.
void Link(Device& owner, Device& joiner) {
  testing::Link(owner, joiner);
  ASSERT_EQ(joiner.space(), owner.space());
}

// Everything `from` has of `space` that `to` lacks. Returns ops moved.
uint64_t Push(Engine& from, Engine& to, const SpaceId& space, size_t max_ops = 64) {
  auto moved = testing::Push(from, to, space, max_ops);
  EXPECT_TRUE(moved.ok()) << moved.status().ToString();
  return moved.ok() ? *moved : 0;
}

void SyncBoth(Device& a, Device& b) {
  Push(*a.engine, *b.engine, a.space());
  Push(*b.engine, *a.engine, a.space());
}

// The last op of `device`'s log in `space` that `e` holds (0: none).
uint64_t HeldOf(Engine& e, const SpaceId& space, const DeviceId& device) {
  auto vv = e.Versions(space);
  EXPECT_TRUE(vv.ok());
  if (!vv.ok()) return 0;
  auto it = vv->find(device);
  return it == vv->end() ? 0 : it->second;
}

std::string Add(Device& d, const std::string& text) {
  auto ids = d.engine->Commit(d.space(), {Mutation::Create("journal", {{"text", text}})});
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? ids->front() : "";
}

TEST(SyncTest, TwoDevicesThatShareASpaceConverge) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  Add(a, "from the laptop");
  Add(b, "from the phone");
  SyncBoth(a, b);
  EXPECT_EQ(Snapshot(*a.engine, a.space()), Snapshot(*b.engine, a.space()));
  EXPECT_NE(Snapshot(*a.engine, a.space()).find("from the phone"), std::string::npos);
  VerifyReport ra, rb;
  EXPECT_TRUE(a.engine->Verify(&ra).ok());
  EXPECT_TRUE(b.engine->Verify(&rb).ok());
  EXPECT_EQ(ra.ops, rb.ops);
  // A second sync moves nothing.
  EXPECT_EQ(Push(*a.engine, *b.engine, a.space()), 0u);
}

TEST(SyncTest, TextThatIsNotUtf8IsRefusedAtCommitSoThatTheLogStaysSyncable) {
  // Such an op could be stored, but never read back or synced: its device's
  // log would be stuck behind it for good. Refused up front, naming the
  // field and never the text.
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  const std::string secret = "dear diary \xff\xfe";
  const std::vector<Mutation> bad = {
      Mutation::Create("journal", {{"text", secret}}),
      Mutation::Create("journal", {{"tags", std::vector<std::string>{"ok", secret}}}),
      Mutation::Create("journal", {{"mood\xc0\xaf", int64_t{1}}}),
      Mutation::Create("journ\xed\xa0\x80l", {{"text", "fine"}}),
  };
  const std::vector<std::string> named = {"field 'text'", "field 'tags'", "a field name",
                                          "the collection name"};
  auto held = [&a] { return HeldOf(*a.engine, a.space(), a.id()); };
  const uint64_t before = held();
  for (size_t i = 0; i < bad.size(); ++i) {
    auto ids =
        a.engine->Commit(a.space(), {Mutation::Create("journal", {{"text", "kept"}}), bad[i]});
    ASSERT_FALSE(ids.ok()) << i;
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument) << i;
    EXPECT_NE(ids.status().message().find(named[i]), std::string::npos) << ids.status().ToString();
    EXPECT_NE(ids.status().message().find("UTF-8"), std::string::npos) << ids.status().ToString();
    EXPECT_EQ(ids.status().message().find("dear diary"), std::string::npos);
  }
  // All or nothing: the good mutation beside each bad one was not stored.
  EXPECT_EQ(held(), before);
  EXPECT_EQ(Snapshot(*a.engine, a.space()).find("kept"), std::string::npos);
  // Text in any script, and emoji, is UTF-8 and syncs as it is.
  const std::string text = "caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\x92\x9e";
  Add(a, text);
  EXPECT_EQ(Push(*a.engine, *b.engine, a.space()), 1u);
  EXPECT_NE(Snapshot(*b.engine, a.space()).find("=" + text + "/"), std::string::npos);
  VerifyReport report;
  EXPECT_TRUE(a.engine->Verify(&report).ok());
}

TEST(SyncTest, APeersOpWhoseTextIsNotUtf8IsRefusedAndNothingIsStored) {
  // What a faulty or hostile member could send, signed and encrypted as it
  // should be: the receiver checks the text itself (the payload declares it
  // bytes, so protobuf does not).
  for (const Mutation& bad :
       {Mutation::Create("journal", {{"text", std::string("dear diary \xff")}}),
        Mutation::Create("journal", {{"tags", std::vector<std::string>{"ok", "\xc0\xaf"}}})}) {
    Device a("Alex", 1), b("Alex", 2);
    Link(a, b);
    Add(a, "a good entry first");
    Push(*a.engine, *b.engine, a.space());
    const std::string before = Snapshot(*b.engine, a.space());
    const uint64_t held = HeldOf(*b.engine, a.space(), a.id());
    ASSERT_EQ(held, HeldOf(*a.engine, a.space(), a.id()));
    static_cast<core::EngineImpl&>(*a.engine).SkipTextChecksForTest();
    auto ids = a.engine->Commit(a.space(), {bad});
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    auto moved = testing::Push(*a.engine, *b.engine, a.space());
    ASSERT_FALSE(moved.ok());
    EXPECT_EQ(moved.status().code(), StatusCode::kCorruption) << moved.status().ToString();
    EXPECT_NE(moved.status().message().find("malformed payload"), std::string::npos)
        << moved.status().ToString();
    EXPECT_EQ(moved.status().message().find("dear diary"), std::string::npos);
    EXPECT_EQ(Snapshot(*b.engine, a.space()), before);
    EXPECT_EQ(HeldOf(*b.engine, a.space(), a.id()), held);
  }
}

TEST(SyncTest, ConcurrentEditsOfOneTextBecomeAConflictThatALaterEditResolves) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  std::string id = Add(a, "draft");
  SyncBoth(a, b);
  ASSERT_TRUE(a.engine->Commit(a.space(), {Mutation::Update("journal", id, {{"text", std::string("laptop version")}})}).ok());
  ASSERT_TRUE(b.engine->Commit(a.space(), {Mutation::Update("journal", id, {{"text", std::string("phone version")}})}).ok());
  SyncBoth(a, b);
  auto ra = a.engine->Get(a.space(), "journal", id);
  auto rb = b.engine->Get(a.space(), "journal", id);
  ASSERT_TRUE(ra.ok() && rb.ok());
  ASSERT_EQ(ra->conflicts["text"].size(), 2u);
  EXPECT_EQ(ra->Text("text"), rb->Text("text"));  // both show the same winner
  ASSERT_TRUE(b.engine->Commit(a.space(), {Mutation::Update("journal", id, {{"text", std::string("together")}})}).ok());
  SyncBoth(a, b);
  ra = a.engine->Get(a.space(), "journal", id);
  EXPECT_TRUE(ra->conflicts.empty());
  EXPECT_EQ(ra->Text("text"), "together");
}

TEST(SyncTest, ThreeDevicesConvergeUnderRandomOpsAndRandomSyncs) {
  for (uint32_t seed : {7u, 99u, 2026u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    Device a("Alex", seed * 3 + 1), b("Alex", seed * 3 + 2), c("Alex", seed * 3 + 3);
    Link(a, b);
    Link(a, c);  // c's grant lists b; b learns of c below
    // Rosters do not sync yet (that comes with pairing): tell b about c directly.
    ASSERT_TRUE(b.engine->GrantSpace(a.space(), c.engine->card()).ok());
    std::vector<Device*> devices{&a, &b, &c};
    std::vector<std::string> ids;
    for (int step = 0; step < 150; ++step) {
      Device& d = *devices[rng() % 3];
      d.env->fake_clock().Advance(static_cast<int64_t>(rng() % 2000) - 500);  // skewed clocks
      int action = rng() % 10;
      if (action < 3 || ids.empty()) {
        ids.push_back(Add(d, "entry " + std::to_string(step)));
      } else if (action < 7) {
        const std::string& id = ids[rng() % ids.size()];
        std::map<std::string, Value> fields;
        if (rng() % 2) fields["text"] = "edit " + std::to_string(step);
        else fields["mood"] = static_cast<int64_t>(rng() % 5 + 1);
        auto r = d.engine->Commit(a.space(), {Mutation::Update("journal", id, fields)});
        EXPECT_TRUE(r.ok() || r.status().code() == StatusCode::kNotFound);
      } else if (action < 8) {
        auto r = d.engine->Commit(a.space(), {Mutation::Delete("journal", ids[rng() % ids.size()])});
        EXPECT_TRUE(r.ok() || r.status().code() == StatusCode::kNotFound);
      } else {
        Device& other = *devices[rng() % 3];
        if (&other != &d) Push(*other.engine, *d.engine, a.space(), 1 + rng() % 20);
      }
    }
    for (int round = 0; round < 2; ++round) {
      for (Device* x : devices) {
        for (Device* y : devices) {
          if (x != y) Push(*x->engine, *y->engine, a.space());
        }
      }
    }
    std::string expected = Snapshot(*a.engine, a.space());
    EXPECT_EQ(Snapshot(*b.engine, a.space()), expected);
    EXPECT_EQ(Snapshot(*c.engine, a.space()), expected);
  }
}

TEST(SyncTest, ATamperedBatchIsRefusedAndNothingIsStored) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  Add(a, "one");
  Add(a, "two");
  std::vector<OpBatch> batches;
  ASSERT_TRUE(a.engine->ReadMissing(a.space(), {}, 100, [&](OpBatch&& batch) {
    batches.push_back(std::move(batch));
    return true;
  }).ok());
  ASSERT_EQ(batches.size(), 1u);
  for (size_t i = 0; i < batches[0].ops[1].size(); i += 7) {
    OpBatch bad = batches[0];
    bad.ops[1][i] ^= 0x01;
    auto r = b.engine->Ingest(bad);
    EXPECT_FALSE(r.ok()) << "flipping byte " << i << " went unnoticed";
  }
  OpBatch bad_sig = batches[0];
  bad_sig.signature[bad_sig.signature.size() - 3] ^= 1;
  EXPECT_EQ(b.engine->Ingest(bad_sig).status().code(), StatusCode::kCorruption);
  EXPECT_EQ((*b.engine->Versions(a.space())).count(a.engine->device().id), 0u);
  EXPECT_TRUE(b.engine->Ingest(batches[0]).ok());  // the genuine batch still lands
}

TEST(SyncTest, ABatchFromADeviceOutsideTheRosterIsRefused) {
  Device a("Alex", 1), b("Alex", 2), stranger("Eve", 3);
  Link(a, b);
  Add(stranger, "hello");
  OpBatch batch;
  ASSERT_TRUE(stranger.engine->ReadMissing(stranger.space(), {}, 100, [&](OpBatch&& x) {
    batch = std::move(x);
    return false;
  }).ok());
  batch.space = a.space();  // pretend it belongs to Alex's space
  EXPECT_EQ(b.engine->Ingest(batch).status().code(), StatusCode::kPermissionDenied);
}

TEST(SyncTest, AForkedLogIsRefusedAndReported) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  Add(a, "shared past");
  SyncBoth(a, b);
  // A copy of A's home writes a different op 2 under A's identity.
  TempDir clone_dir;
  a.engine.reset();
  std::filesystem::copy(a.dir.path(), clone_dir.path(),
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::overwrite_existing);
  {
    auto clone = Engine::Open({.home = clone_dir.path()});
    ASSERT_TRUE(clone.ok());
    ASSERT_TRUE((*clone)->Commit((*clone)->device().personal_space,
                                 {Mutation::Create("journal", {{"text", std::string("clone")}})}).ok());
    Push(**clone, *b.engine, (*clone)->device().personal_space);
  }
  auto reopened = Engine::Open({.home = a.dir.path(), .env = a.env.get()});
  ASSERT_TRUE(reopened.ok());
  a.engine = std::move(*reopened);
  Add(a, "original op 2");
  OpBatch batch;
  ASSERT_TRUE(a.engine->ReadMissing(a.space(), {{a.engine->device().id, 1}}, 100, [&](OpBatch&& x) {
    batch = std::move(x);
    return false;
  }).ok());
  batch.first_seq = 1;  // include op 1 so the overlap reaches the forked op
  std::string op1;
  ASSERT_TRUE(a.engine->ReadMissing(a.space(), {}, 1, [&](OpBatch&& x) {
    op1 = x.ops[0];
    return false;
  }).ok());
  batch.ops.insert(batch.ops.begin(), op1);
  auto r = b.engine->Ingest(batch);
  ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("fork"), std::string::npos) << r.status().message();
}

TEST(SyncTest, APurgeErasesTheCiphertextOnOtherDevicesAsItSyncs) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  std::string id = Add(a, "too much");
  Add(a, "fine");
  SyncBoth(a, b);
  ASSERT_TRUE(a.engine->Commit(a.space(), {Mutation::Purge("journal", id)}).ok());
  SyncBoth(a, b);
  EXPECT_EQ(b.engine->Get(a.space(), "journal", id).status().code(), StatusCode::kNotFound);
  VerifyReport report;
  ASSERT_TRUE(b.engine->Verify(&report).ok());
  EXPECT_EQ(report.purged, 1u);
}

TEST(SyncTest, AGrantOnlyOpensForItsRecipientFromItsGranter) {
  Device a("Alex", 1), b("Alex", 2), eve("Eve", 3);
  auto grant = a.engine->GrantSpace(a.space(), b.engine->card());
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(eve.engine->AcceptSpace(*grant, a.engine->card(), false).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(b.engine->AcceptSpace(*grant, eve.engine->card(), false).status().code(),
            StatusCode::kUnauthenticated);
  std::string bad = *grant;
  bad[bad.size() / 2] ^= 1;
  EXPECT_FALSE(b.engine->AcceptSpace(bad, a.engine->card(), false).ok());
  EXPECT_TRUE(b.engine->AcceptSpace(*grant, a.engine->card(), false).ok());
}

// ---- Batches and segments ---------------------------------------------------

// Commits `n` entries in one call: one group, so one segment of the log.
void AddMany(Device& d, int n, const std::string& text) {
  std::vector<Mutation> batch;
  for (int i = 0; i < n; ++i) {
    batch.push_back(Mutation::Create("journal", {{"text", text + " " + std::to_string(i)}}));
  }
  auto ids = d.engine->Commit(d.space(), batch);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
}

std::vector<std::pair<uint64_t, uint64_t>> Ranges(const std::vector<OpBatch>& batches) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& b : batches) {
    v1::BatchSignature sig;
    EXPECT_TRUE(sig.ParseFromString(b.signature));
    EXPECT_EQ(sig.seq(), b.first_seq + b.ops.size() - 1) << "a batch must end at its signed op";
    out.emplace_back(b.first_seq, b.first_seq + b.ops.size() - 1);
  }
  return out;
}

using RangeList = std::vector<std::pair<uint64_t, uint64_t>>;

TEST(SyncTest, BatchesEndAtSegmentEndsWhateverMaxOps) {
  Device a("Alex", 1);
  // Commits of 3, 1, 4 and 2 entries: segments ending at ops 3, 4, 8 and 10.
  AddMany(a, 3, "one");
  AddMany(a, 1, "two");
  AddMany(a, 4, "three");
  AddMany(a, 2, "four");
  EXPECT_EQ(Ranges(ReadAll(*a.engine, a.space(), {}, 1)), (RangeList{{1, 3}, {4, 4}, {5, 8}, {9, 10}}));
  EXPECT_EQ(Ranges(ReadAll(*a.engine, a.space(), {}, 5)), (RangeList{{1, 4}, {5, 8}, {9, 10}}));
  EXPECT_EQ(Ranges(ReadAll(*a.engine, a.space(), {}, 100)), (RangeList{{1, 10}}));
  // Starting inside a segment sends its tail, signed by its end.
  DeviceId id = a.engine->device().id;
  EXPECT_EQ(Ranges(ReadAll(*a.engine, a.space(), {{id, 6}}, 1)), (RangeList{{7, 8}, {9, 10}}));
  EXPECT_EQ(Ranges(ReadAll(*a.engine, a.space(), {{id, 2}}, 3)), (RangeList{{3, 4}, {5, 8}, {9, 10}}));
  EXPECT_TRUE(ReadAll(*a.engine, a.space(), {{id, 10}}, 1).empty());
}

TEST(SyncTest, IngestAcrossSegmentBoundariesKeepsOnlyNewOpsAndVerifies) {
  Device a("Alex", 1), b("Alex", 2), c("Alex", 3);
  Link(a, b);
  Link(a, c);
  AddMany(a, 3, "one");
  AddMany(a, 1, "two");
  AddMany(a, 4, "three");
  AddMany(a, 2, "four");
  auto small = ReadAll(*a.engine, a.space(), {}, 1);
  ASSERT_EQ(small.size(), 4u);
  EXPECT_EQ(*b.engine->Ingest(small[0]), 3u);
  EXPECT_EQ(*b.engine->Ingest(small[1]), 1u);
  // A batch that overlaps two held segments and brings six new ops.
  auto whole = ReadAll(*a.engine, a.space(), {}, 100);
  ASSERT_EQ(whole.size(), 1u);
  auto added = b.engine->Ingest(whole[0]);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 6u);
  EXPECT_EQ(*b.engine->Ingest(whole[0]), 0u);   // all held now
  EXPECT_EQ(*b.engine->Ingest(small[2]), 0u);
  VerifyReport rb;
  Status s = b.engine->Verify(&rb);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rb.ops, 10u);
  EXPECT_EQ(rb.signatures, 3u);  // b holds A's log as segments ending at 3, 4 and 10
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
  // b serves what it holds in its own segments, with one op per batch asked.
  EXPECT_EQ(Push(*b.engine, *c.engine, a.space(), 1), 10u);
  EXPECT_EQ(Snapshot(*c.engine, a.space()), Snapshot(*a.engine, a.space()));
  VerifyReport rc;
  ASSERT_TRUE(c.engine->Verify(&rc).ok());
  EXPECT_EQ(rc.ops, 10u);
}

TEST(SyncTest, APurgedOpStillSyncsAndVerifiesAfterItsSegmentWasRewritten) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  std::vector<Mutation> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(Mutation::Create("journal", {{"text", "entry " + std::to_string(i)}}));
  }
  auto ids = a.engine->Commit(a.space(), batch);
  ASSERT_TRUE(ids.ok());
  ASSERT_TRUE(a.engine->Commit(a.space(), {Mutation::Purge("journal", (*ids)[2])}).ok());
  // b never saw the op: it receives it already erased, under the old signature.
  EXPECT_EQ(Push(*a.engine, *b.engine, a.space(), 2), 6u);
  VerifyReport report;
  ASSERT_TRUE(b.engine->Verify(&report).ok());
  EXPECT_EQ(report.purged, 1u);
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
}

TEST(SyncTest, RecordsOfIngestedOpsLostInACrashAreRebuiltOnOpen) {
  Device a("Alex", 1), b("Alex", 2);
  Link(a, b);
  AddMany(a, 40, "from a");
  AddMany(b, 3, "from b");
  SyncBoth(a, b);
  std::string expected = Snapshot(*b.engine, a.space());
  TempDir crashed;
  std::filesystem::copy(b.dir.path(), crashed.path(),
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::overwrite_existing);
  auto reopened = Engine::Open({.home = crashed.path(), .env = b.env.get()});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(Snapshot(**reopened, a.space()), expected);
  VerifyReport report;
  ASSERT_TRUE((*reopened)->Verify(&report).ok());
  EXPECT_EQ(report.records, 43u);
}

}  // namespace
}  // namespace kindred
