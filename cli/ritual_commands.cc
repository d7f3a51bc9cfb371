// kindred ritual ...: add, list, show, edit, rm, upcoming, done, skip, move,
// export, import; and kindred today.
//
// Each command makes the process's one calendar::Calendar (libical keeps
// process-wide state) and checks its input with it before the store is
// opened, so bad input never touches the home.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/context.h"
#include "engine/calendar/duration.h"
#include "kindred/rituals.h"
#include "kindred/timefmt.h"

namespace kindred::cli {
namespace {

namespace cal = calendar;
using nlohmann::json;

struct RitualArgs {
  std::vector<std::string> title_words;
  std::string id;
  std::string rrule;
  std::string start;
  std::string tz;
  std::string duration;
  std::string description;
  bool private_flag = false;
  bool shared_flag = false;
  // edit
  std::string title;
  std::string from;
  bool description_given = false;
  // upcoming
  std::string from_date;
  int days = 7;
  // done, skip, move
  std::string at;
  std::string note;
  int mood = 0;
  std::string reason;
  std::string to;
  // import, export
  std::string file;
  std::string out;
};

// ---- Time zones and formatting ------------------------------------------------

// The machine's IANA zone: $TZ (as "Area/City", ":Area/City" or a path into
// zoneinfo), else the /etc/localtime link, else /etc/timezone.
Result<std::string> MachineZone(cal::Calendar& calendar) {
  auto from_path = [](std::string s) {
    for (const char* marker : {"zoneinfo/posix/", "zoneinfo/right/", "zoneinfo/"}) {
      if (auto pos = s.find(marker); pos != std::string::npos) {
        return s.substr(pos + std::char_traits<char>::length(marker));
      }
    }
    return s;
  };
  if (const char* tz = std::getenv("TZ")) {
    std::string name = tz;
    if (name.empty()) return std::string("UTC");  // POSIX: an empty TZ is UTC
    if (name.front() == ':') name.erase(0, 1);
    if (!name.empty() && name.front() == '/') name = from_path(name);
    if (calendar.CheckZone(name).ok()) return name;
    return Status::InvalidArgument(
        "cannot tell this machine's time zone: TZ is '" + std::string(tz) +
        "', which is not an IANA zone name. Pass --tz ZONE (for example --tz Europe/Berlin), "
        "or set TZ to such a name");
  }
  std::error_code ec;
  auto link = std::filesystem::read_symlink("/etc/localtime", ec);
  if (!ec) {
    std::string name = from_path(link.string());
    if (calendar.CheckZone(name).ok()) return name;
  }
  std::ifstream etc("/etc/timezone");
  std::string line;
  if (etc && std::getline(etc, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty() && calendar.CheckZone(line).ok()) return line;
  }
  return Status::InvalidArgument(
      "cannot tell this machine's time zone (TZ is not set, and neither /etc/localtime nor "
      "/etc/timezone names a zone). Pass --tz ZONE (for example --tz Europe/Berlin), or set TZ");
}

// --tz if given (and known), else the machine's zone.
Result<std::string> ZoneOrMachine(cal::Calendar& calendar, const std::string& flag) {
  if (flag.empty()) return MachineZone(calendar);
  Status s = calendar.CheckZone(flag);
  if (!s.ok()) return s.WithContext("--tz");
  return flag;
}

constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kLongWeekdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr const char* kLongMonths[] = {"January",   "February", "March",    "April",
                                       "May",       "June",     "July",     "August",
                                       "September", "October",  "November", "December"};

int Weekday(const cal::CivilTime& t) {
  const cal::UnixSeconds days = cal::CivilAsIfUtc({t.year, t.month, t.day, 0, 0, 0}) / 86400;
  return static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
}

std::string TwoDigits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

// "19:00"
std::string HourMinute(const cal::CivilTime& t) {
  return TwoDigits(t.hour) + ":" + TwoDigits(t.minute);
}

// "Fri 10 May 2024"
std::string DayLabel(const cal::CivilTime& t) {
  return std::string(kWeekdays[Weekday(t)]) + " " + std::to_string(t.day) + " " +
         kMonths[t.month - 1] + " " + std::to_string(t.year);
}

// "Fri 10 May 2024, 19:00"
std::string When(const cal::CivilTime& t) { return DayLabel(t) + ", " + HourMinute(t); }

bool SameDay(const cal::CivilTime& a, const cal::CivilTime& b) {
  return a.year == b.year && a.month == b.month && a.day == b.day;
}

// "19:00–21:00", with the end's day when it is another day.
std::string Span(const cal::Occurrence& o) {
  std::string s = HourMinute(o.start.local) + "–";
  if (!SameDay(o.start.local, o.end.local)) s += DayLabel(o.end.local) + " ";
  return s + HourMinute(o.end.local);
}

// Characters as a terminal shows them (UTF-8 code points).
size_t DisplayWidth(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

std::vector<std::string> DoneBy(const OccurrenceView& v) {
  std::vector<std::string> out;
  for (const auto& c : v.completions) out.push_back(c.member);
  return out;
}

// scheduled, moved, skipped, or done (someone did it, whatever the plan said).
std::string StatusName(const OccurrenceView& v) {
  if (!v.completions.empty()) return "done";
  switch (v.occurrence.status) {
    case cal::OccurrenceStatus::kScheduled:
      return "scheduled";
    case cal::OccurrenceStatus::kMoved:
      return "moved";
    case cal::OccurrenceStatus::kSkipped:
      return "skipped";
  }
  return "scheduled";
}

std::string_view VisibilityWord(cal::Visibility v) {
  return v == cal::Visibility::kShared ? "shared" : "private";
}

// The occurrence's key (its place in the rule) as ISO 8601 in its zone.
std::string OccurrenceKeyIso(cal::Calendar& calendar, const cal::Occurrence& o) {
  if (o.status != cal::OccurrenceStatus::kMoved) {
    if (o.start.utc == o.key) return cal::FormatIso8601(o.start);
  }
  auto z = calendar.ToZone(o.key, o.zone);
  return z.ok() ? cal::FormatIso8601(*z) : std::to_string(o.key);
}

// The stable --json shape of an occurrence (docs/cli.md).
json OccurrenceJson(cal::Calendar& calendar, const OccurrenceView& v, bool with_completions) {
  json j{{"ritual", v.occurrence.ritual_id},
         {"title", v.title},
         {"start", cal::FormatIso8601(v.occurrence.start)},
         {"end", cal::FormatIso8601(v.occurrence.end)},
         {"status", StatusName(v)},
         {"occurrence", OccurrenceKeyIso(calendar, v.occurrence)},
         {"done_by", DoneBy(v)},
         {"visibility", std::string(VisibilityWord(v.visibility))}};
  if (v.occurrence.status == cal::OccurrenceStatus::kSkipped) j["reason"] = v.reason;
  if (!v.changed_by.empty()) j["changed_by"] = v.changed_by;
  if (with_completions) {
    json list = json::array();
    for (const auto& c : v.completions) {
      auto at = calendar.ToZone(c.done_at, v.occurrence.zone);
      list.push_back({{"member", c.member},
                      {"at", at.ok() ? cal::FormatIso8601(*at) : ""},
                      {"note", c.note},
                      {"mood", c.mood ? json(c.mood) : json(nullptr)}});
    }
    j["completions"] = list;
  }
  return j;
}

// The segment in force at `now` (the last that began at or before it).
const cal::RuleSegment& CurrentSegment(const cal::Ritual& r, cal::UnixSeconds now) {
  size_t i = 0;
  while (i + 1 < r.segments.size() && r.segments[i + 1].effective_from <= now) ++i;
  return r.segments[i];
}

// "2024-01-05T19:00" (with ":SS" only when the seconds are not zero).
std::string StartText(const cal::CivilTime& t) {
  const std::string s = cal::FormatCivilTime(t);
  return t.second == 0 ? s.substr(0, 16) : s;
}

cal::UnixSeconds Now() { return Env::System().clock().NowMicros() / 1'000'000; }

// The stable --json shape of a ritual (docs/cli.md).
json RitualJson(cal::Calendar& calendar, const RitualInfo& info,
                const std::optional<OccurrenceView>& next) {
  const cal::Ritual& r = info.ritual;
  const cal::RuleSegment& now = CurrentSegment(r, Now());
  json segments = json::array();
  for (size_t i = 0; i < r.segments.size(); ++i) {
    const cal::RuleSegment& s = r.segments[i];
    json from = nullptr;
    if (i > 0) {
      auto z = calendar.ToZone(s.effective_from, s.zone);
      from = z.ok() ? json(cal::FormatIso8601(*z)) : json(s.effective_from);
    }
    segments.push_back({{"from", from},
                        {"rrule", s.rrule},
                        {"start", StartText(s.start)},
                        {"tz", s.zone},
                        {"duration", cal::FormatDuration(s.duration)}});
  }
  return json{{"id", r.id},
              {"title", r.title},
              {"description", r.description},
              {"visibility", std::string(VisibilityWord(r.visibility))},
              {"rrule", now.rrule},
              {"start", StartText(now.start)},
              {"tz", now.zone},
              {"duration", cal::FormatDuration(now.duration)},
              {"segments", segments},
              {"next", next ? json(cal::FormatIso8601(next->occurrence.start)) : json(nullptr)},
              {"author", info.author},
              {"created", FormatIsoLocal(info.created_micros)},
              {"conflict", !info.conflicts.empty()}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---- Opening what a command needs ---------------------------------------------

// The calendar first, so input can be checked before the store is opened.
Result<std::unique_ptr<cal::Calendar>> MakeCalendar() { return cal::Calendar::Create(); }

int WithRituals(Context& ctx, cal::Calendar& calendar, const std::function<int(Rituals&)>& fn) {
  auto engine = ctx.OpenEngine();
  if (!engine.ok()) return Fail(engine.status());
  Rituals rituals(**engine, calendar, Env::System().clock());
  return fn(rituals);
}

Result<std::optional<cal::DateTimeArg>> ParseAt(const std::string& text, const char* flag) {
  if (text.empty()) return std::optional<cal::DateTimeArg>();
  auto at = cal::ParseDateTimeArg(text);
  if (!at.ok()) return at.status().WithContext(flag);
  return std::optional<cal::DateTimeArg>(*at);
}

Result<std::chrono::seconds> ParseDurationFlag(const std::string& text) {
  auto d = cal::ParseDuration(text);
  if (!d.ok()) return d.status().WithContext("--duration");
  return *d;
}

std::string JoinWords(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

// Up to `n` occurrences from now (skipped ones included), looking a week,
// then two months, then a year ahead.
std::vector<OccurrenceView> Coming(Rituals& rituals, const std::string& id, size_t n) {
  const cal::UnixSeconds now = Now();
  std::vector<OccurrenceView> out;
  for (int days : {8, 62, 366}) {
    auto list = rituals.OccurrencesOf(id, {now, now + days * 86400});
    if (!list.ok()) return {};
    out = std::move(*list);
    if (out.size() >= n) break;
  }
  if (out.size() > n) out.resize(n);
  return out;
}

// The next occurrence that is not skipped, if any within a year.
std::optional<OccurrenceView> NextOf(Rituals& rituals, const std::string& id) {
  for (size_t n : {1, 8, 400}) {
    auto coming = Coming(rituals, id, n);
    for (const auto& v : coming) {
      if (v.occurrence.status != cal::OccurrenceStatus::kSkipped) return v;
    }
    if (coming.size() < n) break;
  }
  return std::nullopt;
}

// ---- Commands ---------------------------------------------------------------

int RunAdd(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  NewRitual add;
  add.title = JoinWords(a.title_words);
  add.description = a.description;
  add.visibility = a.private_flag ? cal::Visibility::kPrivate : cal::Visibility::kShared;
  add.rule.rrule = a.rrule;
  auto start = cal::ParseLocalDateTime(a.start);
  if (!start.ok()) return Fail(start.status().WithContext("--start"));
  add.rule.start = *start;
  auto zone = ZoneOrMachine(**calendar, a.tz);
  if (!zone.ok()) return Fail(zone.status());
  add.rule.zone = *zone;
  auto duration = ParseDurationFlag(a.duration.empty() ? "30m" : a.duration);
  if (!duration.ok()) return Fail(duration.status());
  add.rule.duration = *duration;
  // Check everything before the store is opened.
  cal::Ritual probe{"new", add.title, add.description, add.visibility, {add.rule}};
  Status valid = (*calendar)->ValidateRitual(probe);
  if (!valid.ok()) return Fail(valid);
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto id = rituals.Add(add);
    if (!id.ok()) return Fail(id.status());
    if (ctx.json) {
      std::cout << Dump(json{{"id", *id}}) << "\n";
      return kExitOk;
    }
    std::cout << *id << "\n";
    std::cerr << "Added \"" << add.title << "\".";
    if (auto next = NextOf(rituals, *id)) {
      std::cerr << " The next one is " << When(next->occurrence.start.local) << ".";
    }
    std::cerr << (add.visibility == cal::Visibility::kShared
                      ? " It will be shared with your partner once you pair.\n"
                      : " It stays just for you.\n");
    return kExitOk;
  });
}

int RunList(Context& ctx, const RitualArgs&) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto list = rituals.List();
    if (!list.ok()) return Fail(list.status());
    if (ctx.json) {
      json out = json::array();
      for (const auto& info : *list) {
        out.push_back(RitualJson(**calendar, info, NextOf(rituals, info.ritual.id)));
      }
      std::cout << Dump(out) << "\n";
      return kExitOk;
    }
    if (list->empty()) {
      std::cout << "No rituals yet. Start small, for example:\n"
                << "  kindred ritual add \"Evening check-in\" --rrule FREQ=DAILY --start "
                   "2025-01-06T21:00 --duration 5m\n";
      return kExitOk;
    }
    for (const auto& info : *list) {
      const cal::Ritual& r = info.ritual;
      const cal::RuleSegment& s = CurrentSegment(r, Now());
      std::cout << r.id << "  " << r.title << "\n"
                << "    " << s.rrule << ", " << cal::FormatDuration(s.duration) << ", " << s.zone
                << ", " << VisibilityWord(r.visibility);
      if (auto next = NextOf(rituals, r.id)) {
        std::cout << "; next " << When(next->occurrence.start.local);
      }
      std::cout << (info.conflicts.empty() ? "" : "  [changed on two devices at once]") << "\n";
    }
    return kExitOk;
  });
}

int RunShow(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto info = rituals.Get(a.id);
    if (!info.ok()) return Fail(info.status());
    auto next = NextOf(rituals, a.id);
    if (ctx.json) {
      std::cout << Dump(RitualJson(**calendar, *info, next)) << "\n";
      return kExitOk;
    }
    const cal::Ritual& r = info->ritual;
    std::cout << r.title << "\n"
              << "  id:          " << r.id << "\n";
    if (!r.description.empty()) std::cout << "  about:       " << r.description << "\n";
    std::cout << "  visibility:  " << VisibilityWord(r.visibility) << "\n";
    if (!info->author.empty()) std::cout << "  added by:    " << info->author << "\n";
    for (size_t i = 0; i < r.segments.size(); ++i) {
      const cal::RuleSegment& s = r.segments[i];
      std::cout << (i == 0 ? "  rule:        " : "  then:        ") << s.rrule << ", from "
                << StartText(s.start) << " " << s.zone << ", " << cal::FormatDuration(s.duration);
      if (i > 0) {
        if (auto z = (*calendar)->ToZone(s.effective_from, s.zone); z.ok()) {
          std::cout << " (from the occurrence of " << When(z->local) << " on)";
        }
      }
      std::cout << "\n";
    }
    if (!info->conflicts.empty()) {
      std::cout << "  note:        changed on two devices at once (" << JoinNames(info->conflicts)
                << "); the latest is shown. Edit it to settle.\n";
    }
    auto coming = Coming(rituals, a.id, 3);
    if (!coming.empty()) {
      std::cout << "  coming up:\n";
      for (const auto& v : coming) {
        std::cout << "    " << When(v.occurrence.start.local) << "–"
                  << HourMinute(v.occurrence.end.local)
                  << (StatusName(v) == "scheduled" ? "" : "  (" + StatusName(v) + ")") << "\n";
      }
    }
    return kExitOk;
  });
}

