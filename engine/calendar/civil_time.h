// Wall-clock dates and times ("civil" times), instants, and their ISO 8601
// forms. Pure value types and functions: no time-zone data is consulted here
// (zones live behind calendar.h). All functions are thread-safe.
#ifndef KINDRED_ENGINE_CALENDAR_CIVIL_TIME_H_
#define KINDRED_ENGINE_CALENDAR_CIVIL_TIME_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kindred/result.h"

namespace kindred::calendar {

// Seconds since the Unix epoch, UTC (leap seconds ignored, as POSIX does).
using UnixSeconds = int64_t;

// The years the calendar accepts anywhere (starts, UNTIL, windows). libical
// stops expanding at 2582, and tzdata says nothing useful before 1900.
inline constexpr int kMinYear = 1900;
inline constexpr int kMaxYear = 2500;

// A date and a wall-clock time with no zone, as people write it.
// Value type; compares field by field, i.e. chronologically.
struct CivilTime {
  int year = 1970;
  int month = 1;   // 1..12
  int day = 1;     // 1..31
  int hour = 0;    // 0..23
  int minute = 0;  // 0..59
  int second = 0;  // 0..59

  auto operator<=>(const CivilTime&) const = default;
};

// True if `t` names a real Gregorian date in [kMinYear, kMaxYear] and a time
// of day 00:00:00..23:59:59.
bool IsValidCivilTime(const CivilTime& t);

// Parses "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (a space may stand for
// the T). InvalidArgument naming the bad field otherwise, e.g.
// "day 30 does not exist in 2023-02 in '2023-02-30T07:00'".
Result<CivilTime> ParseLocalDateTime(std::string_view text);

// Parses "YYYY-MM-DD" to midnight of that date.
Result<CivilTime> ParseLocalDate(std::string_view text);

// "YYYY-MM-DDTHH:MM:SS".
std::string FormatCivilTime(const CivilTime& t);

// The same wall-clock time `days` days later (or earlier when negative).
// REQUIRES: IsValidCivilTime(t). The result may fall outside the valid years.
CivilTime AddDays(const CivilTime& t, int days);

// `t` read as if it were UTC: seconds since 1970-01-01T00:00:00. Used to
// compare and order civil times and to build instants from a known offset.
UnixSeconds CivilAsIfUtc(const CivilTime& t);

// The inverse of CivilAsIfUtc.
CivilTime CivilFromSecondsAsIfUtc(UnixSeconds s);

// An instant seen in a zone: the UTC instant, the wall-clock time there and
// the zone's offset from UTC at that instant (local = utc + offset).
struct ZonedTime {
  UnixSeconds utc = 0;
  CivilTime local;
  int32_t utc_offset_seconds = 0;

  auto operator<=>(const ZonedTime&) const = default;
};

// ISO 8601 with the offset: "2024-03-31T07:00:00+02:00", "+00:00" for UTC,
// "+00:53:28" when the offset has seconds (historical local mean time).
std::string FormatIso8601(const ZonedTime& t);

// A date-time as a person may type it on the command line: a wall-clock time,
// optionally with a UTC offset ("2024-03-31T07:00", "2024-03-31T07:00:00+02:00",
// "2024-03-31T05:00Z"). Without an offset it is read in the ritual's zone.
struct DateTimeArg {
  CivilTime local;
  std::optional<int32_t> utc_offset_seconds;
};

// Parses the forms above. InvalidArgument naming the problem otherwise.
Result<DateTimeArg> ParseDateTimeArg(std::string_view text);

}  // namespace kindred::calendar

#endif  // KINDRED_ENGINE_CALENDAR_CIVIL_TIME_H_
