// The journal over a real engine in a temporary home: adding, reading,
// editing, removing, filtering, validation and purging.
#include "kindred/journal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "engine/store/store.h"
#include "journal_fixture.h"
#include "kindred/v1/store.pb.h"

namespace kindred::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kDay = int64_t{24} * 3600 * 1000000;

// ---- Add, show, list -------------------------------------------------------

TEST_F(JournalTest, AddedEntryShowsWithEveryFieldItWasGiven) {
  int64_t before = NowMicros();
  std::string id =
      MustAdd(Entry("We walked to the lighthouse.", 4, {"walks", "sea"}, Visibility::kShared));
  ASSERT_FALSE(id.empty());

  auto e = journal_->Show(id);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->id, id);
  EXPECT_EQ(e->text, "We walked to the lighthouse.");
  EXPECT_EQ(e->mood, 4);
  EXPECT_THAT(e->tags, ElementsAre("walks", "sea"));
  EXPECT_EQ(e->visibility, Visibility::kShared);
  EXPECT_EQ(e->author, "Alex");
  EXPECT_EQ(e->device, engine_->device().id);
  EXPECT_FALSE(e->conflict);
  EXPECT_THAT(e->versions, IsEmpty());
  // Created now (the engine keeps millisecond clocks), and not edited since.
  EXPECT_GE(e->created_micros, before - 1000);
  EXPECT_LE(e->created_micros, NowMicros() + 1000);
  EXPECT_EQ(e->edited_micros, e->created_micros);
}

TEST_F(JournalTest, EntryWithoutMoodOrTagsIsPrivateByDefault) {
  std::string id = MustAdd(Entry("Quiet day."));
  auto e = journal_->Show(id);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->mood, std::nullopt);
  EXPECT_THAT(e->tags, IsEmpty());
  EXPECT_EQ(e->visibility, Visibility::kPrivate);
}

TEST_F(JournalTest, EachAddedEntryGetsADistinctId) {
  std::string a = MustAdd(Entry("one"));
  std::string b = MustAdd(Entry("two"));
  std::string c = MustAdd(Entry("one"));
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
}

TEST_F(JournalTest, ListReturnsEveryEntryOldestFirst) {
  EXPECT_THAT(Texts(), IsEmpty());
  MustAdd(Entry("first"));
  NextMillisecond();
  MustAdd(Entry("second"));
  NextMillisecond();
  MustAdd(Entry("third"));
  EXPECT_THAT(Texts(), ElementsAre("first", "second", "third"));
}

TEST_F(JournalTest, EntriesWrittenInTheSameMillisecondListInTheOrderTheyWereWritten) {
  std::vector<NewEntry> batch;
  std::vector<std::string> want;
  for (int i = 0; i < 20; ++i) {
    want.push_back("entry " + std::to_string(i));
    batch.push_back(Entry(want.back()));
  }
  ASSERT_TRUE(journal_->AddMany(batch).ok());
  EXPECT_EQ(Texts(), want);
}

TEST_F(JournalTest, EntriesSurviveClosingAndReopeningTheHome) {
  std::string id = MustAdd(Entry("kept on disk", 2, {"durable"}));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  auto e = journal_->Show(id);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->text, "kept on disk");
  EXPECT_EQ(e->mood, 2);
  EXPECT_THAT(e->tags, ElementsAre("durable"));
  EXPECT_THAT(Texts({.tag = "durable"}), ElementsAre("kept on disk"));
}

TEST_F(JournalTest, ShowOfAnUnknownIdIsNotFoundAndNamesTheId) {
  auto e = journal_->Show("nosuchentry");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), HasSubstr("nosuchentry"));
}

// ---- Edit ------------------------------------------------------------------

TEST_F(JournalTest, EditReplacesTheTextAndKeepsEverythingElse) {
  std::string id = MustAdd(Entry("draft", 3, {"ideas"}, Visibility::kShared));
  auto before = journal_->Show(id);
  ASSERT_TRUE(before.ok());

  ASSERT_TRUE(journal_->Edit(id, "final words").ok());

  auto after = journal_->Show(id);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->text, "final words");
  EXPECT_EQ(after->mood, 3);
  EXPECT_THAT(after->tags, ElementsAre("ideas"));
  EXPECT_EQ(after->visibility, Visibility::kShared);
  EXPECT_EQ(after->created_micros, before->created_micros);
  EXPECT_GE(after->edited_micros, before->created_micros);
  EXPECT_FALSE(after->conflict);
  EXPECT_THAT(Texts(), ElementsAre("final words"));
}

