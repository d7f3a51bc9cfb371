// org.kindred.stats over four weeks of a couple's life, built with a fake
// clock: rituals kept against planned and streaks, gratitude exchanged,
// closeness moments, repairs and the time they took; privacy; the renderings.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "engine/calendar/calendar.h"
#include "kindred/rituals.h"
#include "plugins/builtin.h"
#include "tests/plugin/plugin_fixture.h"

namespace kindred::plugin_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace cal = ::kindred::calendar;

constexpr char kStats[] = "org.kindred.stats";
constexpr char kGratitude[] = "org.kindred.gratitude";
constexpr char kRepair[] = "org.kindred.repair";
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr int64_t kDay = 24 * kHour;
// Monday 4 May 2026, 00:00 UTC: the first of the four weeks.
constexpr int64_t kWeek0 = int64_t{1777852800} * kSecond;
// Thursday of the fourth week, 20:00 UTC: "now".
constexpr int64_t kNow = kWeek0 + 3 * 7 * kDay + 3 * kDay + 20 * kHour;

int64_t At(int week, int day, int hour) { return kWeek0 + (week * 7 + day) * kDay + hour * kHour; }

class StatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
  StatsTest()
      : alex_("Alex", 1, RegisterBuiltinPlugins, false, At(0, 0, 7)),
        sam_("Sam", 2, RegisterBuiltinPlugins, false, At(0, 0, 7)) {
    PairPartners(alex_, sam_);
  }

  void Clock(int64_t micros) {
    alex_.clock().Set(micros);
    sam_.clock().Set(micros);
  }
  void Gratitude(Device& d, int64_t when, const std::string& text, bool priv = false) {
    Clock(when);
    Args args{{"text", {text}}};
    if (priv) args["private"] = {};
    d.Json(kGratitude, {"gratitude", "add"}, args);
  }
  void Journal(Device& d, int64_t when, const std::string& tag, bool shared) {
    Clock(when);
    ASSERT_TRUE(d.engine
                    ->Commit(d.SpaceFor(shared),
                             {Mutation::Create("journal", {{"text", std::string("a moment")},
                                                           {"tags", std::vector<std::string>{tag}},
                                                           {"shared", shared}})})
                    .ok());
  }
  std::string Repair(Device& d, int64_t opened, std::optional<int64_t> resolved,
                     const std::string& topic) {
    Clock(opened);
    auto j = d.Json(kRepair, {"repair", "open"}, {{"topic", {topic}}});
    const std::string id = j.value("id", "");
    if (resolved) {
      Clock(*resolved);
      d.Json(kRepair, {"repair", "resolve"}, {{"id", {id}}});
    }
    return id;
  }
  // A daily ritual at 21:00 UTC from the first Monday, done on the given (week, day)s.
  std::string DailyRitual(Device& d, const std::string& title,
                          const std::vector<std::pair<int, int>>& done) {
    auto calendar = cal::Calendar::Create();
    EXPECT_TRUE(calendar.ok());
    Rituals rituals(*d.engine, **calendar, d.env->clock());
    NewRitual r;
    r.title = title;
    r.rule.rrule = "FREQ=DAILY";
    r.rule.start = *cal::ParseLocalDateTime("2026-05-04T21:00");
    r.rule.zone = "UTC";
    r.rule.duration = std::chrono::minutes(5);
    auto id = rituals.Add(r);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    for (auto [week, day] : done) {
      const int64_t start = At(week, day, 21) / kSecond;
      auto arg = cal::ParseDateTimeArg(
          cal::FormatCivilTime(cal::CivilFromSecondsAsIfUtc(start)).substr(0, 16));
      EXPECT_TRUE(arg.ok());
      auto marked = rituals.MarkDone(*id, *arg, "", 0);
      EXPECT_TRUE(marked.ok()) << marked.status().ToString();
    }
    return id.ok() ? *id : "";
  }

  // Four weeks, in the order they happened.
  void Live() {
    Repair(alex_, At(0, 1, 10), At(0, 3, 10), "the dishes");  // 48 hours
    Gratitude(alex_, At(0, 2, 20), "tea while I worked late");
    Gratitude(alex_, At(1, 0, 20), "you listened");
    Journal(alex_, At(1, 1, 21), "closeness", false);
    Gratitude(sam_, At(1, 2, 20), "the walk by the river");
    Journal(alex_, At(1, 3, 21), "closeness", true);
    Journal(alex_, At(1, 4, 21), "hard", true);
    Gratitude(alex_, At(1, 5, 20), "Saturday breakfast");
    Repair(sam_, At(2, 0, 9), At(2, 0, 11), "being late");  // 2 hours
    Gratitude(sam_, At(2, 1, 20), "you fixed the door");
    Gratitude(sam_, At(2, 2, 20), "a secret thanks", /*priv=*/true);
    Journal(sam_, At(2, 3, 21), "closeness", false);  // Sam's, private
    Gratitude(sam_, At(2, 4, 20), "you called my mum");
    Repair(alex_, At(3, 1, 9), std::nullopt, "money");
    Gratitude(alex_, At(3, 2, 20), "you waited for me");
    Clock(kNow);
    std::vector<std::pair<int, int>> done{{0, 0}, {0, 1}, {0, 2}};
    for (int d = 0; d < 7; ++d) done.push_back({1, d});
    for (int d = 0; d < 5; ++d) done.push_back({2, d});
    for (int d = 0; d < 3; ++d) done.push_back({3, d});
    DailyRitual(alex_, "Evening check-in", done);
    SyncBoth(alex_, sam_);
  }

  nlohmann::json Stats(Device& d, Args args = {{"weeks", {"4"}}}) {
    return d.Json(kStats, {"stats"}, args);
  }

  Device alex_;
  Device sam_;
};

