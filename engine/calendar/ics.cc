// iCalendar export and import. libical builds, serializes (escaping, line
// folding, CRLF) and parses the text and supplies VTIMEZONEs from tzdata;
// this file maps rituals to VEVENTs and back, and uses the line scan
// (ics_scan.h) to name lines in errors.
#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "engine/calendar/calendar_impl.h"
#include "engine/calendar/duration.h"
#include "engine/calendar/ics_scan.h"

namespace kindred::calendar::internal {
namespace {

constexpr char kProdId[] = "-//Kindred//Kindred 0.1//EN";
constexpr char kRitualProperty[] = "X-KINDRED-RITUAL";
constexpr char kSegmentFromProperty[] = "X-KINDRED-SEGMENT-FROM";
constexpr UnixSeconds kForever = std::numeric_limits<UnixSeconds>::max();

// "YYYYMMDDTHHMMSSZ"
std::string UtcStamp(UnixSeconds t) {
  const CivilTime c = CivilFromSecondsAsIfUtc(t);
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", c.year, c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

icaltimetype IcalUtc(UnixSeconds t) {
  return icaltime_from_timet_with_zone(static_cast<time_t>(t), 0, icaltimezone_get_utc_timezone());
}

bool IsUtcZone(icaltimezone* zone) { return zone == icaltimezone_get_utc_timezone(); }

void AddX(icalcomponent* c, const char* name, const std::string& value) {
  icalproperty* p = icalproperty_new_x(value.c_str());
  icalproperty_set_x_name(p, name);
  icalcomponent_add_property(c, p);
}

// A DTSTART/EXDATE/RECURRENCE-ID for a wall-clock time in `zone`: with
// ;TZID=, or in UTC ("Z") for the UTC zone.
icalproperty* LocalTimeProperty(icalproperty* (*make)(icaltimetype), const CivilTime& local,
                                icaltimezone* zone, const std::string& zone_name) {
  icaltimetype t = ToIcalFloating(local);
  if (IsUtcZone(zone)) {
    t.zone = icaltimezone_get_utc_timezone();
    return make(t);
  }
  icalproperty* p = make(t);
  icalproperty_add_parameter(p, icalparameter_new_tzid(zone_name.c_str()));
  return p;
}

// An exact DURATION (hours, minutes, seconds; never nominal days, which
// stretch over DST changes).
icaldurationtype ExactDuration(std::chrono::seconds d) {
  icaldurationtype out = icaldurationtype_null_duration();
  const int64_t s = d.count();
  out.hours = static_cast<unsigned int>(s / 3600);
  out.minutes = static_cast<unsigned int>(s / 60 % 60);
  out.seconds = static_cast<unsigned int>(s % 60);
  return out;
}

// The first X- property called `name`, or nullptr.
icalproperty* FindX(icalcomponent* c, const char* name) {
  for (icalproperty* p = icalcomponent_get_first_property(c, ICAL_X_PROPERTY); p;
       p = icalcomponent_get_next_property(c, ICAL_X_PROPERTY)) {
    const char* x = icalproperty_get_x_name(p);
    if (x && std::string_view(x) == name) return p;
  }
  return nullptr;
}

// The date or date-time value of a DTSTART, DTEND, EXDATE or RECURRENCE-ID;
// its zone is UTC for a "Z" time and unset otherwise.
icaltimetype TimeOf(icalproperty* p) {
  return icalvalue_get_datetimedate(icalproperty_get_value(p));
}

// The X-LIC-ERROR libical left in place of a property it could not read, as
// (property name, message); the name is empty if the message names none.
std::pair<std::string, std::string> ReadLicError(icalproperty* p) {
  const char* text = icalproperty_get_xlicerror(p);
  std::string msg = text ? text : "unreadable property";
  std::string name;
  const size_t in = msg.find(" in ");
  const size_t prop = msg.find(" property", in == std::string::npos ? 0 : in);
  if (in != std::string::npos && prop != std::string::npos && prop > in + 4) {
    name = msg.substr(in + 4, prop - in - 4);
  }
  return {name, msg};
}

}  // namespace

// One VEVENT of an imported file, with what the line scan knows about it.
struct IcsEvent {
  icalcomponent* event = nullptr;
  const ScannedComponent* scanned = nullptr;
  const std::map<std::string, std::string>* locations = nullptr;  // of its VCALENDAR
};

// What import collects from one recurring master VEVENT.
struct ImportedSeries {
  std::string ritual_id;  // X-KINDRED-RITUAL, else UID
  std::string uid;
  std::string title;
  std::string description;
  Visibility visibility = Visibility::kShared;
  bool from_kindred = false;
  RuleSegment segment;
  int line = 0;
  // EXDATEs as wall-clock time and zone; hour -1 marks a whole date.
  std::vector<std::pair<CivilTime, std::string>> exdates;
};

std::optional<std::string> CalendarImpl::ZoneForTzidLocked(
    const std::string& tzid, const std::map<std::string, std::string>& locations) {
  if (ZoneLocked(tzid).ok()) return tzid;
  auto loc = locations.find(tzid);
  if (loc != locations.end() && ZoneLocked(loc->second).ok()) return loc->second;
  for (size_t slash = tzid.find('/'); slash != std::string::npos;
       slash = tzid.find('/', slash + 1)) {
    const std::string tail = tzid.substr(slash + 1);
    if (!tail.empty() && ZoneLocked(tail).ok()) return tail;
  }
  return std::nullopt;
}

Result<std::string> CalendarImpl::PropertyZoneLocked(
    icalproperty* p, const char* name, const std::string& floating_zone,
    const std::map<std::string, std::string>& locations) {
  if (icalparameter* tzid = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER)) {
    const std::string id = icalparameter_get_tzid(tzid);
    auto zone = ZoneForTzidLocked(id, locations);
    if (!zone) {
      return Status::InvalidArgument(std::string(name) + ": TZID '" + id +
                                     "' is not an IANA time zone name Kindred knows");
    }
    return *zone;
  }
  if (icaltime_is_utc(TimeOf(p))) return std::string("UTC");
  if (floating_zone.empty()) {
    return Status::InvalidArgument(std::string(name) +
                                   ": the time has no zone (floating) and no zone to read it in "
                                   "was given");
  }
  return floating_zone;
}

// ---- Export ------------------------------------------------------------------------

Result<std::string> CalendarImpl::ExportIcs(std::span<const Ritual> rituals,
                                            const OverridesByRitual& overrides,
                                            const ExportOptions& options) {
  std::lock_guard lock(mu_);
  static const OccurrenceOverrides kNone;
  IcalComponentPtr calendar(icalcomponent_new(ICAL_VCALENDAR_COMPONENT));
  icalcomponent_add_property(calendar.get(), icalproperty_new_prodid(kProdId));
  icalcomponent_add_property(calendar.get(), icalproperty_new_version("2.0"));
  icalcomponent_add_property(calendar.get(), icalproperty_new_calscale("GREGORIAN"));
  icalcomponent_add_property(calendar.get(), icalproperty_new_method(ICAL_METHOD_PUBLISH));

  std::map<std::string, std::pair<icaltimezone*, UnixSeconds>> zones;  // name -> zone, earliest use
  std::vector<IcalComponentPtr> events;
  const icaltimetype dtstamp = IcalUtc(options.dtstamp);

  for (const Ritual& ritual : rituals) {
    auto valid = ValidateRitualLocked(ritual);
    if (!valid.ok()) return valid.WithContext("ritual " + ritual.id);
    KINDRED_ASSIGN_OR_RETURN(std::vector<PreparedSegment> segments, PrepareLocked(ritual));
    auto found = overrides.find(ritual.id);
    const OccurrenceOverrides& ritual_overrides = found == overrides.end() ? kNone : found->second;

    for (const PreparedSegment& seg : segments) {
      const RuleSegment& s = *seg.segment;
      // The first and last instances inside the segment's range, and the
      // series' very first instance.
      std::optional<Instance> first, last, series_first;
      PreparedSegment whole = seg;
      whole.from = kSinceForever;
      KINDRED_RETURN_IF_ERROR(
          ForEachInstanceLocked(whole, kSinceForever, kForever, [&](const Instance& i) {
            series_first = i;
            return false;
          }));
      const bool bounded = seg.to != kForever || seg.rule.rule.count || seg.rule.rule.until;
      KINDRED_RETURN_IF_ERROR(
          ForEachInstanceLocked(seg, kSinceForever, kForever, [&](const Instance& i) {
            if (!first) first = i;
            last = i;
            return bounded;  // unbounded: first only
          }));
      if (!first) continue;  // nothing to show
      const UnixSeconds last_key = bounded ? last->key : kForever;
      // Keep the rule as written when DTSTART is the series' own first
      // instance and nothing cuts it short; otherwise state the bound as a
      // UTC UNTIL at the last instance, which every reader reads the same.
      const bool as_written =
          series_first && series_first->key == first->key && seg.to == kForever &&
          (!seg.rule.rule.until || seg.rule.rule.until->kind == RuleUntil::Kind::kUtc);
      std::string rrule = seg.rule.rule.text;
      if (!as_written) {
        rrule = JoinPartsWithoutBound(seg.rule);
        if (bounded) rrule += ";UNTIL=" + UtcStamp(last->key);
      }
      const std::string uid =
          seg.index == 0 ? ritual.id : ritual.id + "-from-" + UtcStamp(seg.from);

      auto add_common = [&](icalcomponent* ev) {
        icalcomponent_add_property(ev, icalproperty_new_uid(uid.c_str()));
        icalcomponent_add_property(ev, icalproperty_new_dtstamp(dtstamp));
        icalcomponent_add_property(ev, icalproperty_new_summary(ritual.title.c_str()));
        if (!ritual.description.empty()) {
          icalcomponent_add_property(ev, icalproperty_new_description(ritual.description.c_str()));
        }
        if (ritual.visibility == Visibility::kPrivate) {
          icalcomponent_add_property(ev, icalproperty_new_class(ICAL_CLASS_PRIVATE));
        }
        icalcomponent_add_property(ev, icalproperty_new_duration(ExactDuration(s.duration)));
        AddX(ev, kRitualProperty, ritual.id);
      };

      IcalComponentPtr master(icalcomponent_new(ICAL_VEVENT_COMPONENT));
      add_common(master.get());
      icalcomponent_add_property(
          master.get(),
          LocalTimeProperty(icalproperty_new_dtstart, first->nominal_local, seg.zone, s.zone));
      icalcomponent_add_property(
          master.get(), icalproperty_new_rrule(icalrecurrencetype_from_string(rrule.c_str())));
      if (seg.index > 0) AddX(master.get(), kSegmentFromProperty, UtcStamp(seg.from));

      std::vector<IcalComponentPtr> moved_events;
      for (const auto& [key, o] : ritual_overrides) {
        if (key < first->key || key > last_key || key < seg.from || key >= seg.to) continue;
        KINDRED_ASSIGN_OR_RETURN(std::optional<Instance> inst, InstanceAtLocked(seg, key));
        if (!inst) continue;  // not an occurrence (any more): nothing to say
        if (o.kind == OccurrenceOverride::Kind::kMoved && o.moved_to == key) continue;
        if (o.kind == OccurrenceOverride::Kind::kSkipped) {
          icalcomponent_add_property(
              master.get(),
              LocalTimeProperty(icalproperty_new_exdate, inst->nominal_local, seg.zone, s.zone));
          continue;
        }
        IcalComponentPtr ev(icalcomponent_new(ICAL_VEVENT_COMPONENT));
        add_common(ev.get());
        icalcomponent_add_property(
            ev.get(), LocalTimeProperty(icalproperty_new_recurrenceid, inst->nominal_local,
                                        seg.zone, s.zone));
        // The new start as wall-clock time, unless that would be read as a
        // different instant (the second pass through a repeated hour).
        const ZonedTime to = ToZoneLocked(seg.zone, o.moved_to);
        if (ResolveLocked(seg.zone, to.local).time.utc == o.moved_to) {
          icalcomponent_add_property(
              ev.get(), LocalTimeProperty(icalproperty_new_dtstart, to.local, seg.zone, s.zone));
        } else {
          icalcomponent_add_property(ev.get(), icalproperty_new_dtstart(IcalUtc(o.moved_to)));
        }
        moved_events.push_back(std::move(ev));
      }
      events.push_back(std::move(master));
      for (auto& ev : moved_events) events.push_back(std::move(ev));

      if (!IsUtcZone(seg.zone)) {
        auto [it, inserted] = zones.try_emplace(s.zone, seg.zone, first->key);
        if (!inserted) it->second.second = std::min(it->second.second, first->key);
      }
    }
  }

  for (const auto& [name, zone_and_start] : zones) {
    icalcomponent* builtin = icaltimezone_get_component(zone_and_start.first);
    if (builtin == nullptr) return Status::Internal("libical has no VTIMEZONE for " + name);
    IcalComponentPtr vtz(icalcomponent_new_clone(builtin));
    // Only the rules from a year before the first use onwards: smaller files,
    // and what Outlook-style readers expect.
    icaltimezone_truncate_vtimezone(vtz.get(), IcalUtc(zone_and_start.second - 366 * 86400),
                                    icaltime_null_time(), 1);
    // libical names its zones "/freeassociation.sourceforge.net/Europe/Berlin";
    // other applications recognise the plain IANA name.
    while (icalproperty* p = icalcomponent_get_first_property(vtz.get(), ICAL_TZID_PROPERTY)) {
      icalcomponent_remove_property(vtz.get(), p);
      icalproperty_free(p);
    }
    icalcomponent_add_property(vtz.get(), icalproperty_new_tzid(name.c_str()));
    icalcomponent_add_component(calendar.get(), vtz.release());
  }
  for (auto& ev : events) icalcomponent_add_component(calendar.get(), ev.release());
  return TakeIcalString(icalcomponent_as_ical_string_r(calendar.get()));
}

// ---- Import ------------------------------------------------------------------------

bool CalendarImpl::ReadSeriesLocked(const IcsEvent& e, const ImportOptions& options,
                                    ImportedSeries* out, std::vector<ImportProblem>* problems) {
  icalcomponent* ev = e.event;
  const ScannedComponent& sev = *e.scanned;
  const char* uid_c = icalcomponent_get_uid(ev);
  const char* summary_c = icalcomponent_get_summary(ev);
  const std::string uid = uid_c ? uid_c : "";
  const std::string summary = summary_c ? summary_c : "";
  auto line_of = [&](std::string_view property) {
    const ScannedProperty* p = sev.Find(property);
    return p ? p->line : sev.begin_line;
  };
  auto problem = [&](int line, std::string message) {
    problems->push_back({line, uid, summary, std::move(message)});
    return false;
  };
  auto zone_of = [&](icalproperty* p, const char* name, const std::string& fallback) {
    return PropertyZoneLocked(p, name, fallback, *e.locations);
  };

  size_t rrules = 0;
  int second_rrule_line = 0;
  for (const ScannedProperty& p : sev.properties) {
    if (p.name == "RRULE" && ++rrules == 2) second_rrule_line = p.line;
  }
  if (rrules == 0) {
    return problem(sev.begin_line,
                   "not a recurring event (no RRULE); only recurring events become rituals");
  }
  if (rrules > 1) {
    return problem(second_rrule_line, "RRULE: more than one RRULE in an event is not supported");
  }
  if (sev.Find("RDATE")) return problem(line_of("RDATE"), "RDATE (extra dates) is not supported");
  if (sev.Find("EXRULE")) return problem(line_of("EXRULE"), "EXRULE is not supported");
  if (icalcomponent_get_status(ev) == ICAL_STATUS_CANCELLED) {
    return problem(line_of("STATUS"), "STATUS: the event is cancelled; not imported");
  }
  icalproperty* dtstart = icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY);
  if (!dtstart) return problem(sev.begin_line, "the event has no DTSTART");
  const icaltimetype start = icalproperty_get_dtstart(dtstart);
  if (start.is_date) {
    return problem(line_of("DTSTART"),
                   "DTSTART: all-day events are not supported; a ritual has a time of day");
  }
  auto zone = zone_of(dtstart, "DTSTART", options.floating_zone);
  if (!zone.ok()) return problem(line_of("DTSTART"), zone.status().message());