int RunEdit(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  if (a.private_flag && a.shared_flag) {
    return Fail(Status::InvalidArgument("choose --private or --shared, not both"));
  }
  RitualEdit edit;
  if (!a.title.empty()) edit.title = a.title;
  if (a.description_given) edit.description = a.description;
  if (a.private_flag) edit.visibility = cal::Visibility::kPrivate;
  if (a.shared_flag) edit.visibility = cal::Visibility::kShared;
  std::optional<std::chrono::seconds> duration;
  if (!a.duration.empty()) {
    auto d = ParseDurationFlag(a.duration);
    if (!d.ok()) return Fail(d.status());
    duration = *d;
  }
  const bool rule_change = !a.rrule.empty() || !a.start.empty() || !a.tz.empty() || !a.from.empty();
  if (rule_change) {
    if (a.from.empty()) {
      return Fail(Status::InvalidArgument(
          "a rule change needs --from OCCURRENCE_START: the first occurrence the new rule applies "
          "to (earlier ones stay as they were)"));
    }
    if (a.rrule.empty() && a.start.empty() && a.tz.empty() && !duration) {
      return Fail(Status::InvalidArgument(
          "--from says where a rule change begins: give the change too (--rrule, --start, --tz or "
          "--duration)"));
    }
    RuleChange change;
    auto from = ParseAt(a.from, "--from");
    if (!from.ok()) return Fail(from.status());
    change.from = **from;
    if (!a.rrule.empty()) {
      auto rule = (*calendar)->ParseRule(a.rrule);
      if (!rule.ok()) return Fail(rule.status());
      change.rrule = a.rrule;
    }
    if (!a.start.empty()) {
      auto start = cal::ParseLocalDateTime(a.start);
      if (!start.ok()) return Fail(start.status().WithContext("--start"));
      change.start = *start;
    }
    if (!a.tz.empty()) {
      Status z = (*calendar)->CheckZone(a.tz);
      if (!z.ok()) return Fail(z.WithContext("--tz"));
      change.zone = a.tz;
    }
    change.duration = duration;
    edit.rule = change;
  } else {
    edit.duration = duration;
  }
  if (!edit.title && !edit.description && !edit.visibility && !edit.duration && !edit.rule) {
    return Fail(Status::InvalidArgument(
        "nothing to change: give --title, --description, --duration, --private or --shared, or a "
        "rule change (--rrule, --start or --tz with --from OCCURRENCE_START)"));
  }
  if (edit.title) {
    // Check the title before the store is opened.
    cal::Ritual probe{"new",
                      *edit.title,
                      "",
                      cal::Visibility::kShared,
                      {cal::RuleSegment{cal::kSinceForever,
                                        {2024, 1, 1, 12, 0, 0},
                                        "UTC",
                                        "FREQ=DAILY",
                                        std::chrono::minutes(5)}}};
    Status valid = (*calendar)->ValidateRitual(probe);
    if (!valid.ok()) return Fail(valid);
  }
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    Status s = rituals.Edit(a.id, edit);
    if (!s.ok()) return Fail(s);
    if (ctx.json) {
      std::cout << Dump(json{{"id", a.id}}) << "\n";
    } else if (edit.rule) {
      std::cout << "Updated " << a.id << ". The new rule applies from " << a.from
                << " on; earlier occurrences and what you did with them stay as they were.\n";
    } else {
      std::cout << "Updated " << a.id << ".\n";
    }
    return kExitOk;
  });
}

