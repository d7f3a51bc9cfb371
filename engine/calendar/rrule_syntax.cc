#include "engine/calendar/rrule_syntax.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>

namespace kindred::calendar::internal {
namespace {

constexpr std::array<std::string_view, 9> kCanonicalOrder = {
    "FREQ", "INTERVAL", "COUNT", "UNTIL", "BYMONTH", "BYMONTHDAY", "BYDAY", "BYSETPOS", "WKST"};

constexpr std::array<std::string_view, 7> kWeekdays = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};

// Rule parts RFC 5545 (or RFC 7529) defines that Kindred does not support,
// with the reason given to the user.
const char* UnsupportedPartReason(std::string_view name) {
  if (name == "BYSECOND" || name == "BYMINUTE" || name == "BYHOUR") {
    return "rituals recur at most once a day, at the start's time of day";
  }
  if (name == "BYYEARDAY") return "use BYMONTH with BYMONTHDAY instead";
  if (name == "BYWEEKNO") return "use BYMONTH with BYDAY instead";
  if (name == "RSCALE" || name == "SKIP") return "only the Gregorian calendar is supported";
  return nullptr;
}

Status Bad(std::string msg) { return Status::InvalidArgument("RRULE " + std::move(msg)); }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Reads an optionally signed decimal integer made only of digits (at most 6).
bool ReadInt(std::string_view s, bool allow_sign, int* out) {
  int sign = 1;
  if (allow_sign && !s.empty() && (s[0] == '+' || s[0] == '-')) {
    sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 6) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = sign * v;
  return true;
}

std::vector<std::string_view> SplitList(std::string_view v) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (true) {
    const size_t comma = v.find(',', begin);
    out.push_back(v.substr(begin, comma == std::string_view::npos ? v.npos : comma - begin));
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return out;
}

// Checks each item of a comma list with `check` (which returns an error
// message, empty when the item is fine).
template <typename Check>
Status CheckList(std::string_view name, std::string_view value, size_t max_items, Check check) {
  const auto items = SplitList(value);
  if (items.size() > max_items) {
    return Bad(std::string(name) + " lists more than " + std::to_string(max_items) + " values");
  }
  for (std::string_view item : items) {
    if (item.empty())
      return Bad(std::string(name) + "=" + std::string(value) + " has an empty value");
    std::string why = check(item);
    if (!why.empty()) {
      return Bad(std::string(name) + "=" + std::string(value) + ": '" + std::string(item) + "' " +
                 why);
    }
  }
  return Status::Ok();
}

Result<RuleUntil> ParseUntil(std::string_view v) {
  auto bad = [&] {
    return Bad("UNTIL=" + std::string(v) +
               " is not a date (YYYYMMDD) or a UTC date-time (YYYYMMDDTHHMMSSZ)");
  };
  RuleUntil until;
  CivilTime& t = until.time;
  auto digits = [&](size_t pos, size_t n, int* out) {
    return ReadInt(v.substr(pos, n), false, out) && v.substr(pos, n).size() == n;
  };
  if (v.size() < 8 || !digits(0, 4, &t.year) || !digits(4, 2, &t.month) || !digits(6, 2, &t.day)) {
    return bad();
  }
  if (v.size() == 8) {
    until.kind = RuleUntil::Kind::kDate;
  } else if ((v.size() == 15 || v.size() == 16) && v[8] == 'T' && digits(9, 2, &t.hour) &&
             digits(11, 2, &t.minute) && digits(13, 2, &t.second)) {
    if (v.size() == 16 && v[15] != 'Z') return bad();
    until.kind = v.size() == 16 ? RuleUntil::Kind::kUtc : RuleUntil::Kind::kLocal;
  } else {
    return bad();
  }
  if (!IsValidCivilTime(t)) {
    return Bad("UNTIL=" + std::string(v) + " is not a real date and time in years " +
               std::to_string(kMinYear) + ".." + std::to_string(kMaxYear));
  }
  return until;
}

// The most days month `m` ever has (February: 29).
int MaxDaysInMonth(int m) {
  constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[m - 1];
}

}  // namespace

