#include "engine/calendar/duration.h"

#include <cstdint>

namespace kindred::calendar {
namespace {

constexpr char kExamples[] = " (write it like 5m, 90m, 2h or 1h30m)";

Status Bad(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("duration '" + std::string(text) + "': " + std::string(why) +
                                 kExamples);
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Bad(text, "is empty");
  constexpr std::string_view kUnits = "dhm";
  constexpr int64_t kUnitSeconds[] = {86400, 3600, 60};
  size_t next_unit = 0;  // units must appear in the order d, h, m
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t digits_begin = i;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000) return Bad(text, "is far too long");
      ++i;
    }
    if (i == digits_begin) {
      return Bad(text, "expected a number at '" + std::string(text.substr(i)) + "'");
    }
    if (i == text.size()) return Bad(text, "the number " + std::to_string(n) + " has no unit");
    const char unit = static_cast<char>(text[i] | 0x20);  // lower case for ASCII letters
    const size_t u = kUnits.find(unit);
    if (u == std::string_view::npos) {
      return Bad(text, "unknown unit '" + std::string(1, text[i]) + "' (use d, h or m)");
    }
    if (u < next_unit) return Bad(text, "units must come once each, in the order d, h, m");
    next_unit = u + 1;
    total += n * kUnitSeconds[u];
    ++i;
  }
  if (total == 0) return Bad(text, "must be longer than zero");
  if (total > kMaxRitualDuration.count()) return Bad(text, "is longer than 7 days");
  return std::chrono::seconds(total);
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  std::string out;
  constexpr struct {
    int64_t seconds;
    char unit;
  } kUnits[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (const auto& u : kUnits) {
    if (s >= u.seconds || (u.unit == 's' && out.empty())) {
      out += std::to_string(s / u.seconds) + u.unit;
      s %= u.seconds;
    }
  }
  return out;
}

}  // namespace kindred::calendar
