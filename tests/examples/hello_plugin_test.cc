// The author's path, end to end: install the SDK, build examples/hello-plugin
// out of tree with find_package(Kindred), load it into kindred (from a
// home's plugins folder on one device, with --plugin on the other), pair the
// two partners with a code, and sync one of its records to the partner over
// the real transport.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "tests/cli/cli_runner.h"
#include "tests/testing/kindred_child.h"

namespace kindred::cli_testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string FromEnv(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

class HelloPluginTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    env_["KINDRED_KDF"] = "interactive";
    env_["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  }
  // Runs a program that must succeed.
  CliResult Must(const std::string& program, const std::vector<std::string>& args,
                 std::chrono::seconds timeout = std::chrono::seconds(30)) {
    CliResult r = RunProgram(program, args, env_, std::nullopt, timeout);
    EXPECT_EQ(r.exit_code, 0) << program << " " << ::testing::PrintToString(args) << "\n" << r;
    return r;
  }
  CliResult Kindred(const std::vector<std::string>& args) {
    return RunProgram(KindredBinary(), args, env_);
  }
};

TEST_F(HelloPluginTest, AnOutOfTreePluginBuiltAgainstTheInstalledSdkLoadsAndItsRecordsSync) {
  const std::string cmake = KINDRED_CMAKE_COMMAND;
  const std::string source = FromEnv("KINDRED_SOURCE_DIR", KINDRED_TEST_SOURCE_DIR);
  const std::string binary = FromEnv("KINDRED_BINARY_DIR", KINDRED_TEST_BINARY_DIR);
  const std::string prefix = TempPath("prefix"), build = TempPath("hello-build");

  // 1. Install the SDK; build the example against it, and nothing else.
  Must(cmake, {"--install", binary, "--prefix", prefix});
  ASSERT_TRUE(fs::exists(prefix + "/include/kindred/plugin.h"));
  ASSERT_TRUE(fs::exists(prefix + "/lib/cmake/Kindred/KindredConfig.cmake"));
  Must(cmake,
       {"-S", source + "/examples/hello-plugin", "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix,
        "-DCMAKE_BUILD_TYPE=Release"},
       std::chrono::seconds(120));
  Must(cmake, {"--build", build}, std::chrono::seconds(180));
  const std::string plugin = build + "/hello_plugin.so";
  ASSERT_TRUE(fs::exists(plugin));

  // 2. Two partners, paired with a code: Alex has the plugin in the home's
  //    plugins folder, Sam passes it with --plugin.
  const std::string alex = TempPath("alex"), sam = TempPath("sam");
  ASSERT_EQ(Kindred({"--home", alex, "init", "--name", "Alex"}).exit_code, 0);
  ASSERT_EQ(Kindred({"--home", sam, "init", "--name", "Sam"}).exit_code, 0);
  {
    kindred::testing::KindredChild invite(
        {"--home", alex, "invite", "partner", "--listen", "127.0.0.1:0", "--discovery", "off"},
        TempPath(""));
    const std::string code = invite.WaitForLine("code: ");
    const std::string where = invite.WaitForLine("listening on ");
    ASSERT_FALSE(code.empty()) << invite.err();
    CliResult joined = Kindred({"--home", sam, "join", code, "--peer", where});
    ASSERT_EQ(joined.exit_code, 0) << joined;
    ASSERT_EQ(invite.Wait(std::chrono::seconds(30)), 0) << invite.err();
  }
  fs::create_directories(alex + "/plugins");
  fs::copy_file(plugin, alex + "/plugins/hello_plugin.so");

  CliResult listed = Kindred({"--home", alex, "--json", "plugins"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  bool found = false;
  for (const auto& p : json::parse(listed.out)) {
    if (p["id"] == "org.example.hello") {
      found = true;
      EXPECT_EQ(p["state"], "enabled");
      EXPECT_EQ(p["version"], "1.0.0");
      EXPECT_EQ(p["permissions"], json::array({"write:org.example.hello/greetings"}));
    }
  }
  EXPECT_TRUE(found) << listed;

  // 3. Alex runs serve and leaves a greeting (forwarded to serve); Sam syncs.
  kindred::testing::KindredChild serve({"--home", alex, "serve", "--listen", "127.0.0.1:0"},
                                       TempPath(""));
  const std::string address = serve.WaitForLine("listening on ");
  ASSERT_FALSE(address.empty()) << serve.err();
  CliResult said = Kindred({"--home", alex, "--json", "hello", "say", "Good", "morning,", "love"});
  ASSERT_EQ(said.exit_code, 0) << said;
  const std::string id = json::parse(said.out)["id"];
  CliResult synced = Kindred({"--home", sam, "--plugin", plugin, "sync", "--peer", address});
  ASSERT_EQ(synced.exit_code, 0) << synced;

  CliResult there = Kindred({"--home", sam, "--plugin", plugin, "--json", "hello", "list"});
  ASSERT_EQ(there.exit_code, 0) << there;
  json greetings = json::parse(there.out);
  ASSERT_EQ(greetings.size(), 1u);
  EXPECT_EQ(greetings[0]["id"], id);
  EXPECT_EQ(greetings[0]["text"], "Good morning, love");
  EXPECT_EQ(greetings[0]["author"], "Alex");

  // 4. Sam's hug travels back; Alex sees it through serve.
  ASSERT_EQ(Kindred({"--home", sam, "--plugin", plugin, "hello", "hug", id}).exit_code, 0);
  ASSERT_EQ(Kindred({"--home", sam, "--plugin", plugin, "sync", "--peer", address}).exit_code, 0);
  CliResult back = Kindred({"--home", alex, "--json", "hello", "list"});
  ASSERT_EQ(back.exit_code, 0) << back;
  EXPECT_EQ(json::parse(back.out)[0]["hugs"], 1);

  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(std::chrono::seconds(20)), 0) << serve.err();

  // Encrypted at rest on both devices.
  EXPECT_TRUE(FilesContaining(Snapshot(sam), "Good morning").empty());
  EXPECT_TRUE(FilesContaining(Snapshot(alex), "Good morning").empty());
}

}  // namespace
}  // namespace kindred::cli_testing
