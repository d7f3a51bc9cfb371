// Export as JSON Lines and import back: round trips, all-or-nothing checks
// of bad lines, skipping ids already present, and a large import.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "journal_fixture.h"
#include "kindred/journal.h"
#include "kindred/timefmt.h"

namespace kindred::testing {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// A second, independent device in its own fresh home.
struct OtherHome {
  OtherHome() {
    if (!dir.ok()) return;
    InitOptions init;
    init.engine.home = dir.Path("home");
    init.member_name = "Robin";
    auto e = Engine::Init(init);
    if (!e.ok()) {
      ADD_FAILURE() << e.status().ToString();
      return;
    }
    engine = std::move(*e);
    journal = std::make_unique<Journal>(*engine);
  }
  TempDir dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Journal> journal;
};

Result<ImportStats> ImportText(Journal& journal, const std::string& text) {
  std::istringstream in(text);
  return journal.Import(in, text.size(), nullptr);
}

class JournalImportExportTest : public JournalTest {
 protected:
  std::string ExportText() {
    std::ostringstream out;
    Status s = journal_->Export(out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out.str();
  }
  size_t Count() {
    auto entries = journal_->List({});
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? entries->size() : 0;
  }
};

// ---- Export ----------------------------------------------------------------

TEST_F(JournalImportExportTest, ExportOfAnEmptyJournalWritesNothing) {
  EXPECT_EQ(ExportText(), "");
}

TEST_F(JournalImportExportTest, ExportWritesOneCompleteJsonObjectPerEntryOldestFirst) {
  std::string a = MustAdd(Entry("first line\nsecond line", 5, {"a", "b"}, Visibility::kShared));
  NextMillisecond();
  std::string b = MustAdd(Entry("no mood"));

  std::vector<std::string> lines = Lines(ExportText());
  ASSERT_EQ(lines.size(), 2u);
  json first = json::parse(lines[0]);
  json second = json::parse(lines[1]);
  for (const char* key : {"id", "text", "mood", "tags", "visibility", "author", "device", "created",
                          "edited", "conflict"}) {
    EXPECT_TRUE(first.contains(key)) << key;
  }
  EXPECT_EQ(first["id"], a);
  EXPECT_EQ(first["text"], "first line\nsecond line");  // the newline is escaped, not split
  EXPECT_EQ(first["mood"], 5);
  EXPECT_EQ(first["tags"], json({"a", "b"}));
  EXPECT_EQ(first["visibility"], "shared");
  EXPECT_EQ(first["author"], "Alex");
  EXPECT_EQ(first["device"], engine_->device().id.ToString());
  EXPECT_EQ(first["conflict"], false);
  EXPECT_EQ(second["id"], b);
  EXPECT_TRUE(second["mood"].is_null());
  EXPECT_EQ(second["tags"], json::array());
  EXPECT_EQ(second["visibility"], "private");
  // Times parse back as ISO 8601 with an offset.
  EXPECT_TRUE(ParseIsoTime(first["created"].get<std::string>()).ok()) << first["created"];
  EXPECT_TRUE(ParseIsoTime(first["edited"].get<std::string>()).ok()) << first["edited"];
}

// ---- Round trip ------------------------------------------------------------

TEST_F(JournalImportExportTest,
       ExportThenImportIntoAFreshHomeKeepsTextsMoodsTagsVisibilityAndTimes) {
  int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  NewEntry old_entry = Entry("from two years ago", 2, {"past"}, Visibility::kShared);
  old_entry.created_micros = now - int64_t{730} * 24 * 3600 * 1000000;
  ASSERT_TRUE(journal_->AddMany({old_entry}).ok());
  MustAdd(Entry("Unicode: café, 日本, emoji \xF0\x9F\x92\x9C", 5, {"ünï", "two words"}));
  MustAdd(Entry("quotes \" and \\ backslash\nand a newline"));
  MustAdd(Entry("shared, moodless, tagless", std::nullopt, {}, Visibility::kShared));
  std::string edited = MustAdd(Entry("before edit", 3));
  ASSERT_TRUE(journal_->Edit(edited, "after edit").ok());

  auto original = journal_->List({});
  ASSERT_TRUE(original.ok());
  ASSERT_EQ(original->size(), 5u);
  std::string exported = ExportText();

  OtherHome other;
  ASSERT_TRUE(other.journal);
  auto stats = ImportText(*other.journal, exported);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 5u);
  EXPECT_EQ(stats->skipped, 0u);

