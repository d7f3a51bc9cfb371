// Zones, validation and expansion. Recurrence and zone arithmetic are
// libical's: its iterator expands each rule on floating wall-clock times,
// and its zone tables give the UTC offset at any instant. This file decides
// which instant a wall-clock time means (RFC 5545 3.3.10 for skipped and
// repeated hours), applies UNTIL, segments and overrides, and keeps libical
// behind one mutex.
#include <algorithm>
#include <limits>
#include <set>

#include "engine/calendar/calendar_impl.h"
#include "engine/calendar/duration.h"

namespace kindred::calendar {

using internal::CalendarImpl;
using internal::Instance;
using internal::PreparedSegment;
using internal::RuleParts;

Result<std::unique_ptr<Calendar>> Calendar::Create() {
  // libical's default, set explicitly: a parse error must never abort. This
  // is process-wide libical state; setting it to the same value is harmless.
  icalerror_set_errors_are_fatal(0);
  auto calendar = std::make_unique<CalendarImpl>();
  if (!calendar->CheckZone("America/New_York").ok()) {
    return Status::FailedPrecondition(
        "time-zone data not found (libical reads /usr/share/zoneinfo; install Debian's tzdata)");
  }
  return std::unique_ptr<Calendar>(std::move(calendar));
}

namespace internal {
namespace {

constexpr UnixSeconds kDay = 86400;
constexpr UnixSeconds kForever = std::numeric_limits<UnixSeconds>::max();

std::string HourMinute(const CivilTime& t) {
  std::string s = FormatCivilTime(t);  // YYYY-MM-DDTHH:MM:SS
  return t.second == 0 ? s.substr(0, 16) : s;
}

bool PastUntil(const RecurrenceRule& rule, const Instance& inst) {
  if (!rule.until) return false;
  const CivilTime& u = rule.until->time;
  switch (rule.until->kind) {
    case RuleUntil::Kind::kUtc:
      return inst.key > CivilAsIfUtc(u);
    case RuleUntil::Kind::kDate: {
      const CivilTime& n = inst.nominal_local;
      return CivilTime{n.year, n.month, n.day, 0, 0, 0} > u;
    }
    case RuleUntil::Kind::kLocal:
      return inst.nominal_local > u;
  }
  return false;
}

bool IsPrintable(std::string_view s, bool allow_newlines) {
  return std::all_of(s.begin(), s.end(), [&](char ch) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\n' || c == '\t') return allow_newlines;
    return c >= 0x20 && c != 0x7f;
  });
}

bool OccurrenceBefore(const Occurrence& a, const Occurrence& b) {
  if (a.start.utc != b.start.utc) return a.start.utc < b.start.utc;
  if (a.ritual_id != b.ritual_id) return a.ritual_id < b.ritual_id;
  return a.key < b.key;
}

}  // namespace

// ---- Zones -----------------------------------------------------------------

Result<icaltimezone*> CalendarImpl::ZoneLocked(std::string_view name) {
  // libical maps names to files under the zoneinfo directory; allow only what
  // IANA names use, so no name can point elsewhere.
  const bool plausible = !name.empty() && name.size() <= 64 && name.front() != '/' &&
                         name.find("..") == std::string_view::npos &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                  (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' ||
                                  c == '+';
                         });
  icaltimezone* zone =
      plausible ? icaltimezone_get_builtin_timezone(std::string(name).c_str()) : nullptr;
  if (zone == nullptr) {
    return Status::InvalidArgument("unknown time zone '" + std::string(name) +
                                   "' (expected an IANA name such as Europe/Berlin)");
  }
  return zone;
}

int CalendarImpl::OffsetAtLocked(icaltimezone* zone, UnixSeconds utc) {
  icaltimetype t = ToIcalFloating(CivilFromSecondsAsIfUtc(utc));
  t.zone = icaltimezone_get_utc_timezone();
  int is_daylight = 0;
  return icaltimezone_get_utc_offset_of_utc_time(zone, &t, &is_daylight);
}

ZonedTime CalendarImpl::ToZoneLocked(icaltimezone* zone, UnixSeconds utc) {
  const int offset = OffsetAtLocked(zone, utc);
  return ZonedTime{utc, CivilFromSecondsAsIfUtc(utc + offset), offset};
}