TEST_F(StatsTest, EachWeekCountsRitualsGratitudeClosenessAndRepairs) {
  Live();
  auto s = Stats(alex_);
  ASSERT_EQ(s["weeks"].size(), 4u);
  const auto& w = s["weeks"];
  EXPECT_EQ(w[0]["start"], "2026-05-04");
  EXPECT_EQ(w[3]["start"], "2026-05-25");
  // Rituals: every day planned; this week only what has begun by Thursday 20:00.
  EXPECT_EQ(w[0]["rituals"], nlohmann::json({{"planned", 7}, {"kept", 3}}));
  EXPECT_EQ(w[1]["rituals"], nlohmann::json({{"planned", 7}, {"kept", 7}}));
  EXPECT_EQ(w[2]["rituals"], nlohmann::json({{"planned", 7}, {"kept", 5}}));
  EXPECT_EQ(w[3]["rituals"], nlohmann::json({{"planned", 3}, {"kept", 3}}));
  // Gratitude exchanged, by whom.
  EXPECT_EQ(w[0]["gratitude"]["total"], 1);
  EXPECT_EQ(w[1]["gratitude"]["by_member"], nlohmann::json({{"Alex", 2}, {"Sam", 1}}));
  EXPECT_EQ(w[2]["gratitude"]["total"], 2);  // Sam's private note is Sam's alone
  EXPECT_EQ(w[3]["gratitude"]["total"], 1);
  // Closeness moments: Alex's own private one counts for Alex; "hard" does not.
  EXPECT_EQ(w[1]["closeness_moments"], 2);
  EXPECT_EQ(w[2]["closeness_moments"], 0);
  // Repairs and time to repair.
  EXPECT_EQ(w[0]["repairs"],
            nlohmann::json({{"opened", 1}, {"resolved", 1}, {"median_hours_to_repair", 48.0}}));
  EXPECT_EQ(w[2]["repairs"],
            nlohmann::json({{"opened", 1}, {"resolved", 1}, {"median_hours_to_repair", 2.0}}));
  EXPECT_EQ(w[3]["repairs"]["opened"], 1);
  EXPECT_TRUE(w[3]["repairs"]["median_hours_to_repair"].is_null());
  EXPECT_EQ(s["median_hours_to_repair"], 25.0);
  EXPECT_EQ(s["earlier_median_hours_to_repair"], 48.0);
  EXPECT_EQ(s["later_median_hours_to_repair"], 2.0);
}