  auto imported = other.journal->List({});
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ASSERT_EQ(imported->size(), original->size());
  std::map<std::string, JournalEntry> by_id;
  for (const auto& e : *imported) by_id[e.id] = e;
  for (const auto& want : *original) {
    SCOPED_TRACE(want.id);
    auto it = by_id.find(want.id);
    ASSERT_NE(it, by_id.end()) << "the import kept the entry's id";
    const JournalEntry& got = it->second;
    EXPECT_EQ(got.text, want.text);
    EXPECT_EQ(got.mood, want.mood);
    EXPECT_EQ(got.tags, want.tags);
    EXPECT_EQ(got.visibility, want.visibility);
    // The export format has whole seconds.
    EXPECT_EQ(FormatIsoLocal(got.created_micros), FormatIsoLocal(want.created_micros));
    EXPECT_EQ(got.created_micros / 1000000, want.created_micros / 1000000);
  }
  // Tags of imported entries are in the index too.
  auto past = other.journal->List({.tag = "past"});
  ASSERT_TRUE(past.ok());
  ASSERT_EQ(past->size(), 1u);
  EXPECT_EQ((*past)[0].text, "from two years ago");
  auto shared = other.journal->List({.visibility = Visibility::kShared});
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(shared->size(), 2u);
}

TEST_F(JournalImportExportTest, ExportThenImportKeepsTheOrderOfEntriesWrittenWithinOneSecond) {
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) {
    want.push_back("quick entry " + std::to_string(i));
    MustAdd(Entry(want.back()));
    NextMillisecond();
  }
  ASSERT_EQ(Texts(), want);
  std::string exported = ExportText();
  OtherHome other;
  ASSERT_TRUE(other.journal);
  ASSERT_TRUE(ImportText(*other.journal, exported).ok());
  auto imported = other.journal->List({});
  ASSERT_TRUE(imported.ok());
  std::vector<std::string> got;
  for (const auto& e : *imported) got.push_back(e.text);
  EXPECT_EQ(got, want);
}

TEST_F(JournalImportExportTest, ImportAcceptsMinimalLinesAndCrLfEndings) {
  std::string file =
      "{\"text\":\"only text\"}\r\n"
      "{\"text\":\"full\",\"mood\":1,\"tags\":[\"x\"],\"visibility\":\"shared\","
      "\"created\":\"2021-03-04T05:06:07Z\",\"id\":\"given-id\"}\r\n";
  auto stats = ImportText(*journal_, file);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 2u);
  auto full = journal_->Show("given-id");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->text, "full");
  EXPECT_EQ(full->mood, 1);
  EXPECT_THAT(full->tags, ElementsAre("x"));
  EXPECT_EQ(full->visibility, Visibility::kShared);
  EXPECT_EQ(full->created_micros, *ParseIsoTime("2021-03-04T05:06:07Z"));
  EXPECT_THAT(Texts(), ElementsAre("full", "only text"));  // 2021 is older than now
}

TEST_F(JournalImportExportTest, ImportIgnoresBlankLines) {
  auto stats = ImportText(*journal_, "\n{\"text\":\"a\"}\n   \n\t\n{\"text\":\"b\"}\n\n");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 2u);
  EXPECT_EQ(Count(), 2u);
}

// ---- A bad line changes nothing ---------------------------------------------