  ImportedSeries& s = *out;
  s.uid = uid;
  s.line = sev.begin_line;
  s.title = summary.empty() ? "(no title)" : summary;
  if (const char* d = icalcomponent_get_description(ev)) s.description = d;
  if (icalproperty* c = icalcomponent_get_first_property(ev, ICAL_CLASS_PROPERTY)) {
    const icalproperty_class k = icalproperty_get_class(c);
    if (k == ICAL_CLASS_PRIVATE || k == ICAL_CLASS_CONFIDENTIAL) {
      s.visibility = Visibility::kPrivate;
    }
  }
  s.segment.start = FromIcal(start);
  s.segment.zone = *zone;
  const UnixSeconds start_utc = ResolveLocked(*ZoneLocked(*zone), s.segment.start).time.utc;

  // DURATION, or DTEND - DTSTART.
  std::optional<int64_t> seconds;
  if (icalproperty* dur = icalcomponent_get_first_property(ev, ICAL_DURATION_PROPERTY)) {
    seconds = icaldurationtype_as_int(icalproperty_get_duration(dur));
  } else if (icalproperty* dtend = icalcomponent_get_first_property(ev, ICAL_DTEND_PROPERTY)) {
    auto end_zone = zone_of(dtend, "DTEND", *zone);
    if (!end_zone.ok()) return problem(line_of("DTEND"), end_zone.status().message());
    const icaltimetype end = icalproperty_get_dtend(dtend);
    seconds = ResolveLocked(*ZoneLocked(*end_zone), FromIcal(end)).time.utc - start_utc;
  }
  if (!seconds) {
    return problem(sev.begin_line,
                   "the event has neither DTEND nor DURATION; zero-length events are not "
                   "supported");
  }
  if (*seconds <= 0 || *seconds > kMaxRitualDuration.count()) {
    return problem(line_of(sev.Find("DURATION") ? "DURATION" : "DTEND"),
                   "the event lasts " + std::to_string(*seconds) +
                       " seconds; a ritual lasts more than zero and at most 7 days");
  }
  s.segment.duration = std::chrono::seconds(*seconds);

