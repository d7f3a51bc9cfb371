// Ritual durations as people write them: "5m", "90m", "2h", "1h30m".
// Pure functions; thread-safe.
#ifndef KINDRED_ENGINE_CALENDAR_DURATION_H_
#define KINDRED_ENGINE_CALENDAR_DURATION_H_

#include <chrono>
#include <string>
#include <string_view>

#include "kindred/result.h"

namespace kindred::calendar {

// The longest ritual Kindred accepts (from the command line or an import).
inline constexpr std::chrono::seconds kMaxRitualDuration = std::chrono::hours(24 * 7);

// Parses a duration: one or more <digits><unit> groups, units d, h and m
// (days, hours, minutes), each at most once and in that order, with no
// spaces, signs or fractions; units may be upper case. "5m", "90m", "2h",
// "1h30m" and "1d2h" are accepted. InvalidArgument naming the problem for
// anything else, for a total of zero, and above kMaxRitualDuration.
Result<std::chrono::seconds> ParseDuration(std::string_view text);

// Formats in the form ParseDuration reads: 5400s -> "1h30m", 86400s -> "1d".
// Leftover seconds (possible only from an import) are written as "Ns".
// REQUIRES: d > 0.
std::string FormatDuration(std::chrono::seconds d);

}  // namespace kindred::calendar

#endif  // KINDRED_ENGINE_CALENDAR_DURATION_H_