TEST_F(JournalImportExportTest, ImportWithABadLineInTheMiddleNamesTheLineAndImportsNothing) {
  const std::vector<std::string> bad_lines = {
      "{not json",
      "[\"an\", \"array\"]",
      "{\"mood\":3}",
      "{\"text\":\"\"}",
      "{\"text\":\"SECRET-WORDS\",\"mood\":9}",
      "{\"text\":\"SECRET-WORDS\",\"mood\":0}",
      "{\"text\":\"SECRET-WORDS\",\"mood\":\"happy\"}",
      "{\"text\":\"SECRET-WORDS\",\"tags\":\"not-a-list\"}",
      "{\"text\":\"SECRET-WORDS\",\"tags\":[\"\"]}",
      "{\"text\":\"SECRET-WORDS\",\"visibility\":\"public\"}",
      "{\"text\":\"SECRET-WORDS\",\"created\":\"yesterday\"}",
      "{\"text\":\"SECRET-WORDS\",\"id\":\"has a space\"}",
      "{\"text\":\"" + std::string(Journal::kMaxTextBytes + 1, 'x') + "\"}",
  };
  for (const auto& bad : bad_lines) {
    SCOPED_TRACE(bad.substr(0, 60));
    std::string file =
        "{\"text\":\"line one\"}\n"
        "{\"text\":\"line two\",\"id\":\"two\"}\n" +
        bad + "\n" +
        "{\"text\":\"line four\"}\n"
        "{\"text\":\"line five\"}\n";
    auto stats = ImportText(*journal_, file);
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(stats.status().message(), HasSubstr("line 3"));
    EXPECT_THAT(stats.status().message(), HasSubstr("nothing was imported"));
    EXPECT_THAT(stats.status().message(), Not(HasSubstr("SECRET-WORDS")));
    EXPECT_THAT(stats.status().message(), Not(HasSubstr("line one")));
    EXPECT_EQ(Count(), 0u);
    EXPECT_EQ(journal_->Show("two").status().code(), StatusCode::kNotFound);
  }
  VerifyReport report;
  ASSERT_TRUE(engine_->Verify(&report).ok());
  EXPECT_EQ(report.ops, 0u) << "no op was ever written";
}

TEST_F(JournalImportExportTest, BadLineNumbersCountBlankLines) {
  auto stats = ImportText(*journal_, "{\"text\":\"a\"}\n\n\n{\"text\":\"b\",\"mood\":7}\n");
  ASSERT_FALSE(stats.ok());
  EXPECT_THAT(stats.status().message(), HasSubstr("line 4"));
  EXPECT_EQ(Count(), 0u);
}

TEST_F(JournalImportExportTest, BadLastLineOfABigFileStillImportsNothing) {
  std::string file;
  for (int i = 0; i < 2500; ++i) file += "{\"text\":\"entry " + std::to_string(i) + "\"}\n";
  file += "{\"text\":\"bad\",\"mood\":6}\n";
  std::istringstream in(file);
  auto stats = journal_->Import(in, file.size(), nullptr, /*batch_size=*/100);
  ASSERT_FALSE(stats.ok());
  EXPECT_THAT(stats.status().message(), HasSubstr("line 2501"));
  EXPECT_EQ(Count(), 0u);
}

TEST_F(JournalImportExportTest, ImportLeavesExistingEntriesAloneWhenItFails) {
  MustAdd(Entry("already here"));
  auto stats = ImportText(*journal_, "{\"text\":\"new\"}\n{oops\n");
  ASSERT_FALSE(stats.ok());
  EXPECT_THAT(stats.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(Texts(), ElementsAre("already here"));
}

// ---- Skipping what is already here ------------------------------------------

TEST_F(JournalImportExportTest, ImportSkipsIdsAlreadyPresent) {
  MustAdd(Entry("one", 1));
  MustAdd(Entry("two", 2));
  MustAdd(Entry("three", 3));
  std::string exported = ExportText();

  // Into the same journal: everything is already here.
  auto again = ImportText(*journal_, exported);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->imported, 0u);
  EXPECT_EQ(again->skipped, 3u);
  EXPECT_EQ(Count(), 3u);

  // Into a fresh home twice: the second time imports nothing new.
  OtherHome other;
  ASSERT_TRUE(other.journal);
  auto first = ImportText(*other.journal, exported);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->imported, 3u);
  auto second = ImportText(*other.journal, exported + "{\"text\":\"four\",\"id\":\"four\"}\n");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->imported, 1u);
  EXPECT_EQ(second->skipped, 3u);
  auto list = other.journal->List({});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 4u);
}

