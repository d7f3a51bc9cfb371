// Plugins that misbehave: one that throws (also after committing), one that
// answers with malformed bytes, one that reads what it was not granted or
// writes what it does not own. Each time the host refuses, names the plugin,
// disables it (and remembers that), and keeps running; nothing stored is
// lost, and nothing of the failed call is written. (Plugins that crash,
// hang or speak garbage frames out of process: out_of_process_test.cc.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/plugin/plugin_fixture.h"
#include "tests/plugin/test_plugins.h"

namespace kindred::plugin_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNotes[] = "org.test.notes";

void Plugins(plugin::Registry& r) {
  ASSERT_TRUE(r.AddBuiltin(&test_notes_plugin_entry).ok());
  ASSERT_TRUE(r.AddBuiltin(&test_garbage_plugin_entry).ok());
  ASSERT_TRUE(r.AddBuiltin(&test_spy_plugin_entry).ok());
}

class BadPluginTest : public ::testing::Test {
 protected:
  BadPluginTest() : alex_("Alex", 1, Plugins) {
    auto r = alex_.Run(kNotes, {"notes", "create"}, {{"title", {"Keep me"}}});
    EXPECT_TRUE(r.ok() && r->exit_code() == 0);
    kept_ = r.ok() ? r->out() : "";
  }

  // The refusal names the plugin; the plugin is now disabled, also for the
  // next host on this home; everything else still works and nothing is lost.
  void ExpectRefusedAndDisabled(const Result<pv1::CommandResponse>& r, const std::string& id,
                                const std::string& why) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
    EXPECT_THAT(r.status().message(), HasSubstr("the plugin " + id));
    EXPECT_THAT(r.status().message(), HasSubstr(why));
    EXPECT_THAT(r.status().message(), HasSubstr("disabled"));
    EXPECT_EQ(alex_.StateOf(id), "disabled");

    auto again = alex_.Run(id, {"notes", "get"}, {{"id", {kept_}}});
    EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(again.status().message(), HasSubstr("kindred plugins enable " + id));

    // The engine and the other plugins carry on.
    EXPECT_TRUE(alex_.engine
                    ->Commit(alex_.space(),
                             {Mutation::Create("journal", {{"text", std::string("still here")}})})
                    .ok());
    auto spy = alex_.Run("org.test.spy", {"spy"});
    EXPECT_TRUE(spy.ok()) << spy.status().ToString();

    alex_.StartHost();  // as the next command on this home would
    EXPECT_EQ(alex_.StateOf(id), "disabled");
    ASSERT_TRUE(alex_.host->Enable(id).ok());
    EXPECT_EQ(alex_.StateOf(id), "enabled");
    if (id == kNotes) {
      auto kept = alex_.Json(kNotes, {"notes", "get"}, {{"id", {kept_}}});
      EXPECT_EQ(kept["title"], "Keep me");
    }
  }

  Device alex_;
  std::string kept_;
};

TEST_F(BadPluginTest, APluginThatThrowsIsRefusedNamedAndDisabledAndKindredKeepsRunning) {
  auto r = alex_.Run(kNotes, {"notes", "throw"});
  // What the plugin said is shown, but only Kindred's own account is remembered.
  std::ifstream in(alex_.StatePath());
  std::stringstream state;
  state << in.rdbuf();
  EXPECT_THAT(state.str(), HasSubstr("failed in run_command"));
  EXPECT_THAT(state.str(), Not(HasSubstr("something inside the plugin")));
  ExpectRefusedAndDisabled(r, kNotes, "threw an exception: something inside the plugin went wrong");
}

TEST_F(BadPluginTest, APluginThatThrowsAfterCommittingLeavesNothingOfThatCallBehind) {
  auto items = [&] {
    size_t n = 0;
    EXPECT_TRUE(alex_.engine
                    ->Scan(alex_.space(), plugin::EngineCollection(kNotes, "items"),
                           [&](const Record&) {
                             ++n;
                             return true;
                           })
                    .ok());
    return n;
  };
  const size_t before = items();
  ExpectRefusedAndDisabled(
      alex_.Run(kNotes, {"notes", "commit-then-throw"}, {{"title", {"half done"}}}), kNotes,
      "threw an exception: changed my mind");
  EXPECT_EQ(items(), before);
}

TEST_F(BadPluginTest, APluginThatAnswersWithMalformedBytesIsRefusedAndDisabled) {
  ExpectRefusedAndDisabled(alex_.Run("org.test.garbage", {"garbage"}), "org.test.garbage",
                           "returned malformed bytes from run_command");
}

TEST_F(BadPluginTest, APluginWhoseViewUpdateIsMalformedIsDisabledAndTheOthersRefreshed) {
  ASSERT_TRUE(alex_.engine
                  ->Commit(alex_.space(),
                           {Mutation::Create(plugin::EngineCollection("org.test.garbage", "junk"),
                                             {{"text", std::string("x")}})})
                  .ok());
  Status s = alex_.host->CatchUp();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("org.test.garbage returned malformed bytes from update_view"));
  EXPECT_EQ(alex_.StateOf("org.test.garbage"), "disabled");
  EXPECT_EQ(alex_.StateOf(kNotes), "enabled");
  auto rows = alex_.host->ViewRows(kNotes, "titles");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

TEST_F(BadPluginTest, APluginThatAsksToReadWhatItWasNotGrantedIsRefusedAndDisabled) {
  ExpectRefusedAndDisabled(alex_.Run(kNotes, {"notes", "read"}, {{"collection", {"rituals"}}}),
                           kNotes, "asked to read rituals, which its manifest does not grant");
}

TEST_F(BadPluginTest, APluginThatWritesToACollectionItDoesNotOwnIsRefusedAndNothingIsWritten) {
  ExpectRefusedAndDisabled(alex_.Run(kNotes, {"notes", "write"}, {{"collection", {"journal"}}}),
                           kNotes, "tried to write to journal, a collection it does not own");
  size_t sneaky = 0;
  ASSERT_TRUE(alex_.engine
                  ->Scan(alex_.space(), "journal",
                         [&](const Record& r) {
                           sneaky += r.Text("text") == "sneaky";
                           return true;
                         })
                  .ok());
  EXPECT_EQ(sneaky, 0u);
}

TEST_F(BadPluginTest, APluginThatWritesAnotherPluginsCollectionIsRefused) {
  ExpectRefusedAndDisabled(
      alex_.Run(kNotes, {"notes", "write"}, {{"collection", {"org.test.spy/mine"}}}), kNotes,
      "a collection it does not own");
}

TEST_F(BadPluginTest, APluginThatReturnsAFileForAnOptionThatIsNotAnOutputFileIsRefused) {
  auto fine = alex_.Run(kNotes, {"notes", "report"}, {{"out", {"/tmp/report.html"}}});
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  ASSERT_EQ(fine->files_size(), 1);
  ExpectRefusedAndDisabled(alex_.Run(kNotes, {"notes", "report"}, {{"other", {"x"}}}), kNotes,
                           "not an output file option");
}

}  // namespace
}  // namespace kindred::plugin_testing
