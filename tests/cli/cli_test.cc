// The `kindred` tool, driven as a user would: init, id, the journal
// commands, status and verify, home resolution, global option placement,
// the --json shapes, and a passphrase-sealed device.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "kindred/ids.h"

namespace kindred::cli_testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.insert(it.key());
  return keys;
}

std::vector<std::string> Texts(const json& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e["text"].get<std::string>());
  return out;
}

json ParseOrFail(const CliResult& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not JSON:\n" << r;
  return j;
}

// ---- The runner itself -----------------------------------------------------

TEST(RunnerTest, CapturesStdoutStderrExitCodeAndFeedsStdin) {
  CliResult r = RunProgram("/bin/sh", {"-c", "cat; echo oops >&2; exit 3"}, {}, "fed in\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "fed in\n");
  EXPECT_EQ(r.err, "oops\n");
}

TEST(RunnerTest, KillsAProgramThatHangsAndSaysSo) {
  auto start = std::chrono::steady_clock::now();
  CliResult r =
      RunProgram("/bin/sh", {"-c", "sleep 30"}, {}, std::nullopt, std::chrono::milliseconds(200));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RunnerTest, PassesExactlyTheGivenEnvironment) {
  CliResult r = RunProgram("/usr/bin/env", {}, {{"ONLY", "this"}});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "ONLY=this\n");
}

// ---- init and id -----------------------------------------------------------

