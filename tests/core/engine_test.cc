#include "kindred/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/core/engine_impl.h"
#include "engine/core/meta_keys.h"
#include "engine/log/oplog.h"
#include "engine/log/segment.h"
#include "tests/testing/fake_env.h"

namespace kindred {
namespace {

using testing::TempDir;
using testing::TestEnv;

std::unique_ptr<Engine> MustInit(const std::string& home, Env* env,
                                 std::optional<std::string> passphrase = std::nullopt) {
  InitOptions init;
  init.engine.home = home;
  init.engine.env = env;
  init.engine.passphrase = passphrase;
  init.member_name = "Alex";
  init.device_name = "laptop";
  init.strength = PassphraseStrength::kInteractive;
  auto engine = Engine::Init(init);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::string AddText(Engine& e, const std::string& text) {
  auto ids = e.Commit(e.device().personal_space, {Mutation::Create("journal", {{"text", text}})});
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? ids->front() : "";
}

// Raw access to the stored bytes, for tests that tamper with them.
std::string RawGet(core::EngineImpl& impl, store::Cf cf, const std::string& key) {
  std::string value;
  EXPECT_TRUE(impl.StoreForTest()->RawForTest()->Get(rocksdb::ReadOptions(),
                                                     impl.StoreForTest()->HandleForTest(cf), key,
                                                     &value).ok());
  return value;
}
void RawPut(core::EngineImpl& impl, store::Cf cf, const std::string& key, const std::string& value) {
  ASSERT_TRUE(impl.StoreForTest()->RawForTest()->Put(rocksdb::WriteOptions(),
                                                     impl.StoreForTest()->HandleForTest(cf), key,
                                                     value).ok());
}
void RawDelete(core::EngineImpl& impl, store::Cf cf, const std::string& key) {
  ASSERT_TRUE(impl.StoreForTest()->RawForTest()->Delete(rocksdb::WriteOptions(),
                                                        impl.StoreForTest()->HandleForTest(cf), key).ok());
}

// The last seq of every stored segment of (space, device), in order.
std::vector<uint64_t> SegmentEnds(core::EngineImpl& impl, const SpaceId& space,
                                  const DeviceId& device) {
  std::vector<uint64_t> ends;
  std::string prefix = log::SegmentPrefix(space, device);
  auto cursor = impl.StoreForTest()->NewCursor(store::Cf::kOplog);
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next()) {
    uint64_t last = 0;
    EXPECT_TRUE(log::ParseSegmentKey(cursor->key(), prefix.size(), &last).ok());
    ends.push_back(last);
  }
  return ends;
}

// Commits `n` new entries in one call (one group, so one segment).
std::vector<std::string> AddMany(Engine& e, int n, const std::string& text) {
  std::vector<Mutation> batch;
  for (int i = 0; i < n; ++i) {
    batch.push_back(Mutation::Create("journal", {{"text", text + " " + std::to_string(i)}}));
  }
  auto ids = e.Commit(e.device().personal_space, batch);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<std::string>{};
}

// True if any file under `dir` contains `needle`.
bool AnyFileContains(const std::string& dir, const std::string& needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(EngineTest, InitTwiceFailsAndChangesNothing) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  ASSERT_TRUE(engine);
  DeviceId id = engine->device().id;
  engine.reset();
  InitOptions again;
  again.engine.home = dir.path();
  again.member_name = "Sam";
  auto second = Engine::Init(again);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  auto reopened = Engine::Open({.home = dir.path()});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->device().id, id);
  EXPECT_EQ((*reopened)->device().member_name, "Alex");
}

TEST(EngineTest, Utf8IsCheckedAsRfc3629Says) {
  for (const std::string& valid : std::vector<std::string>{
           "", "plain ASCII", std::string("nul \0 inside", 12), "\xc2\x80", "\xdf\xbf",
           "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
           "\xf4\x8f\xbf\xbf", "caf\xc3\xa9 \xf0\x9f\x92\x9e"}) {
    EXPECT_TRUE(core::IsValidUtf8(valid)) << ::testing::PrintToString(valid);
  }
  for (const std::string& invalid : std::vector<std::string>{
           "\x80", "a\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xc2\x41", "\xe0\x80\x80",
           "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xe1\x80", "\xf0\x80\x80\x80",
           "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf1\x80\x80", "\xfe",
           "\xff", "ok then \xe2\x82"}) {
    EXPECT_FALSE(core::IsValidUtf8(invalid)) << ::testing::PrintToString(invalid);
  }
  // ASCII is read eight bytes at a time: each case after runs of every length.
  for (size_t n = 0; n < 20; ++n) {
    const std::string run(n, 'a');
    EXPECT_TRUE(core::IsValidUtf8(run + "\xc3\xa9" + run + "\xf0\x9f\x92\x9e" + run)) << n;
    EXPECT_FALSE(core::IsValidUtf8(run + "\xff" + run)) << n;
    EXPECT_FALSE(core::IsValidUtf8(run + "\xed\xa0\x80" + run)) << n;
    EXPECT_FALSE(core::IsValidUtf8(run + "\xe2\x82")) << n;
  }
}

TEST(EngineTest, InitRefusesNamesThatAreNotUtf8AndLeavesNoHome) {
  for (const auto& [member, device] :
       {std::pair<std::string, std::string>{"Al\xffx", "laptop"},
        std::pair<std::string, std::string>{"Alex", "lap\xc0\xaftop"}}) {
    TempDir dir;
    TestEnv env(1);
    InitOptions init;
    init.engine.home = dir.path() + "/home";
    init.engine.env = &env;
    init.member_name = member;
    init.device_name = device;
    auto engine = Engine::Init(init);
    ASSERT_FALSE(engine.ok());
    EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(engine.status().message().find("not valid UTF-8"), std::string::npos)
        << engine.status().ToString();
    EXPECT_FALSE(std::filesystem::exists(init.engine.home));
  }
}

TEST(EngineTest, OpeningAnEmptyHomeSaysToRunInit) {
  TempDir dir;
  auto engine = Engine::Open({.home = dir.path()});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(engine.status().message().find("kindred init"), std::string::npos);
}

TEST(EngineTest, RecordsSurviveCloseAndReopenAndTheLogContinues) {
  TempDir dir;
  TestEnv env;
  std::string id;
  {
    auto engine = MustInit(dir.path(), &env);
    id = AddText(*engine, "first words");
    AddText(*engine, "second words");
  }
  auto engine = Engine::Open({.home = dir.path(), .env = &env});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto record = (*engine)->Get((*engine)->device().personal_space, "journal", id);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->Text("text"), "first words");
  AddText(**engine, "third words");
  auto vv = (*engine)->Versions((*engine)->device().personal_space);
  ASSERT_TRUE(vv.ok());
  EXPECT_EQ(vv->at((*engine)->device().id), 3u);
  VerifyReport report;
  ASSERT_TRUE((*engine)->Verify(&report).ok());
  EXPECT_EQ(report.ops, 3u);
  EXPECT_EQ(report.decrypted, 3u);
  EXPECT_EQ(report.signatures, 3u);
}

