// Every error path of the CLI contract: exit 1 with a message naming what
// was wrong for bad input or usage; exit 2 for a store that cannot be opened
// or is corrupt, which is never silently re-initialised; a busy store; a
// home with no device.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "kindred/engine.h"

namespace kindred::cli_testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr int kUsage = 1;
constexpr int kStore = 2;

class CliErrorTest : public CliTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CliTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(InitHome());
    existing_ = Add({"--tag", "kept", "an entry that must survive every failure"});
    ASSERT_FALSE(existing_.empty());
  }

  // The journal as --json list shows it.
  std::string JournalDump() { return RunHome({"--json", "journal", "list"}).out; }

  std::string existing_;
};

// ---- Exit 1: bad input or usage ---------------------------------------------------

struct UsageCase {
  std::vector<std::string> args;    // after --home HOME
  std::vector<std::string> naming;  // what the message must mention
  std::optional<std::string> input = std::nullopt;
};

TEST_F(CliErrorTest, BadInputExitsOneWithAMessageNamingTheProblemAndChangesNothing) {
  std::string missing = TempPath("no-such-file.jsonl");
  const std::vector<UsageCase> cases = {
      {{"journal", "add"}, {"text"}},
      {{"journal", "add", "--mood", "9", "x"}, {"--mood", "9"}},
      {{"journal", "add", "--mood", "0", "x"}, {"--mood", "0"}},
      {{"journal", "add", "--mood", "6", "x"}, {"--mood", "6"}},
      {{"journal", "add", "--mood", "happy", "x"}, {"--mood", "happy"}},
      {{"journal", "add", "--tag", "", "x"}, {"tag", "empty"}},
      {{"journal", "add", ""}, {"text"}},
      {{"journal", "add", "-"}, {"text", "empty"}, std::string("")},
      {{"journal", "add", "-"}, {"64 KiB"}, std::string(64 * 1024 + 1, 'x')},
      {{"journal", "add", "--private", "x"}, {"--private"}},
      {{"journal", "show"}, {"id"}},
      {{"journal", "show", "nosuchid"}, {"nosuchid"}},
      {{"journal", "edit", "nosuchid", "new text"}, {"nosuchid"}},
      {{"journal", "edit", "nosuchid"}, {"text"}},
      {{"journal", "rm", "nosuchid"}, {"nosuchid"}},
      {{"journal", "rm", "--purge", "nosuchid"}, {"nosuchid"}},
      {{"journal", "list", "--since", "yesterday"}, {"--since", "yesterday"}},
      {{"journal", "list", "--since", "2024-13-01"}, {"--since", "2024-13-01"}},
      {{"journal", "list", "--since", "2024-01-01T10:00"}, {"--since", "offset"}},
      {{"journal", "list", "--shared", "--private"}, {"--shared", "--private"}},
      {{"journal", "list", "extra"}, {"extra"}},
      {{"journal", "import", missing}, {missing}},
      {{"journal", "import"}, {"file"}},
      {{"journal"}, {"command"}},
      {{}, {"command"}},
      {{"--bogus", "status"}, {"--bogus"}},
      {{"init"}, {"--name"}},
  };
  const std::string before = JournalDump();
  for (const auto& c : cases) {
    std::string shown;
    for (const auto& a : c.args) shown += "'" + a.substr(0, 20) + "' ";
    SCOPED_TRACE("kindred --home HOME " + shown);
    CliResult r = RunHome(c.args, {}, c.input);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, StartsWith("kindred: ")) << r;
    for (const auto& word : c.naming) EXPECT_THAT(r.err, HasSubstr(word)) << r;
    EXPECT_THAT(r.out, IsEmpty()) << r;
  }
  EXPECT_EQ(JournalDump(), before);
  EXPECT_EQ(json::parse(JournalDump()).size(), 1u);
}

TEST_F(CliErrorTest, EditToEmptyTextExitsOneAndKeepsTheOldText) {
  CliResult r = RunHome({"journal", "edit", existing_, "-"}, {}, std::string("\n"));
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("empty"));
  json shown = json::parse(RunHome({"--json", "journal", "show", existing_}).out);
  EXPECT_EQ(shown["text"], "an entry that must survive every failure");
}

TEST_F(CliErrorTest, UnknownCommandExitsOneWithAMessage) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"frobnicate"}, {"journal", "frobnicate"}, {"frobnicate", "journal", "list"}}) {
    CliResult r = RunHome(args);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, StartsWith("kindred: ")) << r;
    EXPECT_THAT(r.err, HasSubstr("--help")) << r;
    EXPECT_THAT(r.out, IsEmpty());
  }
}

TEST_F(CliErrorTest, UnknownCommandMessageNamesTheCommand) {
  CliResult r = RunHome({"frobnicate"});
  EXPECT_THAT(r.err, HasSubstr("frobnicate"));
  CliResult sub = RunHome({"journal", "frobnicate"});
  EXPECT_THAT(sub.err, HasSubstr("frobnicate"));
}