ResolvedTime CalendarImpl::ResolveLocked(icaltimezone* zone, const CivilTime& local) {
  const UnixSeconds naive = CivilAsIfUtc(local);
  if (zone == icaltimezone_get_utc_timezone()) return {ZonedTime{naive, local, 0}};
  // The offsets in force a day before and a day after: the local time maps to
  // naive - offset for whichever of them is really in force at that instant.
  const int before = OffsetAtLocked(zone, naive - kDay);
  const UnixSeconds with_before = naive - before;
  const int at_with_before = OffsetAtLocked(zone, with_before);
  const bool before_fits = at_with_before == before;
  const int after = OffsetAtLocked(zone, naive + kDay);
  if (before == after && before_fits) {
    return {ZonedTime{with_before, local, before}, LocalTimeKind::kUnique};
  }
  const UnixSeconds with_after = naive - after;
  const bool after_fits = OffsetAtLocked(zone, with_after) == after;
  if (before_fits && after_fits && with_before != with_after) {
    const bool before_first = with_before < with_after;
    return {
        ZonedTime{before_first ? with_before : with_after, local, before_first ? before : after},
        LocalTimeKind::kAmbiguous};
  }
  if (before_fits) return {ZonedTime{with_before, local, before}, LocalTimeKind::kUnique};
  if (after_fits) return {ZonedTime{with_after, local, after}, LocalTimeKind::kUnique};
  // In a gap: read the wall clock with the offset from before the gap.
  return {
      ZonedTime{with_before, CivilFromSecondsAsIfUtc(with_before + at_with_before), at_with_before},
      LocalTimeKind::kSkipped};
}

Status CalendarImpl::CheckZone(std::string_view zone) {
  std::lock_guard lock(mu_);
  return ZoneLocked(zone).status();
}

Result<ResolvedTime> CalendarImpl::ResolveLocal(const CivilTime& local, std::string_view zone) {
  if (!IsValidCivilTime(local)) {
    return Status::InvalidArgument("not a valid date and time: " + FormatCivilTime(local));
  }
  std::lock_guard lock(mu_);
  KINDRED_ASSIGN_OR_RETURN(icaltimezone * z, ZoneLocked(zone));
  return ResolveLocked(z, local);
}

Result<ZonedTime> CalendarImpl::ToZone(UnixSeconds utc, std::string_view zone) {
  std::lock_guard lock(mu_);
  KINDRED_ASSIGN_OR_RETURN(icaltimezone * z, ZoneLocked(zone));
  return ToZoneLocked(z, utc);
}

Result<TimeWindow> CalendarImpl::LocalDays(const CivilTime& first_day, int days,
                                           std::string_view zone) {
  if (days < 1 || days > 3660) {
    return Status::InvalidArgument("days must be 1..3660, not " + std::to_string(days));
  }
  const CivilTime midnight{first_day.year, first_day.month, first_day.day, 0, 0, 0};
  const CivilTime end = AddDays(midnight, days);
  if (!IsValidCivilTime(midnight) || !IsValidCivilTime(end)) {
    return Status::InvalidArgument("date out of range: " + FormatCivilTime(midnight));
  }
  std::lock_guard lock(mu_);
  KINDRED_ASSIGN_OR_RETURN(icaltimezone * z, ZoneLocked(zone));
  return TimeWindow{ResolveLocked(z, midnight).time.utc, ResolveLocked(z, end).time.utc};
}

// ---- Rules and segments ------------------------------------------------------

Result<RuleParts> CalendarImpl::ParseRuleLocked(std::string_view rrule) {
  KINDRED_ASSIGN_OR_RETURN(RuleParts parts, internal::ParseRuleSyntax(rrule));
  icalerror_clear_errno();
  icalrecurrencetype r = icalrecurrencetype_from_string(parts.rule.text.c_str());
  if (r.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
    const char* why = icalerror_strerror(icalerrno);
    icalerror_clear_errno();
    return Status::InvalidArgument("RRULE " + parts.rule.text +
                                   " is rejected by libical: " + (why ? why : "unknown error"));
  }
  if (r.interval != parts.rule.interval || r.count != parts.rule.count.value_or(0)) {
    return Status::Internal("RRULE " + parts.rule.text + " reads differently in libical");
  }
  return parts;
}

Result<RecurrenceRule> CalendarImpl::ParseRule(std::string_view rrule) {
  std::lock_guard lock(mu_);
  KINDRED_ASSIGN_OR_RETURN(RuleParts parts, ParseRuleLocked(rrule));
  return std::move(parts.rule);
}

