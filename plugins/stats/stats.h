// The stats plugin (org.kindred.stats): how the two of you are doing, week
// by week. It reads the journal, the rituals, gratitude notes and repairs
// (as its manifest grants) and reports, per week: rituals kept against
// planned and each ritual's current streak, gratitude notes exchanged,
// journal moments tagged "closeness", and repairs opened and resolved with
// the median time to repair (recovering sooner after conflict is the sign of
// progress).
//
//   kindred stats [--weeks N] [--html FILE]
//
// The partner's private records never count: only shared ones, and this
// member's own private ones.
#ifndef KINDRED_PLUGINS_STATS_STATS_H_
#define KINDRED_PLUGINS_STATS_STATS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kindred/plugin_abi.h"

extern "C" const kindred_plugin_api* kindred_stats_plugin_entry(void);

namespace kindred::stats {

// One week (Monday 00:00 to Monday 00:00, local time).
struct Week {
  int64_t start_micros = 0;
  std::string date;         // "2025-03-03", its Monday
  std::string label;        // "3 Mar"
  int rituals_planned = 0;  // occurrences that have begun, not skipped
  int rituals_kept = 0;     // of those, done by at least one of you
  int gratitude = 0;
  std::map<std::string, int> gratitude_by;  // member -> notes
  int closeness = 0;                        // journal moments tagged closeness
  int repairs_opened = 0;
  int repairs_resolved = 0;
  std::optional<double> median_hours_to_repair;  // of the repairs resolved this week
};

struct Streak {
  std::string ritual;
  std::string title;
  int current = 0;   // occurrences kept in a row, up to now
  int longest = 0;   // within the weeks shown
  int happened = 0;  // occurrences that have begun (not skipped), in the last year
};

// Everything `kindred stats` shows.
struct Figures {
  std::vector<Week> weeks;  // oldest first; the last is this week, so far
  std::vector<Streak> streaks;
  std::vector<std::string> members;              // who appears, in name order
  std::optional<double> median_hours_to_repair;  // over all the weeks shown
  // The same over the first and the second half of the weeks, to show the trend.
  std::optional<double> earlier_median_hours, later_median_hours;
  int64_t now_micros = 0;
};

// The three renderings of the figures.
std::string RenderText(const Figures& f);
std::string RenderJson(const Figures& f);
std::string RenderHtml(const Figures& f);

}  // namespace kindred::stats

#endif  // KINDRED_PLUGINS_STATS_STATS_H_
