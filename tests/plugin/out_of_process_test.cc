// Third-party plugins run in a kindred-plugin-runner process of their own.
// One that segfaults, aborts, loops forever, exits mid-call or writes
// garbage frames takes down only that process: the call is refused with a
// message naming the plugin, the plugin is disabled, the host and the engine
// keep working, and nothing is lost (not even half of the failed call).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>

#include "engine/plugin/manifest.h"
#include "tests/plugin/plugin_fixture.h"
#include "tests/plugin/test_plugins.h"

namespace kindred::plugin_testing {
namespace {

using ::testing::HasSubstr;

constexpr char kNotes[] = "org.test.notes";
constexpr char kCrash[] = "org.test.crash";
constexpr auto kCallTimeout = std::chrono::milliseconds(500);

plugin::RunnerOptions TestRunner() {
  plugin::RunnerOptions options;
  options.runner_path = KINDRED_PLUGIN_RUNNER_PATH;
  options.call_timeout = kCallTimeout;
  options.start_timeout = std::chrono::milliseconds(5000);
  return options;
}

void NotesAndCrash(plugin::Registry& r) {
  ASSERT_TRUE(r.AddBuiltin(&test_notes_plugin_entry).ok());
  r.SetRunnerOptions(TestRunner());
  Status loaded = r.LoadLibrary(KINDRED_CRASH_PLUGIN_PATH);
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
}

class OutOfProcessTest : public ::testing::Test {
 protected:
  OutOfProcessTest() : alex_("Alex", 1, NotesAndCrash) {
    auto kept = alex_.Run(kNotes, {"notes", "create"}, {{"title", {"Keep me"}}});
    EXPECT_TRUE(kept.ok() && kept->exit_code() == 0);
    kept_ = kept.ok() ? kept->out() : "";
    auto fine = alex_.Run(kCrash, {"crash", "fine"});
    EXPECT_TRUE(fine.ok()) << fine.status().ToString();
    EXPECT_EQ(Things(), 1u);
  }

  // The records of the crash plugin's collection, as stored.
  size_t Things() {
    size_t n = 0;
    Status s = alex_.engine->Scan(alex_.space(), plugin::EngineCollection(kCrash, "things"),
                                  [&](const Record&) {
                                    ++n;
                                    return true;
                                  });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return n;
  }

  // The crash was contained: refused naming the plugin and `why`, the
  // plugin disabled (also for the next host on this home), the same host
  // still runs another plugin's command, and the store is as it was before
  // the call: it verifies, the kept record is intact, and the record the
  // crashing call committed before it crashed was never written.
  void ExpectContained(const Result<pv1::CommandResponse>& r, const std::string& why) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
    EXPECT_THAT(r.status().message(), HasSubstr("the plugin org.test.crash " + why));
    EXPECT_THAT(r.status().message(), HasSubstr("disabled the plugin"));
    EXPECT_EQ(alex_.StateOf(kCrash), "disabled");
    EXPECT_EQ(alex_.Run(kCrash, {"crash", "count"}).status().code(),
              StatusCode::kFailedPrecondition);

    auto kept = alex_.Json(kNotes, {"notes", "get"}, {{"id", {kept_}}});
    EXPECT_EQ(kept["title"], "Keep me");
    EXPECT_EQ(Things(), 1u);
    VerifyReport report;
    Status verified = alex_.engine->Verify(&report);
    EXPECT_TRUE(verified.ok()) << verified.ToString();

    alex_.StartHost();  // as the next command on this home would
    EXPECT_EQ(alex_.StateOf(kCrash), "disabled");
  }

