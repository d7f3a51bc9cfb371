// org.kindred.gratitude: notes of gratitude, shared with the partner by default.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/builtin.h"
#include "tests/plugin/plugin_fixture.h"

namespace kindred::plugin_testing {
namespace {

using ::testing::HasSubstr;

constexpr char kGratitude[] = "org.kindred.gratitude";
constexpr int64_t kDay = int64_t{24} * 3600 * 1000000;

class GratitudeTest : public ::testing::Test {
 protected:
  GratitudeTest()
      : alex_("Alex", 1, RegisterBuiltinPlugins), sam_("Sam", 2, RegisterBuiltinPlugins) {
    PairPartners(alex_, sam_);
  }
  std::string Add(Device& d, const std::string& text, bool priv = false) {
    Args args{{"text", {text}}};
    if (priv) args["private"] = {};
    auto j = d.Json(kGratitude, {"gratitude", "add"}, args);
    return j.is_object() ? j.value("id", "") : "";
  }
  nlohmann::json List(Device& d, bool week = false) {
    Args args;
    if (week) args["week"] = {};
    return d.Json(kGratitude, {"gratitude", "list"}, args);
  }
  Device alex_;
  Device sam_;
};

TEST_F(GratitudeTest, ANoteIsSharedWithThePartnerByDefault) {
  const std::string id = Add(alex_, "Sam made tea without asking while I worked late.");
  ASSERT_FALSE(id.empty());
  SyncBoth(alex_, sam_);
  auto notes = List(sam_);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]["id"], id);
  EXPECT_EQ(notes[0]["text"], "Sam made tea without asking while I worked late.");
  EXPECT_EQ(notes[0]["author"], "Alex");
  EXPECT_EQ(notes[0]["visibility"], "shared");
  EXPECT_TRUE(notes[0]["created"].is_string());
}

TEST_F(GratitudeTest, BothPartnersNotesAppearOldestFirst) {
  Add(alex_, "the walk by the river");
  sam_.clock().Advance(60'000'000);
  Add(sam_, "Alex listened about my day");
  SyncBoth(alex_, sam_);
  auto notes = List(alex_);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0]["author"], "Alex");
  EXPECT_EQ(notes[1]["author"], "Sam");
  EXPECT_EQ(notes, List(sam_));
}

TEST_F(GratitudeTest, APrivateNoteIsShownOnlyToItsAuthor) {
  Add(alex_, "just for me", /*priv=*/true);
  SyncBoth(alex_, sam_);
  auto mine = List(alex_);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0]["visibility"], "private");
  EXPECT_TRUE(List(sam_).empty());
}

TEST_F(GratitudeTest, TheWeekShowsOnlyTheLastSevenDays) {
  Add(alex_, "an old one");
  alex_.clock().Advance(8 * kDay);
  Add(alex_, "a new one");
  auto week = List(alex_, /*week=*/true);
  ASSERT_EQ(week.size(), 1u);
  EXPECT_EQ(week[0]["text"], "a new one");
  EXPECT_EQ(List(alex_).size(), 2u);
}

TEST_F(GratitudeTest, AnEmptyNoteIsRefusedAsBadInput) {
  auto r = alex_.Run(kGratitude, {"gratitude", "add"}, {{"text", {"   "}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code(), 1);
  EXPECT_THAT(r->err(), HasSubstr("empty"));
  EXPECT_TRUE(List(alex_).empty());
}

TEST_F(GratitudeTest, TheTextListIsWarmWhenThereIsNothingYet) {
  auto r = alex_.Run(kGratitude, {"gratitude", "list"}, {{"week", {}}});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->out(), HasSubstr("No gratitude notes this week yet"));
}

}  // namespace
}  // namespace kindred::plugin_testing
