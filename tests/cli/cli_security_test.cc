// What must never leak: no entry text or tag in plaintext anywhere under the
// home (also after a purge), no passphrase on disk, no secret key outside the
// key file, and no key, passphrase or entry text in the messages of failing
// commands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "kindred/engine.h"
#include "kindred/ids.h"
#include "kindred/v1/store.pb.h"

namespace kindred::cli_testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Distinctive words that appear nowhere else.
const std::vector<std::string>& EntryNeedles() {
  static const std::vector<std::string> needles = {
      "zebratulip8841",       // text of a private entry
      "ultravioletpangolin",  // text of a shared entry
      "saffronnarwhal",       // text after an edit
      "marmaladeviaduct",     // text read from stdin
      "obsidianlemur",        // text of an imported entry
  };
  return needles;
}
const std::vector<std::string>& TagNeedles() {
  static const std::vector<std::string> needles = {"cobaltwalrus", "quartzheron", "amberkoala"};
  return needles;
}

class CliPlaintextTest : public CliTest {
 protected:
  // Writes entries holding every needle; returns their ids.
  std::vector<std::string> WriteEntries() {
    std::vector<std::string> ids;
    ids.push_back(Add({"--tag", "cobaltwalrus", "--mood", "2", "Dear diary zebratulip8841 today"}));
    ids.push_back(Add({"--shared", "--tag", "quartzheron", "ultravioletpangolin for us both"}));
    std::string edited = Add({"a draft to be replaced"});
    EXPECT_EQ(RunHome({"journal", "edit", edited, "now it says saffronnarwhal"}).exit_code, 0);
    ids.push_back(edited);
    CliResult piped = RunHome({"--json", "journal", "add", "-"}, {},
                              std::string("piped marmaladeviaduct words\n"));
    EXPECT_EQ(piped.exit_code, 0) << piped;
    ids.push_back(json::parse(piped.out)["id"]);
    std::string file = TempPath("import.jsonl");
    WriteFileOrFail(
        file, "{\"id\":\"imported-one\",\"text\":\"obsidianlemur\",\"tags\":[\"amberkoala\"]}\n");
    EXPECT_EQ(RunHome({"journal", "import", file}).exit_code, 0);
    ids.push_back("imported-one");
    return ids;
  }

  // Fails for each needle found in any file under the home.
  void ExpectNoNeedleOnDisk(const std::string& when) {
    auto files = Snapshot(home());
    ASSERT_FALSE(files.empty());
    for (const auto& needles : {EntryNeedles(), TagNeedles()}) {
      for (const auto& needle : needles) {
        EXPECT_THAT(FilesContaining(files, needle), IsEmpty())
            << "'" << needle << "' is stored in plaintext " << when;
      }
    }
  }
};

TEST_F(CliPlaintextTest, NoEntryTextOrTagIsStoredInPlaintextAnywhereInTheHome) {
  InitHome();
  std::vector<std::string> ids = WriteEntries();
  // The words really are in the journal...
  std::string listed = RunHome({"--json", "journal", "list"}).out;
  for (const auto& needle : EntryNeedles()) ASSERT_THAT(listed, HasSubstr(needle));
  for (const auto& needle : TagNeedles()) ASSERT_THAT(listed, HasSubstr(needle));
  // ...and reading, checking and reopening the store (which flushes and
  // recovers its logs) does not write them out either.
  ASSERT_EQ(RunHome({"verify"}).exit_code, 0);
  ASSERT_EQ(RunHome({"status"}).exit_code, 0);
  ASSERT_EQ(RunHome({"journal", "list", "--tag", "cobaltwalrus"}).exit_code, 0);
  ExpectNoNeedleOnDisk("after writing");
}

TEST_F(CliPlaintextTest, NothingOfAPurgedEntryIsInPlaintextAndVerifyStillPasses) {
  InitHome();
  std::vector<std::string> ids = WriteEntries();
  for (const auto& id : ids) {
    CliResult r = RunHome({"journal", "rm", "--purge", id});
    ASSERT_EQ(r.exit_code, 0) << r;
  }
  EXPECT_EQ(RunHome({"--json", "journal", "list"}).out, "[]\n");
  CliResult verify = RunHome({"--json", "verify"});
  ASSERT_EQ(verify.exit_code, 0) << verify;
  json report = json::parse(verify.out);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["decrypted"], static_cast<int>(ids.size()))
      << "only the purge ops remain readable";
  // Every create and the one edit were erased.
  EXPECT_EQ(report["purged"], static_cast<int>(ids.size()) + 1);
  ExpectNoNeedleOnDisk("after purging");
}

