// `kindred ritual ...` and `kindred today`, run as a user would: the built
// binary, a fresh --home for every test, an explicit TZ, stdin not a
// terminal. Every command, its --json shape, and every kind of bad input
// (exit 1, a message naming the problem, nothing written).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "tests/rituals/process_runner.h"
#include "tests/rituals/rituals_fixture.h"

namespace kindred::rituals_testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.insert(it.key());
  return keys;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Today's date ("YYYY-MM-DD") in `zone`.
std::string Today(const std::string& zone) {
  auto now = TheCalendar().ToZone(std::time(nullptr), zone);
  EXPECT_TRUE(now.ok());
  return cal::FormatCivilTime(now->local).substr(0, 10);
}

class RitualCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.path() + "/home";
    fs::create_directories(dir_.path() + "/user");
    fs::create_directories(dir_.path() + "/scratch");
    env_ = {{"HOME", dir_.path() + "/user"}, {"TZ", "Europe/Berlin"}};
    ProcessResult init = Run({"init", "--name", "Alex"});
    ASSERT_EQ(init.exit_code, 0) << init;
  }

  // kindred --home HOME ARGS, in env_ plus `extra` (which overrides).
  ProcessResult Run(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& extra = {}) {
    std::vector<std::string> full{"--home", home_};
    full.insert(full.end(), args.begin(), args.end());
    auto env = env_;
    for (const auto& [k, v] : extra) env[k] = v;
    return RunProcess(KINDRED_CLI_PATH, full, env, dir_.path() + "/scratch");
  }

  // Runs with --json, expects success, and parses stdout.
  json Json(const std::vector<std::string>& args,
            const std::map<std::string, std::string>& extra = {}) {
    std::vector<std::string> full{"--json"};
    full.insert(full.end(), args.begin(), args.end());
    ProcessResult r = Run(full, extra);
    EXPECT_EQ(r.exit_code, 0) << r;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r;
    return j;
  }

  // `ritual add` with --json; the new id.
  std::string Add(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& extra = {}) {
    std::vector<std::string> full{"ritual", "add"};
    full.insert(full.end(), args.begin(), args.end());
    json j = Json(full, extra);
    return j.is_object() && j.contains("id") ? j["id"].get<std::string>() : "";
  }

  std::string DateNight() {
    return Add({"Date night", "--rrule", "FREQ=WEEKLY;BYDAY=FR", "--start", "2024-01-05T19:00",
                "--duration", "2h"});
  }

  // What is stored: spaces, their record counts and version vectors.
  std::string StoreState() { return Json({"status"})["spaces"].dump(); }

  // Expects `args` to fail with exit 1 and a message holding `expected`.
  void ExpectBadInput(const std::vector<std::string>& args, const std::string& expected,
                      const std::map<std::string, std::string>& extra = {}) {
    ProcessResult r = Run(args, extra);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr(expected)) << r;
    EXPECT_THAT(r.out, Not(HasSubstr("\"id\""))) << r;
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  TempDir dir_;
  std::string home_;
  std::map<std::string, std::string> env_;
};

TEST_F(RitualCliTest, AddPrintsTheNewIdAndJsonGivesIt) {
  ProcessResult r = Run({"ritual", "add", "Evening", "check-in", "--rrule", "FREQ=DAILY", "--start",
                         "2024-01-01T21:00", "--duration", "5m"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("^[a-z2-7]{16}\n$"))) << r;
  EXPECT_THAT(r.err, HasSubstr("Added \"Evening check-in\""));
  json j = Json({"ritual", "add", "Date night", "--rrule", "FREQ=WEEKLY;BYDAY=FR", "--start",
                 "2024-01-05T19:00"});
  EXPECT_EQ(Keys(j), (std::set<std::string>{"id"}));
  json shown = Json({"ritual", "show", j["id"]});
  EXPECT_EQ(shown["title"], "Date night");
  EXPECT_EQ(shown["visibility"], "shared");
  EXPECT_EQ(shown["duration"], "30m");  // the default
}