TEST_F(JournalTest, EditOfAnUnknownIdIsNotFound) {
  Status s = journal_->Edit("nosuchentry", "text");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_THAT(Texts(), IsEmpty());
}

TEST_F(JournalTest, EditToEmptyOrOverLongTextIsRefusedAndKeepsTheOldText) {
  std::string id = MustAdd(Entry("original"));
  EXPECT_EQ(journal_->Edit(id, "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(journal_->Edit(id, std::string(Journal::kMaxTextBytes + 1, 'x')).code(),
            StatusCode::kInvalidArgument);
  auto e = journal_->Show(id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->text, "original");
}

TEST_F(JournalTest, EditOfARemovedEntryIsNotFound) {
  std::string id = MustAdd(Entry("gone soon"));
  ASSERT_TRUE(journal_->Remove(id, false).ok());
  EXPECT_EQ(journal_->Edit(id, "back?").code(), StatusCode::kNotFound);
}

// ---- Remove ----------------------------------------------------------------

TEST_F(JournalTest, RemovedEntryIsGoneFromShowListAndTagFilter) {
  std::string keep = MustAdd(Entry("keep me", std::nullopt, {"t"}));
  std::string drop = MustAdd(Entry("drop me", std::nullopt, {"t"}));
  ASSERT_TRUE(journal_->Remove(drop, false).ok());

  EXPECT_EQ(journal_->Show(drop).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(journal_->Show(keep).ok());
  EXPECT_THAT(Texts(), ElementsAre("keep me"));
  EXPECT_THAT(Texts({.tag = "t"}), ElementsAre("keep me"));
}

TEST_F(JournalTest, RemovingAnUnknownIdOrTheSameEntryTwiceIsNotFound) {
  EXPECT_EQ(journal_->Remove("nosuchentry", false).code(), StatusCode::kNotFound);
  EXPECT_EQ(journal_->Remove("nosuchentry", true).code(), StatusCode::kNotFound);
  std::string id = MustAdd(Entry("once"));
  ASSERT_TRUE(journal_->Remove(id, false).ok());
  EXPECT_EQ(journal_->Remove(id, false).code(), StatusCode::kNotFound);
  EXPECT_EQ(journal_->Remove(id, true).code(), StatusCode::kNotFound);
}

// ---- Purge -----------------------------------------------------------------

TEST_F(JournalTest, PurgedEntryIsGoneAndVerifyPassesReportingThePurgedOps) {
  std::string secret = MustAdd(Entry("purge this", 1, {"private-thing"}));
  ASSERT_TRUE(journal_->Edit(secret, "purge this too").ok());
  MustAdd(Entry("stays"));

  ASSERT_TRUE(journal_->Remove(secret, /*purge=*/true).ok());

  EXPECT_EQ(journal_->Show(secret).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(Texts(), ElementsAre("stays"));
  EXPECT_THAT(Texts({.tag = "private-thing"}), IsEmpty());

  VerifyReport report;
  Status s = engine_->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // create + edit of the purged entry, create of the other, and the purge.
  EXPECT_EQ(report.ops, 4u);
  EXPECT_EQ(report.purged, 2u);
  EXPECT_EQ(report.decrypted, 2u);
  EXPECT_GE(report.signatures, 1u);
}

TEST_F(JournalTest, PurgeSurvivesReopeningAndVerifyStillPasses) {
  std::string id = MustAdd(Entry("ephemeral"));
  ASSERT_TRUE(journal_->Remove(id, true).ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(journal_->Show(id).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(Texts(), IsEmpty());
  VerifyReport report;
  Status s = engine_->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.purged, 1u);
  EXPECT_EQ(report.ops, 2u);
}

// Every op of this device's personal space as sync would send it, by seq.
std::map<uint64_t, v1::OpEnvelope> Ops(Engine& engine) {
  std::map<uint64_t, v1::OpEnvelope> out;
  Status s = engine.ReadMissing(engine.device().personal_space, {}, 1000, [&](OpBatch&& batch) {
    for (size_t i = 0; i < batch.ops.size(); ++i) {
      v1::OpEnvelope op;
      EXPECT_TRUE(op.ParseFromString(batch.ops[i]));
      out[batch.first_seq + i] = op;
    }
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// The sealed state of the record whose id is `id`, read from the closed
// home's store (records column family, key ending in the id).
std::string SealedRecordState(const std::string& home, const std::string& id) {
  auto db = store::Store::Open(home + "/db", {});
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return "";
  std::string found;
  auto cursor = (*db)->NewCursor(store::Cf::kRecords);
  for (cursor->SeekToFirst(); cursor->Valid(); cursor->Next()) {
    std::string_view key = cursor->key();
    if (key.size() > id.size() && key.substr(key.size() - id.size()) == id) {
      found = std::string(cursor->value());
    }
  }
  return found;
}

// Whether any file under `dir` holds `needle`.
bool OnDisk(const std::string& dir, const std::string& needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "LOCK") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

// A window from the middle of some bytes, as it would sit in any file.
std::string Window(const std::string& bytes) { return bytes.substr(bytes.size() / 2, 32); }

TEST_F(JournalTest, PurgeErasesTheEntrysCiphertextFromEveryFileInTheHome) {
  // Long texts, so each op's ciphertext is long enough to search for.
  std::string doomed = MustAdd(Entry(std::string(3000, 'a') + " purge me"));
  ASSERT_TRUE(journal_->Edit(doomed, std::string(3000, 'b') + " and this edit").ok());
  std::string kept = MustAdd(Entry(std::string(3000, 'c') + " keep me"));
  std::map<uint64_t, v1::OpEnvelope> before = Ops(*engine_);
  ASSERT_EQ(before.size(), 3u);
  journal_.reset();
  engine_.reset();

  std::string doomed_state = SealedRecordState(home_, doomed);
  ASSERT_GT(doomed_state.size(), 64u);
  for (const auto& [seq, op] : before) {
    ASSERT_GT(op.ciphertext().size(), 64u);
    ASSERT_TRUE(OnDisk(home_, Window(op.ciphertext())))
        << "the scan finds ciphertext that is there";
  }
  ASSERT_TRUE(OnDisk(home_, Window(doomed_state)));

  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_TRUE(journal_->Remove(doomed, /*purge=*/true).ok());
  std::map<uint64_t, v1::OpEnvelope> after = Ops(*engine_);
  journal_.reset();
  engine_.reset();

  ASSERT_EQ(after.size(), 4u);
  for (uint64_t seq : {1u, 2u}) {  // the create and the edit of the purged entry
    EXPECT_TRUE(after[seq].purged()) << "op " << seq;
    EXPECT_TRUE(after[seq].ciphertext().empty()) << "op " << seq;
    EXPECT_FALSE(OnDisk(home_, Window(before[seq].ciphertext())))
        << "the ciphertext of purged op " << seq << " is still in a file of the home";
  }
  EXPECT_FALSE(after[3].purged());
  EXPECT_EQ(after[3].ciphertext(), before[3].ciphertext()) << "other ops are untouched";
  EXPECT_TRUE(OnDisk(home_, Window(before[3].ciphertext())));
  EXPECT_FALSE(OnDisk(home_, Window(doomed_state)))
      << "the entry's old sealed state is still in a file of the home";

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(journal_->Show(kept)->text, std::string(3000, 'c') + " keep me");
  VerifyReport report;
  EXPECT_TRUE(engine_->Verify(&report).ok());
  EXPECT_EQ(report.purged, 2u);
}

TEST_F(JournalTest, PurgeAfterAPlainRemoveIsNotFound) {
  // A removed entry can no longer be purged: the documented way to erase an
  // entry's text is `rm --purge` in the first place.
  std::string id = MustAdd(Entry("removed first"));
  ASSERT_TRUE(journal_->Remove(id, false).ok());
  EXPECT_EQ(journal_->Remove(id, true).code(), StatusCode::kNotFound);
  VerifyReport report;
  ASSERT_TRUE(engine_->Verify(&report).ok());
  EXPECT_EQ(report.purged, 0u);
}

TEST_F(JournalTest, VerifyOnAFreshHomePassesWithNothingToCheck) {
  VerifyReport report;
  Status s = engine_->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.ops, 0u);
  EXPECT_EQ(report.purged, 0u);
}

// ---- Filters ---------------------------------------------------------------

TEST_F(JournalTest, ListFiltersByVisibility) {
  MustAdd(Entry("mine", std::nullopt, {}, Visibility::kPrivate));
  NextMillisecond();
  MustAdd(Entry("ours", std::nullopt, {}, Visibility::kShared));
  NextMillisecond();
  MustAdd(Entry("mine again", std::nullopt, {}, Visibility::kPrivate));

  EXPECT_THAT(Texts({.visibility = Visibility::kShared}), ElementsAre("ours"));
  EXPECT_THAT(Texts({.visibility = Visibility::kPrivate}), ElementsAre("mine", "mine again"));
  EXPECT_THAT(Texts(), ElementsAre("mine", "ours", "mine again"));
}

TEST_F(JournalTest, ListFiltersByExactTagThroughTheIndex) {
  MustAdd(Entry("run", std::nullopt, {"work", "sport"}));
  NextMillisecond();
  MustAdd(Entry("gym", std::nullopt, {"workout"}));
  NextMillisecond();
  MustAdd(Entry("meeting", std::nullopt, {"work"}));
  MustAdd(Entry("untagged"));

  EXPECT_THAT(Texts({.tag = "work"}), ElementsAre("run", "meeting"));
  EXPECT_THAT(Texts({.tag = "workout"}), ElementsAre("gym"));
  EXPECT_THAT(Texts({.tag = "sport"}), ElementsAre("run"));
  EXPECT_THAT(Texts({.tag = "wor"}), IsEmpty());   // no prefix matches
  EXPECT_THAT(Texts({.tag = "Work"}), IsEmpty());  // tags are case-sensitive
  EXPECT_THAT(Texts({.tag = "absent"}), IsEmpty());
}

TEST_F(JournalTest, ListFiltersBySinceTime) {
  int64_t now = NowMicros();
  NewEntry old_entry = Entry("last year");
  old_entry.created_micros = now - 365 * kDay;
  NewEntry last_week = Entry("last week");
  last_week.created_micros = now - 7 * kDay;
  ASSERT_TRUE(journal_->AddMany({old_entry, last_week}).ok());
  MustAdd(Entry("today"));

  EXPECT_THAT(Texts(), ElementsAre("last year", "last week", "today"));
  EXPECT_THAT(Texts({.since_micros = now - 30 * kDay}), ElementsAre("last week", "today"));
  EXPECT_THAT(Texts({.since_micros = now - kDay}), ElementsAre("today"));
  EXPECT_THAT(Texts({.since_micros = now + kDay}), IsEmpty());
  // "since" includes an entry written at exactly that time.
  EXPECT_THAT(Texts({.since_micros = now - 7 * kDay}), ElementsAre("last week", "today"));
}

TEST_F(JournalTest, ListCombinesVisibilityTagAndSince) {
  int64_t now = NowMicros();
  NewEntry old_shared = Entry("old shared", std::nullopt, {"us"}, Visibility::kShared);
  old_shared.created_micros = now - 10 * kDay;
  ASSERT_TRUE(journal_->AddMany({old_shared}).ok());
  MustAdd(Entry("new shared", std::nullopt, {"us"}, Visibility::kShared));
  MustAdd(Entry("new private", std::nullopt, {"us"}, Visibility::kPrivate));
  MustAdd(Entry("new shared other tag", std::nullopt, {"them"}, Visibility::kShared));

  JournalFilter filter{.visibility = Visibility::kShared, .tag = "us", .since_micros = now - kDay};
  EXPECT_THAT(Texts(filter), ElementsAre("new shared"));
}

// ---- Validation ------------------------------------------------------------

TEST(JournalValidateTest, AcceptsAnOrdinaryEntryAndTheEdgesOfEachRange) {
  NewEntry e;
  e.text = "fine";
  EXPECT_TRUE(Journal::Validate(e).ok());
  e.mood = 1;
  EXPECT_TRUE(Journal::Validate(e).ok());
  e.mood = 5;
  EXPECT_TRUE(Journal::Validate(e).ok());
  e.text = std::string(Journal::kMaxTextBytes, 'x');
  EXPECT_TRUE(Journal::Validate(e).ok());
  e.tags = {std::string(64, 't')};
  EXPECT_TRUE(Journal::Validate(e).ok());
}

TEST(JournalValidateTest, RejectsEmptyText) {
  NewEntry e;
  Status s = Journal::Validate(e);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("empty"));
}

TEST(JournalValidateTest, RejectsMoodZeroAndSix) {
  NewEntry e;
  e.text = "x";
  for (int mood : {0, 6, -1, 9}) {
    e.mood = mood;
    Status s = Journal::Validate(e);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "mood " << mood;
    EXPECT_THAT(s.message(), HasSubstr("mood")) << "mood " << mood;
    EXPECT_THAT(s.message(), HasSubstr(std::to_string(mood))) << "mood " << mood;
  }
}

TEST(JournalValidateTest, RejectsAnEmptyOrOverLongTag) {
  NewEntry e;
  e.text = "x";
  e.tags = {"fine", ""};
  Status s = Journal::Validate(e);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("tag"));
  e.tags = {std::string(65, 't')};
  EXPECT_EQ(Journal::Validate(e).code(), StatusCode::kInvalidArgument);
}

TEST(JournalValidateTest, RejectsTextOverSixtyFourKiBWithoutEchoingIt) {
  NewEntry e;
  e.text = std::string(Journal::kMaxTextBytes, 'x') + "SECRET";
  Status s = Journal::Validate(e);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("64 KiB"));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("SECRET")));
}

TEST(JournalValidateTest, RejectsAnIdWithCharactersOutsideLettersDigitsDashAndUnderscore) {
  NewEntry e;
  e.text = "x";
  e.id = "ok_id-1";
  EXPECT_TRUE(Journal::Validate(e).ok());
  for (const std::string& bad :
       std::vector<std::string>{"has space", "slash/", "dot.", std::string(65, 'a')}) {
    e.id = bad;
    EXPECT_EQ(Journal::Validate(e).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(JournalTest, AddOfAnInvalidEntryWritesNothing) {
  EXPECT_EQ(journal_->Add(Entry("")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(journal_->Add(Entry("x", 0)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(journal_->Add(Entry("x", 6)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(journal_->Add(Entry("x", std::nullopt, {""})).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(journal_->Add(Entry(std::string(Journal::kMaxTextBytes + 1, 'x'))).status().code(),
            StatusCode::kInvalidArgument);

  EXPECT_THAT(Texts(), IsEmpty());
  VerifyReport report;
  ASSERT_TRUE(engine_->Verify(&report).ok());
  EXPECT_EQ(report.ops, 0u);
}

TEST_F(JournalTest, AddManyWithOneInvalidEntryWritesNoneOfThem) {
  auto ids = journal_->AddMany({Entry("good"), Entry("bad", 6), Entry("also good")});
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Texts(), IsEmpty());
}

TEST_F(JournalTest, AddManyReturnsOneIdPerEntryInOrder) {
  auto ids = journal_->AddMany({Entry("a"), Entry("b"), Entry("c")});
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ(journal_->Show((*ids)[0])->text, "a");
  EXPECT_EQ(journal_->Show((*ids)[1])->text, "b");
  EXPECT_EQ(journal_->Show((*ids)[2])->text, "c");
}

TEST_F(JournalTest, AddWithAnIdThatIsAlreadyTakenIsRefused) {
  NewEntry e = Entry("first");
  e.id = "fixed-id";
  ASSERT_TRUE(journal_->Add(e).ok());
  e.text = "second";
  EXPECT_EQ(journal_->Add(e).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(journal_->Show("fixed-id")->text, "first");
}

// ---- A passphrase-sealed home ----------------------------------------------

TEST(JournalSealedHomeTest, EntriesAreReadableOnlyWithTheRightPassphrase) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string home = dir.Path("home");
  std::string id;
  {
    InitOptions init;
    init.engine.home = home;
    init.engine.passphrase = "correct horse";
    init.member_name = "Sam";
    init.strength = PassphraseStrength::kInteractive;
    auto engine = Engine::Init(init);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_TRUE((*engine)->device().keys_protected);
    Journal journal(**engine);
    auto added = journal.Add({.text = "sealed words"});
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    id = *added;
  }
  auto wrong = Engine::Open({.home = home, .passphrase = "wrong horse"});
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  auto none = Engine::Open({.home = home});
  EXPECT_EQ(none.status().code(), StatusCode::kUnauthenticated);

  auto right = Engine::Open({.home = home, .passphrase = "correct horse"});
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_TRUE((*right)->device().keys_protected);
  Journal journal(**right);
  auto e = journal.Show(id);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->text, "sealed words");
  EXPECT_EQ(e->author, "Sam");
}

}  // namespace
}  // namespace kindred::testing
