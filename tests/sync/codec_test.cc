// The compact wire form of op batches rebuilds the exact envelopes, and
// malformed or oversized messages are refused before or while parsing.
#include "engine/sync/codec.h"

#include <gtest/gtest.h>

#include "engine/crypto/crypto.h"
#include "engine/log/oplog.h"
#include "kindred/v1/store.pb.h"
#include "tests/sync/sync_test_util.h"

namespace kindred::sync {
namespace {

using testing::Device;

std::vector<OpBatch> AllBatches(Engine& engine, const SpaceId& space, size_t max_ops = 1000) {
  std::vector<OpBatch> out;
  Status s = engine.ReadMissing(space, {}, max_ops, [&](OpBatch&& b) {
    out.push_back(std::move(b));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// A rebuilt run's decoded ops as the envelopes the engine reads them from
// (ReadMissing's form, every op with its prev_hash): a decoded op after the
// first leaves its prev_hash out, and the derived hash before it gives it.
std::vector<std::string> Encoded(const OpBatch& run) {
  EXPECT_TRUE(run.ops.empty());
  EXPECT_EQ(run.derived_hashes.size(), run.decoded.size());
  std::vector<std::string> out;
  for (size_t k = 0; k < run.decoded.size(); ++k) {
    v1::OpEnvelope op = *run.decoded[k];
    if (k > 0) {
      EXPECT_TRUE(op.prev_hash().empty()) << "op " << k;
      op.set_prev_hash(run.derived_hashes[k - 1]);
    }
    out.push_back(op.SerializeAsString());
  }
  return out;
}

// Rebuilds every run from its encoded parts.
std::vector<OpBatch> RoundTrip(const std::vector<OpBatch>& batches, size_t max_ops,
                               size_t* wire_bytes = nullptr) {
  std::vector<OpBatch> out;
  RunBuilder builder;
  KnownHeads sender_view;    // what the sender knows the receiver holds
  KnownHeads receiver_view;  // the same, as the receiver keeps it
  for (const OpBatch& batch : batches) {
    std::vector<EncodedPart> parts;
    EXPECT_TRUE(EncodeBatch(batch, max_ops, 1 << 20, &sender_view, &parts).ok());
    for (const EncodedPart& part : parts) {
      if (wire_bytes) *wire_bytes += part.bytes.size();
      auto message = ParseMessage(part.bytes);
      EXPECT_TRUE(message.ok()) << message.status().ToString();
      EXPECT_TRUE(message->batch().prev_hash().empty()) << "the receiver knows it";
      auto complete = builder.Add(message->batch(), receiver_view);
      EXPECT_TRUE(complete.ok()) << complete.status().ToString();
      EXPECT_EQ(*complete, part.completes_run);
      if (*complete) {
        SignedRun run = builder.Take();
        receiver_view.last_run = LogHead{run.batch.first_seq + run.batch.size() - 1, run.head_hash};
        EXPECT_EQ(receiver_view.last_run.seq, sender_view.last_run.seq);
        EXPECT_EQ(receiver_view.last_run.hash, sender_view.last_run.hash);
        out.push_back(std::move(run.batch));
      }
    }
  }
  return out;
}

TEST(SyncCodecTest, TheCompactFormRebuildsTheExactEnvelopesAndSignature) {
  Device a("Alex", 1);
  a.AddMany(30, 7);
  a.env->fake_clock().Advance(5'000'000);
  a.AddMany(5, 5, "later");
  const auto batches = AllBatches(*a.engine, a.space());
  for (size_t max_ops : {1u, 3u, 1000u}) {
    SCOPED_TRACE("max_ops " + std::to_string(max_ops));
    const auto rebuilt = RoundTrip(batches, max_ops);
    ASSERT_EQ(rebuilt.size(), batches.size());
    for (size_t i = 0; i < batches.size(); ++i) {
      EXPECT_EQ(rebuilt[i].space, batches[i].space);
      EXPECT_EQ(rebuilt[i].device, batches[i].device);
      EXPECT_EQ(rebuilt[i].first_seq, batches[i].first_seq);
      const std::vector<std::string> ops = Encoded(rebuilt[i]);
      EXPECT_EQ(ops, batches[i].ops);
      EXPECT_EQ(rebuilt[i].signature, batches[i].signature);
      // The hashes handed to Ingest are those of the rebuilt ops.
      ASSERT_EQ(rebuilt[i].derived_hashes.size(), ops.size());
      for (size_t k = 0; k < ops.size(); ++k) {
        v1::OpEnvelope op;
        ASSERT_TRUE(op.ParseFromString(ops[k]));
        EXPECT_EQ(op.payload_hash(), crypto::Hash(op.ciphertext()));
        EXPECT_EQ(rebuilt[i].derived_hashes[k],
                  kindred::log::OpHash(rebuilt[i].space, rebuilt[i].device,
                                       rebuilt[i].first_seq + k, op));
      }
    }
  }
}

std::vector<OpBatch> Read(Engine& engine, const SpaceId& space, const VersionVector& theirs,
                          bool to_send) {
  std::vector<OpBatch> out;
  auto keep = [&](OpBatch&& b) {
    out.push_back(std::move(b));
    return true;
  };
  Status s = to_send ? engine.ReadMissingToSend(space, theirs, 10, keep)
                     : engine.ReadMissing(space, theirs, 10, keep);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(SyncCodecTest, OpsReadToSendEncodeToTheSameMessagesWithoutBeingHashedHere) {
  Device a("Alex", 1);
  a.AddMany(30, 7);  // segments of 7 ops (one per commit)
  // From the start, from a segment's start, and from inside a segment (the
  // first op's link is then the hash of the op before it).
  for (uint64_t held : {0u, 7u, 10u}) {
    SCOPED_TRACE("the receiver holds " + std::to_string(held));
    VersionVector theirs;
    if (held > 0) theirs[a.id()] = held;
    const auto linked = Read(*a.engine, a.space(), theirs, /*to_send=*/false);
    const auto to_send = Read(*a.engine, a.space(), theirs, /*to_send=*/true);
    ASSERT_EQ(to_send.size(), linked.size());
    ASSERT_GT(linked.size(), 1u);
    KnownHeads view_linked, view_to_send;
    for (size_t b = 0; b < linked.size(); ++b) {
      ASSERT_EQ(to_send[b].first_seq, linked[b].first_seq);
      ASSERT_EQ(to_send[b].ops.size(), linked[b].ops.size());
      EXPECT_EQ(to_send[b].signature, linked[b].signature);
      // The first op carries its link; the others are as stored.
      EXPECT_EQ(to_send[b].ops[0], linked[b].ops[0]);
      for (size_t k = 1; k < to_send[b].ops.size(); ++k) {
        v1::OpEnvelope op;
        ASSERT_TRUE(op.ParseFromString(to_send[b].ops[k]));
        EXPECT_TRUE(op.prev_hash().empty());
      }
      std::vector<EncodedPart> from_linked, from_to_send;
      ASSERT_TRUE(EncodeBatch(linked[b], 1000, 1 << 20, &view_linked, &from_linked).ok());
      ASSERT_TRUE(EncodeBatch(to_send[b], 1000, 1 << 20, &view_to_send, &from_to_send).ok());
      ASSERT_EQ(from_to_send.size(), from_linked.size());
      for (size_t p = 0; p < from_linked.size(); ++p) {
        EXPECT_EQ(from_to_send[p].bytes, from_linked[p].bytes);
      }
    }
  }
}

size_t CountEntries(Engine& engine, const SpaceId& space) {
  size_t n = 0;
  EXPECT_TRUE(engine
                  .Scan(space, "journal",
                        [&](const Record&) {
                          ++n;
                          return true;
                        })
                  .ok());
  return n;
}

TEST(SyncCodecTest, IngestTakesTheDerivedHashesAndStillChecksTheTagsAndSignature) {
  Device a("Alex", 1);
  Device b("Alex", 2);
  a.AddMany(8, 8);
  testing::Link(a, b);
  const auto batches = AllBatches(*a.engine, a.space());
  ASSERT_EQ(batches.size(), 1u);
  std::vector<EncodedPart> parts;
  KnownHeads sender;
  ASSERT_TRUE(EncodeBatch(batches[0], 1000, 1 << 20, &sender, &parts).ok());
  ASSERT_EQ(parts.size(), 1u);
  auto rebuild = [](v1::SyncBatch part) {
    RunBuilder builder;
    auto complete = builder.Add(part, KnownHeads{});
    EXPECT_TRUE(complete.ok() && *complete);
    return builder.Take().batch;
  };
  // A ciphertext byte flipped on the wire: the receiver derives the payload
  // hash and the op hashes from the flipped bytes, so the AEAD tag and the
  // signature over the chain must catch it.
  v1::SyncBatch part = ParseMessage(parts[0].bytes)->batch();
  part.mutable_ops(3)->mutable_ciphertext()->at(5) ^= 1;
  EXPECT_EQ(b.engine->Ingest(rebuild(part)).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(CountEntries(*b.engine, a.space()), 0u) << "nothing of a refused batch is kept";
  // The genuine run goes in whole.
  auto added = b.engine->Ingest(rebuild(ParseMessage(parts[0].bytes)->batch()));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(CountEntries(*b.engine, a.space()), 8u);
}

TEST(SyncCodecTest, DecodedOpsAreCheckedLikeEncodedOnes) {
  Device a("Alex", 1);
  Device b("Alex", 2);
  a.AddMany(6, 3);  // two segments: two runs
  testing::Link(a, b);
  const auto batches = AllBatches(*a.engine, a.space(), 3);
  ASSERT_EQ(batches.size(), 2u);
  const auto runs = RoundTrip(batches, 1000);
  ASSERT_EQ(runs.size(), 2u);
  // Every op after a run's first leaves out its prev_hash; the first keeps it.
  ASSERT_FALSE(runs[1].decoded[0]->prev_hash().empty());
  ASSERT_TRUE(runs[1].decoded[1]->prev_hash().empty());

  // Two runs in one batch, as the session merges them: the second run's
  // first op names the hash it follows, and that link is checked.
  auto merged = [&](const v1::OpEnvelope* junction) {
    OpBatch m = runs[0];
    m.decoded.push_back(junction);
    m.decoded.insert(m.decoded.end(), runs[1].decoded.begin() + 1, runs[1].decoded.end());
    m.derived_hashes.insert(m.derived_hashes.end(), runs[1].derived_hashes.begin(),
                            runs[1].derived_hashes.end());
    m.decoded_owners.insert(m.decoded_owners.end(), runs[1].decoded_owners.begin(),
                            runs[1].decoded_owners.end());
    m.signature = runs[1].signature;
    return m;
  };
  v1::OpEnvelope forged = *runs[1].decoded[0];
  forged.set_prev_hash(std::string(32, 'x'));
  Result<uint64_t> refused = b.engine->Ingest(merged(&forged));
  ASSERT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("the chain is broken"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(CountEntries(*b.engine, a.space()), 0u);

  // Decoded ops come with their derived hashes, and without encoded ones.
  OpBatch unhashed = runs[0];
  unhashed.derived_hashes.clear();
  EXPECT_EQ(b.engine->Ingest(unhashed).status().code(), StatusCode::kInvalidArgument);
  OpBatch both = runs[0];
  both.ops = batches[0].ops;
  EXPECT_EQ(b.engine->Ingest(both).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CountEntries(*b.engine, a.space()), 0u);

  // The genuine merged batch goes in whole, and the stored log is the
  // sender's, byte for byte (no prev_hash is stored with any op).
  auto added = b.engine->Ingest(merged(runs[1].decoded[0]));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 6u);
  EXPECT_EQ(CountEntries(*b.engine, a.space()), 6u);
  const auto stored = AllBatches(*b.engine, a.space(), 3);
  ASSERT_EQ(stored.size(), 1u);  // the two runs were stored as one segment
  std::vector<std::string> sent = batches[0].ops;
  sent.insert(sent.end(), batches[1].ops.begin(), batches[1].ops.end());
  EXPECT_EQ(stored[0].ops, sent);
  EXPECT_EQ(stored[0].signature, batches[1].signature);
  VerifyReport report;
  ASSERT_TRUE(b.engine->Verify(&report).ok());
}

TEST(SyncCodecTest, RebuildingFromAPartItMayTakeFromMovesTheCiphertexts) {
  Device a("Alex", 1);
  a.AddMany(5, 5);
  const auto batches = AllBatches(*a.engine, a.space());
  std::vector<EncodedPart> parts;
  KnownHeads sender;
  ASSERT_TRUE(EncodeBatch(batches[0], 1000, 1 << 20, &sender, &parts).ok());
  v1::SyncBatch part = ParseMessage(parts[0].bytes)->batch();
  RunBuilder copying, moving;
  ASSERT_TRUE(*copying.Add(part, KnownHeads{}));
  ASSERT_TRUE(*moving.Add(std::move(part), KnownHeads{}));
  const OpBatch copied = copying.Take().batch;
  const OpBatch moved = moving.Take().batch;
  EXPECT_EQ(Encoded(moved), Encoded(copied));
  EXPECT_EQ(Encoded(moved), batches[0].ops);
  EXPECT_EQ(moved.derived_hashes, copied.derived_hashes);
  for (const auto& op : part.ops()) EXPECT_TRUE(op.ciphertext().empty());  // taken
}

TEST(SyncCodecTest, TheWireFormLeavesOutWhatTheReceiverCanDerive) {
  Device a("Alex", 1);
  a.AddMany(200, 100);
  const auto batches = AllBatches(*a.engine, a.space());
  size_t envelope_bytes = 0, ciphertext_bytes = 0, wire_bytes = 0;
  for (const OpBatch& b : batches) {
    for (const std::string& op : b.ops) {
      envelope_bytes += op.size();
      v1::OpEnvelope envelope;
      ASSERT_TRUE(envelope.ParseFromString(op));
      ciphertext_bytes += envelope.ciphertext().size();
    }
  }
  RoundTrip(batches, 1000, &wire_bytes);
  // Per op: the ciphertext and a few bytes (hlc delta, tags); no hashes, no salt.
  EXPECT_LT(wire_bytes, ciphertext_bytes + 200 * 8 + 2 * 200);
  EXPECT_LT(wire_bytes * 2, envelope_bytes + ciphertext_bytes);
}

TEST(SyncCodecTest, PrevHashIsSentOnlyWhenTheReceiverDoesNotKnowIt) {
  Device a("Alex", 1);
  a.AddMany(4, 2);
  const auto batches = AllBatches(*a.engine, a.space(), 2);
  ASSERT_EQ(batches.size(), 2u);
  v1::OpEnvelope first_of_second;
  ASSERT_TRUE(first_of_second.ParseFromString(batches[1].ops[0]));
  auto encode = [&](KnownHeads known) {
    std::vector<EncodedPart> parts;
    Status s = EncodeBatch(batches[1], 1000, 1 << 20, &known, &parts);
    return std::make_pair(s, parts);
  };
  const LogHead op2{2, first_of_second.prev_hash()};
  // Unknown to the receiver: sent.
  auto [s1, p1] = encode(KnownHeads{});
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(ParseMessage(p1[0].bytes)->batch().prev_hash(), first_of_second.prev_hash());
  // The receiver listed op 2 with that hash, or it was the end of the last
  // run sent to it: left out, and the receiver rebuilds it.
  for (const KnownHeads& known : {KnownHeads{op2, {}}, KnownHeads{{}, op2}}) {
    auto [s2, p2] = encode(known);
    ASSERT_TRUE(s2.ok());
    EXPECT_TRUE(ParseMessage(p2[0].bytes)->batch().prev_hash().empty());
    RunBuilder builder;
    ASSERT_TRUE(*builder.Add(ParseMessage(p2[0].bytes)->batch(), known));
    EXPECT_EQ(Encoded(builder.Take().batch), batches[1].ops);
    // A receiver that does not know op 2 refuses a part without prev_hash.
    EXPECT_FALSE(RunBuilder().Add(ParseMessage(p2[0].bytes)->batch(), KnownHeads{}).ok());
  }
  // The receiver listed another op 2: a fork, found before anything is sent.
  auto [s3, p3] = encode(KnownHeads{LogHead{2, std::string(32, 'f')}, {}});
  EXPECT_EQ(s3.code(), StatusCode::kCorruption);
  EXPECT_EQ(s3.message().rfind("fork", 0), 0u) << s3.message();
}

TEST(SyncCodecTest, MarkDoneMarksAnEncodedBatch) {
  Device a("Alex", 1);
  a.AddMany(2, 2);
  const auto batches = AllBatches(*a.engine, a.space());
  std::vector<EncodedPart> parts;
  KnownHeads receiver;
  ASSERT_TRUE(EncodeBatch(batches[0], 1000, 1 << 20, &receiver, &parts).ok());
  MarkDone(&parts[0]);
  auto message = ParseMessage(parts[0].bytes);
  ASSERT_TRUE(message.ok()) << message.status().ToString();
  EXPECT_TRUE(message->batch().done());
  EXPECT_EQ(message->batch().ops_size(), 2);
}

TEST(SyncCodecTest, APurgedOpCarriesItsPayloadHash) {
  Device a("Alex", 1);
  std::string id = a.Add("too much");
  ASSERT_TRUE(a.engine->Commit(a.space(), {Mutation::Purge("journal", id)}).ok());
  const auto batches = AllBatches(*a.engine, a.space());
  std::vector<EncodedPart> parts;
  KnownHeads receiver;
  ASSERT_TRUE(EncodeBatch(batches[0], 1000, 1 << 20, &receiver, &parts).ok());
  auto message = ParseMessage(parts[0].bytes);
  ASSERT_TRUE(message.ok());
  EXPECT_TRUE(message->batch().ops(0).purged());
  EXPECT_TRUE(message->batch().ops(0).has_payload_hash());
  EXPECT_FALSE(message->batch().ops(1).has_payload_hash());
  const auto rebuilt = RoundTrip(batches, 1000);
  ASSERT_EQ(rebuilt.size(), batches.size());
  EXPECT_EQ(Encoded(rebuilt[0]), batches[0].ops);
}

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

// A length-delimited field.
std::string Field(uint32_t number, const std::string& body) {
  return Varint((number << 3) | 2) + Varint(body.size()) + body;
}

TEST(SyncCodecTest, MessagesOverTheLimitOfTheirTypeAreRefusedBeforeParsing) {
  // An acknowledgement padded with an unknown field to 2000 bytes.
  const std::string ack = Field(3, Varint(1 << 3) + Varint(5) + Field(15, std::string(1990, 'x')));
  auto parsed = ParseMessage(ack);
  ASSERT_EQ(parsed.status().code(), StatusCode::kCorruption);
  EXPECT_NE(parsed.status().message().find("SyncAck message of"), std::string::npos)
      << parsed.status().message();
  EXPECT_NE(parsed.status().message().find("over its limit of 1024"), std::string::npos);

  const std::string hello = Field(1, std::string(kMaxHelloBytes, 'x'));
  EXPECT_NE(ParseMessage(hello).status().message().find("Hello message of"), std::string::npos);
  EXPECT_EQ(ParseMessage(std::string(kMaxMessageBytes + 1, '\x12')).status().code(),
            StatusCode::kCorruption);
}

TEST(SyncCodecTest, MalformedMessagesAreRefused) {
  for (const std::string& bad : {std::string(), std::string("\xff\xff\xff garbage"),
                                 std::string("\x08\x01"),  // field 1 as a varint
                                 std::string("\x00", 1), Field(2, "\xff\xff")}) {
    EXPECT_EQ(ParseMessage(bad).status().code(), StatusCode::kCorruption) << ToHex(bad);
  }
  // A message that starts as an ack and then holds a Hello mixes types.
  const std::string mixed = Field(3, "") + Field(1, "");
  auto parsed = ParseMessage(mixed);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("mixes"), std::string::npos);
}

TEST(SyncCodecTest, ParsingOntoAnArenaChecksAndParsesTheSame) {
  // The session parses each message onto an arena it resets: the same
  // checks, the same message.
  google::protobuf::Arena arena;
  for (const std::string& bad :
       {std::string(), std::string("\xff\xff\xff garbage"), Field(3, "") + Field(1, ""),
        Field(3, Varint(1 << 3) + Varint(5) + Field(15, std::string(1990, 'x')))}) {
    auto on_arena = ParseMessage(bad, &arena);
    ASSERT_FALSE(on_arena.ok()) << ToHex(bad);
    EXPECT_EQ(on_arena.status().ToString(), ParseMessage(bad).status().ToString());
  }
  v1::SyncMessage batch;
  v1::SyncBatch* part = batch.mutable_batch();
  part->set_first_seq(7);
  for (int i = 0; i < 3; ++i) part->add_ops()->set_ciphertext(std::string(300, 'a' + i));
  const std::string bytes = batch.SerializeAsString();
  auto on_arena = ParseMessage(bytes, &arena);
  ASSERT_TRUE(on_arena.ok()) << on_arena.status().ToString();
  EXPECT_EQ((*on_arena)->GetArena(), &arena);
  EXPECT_EQ((*on_arena)->SerializeAsString(), bytes);
  EXPECT_EQ((*on_arena)->batch().ops(2).ciphertext(), std::string(300, 'c'));
  arena.Reset();
  // The arena serves the next message after a reset.
  auto next = ParseMessage(bytes, &arena);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)->batch().first_seq(), 7u);
}

TEST(SyncCodecTest, AMessageOfAnUnknownTypeParsesWithoutABodySoItCanBeSkipped) {
  auto parsed = ParseMessage(Field(42, "from the future"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->body_case(), v1::SyncMessage::BODY_NOT_SET);
}

class RunBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = std::make_unique<Device>("Alex", 1);
    a_->AddMany(6, 6);
    auto batches = AllBatches(*a_->engine, a_->space());
    ASSERT_EQ(batches.size(), 1u);
    std::vector<EncodedPart> parts;
    KnownHeads receiver;
    ASSERT_TRUE(EncodeBatch(batches[0], 3, 1 << 20, &receiver, &parts).ok());
    ASSERT_EQ(parts.size(), 2u);
    for (const auto& p : parts) parts_.push_back(ParseMessage(p.bytes)->batch());
  }
  Status AddAll(std::vector<v1::SyncBatch> parts) {
    RunBuilder builder;
    for (const auto& p : parts) {
      auto r = builder.Add(p, KnownHeads{});
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }
  std::unique_ptr<Device> a_;
  std::vector<v1::SyncBatch> parts_;
};

TEST_F(RunBuilderTest, AGenuineRunInPartsIsRebuilt) { EXPECT_TRUE(AddAll(parts_).ok()); }

TEST_F(RunBuilderTest, APartThatDoesNotContinueTheRunIsRefused) {
  auto parts = parts_;
  parts[1].set_first_seq(parts[1].first_seq() + 1);
  EXPECT_NE(AddAll(parts).message().find("does not continue"), std::string::npos);
  parts = parts_;
  parts[1].set_prev_hash(std::string(32, 'x'));
  EXPECT_NE(AddAll(parts).message().find("does not follow"), std::string::npos);
  EXPECT_FALSE(AddAll({parts_[0], parts_[0]}).ok());  // the same part twice
}

TEST_F(RunBuilderTest, MalformedPartsAreRefused) {
  auto expect_refused = [&](const std::function<void(v1::SyncBatch&)>& mutate, const char* what) {
    auto parts = parts_;
    mutate(parts[0]);
    Status s = AddAll(parts);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << what;
  };
  expect_refused([](v1::SyncBatch& b) { b.mutable_ops(0)->clear_epoch(); }, "no epoch");
  expect_refused([](v1::SyncBatch& b) { b.mutable_ops(0)->clear_salt(); }, "no salt");
  expect_refused([](v1::SyncBatch& b) { b.set_prev_hash("short"); }, "short prev hash");
  expect_refused([](v1::SyncBatch& b) { b.set_first_seq(0); }, "seq 0");
  expect_refused([](v1::SyncBatch& b) { b.set_first_seq(UINT64_MAX); }, "seq overflow");
  expect_refused([](v1::SyncBatch& b) { b.clear_ops(); }, "no ops");
  expect_refused([](v1::SyncBatch& b) { b.set_space_id("x"); }, "space id");
  expect_refused([](v1::SyncBatch& b) { b.set_signature(std::string(64, 's')); },
                 "signed part with more");
  expect_refused([](v1::SyncBatch& b) { b.mutable_ops(0)->set_salt(std::string(100, 's')); },
                 "salt");
  expect_refused([](v1::SyncBatch& b) { b.mutable_ops(0)->set_payload_hash("x"); }, "payload hash");
  // An op that is not purged carries no payload hash; one sent anyway must
  // be the hash of its ciphertext (the receiver derives it, always).
  expect_refused([](v1::SyncBatch& b) { b.mutable_ops(1)->set_payload_hash(std::string(32, 'h')); },
                 "payload hash of another ciphertext");
  {
    auto parts = parts_;
    parts[0].mutable_ops(1)->set_payload_hash(crypto::Hash(parts[0].ops(1).ciphertext()));
    EXPECT_TRUE(AddAll(parts).ok()) << "the right payload hash, sent anyway";
  }
  expect_refused([](v1::SyncBatch& b) { b.mutable_ops(1)->set_purged(true); },
                 "purged without its payload hash");
  auto parts = parts_;
  parts[1].set_signature("short");
  EXPECT_EQ(AddAll(parts).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace kindred::sync