  // The RRULE as written: libical's reading may have dropped or changed parts.
  auto rule = ParseRuleLocked(sev.Find("RRULE")->value);
  if (!rule.ok()) return problem(line_of("RRULE"), rule.status().message());
  s.segment.rrule = rule->rule.text;

  s.ritual_id = uid;
  if (icalproperty* x = FindX(ev, kRitualProperty)) {
    s.ritual_id = icalproperty_get_x(x);
    s.from_kindred = true;
  }
  if (s.ritual_id.empty()) return problem(sev.begin_line, "the event has no UID");
  if (icalproperty* x = FindX(ev, kSegmentFromProperty)) {
    const icaltimetype from = icaltime_from_string(icalproperty_get_x(x));
    if (icaltime_is_null_time(from) || !icaltime_is_utc(from)) {
      return problem(line_of(kSegmentFromProperty),
                     std::string(kSegmentFromProperty) + ": not a UTC date-time");
    }
    s.segment.effective_from = CivilAsIfUtc(FromIcal(from));
  }
  for (icalproperty* ex = icalcomponent_get_first_property(ev, ICAL_EXDATE_PROPERTY); ex;
       ex = icalcomponent_get_next_property(ev, ICAL_EXDATE_PROPERTY)) {
    const icaltimetype t = TimeOf(ex);
    if (t.is_date) {
      s.exdates.push_back({CivilTime{t.year, t.month, t.day, -1, 0, 0}, *zone});
      continue;
    }
    auto ez = zone_of(ex, "EXDATE", *zone);
    if (!ez.ok()) return problem(line_of("EXDATE"), ez.status().message());
    s.exdates.push_back({FromIcal(t), *ez});
  }
  return true;
}