TEST(EngineTest, ATamperedStoredOpIsRejectedWithAClearError) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  AddText(*engine, "a private thought");
  AddText(*engine, "another");
  SpaceId space = engine->device().personal_space;
  DeviceId me = engine->device().id;
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  // Op 1 sits in the segment that ends at it; flip a byte in its middle.
  std::string key = log::SegmentKey(space, me, 1);
  v1::OpSegment segment;
  ASSERT_TRUE(segment.ParseFromString(RawGet(*impl, store::Cf::kOplog, key)));
  ASSERT_EQ(segment.first_seq(), 1u);
  std::string& op = *segment.mutable_ops(0);
  op[op.size() / 2] ^= 0x20;
  RawPut(*impl, store::Cf::kOplog, key, segment.SerializeAsString());
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("op 1"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("private thought"), std::string::npos);
}

TEST(EngineTest, ATamperedStoredRecordFailsAuthenticationOnRead) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  std::string id = AddText(*engine, "read me");
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  auto cursor = impl->StoreForTest()->NewCursor(store::Cf::kRecords);
  cursor->SeekToFirst();
  ASSERT_TRUE(cursor->Valid());
  std::string key(cursor->key()), value(cursor->value());
  value.back() ^= 1;
  auto* cf = impl->StoreForTest()->HandleForTest(store::Cf::kRecords);
  ASSERT_TRUE(impl->StoreForTest()->RawForTest()->Put(rocksdb::WriteOptions(), cf, key, value).ok());
  auto record = engine->Get(engine->device().personal_space, "journal", id);
  EXPECT_EQ(record.status().code(), StatusCode::kCorruption);
}