int RunRemove(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto info = rituals.Get(a.id);
    if (!info.ok()) return Fail(info.status());
    Status s = rituals.Remove(a.id);
    if (!s.ok()) return Fail(s);
    if (ctx.json)
      std::cout << Dump(json{{"id", a.id}}) << "\n";
    else
      std::cout << "Removed \"" << info->ritual.title << "\" and what was recorded about it.\n";
    return kExitOk;
  });
}

// One line of upcoming/today: "  19:00–21:00  Date night  (done by Alex)".
std::string OccurrenceLine(const OccurrenceView& v) {
  std::string line = "  " + Span(v.occurrence) + "  " + v.title;
  std::vector<std::string> notes;
  if (v.occurrence.status == cal::OccurrenceStatus::kSkipped) {
    notes.push_back(v.reason.empty() ? "skipped" : "skipped: " + v.reason);
  } else if (v.occurrence.status == cal::OccurrenceStatus::kMoved) {
    notes.push_back("moved from " + HourMinute(v.occurrence.nominal_local) +
                    (SameDay(v.occurrence.nominal_local, v.occurrence.start.local)
                         ? ""
                         : " on " + DayLabel(v.occurrence.nominal_local)));
  }
  if (!v.completions.empty()) notes.push_back("done by " + JoinNames(DoneBy(v)));
  for (const auto& n : notes) line += "  (" + n + ")";
  return line + "  [" + v.occurrence.ritual_id + "]";
}