Status CalendarImpl::AddImportedSkipsLocked(const Ritual& ritual,
                                            const std::vector<const ImportedSeries*>& group,
                                            OccurrenceOverrides* skips) {
  KINDRED_ASSIGN_OR_RETURN(std::vector<PreparedSegment> prepared, PrepareLocked(ritual));
  for (const ImportedSeries* s : group) {
    for (const auto& [when, zone_name] : s->exdates) {
      KINDRED_ASSIGN_OR_RETURN(icaltimezone * z, ZoneLocked(zone_name));
      // The instants the EXDATE names: one time, or a whole local date.
      const bool whole_day = when.hour < 0;
      const CivilTime day{when.year, when.month, when.day, 0, 0, 0};
      if (!IsValidCivilTime(whole_day ? day : when)) continue;
      const UnixSeconds lo = ResolveLocked(z, whole_day ? day : when).time.utc;
      const UnixSeconds hi = whole_day ? ResolveLocked(z, AddDays(day, 1)).time.utc : lo + 1;
      for (const PreparedSegment& seg : prepared) {
        KINDRED_RETURN_IF_ERROR(ForEachInstanceLocked(seg, lo, hi, [&](const Instance& i) {
          (*skips)[i.key] = OccurrenceOverride{};
          return true;
        }));
      }
    }
  }
  return Status::Ok();
}