TEST_F(JournalImportExportTest, ImportKeepsTheExistingEntryWhenAnIdIsAlreadyPresent) {
  NewEntry e = Entry("mine, edited later");
  e.id = "same-id";
  ASSERT_TRUE(journal_->Add(e).ok());
  auto stats =
      ImportText(*journal_, "{\"id\":\"same-id\",\"text\":\"from the file\",\"mood\":5}\n");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->skipped, 1u);
  auto kept = journal_->Show("same-id");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->text, "mine, edited later");
  EXPECT_EQ(kept->mood, std::nullopt);
}

TEST_F(JournalImportExportTest, ImportSkipsAnIdRepeatedWithinTheFile) {
  auto stats = ImportText(*journal_,
                          "{\"id\":\"dup\",\"text\":\"first\"}\n"
                          "{\"id\":\"dup\",\"text\":\"second\"}\n");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 1u);
  EXPECT_EQ(stats->skipped, 1u);
  EXPECT_EQ(journal_->Show("dup")->text, "first");
}

TEST_F(JournalImportExportTest, ImportSkipsTheIdOfARemovedEntryRatherThanResurrectingIt) {
  NewEntry e = Entry("removed");
  e.id = "gone";
  ASSERT_TRUE(journal_->Add(e).ok());
  ASSERT_TRUE(journal_->Remove("gone", false).ok());
  auto stats = ImportText(*journal_, "{\"id\":\"gone\",\"text\":\"removed\"}\n");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 0u);
  EXPECT_EQ(stats->skipped, 1u);
  EXPECT_EQ(journal_->Show("gone").status().code(), StatusCode::kNotFound);
}

TEST_F(JournalImportExportTest, LinesWithoutAnIdGetFreshIds) {
  auto stats = ImportText(*journal_, "{\"text\":\"same\"}\n{\"text\":\"same\"}\n");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 2u);
  auto list = journal_->List({});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_NE((*list)[0].id, (*list)[1].id);
}

// ---- Size ------------------------------------------------------------------

TEST_F(JournalImportExportTest, TenThousandLineImportCommitsEveryLineAndReportsProgress) {
  constexpr int kLines = 10000;
  std::string file;
  file.reserve(kLines * 80);
  for (int i = 0; i < kLines; ++i) {
    json line{{"text", "entry number " + std::to_string(i)},
              {"mood", i % 5 + 1},
              {"tags", {"t" + std::to_string(i % 10)}},
              {"visibility", i % 2 ? "shared" : "private"}};
    if (i % 2 == 0) line["id"] = "imp-" + std::to_string(i);
    file += line.dump() + "\n";
  }
  std::istringstream in(file);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  auto stats = journal_->Import(
      in, file.size(), [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, static_cast<uint64_t>(kLines));
  EXPECT_EQ(stats->skipped, 0u);

  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().first, file.size());
  EXPECT_EQ(progress.back().second, file.size());
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_LE(progress[i - 1].first, progress[i].first);

  EXPECT_EQ(Count(), static_cast<size_t>(kLines));
  auto t3 = journal_->List({.tag = "t3"});
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(t3->size(), static_cast<size_t>(kLines / 10));
  auto shared = journal_->List({.visibility = Visibility::kShared});
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(shared->size(), static_cast<size_t>(kLines / 2));
  auto e = journal_->Show("imp-9998");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->text, "entry number 9998");
  EXPECT_EQ(e->mood, 4);

  VerifyReport report;
  Status s = engine_->Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.ops, static_cast<uint64_t>(kLines));
}

}  // namespace
}  // namespace kindred::testing