int RunUpcoming(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  auto zone = ZoneOrMachine(**calendar, a.tz);
  if (!zone.ok()) return Fail(zone.status());
  cal::CivilTime first;
  if (a.from_date.empty()) {
    auto today = (*calendar)->ToZone(Now(), *zone);
    if (!today.ok()) return Fail(today.status());
    first = today->local;
  } else {
    auto date = cal::ParseLocalDate(a.from_date);
    if (!date.ok()) return Fail(date.status().WithContext("--from"));
    first = *date;
  }
  auto window = (*calendar)->LocalDays(first, a.days, *zone);
  if (!window.ok()) return Fail(window.status().WithContext("--days"));
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto list = rituals.Occurrences(*window);
    if (!list.ok()) return Fail(list.status());
    if (ctx.json) {
      json out = json::array();
      for (const auto& v : *list) out.push_back(OccurrenceJson(**calendar, v, false));
      std::cout << Dump(out) << "\n";
      return kExitOk;
    }
    if (list->empty()) {
      std::cout << "Nothing planned in these " << a.days << (a.days == 1 ? " day" : " days")
                << " from " << DayLabel(first) << ".\n";
      return kExitOk;
    }
    std::optional<cal::CivilTime> day;
    for (const auto& v : *list) {
      if (!day || !SameDay(*day, v.occurrence.start.local)) {
        day = v.occurrence.start.local;
        std::cout << DayLabel(*day) << "\n";
      }
      std::cout << OccurrenceLine(v) << "\n";
    }
    return kExitOk;
  });
}