TEST_F(CliTest, ThePassphraseIsNeverWrittenToTheHome) {
  const std::string passphrase = "violet-sandwich-harbour";
  std::map<std::string, std::string> env{{"KINDRED_PASSPHRASE", passphrase},
                                         {"KINDRED_KDF", "interactive"}};
  InitHome("Sam", env);
  ASSERT_FALSE(Add({"sealed words"}, env).empty());
  EXPECT_THAT(FilesContaining(Snapshot(home()), passphrase), IsEmpty());
}

// ---- Secrets in messages -----------------------------------------------------------

struct Secrets {
  std::vector<std::string> raw;  // sign seed, dh secret, local key
};

// The unsealed key file's secrets, read the way the engine stores them.
Secrets ReadSecrets(const std::string& key_file) {
  Secrets s;
  v1::KeyFile file;
  if (!file.ParseFromString(ReadFileOrEmpty(key_file)) || file.sealed()) {
    ADD_FAILURE() << "cannot read the unsealed key file";
    return s;
  }
  v1::KeySecrets inner;
  if (!inner.ParseFromString(file.secrets())) {
    ADD_FAILURE() << "cannot read the key file's secrets";
    return s;
  }
  s.raw = {inner.sign_sk().substr(0, 32), inner.dh_sk(), inner.local_key()};
  for (const auto& k : s.raw) EXPECT_EQ(k.size(), 32u);
  return s;
}

TEST_F(CliTest, SecretKeysAreStoredOnlyInTheKeyFile) {
  InitHome();
  ASSERT_FALSE(Add({"some words"}).empty());
  Secrets secrets = ReadSecrets(KeyFile());
  ASSERT_EQ(secrets.raw.size(), 3u);
  auto files = Snapshot(home());
  files.erase("device.key");
  for (const auto& key : secrets.raw) {
    EXPECT_THAT(FilesContaining(files, key), IsEmpty());
    EXPECT_THAT(FilesContaining(files, ToHex(key)), IsEmpty());
  }
}

class CliMessageLeakTest : public CliTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CliTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(InitHome());
    id_ = Add({"--tag", "SECRETTAG9932", "SECRET-ENTRY-TEXT-4471"});
    ASSERT_FALSE(id_.empty());
    secrets_ = ReadSecrets(KeyFile());
    ASSERT_EQ(secrets_.raw.size(), 3u);
    json id = json::parse(RunHome({"--json", "id"}).out);
    public_keys_ = {id["sign_pk"], id["dh_pk"]};
  }

  // Fails if `r` (a failing command) shows any secret or any entry text.
  void ExpectNoLeak(const CliResult& r) {
    EXPECT_NE(r.exit_code, 0) << r;
    EXPECT_FALSE(r.err.empty()) << r;
    for (const char* text : {"SECRET-ENTRY-TEXT", "SECRETTAG9932", "SECRET-NEW-TEXT",
                             "SECRET-ADD-TEXT", "SECRET-IMPORT-TEXT", "SECRET-LONG-TEXT"}) {
      EXPECT_THAT(r.err, Not(HasSubstr(text))) << r;
      EXPECT_THAT(r.out, Not(HasSubstr(text))) << r;
    }
    for (const auto& key : secrets_.raw) {
      EXPECT_THAT(r.err, Not(HasSubstr(key))) << r;
      EXPECT_THAT(r.err, Not(HasSubstr(ToHex(key)))) << r;
      EXPECT_THAT(r.err, Not(HasSubstr(ToHex(key).substr(0, 16)))) << r;
    }
    for (const auto& pk : public_keys_) EXPECT_THAT(r.err, Not(HasSubstr(pk))) << r;
  }

  std::string id_;
  Secrets secrets_;
  std::vector<std::string> public_keys_;
};

