// Internal to kindred::calendar. The strict reading of an RRULE value that
// runs before libical sees it: libical's own parser accepts, drops or clamps
// several things silently ("COUNT=5x" is 5, ";;COUNT=2" loses the COUNT,
// "BYDAY=0FR" becomes FR, FREQ=HOURLY and BYMONTH=13 pass), so this checks the
// supported subset (docs/calendar.md) and names what is wrong or unsupported.
// Pure; thread-safe.
#ifndef KINDRED_ENGINE_CALENDAR_RRULE_SYNTAX_H_
#define KINDRED_ENGINE_CALENDAR_RRULE_SYNTAX_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/calendar/ritual.h"
#include "kindred/result.h"

namespace kindred::calendar::internal {

inline constexpr int kMaxCount = 10000;
inline constexpr int kMaxInterval = 1000;
inline constexpr size_t kMaxRuleBytes = 1000;

// A rule split into NAME=VALUE parts, upper case, in canonical order
// (FREQ, INTERVAL, COUNT, UNTIL, BYMONTH, BYMONTHDAY, BYDAY, BYSETPOS, WKST).
struct RuleParts {
  RecurrenceRule rule;  // rule.text joins `parts`
  std::vector<std::pair<std::string, std::string>> parts;
};

// Reads and checks `text` ("FREQ=...", an "RRULE:" prefix is tolerated).
// InvalidArgument whose message starts with "RRULE" and names the part.
Result<RuleParts> ParseRuleSyntax(std::string_view text);

// Joins `parts` back into an RRULE value, leaving out COUNT and UNTIL.
std::string JoinPartsWithoutBound(const RuleParts& parts);

}  // namespace kindred::calendar::internal

#endif  // KINDRED_ENGINE_CALENDAR_RRULE_SYNTAX_H_
