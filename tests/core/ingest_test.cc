// Ingest of batches large enough to be checked on both cores (the engine
// splits parsing, hashing and decryption across its leader and worker
// threads from 64 ops on): whatever is altered, and wherever in the batch,
// nothing is stored; consecutive runs of one log ingest as one batch under
// the last run's signature (as the sync receiver merges them); ops under a
// key not held yet wait, also in large batches; batches handed in as the
// one before is being written (as a sync does) build on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "kindred/engine.h"
#include "kindred/v1/store.pb.h"
#include "tests/testing/engine_fixture.h"

namespace kindred {
namespace {

using Device = testing::TestDevice;
using testing::Admit;
using testing::Link;
using testing::Push;
using testing::ReadAll;
using testing::Snapshot;
using testing::TempDir;

void AddMany(Engine& e, const SpaceId& space, int n, const std::string& text) {
  std::vector<Mutation> batch;
  for (int i = 0; i < n; ++i) {
    batch.push_back(Mutation::Create(
        "journal", {{"text", text + " " + std::to_string(i)}, {"mood", int64_t{i % 5}}}));
  }
  auto ids = e.Commit(space, batch);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
}

// Runs of one log, one after the other, as one batch under the last signature.
OpBatch Concatenate(const std::vector<OpBatch>& runs) {
  OpBatch out = runs.front();
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].first_seq, out.first_seq + out.ops.size());
    out.ops.insert(out.ops.end(), runs[i].ops.begin(), runs[i].ops.end());
    out.signature = runs[i].signature;
  }
  return out;
}

uint64_t HeldOf(Engine& e, const SpaceId& space, const DeviceId& device) {
  auto vv = e.Versions(space);
  EXPECT_TRUE(vv.ok());
  auto it = vv->find(device);
  return it == vv->end() ? 0 : it->second;
}

TEST(IngestTest, LargeBatchesAreCheckedOnBothCoresAndConverge) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  AddMany(*a.engine, a.space(), 700, "first");
  AddMany(*a.engine, a.space(), 300, "second");
  for (const OpBatch& batch : ReadAll(*a.engine, a.space(), {}, 5000)) {
    auto added = b.engine->Ingest(batch);
    ASSERT_TRUE(added.ok()) << added.status().ToString();
  }
  EXPECT_EQ(HeldOf(*b.engine, a.space(), a.id()), 1000u);
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
  VerifyReport report;
  ASSERT_TRUE(b.engine->Verify(&report).ok());
  EXPECT_EQ(report.ops, 1000u);
  EXPECT_EQ(report.decrypted, 1000u);
  // What b stores, it serves: a third device gets the same.
  Device c("Alex", 3, "tablet");
  Link(a, c);
  for (const OpBatch& batch : ReadAll(*b.engine, a.space(), {}, 256)) {
    ASSERT_TRUE(c.engine->Ingest(batch).ok());
  }
  EXPECT_EQ(Snapshot(*c.engine, a.space()), Snapshot(*a.engine, a.space()));
}

TEST(IngestTest, EditsThatArriveBeforeTheirRecordsCreationsStayMerged) {
  // A creation looks its record up only when one can be stored already
  // (ids derive from the creating op and sort by it). Here they can: c
  // gets b's edits of a's records before a's creations of them.
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone"), c("Alex", 3, "tablet");
  Link(a, b);
  Link(a, c);
  std::vector<Mutation> creates;
  for (int i = 0; i < 300; ++i) {
    creates.push_back(Mutation::Create(
        "journal", {{"text", "entry " + std::to_string(i)}, {"mood", int64_t{i % 5}}}));
  }
  auto ids = a.engine->Commit(a.space(), creates);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_TRUE(Push(*a.engine, *b.engine, a.space()).ok());
  // Records created early and late in a's run, one created by b after it.
  auto edited = b.engine->Commit(
      a.space(), {Mutation::Update("journal", (*ids)[40], {{"text", "edited on the phone"}}),
                  Mutation::Update("journal", (*ids)[250], {{"text", "edited too"}}),
                  Mutation::Create("journal", {{"text", "new on the phone"}})});
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  auto from_b = Push(*b.engine, *c.engine, a.space(), 1000, b.id());
  ASSERT_TRUE(from_b.ok()) << from_b.status().ToString();
  EXPECT_EQ(*from_b, 3u);
  // a's log in one batch (checked on both cores) and, on a fourth device,
  // in small ones.
  auto from_a = Push(*a.engine, *c.engine, a.space(), 1000);
  ASSERT_TRUE(from_a.ok()) << from_a.status().ToString();
  const std::string expected = Snapshot(*b.engine, a.space());
  EXPECT_NE(expected.find((*ids)[40] + "=edited on the phone/"), std::string::npos);
  EXPECT_NE(expected.find((*ids)[250] + "=edited too/"), std::string::npos);
  EXPECT_EQ(Snapshot(*c.engine, a.space()), expected);
  Device d("Alex", 4, "watch");
  Link(a, d);
  ASSERT_TRUE(Push(*b.engine, *d.engine, a.space(), 1000, b.id()).ok());
  ASSERT_TRUE(Push(*a.engine, *d.engine, a.space(), 7).ok());
  EXPECT_EQ(Snapshot(*d.engine, a.space()), expected);
  // And once reopened (the records as stored, not as a group held them).
  c.Reopen();
  EXPECT_EQ(Snapshot(*c.engine, a.space()), expected);
}