TEST_F(CliErrorTest, ImportWithABadLineNamesTheLineAndImportsNothing) {
  std::string file = TempPath("bad.jsonl");
  WriteFileOrFail(file,
                  "{\"text\":\"good one\"}\n"
                  "{\"text\":\"good two\",\"tags\":[\"t\"]}\n"
                  "\n"
                  "{\"text\":\"bad\",\"mood\":9}\n"
                  "{\"text\":\"good five\"}\n");
  const std::string before = JournalDump();
  CliResult r = RunHome({"journal", "import", file});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("line 4"));
  EXPECT_THAT(r.err, HasSubstr(file));
  EXPECT_THAT(r.err, HasSubstr("nothing was imported"));
  EXPECT_EQ(JournalDump(), before);

  WriteFileOrFail(file, "{\"text\":\"fine\"}\n{\"text\": unquoted}\n");
  CliResult syntax = RunHome({"--json", "journal", "import", file});
  EXPECT_EQ(syntax.exit_code, kUsage) << syntax;
  EXPECT_THAT(syntax.err, HasSubstr("line 2"));
  EXPECT_EQ(JournalDump(), before);
}

TEST_F(CliErrorTest, ImportOfADirectoryIsBadInputNotABrokenStore) {
  CliResult r = RunHome({"journal", "import", TempPath("")});
  EXPECT_EQ(r.exit_code, kUsage) << r;
}

TEST_F(CliErrorTest, ExportToAnUnwritablePlaceExitsOneNamingIt) {
  std::string out = TempPath("no/such/dir/export.jsonl");
  CliResult r = RunHome({"journal", "export", "--out", out});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr(out));
  EXPECT_FALSE(fs::exists(out));
}

// ---- A home with no device ---------------------------------------------------------

TEST_F(CliTest, EveryCommandOnAHomeWithNoDeviceSaysToRunInitFirst) {
  std::string file = TempPath("in.jsonl");
  WriteFileOrFail(file, "{\"text\":\"x\"}\n");
  const std::vector<std::vector<std::string>> commands = {
      {"id"},
      {"status"},
      {"verify"},
      {"journal", "list"},
      {"journal", "add", "x"},
      {"journal", "show", "abc"},
      {"journal", "edit", "abc", "x"},
      {"journal", "rm", "abc"},
      {"journal", "import", file},
      {"journal", "export"},
  };
  for (const auto& args : commands) {
    SCOPED_TRACE(args[args.size() > 1 ? 1 : 0]);
    CliResult r = RunHome(args);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, HasSubstr("kindred init")) << r;
    EXPECT_FALSE(fs::exists(home())) << "a failed command must not create the home";
  }
  // The same through $KINDRED_HOME, with an existing but empty directory.
  fs::create_directories(home());
  CliResult r = Run({"journal", "list"}, {{"KINDRED_HOME", home()}});
  EXPECT_EQ(r.exit_code, kUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("kindred init"));
  EXPECT_THAT(Changes({}, Snapshot(home())), IsEmpty());
}

// ---- init on an existing home ----------------------------------------------------------

TEST_F(CliErrorTest, InitOnAnExistingHomeFailsClearlyAndChangesNothing) {
  const std::string id_before = RunHome({"--json", "id"}).out;
  const std::string key_before = ReadFileOrEmpty(KeyFile());
  ASSERT_FALSE(key_before.empty());
  const auto files_before = Snapshot(home());

  for (const auto& extra : std::vector<std::map<std::string, std::string>>{
           {}, {{"KINDRED_PASSPHRASE", "now with one"}, {"KINDRED_KDF", "interactive"}}}) {
    CliResult r = RunHome({"init", "--name", "Someone Else"}, extra);
    EXPECT_EQ(r.exit_code, kUsage) << r;
    EXPECT_THAT(r.err, HasSubstr("already exists"));
    EXPECT_THAT(r.err, HasSubstr("nothing was changed"));
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_EQ(ReadFileOrEmpty(KeyFile()), key_before) << "the key file is byte for byte the same";
    EXPECT_THAT(Changes(files_before, Snapshot(home())), IsEmpty())
        << "no file in the home changed";
  }
  CliResult json_init = RunHome({"--json", "init", "--name", "Again"});
  EXPECT_EQ(json_init.exit_code, kUsage) << json_init;
  EXPECT_EQ(ReadFileOrEmpty(KeyFile()), key_before);

  EXPECT_EQ(RunHome({"--json", "id"}).out, id_before);
  EXPECT_THAT(JournalDump(), HasSubstr(existing_));
}

// ---- Exit 2: a store that cannot be opened or is corrupt -------------------------------------

