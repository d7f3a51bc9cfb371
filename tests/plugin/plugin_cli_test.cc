// Plugins through the real `kindred` binary: `kindred plugins`, generated
// commands and help, disabling, a bad --plugin path, and commands forwarded
// to a running `kindred serve`.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/cli/cli_runner.h"

extern char** environ;

namespace kindred::cli_testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class PluginCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    env_["KINDRED_KDF"] = "interactive";
    InitHome("Alex");
  }
  json Json(const std::vector<std::string>& args) {
    std::vector<std::string> full{"--json"};
    full.insert(full.end(), args.begin(), args.end());
    CliResult r = RunHome(full);
    EXPECT_EQ(r.exit_code, 0) << r;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r;
    return j;
  }
};

TEST_F(PluginCliTest, ThePluginsCommandListsEveryPluginWithItsVersionPermissionsAndState) {
  json plugins = Json({"plugins"});
  ASSERT_TRUE(plugins.is_array());
  std::map<std::string, json> by_id;
  for (const auto& p : plugins) {
    EXPECT_TRUE(p.contains("id") && p.contains("version") && p.contains("permissions") &&
                p.contains("state"))
        << p;
    by_id[p["id"]] = p;
  }
  ASSERT_TRUE(by_id.count("org.kindred.gratitude"));
  EXPECT_EQ(by_id["org.kindred.gratitude"]["state"], "enabled");
  EXPECT_EQ(by_id["org.kindred.gratitude"]["permissions"],
            json::array({"write:org.kindred.gratitude/notes"}));
  CliResult text = RunHome({"plugins"});
  EXPECT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("org.kindred.gratitude 1.0.0  (enabled)"));
}