int RunMark(Context& ctx, const RitualArgs& a, cal::FactKind kind) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  auto at = ParseAt(a.at, "--at");
  if (!at.ok()) return Fail(at.status());
  std::optional<cal::DateTimeArg> to;
  if (kind == cal::FactKind::kMoved) {
    auto parsed = ParseAt(a.to, "--to");
    if (!parsed.ok()) return Fail(parsed.status());
    to = *parsed;
  }
  if ((kind == cal::FactKind::kSkipped || kind == cal::FactKind::kMoved) && !*at) {
    return Fail(Status::InvalidArgument("--at OCCURRENCE_START is required: which occurrence?"));
  }
  const std::string& text = kind == cal::FactKind::kDone ? a.note : a.reason;
  if (text.size() > cal::kMaxFactTextBytes) {
    return Fail(Status::InvalidArgument(
        std::string(kind == cal::FactKind::kDone ? "--note" : "--reason") + " is longer than " +
        std::to_string(cal::kMaxFactTextBytes) + " bytes"));
  }
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    Result<OccurrenceView> v = Status::Internal("no action");
    switch (kind) {
      case cal::FactKind::kDone:
        v = rituals.MarkDone(a.id, *at, a.note, a.mood);
        break;
      case cal::FactKind::kSkipped:
        v = rituals.Skip(a.id, *at, a.reason);
        break;
      case cal::FactKind::kMoved:
        v = rituals.Move(a.id, *at, *to);
        break;
      default:
        break;
    }
    if (!v.ok()) return Fail(v.status());
    if (ctx.json) {
      std::cout << Dump(OccurrenceJson(**calendar, *v, true)) << "\n";
      return kExitOk;
    }
    const cal::Occurrence& o = v->occurrence;
    switch (kind) {
      case cal::FactKind::kDone:
        std::cout << "Marked \"" << v->title << "\" of " << When(o.start.local) << " as done.";
        if (v->completions.size() > 1)
          std::cout << " Done by " << JoinNames(DoneBy(*v)) << ": together.";
        std::cout << " Well kept.\n";
        break;
      case cal::FactKind::kSkipped:
        std::cout << "Skipped \"" << v->title << "\" of " << When(o.nominal_local)
                  << ". It's fine to rest; the next one is still on.\n";
        break;
      case cal::FactKind::kMoved:
        if (o.status == cal::OccurrenceStatus::kMoved) {
          std::cout << "Moved \"" << v->title << "\" of " << When(o.nominal_local) << " to "
                    << When(o.start.local) << ".\n";
        } else {
          std::cout << "\"" << v->title << "\" of " << When(o.nominal_local)
                    << " is back at its usual time.\n";
        }
        break;
      default:
        break;
    }
    return kExitOk;
  });
}