void CalendarImpl::ReadExceptionLocked(const IcsEvent& e,
                                       const std::map<std::string, const Ritual*>& ritual_of_uid,
                                       ImportResult* result) {
  const ScannedComponent& sev = *e.scanned;
  const char* uid_c = icalcomponent_get_uid(e.event);
  const char* summary_c = icalcomponent_get_summary(e.event);
  const std::string uid = uid_c ? uid_c : "";
  auto problem = [&](std::string_view property, std::string message) {
    const ScannedProperty* p = sev.Find(property);
    result->problems.push_back(
        {p ? p->line : sev.begin_line, uid, summary_c ? summary_c : "", std::move(message)});
  };
  auto found = ritual_of_uid.find(uid);
  if (found == ritual_of_uid.end()) {
    return problem("RECURRENCE-ID", "RECURRENCE-ID: changes one occurrence of UID '" + uid +
                                        "', whose recurring event was not imported");
  }
  const Ritual& ritual = *found->second;
  icalproperty* rid = icalcomponent_get_first_property(e.event, ICAL_RECURRENCEID_PROPERTY);
  if (icalproperty_get_first_parameter(rid, ICAL_RANGE_PARAMETER)) {
    return problem("RECURRENCE-ID", "RECURRENCE-ID: RANGE=THISANDFUTURE is not supported");
  }
  // Floating times are read in the ritual's zone.
  const std::string& ritual_zone = ritual.segments.front().zone;
  auto instant_of = [&](icalproperty* p, const char* name) -> Result<UnixSeconds> {
    const icaltimetype t = TimeOf(p);
    if (t.is_date) return Status::InvalidArgument(std::string(name) + ": a date without a time");
    KINDRED_ASSIGN_OR_RETURN(std::string zone_name,
                             PropertyZoneLocked(p, name, ritual_zone, *e.locations));
    KINDRED_ASSIGN_OR_RETURN(icaltimezone * z, ZoneLocked(zone_name));
    return ResolveLocked(z, FromIcal(t)).time.utc;
  };
  auto key = instant_of(rid, "RECURRENCE-ID");
  if (!key.ok()) return problem("RECURRENCE-ID", key.status().message());
  auto occurrence = FindAtInstantLocked(ritual, {}, *key);
  if (!occurrence.ok() || occurrence->empty()) {
    return problem("RECURRENCE-ID",
                   "RECURRENCE-ID: the series has no occurrence at that time; ignored");
  }
  if (icalcomponent_get_status(e.event) == ICAL_STATUS_CANCELLED) {
    result->overrides[ritual.id][*key] = OccurrenceOverride{};
    return;
  }
  icalproperty* dtstart = icalcomponent_get_first_property(e.event, ICAL_DTSTART_PROPERTY);
  if (!dtstart) return problem("RECURRENCE-ID", "the changed occurrence has no DTSTART");
  auto moved_to = instant_of(dtstart, "DTSTART");
  if (!moved_to.ok()) return problem("DTSTART", moved_to.status().message());
  if (*moved_to == *key) return;  // same time; other changes are not kept
  result->overrides[ritual.id][*key] =
      OccurrenceOverride{OccurrenceOverride::Kind::kMoved, *moved_to, ""};
}