TEST_F(CliMessageLeakTest, FailingCommandsNeverShowKeysOrEntryText) {
  std::string bad_import = TempPath("bad.jsonl");
  WriteFileOrFail(bad_import,
                  "{\"text\":\"SECRET-IMPORT-TEXT fine\"}\n"
                  "{\"text\":\"SECRET-IMPORT-TEXT bad\",\"mood\":9}\n");
  std::string bad_time = TempPath("bad-time.jsonl");
  WriteFileOrFail(bad_time, "{\"text\":\"SECRET-IMPORT-TEXT\",\"created\":\"soon\"}\n");
  std::string bad_json = TempPath("bad-json.jsonl");
  WriteFileOrFail(bad_json, "{\"text\":\"SECRET-IMPORT-TEXT\" oops}\n");

  ExpectNoLeak(RunHome({"journal", "show", "nosuchid"}));
  ExpectNoLeak(RunHome({"journal", "edit", "nosuchid", "SECRET-NEW-TEXT"}));
  ExpectNoLeak(RunHome({"journal", "edit", id_, "-"}, {}, std::string("")));
  ExpectNoLeak(RunHome({"journal", "add", "--mood", "9", "SECRET-ADD-TEXT"}));
  ExpectNoLeak(RunHome({"journal", "add", "--tag", "", "SECRET-ADD-TEXT"}));
  ExpectNoLeak(
      RunHome({"journal", "add", "-"}, {}, "SECRET-LONG-TEXT" + std::string(64 * 1024, 'x')));
  ExpectNoLeak(
      RunHome({"journal", "edit", id_, "-"}, {}, "SECRET-LONG-TEXT" + std::string(64 * 1024, 'x')));
  ExpectNoLeak(RunHome({"journal", "import", bad_import}));
  ExpectNoLeak(RunHome({"journal", "import", bad_time}));
  ExpectNoLeak(RunHome({"journal", "import", bad_json}));
  ExpectNoLeak(RunHome({"journal", "list", "--since", "never"}));
  ExpectNoLeak(RunHome({"journal", "list", "--shared", "--private"}));
  ExpectNoLeak(RunHome({"journal", "rm", "nosuchid"}));
  ExpectNoLeak(RunHome({"init", "--name", "Again"}));

  // While another process holds the store.
  {
    auto engine = Engine::Open({.home = home()});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ExpectNoLeak(RunHome({"journal", "add", "SECRET-ADD-TEXT"}));
    ExpectNoLeak(RunHome({"journal", "show", id_}));
  }
  // A damaged key file.
  const std::string key = ReadFileOrEmpty(KeyFile());
  WriteFileOrFail(KeyFile(), key.substr(0, key.size() - 20));
  ExpectNoLeak(RunHome({"journal", "show", id_}));
  ExpectNoLeak(RunHome({"id"}));
  WriteFileOrFail(KeyFile(), key);
  // The entry is still there and intact.
  CliResult show = RunHome({"--json", "journal", "show", id_});
  ASSERT_EQ(show.exit_code, 0) << show;
  EXPECT_EQ(json::parse(show.out)["text"], "SECRET-ENTRY-TEXT-4471");
}

TEST_F(CliTest, FailingCommandsOnASealedHomeNeverShowThePassphrase) {
  const std::string right = "lantern-orchard-quill";
  InitHome("Sam", {{"KINDRED_PASSPHRASE", right}, {"KINDRED_KDF", "interactive"}});
  ASSERT_FALSE(Add({"SECRET-SEALED-TEXT"}, {{"KINDRED_PASSPHRASE", right}}).empty());
  for (const auto& passphrase : {std::string("lantern-orchard-quilt"), std::string("")}) {
    CliResult r = RunHome({"journal", "list"}, {{"KINDRED_PASSPHRASE", passphrase}});
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_THAT(r.err, Not(HasSubstr("lantern"))) << r;
    EXPECT_THAT(r.err, Not(HasSubstr("SECRET-SEALED-TEXT"))) << r;
    EXPECT_THAT(r.out, IsEmpty());
  }
}

}  // namespace
}  // namespace kindred::cli_testing