int RunExport(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto ics = rituals.ExportIcs();
    if (!ics.ok()) return Fail(ics.status());
    if (a.out.empty()) {
      std::cout << *ics;
      std::cout.flush();
      return std::cout ? kExitOk : Fail(Status::IOError("writing the export failed"));
    }
    // Relative to where the command was typed (also when `kindred serve` runs it).
    const std::string path = ctx.ResolvePath(a.out);
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) return Fail(Status::InvalidArgument("cannot write to " + a.out));
      ::chmod(tmp.c_str(), 0600);
      out << *ics;
      out.flush();
      if (!out) {
        std::remove(tmp.c_str());
        return Fail(Status::IOError("writing " + a.out + " failed"));
      }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      return Fail(Status::IOError("cannot move the export into " + a.out));
    }
    auto list = rituals.List();
    const size_t n = list.ok() ? list->size() : 0;
    if (ctx.json) {
      std::cout << Dump(json{{"out", a.out}, {"rituals", n}, {"bytes", ics->size()}}) << "\n";
    } else {
      std::cout << "Exported " << n << (n == 1 ? " ritual" : " rituals") << " to " << a.out
                << ". Calendar apps can import it; it is plain text, so keep it somewhere safe.\n";
    }
    return kExitOk;
  });
}

int RunImport(Context& ctx, const RitualArgs& a) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  const size_t limit = cal::ImportOptions{}.max_bytes;
  // Relative to where the command was typed (also when `kindred serve` runs it).
  const std::string path = ctx.ResolvePath(a.file);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(
        Status::InvalidArgument("cannot open " + a.file + " to import (not a readable file)"));
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return Fail(Status::InvalidArgument(a.file + " is " + std::to_string(st.st_size) +
                                        " bytes; the limit for an iCalendar import is " +
                                        std::to_string(limit) + " bytes. Nothing was imported"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Status::InvalidArgument("cannot open " + a.file + " to import"));
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  std::string floating;
  if (!a.tz.empty()) {
    auto zone = ZoneOrMachine(**calendar, a.tz);
    if (!zone.ok()) return Fail(zone.status());
    floating = *zone;
  } else if (auto zone = MachineZone(**calendar); zone.ok()) {
    floating = *zone;
  }
  // Parse before the store is opened: a bad file never touches the home.
  cal::ImportOptions options;
  options.floating_zone = floating;
  auto parsed = (*calendar)->ImportIcs(text, options);
  if (!parsed.ok()) return Fail(parsed.status().WithContext(a.file + " (nothing was imported)"));
  if (parsed->rituals.empty()) {
    std::string why = a.file + ": no recurring event in it could be a ritual; nothing was imported";
    for (size_t i = 0; i < parsed->problems.size() && i < 5; ++i) {
      const auto& p = parsed->problems[i];
      why += "\n  line " + std::to_string(p.line) +
             (p.summary.empty() ? "" : " (" + p.summary + ")") + ": " + p.message;
    }
    return Fail(Status::InvalidArgument(why));
  }
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto result = rituals.ImportIcs(text, floating);
    if (!result.ok()) return Fail(result.status().WithContext(a.file));
    if (ctx.json) {
      json problems = json::array();
      for (const auto& p : result->problems) {
        problems.push_back(
            {{"line", p.line}, {"uid", p.uid}, {"summary", p.summary}, {"message", p.message}});
      }
      std::cout << Dump(json{{"imported", result->imported},
                             {"already_here", result->already_here},
                             {"facts", result->facts},
                             {"problems", problems}})
                << "\n";
      return kExitOk;
    }
    const size_t n = result->imported.size();
    std::cout << "Imported " << n << (n == 1 ? " ritual" : " rituals");
    if (result->facts) std::cout << " with " << result->facts << " skipped or moved occurrences";
    if (!result->already_here.empty()) {
      std::cout << " (" << result->already_here.size() << " already here, left as they are)";
    }
    std::cout << ".\n";
    if (!result->problems.empty()) {
      std::cerr << result->problems.size()
                << (result->problems.size() == 1 ? " event was" : " events were")
                << " not imported:\n";
      for (const auto& p : result->problems) {
        std::cerr << "  line " << p.line << (p.summary.empty() ? "" : " (" + p.summary + ")")
                  << ": " << p.message << "\n";
      }
    }
    return kExitOk;
  });
}