TEST(IngestTest, AnAlteredOpAnywhereInALargeBatchIsRefusedAndNothingIsStored) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  AddMany(*a.engine, a.space(), 300, "entry");
  auto batches = ReadAll(*a.engine, a.space(), {}, 1000);
  ASSERT_EQ(batches.size(), 1u);
  const OpBatch& genuine = batches[0];
  ASSERT_EQ(genuine.ops.size(), 300u);
  for (size_t op : {size_t{0}, size_t{1}, size_t{97}, size_t{150}, size_t{298}, size_t{299}}) {
    for (size_t i = 0; i < genuine.ops[op].size(); i += 11) {
      OpBatch bad = genuine;
      bad.ops[op][i] ^= 0x01;
      auto r = b.engine->Ingest(bad);
      EXPECT_FALSE(r.ok()) << "flipping byte " << i << " of op " << op << " went unnoticed";
    }
  }
  // Ops swapped, dropped or duplicated break the chain.
  OpBatch swapped = genuine;
  std::swap(swapped.ops[120], swapped.ops[121]);
  EXPECT_EQ(b.engine->Ingest(swapped).status().code(), StatusCode::kCorruption);
  OpBatch dropped = genuine;
  dropped.ops.erase(dropped.ops.begin() + 200);
  EXPECT_FALSE(b.engine->Ingest(dropped).ok());
  OpBatch bad_sig = genuine;
  bad_sig.signature[bad_sig.signature.size() - 3] ^= 1;
  EXPECT_EQ(b.engine->Ingest(bad_sig).status().code(), StatusCode::kCorruption);
  // A ciphertext replaced along with its payload hash (so the op hashes
  // differently) breaks the chain; one replaced alone fails its payload hash.
  OpBatch bad_ct = genuine;
  {
    v1::OpEnvelope op;
    ASSERT_TRUE(op.ParseFromString(bad_ct.ops[150]));
    std::string ct = op.ciphertext();
    ct[ct.size() / 2] ^= 0x40;
    op.set_ciphertext(ct);
    bad_ct.ops[150] = op.SerializeAsString();
  }
  auto refused = b.engine->Ingest(bad_ct);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("op 151"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(HeldOf(*b.engine, a.space(), a.id()), 0u);
  EXPECT_EQ(Snapshot(*b.engine, a.space()), "");
  auto added = b.engine->Ingest(genuine);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 300u);
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
}

TEST(IngestTest, ConsecutiveRunsIngestAsOneBatchUnderTheLastSignature) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone"), c("Alex", 3, "tablet");
  Link(a, b);
  Link(a, c);
  AddMany(*a.engine, a.space(), 200, "one");
  AddMany(*a.engine, a.space(), 150, "two");
  AddMany(*a.engine, a.space(), 250, "three");
  auto runs = ReadAll(*a.engine, a.space(), {}, 200);
  ASSERT_EQ(runs.size(), 3u);
  // An altered op in the first run: the whole merged batch is refused.
  OpBatch bad = Concatenate(runs);
  bad.ops[10][bad.ops[10].size() / 2] ^= 0x20;
  EXPECT_FALSE(b.engine->Ingest(bad).ok());
  EXPECT_EQ(HeldOf(*b.engine, a.space(), a.id()), 0u);
  // The first run's signature does not cover the later runs.
  OpBatch wrong_sig = Concatenate(runs);
  wrong_sig.signature = runs[0].signature;
  EXPECT_EQ(b.engine->Ingest(wrong_sig).status().code(), StatusCode::kCorruption);
  auto added = b.engine->Ingest(Concatenate(runs));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 600u);
  VerifyReport report;
  ASSERT_TRUE(b.engine->Verify(&report).ok());
  EXPECT_EQ(report.ops, 600u);
  EXPECT_EQ(report.signatures, 1u);  // one segment, signed over op 600
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
  // Overlapping what is held: only the new ops count.
  ASSERT_TRUE(c.engine->Ingest(runs[0]).ok());
  auto rest = c.engine->Ingest(Concatenate(runs));
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(*rest, 400u);
  EXPECT_EQ(Snapshot(*c.engine, a.space()), Snapshot(*a.engine, a.space()));
}