Result<std::vector<PreparedSegment>> CalendarImpl::PrepareLocked(const Ritual& ritual) {
  if (ritual.segments.empty()) return Status::InvalidArgument("ritual has no rule");
  std::vector<PreparedSegment> out;
  out.reserve(ritual.segments.size());
  for (size_t i = 0; i < ritual.segments.size(); ++i) {
    const RuleSegment& s = ritual.segments[i];
    const std::string where =
        ritual.segments.size() > 1 ? "rule segment " + std::to_string(i + 1) + ": " : "";
    if (i > 0 && s.effective_from <= ritual.segments[i - 1].effective_from) {
      return Status::InvalidArgument(where + "effective_from is not after the previous segment's");
    }
    PreparedSegment p;
    p.segment = &s;
    p.index = i;
    p.from = i == 0 ? kSinceForever : s.effective_from;
    p.to = i + 1 < ritual.segments.size() ? ritual.segments[i + 1].effective_from : kForever;
    auto zone = ZoneLocked(s.zone);
    if (!zone.ok()) return zone.status().WithContext(where + "zone");
    p.zone = *zone;
    if (!IsValidCivilTime(s.start)) {
      return Status::InvalidArgument(where + "start " + FormatCivilTime(s.start) +
                                     " is not a valid date and time");
    }
    auto parts = ParseRuleLocked(s.rrule);
    if (!parts.ok()) {
      return where.empty() ? parts.status()
                           : parts.status().WithContext(where.substr(0, where.size() - 2));
    }
    p.rule = std::move(*parts);
    p.ical_rule = icalrecurrencetype_from_string(p.rule.rule.text.c_str());
    p.ical_rule.until = icaltime_null_time();
    if (s.duration.count() <= 0 || s.duration > kMaxRitualDuration) {
      return Status::InvalidArgument(where + "duration must be more than zero and at most 7 days");
    }
    out.push_back(std::move(p));
  }
  return out;
}

Status CalendarImpl::ForEachInstanceLocked(const PreparedSegment& seg, UnixSeconds lo,
                                           UnixSeconds hi,
                                           const std::function<bool(const Instance&)>& fn) {
  lo = std::max(lo, seg.from);
  hi = std::min(hi, seg.to);
  if (lo >= hi) return Status::Ok();
  const CivilTime& start = seg.segment->start;
  icalerror_clear_errno();
  internal::IcalIteratorPtr it(icalrecur_iterator_new(seg.ical_rule, ToIcalFloating(start)));
  if (!it) {
    const char* why = icalerror_strerror(icalerrno);
    icalerror_clear_errno();
    return Status::InvalidArgument(
        "RRULE " + seg.rule.rule.text + " cannot be expanded from the start " + HourMinute(start) +
        "; it may never occur (libical: " + (why ? why : "unknown error") + ")");
  }
  // Jump close to the window instead of walking from the start. libical can
  // only do that without COUNT, which must count from the start.
  if (!seg.rule.rule.count && lo > CivilAsIfUtc(start) + 3 * kDay) {
    const CivilTime jump = AddDays(ToZoneLocked(seg.zone, lo).local, -2);
    if (jump > start) icalrecur_iterator_set_start(it.get(), ToIcalFloating(jump));
  }
  UnixSeconds previous_key = kSinceForever;
  while (true) {
    const icaltimetype t = icalrecur_iterator_next(it.get());
    if (icaltime_is_null_time(t)) break;
    Instance inst;
    inst.nominal_local = FromIcal(t);
    if (!IsValidCivilTime(inst.nominal_local)) break;  // past the years Kindred handles
    inst.start = ResolveLocked(seg.zone, inst.nominal_local).time;
    inst.key = inst.start.utc;
    if (PastUntil(seg.rule.rule, inst)) break;
    if (inst.key >= hi) {
      // Keys follow wall-clock order except within a DST change; a day's
      // margin covers that.
      if (inst.key - hi >= kDay) break;
      continue;
    }
    if (inst.key < lo || inst.key == previous_key) continue;
    previous_key = inst.key;
    if (!fn(inst)) break;
  }
  return Status::Ok();
}

Result<std::optional<Instance>> CalendarImpl::InstanceAtLocked(const PreparedSegment& seg,
                                                               UnixSeconds key) {
  std::optional<Instance> found;
  KINDRED_RETURN_IF_ERROR(ForEachInstanceLocked(seg, key, key + 1, [&](const Instance& inst) {
    found = inst;
    return false;
  }));
  return found;
}