TEST(EngineTest, AWrongPassphraseIsRejectedClearlyAndTheRightOneWorks) {
  TempDir dir;
  {
    auto engine = MustInit(dir.path(), nullptr, "correct horse battery");
    ASSERT_TRUE(engine);
    EXPECT_TRUE(engine->device().keys_protected);
    AddText(*engine, "sealed");
  }
  auto sealed = Engine::KeyFileIsSealed(dir.path());
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(*sealed);
  auto wrong = Engine::Open({.home = dir.path(), .passphrase = "wrong horse"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(wrong.status().message().find("wrong passphrase"), std::string::npos);
  auto none = Engine::Open({.home = dir.path()});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnauthenticated);
  auto right = Engine::Open({.home = dir.path(), .passphrase = "correct horse battery"});
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_TRUE((*right)->device().keys_protected);
}

TEST(EngineTest, NoPlaintextReachesAnyFileUnderTheHome) {
  TempDir dir;
  TestEnv env;
  const std::string secret = "ZebraMarmaladeWhisper tells the truth";
  {
    auto engine = MustInit(dir.path(), &env);
    std::map<std::string, Value> fields{{"text", secret},
                                        {"tags", std::vector<std::string>{"QuokkaTagSecret"}}};
    ASSERT_TRUE(engine->Commit(engine->device().personal_space,
                               {Mutation::Create("journal", fields)}).ok());
    for (int i = 0; i < 200; ++i) AddText(*engine, secret + " " + std::to_string(i));
  }
  EXPECT_FALSE(AnyFileContains(dir.path(), "ZebraMarmaladeWhisper"));
  EXPECT_FALSE(AnyFileContains(dir.path(), "QuokkaTagSecret"));
}

TEST(EngineTest, ASecondOpenOfTheSameHomeIsBusyAndLeavesTheStoreAlone) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  std::string id = AddText(*engine, "still here");
  auto second = Engine::Open({.home = dir.path()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  auto record = engine->Get(engine->device().personal_space, "journal", id);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->Text("text"), "still here");
}

TEST(EngineTest, AMissingStoreIsReportedAsCorruptNotReinitialised) {
  TempDir dir;
  { auto engine = MustInit(dir.path(), nullptr); }
  std::filesystem::remove_all(dir.path() + "/db");
  auto engine = Engine::Open({.home = dir.path()});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/db"));
}

TEST(EngineTest, UpdatingOrDeletingAnUnknownRecordWritesNothing) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  std::string good = AddText(*engine, "keep");
  auto r = engine->Commit(space, {Mutation::Update("journal", good, {{"text", std::string("x")}}),
                                  Mutation::Delete("journal", "nosuchid")});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->Get(space, "journal", good)->Text("text"), "keep");
  EXPECT_EQ(engine->Versions(space)->at(engine->device().id), 1u);
}