TEST_F(StatsTest, APartnersPrivateRecordsCountOnlyForThem) {
  Live();
  auto sam = Stats(sam_);
  EXPECT_EQ(sam["weeks"][2]["gratitude"]["total"], 3);  // including the private note
  EXPECT_EQ(sam["weeks"][2]["closeness_moments"], 1);
  EXPECT_EQ(sam["weeks"][1]["closeness_moments"], 1);  // Alex's shared one, not the private one
}

TEST_F(StatsTest, AStreakCountsOccurrencesKeptInARowAndTheLongestRun) {
  Live();
  auto s = Stats(alex_);
  ASSERT_EQ(s["streaks"].size(), 1u);
  EXPECT_EQ(s["streaks"][0]["title"], "Evening check-in");
  EXPECT_EQ(s["streaks"][0]["current"], 3);
  EXPECT_EQ(s["streaks"][0]["longest"], 12);
}

TEST_F(StatsTest, AnOccurrenceNotYetMarkedFromLastNightDoesNotBreakTheStreak) {
  Live();
  Clock(kNow + 20 * kHour);  // Friday 16:00: Thursday 21:00 has passed, not yet marked
  auto s = Stats(alex_);
  EXPECT_EQ(s["streaks"][0]["current"], 3);
  Clock(kNow + 2 * kDay);  // Saturday 20:00: Thursday's is more than a day gone
  EXPECT_EQ(Stats(alex_)["streaks"][0]["current"], 0);
}

TEST_F(StatsTest, TheTableShowsEachWeekSmallChartsAndTheRepairTrend) {
  Live();
  auto r = alex_.Run(kStats, {"stats"}, {{"weeks", {"4"}}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(r->out(), HasSubstr("this week"));
  EXPECT_THAT(r->out(), HasSubstr("7/7"));
  EXPECT_THAT(r->out(), HasSubstr("█"));
  EXPECT_THAT(r->out(), HasSubstr("18 of 24 (75%)"));
  EXPECT_THAT(r->out(), HasSubstr("finding your way back to each other sooner"));
  EXPECT_THAT(r->out(), HasSubstr("Evening check-in"));
}

TEST_F(StatsTest, TheHtmlReportIsOneSelfContainedPageWithCharts) {
  Live();
  auto r = alex_.Run(kStats, {"stats"}, {{"weeks", {"4"}}, {"html", {"/somewhere/report.html"}}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->files_size(), 1);
  EXPECT_EQ(r->files(0).option(), "html");
  const std::string& html = r->files(0).content();
  EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("How you are doing together"));
  for (const char* external : {"<script", "<link", "src=", "url(", "@import", "https:"}) {
    EXPECT_THAT(html, Not(HasSubstr(external))) << external;
  }
  if (const char* out = std::getenv("KINDRED_STATS_REPORT_OUT")) std::ofstream(out) << html;
}

TEST_F(StatsTest, WhatPeopleWroteIsEscapedInTheReport) {
  Clock(At(0, 0, 8));
  DailyRitual(alex_, "<b>Tea</b> & talk", {{0, 0}});
  Clock(At(0, 2, 8));
  auto r = alex_.Run(kStats, {"stats"}, {{"html", {"r.html"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->files(0).content(), HasSubstr("&lt;b&gt;Tea&lt;/b&gt; &amp; talk"));
}

TEST_F(StatsTest, WeeksOutsideOneToFiftyTwoAreBadInput) {
  auto r = alex_.Run(kStats, {"stats"}, {{"weeks", {"53"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code(), 1);
  EXPECT_THAT(r->err(), HasSubstr("--weeks"));
}

TEST_F(StatsTest, NewRecordsFromThePartnerReachTheStatsViewAfterSync) {
  Clock(At(0, 0, 9));
  EXPECT_EQ(Stats(alex_, {})["weeks"].back()["gratitude"]["total"], 0);
  Gratitude(sam_, At(0, 0, 10), "thank you");
  SyncBoth(alex_, sam_);
  EXPECT_EQ(Stats(alex_, {})["weeks"].back()["gratitude"]["total"], 1);
  auto rows = alex_.host->ViewRows(kStats, "weekly");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

}  // namespace
}  // namespace kindred::plugin_testing
