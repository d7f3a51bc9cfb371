// Property tests of the merge rules: however ops arrive (any order, any
// number of times), every replica ends in byte-identical state.
#include "engine/log/merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace kindred::log {
namespace {

struct Op {
  v1::Dot dot;
  uint64_t hlc;
  v1::OpPayload payload;
  std::string record;
};

void Apply(const Op& op, std::map<std::string, v1::RecordState>* states) {
  v1::RecordState& s = (*states)[op.record];
  if (op.payload.has_write()) {
    ApplyWrite(op.dot, op.hlc, op.payload.write(), &s);
  } else {
    ApplyDelete(op.dot, op.hlc, op.payload.remove(), &s);
  }
}

std::string Fingerprint(const std::map<std::string, v1::RecordState>& states) {
  std::string out;
  for (const auto& [id, s] : states) out += id + ":" + s.SerializeAsString() + "|";
  return out;
}

// A device that writes ops from what it has seen and merges others' ops.
struct Replica {
  std::string device;
  uint64_t seq = 0;
  uint64_t clock = 0;
  std::map<std::string, v1::RecordState> states;
  std::vector<Op> known;
  std::set<std::pair<std::string, uint64_t>> seen;

  void Learn(const Op& op) {
    if (!seen.insert({op.dot.device(), op.dot.seq()}).second) return;
    known.push_back(op);
    clock = std::max(clock, op.hlc);
    Apply(op, &states);
  }

  Op Write(const std::string& record, const std::string& field, v1::Value value) {
    Op op;
    op.dot.set_device(device);
    op.dot.set_seq(++seq);
    op.hlc = ++clock;
    op.record = record;
    auto* w = op.payload.mutable_write();
    w->set_collection("journal");
    auto* f = w->add_fields();
    f->set_name(field);
    *f->mutable_value() = std::move(value);
    auto it = states.find(record);
    if (it != states.end()) {
      if (const auto* fs = FindField(it->second, field)) {
        for (const auto& v : fs->live()) *f->add_supersedes() = v.dot();
      }
    }
    Learn(op);
    return op;
  }

  Op Delete(const std::string& record, bool purge) {
    Op op;
    op.dot.set_device(device);
    op.dot.set_seq(++seq);
    op.hlc = ++clock;
    op.record = record;
    auto* d = op.payload.mutable_remove();
    d->set_collection("journal");
    for (const auto& dot : AllLiveDots(states[record])) *d->add_supersedes() = dot;
    d->set_purge(purge);
    if (purge) {
      for (const auto& dot : states[record].ops()) *d->add_purged_ops() = dot;
    }
    Learn(op);
    return op;
  }
};

v1::Value Text(const std::string& s) {
  v1::Value v;
  v.set_text(s);
  return v;
}
v1::Value Int(int64_t i) {
  v1::Value v;
  v.set_integer(i);
  return v;
}

class MergePropertyTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(MergePropertyTest, SameOpsInAnyOrderWithDuplicatesGiveIdenticalState) {
  const uint32_t seed = GetParam();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<Replica> replicas(3);
  for (int i = 0; i < 3; ++i) replicas[i].device = std::string(15, static_cast<char>('a' + i));
  std::vector<std::string> records = {"r1", "r2", "r3", "r4"};
  std::vector<Op> all;
  for (int step = 0; step < 300; ++step) {
    Replica& r = replicas[rng() % 3];
    const std::string& record = records[rng() % records.size()];
    switch (rng() % 10) {
      case 0: case 1: case 2: case 3:
        all.push_back(r.Write(record, "text", Text("t" + std::to_string(step))));
        break;
      case 4: case 5:
        all.push_back(r.Write(record, "mood", Int(static_cast<int64_t>(rng() % 5 + 1))));
        break;
      case 6:
        all.push_back(r.Delete(record, rng() % 4 == 0));
        break;
      default: {  // sync from another replica
        Replica& other = replicas[rng() % 3];
        for (const Op& op : other.known) r.Learn(op);
      }
    }
  }
  // Reference: all ops in creation order.
  std::map<std::string, v1::RecordState> reference;
  for (const Op& op : all) Apply(op, &reference);
  const std::string expected = Fingerprint(reference);