TEST(EngineTest, ACreateWithTheIdOfALiveRecordIsRefusedButADeletedOneComesBack) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  Mutation first = Mutation::Create("notes", {{"text", std::string("first")}, {"n", int64_t{1}}});
  first.id = "movedrecord1";
  ASSERT_TRUE(engine->Commit(space, {first}).ok());
  Mutation again = Mutation::Create("notes", {{"text", std::string("again")}});
  again.id = "movedrecord1";
  EXPECT_EQ(engine->Commit(space, {again}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(engine->Get(space, "notes", "movedrecord1")->Text("text"), "first");

  ASSERT_TRUE(engine->Commit(space, {Mutation::Delete("notes", "movedrecord1")}).ok());
  EXPECT_EQ(engine->Get(space, "notes", "movedrecord1").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(engine->Commit(space, {again}).ok());
  auto back = engine->Get(space, "notes", "movedrecord1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Text("text"), "again");
  EXPECT_FALSE(back->Int("n").has_value());  // only the new fields
  VerifyReport report;
  EXPECT_TRUE(engine->Verify(&report).ok());

  // And so it stays after reopening, when records are rebuilt from the log.
  engine.reset();
  EngineOptions options;
  options.home = dir.path();
  options.env = &env;
  auto reopened = Engine::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->Get(space, "notes", "movedrecord1")->Text("text"), "again");
}

TEST(EngineTest, ConcurrentCommitsAreGroupedAndAllLand) {
  TempDir dir;
  auto engine = MustInit(dir.path(), nullptr);
  SpaceId space = engine->device().personal_space;
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = engine->Commit(space, {Mutation::Create("journal", {{"text", std::string("t")}})});
        if (r.ok()) ids[t].push_back(r->front());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> unique;
  for (auto& v : ids) unique.insert(v.begin(), v.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(engine->Versions(space)->at(engine->device().id), static_cast<uint64_t>(kThreads * kEach));
  VerifyReport report;
  ASSERT_TRUE(engine->Verify(&report).ok());
  // Grouping means fewer signatures than ops are possible, never more.
  EXPECT_LE(report.signatures, report.ops);
}

TEST(EngineTest, PurgeErasesTheCiphertextOfEveryEarlierOpOfTheRecord) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  std::string id = AddText(*engine, "regret");
  ASSERT_TRUE(engine->Commit(space, {Mutation::Update("journal", id, {{"text", std::string("regret 2")}})}).ok());
  std::string other = AddText(*engine, "keep me");
  ASSERT_TRUE(engine->Commit(space, {Mutation::Purge("journal", id)}).ok());
  EXPECT_EQ(engine->Get(space, "journal", id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(engine->Get(space, "journal", other).ok());
  VerifyReport report;
  ASSERT_TRUE(engine->Verify(&report).ok());  // chains still verify
  EXPECT_EQ(report.purged, 2u);
  EXPECT_EQ(report.ops, 4u);
}

// ---- The op log as segments ------------------------------------------------

TEST(EngineTest, EachCommitIsOneSegmentAndTheLogContinuesAfterReopen) {
  TempDir dir;
  TestEnv env;
  SpaceId space;
  DeviceId me;
  {
    auto engine = MustInit(dir.path(), &env);
    space = engine->device().personal_space;
    me = engine->device().id;
    AddMany(*engine, 5, "before");
    auto* impl = static_cast<core::EngineImpl*>(engine.get());
    EXPECT_EQ(SegmentEnds(*impl, space, me), (std::vector<uint64_t>{5}));
  }
  auto engine = Engine::Open({.home = dir.path(), .env = &env});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  AddMany(**engine, 3, "after");
  AddText(**engine, "single");
  auto* impl = static_cast<core::EngineImpl*>(engine->get());
  EXPECT_EQ(SegmentEnds(*impl, space, me), (std::vector<uint64_t>{5, 8, 9}));
  v1::OpSegment second;
  ASSERT_TRUE(second.ParseFromString(RawGet(*impl, store::Cf::kOplog, log::SegmentKey(space, me, 8))));
  EXPECT_EQ(second.first_seq(), 6u);
  EXPECT_EQ(second.ops_size(), 3);
  EXPECT_EQ(second.signature().seq(), 8u);
  VerifyReport report;
  ASSERT_TRUE((*engine)->Verify(&report).ok());
  EXPECT_EQ(report.ops, 9u);
  EXPECT_EQ(report.decrypted, 9u);
  EXPECT_EQ(report.signatures, 3u);
  int live = 0;
  ASSERT_TRUE((*engine)->Scan(space, "journal", [&](const Record&) { return ++live > 0; }).ok());
  EXPECT_EQ(live, 9);
}

TEST(EngineTest, PurgingAnOpInTheMiddleOfASegmentKeepsTheLogVerifiable) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  DeviceId me = engine->device().id;
  auto ids = AddMany(*engine, 5, "entry");
  ASSERT_EQ(ids.size(), 5u);
  ASSERT_TRUE(engine->Commit(space, {Mutation::Purge("journal", ids[2])}).ok());
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.ops, 6u);
  EXPECT_EQ(report.purged, 1u);
  EXPECT_EQ(report.decrypted, 5u);
  EXPECT_EQ(report.signatures, 2u);
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  log::Segment segment;
  ASSERT_TRUE(log::DecodeSegment(space, me, 5,
                                 RawGet(*impl, store::Cf::kOplog, log::SegmentKey(space, me, 5)),
                                 &segment).ok());
  ASSERT_EQ(segment.ops.size(), 5u);
  EXPECT_TRUE(segment.ops[2].purged());
  EXPECT_TRUE(segment.ops[2].ciphertext().empty());
  EXPECT_FALSE(segment.ops[1].purged());
  EXPECT_FALSE(segment.ops[3].ciphertext().empty());
  EXPECT_EQ(engine->Get(space, "journal", ids[2]).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->Get(space, "journal", ids[3])->Text("text"), "entry 3");
}

TEST(EngineTest, APurgeInTheCommitThatCreatedTheRecordErasesItsCiphertext) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  Mutation create{Mutation::Kind::kCreate, "journal", "imported-1", {{"text", std::string("oops")}}};
  auto ids = engine->Commit(space, {Mutation::Create("journal", {{"text", std::string("keep")}}),
                                    create, Mutation::Purge("journal", "imported-1")});
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  VerifyReport report;
  ASSERT_TRUE(engine->Verify(&report).ok());
  EXPECT_EQ(report.ops, 3u);
  EXPECT_EQ(report.purged, 1u);
  EXPECT_EQ(report.signatures, 1u);
  EXPECT_EQ(engine->Get(space, "journal", "imported-1").status().code(), StatusCode::kNotFound);
}

// Shortens the stored segment ending at `last` by its last op.
void DropLastOp(core::EngineImpl& impl, const SpaceId& space, const DeviceId& me, uint64_t last,
                bool move_key) {
  std::string key = log::SegmentKey(space, me, last);
  v1::OpSegment segment;
  ASSERT_TRUE(segment.ParseFromString(RawGet(impl, store::Cf::kOplog, key)));
  segment.mutable_ops()->RemoveLast();
  if (move_key) {
    RawDelete(impl, store::Cf::kOplog, key);
    key = log::SegmentKey(space, me, last - 1);
  }
  RawPut(impl, store::Cf::kOplog, key, segment.SerializeAsString());
}

TEST(EngineTest, VerifyDetectsATruncatedSegment) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  AddMany(*engine, 5, "entry");
  AddText(*engine, "later");
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  DropLastOp(*impl, engine->device().personal_space, engine->device().id, 5, false);
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
}