struct Damage {
  std::string name;
  std::function<void(const std::string& home)> apply;
};

void Garble(const std::string& path, size_t offset, size_t n) {
  std::string bytes = ReadFileOrEmpty(path);
  if (bytes.size() <= offset) offset = bytes.size() / 2;
  for (size_t i = offset; i < bytes.size() && i < offset + n; ++i)
    bytes[i] = static_cast<char>(~bytes[i]);
  WriteFileOrFail(path, bytes);
}

std::vector<std::string> DbFiles(const std::string& home, const std::string& suffix_or_prefix,
                                 bool prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(home + "/db")) {
    std::string name = e.path().filename().string();
    bool match = prefix ? name.rfind(suffix_or_prefix, 0) == 0
                        : name.size() >= suffix_or_prefix.size() &&
                              name.compare(name.size() - suffix_or_prefix.size(),
                                           suffix_or_prefix.size(), suffix_or_prefix) == 0;
    if (match) out.push_back(e.path().string());
  }
  return out;
}

// The files of a RocksDB store under HOME/db: everything but the lock and
// the informational logs, which RocksDB writes even on an open that fails.
std::vector<std::string> StoreFiles(const std::string& home) {
  std::vector<std::string> out;
  for (const auto& [name, bytes] : SnapshotWithoutInfoLogs(home + "/db")) {
    if (name != "LOCK") out.push_back(name);
  }
  return out;
}

const std::vector<Damage>& Damages() {
  static const std::vector<Damage> damages = {
      {"the whole db/ directory deleted", [](const std::string& h) { fs::remove_all(h + "/db"); }},
      {"db/CURRENT deleted", [](const std::string& h) { fs::remove(h + "/db/CURRENT"); }},
      {"db/CURRENT garbled",
       [](const std::string& h) { WriteFileOrFail(h + "/db/CURRENT", "garbage\n"); }},
      {"every MANIFEST garbled",
       [](const std::string& h) {
         auto files = DbFiles(h, "MANIFEST-", true);
         ASSERT_FALSE(files.empty());
         for (const auto& f : files) Garble(f, 10, 32);
       }},
      {"every table file deleted",
       [](const std::string& h) {
         auto files = DbFiles(h, ".sst", false);
         ASSERT_FALSE(files.empty());
         for (const auto& f : files) fs::remove(f);
       }},
      {"every table file garbled",
       [](const std::string& h) {
         auto files = DbFiles(h, ".sst", false);
         ASSERT_FALSE(files.empty());
         for (const auto& f : files) Garble(f, 64, 64);
       }},
      {"device.key garbled",
       [](const std::string& h) { WriteFileOrFail(h + "/device.key", std::string(156, '\x5a')); }},
      {"device.key truncated",
       [](const std::string& h) {
         std::string key = ReadFileOrEmpty(h + "/device.key");
         WriteFileOrFail(h + "/device.key", key.substr(0, key.size() / 2));
       }},
      {"device.key emptied", [](const std::string& h) { WriteFileOrFail(h + "/device.key", ""); }},
      {"device.key deleted (a store without keys)",
       [](const std::string& h) { fs::remove(h + "/device.key"); }},
  };
  return damages;
}

class CliCorruptStoreTest : public CliErrorTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(CliCorruptStoreTest, ExitsTwoAndNeverReinitialisesTheHome) {
  const Damage& damage = Damages()[GetParam()];
  SCOPED_TRACE(damage.name);
  // A second entry, so there is more than one write in the store.
  ASSERT_FALSE(Add({"second entry"}).empty());
  ASSERT_NO_FATAL_FAILURE(damage.apply(home()));
  const bool had_key = fs::exists(KeyFile());
  const std::string key_after_damage = ReadFileOrEmpty(KeyFile());
  const bool had_db = fs::exists(Db());