  for (int trial = 0; trial < 20; ++trial) {
    std::vector<Op> shuffled = all;
    for (int d = 0; d < 50; ++d) shuffled.push_back(all[rng() % all.size()]);  // duplicates
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::map<std::string, v1::RecordState> state;
    for (const Op& op : shuffled) Apply(op, &state);
    ASSERT_EQ(Fingerprint(state), expected) << "trial " << trial;
  }
  // Replicas that exchange everything converge on the same state too.
  for (auto& r : replicas) {
    for (const Op& op : all) r.Learn(op);
    EXPECT_EQ(Fingerprint(r.states), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, MergePropertyTest, ::testing::Values(1u, 2u, 3u, 42u, 2026u, 77777u));

TEST(MergeTest, ConcurrentTextWritesAreBothKeptAsAConflict) {
  Replica a{"aaaaaaaaaaaaaaa"}, b{"bbbbbbbbbbbbbbb"};
  Op create = a.Write("r", "text", Text("first"));
  b.Learn(create);
  Op from_a = a.Write("r", "text", Text("from a"));
  Op from_b = b.Write("r", "text", Text("from b"));
  a.Learn(from_b);
  b.Learn(from_a);
  ASSERT_EQ(Fingerprint(a.states), Fingerprint(b.states));
  const auto* field = FindField(a.states["r"], "text");
  ASSERT_NE(field, nullptr);
  ASSERT_EQ(field->live_size(), 2);
  EXPECT_TRUE(HasTextConflict(a.states["r"]));
  // A later write that saw both resolves the conflict.
  Op resolve = a.Write("r", "text", Text("both, merged by hand"));
  b.Learn(resolve);
  EXPECT_FALSE(HasTextConflict(b.states["r"]));
  EXPECT_EQ(Winner(*FindField(b.states["r"], "text"))->value().text(), "both, merged by hand");
}

TEST(MergeTest, ConcurrentNonTextWritesPickTheLatestWithoutAConflict) {
  Replica a{"aaaaaaaaaaaaaaa"}, b{"bbbbbbbbbbbbbbb"};
  Op create = a.Write("r", "text", Text("x"));
  b.Learn(create);
  Op ma = a.Write("r", "mood", Int(2));
  Op mb = b.Write("r", "mood", Int(5));
  a.Learn(mb);
  b.Learn(ma);
  EXPECT_FALSE(HasTextConflict(a.states["r"]));
  // Same HLC on both: the device id breaks the tie ("bbb..." > "aaa...").
  EXPECT_EQ(Winner(*FindField(a.states["r"], "mood"))->value().integer(), 5);
  EXPECT_EQ(Fingerprint(a.states), Fingerprint(b.states));
}

TEST(MergeTest, AnEditTheDeleterHadNotSeenSurvivesTheDelete) {
  Replica a{"aaaaaaaaaaaaaaa"}, b{"bbbbbbbbbbbbbbb"};
  Op create = a.Write("r", "text", Text("x"));
  b.Learn(create);
  Op del = a.Delete("r", false);
  Op edit = b.Write("r", "text", Text("still here"));
  a.Learn(edit);
  b.Learn(del);
  EXPECT_FALSE(IsDeleted(a.states["r"]));
  EXPECT_EQ(Fingerprint(a.states), Fingerprint(b.states));
  // A delete that has seen everything removes it.
  Op del2 = a.Delete("r", false);
  b.Learn(del2);
  EXPECT_TRUE(IsDeleted(b.states["r"]));
}

TEST(MergeTest, AFirstWriteGivesTheSameBytesWhateverTheOrderOfItsFields) {
  // Fields named in order take the direct path for a record's first write;
  // the same fields in another order take the general one.
  v1::Dot dot;
  dot.set_device("device-one");
  dot.set_seq(7);
  auto write = [](const std::vector<std::string>& names) {
    v1::RecordWrite w;
    w.set_collection("journal");
    for (const auto& name : names) {
      auto* f = w.add_fields();
      f->set_name(name);
      f->mutable_value()->set_text("value of " + name);
    }
    return w;
  };
  v1::RecordState in_order, shuffled;
  in_order.set_record_id("r");
  shuffled.set_record_id("r");
  ApplyWrite(dot, 99, write({"mood", "shared", "text"}), &in_order);
  ApplyWrite(dot, 99, write({"text", "mood", "shared"}), &shuffled);
  EXPECT_EQ(in_order.SerializeAsString(), shuffled.SerializeAsString());
  ASSERT_EQ(in_order.fields_size(), 3);
  EXPECT_EQ(in_order.fields(2).live(0).value().text(), "value of text");
  // A write that supersedes something takes the general path too.
  v1::RecordState superseding;
  superseding.set_record_id("r");
  auto w = write({"mood", "shared", "text"});
  *w.mutable_fields(0)->add_supersedes() = dot;
  ApplyWrite(dot, 99, w, &superseding);
  EXPECT_EQ(superseding.fields(0).superseded_size(), 1);
}

TEST(MergeTest, MovingTheValuesOutOfAWriteGivesTheSameBytesAsCopyingThem) {
  // The engine moves field values from its payloads into records (both on
  // one arena); the result must be the copy's, byte for byte, on the first
  // write's direct path and on the general path alike.
  auto dot = [](const std::string& device, uint64_t seq) {
    v1::Dot d;
    d.set_device(device);
    d.set_seq(seq);
    return d;
  };
  auto write = [](const std::vector<std::pair<std::string, std::string>>& fields,
                  const std::vector<v1::Dot>& supersedes) {
    v1::RecordWrite w;
    w.set_collection("journal");
    for (const auto& [name, text] : fields) {
      auto* f = w.add_fields();
      f->set_name(name);
      f->mutable_value()->set_text(text);
      for (const auto& d : supersedes) *f->add_supersedes() = d;
    }
    return w;
  };
  const std::string long_text(300, 'x');  // on the heap, not in the string object
  const std::vector<std::pair<v1::Dot, v1::RecordWrite>> ops = {
      {dot("device-one", 1), write({{"mood", "3"}, {"text", long_text}}, {})},
      {dot("device-two", 4), write({{"text", "an edit"}}, {dot("device-one", 1)})},
      {dot("device-one", 2), write({{"text", "concurrent"}, {"shared", "yes"}}, {})},
      {dot("device-one", 1), write({{"mood", "3"}, {"text", long_text}}, {})},  // again
  };
  google::protobuf::Arena arena;
  auto* moved = google::protobuf::Arena::CreateMessage<v1::RecordState>(&arena);
  v1::RecordState copied;
  uint64_t hlc = 10;
  for (const auto& [d, w] : ops) {
    ApplyWrite(d, hlc, w, &copied);
    auto* taken = google::protobuf::Arena::CreateMessage<v1::RecordWrite>(&arena);
    *taken = w;
    ApplyWriteMovingValues(d, hlc, taken, moved);
    EXPECT_EQ(moved->SerializeAsString(), copied.SerializeAsString()) << "after op " << d.seq();
    ++hlc;
  }
  ASSERT_EQ(copied.fields_size(), 3);
  EXPECT_EQ(copied.fields(2).live_size(), 2);  // "an edit" and "concurrent"
  // Off any arena, the same.
  v1::RecordState elsewhere;
  v1::RecordWrite first = ops[0].second;
  ApplyWriteMovingValues(ops[0].first, 10, &first, &elsewhere);
  v1::RecordState reference;
  ApplyWrite(ops[0].first, 10, ops[0].second, &reference);
  EXPECT_EQ(elsewhere.SerializeAsString(), reference.SerializeAsString());
}

}  // namespace
}  // namespace kindred::log