TEST(IngestTest, ALargeBatchUnderAKeyNotHeldYetIsStoredAndMergedOnceTheKeyArrives) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), tablet("Alex", 3, "tablet");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, tablet, PairingKind::kOwnDevice);
  // Revoking the phone moves the space to a new epoch key, which reaches the
  // tablet as ops of the laptop's log.
  Status revoked = alex.engine->RevokeDevice(phone.id());
  ASSERT_TRUE(revoked.ok()) << revoked.ToString();
  AddMany(*alex.engine, alex.space(), 400, "under the new key");
  auto batches = ReadAll(*alex.engine, alex.space(), {}, 100000);
  ASSERT_EQ(batches.size(), 1u);
  // The tablet holds only the first key when the batch is checked: the new
  // key travels in the same batch, so the 400 entries are checked against
  // their payload hashes only, stored, and merged once the batch's control
  // records have given the tablet the key (before Ingest returns).
  auto added = tablet.engine->Ingest(batches[0]);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(Snapshot(*tablet.engine, alex.space()), Snapshot(*alex.engine, alex.space()));
  VerifyReport report;
  ASSERT_TRUE(tablet.engine->Verify(&report).ok());
  EXPECT_EQ(report.pending, 0u);
}

// Ingests `batches` into `to` as a sync does: each on its own thread,
// handed in as soon as the engine has built the one before (on_built), so
// that it is checked while that one is written. One result per batch.
std::vector<Result<uint64_t>> IngestPipelined(Engine& to, const std::vector<OpBatch>& batches) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> built(batches.size(), false);
  std::vector<Result<uint64_t>> results(batches.size(), Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < batches.size(); ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return i == 0 || built[i - 1]; });
      }
      results[i] = to.Ingest(batches[i], [&, i] {
        std::lock_guard<std::mutex> lock(mu);
        built[i] = true;
        cv.notify_all();
      });
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_TRUE(built[i]) << "on_built was not called for batch " << i;
    });
  }
  for (auto& t : threads) t.join();
  return results;
}