TEST(EngineTest, VerifyDetectsASegmentTruncatedUnderAMatchingKey) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  AddMany(*engine, 5, "entry");
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  DropLastOp(*impl, engine->device().personal_space, engine->device().id, 5, true);
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("op 4"), std::string::npos) << s.message();
}

TEST(EngineTest, VerifyDetectsReorderedOpsInASegment) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  DeviceId me = engine->device().id;
  AddMany(*engine, 4, "entry");
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  std::string key = log::SegmentKey(space, me, 4);
  v1::OpSegment segment;
  ASSERT_TRUE(segment.ParseFromString(RawGet(*impl, store::Cf::kOplog, key)));
  segment.mutable_ops()->SwapElements(1, 2);
  RawPut(*impl, store::Cf::kOplog, key, segment.SerializeAsString());
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("op 2"), std::string::npos) << s.message();
}

TEST(EngineTest, VerifyDetectsSwappedOrMissingSegments) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  DeviceId me = engine->device().id;
  AddMany(*engine, 2, "first");
  AddMany(*engine, 2, "second");
  AddMany(*engine, 2, "third");
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  std::string k2 = log::SegmentKey(space, me, 2), k4 = log::SegmentKey(space, me, 4);
  std::string v2 = RawGet(*impl, store::Cf::kOplog, k2), v4 = RawGet(*impl, store::Cf::kOplog, k4);
  RawPut(*impl, store::Cf::kOplog, k2, v4);
  RawPut(*impl, store::Cf::kOplog, k4, v2);
  VerifyReport report;
  EXPECT_EQ(engine->Verify(&report).code(), StatusCode::kCorruption);
  RawPut(*impl, store::Cf::kOplog, k2, v2);
  RawPut(*impl, store::Cf::kOplog, k4, v4);
  ASSERT_TRUE(engine->Verify(&report).ok());
  // The last segment disappears: the log no longer reaches its recorded head.
  RawDelete(*impl, store::Cf::kOplog, log::SegmentKey(space, me, 6));
  Status s = engine->Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("recorded head"), std::string::npos) << s.message();
}