Result<RuleParts> ParseRuleSyntax(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  if (text.size() >= 6 && Upper(text.substr(0, 6)) == "RRULE:") text.remove_prefix(6);
  if (text.empty()) return Bad("is empty (expected e.g. FREQ=WEEKLY;BYDAY=FR)");
  if (text.size() > kMaxRuleBytes) {
    return Bad("is longer than " + std::to_string(kMaxRuleBytes) + " characters");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c <= ' ' || c >= 0x7f) {
      return Bad("has a space or unexpected character at position " + std::to_string(i + 1));
    }
  }
  if (text.back() == ';') text.remove_suffix(1);  // a trailing ';' is common and harmless

  std::map<std::string, std::string> by_name;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t semi = std::min(text.find(';', begin), text.size());
    const std::string_view part = text.substr(begin, semi - begin);
    begin = semi + 1;
    if (part.empty()) return Bad("has an empty part (two ';' in a row?)");
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Bad("part '" + std::string(part) + "' is not NAME=VALUE");
    }
    std::string name = Upper(part.substr(0, eq));
    std::string value = Upper(part.substr(eq + 1));
    if (const char* why = UnsupportedPartReason(name)) {
      return Bad(name + " is not supported: " + why);
    }
    if (std::find(kCanonicalOrder.begin(), kCanonicalOrder.end(), name) == kCanonicalOrder.end()) {
      return Bad("part '" + name + "' is unknown");
    }
    if (value.empty()) return Bad(name + " has no value");
    if (!by_name.emplace(name, value).second) return Bad(name + " appears more than once");
  }

  RuleParts out;
  RecurrenceRule& rule = out.rule;
  auto has = [&](std::string_view n) { return by_name.count(std::string(n)) > 0; };
  auto get = [&](std::string_view n) -> const std::string& { return by_name.at(std::string(n)); };

  if (!has("FREQ")) return Bad("has no FREQ (expected e.g. FREQ=WEEKLY)");
  const std::string& freq = get("FREQ");
  if (freq == "DAILY") {
    rule.frequency = Frequency::kDaily;
  } else if (freq == "WEEKLY") {
    rule.frequency = Frequency::kWeekly;
  } else if (freq == "MONTHLY") {
    rule.frequency = Frequency::kMonthly;
  } else if (freq == "YEARLY") {
    rule.frequency = Frequency::kYearly;
  } else if (freq == "SECONDLY" || freq == "MINUTELY" || freq == "HOURLY") {
    return Bad("FREQ=" + freq +
               " is not supported: rituals repeat DAILY, WEEKLY, MONTHLY or YEARLY");
  } else {
    return Bad("FREQ=" + freq + " is not one of DAILY, WEEKLY, MONTHLY, YEARLY");
  }

  if (has("INTERVAL")) {
    int n = 0;
    if (!ReadInt(get("INTERVAL"), false, &n) || n < 1 || n > kMaxInterval) {
      return Bad("INTERVAL=" + get("INTERVAL") + " is not a whole number 1.." +
                 std::to_string(kMaxInterval));
    }
    rule.interval = n;
  }
  if (has("COUNT")) {
    int n = 0;
    if (!ReadInt(get("COUNT"), false, &n) || n < 1 || n > kMaxCount) {
      return Bad("COUNT=" + get("COUNT") + " is not a whole number 1.." +
                 std::to_string(kMaxCount));
    }
    rule.count = n;
  }
  if (has("UNTIL")) {
    if (has("COUNT")) return Bad("has both COUNT and UNTIL; RFC 5545 allows one of them");
    KINDRED_ASSIGN_OR_RETURN(rule.until, ParseUntil(get("UNTIL")));
  }

  std::vector<int> months;
  if (has("BYMONTH")) {
    KINDRED_RETURN_IF_ERROR(CheckList("BYMONTH", get("BYMONTH"), 12, [&](std::string_view v) {
      int m = 0;
      if (!ReadInt(v, false, &m) || m < 1 || m > 12) return std::string("is not a month 1..12");
      months.push_back(m);
      return std::string();
    }));
  }
  if (has("BYMONTHDAY")) {
    if (rule.frequency == Frequency::kWeekly) {
      return Bad("BYMONTHDAY cannot be used with FREQ=WEEKLY");
    }
    std::vector<int> days;
    KINDRED_RETURN_IF_ERROR(CheckList("BYMONTHDAY", get("BYMONTHDAY"), 31, [&](std::string_view v) {
      int d = 0;
      if (!ReadInt(v, true, &d) || d == 0 || d < -31 || d > 31) {
        return std::string("is not a day of the month 1..31 or -31..-1");
      }
      days.push_back(d);
      return std::string();
    }));
    if (!months.empty()) {
      const bool possible = std::any_of(days.begin(), days.end(), [&](int d) {
        return std::any_of(months.begin(), months.end(),
                           [&](int m) { return std::abs(d) <= MaxDaysInMonth(m); });
      });
      if (!possible) {
        return Bad("BYMONTHDAY=" + get("BYMONTHDAY") + " never falls in BYMONTH=" + get("BYMONTH"));
      }
    }
  }
  if (has("BYDAY")) {
    const bool ordinals_allowed =
        rule.frequency == Frequency::kMonthly || rule.frequency == Frequency::kYearly;
    const int max_ordinal = rule.frequency == Frequency::kYearly && months.empty() ? 53 : 5;
    KINDRED_RETURN_IF_ERROR(CheckList("BYDAY", get("BYDAY"), 7 * 10, [&](std::string_view v) {
      if (v.size() < 2 || std::find(kWeekdays.begin(), kWeekdays.end(), v.substr(v.size() - 2)) ==
                              kWeekdays.end()) {
        return std::string("does not end in a weekday MO, TU, WE, TH, FR, SA or SU");
      }
      const std::string_view ordinal = v.substr(0, v.size() - 2);
      if (ordinal.empty()) return std::string();
      int n = 0;
      if (!ReadInt(ordinal, true, &n) || n == 0) {
        return std::string("has a bad position (expected e.g. 1SU or -1FR)");
      }
      if (!ordinals_allowed) {
        return std::string("has a position, which only FREQ=MONTHLY or YEARLY allow");
      }
      if (std::abs(n) > max_ordinal) {
        return "has position " + std::to_string(n) + "; a " +
               (max_ordinal == 5 ? "month" : "year") + " has at most " +
               std::to_string(max_ordinal) + " of each weekday";
      }
      return std::string();
    }));
  }
  if (has("BYSETPOS")) {
    if (!has("BYDAY") && !has("BYMONTHDAY") && !has("BYMONTH")) {
      return Bad("BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH to pick from");
    }
    KINDRED_RETURN_IF_ERROR(CheckList("BYSETPOS", get("BYSETPOS"), 31, [&](std::string_view v) {
      int n = 0;
      if (!ReadInt(v, true, &n) || n == 0 || n < -366 || n > 366) {
        return std::string("is not a position 1..366 or -366..-1");
      }
      return std::string();
    }));
  }
  if (has("WKST")) {
    if (std::find(kWeekdays.begin(), kWeekdays.end(), get("WKST")) == kWeekdays.end()) {
      return Bad("WKST=" + get("WKST") + " is not a weekday MO..SU");
    }
  }

  for (std::string_view name : kCanonicalOrder) {
    if (!has(name)) continue;
    if (name == "INTERVAL" && rule.interval == 1) continue;
    out.parts.emplace_back(std::string(name), get(name));
  }
  for (const auto& [name, value] : out.parts) {
    if (!rule.text.empty()) rule.text += ';';
    rule.text += name + "=" + value;
  }
  return out;
}

std::string JoinPartsWithoutBound(const RuleParts& parts) {
  std::string out;
  for (const auto& [name, value] : parts.parts) {
    if (name == "COUNT" || name == "UNTIL") continue;
    if (!out.empty()) out += ';';
    out += name + "=" + value;
  }
  return out;
}

}  // namespace kindred::calendar::internal
