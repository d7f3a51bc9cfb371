#include "kindred/timefmt.h"

#include <cstdio>
#include <ctime>

namespace kindred {

std::string FormatIsoLocal(int64_t micros) {
  time_t secs = static_cast<time_t>(micros >= 0 ? micros / 1000000 : (micros - 999999) / 1000000);
  struct tm local {};
  localtime_r(&secs, &local);
  char date[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &local);
  long off = local.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  // Sub-second precision only when there is any, so whole seconds stay short.
  int64_t frac = micros - static_cast<int64_t>(secs) * 1000000;
  char fraction[16] = "";
  if (frac != 0) snprintf(fraction, sizeof(fraction), ".%06ld", static_cast<long>(frac));
  char out[64];
  snprintf(out, sizeof(out), "%s%s%c%02ld:%02ld", date, fraction, sign, off / 3600,
           (off % 3600) / 60);
  return out;
}

Result<int64_t> ParseIsoTime(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a date or time (" + why +
                                   "); use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS+HH:MM");
  };
  auto digits = [&](size_t pos, size_t n, int* out) {
    if (pos + n > text.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  struct tm t {};
  int year, month, day;
  if (!digits(0, 4, &year) || text.size() < 10 || text[4] != '-' || !digits(5, 2, &month) ||
      text[7] != '-' || !digits(8, 2, &day)) {
    return bad("expected YYYY-MM-DD");
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return bad("month or day out of range");
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  if (text.size() == 10) {
    t.tm_isdst = -1;
    time_t local = mktime(&t);
    if (local == static_cast<time_t>(-1)) return bad("no such local date");
    return static_cast<int64_t>(local) * 1000000;
  }
  if (text[10] != 'T' && text[10] != ' ') return bad("expected 'T' after the date");
  int hour, minute, second = 0;
  if (!digits(11, 2, &hour) || text.size() < 16 || text[13] != ':' || !digits(14, 2, &minute)) {
    return bad("expected HH:MM after the date");
  }
  size_t pos = 16;
  int64_t frac_micros = 0;
  if (pos < text.size() && text[pos] == ':') {
    if (!digits(pos + 1, 2, &second)) return bad("expected seconds");
    pos += 3;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      int64_t scale = 100000;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        frac_micros += (text[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
    }
  }
  if (hour > 23 || minute > 59 || second > 60) return bad("time out of range");
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  if (pos == text.size()) return bad("missing UTC offset such as Z or +01:00");
  int64_t offset = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(pos + 4, 2, &om)) {
      return bad("bad UTC offset");
    }
    offset = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad("unexpected text after the time");
  }
  if (pos != text.size()) return bad("unexpected text after the offset");
  time_t utc = timegm(&t);
  return (static_cast<int64_t>(utc) - offset) * 1000000 + frac_micros;
}

}  // namespace kindred
