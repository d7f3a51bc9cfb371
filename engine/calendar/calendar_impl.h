// Internal to kindred::calendar: the libical-backed Calendar. calendar.cc
// holds zones, validation and expansion; ics.cc holds export and import.
#ifndef KINDRED_ENGINE_CALENDAR_CALENDAR_IMPL_H_
#define KINDRED_ENGINE_CALENDAR_CALENDAR_IMPL_H_

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "engine/calendar/calendar.h"
#include "engine/calendar/ics_scan.h"
#include "engine/calendar/libical_util.h"
#include "engine/calendar/rrule_syntax.h"

namespace kindred::calendar::internal {

struct IcsEvent;        // ics.cc
struct ImportedSeries;  // ics.cc

// One rule segment, checked and ready to expand.
struct PreparedSegment {
  const RuleSegment* segment = nullptr;
  size_t index = 0;
  // Owned by libical's built-in zone cache, which lives as long as the process.
  icaltimezone* zone = nullptr;
  RuleParts rule;
  // The rule as libical reads it, without UNTIL: the iterator runs on
  // floating wall-clock times and UNTIL is applied to the resolved instants.
  icalrecurrencetype ical_rule{};
  UnixSeconds from = kSinceForever;  // keys in [from, to) belong to this segment
  UnixSeconds to = 0;
};

// One instance of a segment's series.
struct Instance {
  CivilTime nominal_local;  // what the rule produced
  UnixSeconds key = 0;      // that wall-clock time resolved in the zone
  ZonedTime start;          // the key seen in the zone
};

class CalendarImpl final : public Calendar {
 public:
  CalendarImpl() = default;

  Status CheckZone(std::string_view zone) override;
  Result<RecurrenceRule> ParseRule(std::string_view rrule) override;
  Result<ResolvedTime> ResolveLocal(const CivilTime& local, std::string_view zone) override;
  Result<ZonedTime> ToZone(UnixSeconds utc, std::string_view zone) override;
  Result<TimeWindow> LocalDays(const CivilTime& first_day, int days,
                               std::string_view zone) override;
  Status ValidateRitual(const Ritual& ritual) override;
  Result<Ritual> ChangeRule(const Ritual& ritual, UnixSeconds from, RuleSegment next) override;
  Result<std::vector<Occurrence>> Expand(const Ritual& ritual, const OccurrenceOverrides& overrides,
                                         TimeWindow window, const ExpandOptions& options) override;
  Result<std::vector<Occurrence>> ExpandAll(std::span<const Ritual> rituals,
                                            const OverridesByRitual& overrides, TimeWindow window,
                                            const ExpandOptions& options) override;
  Result<Occurrence> Nearest(const Ritual& ritual, const OccurrenceOverrides& overrides,
                             UnixSeconds t) override;
  Result<Occurrence> FindOccurrence(const Ritual& ritual, const OccurrenceOverrides& overrides,
                                    const DateTimeArg& at) override;
  Result<std::string> ExportIcs(std::span<const Ritual> rituals, const OverridesByRitual& overrides,
                                const ExportOptions& options) override;
  Result<ImportResult> ImportIcs(std::string_view ics, const ImportOptions& options) override;

 private:
  // Every method below REQUIRES mu_ held: they call libical.
  Result<icaltimezone*> ZoneLocked(std::string_view name);
  int OffsetAtLocked(icaltimezone* zone, UnixSeconds utc);
  ResolvedTime ResolveLocked(icaltimezone* zone, const CivilTime& local);
  ZonedTime ToZoneLocked(icaltimezone* zone, UnixSeconds utc);
  Result<RuleParts> ParseRuleLocked(std::string_view rrule);
  Result<std::vector<PreparedSegment>> PrepareLocked(const Ritual& ritual);
  // Calls `fn` for each instance of `seg` whose key lies in [lo, hi) and in
  // the segment's own range, in order, until `fn` returns false.
  Status ForEachInstanceLocked(const PreparedSegment& seg, UnixSeconds lo, UnixSeconds hi,
                               const std::function<bool(const Instance&)>& fn);
  // The instance of `seg` with this key, if there is one.
  Result<std::optional<Instance>> InstanceAtLocked(const PreparedSegment& seg, UnixSeconds key);
  Occurrence MakeOccurrenceLocked(const Ritual& ritual, const PreparedSegment& seg,
                                  const Instance& inst, OccurrenceStatus status,
                                  UnixSeconds actual_start);
  Status ValidateRitualLocked(const Ritual& ritual);
  Result<std::vector<Occurrence>> ExpandLocked(const Ritual& ritual,
                                               const OccurrenceOverrides& overrides,
                                               TimeWindow window, const ExpandOptions& options);
  // The IANA zone an iCalendar TZID names: itself, the X-LIC-LOCATION of the
  // file's VTIMEZONE with that TZID (from `locations`), or an IANA name at
  // its end ("/mozilla.org/20050126_1/Europe/Berlin").
  std::optional<std::string> ZoneForTzidLocked(const std::string& tzid,
                                               const std::map<std::string, std::string>& locations);
  // The zone of a DTSTART/DTEND/EXDATE/RECURRENCE-ID property `p` called
  // `name`: its TZID's, "UTC" for a "Z" time, else `floating_zone` (an error
  // naming the property if that is empty).
  Result<std::string> PropertyZoneLocked(icalproperty* p, const char* name,
                                         const std::string& floating_zone,
                                         const std::map<std::string, std::string>& locations);
  // Import steps. Reads one recurring master VEVENT into `out`; false (with
  // the reason added to `problems`) if it cannot be a ritual.
  bool ReadSeriesLocked(const IcsEvent& event, const ImportOptions& options, ImportedSeries* out,
                        std::vector<ImportProblem>* problems);
  // Adds the instances named by the EXDATEs of `group` to `skips`.
  Status AddImportedSkipsLocked(const Ritual& ritual,
                                const std::vector<const ImportedSeries*>& group,
                                OccurrenceOverrides* skips);
  // Reads a VEVENT with RECURRENCE-ID into result->overrides (or a problem).
  void ReadExceptionLocked(const IcsEvent& event,
                           const std::map<std::string, const Ritual*>& ritual_of_uid,
                           ImportResult* result);
  Result<std::vector<Occurrence>> FindAtInstantLocked(const Ritual& ritual,
                                                      const OccurrenceOverrides& overrides,
                                                      UnixSeconds at);

  // Serializes every libical call made through this object.
  std::mutex mu_;
};

}  // namespace kindred::calendar::internal

#endif  // KINDRED_ENGINE_CALENDAR_CALENDAR_IMPL_H_