  const std::vector<std::vector<std::string>> commands = {
      {"journal", "list"},   {"journal", "add", "x"},       {"status"}, {"verify"}, {"id"},
      {"journal", "export"}, {"journal", "show", existing_}};
  for (const auto& args : commands) {
    SCOPED_TRACE(args[args.size() > 1 ? 1 : 0]);
    CliResult r = RunHome(args);
    EXPECT_EQ(r.exit_code, kStore) << r;
    EXPECT_THAT(r.err, StartsWith("kindred: ")) << r;
    EXPECT_THAT(r.out, IsEmpty()) << r;
    // Never silently re-initialised: no new keys, no new store.
    EXPECT_EQ(fs::exists(KeyFile()), had_key);
    EXPECT_EQ(ReadFileOrEmpty(KeyFile()), key_after_damage);
    EXPECT_EQ(fs::exists(Db()), had_db);
    EXPECT_EQ(StoreFiles(home()).empty(), !had_db) << "no new store was created";
  }
  // init refuses the damaged home too, and changes nothing.
  auto before_init = SnapshotWithoutInfoLogs(home());
  CliResult init = RunHome({"init", "--name", "Fresh Start"});
  EXPECT_EQ(init.exit_code, kUsage) << init;
  EXPECT_THAT(init.err, HasSubstr("nothing was changed"));
  EXPECT_THAT(Changes(before_init, SnapshotWithoutInfoLogs(home())), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(EachKindOfDamage, CliCorruptStoreTest,
                         ::testing::Range<size_t>(0, Damages().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string name;
                           for (char c : Damages()[info.param].name) {
                             if (std::isalnum(static_cast<unsigned char>(c)))
                               name += c;
                             else if (!name.empty() && name.back() != '_')
                               name += '_';
                           }
                           while (!name.empty() && name.back() == '_') name.pop_back();
                           return name;
                         });

TEST_F(CliErrorTest, AMissingStoreSaysSoAndWhereTheKeyFileIs) {
  fs::remove_all(Db());
  CliResult r = RunHome({"journal", "list"});
  EXPECT_EQ(r.exit_code, kStore) << r;
  EXPECT_THAT(r.err, HasSubstr("db/"));
  EXPECT_THAT(r.err, HasSubstr("missing"));
  EXPECT_THAT(StoreFiles(home()), IsEmpty()) << "no new store was created";
  // It stays an error: the failed open did not turn into an empty store.
  CliResult again = RunHome({"journal", "list"});
  EXPECT_EQ(again.exit_code, kStore) << again;
}

TEST_F(CliErrorTest, AFailedOpenLeavesNoTraceInAHomeWhoseStoreIsMissing) {
  fs::remove_all(Db());
  const auto before = Snapshot(home());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"journal", "list"}, {"journal", "add", "x"}, {"verify"}}) {
    EXPECT_EQ(RunHome(args).exit_code, kStore);
  }
  EXPECT_FALSE(fs::exists(Db())) << "the store directory was re-created";
  EXPECT_THAT(Changes(before, Snapshot(home())), IsEmpty());
}

TEST_F(CliErrorTest, ADamagedKeyFileSaysSo) {
  WriteFileOrFail(KeyFile(), "not a key file at all");
  CliResult r = RunHome({"status"});
  EXPECT_EQ(r.exit_code, kStore) << r;
  EXPECT_THAT(r.err, HasSubstr("key file"));
  EXPECT_THAT(r.err, HasSubstr("damaged"));
}

TEST_F(CliErrorTest, AKeyFileWithADamagedSigningKeyIsRefused) {
  // The unsealed key file: format, then `secrets` (KeySecrets), whose first
  // field is sign_sk: 64 bytes starting 7 bytes in. Damage the seed half.
  std::string key = ReadFileOrEmpty(KeyFile());
  ASSERT_GT(key.size(), 40u);
  key[10] = static_cast<char>(key[10] ^ 0x01);
  WriteFileOrFail(KeyFile(), key);
  CliResult r = RunHome({"journal", "add", "after damage"});
  EXPECT_EQ(r.exit_code, kStore) << r;
}

// ---- Two processes on one home -------------------------------------------------

TEST_F(CliErrorTest, ACommandWhileAnotherProcessHasTheStoreOpenExitsTwoAndTouchesNothing) {
  const std::string journal_before = JournalDump();
  auto open = Engine::Open({.home = home()});
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  std::unique_ptr<Engine> engine = std::move(*open);

  const auto files_before = SnapshotWithoutInfoLogs(home());
  const std::vector<std::vector<std::string>> commands = {
      {"journal", "add", "while busy"},
      {"journal", "list"},
      {"journal", "rm", "--purge", existing_},
      {"journal", "edit", existing_, "changed while busy"},
      {"status"},
      {"verify"},
      {"id"},
  };
  for (const auto& args : commands) {
    SCOPED_TRACE(args[args.size() > 1 ? 1 : 0]);
    CliResult r = RunHome(args);
    EXPECT_EQ(r.exit_code, kStore) << r;
    EXPECT_THAT(r.err, HasSubstr("another")) << r;
    EXPECT_THAT(r.err, HasSubstr("try again")) << r;
    EXPECT_THAT(r.out, IsEmpty());
  }
  CliResult init = RunHome({"init", "--name", "Intruder"});
  EXPECT_EQ(init.exit_code, kUsage) << init;
  EXPECT_THAT(Changes(files_before, SnapshotWithoutInfoLogs(home())), IsEmpty())
      << "the store is untouched";

  // The holder still works, and after it closes the CLI sees the same journal.
  VerifyReport report;
  EXPECT_TRUE(engine->Verify(&report).ok());
  engine.reset();
  EXPECT_EQ(JournalDump(), journal_before);
  CliResult verify = RunHome({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify;
}

}  // namespace
}  // namespace kindred::cli_testing