int RunToday(Context& ctx, const std::string& tz_flag) {
  auto calendar = MakeCalendar();
  if (!calendar.ok()) return Fail(calendar.status());
  auto zone = ZoneOrMachine(**calendar, tz_flag);
  if (!zone.ok()) return Fail(zone.status());
  auto now = (*calendar)->ToZone(Now(), *zone);
  if (!now.ok()) return Fail(now.status());
  auto window = (*calendar)->LocalDays(now->local, 1, *zone);
  if (!window.ok()) return Fail(window.status());
  return WithRituals(ctx, **calendar, [&](Rituals& rituals) {
    auto list = rituals.Occurrences(*window);
    if (!list.ok()) return Fail(list.status());
    auto members = rituals.Members();
    if (!members.ok()) return Fail(members.status());
    const cal::CivilTime& d = now->local;
    if (ctx.json) {
      json out = json::array();
      for (const auto& v : *list) out.push_back(OccurrenceJson(**calendar, v, true));
      char date[16];
      std::snprintf(date, sizeof(date), "%04d-%02d-%02d", d.year, d.month, d.day);
      std::cout << Dump(json{
                       {"date", date}, {"tz", *zone}, {"members", *members}, {"occurrences", out}})
                << "\n";
      return kExitOk;
    }
    std::cout << "Today, " << kLongWeekdays[Weekday(d)] << " " << d.day << " "
              << kLongMonths[d.month - 1] << "\n\n";
    if (list->empty()) {
      std::cout << "  Nothing planned today. A quiet day together counts too.\n";
      return kExitOk;
    }
    size_t kept = 0, planned = 0;
    const OccurrenceView* pending = nullptr;  // one still to be kept today
    for (const auto& v : *list) {
      std::cout << "  " << Span(v.occurrence) << "  " << v.title << "\n";
      const std::string indent(4 + DisplayWidth(Span(v.occurrence)), ' ');
      if (v.occurrence.status == cal::OccurrenceStatus::kSkipped) {
        std::cout << indent << "skipped today" << (v.reason.empty() ? "" : ": " + v.reason) << "\n";
        continue;
      }
      ++planned;
      if (!v.completions.empty())
        ++kept;
      else if (!pending)
        pending = &v;
      if (v.occurrence.status == cal::OccurrenceStatus::kMoved) {
        std::cout << indent << "moved here from " << HourMinute(v.occurrence.nominal_local)
                  << (v.changed_by.empty() ? "" : " by " + v.changed_by) << "\n";
      }
      std::vector<std::string> shown;
      auto line = [&](const std::string& member, const cal::Completion* c) {
        std::cout << indent << member << ": ";
        if (!c) {
          std::cout << "not yet\n";
          return;
        }
        std::cout << "done";
        if (auto at = (*calendar)->ToZone(c->done_at, v.occurrence.zone); at.ok()) {
          std::cout << " at " << HourMinute(at->local);
        }
        if (c->mood) std::cout << ", mood " << c->mood << " of 5";
        if (!c->note.empty()) std::cout << ": \"" << c->note << "\"";
        std::cout << "\n";
      };
      for (const auto& m : *members) {
        const cal::Completion* c = nullptr;
        for (const auto& x : v.completions) {
          if (x.member == m) c = &x;
        }
        line(m, c);
        shown.push_back(m);
      }
      for (const auto& c : v.completions) {
        if (std::find(shown.begin(), shown.end(), c.member) == shown.end()) line(c.member, &c);
      }
    }
    std::cout << "\n";
    if (planned == 0) {
      std::cout << "  Everything today is skipped. Rest is part of it.\n";
    } else if (kept == planned) {
      std::cout << "  Every ritual today is kept. Lovely.\n";
    } else {
      std::cout << "  " << kept << " of " << planned
                << " kept so far. When you have done one, mark it:\n"
                << "    kindred ritual done " << pending->occurrence.ritual_id << " --at "
                << StartText(pending->occurrence.nominal_local) << "\n";
    }
    return kExitOk;
  });
}

}  // namespace

