// Times as people and JSON see them: ISO 8601 with a UTC offset.
#ifndef KINDRED_TIMEFMT_H_
#define KINDRED_TIMEFMT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kindred/result.h"

namespace kindred {

// "2026-11-26T07:05:09+01:00" in the process's local time zone (TZ), with
// microseconds ("07:05:09.250000+01:00") when the time has a fraction.
std::string FormatIsoLocal(int64_t micros);

// Parses "YYYY-MM-DDTHH:MM[:SS[.frac]](Z|+HH:MM|-HH:MM)", or a bare
// "YYYY-MM-DD" (midnight, local time). InvalidArgument names what is wrong.
Result<int64_t> ParseIsoTime(std::string_view text);

}  // namespace kindred

#endif  // KINDRED_TIMEFMT_H_
