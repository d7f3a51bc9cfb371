#include "engine/calendar/civil_time.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace kindred::calendar {
namespace {

namespace chr = std::chrono;

// Reads exactly `n` ASCII digits at `pos`; false if any is not a digit.
bool ReadDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::string Quoted(std::string_view text) {
  constexpr size_t kMax = 40;
  std::string q = "'";
  q += text.size() > kMax ? std::string(text.substr(0, kMax)) + "..." : std::string(text);
  q += "'";
  return q;
}

chr::sys_days DaysOf(const CivilTime& t) {
  return chr::sys_days(chr::year(t.year) / chr::month(static_cast<unsigned>(t.month)) /
                       chr::day(static_cast<unsigned>(t.day)));
}

// Checks the fields one by one so the message names the first bad one.
Status CheckFields(const CivilTime& t, std::string_view text) {
  if (t.year < kMinYear || t.year > kMaxYear) {
    return Status::InvalidArgument("year " + std::to_string(t.year) + " is outside " +
                                   std::to_string(kMinYear) + ".." + std::to_string(kMaxYear) +
                                   " in " + Quoted(text));
  }
  if (t.month < 1 || t.month > 12) {
    return Status::InvalidArgument("month " + std::to_string(t.month) + " does not exist in " +
                                   Quoted(text));
  }
  if (!IsValidCivilTime(CivilTime{t.year, t.month, t.day, 0, 0, 0})) {
    char ym[16];
    std::snprintf(ym, sizeof ym, "%04d-%02d", t.year, t.month);
    return Status::InvalidArgument("day " + std::to_string(t.day) + " does not exist in " + ym +
                                   " in " + Quoted(text));
  }
  if (t.hour > 23) {
    return Status::InvalidArgument("hour " + std::to_string(t.hour) + " is not 00..23 in " +
                                   Quoted(text));
  }
  if (t.minute > 59) {
    return Status::InvalidArgument("minute " + std::to_string(t.minute) + " is not 00..59 in " +
                                   Quoted(text));
  }
  if (t.second > 59) {
    return Status::InvalidArgument("second " + std::to_string(t.second) + " is not 00..59 in " +
                                   Quoted(text));
  }
  return Status::Ok();
}

// Parses "YYYY-MM-DD" at the start of `text` into `out`.
bool ReadDate(std::string_view text, CivilTime* out) {
  return text.size() >= 10 && ReadDigits(text, 0, 4, &out->year) && text[4] == '-' &&
         ReadDigits(text, 5, 2, &out->month) && text[7] == '-' && ReadDigits(text, 8, 2, &out->day);
}

// Parses "YYYY-MM-DDTHH:MM[:SS]" at the start of `text`; returns the number of
// characters read, or 0.
size_t ReadDateTime(std::string_view text, CivilTime* out) {
  if (!ReadDate(text, out)) return 0;
  if (text.size() < 16 || (text[10] != 'T' && text[10] != 't' && text[10] != ' ')) return 0;
  if (!ReadDigits(text, 11, 2, &out->hour) || text[13] != ':' ||
      !ReadDigits(text, 14, 2, &out->minute)) {
    return 0;
  }
  out->second = 0;
  if (text.size() >= 19 && text[16] == ':') {
    if (!ReadDigits(text, 17, 2, &out->second)) return 0;
    return 19;
  }
  return 16;
}

}  // namespace

bool IsValidCivilTime(const CivilTime& t) {
  if (t.year < kMinYear || t.year > kMaxYear || t.month < 1 || t.month > 12 || t.day < 1 ||
      t.day > 31) {
    return false;
  }
  const chr::year_month_day ymd(chr::year(t.year), chr::month(static_cast<unsigned>(t.month)),
                                chr::day(static_cast<unsigned>(t.day)));
  if (!ymd.ok()) return false;
  return t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 &&
         t.second <= 59;
}

Result<CivilTime> ParseLocalDateTime(std::string_view text) {
  CivilTime t;
  const size_t n = ReadDateTime(text, &t);
  if (n == 0 || n != text.size()) {
    return Status::InvalidArgument("expected a local date-time like 2024-03-31T07:00, got " +
                                   Quoted(text));
  }
  KINDRED_RETURN_IF_ERROR(CheckFields(t, text));
  return t;
}

Result<CivilTime> ParseLocalDate(std::string_view text) {
  CivilTime t;
  if (text.size() != 10 || !ReadDate(text, &t)) {
    return Status::InvalidArgument("expected a date like 2024-03-31, got " + Quoted(text));
  }
  KINDRED_RETURN_IF_ERROR(CheckFields(t, text));
  return t;
}

std::string FormatCivilTime(const CivilTime& t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return buf;
}

CivilTime AddDays(const CivilTime& t, int days) {
  const chr::year_month_day ymd(DaysOf(t) + chr::days(days));
  CivilTime out = t;
  out.year = static_cast<int>(ymd.year());
  out.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  out.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  return out;
}

UnixSeconds CivilAsIfUtc(const CivilTime& t) {
  const auto days = DaysOf(t).time_since_epoch().count();
  return static_cast<UnixSeconds>(days) * 86400 + t.hour * 3600 + t.minute * 60 + t.second;
}

CivilTime CivilFromSecondsAsIfUtc(UnixSeconds s) {
  const chr::sys_seconds tp{chr::seconds(s)};
  const auto day = chr::floor<chr::days>(tp);
  const chr::year_month_day ymd(day);
  const chr::hh_mm_ss hms(tp - day);
  CivilTime out;
  out.year = static_cast<int>(ymd.year());
  out.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  out.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  out.hour = static_cast<int>(hms.hours().count());
  out.minute = static_cast<int>(hms.minutes().count());
  out.second = static_cast<int>(hms.seconds().count());
  return out;
}

std::string FormatIso8601(const ZonedTime& t) {
  std::string out = FormatCivilTime(t.local);
  const int32_t off = t.utc_offset_seconds;
  const int32_t a = std::abs(off);
  char buf[16];
  if (a % 60 != 0) {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60,
                  a % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  }
  return out + buf;
}

Result<DateTimeArg> ParseDateTimeArg(std::string_view text) {
  DateTimeArg arg;
  const size_t n = ReadDateTime(text, &arg.local);
  if (n == 0) {
    return Status::InvalidArgument(
        "expected a date-time like 2024-03-31T07:00 or 2024-03-31T07:00+02:00, got " +
        Quoted(text));
  }
  std::string_view rest = text.substr(n);
  if (rest == "Z" || rest == "z") {
    arg.utc_offset_seconds = 0;
  } else if (!rest.empty()) {
    int hh = 0, mm = 0;
    const bool sign_ok = rest[0] == '+' || rest[0] == '-';
    const bool form_ok = rest.size() == 6 && ReadDigits(rest, 1, 2, &hh) && rest[3] == ':' &&
                         ReadDigits(rest, 4, 2, &mm);
    if (!sign_ok || !form_ok || hh > 18 || mm > 59) {
      return Status::InvalidArgument("bad UTC offset " + Quoted(rest) + " in " + Quoted(text) +
                                     " (expected +HH:MM, -HH:MM or Z)");
    }
    arg.utc_offset_seconds = (rest[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
  }
  KINDRED_RETURN_IF_ERROR(CheckFields(arg.local, text));
  return arg;
}

}  // namespace kindred::calendar