TEST_F(RitualCliTest, TheZoneDefaultsToTheMachines) {
  for (const auto& [tz, zone] : std::vector<std::pair<std::string, std::string>>{
           {"Asia/Tokyo", "Asia/Tokyo"},
           {":America/New_York", "America/New_York"},
           {"/usr/share/zoneinfo/Europe/Paris", "Europe/Paris"}}) {
    std::string id =
        Add({"Tea", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T08:00"}, {{"TZ", tz}});
    EXPECT_EQ(Json({"ritual", "show", id})["tz"], zone) << tz;
  }
  std::string id = Add(
      {"Tea", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T08:00", "--tz", "Australia/Sydney"});
  EXPECT_EQ(Json({"ritual", "show", id})["tz"], "Australia/Sydney");
}

TEST_F(RitualCliTest, AMachineZoneThatCannotBeToldIsSaidPlainly) {
  const std::string before = StoreState();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ritual", "add", "Tea", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T08:00"},
           {"ritual", "upcoming"},
           {"today"}}) {
    ExpectBadInput(args, "cannot tell this machine's time zone: TZ is 'KST-9'", {{"TZ", "KST-9"}});
  }
  EXPECT_EQ(StoreState(), before);
  // Naming the zone works whatever TZ says.
  EXPECT_FALSE(
      Add({"Tea", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T08:00", "--tz", "Asia/Seoul"},
          {{"TZ", "KST-9"}})
          .empty());
  EXPECT_EQ(Run({"ritual", "upcoming", "--tz", "Asia/Seoul"}, {{"TZ", "KST-9"}}).exit_code, 0);
}

TEST_F(RitualCliTest, DurationsReadAsPeopleWriteThem) {
  for (const auto& [given, shown] : std::vector<std::pair<std::string, std::string>>{
           {"5m", "5m"}, {"90m", "1h30m"}, {"2h", "2h"}, {"1h30m", "1h30m"}, {"1d", "1d"}}) {
    std::string id =
        Add({"Walk", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T08:00", "--duration", given});
    EXPECT_EQ(Json({"ritual", "show", id})["duration"], shown) << given;
  }
}

TEST_F(RitualCliTest, ListShowEditAndRemove) {
  EXPECT_THAT(Run({"ritual", "list"}).out, HasSubstr("No rituals yet"));
  std::string id = DateNight();
  std::string mine = Add({"Journal hour", "--rrule", "FREQ=WEEKLY;BYDAY=SU", "--start",
                          "2024-01-07T10:00", "--private", "--description", "Just me"});
  json list = Json({"ritual", "list"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(Keys(list[0]), (std::set<std::string>{"id", "title", "description", "visibility",
                                                  "rrule", "start", "tz", "duration", "segments",
                                                  "next", "author", "created", "conflict"}));
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["rrule"], "FREQ=WEEKLY;BYDAY=FR");
  EXPECT_EQ(list[0]["start"], "2024-01-05T19:00");
  EXPECT_EQ(list[0]["author"], "Alex");
  EXPECT_TRUE(std::regex_match(list[0]["next"].get<std::string>(),
                               std::regex(R"(^\d{4}-\d\d-\d\dT19:00:00\+0[12]:00$)")));
  EXPECT_EQ(list[1]["visibility"], "private");
  EXPECT_EQ(list[1]["description"], "Just me");
  EXPECT_THAT(Run({"ritual", "list"}).out, HasSubstr("Date night"));
  ProcessResult shown = Run({"ritual", "show", id});
  EXPECT_EQ(shown.exit_code, 0) << shown;
  EXPECT_THAT(shown.out, HasSubstr("FREQ=WEEKLY;BYDAY=FR"));
  EXPECT_THAT(shown.out, HasSubstr("coming up"));

  EXPECT_EQ(Json({"ritual", "edit", id, "--title", "Friday date", "--description", "Phones away",
                  "--duration", "150m", "--private"}),
            json({{"id", id}}));
  json after = Json({"ritual", "show", id});
  EXPECT_EQ(after["title"], "Friday date");
  EXPECT_EQ(after["description"], "Phones away");
  EXPECT_EQ(after["duration"], "2h30m");
  EXPECT_EQ(after["visibility"], "private");
  EXPECT_EQ(Json({"ritual", "edit", id, "--shared"})["id"], id);
  EXPECT_EQ(Json({"ritual", "show", id})["visibility"], "shared");

  EXPECT_EQ(Json({"ritual", "rm", mine}), json({{"id", mine}}));
  ExpectBadInput({"ritual", "show", mine}, "no ritual with id " + mine);
  ExpectBadInput({"ritual", "rm", mine}, "no ritual with id " + mine);
  EXPECT_EQ(Json({"ritual", "list"}).size(), 1u);
}

TEST_F(RitualCliTest, UpcomingListsOccurrencesInTimeOrderWithTheOffsetOfEachRitualsZone) {
  std::string date = DateNight();
  std::string call = Add({"Call with my sister", "--rrule", "FREQ=WEEKLY;BYDAY=SA", "--start",
                          "2024-01-06T09:00", "--tz", "America/New_York", "--duration", "45m"});
  json list = Json({"ritual", "upcoming", "--from", "2024-03-25", "--days", "14"});
  std::vector<std::string> starts;
  for (const auto& o : list) {
    EXPECT_EQ(Keys(o), (std::set<std::string>{"ritual", "title", "start", "end", "status",
                                              "occurrence", "done_by", "visibility"}));
    starts.push_back(o["start"]);
  }
  // Clocks change on 31 March in Berlin (and on 10 March in New York).
  EXPECT_THAT(starts, ElementsAre("2024-03-29T19:00:00+01:00", "2024-03-30T09:00:00-04:00",
                                  "2024-04-05T19:00:00+02:00", "2024-04-06T09:00:00-04:00"));
  EXPECT_EQ(list[0]["end"], "2024-03-29T21:00:00+01:00");
  EXPECT_EQ(list[0]["ritual"], date);
  EXPECT_EQ(list[1]["ritual"], call);
  EXPECT_EQ(list[1]["end"], "2024-03-30T09:45:00-04:00");
  EXPECT_EQ(list[0]["status"], "scheduled");

  ProcessResult text = Run({"ritual", "upcoming", "--from", "2024-03-25", "--days", "14"});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("Fri 29 Mar 2024\n  19:00–21:00  Date night"));
  EXPECT_THAT(Run({"ritual", "upcoming", "--from", "2024-03-25", "--days", "1"}).out,
              HasSubstr("Nothing planned"));
}

TEST_F(RitualCliTest, UpcomingStartsTodayForSevenDaysByDefault) {
  Add({"Noon pause", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T12:00", "--duration", "5m"});
  const std::string today = Today("Europe/Berlin");
  json list = Json({"ritual", "upcoming"});
  ASSERT_EQ(list.size(), 7u);
  const std::string first = list[0]["start"].get<std::string>().substr(0, 10);
  EXPECT_TRUE(first == today || first == Today("Europe/Berlin")) << first;
}

TEST_F(RitualCliTest, DoneSkipAndMoveAreRecordedAndShown) {
  std::string id = DateNight();
  json done = Json(
      {"ritual", "done", id, "--at", "2024-03-01T19:00", "--note", "we cooked", "--mood", "5"});
  EXPECT_EQ(done["status"], "done");
  EXPECT_EQ(done["done_by"], json::array({"Alex"}));
  EXPECT_EQ(done["occurrence"], "2024-03-01T19:00:00+01:00");
  ASSERT_EQ(done["completions"].size(), 1u);
  EXPECT_EQ(done["completions"][0]["note"], "we cooked");
  EXPECT_EQ(done["completions"][0]["mood"], 5);
  EXPECT_EQ(done["completions"][0]["member"], "Alex");

  ProcessResult skip =
      Run({"ritual", "skip", id, "--at", "2024-03-08T19:00", "--reason", "travelling"});
  ASSERT_EQ(skip.exit_code, 0) << skip;
  EXPECT_THAT(skip.out, HasSubstr("Skipped \"Date night\""));
  json moved = Json({"ritual", "move", id, "--at", "2024-03-15T19:00", "--to", "2024-03-16T18:30"});
  EXPECT_EQ(moved["status"], "moved");
  EXPECT_EQ(moved["start"], "2024-03-16T18:30:00+01:00");
  EXPECT_EQ(moved["occurrence"], "2024-03-15T19:00:00+01:00");
  // The moved occurrence can be marked by the time it now has.
  EXPECT_EQ(Json({"ritual", "done", id, "--at", "2024-03-16T18:30"})["occurrence"],
            "2024-03-15T19:00:00+01:00");

  json list = Json({"ritual", "upcoming", "--from", "2024-03-01", "--days", "21"});
  std::vector<std::string> statuses;
  for (const auto& o : list) statuses.push_back(o["status"]);
  EXPECT_THAT(statuses, ElementsAre("done", "skipped", "done"));
  EXPECT_EQ(list[1]["reason"], "travelling");
  ProcessResult text = Run({"ritual", "upcoming", "--from", "2024-03-01", "--days", "21"});
  EXPECT_THAT(text.out, HasSubstr("(skipped: travelling)"));
  EXPECT_THAT(text.out, HasSubstr("(moved from 19:00 on Fri 15 Mar 2024)  (done by Alex)"));
}

TEST_F(RitualCliTest, DoneWithoutAnOccurrenceMarksTheNearestOne) {
  std::string id = Add({"Noon pause", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T12:00"});
  json done = Json({"ritual", "done", id});
  EXPECT_EQ(done["start"].get<std::string>().substr(0, 10), Today("Europe/Berlin"));
  EXPECT_EQ(done["status"], "done");
}

TEST_F(RitualCliTest, ARuleChangeFromAnOccurrenceKeepsPastCompletions) {
  std::string id = DateNight();
  Json({"ritual", "done", id, "--at", "2024-01-12T19:00"});
  ProcessResult edit = Run({"ritual", "edit", id, "--rrule", "FREQ=WEEKLY;BYDAY=SA", "--start",
                            "2024-01-20T18:00", "--from", "2024-01-19T19:00"});
  ASSERT_EQ(edit.exit_code, 0) << edit;
  EXPECT_THAT(edit.out, HasSubstr("earlier occurrences"));
  json list = Json({"ritual", "upcoming", "--from", "2024-01-08", "--days", "21"});
  std::vector<std::string> seen;
  for (const auto& o : list)
    seen.push_back(o["start"].get<std::string>() + " " + o["status"].get<std::string>());
  EXPECT_THAT(seen,
              ElementsAre("2024-01-12T19:00:00+01:00 done", "2024-01-20T18:00:00+01:00 scheduled",
                          "2024-01-27T18:00:00+01:00 scheduled"));
  json shown = Json({"ritual", "show", id});
  ASSERT_EQ(shown["segments"].size(), 2u);
  EXPECT_TRUE(shown["segments"][0]["from"].is_null());
  EXPECT_EQ(shown["segments"][1]["from"], "2024-01-19T19:00:00+01:00");
  EXPECT_EQ(shown["segments"][1]["rrule"], "FREQ=WEEKLY;BYDAY=SA");
  // Only the length, from an occurrence on.
  EXPECT_EQ(Run({"ritual", "edit", id, "--duration", "3h", "--from", "2024-01-27T18:00"}).exit_code,
            0);
  EXPECT_EQ(Json({"ritual", "show", id})["segments"].size(), 3u);
}

TEST_F(RitualCliTest, ExportThenImportIntoAFreshHomeGivesTheSameOccurrences) {
  std::string date = DateNight();
  std::string call = Add({"Monthly check-in", "--rrule", "FREQ=MONTHLY;BYDAY=1SU", "--start",
                          "2024-01-07T20:00", "--tz", "America/New_York", "--duration", "1h"});
  Json({"ritual", "skip", date, "--at", "2024-02-09T19:00"});
  Json({"ritual", "move", call, "--at", "2024-03-03T20:00", "--to", "2024-03-02T20:00"});
  json out = Json({"ritual", "export", "--out", Path("rituals.ics")});
  EXPECT_EQ(out["rituals"], 2);
  const std::string ics = ReadFile(Path("rituals.ics"));
  for (const char* needle :
       {"BEGIN:VCALENDAR", "BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "TZID:America/New_York",
        "RRULE:FREQ=WEEKLY;BYDAY=FR", "EXDATE;TZID=Europe/Berlin:20240209T190000",
        "RECURRENCE-ID;TZID=America/New_York:20240303T200000", "\r\n"}) {
    EXPECT_THAT(ics, HasSubstr(needle));
  }
  EXPECT_EQ(fs::status(Path("rituals.ics")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  ProcessResult to_stdout = Run({"ritual", "export"});
  ASSERT_EQ(to_stdout.exit_code, 0);
  auto no_stamp = [](const std::string& s) {
    return std::regex_replace(s, std::regex("DTSTAMP:[0-9TZ]+"), "");
  };
  EXPECT_EQ(no_stamp(to_stdout.out), no_stamp(ics));

  const std::string first_home = home_;
  home_ = Path("second-home");
  ASSERT_EQ(Run({"init", "--name", "Sam"}).exit_code, 0);
  json imported = Json({"ritual", "import", Path("rituals.ics")});
  EXPECT_EQ(imported["imported"].size(), 2u);
  EXPECT_EQ(imported["facts"], 2);
  EXPECT_TRUE(imported["problems"].empty());
  auto schedule = [&](const std::string& home) {
    home_ = home;
    json list = Json({"ritual", "upcoming", "--from", "2024-01-01", "--days", "400"});
    std::vector<std::string> out;
    for (const auto& o : list) {
      out.push_back(o["ritual"].get<std::string>() + " " + o["title"].get<std::string>() + " " +
                    o["occurrence"].get<std::string>() + " " + o["start"].get<std::string>() + " " +
                    o["end"].get<std::string>() + " " + o["status"].get<std::string>());
    }
    return out;
  };
  const auto second = schedule(Path("second-home"));
  const auto first = schedule(first_home);
  EXPECT_GT(first.size(), 60u);
  EXPECT_EQ(second, first);
  home_ = Path("second-home");
  json again = Json({"ritual", "import", Path("rituals.ics")});
  EXPECT_TRUE(again["imported"].empty());
  EXPECT_EQ(again["already_here"].size(), 2u);
}

TEST_F(RitualCliTest, TodayShowsTodaysRitualsAndWhoKeptThem) {
  EXPECT_THAT(Run({"today"}).out, HasSubstr("Nothing planned today"));
  std::string id = Add(
      {"Noon pause", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T12:00", "--duration", "10m"});
  ProcessResult before = Run({"today"});
  ASSERT_EQ(before.exit_code, 0) << before;
  EXPECT_THAT(before.out, HasSubstr("Today, "));
  EXPECT_THAT(before.out, HasSubstr("12:00–12:10  Noon pause"));
  EXPECT_THAT(before.out, HasSubstr("Alex: not yet"));
  EXPECT_THAT(before.out, HasSubstr("kindred ritual done " + id + " --at " +
                                    Today("Europe/Berlin") + "T12:00"));
  Json({"ritual", "done", id, "--at", Today("Europe/Berlin") + "T12:00", "--note",
        "sat in the sun"});
  ProcessResult after = Run({"today"});
  EXPECT_THAT(after.out, HasSubstr("Alex: done at"));
  EXPECT_THAT(after.out, HasSubstr("\"sat in the sun\""));
  EXPECT_THAT(after.out, HasSubstr("Every ritual today is kept"));
  json j = Json({"today"});
  EXPECT_EQ(Keys(j), (std::set<std::string>{"date", "tz", "members", "occurrences"}));
  EXPECT_EQ(j["tz"], "Europe/Berlin");
  EXPECT_EQ(j["members"], json::array({"Alex"}));
  ASSERT_EQ(j["occurrences"].size(), 1u);
  EXPECT_EQ(j["occurrences"][0]["completions"][0]["note"], "sat in the sun");
}

TEST_F(RitualCliTest, BadInputIsNamedExitsWithOneAndWritesNothing) {
  std::string id = DateNight();
  const std::string huge = Path("huge.ics");
  {
    std::ofstream out(huge, std::ios::binary);
    out << std::string(8 * 1024 * 1024 + 1, 'x');
  }
  const std::string head =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//"
      "EN\r\nBEGIN:VEVENT\r\nUID:a@example.com\r\n"
      "DTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20240105T190000\r\nDURATION:PT1H\r\n";
  WriteFile(Path("junk.ics"),
            head + "RRULE:FREQ=WEEKLY\r\nJUNK LINE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
  WriteFile(Path("truncated.ics"), head + "RRU");
  WriteFile(Path("hourly.ics"),
            head + "RRULE:FREQ=HOURLY\r\nSUMMARY:Standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
  const std::string before = StoreState();

  const std::vector<std::string> add{"ritual", "add", "Tea", "--start", "2024-01-01T08:00"};
  auto with = [](std::vector<std::string> base, const std::vector<std::string>& more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {with(add, {"--rrule", "FREQ=HOURLY"}), "RRULE FREQ=HOURLY is not supported"},
      {with(add, {"--rrule", "FREQ=DAILY;BYHOUR=7"}), "RRULE BYHOUR"},
      {with(add, {"--rrule", "FREQ=DAILY;COUNT=5x"}), "RRULE COUNT"},
      {with(add, {"--rrule", "FREQ=DAILY", "--tz", "Mars/Base"}), "unknown time zone 'Mars/Base'"},
      {{"ritual", "add", "Tea", "--rrule", "FREQ=DAILY", "--start", "2024-03-31T02:30"},
       "does not exist in Europe/Berlin"},
      {{"ritual", "add", "Tea", "--rrule", "FREQ=DAILY", "--start", "2023-02-29T08:00"}, "day 29"},
      {{"ritual", "add", "Tea", "--rrule", "FREQ=DAILY", "--start", "tomorrow"}, "--start"},
      {with(add, {"--rrule", "FREQ=DAILY", "--duration", "1m30h"}), "--duration"},
      {with(add, {"--rrule", "FREQ=DAILY", "--duration", "0m"}), "--duration"},
      {with(add, {"--rrule", "FREQ=DAILY", "--duration", "8d"}), "--duration"},
      {{"ritual", "add", "", "--rrule", "FREQ=DAILY", "--start", "2024-01-01T08:00"}, "title"},
      {{"ritual", "add", "Tea", "--start", "2024-01-01T08:00"}, "--rrule"},
      {{"ritual", "done", "nosuchritual"}, "no ritual with id nosuchritual"},
      {{"ritual", "done", id, "--at", "2024-01-13T19:00"},
       "no occurrence starting at 2024-01-13T19:00"},
      {{"ritual", "done", id, "--at", "soon"}, "--at"},
      {{"ritual", "done", id, "--mood", "9"}, "--mood"},
      {{"ritual", "done", id, "--note", std::string(5000, 'n')},
       "--note is longer than 4000 bytes"},
      {{"ritual", "skip", id}, "--at"},
      {{"ritual", "move", id, "--at", "2024-03-29T19:00"}, "--to"},
      {{"ritual", "move", id, "--at", "2024-03-29T19:00", "--to", "2024-03-31T02:30"},
       "--to 2024-03-31T02:30 does not exist in Europe/Berlin"},
      {{"ritual", "edit", id}, "nothing to change"},
      {{"ritual", "edit", id, "--rrule", "FREQ=DAILY"}, "needs --from OCCURRENCE_START"},
      {{"ritual", "edit", id, "--rrule", "FREQ=DAILY", "--from", "2024-01-13T19:00"},
       "is not an occurrence"},
      {{"ritual", "edit", id, "--rrule", "FREQ=SECONDLY", "--from", "2024-01-12T19:00"}, "RRULE"},
      {{"ritual", "edit", id, "--tz", "Mars/Base", "--from", "2024-01-12T19:00"}, "Mars/Base"},
      {{"ritual", "edit", id, "--title", "two\nlines"}, "title"},
      {{"ritual", "edit", id, "--private", "--shared"}, "not both"},
      {{"ritual", "show", "nosuchritual"}, "no ritual with id"},
      {{"ritual", "upcoming", "--from", "2024-13-01"}, "--from"},
      {{"ritual", "upcoming", "--days", "0"}, "days must be 1..3660"},
      {{"ritual", "upcoming", "--tz", "Nowhere"}, "unknown time zone 'Nowhere'"},
      {{"ritual", "import", Path("junk.ics")}, "line 10: not an iCalendar content line"},
      {{"ritual", "import", Path("truncated.ics")}, "truncated"},
      {{"ritual", "import", huge}, "the limit for an iCalendar import is 8388608 bytes"},
      {{"ritual", "import", Path("missing.ics")}, "cannot open"},
      {{"ritual", "import", Path("hourly.ics")},
       "line 9 (Standup): RRULE FREQ=HOURLY is not supported"},
      {{"ritual", "frobnicate"}, "not a kindred ritual command"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args[1] + " -> " + c.expected);
    ExpectBadInput(c.args, c.expected);
  }
  EXPECT_EQ(StoreState(), before);
}

TEST_F(RitualCliTest, StoreProblemsExitWithTwoAndAMissingDeviceWithOne) {
  DateNight();
  fs::remove_all(home_ + "/db");
  ProcessResult r = Run({"ritual", "list"});
  EXPECT_EQ(r.exit_code, 2) << r;
  home_ = Path("nobody-here");
  r = Run({"ritual", "upcoming"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("init"));
}

TEST_F(RitualCliTest, NothingAboutARitualIsStoredInPlainText) {
  std::string id = Add({"Secret picnic", "--rrule", "FREQ=MONTHLY;BYMONTHDAY=15", "--start",
                        "2024-01-15T12:00", "--description", "Under the old oak"});
  Json({"ritual", "done", id, "--at", "2024-02-15T12:00", "--note", "strawberries everywhere"});
  Json({"ritual", "skip", id, "--at", "2024-03-15T12:00", "--reason", "rain all week"});
  for (const auto& entry : fs::recursive_directory_iterator(home_)) {
    if (!entry.is_regular_file() || entry.path().filename() == "LOCK") continue;
    const std::string bytes = ReadFile(entry.path().string());
    for (const char* secret :
         {"Secret picnic", "old oak", "strawberries", "rain all week", "BYMONTHDAY"}) {
      EXPECT_EQ(bytes.find(secret), std::string::npos) << secret << " in " << entry.path();
    }
  }
}

}  // namespace
}  // namespace kindred::rituals_testing
