#include "kindred/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/core/engine_impl.h"
#include "engine/log/oplog.h"
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
  auto* db = impl->StoreForTest()->RawForTest();
  auto* cf = impl->StoreForTest()->HandleForTest(store::Cf::kOplog);
  std::string key = log::OpKey(space, me, 1);
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf, key, &value).ok());
  value[value.size() / 2] ^= 0x20;
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, key, value).ok());
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

}  // namespace
}  // namespace kindred