TEST(EngineTest, AHomeWithTheOldOpLogLayoutIsRefusedClearly) {
  TempDir dir;
  TestEnv env;
  {
    auto engine = MustInit(dir.path(), &env);
    AddText(*engine, "old");
    RawPut(*static_cast<core::EngineImpl*>(engine.get()), store::Cf::kMeta, "layout",
           "kindred-store/1");
  }
  auto engine = Engine::Open({.home = dir.path(), .env = &env});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption);
  EXPECT_NE(engine.status().message().find("kindred-store/1"), std::string::npos)
      << engine.status().message();
}

TEST(EngineTest, LargeCommitsSealOnTwoThreadsAndStayAllOrNothing) {
  TempDir dir;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  DeviceId me = engine->device().id;
  auto ids = AddMany(*engine, 300, "bulk");
  ASSERT_EQ(ids.size(), 300u);
  // A large commit whose last mutation fails writes nothing, and the next
  // one continues the chain where the last good one ended.
  std::vector<Mutation> bad;
  for (int i = 0; i < 150; ++i) {
    bad.push_back(Mutation::Update("journal", ids[i], {{"text", std::string("changed")}}));
  }
  bad.push_back(Mutation::Delete("journal", "nosuchid"));
  EXPECT_EQ(engine->Commit(space, bad).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->Versions(space)->at(me), 300u);
  EXPECT_EQ(engine->Get(space, "journal", ids[0])->Text("text"), "bulk 0");
  bad.pop_back();
  ASSERT_TRUE(engine->Commit(space, bad).ok());
  EXPECT_EQ(engine->Get(space, "journal", ids[149])->Text("text"), "changed");
  EXPECT_EQ(engine->Get(space, "journal", ids[150])->Text("text"), "bulk 150");
  auto* impl = static_cast<core::EngineImpl*>(engine.get());
  EXPECT_EQ(SegmentEnds(*impl, space, me), (std::vector<uint64_t>{300, 450}));
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.ops, 450u);
  EXPECT_EQ(report.decrypted, 450u);
  EXPECT_EQ(report.records, 300u);
}

TEST(EngineTest, ConcurrentLargeAndFailingCommitsAllLandOrFailAlone) {
  TempDir dir;
  auto engine = MustInit(dir.path(), nullptr);
  SpaceId space = engine->device().personal_space;
  constexpr int kThreads = 4, kRounds = 6, kEach = 80;
  std::vector<std::thread> threads;
  std::atomic<int> good{0}, refused{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::vector<Mutation> batch;
        for (int i = 0; i < kEach; ++i) {
          batch.push_back(Mutation::Create("journal", {{"text", "t" + std::to_string(t)}}));
        }
        // Every other commit of odd threads names a record that does not exist.
        bool fail = t % 2 == 1 && r % 2 == 0;
        if (fail) batch.push_back(Mutation::Delete("journal", "nosuchid"));
        auto result = engine->Commit(space, batch);
        if (result.ok()) {
          ++good;
        } else if (fail && result.status().code() == StatusCode::kNotFound) {
          ++refused;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(refused.load(), 2 * (kRounds / 2));
  EXPECT_EQ(good.load(), kThreads * kRounds - refused.load());
  const uint64_t ops = static_cast<uint64_t>(good.load()) * kEach;
  EXPECT_EQ(engine->Versions(space)->at(engine->device().id), ops);
  VerifyReport report;
  Status s = engine->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.ops, ops);
  EXPECT_EQ(report.records, ops);
}

// A copy of a home taken while its engine runs: what a crash would leave
// (the files, not what sat in memory).
void CopyLiveHome(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive |
                                      std::filesystem::copy_options::overwrite_existing);
}