  Device alex_;
  std::string kept_;
};

TEST_F(OutOfProcessTest, ASegfaultInACommandIsContainedAndWhatTheCallCommittedIsNotKept) {
  ExpectContained(alex_.Run(kCrash, {"crash", "segv"}), "crashed in run_command (SIGSEGV)");
}

TEST_F(OutOfProcessTest, AnAbortInACommandIsContained) {
  ExpectContained(alex_.Run(kCrash, {"crash", "abort"}), "crashed in run_command (SIGABRT)");
}

TEST_F(OutOfProcessTest, ACommandThatLoopsForeverIsStoppedAtTheCallTimeout) {
  const auto start = std::chrono::steady_clock::now();
  auto r = alex_.Run(kCrash, {"crash", "loop"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, kCallTimeout);
  EXPECT_LT(took, std::chrono::seconds(5));
  ExpectContained(r, "did not finish run_command within 500 ms, so Kindred stopped it");
}

TEST_F(OutOfProcessTest, APluginThatWritesAGarbageFrameIsStopped) {
  ExpectContained(alex_.Run(kCrash, {"crash", "garbage"}),
                  "sent a malformed frame during run_command");
}

TEST_F(OutOfProcessTest, AFrameOverTheSizeLimitIsRefusedBeforeAnythingIsAllocatedForIt) {
  ExpectContained(alex_.Run(kCrash, {"crash", "huge"}),
                  "sent a frame of 1073741824 bytes during run_command, more than the 67108864-"
                  "byte limit");
}

TEST_F(OutOfProcessTest, APluginThatExitsInTheMiddleOfACallIsContained) {
  ExpectContained(alex_.Run(kCrash, {"crash", "exit"}), "exited with status 7 in run_command");
}

TEST_F(OutOfProcessTest, ACrashInAViewUpdateDisablesOnlyThatPluginAndTheOthersViewsAreKept) {
  ASSERT_TRUE(alex_.engine
                  ->Commit(alex_.space(),
                           {Mutation::Create(plugin::EngineCollection(kCrash, "things"),
                                             {{"text", std::string("segv-in-view")},
                                              {"@shared", false}})})
                  .ok());
  Status s = alex_.host->CatchUp();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("the plugin org.test.crash crashed in update_view (SIGSEGV)"));
  EXPECT_EQ(alex_.StateOf(kCrash), "disabled");
  EXPECT_EQ(alex_.StateOf(kNotes), "enabled");
  auto rows = alex_.host->ViewRows(kNotes, "titles");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
  EXPECT_TRUE(alex_.Run(kNotes, {"notes", "view"}, {{"view", {"titles"}}}).ok());
}

TEST_F(OutOfProcessTest, ACrashedPluginStartsInAFreshProcessWhenEnabledAgain) {
  auto before = alex_.Json(kCrash, {"crash", "whoami"});
  ExpectContained(alex_.Run(kCrash, {"crash", "segv"}), "crashed in run_command (SIGSEGV)");
  ASSERT_TRUE(alex_.host->Enable(kCrash).ok());
  auto fine = alex_.Run(kCrash, {"crash", "fine"});
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ(Things(), 2u);
  auto after = alex_.Json(kCrash, {"crash", "whoami"});
  EXPECT_NE(after["pid"], before["pid"]);
}

TEST_F(OutOfProcessTest, ALibraryRunsInAProcessOfItsOwnThatInheritsNoSecretsFilesOrDirectory) {
  ASSERT_EQ(setenv("KINDRED_PASSPHRASE", "correct horse", 1), 0);
  alex_.StartHost();  // its runner starts now, with this environment around it
  auto me = alex_.Json(kCrash, {"crash", "whoami"});
  unsetenv("KINDRED_PASSPHRASE");
  EXPECT_NE(me["pid"], static_cast<int>(getpid()));
  EXPECT_EQ(me["passphrase"], false);
  EXPECT_EQ(me["home"], false);
  EXPECT_TRUE(me["cwd"].is_null()) << me;  // an empty directory that no longer exists
  EXPECT_LE(me["open_fds"].get<int>(), 4) << me;  // stdin, stdout, stderr and the socket
  EXPECT_EQ(me["core_limit"], 0);
  for (const auto& p : alex_.host->Plugins()) EXPECT_EQ(p.out_of_process, p.id == kCrash);
}

TEST_F(OutOfProcessTest, EveryCommitOfOneCallIsAppliedTogetherAndLaterChangesSeeEarlierOnes) {
  auto r = alex_.Run(kCrash, {"crash", "pair"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->exit_code(), 0) << r->err();
  EXPECT_EQ(Things(), 2u);
  auto record = alex_.engine->Get(alex_.space(), plugin::EngineCollection(kCrash, "things"),
                                  r->out());
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->Text("text"), "second");
}

TEST(OutOfProcessLoadTest, ALibraryThatCrashesWhileLoadingIsListedAsFailedAndTheRestWorks) {
  Device alex("Alex", 1, [](plugin::Registry& r) {
    ASSERT_TRUE(r.AddBuiltin(&test_notes_plugin_entry).ok());
    r.SetRunnerOptions(TestRunner());
    Status s = r.LoadLibrary(KINDRED_CRASH_WHILE_LOADING_PLUGIN_PATH);
    EXPECT_EQ(s.code(), StatusCode::kInternal);
    EXPECT_THAT(s.message(), HasSubstr("crashed while loading (SIGSEGV)"));
  });
  ASSERT_EQ(alex.registry.modules().size(), 2u);
  EXPECT_FALSE(alex.registry.modules()[1]->loaded());
  auto r = alex.Run(kNotes, {"notes", "create"}, {{"title", {"still here"}}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST(OutOfProcessLoadTest, ALibraryThatHangsWhileDescribingItselfIsStoppedAndListedAsFailed) {
  plugin::Registry registry;
  plugin::RunnerOptions options = TestRunner();
  options.start_timeout = std::chrono::milliseconds(500);
  registry.SetRunnerOptions(options);
  const auto start = std::chrono::steady_clock::now();
  Status s = registry.LoadLibrary(KINDRED_HANG_WHILE_LOADING_PLUGIN_PATH);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("did not finish describe within 500 ms"));
  auto listed = registry.Describe({});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, "failed");
}

TEST(OutOfProcessLoadTest, WithoutARunnerALibraryIsRefusedRatherThanLoadedIntoKindred) {
  plugin::Registry registry;
  plugin::RunnerOptions options;
  options.runner_path = "/nonexistent/kindred-plugin-runner";
  registry.SetRunnerOptions(options);
  Status s = registry.LoadLibrary(KINDRED_CRASH_PLUGIN_PATH);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("kindred-plugin-runner was not found"));
}

}  // namespace
}  // namespace kindred::plugin_testing