Occurrence CalendarImpl::MakeOccurrenceLocked(const Ritual& ritual, const PreparedSegment& seg,
                                              const Instance& inst, OccurrenceStatus status,
                                              UnixSeconds actual_start) {
  Occurrence o;
  o.ritual_id = ritual.id;
  o.key = inst.key;
  o.nominal_local = inst.nominal_local;
  o.start = actual_start == inst.key ? inst.start : ToZoneLocked(seg.zone, actual_start);
  o.end = ToZoneLocked(seg.zone, actual_start + seg.segment->duration.count());
  o.zone = seg.segment->zone;
  o.segment_index = seg.index;
  o.status = status;
  return o;
}

// ---- Validation ----------------------------------------------------------------

Status CalendarImpl::ValidateRitualLocked(const Ritual& ritual) {
  if (ritual.id.empty() || ritual.id.size() > 255 || !IsPrintable(ritual.id, false) ||
      ritual.id.find(' ') != std::string::npos) {
    return Status::InvalidArgument("ritual id must be 1..255 printable characters without spaces");
  }
  if (ritual.title.empty()) return Status::InvalidArgument("ritual title is empty");
  if (ritual.title.size() > 500 || !IsPrintable(ritual.title, false)) {
    return Status::InvalidArgument(
        "ritual title must be at most 500 bytes on one line without control characters");
  }
  if (ritual.description.size() > 20000 || !IsPrintable(ritual.description, true)) {
    return Status::InvalidArgument(
        "ritual description must be at most 20000 bytes without control characters");
  }
  KINDRED_ASSIGN_OR_RETURN(std::vector<PreparedSegment> segments, PrepareLocked(ritual));
  for (const PreparedSegment& seg : segments) {
    const RuleSegment& s = *seg.segment;
    const std::string where =
        segments.size() > 1 ? "rule segment " + std::to_string(seg.index + 1) + ": " : "";
    const ResolvedTime start = ResolveLocked(seg.zone, s.start);
    if (start.kind == LocalTimeKind::kSkipped) {
      return Status::InvalidArgument(
          where + "start " + HourMinute(s.start) + " does not exist in " + s.zone +
          ": the clocks jump forward over it for daylight saving time (the same moment reads " +
          HourMinute(start.time.local) + ")");
    }
    bool any = false;
    KINDRED_RETURN_IF_ERROR(
        ForEachInstanceLocked(seg, kSinceForever, kForever, [&](const Instance&) {
          any = true;
          return false;
        }));
    if (!any) {
      return Status::InvalidArgument(
          where + "RRULE " + seg.rule.rule.text + " produces no occurrence from the start " +
          HourMinute(s.start) + (segments.size() > 1 ? " within the segment" : ""));
    }
  }
  return Status::Ok();
}

Status CalendarImpl::ValidateRitual(const Ritual& ritual) {
  std::lock_guard lock(mu_);
  return ValidateRitualLocked(ritual);
}

Result<Ritual> CalendarImpl::ChangeRule(const Ritual& ritual, UnixSeconds from, RuleSegment next) {
  std::lock_guard lock(mu_);
  KINDRED_RETURN_IF_ERROR(ValidateRitualLocked(ritual));
  KINDRED_ASSIGN_OR_RETURN(icaltimezone * zone, ZoneLocked(next.zone));
  if (!IsValidCivilTime(next.start)) {
    return Status::InvalidArgument("new start " + FormatCivilTime(next.start) +
                                   " is not a valid date and time");
  }
  const UnixSeconds cut = std::min(from, ResolveLocked(zone, next.start).time.utc);
  if (cut < from) {
    ExpandOptions options;
    options.include_skipped = true;
    KINDRED_ASSIGN_OR_RETURN(std::vector<Occurrence> dropped,
                             ExpandLocked(ritual, {}, TimeWindow{cut, from}, options));
    if (!dropped.empty()) {
      return Status::InvalidArgument(
          "the new start " + HourMinute(next.start) + " lies before the occurrence at " +
          FormatIso8601(dropped.front().start) +
          ", which precedes the one the change starts from; that would rewrite the past");
    }
  }
  Ritual out = ritual;
  while (out.segments.size() > 1 && out.segments.back().effective_from >= cut) {
    out.segments.pop_back();
  }
  // The segment in force at the cut keeps what it produced before the cut; if
  // that is nothing, it goes.
  {
    KINDRED_ASSIGN_OR_RETURN(std::vector<PreparedSegment> kept, PrepareLocked(out));
    PreparedSegment& last = kept.back();
    last.to = cut;
    bool any = false;
    KINDRED_RETURN_IF_ERROR(ForEachInstanceLocked(last, kSinceForever, cut, [&](const Instance&) {
      any = true;
      return false;
    }));
    if (!any) out.segments.pop_back();
  }
  next.effective_from = cut;
  out.segments.push_back(std::move(next));
  KINDRED_RETURN_IF_ERROR(ValidateRitualLocked(out));
  return out;
}