// Whether the records column family of the store under `home` holds `key`,
// read straight from its files.
bool RecordKeyOnDisk(const std::string& home, const std::string& key) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : {"default", "oplog", "versions", "records", "index", "applied"}) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), home + "/db", cfs, &handles, &db).ok());
  if (!db) return false;
  std::string value;
  bool found = db->Get(rocksdb::ReadOptions(), handles[3], key, &value).ok();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return found;
}

std::string JournalKey(const SpaceId& space, const std::string& id) {
  std::string key(space.bytes());
  key.push_back(static_cast<char>(7));
  key.append("journal");
  key.append(id);
  return key;
}

TEST(EngineTest, RecordsLostInACrashAreRebuiltFromTheOpLogOnOpen) {
  TempDir dir, crashed;
  TestEnv env;
  auto engine = MustInit(dir.path(), &env);
  SpaceId space = engine->device().personal_space;
  auto early = AddMany(*engine, 5, "early");
  ASSERT_TRUE(engine->Commit(space, {Mutation::Purge("journal", early[1])}).ok());  // flushes
  auto ids = AddMany(*engine, 300, "late");
  ASSERT_TRUE(engine->Commit(space, {Mutation::Update("journal", early[0], {{"text", std::string("edited")}}),
                                     Mutation::Update("journal", ids[7], {{"mood", int64_t{5}}})}).ok());
  ASSERT_TRUE(engine->Commit(space, {Mutation::Delete("journal", ids[8])}).ok());
  CopyLiveHome(dir.path(), crashed.path());
  // The op log reached the files; the newest records did not.
  EXPECT_FALSE(RecordKeyOnDisk(crashed.path(), JournalKey(space, ids[0])));

  auto reopened = Engine::Open({.home = crashed.path(), .env = &env});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Engine& e = **reopened;
  EXPECT_EQ(e.Get(space, "journal", ids[0])->Text("text"), "late 0");
  EXPECT_EQ(e.Get(space, "journal", ids[299])->Text("text"), "late 299");
  EXPECT_EQ(e.Get(space, "journal", early[0])->Text("text"), "edited");
  EXPECT_EQ(e.Get(space, "journal", ids[7])->Int("mood"), 5);
  EXPECT_EQ(e.Get(space, "journal", ids[8]).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.Get(space, "journal", early[1]).status().code(), StatusCode::kNotFound);
  int live = 0;
  ASSERT_TRUE(e.Scan(space, "journal", [&](const Record&) { return ++live > 0; }).ok());
  EXPECT_EQ(live, 4 + 299);
  VerifyReport report;
  Status s = e.Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.records, 305u);
  // The log continues after the rebuild, and a second open finds nothing to do.
  AddText(e, "after");
  reopened->reset();
  auto again = Engine::Open({.home = crashed.path(), .env = &env});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->Versions(space)->at((*again)->device().id), 310u);
}

TEST(EngineTest, AStoreWithoutTheAppliedColumnFamilyIsAnOlderLayout) {
  TempDir dir;
  TestEnv env;
  { auto engine = MustInit(dir.path(), &env); }
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "oplog", "versions", "records", "index", "applied"}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.path() + "/db", cfs, &handles, &db).ok());
    ASSERT_TRUE(db->DropColumnFamily(handles[5]).ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto engine = Engine::Open({.home = dir.path(), .env = &env});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption);
  EXPECT_NE(engine.status().message().find("older layout"), std::string::npos)
      << engine.status().message();
}

}  // namespace
}  // namespace kindred