void AddRitualCommands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<RitualArgs>();
  auto* ritual = app.add_subcommand("ritual", "Keep your shared rituals: a calendar that syncs");
  ritual->require_subcommand(1);

  auto bind = [&ctx, args](CLI::App* cmd, std::function<int(Context&, const RitualArgs&)> run) {
    cmd->callback(
        [&ctx, args, run] { ctx.action = [&ctx, args, run] { return run(ctx, *args); }; });
  };
  const char* at_help =
      "The occurrence, by its start: YYYY-MM-DDTHH:MM in the ritual's zone, or "
      "with an offset as `upcoming --json` prints it";

  auto* add = ritual->add_subcommand("add", "Add a ritual; prints its id");
  add->add_option("title", args->title_words, "What you call it, e.g. \"Date night\"")->required();
  add->add_option("--rrule", args->rrule,
                  "How it repeats: an iCalendar RRULE, e.g. FREQ=WEEKLY;BYDAY=FR")
      ->required();
  add->add_option("--start", args->start, "The first time, YYYY-MM-DDTHH:MM (wall clock in --tz)")
      ->required();
  add->add_option("--tz", args->tz, "IANA time zone, e.g. Europe/Berlin (default: this machine's)");
  add->add_option("--duration", args->duration, "How long: 5m, 90m, 2h, 1h30m (default 30m)");
  add->add_option("--description", args->description, "A few words about it");
  add->add_flag("--private", args->private_flag,
                "Keep it to yourself (rituals are shared by default)");
  bind(add, RunAdd);

  bind(ritual->add_subcommand("list", "List your rituals"), RunList);

  auto* show = ritual->add_subcommand("show", "Show one ritual, its rules and what comes next");
  show->add_option("id", args->id, "The ritual's id")->required();
  bind(show, RunShow);

  auto* edit =
      ritual->add_subcommand("edit", "Change a ritual (a new rule applies from an occurrence on)");
  edit->add_option("id", args->id, "The ritual's id")->required();
  edit->add_option("--title", args->title, "A new title");
  edit->add_option("--description", args->description, "A new description")
      ->each([args](const std::string&) { args->description_given = true; });
  edit->add_option("--duration", args->duration, "A new length: 5m, 90m, 2h, 1h30m");
  edit->add_flag("--private", args->private_flag, "Keep it to yourself");
  edit->add_flag("--shared", args->shared_flag, "Share it with your partner");
  edit->add_option("--rrule", args->rrule, "A new rule (with --from)");
  edit->add_option("--start", args->start, "The new rule's start, YYYY-MM-DDTHH:MM (with --from)");
  edit->add_option("--tz", args->tz, "The new rule's time zone (with --from)");
  edit->add_option("--from", args->from,
                   "The first occurrence the new rule applies to, by its start");
  bind(edit, RunEdit);

  auto* rm = ritual->add_subcommand("rm", "Remove a ritual and what was recorded about it");
  rm->add_option("id", args->id, "The ritual's id")->required();
  bind(rm, RunRemove);

  auto* upcoming = ritual->add_subcommand("upcoming", "What is coming up, in time order");
  upcoming->add_option("--from", args->from_date, "The first day, YYYY-MM-DD (default: today)");
  upcoming->add_option("--days", args->days, "How many days (default 7)");
  upcoming->add_option("--tz", args->tz, "Whose days: an IANA zone (default: this machine's)");
  bind(upcoming, RunUpcoming);

  auto* done =
      ritual->add_subcommand("done", "Mark an occurrence as done (the nearest one without --at)");
  done->add_option("id", args->id, "The ritual's id")->required();
  done->add_option("--at", args->at, at_help);
  done->add_option("--note", args->note, "A few words about how it went");
  done->add_option("--mood", args->mood, "How it felt, from 1 (low) to 5 (great)")
      ->check(CLI::Range(1, 5));
  bind(done, [](Context& c, const RitualArgs& a) { return RunMark(c, a, cal::FactKind::kDone); });

  auto* skip = ritual->add_subcommand("skip", "Skip one occurrence");
  skip->add_option("id", args->id, "The ritual's id")->required();
  skip->add_option("--at", args->at, at_help)->required();
  skip->add_option("--reason", args->reason, "Why, if you like");
  bind(skip,
       [](Context& c, const RitualArgs& a) { return RunMark(c, a, cal::FactKind::kSkipped); });

  auto* move = ritual->add_subcommand("move", "Move one occurrence to another time");
  move->add_option("id", args->id, "The ritual's id")->required();
  move->add_option("--at", args->at, at_help)->required();
  move->add_option("--to", args->to, "The new start, YYYY-MM-DDTHH:MM in the ritual's zone")
      ->required();
  bind(move, [](Context& c, const RitualArgs& a) { return RunMark(c, a, cal::FactKind::kMoved); });

  auto* exp = ritual->add_subcommand("export", "Export every ritual as an iCalendar (.ics) file");
  exp->add_option("--out", args->out, "Write to this file instead of standard output");
  bind(exp, RunExport);

  auto* import =
      ritual->add_subcommand("import", "Import recurring events from an .ics file as rituals");
  import->add_option("file", args->file, "The .ics file")->required();
  import->add_option("--tz", args->tz,
                     "Zone for times the file gives without one (default: this machine's)");
  bind(import, RunImport);
}

void AddTodayCommand(CLI::App& app, Context& ctx) {
  auto tz = std::make_shared<std::string>();
  auto* today = app.add_subcommand("today", "Today's rituals and how they stand, for both of you");
  today->add_option("--tz", *tz, "Whose today: an IANA zone (default: this machine's)");
  today->callback([&ctx, tz] { ctx.action = [&ctx, tz] { return RunToday(ctx, *tz); }; });
}

}  // namespace kindred::cli