// ---- Expansion -------------------------------------------------------------------

Result<std::vector<Occurrence>> CalendarImpl::ExpandLocked(const Ritual& ritual,
                                                           const OccurrenceOverrides& overrides,
                                                           TimeWindow window,
                                                           const ExpandOptions& options) {
  std::vector<Occurrence> out;
  // Nothing happens outside the years Kindred handles; clamping also keeps
  // the arithmetic below far from overflow.
  window.from = std::max(window.from, CivilAsIfUtc({kMinYear - 1, 12, 30, 0, 0, 0}));
  window.to = std::min(window.to, CivilAsIfUtc({kMaxYear + 1, 1, 2, 0, 0, 0}));
  if (window.from >= window.to) return out;
  KINDRED_ASSIGN_OR_RETURN(std::vector<PreparedSegment> segments, PrepareLocked(ritual));
  auto in_window = [&](UnixSeconds t) { return t >= window.from && t < window.to; };
  bool too_many = false;
  auto add = [&](Occurrence o) {
    if (out.size() >= options.max_occurrences) {
      too_many = true;
      return false;
    }
    out.push_back(std::move(o));
    return true;
  };

  for (const PreparedSegment& seg : segments) {
    KINDRED_RETURN_IF_ERROR(
        ForEachInstanceLocked(seg, window.from, window.to, [&](const Instance& inst) {
          auto o = overrides.find(inst.key);
          const bool moved_nowhere = o != overrides.end() &&
                                     o->second.kind == OccurrenceOverride::Kind::kMoved &&
                                     o->second.moved_to == inst.key;
          if (o == overrides.end() || moved_nowhere) {
            return add(
                MakeOccurrenceLocked(ritual, seg, inst, OccurrenceStatus::kScheduled, inst.key));
          }
          if (o->second.kind == OccurrenceOverride::Kind::kSkipped) {
            if (!options.include_skipped) return true;
            return add(
                MakeOccurrenceLocked(ritual, seg, inst, OccurrenceStatus::kSkipped, inst.key));
          }
          if (!in_window(o->second.moved_to)) return true;  // moved out of the window
          return add(MakeOccurrenceLocked(ritual, seg, inst, OccurrenceStatus::kMoved,
                                          o->second.moved_to));
        }));
  }
  // Occurrences moved into the window from outside it.
  for (const auto& [key, o] : overrides) {
    if (too_many) break;
    if (o.kind != OccurrenceOverride::Kind::kMoved || in_window(key) || !in_window(o.moved_to)) {
      continue;
    }
    for (const PreparedSegment& seg : segments) {
      if (key < seg.from || key >= seg.to) continue;
      KINDRED_ASSIGN_OR_RETURN(std::optional<Instance> inst, InstanceAtLocked(seg, key));
      if (inst) add(MakeOccurrenceLocked(ritual, seg, *inst, OccurrenceStatus::kMoved, o.moved_to));
    }
  }
  if (too_many) {
    return Status::InvalidArgument("more than " + std::to_string(options.max_occurrences) +
                                   " occurrences in the window; ask for a shorter one");
  }
  std::sort(out.begin(), out.end(), OccurrenceBefore);
  return out;
}

Result<std::vector<Occurrence>> CalendarImpl::Expand(const Ritual& ritual,
                                                     const OccurrenceOverrides& overrides,
                                                     TimeWindow window,
                                                     const ExpandOptions& options) {
  std::lock_guard lock(mu_);
  return ExpandLocked(ritual, overrides, window, options);
}

