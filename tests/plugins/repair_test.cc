// org.kindred.repair: opening a repair, I-statements and reflections,
// agreements, resolving, and the time it took, across both partners.
#include "plugins/repair/repair.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/builtin.h"
#include "tests/plugin/plugin_fixture.h"

namespace kindred::plugin_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kRepair[] = "org.kindred.repair";
constexpr int64_t kHour = int64_t{3600} * 1000000;

class RepairTest : public ::testing::Test {
 protected:
  RepairTest() : alex_("Alex", 1, RegisterBuiltinPlugins), sam_("Sam", 2, RegisterBuiltinPlugins) {
    PairPartners(alex_, sam_);
  }
  std::string Open(Device& d, const std::string& topic) {
    auto j = d.Json(kRepair, {"repair", "open"}, {{"topic", {topic}}});
    return j.is_object() ? j.value("id", "") : "";
  }
  Device alex_;
  Device sam_;
};

TEST_F(RepairTest, ARepairOpenedByOnePartnerIsResolvedByTheOtherAndTheTimeItTookIsKept) {
  const std::string id = Open(alex_, "the dishes");
  ASSERT_FALSE(id.empty());
  SyncBoth(alex_, sam_);
  auto listed = sam_.Json(kRepair, {"repair", "list"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], id);
  EXPECT_EQ(listed[0]["topic"], "the dishes");
  EXPECT_EQ(listed[0]["status"], "open");
  EXPECT_TRUE(listed[0]["resolved"].is_null());

  sam_.clock().Advance(3 * kHour);
  auto resolved = sam_.Json(kRepair, {"repair", "resolve"}, {{"id", {id}}});
  EXPECT_EQ(resolved["seconds_to_repair"], 3 * 3600);
  SyncBoth(alex_, sam_);
  auto after = alex_.Json(kRepair, {"repair", "list"});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["status"], "resolved");
  EXPECT_TRUE(after[0]["resolved"].is_string());
  EXPECT_EQ(after[0]["seconds_to_repair"], 3 * 3600);
  EXPECT_EQ(alex_.Json(kRepair, {"repair", "list"}), sam_.Json(kRepair, {"repair", "list"}));
}

TEST_F(RepairTest, NotesFromBothPartnersWrittenAtOnceAreAllKeptInTimeOrder) {
  const std::string id = Open(alex_, "weekend plans");
  SyncBoth(alex_, sam_);
  alex_.clock().Advance(1'000'000);
  alex_.Json(
      kRepair, {"repair", "note"},
      {{"id", {id}}, {"text", {"I felt left out of the decision"}}, {"feeling", {"left out"}}});
  sam_.clock().Advance(2'000'000);
  sam_.Json(
      kRepair, {"repair", "note"},
      {{"id", {id}}, {"text", {"You felt left out because I decided alone"}}, {"reflect", {}}});
  sam_.Json(kRepair, {"repair", "agree"},
            {{"id", {id}}, {"text", {"We plan weekends together on Thursdays"}}});
  SyncBoth(alex_, sam_);
  auto shown = alex_.Json(kRepair, {"repair", "show"}, {{"id", {id}}});
  ASSERT_EQ(shown["notes"].size(), 2u);
  EXPECT_EQ(shown["notes"][0]["member"], "Alex");
  EXPECT_EQ(shown["notes"][0]["feeling"], "left out");
  EXPECT_EQ(shown["notes"][1]["kind"], "reflect");
  EXPECT_EQ(shown["agreements"][0]["text"], "We plan weekends together on Thursdays");
  EXPECT_EQ(shown, sam_.Json(kRepair, {"repair", "show"}, {{"id", {id}}}));
}

TEST_F(RepairTest, AnAccusingYouStatementGetsAGentleIStatementSuggestion) {
  const std::string id = Open(alex_, "being late");
  auto r = alex_.Run(kRepair, {"repair", "note"},
                     {{"id", {id}},
                      {"text", {"You never tell me when you're running late"}},
                      {"feeling", {"worried"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code(), 0);
  EXPECT_THAT(r->err(), HasSubstr("I feel worried when"));
  auto calm = alex_.Json(kRepair, {"repair", "note"},
                         {{"id", {id}}, {"text", {"I feel worried when I don't hear from you"}}});
  EXPECT_TRUE(calm["suggestion"].is_null());
  // A reflection repeats the partner's words: no suggestion there.
  auto reflect =
      alex_.Json(kRepair, {"repair", "note"},
                 {{"id", {id}}, {"text", {"You felt rushed this morning"}}, {"reflect", {}}});
  EXPECT_TRUE(reflect["suggestion"].is_null());
}

TEST(RepairHeuristicTest, AccusingPhrasesAreNoticedAndIStatementsLeftAlone) {
  using repair::SuggestIStatement;
  EXPECT_TRUE(SuggestIStatement("You always do this", "", "").has_value());
  EXPECT_TRUE(SuggestIStatement("It's your fault we were late", "", "").has_value());
  EXPECT_TRUE(SuggestIStatement("I'm upset because you didn't call", "", "").has_value());
  EXPECT_THAT(SuggestIStatement("you made me wait", "hurt", "to be told"),
              Optional(HasSubstr("\"I feel hurt when ... , because I need to be told.\"")));
  EXPECT_FALSE(
      SuggestIStatement("I feel hurt when plans change at the last minute", "", "").has_value());
  EXPECT_FALSE(SuggestIStatement("Can we talk about Sunday?", "", "").has_value());
  EXPECT_FALSE(SuggestIStatement("Thank you for listening", "", "").has_value());
}

TEST_F(RepairTest, AResolvedRepairTakesNoMoreNotesAndAnUnknownIdIsBadInput) {
  const std::string id = Open(alex_, "money");
  alex_.Json(kRepair, {"repair", "resolve"}, {{"id", {id}}});
  auto late = alex_.Run(kRepair, {"repair", "note"}, {{"id", {id}}, {"text", {"one more thing"}}});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->exit_code(), 1);
  EXPECT_THAT(late->err(), HasSubstr("resolved"));
  auto again = alex_.Run(kRepair, {"repair", "resolve"}, {{"id", {id}}});
  EXPECT_EQ(again->exit_code(), 1);
  auto unknown = alex_.Run(kRepair, {"repair", "show"}, {{"id", {"nope"}}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->exit_code(), 1);
  EXPECT_THAT(unknown->err(), HasSubstr("no repair with id nope"));
}

}  // namespace
}  // namespace kindred::plugin_testing