TEST_F(CliTest, InitCreatesADeviceAndWarnsThatItsKeysAreNotProtected) {
  CliResult r = RunHome({"init", "--name", "Alex", "--device-name", "laptop"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Welcome, Alex"));
  EXPECT_THAT(r.out, HasSubstr("not protected by a passphrase"));
  EXPECT_TRUE(fs::exists(KeyFile()));
  EXPECT_TRUE(fs::is_directory(Db()));
  struct stat st {};
  ASSERT_EQ(::stat(KeyFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the key file is private to its owner";
}

TEST_F(CliTest, InitWithJsonDescribesTheNewDevice) {
  CliResult r = RunHome({"--json", "init", "--name", "Alex"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json j = ParseOrFail(r);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"device_id", "name", "home", "keys_protected"}));
  EXPECT_TRUE(FullMatch(j["device_id"].get<std::string>(), kDeviceIdPattern)) << j;
  EXPECT_EQ(j["name"], "Alex");
  EXPECT_EQ(j["home"], home());
  EXPECT_EQ(j["keys_protected"], false);
}

TEST_F(CliTest, IdWithJsonGivesTheDeviceIdNameAndBothPublicKeysAsLowercaseHex) {
  CliResult init = RunHome({"--json", "init", "--name", "Alex"});
  ASSERT_EQ(init.exit_code, 0) << init;
  CliResult r = RunHome({"--json", "id"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json j = ParseOrFail(r);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"device_id", "name", "sign_pk", "dh_pk"}));
  std::string sign = j["sign_pk"].get<std::string>();
  std::string dh = j["dh_pk"].get<std::string>();
  EXPECT_TRUE(FullMatch(sign, kKeyHexPattern)) << sign;
  EXPECT_TRUE(FullMatch(dh, kKeyHexPattern)) << dh;
  EXPECT_NE(sign, dh);
  EXPECT_EQ(j["name"], "Alex");
  EXPECT_EQ(j["device_id"], ParseOrFail(init)["device_id"]);
  // The id is the one derived from the two keys.
  auto sign_raw = FromHex(sign);
  auto dh_raw = FromHex(dh);
  ASSERT_TRUE(sign_raw.ok() && dh_raw.ok());
  EXPECT_EQ(j["device_id"], DeviceId::FromPublicKeys(*sign_raw, *dh_raw).ToString());
}

TEST_F(CliTest, IdWithoutJsonShowsTheSameIdAndKeysForPeople) {
  InitHome();
  json j = ParseOrFail(RunHome({"--json", "id"}));
  CliResult r = RunHome({"id"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(j["device_id"].get<std::string>()));
  EXPECT_THAT(r.out, HasSubstr(j["sign_pk"].get<std::string>()));
  EXPECT_THAT(r.out, HasSubstr(j["dh_pk"].get<std::string>()));
  EXPECT_THAT(r.out, HasSubstr("Alex"));
}

TEST_F(CliTest, TwoInitsInTwoHomesMakeTwoDifferentDevices) {
  InitHome();
  std::string other = TempPath("other");
  ASSERT_EQ(Run({"--home", other, "init", "--name", "Robin"}).exit_code, 0);
  json a = ParseOrFail(RunHome({"--json", "id"}));
  json b = ParseOrFail(Run({"--home", other, "--json", "id"}));
  EXPECT_NE(a["device_id"], b["device_id"]);
  EXPECT_NE(a["sign_pk"], b["sign_pk"]);
  EXPECT_EQ(b["name"], "Robin");
}

// ---- Where the home is ------------------------------------------------------

TEST_F(CliTest, HomeFlagWinsOverKindredHomeAndXdgDataHome) {
  std::string kh = TempPath("kindred-home");
  std::string xdg = TempPath("xdg");
  CliResult r = RunHome({"init", "--name", "Alex"}, {{"KINDRED_HOME", kh}, {"XDG_DATA_HOME", xdg}});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(fs::exists(KeyFile()));
  EXPECT_FALSE(fs::exists(kh));
  EXPECT_FALSE(fs::exists(xdg));
  EXPECT_FALSE(fs::exists(user_home() + "/.local"));
}

TEST_F(CliTest, KindredHomeIsUsedWithoutHomeFlagAndWinsOverXdgDataHome) {
  std::string kh = TempPath("kindred-home");
  std::string xdg = TempPath("xdg");
  std::map<std::string, std::string> env{{"KINDRED_HOME", kh}, {"XDG_DATA_HOME", xdg}};
  CliResult r = Run({"init", "--name", "Alex"}, env);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(fs::exists(kh + "/device.key"));
  EXPECT_FALSE(fs::exists(xdg));
  EXPECT_FALSE(fs::exists(user_home() + "/.local"));
  // Later commands find it the same way.
  CliResult status = Run({"status"}, env);
  ASSERT_EQ(status.exit_code, 0) << status;
  EXPECT_THAT(status.out, HasSubstr(kh));
  CliResult add = Run({"journal", "add", "found it"}, env);
  ASSERT_EQ(add.exit_code, 0) << add;
  CliResult list = Run({"--home", kh, "--json", "journal", "list"});
  EXPECT_THAT(Texts(ParseOrFail(list)), ElementsAre("found it"));
}

TEST_F(CliTest, XdgDataHomeIsUsedWhenKindredHomeIsUnsetOrEmpty) {
  std::string xdg = TempPath("xdg");
  CliResult r = Run({"init", "--name", "Alex"}, {{"XDG_DATA_HOME", xdg}, {"KINDRED_HOME", ""}});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(fs::exists(xdg + "/kindred/device.key"));
  EXPECT_FALSE(fs::exists(user_home() + "/.local"));
  CliResult status = Run({"status"}, {{"XDG_DATA_HOME", xdg}});
  ASSERT_EQ(status.exit_code, 0) << status;
  EXPECT_THAT(status.out, HasSubstr(xdg + "/kindred"));
}

TEST_F(CliTest, WithoutAnySettingTheHomeIsUnderTheUsersLocalShare) {
  CliResult r = Run({"init", "--name", "Alex"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::string expected = user_home() + "/.local/share/kindred";
  EXPECT_TRUE(fs::exists(expected + "/device.key"));
  CliResult status = Run({"status"});
  ASSERT_EQ(status.exit_code, 0) << status;
  EXPECT_THAT(status.out, HasSubstr(expected));
  // An empty XDG_DATA_HOME counts as unset.
  CliResult again = Run({"--json", "id"}, {{"XDG_DATA_HOME", ""}});
  EXPECT_EQ(again.exit_code, 0) << again;
}

// ---- Global options before or after the command -----------------------------

TEST_F(CliTest, GlobalOptionsWorkBeforeAndAfterTheCommand) {
  // --home and --json after the command, for init and add.
  CliResult init = Run({"init", "--name", "Alex", "--home", home(), "--json"});
  ASSERT_EQ(init.exit_code, 0) << init;
  EXPECT_EQ(ParseOrFail(init)["home"], home());

  CliResult add_after = Run({"journal", "add", "after", "--home", home(), "--json"});
  ASSERT_EQ(add_after.exit_code, 0) << add_after;
  EXPECT_TRUE(ParseOrFail(add_after).contains("id"));
  CliResult add_between = Run({"journal", "--json", "add", "--home", home(), "between"});
  ASSERT_EQ(add_between.exit_code, 0) << add_between;
  CliResult add_before = Run({"--json", "--home", home(), "journal", "add", "before"});
  ASSERT_EQ(add_before.exit_code, 0) << add_before;

  CliResult before = Run({"--home", home(), "--json", "journal", "list"});
  CliResult after = Run({"journal", "list", "--home", home(), "--json"});
  CliResult mixed = Run({"--json", "journal", "list", "--home", home()});
  ASSERT_EQ(before.exit_code, 0) << before;
  ASSERT_EQ(after.exit_code, 0) << after;
  ASSERT_EQ(mixed.exit_code, 0) << mixed;
  EXPECT_EQ(before.out, after.out);
  EXPECT_EQ(before.out, mixed.out);
  EXPECT_EQ(ParseOrFail(before).size(), 3u);

  CliResult id_before = Run({"--home", home(), "--json", "id"});
  CliResult id_after = Run({"id", "--json", "--home", home()});
  ASSERT_EQ(id_after.exit_code, 0) << id_after;
  EXPECT_EQ(id_before.out, id_after.out);
}

// ---- journal add / list / show ---------------------------------------------

TEST_F(CliTest, JournalAddPrintsTheNewIdAloneOnStdout) {
  InitHome();
  CliResult r = RunHome({"journal", "add", "--mood", "4", "--tag", "sea", "A", "calm", "day"});
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  std::string id = r.out.substr(0, r.out.size() - 1);
  EXPECT_TRUE(FullMatch(id, "^[a-z2-7]+$")) << id;
  EXPECT_THAT(r.err, HasSubstr("Saved"));

  json shown = ParseOrFail(RunHome({"--json", "journal", "show", id}));
  EXPECT_EQ(shown["text"], "A calm day");  // the words are joined by spaces
  EXPECT_EQ(shown["mood"], 4);
  EXPECT_EQ(shown["tags"], json({"sea"}));
  EXPECT_EQ(shown["visibility"], "private");
}

TEST_F(CliTest, JournalAddWithJsonPrintsOnlyTheId) {
  InitHome();
  CliResult r = RunHome({"--json", "journal", "add", "--shared", "ours"});
  ASSERT_EQ(r.exit_code, 0) << r;
  json j = ParseOrFail(r);
  EXPECT_EQ(Keys(j), std::set<std::string>{"id"});
  EXPECT_EQ(ParseOrFail(RunHome({"--json", "journal", "show", j["id"]}))["visibility"], "shared");
}

TEST_F(CliTest, JournalAddReadsTheTextFromStdinForADash) {
  InitHome();
  CliResult r = RunHome({"--json", "journal", "add", "--tag", "piped", "-"}, {},
                        std::string("line one\nline two\n\n"));
  ASSERT_EQ(r.exit_code, 0) << r;
  std::string id = ParseOrFail(r)["id"];
  json shown = ParseOrFail(RunHome({"--json", "journal", "show", id}));
  EXPECT_EQ(shown["text"], "line one\nline two");  // trailing newlines dropped
  EXPECT_EQ(shown["tags"], json({"piped"}));
}

TEST_F(CliTest, JournalAddTakesEveryRepeatedTag) {
  InitHome();
  std::string id = Add({"--tag", "a", "--tag", "b", "--tag", "c", "text"});
  json shown = ParseOrFail(RunHome({"--json", "journal", "show", id}));
  EXPECT_EQ(shown["tags"], json({"a", "b", "c"}));
  EXPECT_EQ(shown["text"], "text");
}

TEST_F(CliTest, JournalListJsonGivesEveryEntryInTheStableShape) {
  InitHome();
  json me = ParseOrFail(RunHome({"--json", "id"}));
  std::string a = Add({"--mood", "5", "--tag", "x", "--tag", "y", "first"});
  std::string b = Add({"--shared", "second"});

  json list = ListJson();
  ASSERT_EQ(list.size(), 2u);
  const std::set<std::string> shape{"id",     "text",   "mood",    "tags",   "visibility",
                                    "author", "device", "created", "edited", "conflict"};
  for (const auto& e : list) {
    EXPECT_EQ(Keys(e), shape) << e;
    EXPECT_TRUE(FullMatch(e["created"].get<std::string>(), kIsoTimePattern)) << e["created"];
    EXPECT_TRUE(FullMatch(e["edited"].get<std::string>(), kIsoTimePattern)) << e["edited"];
    // TZ=KST-9 in the test environment: local times carry +09:00.
    EXPECT_THAT(e["created"].get<std::string>(), ::testing::EndsWith("+09:00"));
    EXPECT_EQ(e["author"], "Alex");
    EXPECT_EQ(e["device"], me["device_id"]);
    EXPECT_EQ(e["conflict"], false);
  }
  EXPECT_EQ(list[0]["id"], a);
  EXPECT_EQ(list[0]["text"], "first");
  EXPECT_EQ(list[0]["mood"], 5);
  EXPECT_EQ(list[0]["tags"], json({"x", "y"}));
  EXPECT_EQ(list[0]["visibility"], "private");
  EXPECT_EQ(list[1]["id"], b);
  EXPECT_TRUE(list[1]["mood"].is_null());
  EXPECT_EQ(list[1]["tags"], json::array());
  EXPECT_EQ(list[1]["visibility"], "shared");
}

TEST_F(CliTest, JournalListTextSaysWhenThereIsNothingAndShowsOneLinePerEntry) {
  InitHome();
  CliResult empty = RunHome({"journal", "list"});
  ASSERT_EQ(empty.exit_code, 0) << empty;
  EXPECT_THAT(empty.out, HasSubstr("No entries yet"));
  EXPECT_EQ(ListJson(), json::array());

  std::string id = Add({"--mood", "3", "--tag", "rain", "Wet walk\nsecond line"});
  Add({"--shared", "Dry day"});
  CliResult r = RunHome({"journal", "list"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out,
              AllOf(HasSubstr(id), HasSubstr("Wet walk"), HasSubstr("#rain"), HasSubstr("mood 3"),
                    HasSubstr("private"), HasSubstr("shared"), HasSubstr("Dry day")));
  EXPECT_THAT(r.out, Not(HasSubstr("second line"))) << "only the first line is listed";
}

TEST_F(CliTest, JournalListFiltersBySharedPrivateAndTag) {
  InitHome();
  Add({"--tag", "work", "mine"});
  Add({"--shared", "--tag", "work", "--tag", "us", "ours"});
  Add({"--tag", "workout", "gym"});

  EXPECT_THAT(Texts(ListJson({"--shared"})), ElementsAre("ours"));
  EXPECT_THAT(Texts(ListJson({"--private"})), ElementsAre("mine", "gym"));
  EXPECT_THAT(Texts(ListJson({"--tag", "work"})), ElementsAre("mine", "ours"));
  EXPECT_THAT(Texts(ListJson({"--tag", "us"})), ElementsAre("ours"));
  EXPECT_THAT(Texts(ListJson({"--tag", "work", "--private"})), ElementsAre("mine"));
  EXPECT_THAT(Texts(ListJson({"--tag", "nothing"})), IsEmpty());
}

TEST_F(CliTest, JournalListSinceKeepsEntriesFromThatDateOn) {
  InitHome();
  std::string file = TempPath("dated.jsonl");
  WriteFileOrFail(file,
                  "{\"text\":\"twenty twenty\",\"created\":\"2020-01-15T10:00:00+09:00\"}\n"
                  "{\"text\":\"twenty twenty-two\",\"created\":\"2022-06-15T10:00:00+09:00\"}\n");
  ASSERT_EQ(RunHome({"journal", "import", file}).exit_code, 0);
  Add({"today"});

  EXPECT_THAT(Texts(ListJson({"--since", "2000-01-01"})),
              ElementsAre("twenty twenty", "twenty twenty-two", "today"));
  EXPECT_THAT(Texts(ListJson({"--since", "2021-01-01"})),
              ElementsAre("twenty twenty-two", "today"));
  EXPECT_THAT(Texts(ListJson({"--since", "2022-06-15T10:00:00+09:00"})),
              ElementsAre("twenty twenty-two", "today"));
  EXPECT_THAT(Texts(ListJson({"--since", "2022-06-15T01:00:01Z"})), ElementsAre("today"));
  EXPECT_THAT(Texts(ListJson({"--since", "2999-01-01"})), IsEmpty());
  // The imported times come back as they were written.
  json all = ListJson();
  EXPECT_EQ(all[0]["created"], "2020-01-15T10:00:00+09:00");
}

TEST_F(CliTest, JournalShowPrintsTheWholeEntry) {
  InitHome();
  std::string id = Add({"--mood", "2", "--tag", "long", "Line one\nLine two"});
  CliResult r = RunHome({"journal", "show", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr(id), HasSubstr("Line one\nLine two"), HasSubstr("2 of 5"),
                           HasSubstr("#long"), HasSubstr("private"), HasSubstr("Alex")));

  json shown = ParseOrFail(RunHome({"--json", "journal", "show", id}));
  json listed = ListJson();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(shown, listed[0]) << "show --json and list --json agree";
}

// ---- edit / rm -------------------------------------------------------------

TEST_F(CliTest, JournalEditReplacesTheText) {
  InitHome();
  std::string id = Add({"--mood", "1", "--tag", "t", "before"});
  CliResult r = RunHome({"journal", "edit", id, "after", "the", "edit"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(id));
  json shown = ParseOrFail(RunHome({"--json", "journal", "show", id}));
  EXPECT_EQ(shown["text"], "after the edit");
  EXPECT_EQ(shown["mood"], 1);
  EXPECT_EQ(shown["tags"], json({"t"}));

  CliResult piped =
      RunHome({"--json", "journal", "edit", id, "-"}, {}, std::string("from stdin\n"));
  ASSERT_EQ(piped.exit_code, 0) << piped;
  EXPECT_EQ(ParseOrFail(piped), json({{"id", id}}));
  EXPECT_EQ(ParseOrFail(RunHome({"--json", "journal", "show", id}))["text"], "from stdin");
}

TEST_F(CliTest, JournalRmRemovesTheEntry) {
  InitHome();
  std::string keep = Add({"keep"});
  std::string drop = Add({"drop"});
  CliResult r = RunHome({"journal", "rm", drop});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(drop));
  EXPECT_THAT(Texts(ListJson()), ElementsAre("keep"));
  EXPECT_EQ(RunHome({"journal", "show", drop}).exit_code, 1);

  CliResult json_rm = RunHome({"--json", "journal", "rm", keep});
  ASSERT_EQ(json_rm.exit_code, 0) << json_rm;
  EXPECT_EQ(ParseOrFail(json_rm), json({{"id", keep}, {"purged", false}}));
  EXPECT_EQ(ListJson(), json::array());
}

TEST_F(CliTest, JournalRmPurgeRemovesTheEntryAndVerifyCountsThePurgedOps) {
  InitHome();
  std::string id = Add({"to be purged"});
  ASSERT_EQ(RunHome({"journal", "edit", id, "edited before purge"}).exit_code, 0);
  Add({"stays"});
  CliResult r = RunHome({"--json", "journal", "rm", "--purge", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseOrFail(r), json({{"id", id}, {"purged", true}}));
  EXPECT_THAT(Texts(ListJson()), ElementsAre("stays"));

  CliResult v = RunHome({"--json", "verify"});
  ASSERT_EQ(v.exit_code, 0) << v;
  json report = ParseOrFail(v);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["ops"], 4);
  EXPECT_EQ(report["purged"], 2);
  EXPECT_EQ(report["decrypted"], 2);
  CliResult text = RunHome({"verify"});
  EXPECT_THAT(text.out, HasSubstr("2 purged"));
}

// ---- export / import ---------------------------------------------------------

TEST_F(CliTest, JournalExportWritesJsonLinesToStdoutOrToAPrivateFile) {
  InitHome();
  Add({"--mood", "4", "--tag", "a", "one"});
  Add({"--shared", "two"});
  CliResult r = RunHome({"journal", "export"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::vector<json> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["text"], "one");
  EXPECT_EQ(lines[0]["mood"], 4);
  EXPECT_EQ(lines[1]["text"], "two");
  EXPECT_EQ(lines[1]["visibility"], "shared");

  std::string out = TempPath("export.jsonl");
  CliResult to_file = RunHome({"journal", "export", "--out", out});
  ASSERT_EQ(to_file.exit_code, 0) << to_file;
  EXPECT_EQ(ReadFileOrEmpty(out), r.out);
  EXPECT_THAT(to_file.err, HasSubstr(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the plain-text export is private to its owner";
}

TEST_F(CliTest, JournalImportOfAnExportIntoAFreshHomeKeepsEveryEntry) {
  InitHome();
  Add({"--mood", "5", "--tag", "x", "--tag", "y", "first"});
  Add({"--shared", "second, shared"});
  Add({"Unicode \xC3\xA9\xE2\x9C\x93 and \"quotes\""});
  std::string file = TempPath("export.jsonl");
  ASSERT_EQ(RunHome({"journal", "export", "--out", file}).exit_code, 0);
  json original = ListJson();

  std::string other = TempPath("other");
  ASSERT_EQ(Run({"--home", other, "init", "--name", "Robin"}).exit_code, 0);
  CliResult r = Run({"--home", other, "--json", "journal", "import", file});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseOrFail(r)["imported"], 3);
  EXPECT_EQ(ParseOrFail(r)["skipped"], 0);

  json imported = ParseOrFail(Run({"--home", other, "--json", "journal", "list"}));
  ASSERT_EQ(imported.size(), original.size());
  std::map<std::string, json> by_id;
  for (const auto& e : imported) by_id[e["id"]] = e;
  for (const auto& want : original) {
    ASSERT_TRUE(by_id.count(want["id"])) << want;
    const json& got = by_id[want["id"]];
    for (const char* field : {"text", "mood", "tags", "visibility", "created"}) {
      EXPECT_EQ(got[field], want[field]) << field << " of " << want["id"];
    }
  }

  // Importing the same file again adds nothing.
  CliResult again = Run({"--home", other, "journal", "import", file});
  ASSERT_EQ(again.exit_code, 0) << again;
  EXPECT_THAT(again.out, HasSubstr("Imported 0 entries (3 already here, skipped)"));
  EXPECT_EQ(ParseOrFail(Run({"--home", other, "--json", "journal", "list"})).size(), 3u);
}

TEST_F(CliTest, JournalImportSaysHowManyEntriesItImported) {
  InitHome();
  std::string file = TempPath("in.jsonl");
  WriteFileOrFail(file, "{\"text\":\"a\"}\n\n{\"text\":\"b\",\"tags\":[\"t\"]}\n");
  CliResult r = RunHome({"journal", "import", file});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Imported 2 entries"));
  EXPECT_THAT(Texts(ListJson({"--tag", "t"})), ElementsAre("b"));
}

TEST_F(CliTest, JournalImportOfAThousandLinesWorks) {
  InitHome();
  std::string file = TempPath("big.jsonl");
  std::string body;
  for (int i = 0; i < 1000; ++i) {
    body += json{{"text", "entry " + std::to_string(i)}, {"tags", {"t" + std::to_string(i % 4)}}}
                .dump() +
            "\n";
  }
  WriteFileOrFail(file, body);
  CliResult r = RunHome({"--json", "journal", "import", file});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseOrFail(r)["imported"], 1000);
  EXPECT_EQ(ListJson().size(), 1000u);
  EXPECT_EQ(ListJson({"--tag", "t2"}).size(), 250u);
}

// ---- status / verify ------------------------------------------------------------

TEST_F(CliTest, StatusSaysPlainlyThatKeysAreNotProtectedAndCountsRecords) {
  InitHome();
  Add({"one"});
  Add({"two"});
  CliResult r = RunHome({"status"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("NOT protected by a passphrase"));
  EXPECT_THAT(r.out, HasSubstr("journal: 2 records"));
  EXPECT_THAT(r.out, HasSubstr(home()));

  CliResult j = RunHome({"--json", "status"});
  ASSERT_EQ(j.exit_code, 0) << j;
  json s = ParseOrFail(j);
  EXPECT_EQ(s["keys_protected"], false);
  EXPECT_EQ(s["name"], "Alex");
  ASSERT_EQ(s["spaces"].size(), 1u);
  EXPECT_EQ(s["spaces"][0]["kind"], "personal");
  EXPECT_EQ(s["spaces"][0]["records"]["journal"], 2);
}

TEST_F(CliTest, VerifyPassesOnAFreshStoreAndAfterWrites) {
  InitHome();
  CliResult fresh = RunHome({"verify"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh;
  EXPECT_THAT(fresh.out, StartsWith("All is well"));
  json empty = ParseOrFail(RunHome({"--json", "verify"}));
  EXPECT_EQ(empty["ok"], true);
  EXPECT_EQ(empty["ops"], 0);

  Add({"one"});
  std::string id = Add({"two"});
  ASSERT_EQ(RunHome({"journal", "edit", id, "two, edited"}).exit_code, 0);
  ASSERT_EQ(RunHome({"journal", "rm", id}).exit_code, 0);
  json after = ParseOrFail(RunHome({"--json", "verify"}));
  EXPECT_EQ(after["ok"], true);
  EXPECT_EQ(after["ops"], 4);
  EXPECT_EQ(after["decrypted"], 4);
  EXPECT_EQ(after["purged"], 0);
  EXPECT_EQ(after["signatures"], 4);
  EXPECT_EQ(after["records"], 2);
}

TEST_F(CliTest, RepeatedCommandsDoNotLeaveAFileBehindEachTime) {
  InitHome();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(RunHome({"journal", "list"}).exit_code, 0);
  int logs = 0;
  for (const auto& e : fs::directory_iterator(Db())) {
    if (e.path().extension() == ".log") ++logs;
  }
  EXPECT_LE(logs, 2);
}

// ---- A passphrase-sealed device ------------------------------------------------

class CliPassphraseTest : public CliTest {
 protected:
  static constexpr char kPassphrase[] = "correct horse battery";
  std::map<std::string, std::string> Right() const { return {{"KINDRED_PASSPHRASE", kPassphrase}}; }
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CliTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(
        InitHome("Sam", {{"KINDRED_PASSPHRASE", kPassphrase}, {"KINDRED_KDF", "interactive"}}));
  }
};

TEST_F(CliPassphraseTest, CommandsWorkWithTheRightPassphrase) {
  std::string id = Add({"--tag", "sealed", "under lock"}, Right());
  ASSERT_FALSE(id.empty());
  EXPECT_THAT(Texts(ListJson({"--tag", "sealed"}, Right())), ElementsAre("under lock"));
  CliResult show = RunHome({"journal", "show", id}, Right());
  EXPECT_EQ(show.exit_code, 0) << show;
  CliResult edit = RunHome({"journal", "edit", id, "still locked"}, Right());
  EXPECT_EQ(edit.exit_code, 0) << edit;
  CliResult verify = RunHome({"verify"}, Right());
  EXPECT_EQ(verify.exit_code, 0) << verify;
  CliResult id_cmd = RunHome({"--json", "id"}, Right());
  ASSERT_EQ(id_cmd.exit_code, 0) << id_cmd;
  EXPECT_EQ(ParseOrFail(id_cmd)["name"], "Sam");
}

TEST_F(CliPassphraseTest, AWrongPassphraseFailsSayingSo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"journal", "list"}, {"journal", "add", "x"}, {"status"}, {"id"}, {"verify"}}) {
    CliResult r = RunHome(args, {{"KINDRED_PASSPHRASE", "battery staple horse"}});
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr("wrong passphrase")) << r;
    EXPECT_THAT(r.err, Not(HasSubstr("battery staple"))) << "never echo a passphrase";
    EXPECT_THAT(r.out, IsEmpty());
  }
  EXPECT_EQ(ListJson({}, Right()), json::array()) << "the failed add wrote nothing";
}

TEST_F(CliPassphraseTest, NoPassphraseFailsSayingOneIsNeeded) {
  for (const auto& extra :
       std::vector<std::map<std::string, std::string>>{{}, {{"KINDRED_PASSPHRASE", ""}}}) {
    CliResult r = RunHome({"journal", "list"}, extra);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr("passphrase")) << r;
    EXPECT_THAT(r.err, HasSubstr("KINDRED_PASSPHRASE")) << r;
    EXPECT_THAT(r.out, IsEmpty());
  }
}

TEST_F(CliPassphraseTest, StatusSaysTheKeysAreProtected) {
  CliResult r = RunHome({"status"}, Right());
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("protected by a passphrase"));
  EXPECT_THAT(r.out, Not(HasSubstr("NOT protected")));
  CliResult j = RunHome({"--json", "status"}, Right());
  ASSERT_EQ(j.exit_code, 0) << j;
  EXPECT_EQ(ParseOrFail(j)["keys_protected"], true);
}

TEST_F(CliPassphraseTest, InitWithJsonReportsProtectedKeys) {
  std::string other = TempPath("other");
  CliResult r = Run({"--home", other, "--json", "init", "--name", "Kim"},
                    {{"KINDRED_PASSPHRASE", "another one"}, {"KINDRED_KDF", "interactive"}});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(ParseOrFail(r)["keys_protected"], true);
  CliResult plain = Run({"--home", other, "init", "--name", "Kim"});
  EXPECT_EQ(plain.exit_code, 1) << "the home is taken";
}

}  // namespace
}  // namespace kindred::cli_testing
