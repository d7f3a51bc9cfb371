// Internal to kindred::calendar. A line-level scan of an iCalendar file that
// runs before libical parses it. libical is lenient: it accepts truncated
// files, turns junk lines into X-LIC-ERROR properties and keeps no line
// numbers. The scan checks the structure (content lines, BEGIN/END nesting,
// limits) and remembers where every component and property starts, so that
// errors can name the line. It does not interpret values; libical does.
// Pure; thread-safe.
#ifndef KINDRED_ENGINE_CALENDAR_ICS_SCAN_H_
#define KINDRED_ENGINE_CALENDAR_ICS_SCAN_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kindred/result.h"

namespace kindred::calendar::internal {

struct ScanLimits {
  size_t max_bytes = 8 * 1024 * 1024;
  size_t max_components = 100'000;
  size_t max_depth = 8;
  size_t max_line_bytes = 64 * 1024;  // after unfolding
};

// One content line, unfolded. `name` is upper case; `value` is raw (escaped).
struct ScannedProperty {
  std::string name;
  std::string value;
  int line = 0;  // 1-based physical line where it starts
};

struct ScannedComponent {
  std::string name;  // upper case, e.g. "VEVENT"
  int begin_line = 0;
  std::vector<ScannedProperty> properties;
  std::vector<ScannedComponent> children;

  // The first property called `name` (upper case), or nullptr.
  const ScannedProperty* Find(std::string_view name) const;
};

// Scans `text`, which must hold one or more VCALENDAR objects. Errors are
// InvalidArgument with "line N: ..." (or a size error checked before
// anything else is read).
Result<std::vector<ScannedComponent>> ScanIcs(std::string_view text, const ScanLimits& limits = {});

}  // namespace kindred::calendar::internal

#endif  // KINDRED_ENGINE_CALENDAR_ICS_SCAN_H_