// Record ids whose list field "tags" holds `tag` (served from the index).
std::vector<std::string> Tagged(Engine& e, const SpaceId& space, const std::string& tag) {
  std::vector<std::string> ids;
  Status s = e.ScanByListItem(space, "journal", "tags", tag, [&](const Record& r) {
    ids.push_back(r.id);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(IngestTest, BatchesHandedInWhileTheOneBeforeIsWrittenBuildOnIt) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  // Entries created, then edited (their text and tags change, so the index
  // changes too) or deleted, in commits of 80 (groups of fewer than 64 ops
  // are not overlapped): each batch of edits reaches records that the batch
  // before, possibly still being written, created.
  constexpr int kPer = 80, kRounds = 8;
  for (int c = 0; c < kRounds; ++c) {
    std::vector<Mutation> creates;
    for (int i = c * kPer; i < (c + 1) * kPer; ++i) {
      creates.push_back(Mutation::Create(
          "journal", {{"text", "entry " + std::to_string(i)},
                      {"tags", std::vector<std::string>{"first", "t" + std::to_string(i % 3)}}}));
    }
    auto ids = a.engine->Commit(a.space(), creates);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    std::vector<Mutation> edits;
    for (size_t i = 0; i < ids->size(); ++i) {
      if (i % 4 == 3) {
        edits.push_back(Mutation::Delete("journal", (*ids)[i]));
      } else {
        edits.push_back(Mutation::Update(
            "journal", (*ids)[i],
            {{"text", "edited " + std::to_string(i)},
             {"tags", std::vector<std::string>{"edited", "t" + std::to_string(i % 3)}}}));
      }
    }
    ASSERT_TRUE(a.engine->Commit(a.space(), edits).ok());
  }
  // One batch per commit, and one that overlaps the second and the third.
  std::vector<OpBatch> batches = ReadAll(*a.engine, a.space(), {}, kPer);
  ASSERT_EQ(batches.size(), 2u * kRounds);
  std::vector<OpBatch> overlapping = ReadAll(*a.engine, a.space(), {{a.id(), kPer}}, 2 * kPer);
  ASSERT_EQ(overlapping.front().first_seq, kPer + 1u);
  ASSERT_GT(overlapping.front().ops.size(), size_t{kPer});
  batches.insert(batches.begin() + 2, overlapping.front());

  auto results = IngestPipelined(*b.engine, batches);
  uint64_t added = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    added += *r;
  }
  EXPECT_EQ(added, 2u * kPer * kRounds);
  EXPECT_EQ(HeldOf(*b.engine, a.space(), a.id()), 2u * kPer * kRounds);
  auto same_as_a = [&] {
    EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
    for (const char* tag : {"first", "edited", "t0", "t1", "t2"}) {
      EXPECT_EQ(Tagged(*b.engine, a.space(), tag), Tagged(*a.engine, a.space(), tag)) << tag;
    }
    VerifyReport report;
    ASSERT_TRUE(b.engine->Verify(&report).ok());
    EXPECT_EQ(report.ops, 2u * kPer * kRounds);
    EXPECT_EQ(report.pending, 0u);
  };
  same_as_a();
  EXPECT_TRUE(Tagged(*b.engine, a.space(), "first").empty());
  EXPECT_EQ(Tagged(*b.engine, a.space(), "edited").size(), 3u * kPer / 4 * kRounds);
  // What the later batches wrote on top of the earlier ones is what is stored.
  b.Reopen();
  same_as_a();
}

TEST(IngestTest, AForkIsRefusedWhenTheOpsItContradictsAreStillBeingWritten) {
  Device a("Alex", 1, "laptop"), b("Alex", 2, "phone");
  Link(a, b);
  AddMany(*a.engine, a.space(), 100, "shared");
  // A copy of A's home goes on under A's identity with different ops.
  TempDir clone_dir;
  a.engine.reset();
  std::filesystem::copy(
      a.dir.path(), clone_dir.path(),
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  std::vector<OpBatch> forked;
  {
    auto clone = Engine::Open({.home = clone_dir.path()});
    ASSERT_TRUE(clone.ok()) << clone.status().ToString();
    AddMany(**clone, (*clone)->device().personal_space, 500, "the clone's");
    forked =
        ReadAll(**clone, (*clone)->device().personal_space, {{(*clone)->device().id, 100}}, 100000);
  }
  a.Reopen();
  AddMany(*a.engine, a.space(), 3000, "the original's");
  std::vector<OpBatch> batches = ReadAll(*a.engine, a.space(), {}, 100000);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(forked.size(), 1u);
  batches.push_back(forked.front());

  auto results = IngestPipelined(*b.engine, batches);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  ASSERT_EQ(results[1].status().code(), StatusCode::kCorruption);
  EXPECT_NE(results[1].status().message().find("fork"), std::string::npos)
      << results[1].status().message();
  EXPECT_EQ(HeldOf(*b.engine, a.space(), a.id()), 3100u);
  EXPECT_EQ(Snapshot(*b.engine, a.space()), Snapshot(*a.engine, a.space()));
}

TEST(IngestTest, ARevocationTakesEffectBeforeTheBatchHandedInAfterItIsChecked) {
  Device alex("Alex", 1, "laptop"), phone("Alex", 2, "phone"), tablet("Alex", 3, "tablet");
  Admit(alex, phone, PairingKind::kOwnDevice);
  Admit(alex, tablet, PairingKind::kOwnDevice);
  const SpaceId space = alex.space();
  for (Device* d : {&phone, &tablet}) {
    ASSERT_TRUE(Push(*alex.engine, *d->engine, space).ok());
    ASSERT_TRUE(Push(*d->engine, *alex.engine, space).ok());
  }
  ASSERT_TRUE(Push(*alex.engine, *tablet.engine, space).ok());
  // The laptop revokes the phone, which, not knowing yet, writes on.
  ASSERT_TRUE(alex.engine->RevokeDevice(phone.id()).ok());
  AddMany(*phone.engine, space, 100, "after the loss");
  auto tablet_has = tablet.engine->Versions(space);
  ASSERT_TRUE(tablet_has.ok());
  std::vector<OpBatch> batches = ReadAll(*alex.engine, space, *tablet_has, 100000);
  ASSERT_EQ(batches.size(), 1u);
  std::vector<OpBatch> from_phone = ReadAll(*phone.engine, space, *tablet_has, 100000);
  ASSERT_EQ(from_phone.size(), 1u);
  ASSERT_EQ(from_phone[0].device, phone.id());
  batches.push_back(from_phone[0]);
  // The phone's batch is handed in as soon as the engine allows: only once
  // the revocation has taken effect.
  auto results = IngestPipelined(*tablet.engine, batches);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[1].status().code(), StatusCode::kPermissionDenied)
      << results[1].status().ToString();
  EXPECT_EQ(HeldOf(*tablet.engine, space, phone.id()), HeldOf(*alex.engine, space, phone.id()));
}

}  // namespace
}  // namespace kindred