Result<std::vector<Occurrence>> CalendarImpl::ExpandAll(std::span<const Ritual> rituals,
                                                        const OverridesByRitual& overrides,
                                                        TimeWindow window,
                                                        const ExpandOptions& options) {
  std::lock_guard lock(mu_);
  static const OccurrenceOverrides kNone;
  std::vector<Occurrence> out;
  for (const Ritual& ritual : rituals) {
    auto o = overrides.find(ritual.id);
    ExpandOptions left = options;
    left.max_occurrences = options.max_occurrences - out.size();
    auto one = ExpandLocked(ritual, o == overrides.end() ? kNone : o->second, window, left);
    if (!one.ok()) return one.status().WithContext("ritual " + ritual.id);
    out.insert(out.end(), std::make_move_iterator(one->begin()),
               std::make_move_iterator(one->end()));
  }
  std::sort(out.begin(), out.end(), OccurrenceBefore);
  return out;
}

Result<Occurrence> CalendarImpl::Nearest(const Ritual& ritual, const OccurrenceOverrides& overrides,
                                         UnixSeconds t) {
  if (t < CivilAsIfUtc({kMinYear, 1, 1, 0, 0, 0}) ||
      t > CivilAsIfUtc({kMaxYear, 12, 31, 23, 59, 59})) {
    return Status::InvalidArgument("time " + std::to_string(t) + " is outside the years " +
                                   std::to_string(kMinYear) + ".." + std::to_string(kMaxYear));
  }
  std::lock_guard lock(mu_);
  constexpr UnixSeconds kLimit = 100 * 366 * kDay;
  // Widen a window around t until it holds an occurrence. Anything outside
  // [t - reach, t + reach) is at least `reach` away, and of two at exactly
  // `reach` the earlier is inside, so the window's nearest is the nearest.
  for (UnixSeconds reach = 2 * kDay;; reach = std::min(2 * reach, kLimit)) {
    KINDRED_ASSIGN_OR_RETURN(std::vector<Occurrence> found,
                             ExpandLocked(ritual, overrides, TimeWindow{t - reach, t + reach}, {}));
    const Occurrence* best = nullptr;
    UnixSeconds best_distance = kForever;
    for (const Occurrence& o : found) {  // in start order, so ties keep the earlier
      const UnixSeconds d = o.start.utc > t ? o.start.utc - t : t - o.start.utc;
      if (d < best_distance) {
        best = &o;
        best_distance = d;
      }
    }
    if (best) return *best;
    if (reach == kLimit) break;
  }
  return Status::NotFound("ritual " + ritual.id + " has no occurrence within 100 years");
}

Result<std::vector<Occurrence>> CalendarImpl::FindAtInstantLocked(
    const Ritual& ritual, const OccurrenceOverrides& overrides, UnixSeconds at) {
  ExpandOptions options;
  options.include_skipped = true;
  // By actual start (scheduled, skipped, or moved to `at`).
  KINDRED_ASSIGN_OR_RETURN(std::vector<Occurrence> found,
                           ExpandLocked(ritual, overrides, TimeWindow{at, at + 1}, options));
  if (!found.empty()) return found;
  // By key, for an occurrence moved elsewhere.
  auto o = overrides.find(at);
  if (o != overrides.end() && o->second.kind == OccurrenceOverride::Kind::kMoved) {
    const UnixSeconds to = o->second.moved_to;
    KINDRED_ASSIGN_OR_RETURN(found,
                             ExpandLocked(ritual, overrides, TimeWindow{to, to + 1}, options));
    std::erase_if(found, [&](const Occurrence& occ) { return occ.key != at; });
  }
  return found;
}

Result<Occurrence> CalendarImpl::FindOccurrence(const Ritual& ritual,
                                                const OccurrenceOverrides& overrides,
                                                const DateTimeArg& at) {
  if (!IsValidCivilTime(at.local)) {
    return Status::InvalidArgument("not a valid date and time: " + FormatCivilTime(at.local));
  }
  std::lock_guard lock(mu_);
  std::set<UnixSeconds> instants;
  if (at.utc_offset_seconds) {
    instants.insert(CivilAsIfUtc(at.local) - *at.utc_offset_seconds);
  } else {
    for (const RuleSegment& s : ritual.segments) {
      KINDRED_ASSIGN_OR_RETURN(icaltimezone * zone, ZoneLocked(s.zone));
      instants.insert(ResolveLocked(zone, at.local).time.utc);
    }
  }
  for (UnixSeconds instant : instants) {
    KINDRED_ASSIGN_OR_RETURN(std::vector<Occurrence> found,
                             FindAtInstantLocked(ritual, overrides, instant));
    if (!found.empty()) return found.front();
  }
  return Status::NotFound("ritual " + ritual.id + " has no occurrence starting at " +
                          HourMinute(at.local));
}

}  // namespace internal
}  // namespace kindred::calendar