Result<ImportResult> CalendarImpl::ImportIcs(std::string_view ics, const ImportOptions& options) {
  if (ics.size() > options.max_bytes) {
    return Status::InvalidArgument("iCalendar input is " + std::to_string(ics.size()) +
                                   " bytes; the limit is " + std::to_string(options.max_bytes) +
                                   " bytes");
  }
  ScanLimits limits;
  limits.max_bytes = options.max_bytes;
  KINDRED_ASSIGN_OR_RETURN(std::vector<ScannedComponent> scanned, ScanIcs(ics, limits));

  std::lock_guard lock(mu_);
  const std::string text(ics);
  IcalComponentPtr root(icalparser_parse_string(text.c_str()));
  if (!root) return Status::InvalidArgument("libical could not parse the iCalendar input");
  std::vector<icalcomponent*> calendars;
  if (icalcomponent_isa(root.get()) == ICAL_VCALENDAR_COMPONENT) {
    calendars.push_back(root.get());
  } else {  // several VCALENDARs come wrapped in an XROOT
    for (icalcomponent* c = icalcomponent_get_first_component(root.get(), ICAL_VCALENDAR_COMPONENT);
         c; c = icalcomponent_get_next_component(root.get(), ICAL_VCALENDAR_COMPONENT)) {
      calendars.push_back(c);
    }
  }
  if (calendars.size() != scanned.size()) {
    return Status::Internal("libical and the line scan disagree on the number of VCALENDARs");
  }

  // Pair libical's VEVENTs with the scan's (same order), sort out those
  // libical could not read, and read the masters.
  ImportResult result;
  std::vector<std::map<std::string, std::string>> locations(calendars.size());
  std::vector<ImportedSeries> series;
  std::vector<IcsEvent> exceptions;
  for (size_t ci = 0; ci < calendars.size(); ++ci) {
    icalcomponent* cal = calendars[ci];
    for (icalcomponent* z = icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT); z;
         z = icalcomponent_get_next_component(cal, ICAL_VTIMEZONE_COMPONENT)) {
      icalproperty* tzid = icalcomponent_get_first_property(z, ICAL_TZID_PROPERTY);
      const std::string location = TakeIcalString(icaltimezone_get_location_from_vtimezone(z));
      if (tzid && !location.empty()) locations[ci][icalproperty_get_tzid(tzid)] = location;
    }
    std::vector<const ScannedComponent*> scanned_events;
    for (const ScannedComponent& c : scanned[ci].children) {
      if (c.name == "VEVENT") scanned_events.push_back(&c);
    }
    size_t index = 0;
    for (icalcomponent* ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); ev;
         ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT), ++index) {
      if (index >= scanned_events.size()) {
        return Status::Internal("libical and the line scan disagree on the number of VEVENTs");
      }
      const IcsEvent event{ev, scanned_events[index], &locations[ci]};
      if (icalproperty* err = icalcomponent_get_first_property(ev, ICAL_XLICERROR_PROPERTY)) {
        auto [name, msg] = ReadLicError(err);
        const ScannedProperty* where = name.empty() ? nullptr : event.scanned->Find(name);
        if (!name.empty()) msg = name + ": " + msg;
        if (name == "RRULE" && where) {
          // Kindred's own reading says more precisely what is wrong.
          auto ours = ParseRuleLocked(where->value);
          if (!ours.ok()) msg = ours.status().message();
        }
        const char* uid = icalcomponent_get_uid(ev);
        const char* summary = icalcomponent_get_summary(ev);
        result.problems.push_back({where ? where->line : event.scanned->begin_line, uid ? uid : "",
                                   summary ? summary : "", msg});
        continue;
      }
      if (event.scanned->Find("RECURRENCE-ID")) {
        exceptions.push_back(event);
        continue;
      }
      ImportedSeries s;
      if (ReadSeriesLocked(event, options, &s, &result.problems)) series.push_back(std::move(s));
    }
    if (index != scanned_events.size()) {
      return Status::Internal("libical and the line scan disagree on the number of VEVENTs");
    }
  }

  // Put the series together into rituals: a Kindred export's segments by
  // X-KINDRED-RITUAL, anything else one series per UID.
  std::map<std::string, std::vector<const ImportedSeries*>> by_ritual;
  std::vector<std::string> order;
  for (const ImportedSeries& s : series) {
    auto& group = by_ritual[s.ritual_id];
    if (!group.empty() && !(s.from_kindred && group.front()->from_kindred)) {
      result.problems.push_back({s.line, s.uid, s.title,
                                 "UID is shared with the recurring event at line " +
                                     std::to_string(group.front()->line) + "; not imported"});
      continue;
    }
    if (group.empty()) order.push_back(s.ritual_id);
    group.push_back(&s);
  }
  result.rituals.reserve(order.size());  // keeps the pointers below valid
  std::map<std::string, const Ritual*> ritual_of_uid;
  for (const std::string& id : order) {
    auto& group = by_ritual[id];
    std::stable_sort(group.begin(), group.end(),
                     [](const ImportedSeries* a, const ImportedSeries* b) {
                       return a->segment.effective_from < b->segment.effective_from;
                     });
    Ritual r;
    r.id = id;
    r.title = group.front()->title;
    r.description = group.front()->description;
    r.visibility = group.front()->visibility;
    for (const ImportedSeries* s : group) r.segments.push_back(s->segment);
    r.segments.front().effective_from = kSinceForever;
    const Status valid = ValidateRitualLocked(r);
    if (!valid.ok()) {
      result.problems.push_back(
          {group.front()->line, group.front()->uid, r.title, valid.message()});
      continue;
    }
    OccurrenceOverrides skips;
    KINDRED_RETURN_IF_ERROR(AddImportedSkipsLocked(r, group, &skips));
    if (!skips.empty()) result.overrides[id] = std::move(skips);
    result.rituals.push_back(std::move(r));
    for (const ImportedSeries* s : group) ritual_of_uid[s->uid] = &result.rituals.back();
  }

  // RECURRENCE-ID events: moves (or, cancelled, skips) of imported rituals.
  for (const IcsEvent& e : exceptions) ReadExceptionLocked(e, ritual_of_uid, &result);
  return result;
}

}  // namespace kindred::calendar::internal