TEST_F(PluginCliTest, APluginsCommandsAppearWithGeneratedHelp) {
  CliResult top = RunHome({"--help"});
  EXPECT_THAT(top.out, HasSubstr("gratitude"));
  CliResult help = RunHome({"gratitude", "add", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  EXPECT_THAT(help.out, HasSubstr("--private"));
  EXPECT_THAT(help.out, HasSubstr("Keep this note to yourself"));
  CliResult bad = RunHome({"gratitude", "add", "--loud", "hi"});
  EXPECT_EQ(bad.exit_code, 1) << bad;
}

TEST_F(PluginCliTest, GratitudeNotesAreAddedListedAndNeverStoredInPlainText) {
  CliResult add = RunHome({"gratitude", "add", "Sam", "fixed", "the", "squeaky", "door"});
  ASSERT_EQ(add.exit_code, 0) << add;
  EXPECT_THAT(add.err, HasSubstr("shared"));
  json list = Json({"gratitude", "list"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], add.out.substr(0, add.out.size() - 1));
  EXPECT_EQ(list[0]["text"], "Sam fixed the squeaky door");
  EXPECT_EQ(list[0]["author"], "Alex");
  EXPECT_TRUE(FullMatch(list[0]["created"], kIsoTimePattern));
  auto files = Snapshot(home());
  EXPECT_TRUE(FilesContaining(files, "squeaky door").empty());
  EXPECT_TRUE(FilesContaining(files, "gratitude").empty());
}

TEST_F(PluginCliTest, ADisabledPluginSaysHowToTurnItBackOnAndEnablingRestoresIt) {
  ASSERT_EQ(RunHome({"gratitude", "add", "kept"}).exit_code, 0);
  CliResult off = RunHome({"plugins", "disable", "org.kindred.gratitude"});
  ASSERT_EQ(off.exit_code, 0) << off;
  EXPECT_EQ(Json({"plugins"})[0]["state"], "disabled");
  CliResult refused = RunHome({"gratitude", "list"});
  EXPECT_EQ(refused.exit_code, 4) << refused;
  EXPECT_THAT(refused.err, HasSubstr("kindred plugins enable org.kindred.gratitude"));
  ASSERT_EQ(RunHome({"plugins", "enable", "org.kindred.gratitude"}).exit_code, 0);
  EXPECT_EQ(Json({"gratitude", "list"}).size(), 1u);
}

TEST_F(PluginCliTest, APluginPathThatIsNotAPluginIsReportedAndTheRestWorks) {
  const std::string not_a_plugin = TempPath("notes.txt");
  WriteFileOrFail(not_a_plugin, "hello");
  CliResult r = RunHome({"--plugin", not_a_plugin, "--json", "plugins"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, HasSubstr("cannot load the plugin"));
  json list = json::parse(r.out);
  EXPECT_EQ(list.back()["state"], "failed");
  EXPECT_EQ(RunHome({"gratitude", "add", "still fine"}).exit_code, 0);
}

TEST_F(PluginCliTest, ALibraryBuiltForAnotherAbiVersionIsRefusedNamingBothVersions) {
  const std::string future = KINDRED_FUTURE_PLUGIN_PATH;
  CliResult r = RunHome({"--plugin", future, "--json", "plugins"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(
      r.err,
      HasSubstr(
          "was built for plugin ABI version 2, but this Kindred speaks plugin ABI version 1"));
  json list = json::parse(r.out);
  EXPECT_EQ(list.back()["state"], "failed");
  EXPECT_THAT(list.back()["reason"].get<std::string>(), HasSubstr("plugin ABI version 2"));
  EXPECT_EQ(RunHome({"gratitude", "list"}).exit_code, 0);
}

TEST_F(PluginCliTest, ALibraryThatSegfaultsFailsItsCommandWithExitCode4AndKindredCarriesOn) {
  const std::string crash = KINDRED_CRASH_PLUGIN_PATH;
  ASSERT_EQ(RunHome({"--plugin", crash, "crash", "fine"}).exit_code, 0);
  CliResult crashed = RunHome({"--plugin", crash, "crash", "segv"});
  EXPECT_EQ(crashed.exit_code, 4) << crashed;
  EXPECT_THAT(crashed.err, HasSubstr("the plugin org.test.crash crashed in run_command (SIGSEGV)"));
  EXPECT_THAT(crashed.err, HasSubstr("kindred plugins enable org.test.crash"));

  json plugins = Json({"--plugin", crash, "plugins"});
  ASSERT_EQ(plugins.back()["id"], "org.test.crash");
  EXPECT_EQ(plugins.back()["state"], "disabled");
  EXPECT_EQ(plugins.back()["own_process"], true);
  EXPECT_EQ(plugins[0]["own_process"], false);
  EXPECT_EQ(RunHome({"--plugin", crash, "crash", "count"}).exit_code, 4);

  // Everything else works, the store verifies, and only the record of the
  // call that returned was kept.
  EXPECT_EQ(RunHome({"gratitude", "add", "still", "fine"}).exit_code, 0);
  CliResult verified = RunHome({"verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified;
  ASSERT_EQ(RunHome({"--plugin", crash, "plugins", "enable", "org.test.crash"}).exit_code, 0);
  CliResult count = RunHome({"--plugin", crash, "crash", "count"});
  EXPECT_EQ(count.exit_code, 0) << count;
  EXPECT_EQ(count.out, "1");
}

// `kindred serve` on port 0, killed with SIGTERM at the end.
class Serve {
 public:
  Serve(const std::string& home, const std::string& out) {
    std::vector<std::string> args{KindredBinary(), "--home",   home,
                                  "serve",         "--listen", "127.0.0.1:0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, (out + ".err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::string kdf = "KINDRED_KDF=interactive", tz = "TZ=UTC", path = "PATH=/usr/bin:/bin";
    char* env[] = {kdf.data(), tz.data(), path.data(), nullptr};
    posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), env);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 200 && ReadFileOrEmpty(out).find("listening on") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ~Serve() {
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
  }

 private:
  pid_t pid_ = -1;
};

TEST_F(PluginCliTest, WhileServeRunsPluginCommandsAreForwardedToIt) {
  Serve serve(home(), TempPath("serve.out"));
  ASSERT_THAT(ReadFileOrEmpty(TempPath("serve.out")), HasSubstr("listening on"));
  CliResult add = RunHome({"gratitude", "add", "--private", "a", "quiet", "thanks"});
  ASSERT_EQ(add.exit_code, 0) << add;
  json list = Json({"gratitude", "list"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["visibility"], "private");
  EXPECT_EQ(Json({"plugins"})[0]["state"], "enabled");
}

}  // namespace
}  // namespace kindred::cli_testing
