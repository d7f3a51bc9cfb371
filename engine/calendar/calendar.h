// The ritual calendar: validation, time zones, expansion of rituals into
// occurrences, and iCalendar (RFC 5545) export and import. Recurrence
// expansion, time-zone data and .ics parsing and writing are libical's; this
// component adds the model, the checks and the mapping. docs/calendar.md
// explains the semantics.
//
// Threading: libical keeps process-wide state (its cache of built-in time
// zones, its error number, its ring buffer of temporary strings) that is not
// safe to use from two threads at once. Every libical call Kindred makes goes
// through a Calendar, and a Calendar serializes its calls with a mutex it
// owns, so one Calendar may be shared by any number of threads. Make one per
// process (the engine owns it) and route all calendar work through it: two
// Calendar objects used from two threads at the same time are not protected
// from each other, nor is other code that calls libical directly.
//
// Time-zone data is the system's (/usr/share/zoneinfo, Debian's tzdata), read
// by libical on first use of each zone and cached for the process lifetime.
#ifndef KINDRED_ENGINE_CALENDAR_CALENDAR_H_
#define KINDRED_ENGINE_CALENDAR_CALENDAR_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/calendar/civil_time.h"
#include "engine/calendar/ritual.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::calendar {

// How a wall-clock time maps to instants in a zone.
enum class LocalTimeKind {
  kUnique,     // exactly one instant
  kAmbiguous,  // twice (clocks went back); the earlier instant is used
  kSkipped,    // never (clocks jumped forward); the instant one gap later is used
};

// A wall-clock time resolved in a zone. For kAmbiguous, `time` is the first
// of the two instants (e.g. 02:30+02:00 rather than 02:30+01:00 in Berlin in
// October). For kSkipped, `time` reads the wall clock with the offset in
// force before the gap, as RFC 5545 does for recurrence instances, so
// 02:30 on a Berlin spring-forward day becomes 03:30+02:00.
struct ResolvedTime {
  ZonedTime time;
  LocalTimeKind kind = LocalTimeKind::kUnique;
};

struct ExpandOptions {
  // Also return skipped occurrences (with status kSkipped and their nominal
  // times); by default they are left out.
  bool include_skipped = false;
  // Expansion fails with InvalidArgument rather than return more than this.
  size_t max_occurrences = 100'000;
};

struct ExportOptions {
  // DTSTAMP of every VEVENT: when the file was made. Injected so exports are
  // reproducible; pass the clock's time.
  UnixSeconds dtstamp = 0;
};

struct ImportOptions {
  // Input larger than this is refused before any parsing.
  size_t max_bytes = 8 * 1024 * 1024;
  // Zone for "floating" DTSTARTs (no TZID, no Z), usually the machine's. If
  // empty, events with floating times are reported as problems.
  std::string floating_zone;
};

// One VEVENT that did not become a ritual, and why. Not an error: the rest of
// the file is still imported.
struct ImportProblem {
  int line = 0;         // line of the offending property, or of BEGIN:VEVENT
  std::string uid;      // the event's UID, if it has one
  std::string summary;  // the event's SUMMARY, if it has one
  std::string message;  // e.g. "RRULE FREQ=HOURLY is not supported: ..."
};

struct ImportResult {
  // One per recurring series; id is the UID (or the X-KINDRED-RITUAL of a
  // Kindred export, whose rule segments are put back together). The engine
  // may give them new ids.
  std::vector<Ritual> rituals;
  // EXDATEs as skips and RECURRENCE-ID overrides as moves (or, with
  // STATUS:CANCELLED, skips), keyed like the rituals. The engine turns them
  // into occurrence facts.
  OverridesByRitual overrides;
  std::vector<ImportProblem> problems;
};

// The gate to libical. All methods are thread-safe (see the file comment).
class Calendar {
 public:
  virtual ~Calendar() = default;

  // Makes a Calendar. FailedPrecondition if the system's time-zone data
  // cannot be read (install tzdata).
  static Result<std::unique_ptr<Calendar>> Create();

  // ---- Validation --------------------------------------------------------

  // OK if `zone` is a known IANA time zone name ("Europe/Berlin", "UTC").
  // InvalidArgument naming the zone otherwise. Names are case-sensitive.
  virtual Status CheckZone(std::string_view zone) = 0;

  // Reads and checks an RRULE value: the supported subset (FREQ DAILY,
  // WEEKLY, MONTHLY or YEARLY; INTERVAL; COUNT or UNTIL; BYMONTH; BYMONTHDAY;
  // BYDAY with positions such as 1SU or -1FR; BYSETPOS; WKST), then libical's
  // own parser. InvalidArgument starting "RRULE" and naming the part that is
  // wrong or unsupported (e.g. "RRULE BYHOUR is not supported: ...").
  virtual Result<RecurrenceRule> ParseRule(std::string_view rrule) = 0;

  // Resolves a wall-clock time in `zone` (see ResolvedTime). InvalidArgument
  // for an unknown zone or an invalid civil time; a skipped or ambiguous time
  // is not an error here.
  virtual Result<ResolvedTime> ResolveLocal(const CivilTime& local, std::string_view zone) = 0;

  // The instant `utc` seen in `zone`.
  virtual Result<ZonedTime> ToZone(UnixSeconds utc, std::string_view zone) = 0;

  // The window from midnight starting `first_day` (its date is used) for
  // `days` days in `zone`: what `ritual upcoming --from D --days N` lists.
  // Where midnight does not exist (a DST change at 00:00) the day starts
  // when it does. InvalidArgument unless 1 <= days <= 3660.
  virtual Result<TimeWindow> LocalDays(const CivilTime& first_day, int days,
                                       std::string_view zone) = 0;

  // OK if `ritual` can be stored and expanded: an id (at most 255 printable
  // bytes), a title (1..500 bytes), a description of at most 20000 bytes, at
  // least one segment, segments in increasing effective_from order, and for
  // each segment a known zone, a start that exists in that zone (a start in
  // a skipped DST hour is InvalidArgument; one in a repeated hour is the
  // first of the two instants), a valid rule with at least one occurrence,
  // and a duration in (0, 7 days]. InvalidArgument naming the field.
  virtual Status ValidateRitual(const Ritual& ritual) = 0;

  // Changes `ritual`'s rule from the occurrence `from` (a key) onwards: a
  // copy with `next` appended as a new segment. Its effective_from (the cut)
  // is the earlier of `from` and next.start, so a change to an earlier time
  // of day takes effect on the chosen occurrence's day; segments that began
  // at or after the cut are replaced. Occurrences before the cut keep their
  // keys, so their states stay attached. InvalidArgument if `next` or the
  // result is invalid, or if next.start lies before an occurrence that
  // precedes `from` (the change would rewrite the past).
  virtual Result<Ritual> ChangeRule(const Ritual& ritual, UnixSeconds from, RuleSegment next) = 0;

  // ---- Expansion ---------------------------------------------------------

  // The occurrences of `ritual` whose actual start lies in `window`, in
  // start order (ties by key). Each segment is expanded from its own start
  // and yields the occurrences whose keys fall in its effective range.
  // `overrides` (by key) skip or move occurrences; a moved occurrence keeps
  // its key and appears where it was moved to (also when that is inside the
  // window and its nominal start is not); a move to its own nominal start is
  // no move. Overrides whose keys are not occurrences of the ritual are
  // ignored. InvalidArgument if the ritual is
  // invalid or there would be more than options.max_occurrences.
  virtual Result<std::vector<Occurrence>> Expand(const Ritual& ritual,
                                                 const OccurrenceOverrides& overrides,
                                                 TimeWindow window,
                                                 const ExpandOptions& options = {}) = 0;

  // Expand for several rituals, merged in start order (ties by ritual id,
  // then key). Overrides are looked up by ritual id.
  virtual Result<std::vector<Occurrence>> ExpandAll(std::span<const Ritual> rituals,
                                                    const OverridesByRitual& overrides,
                                                    TimeWindow window,
                                                    const ExpandOptions& options = {}) = 0;

  // The scheduled or moved occurrence whose actual start is nearest to `t`
  // (ties go to the earlier one); skipped occurrences are not considered.
  // Searches up to 100 years either side. NotFound if there is none.
  virtual Result<Occurrence> Nearest(const Ritual& ritual, const OccurrenceOverrides& overrides,
                                     UnixSeconds t) = 0;

  // The occurrence named by `at`: one whose nominal start (its key) or
  // actual start is that instant. Without an offset, `at` is read in the
  // zone of each segment. NotFound if no occurrence starts then.
  virtual Result<Occurrence> FindOccurrence(const Ritual& ritual,
                                            const OccurrenceOverrides& overrides,
                                            const DateTimeArg& at) = 0;

  // ---- iCalendar ---------------------------------------------------------

  // An RFC 5545 VCALENDAR (CRLF lines, folded at 75 octets) with
  // PRODID "-//Kindred//Kindred 0.1//EN", a VTIMEZONE for each zone used, and
  // per rule segment a VEVENT with DTSTART;TZID, DURATION, RRULE, EXDATE for
  // skips, and a VEVENT with RECURRENCE-ID for each moved occurrence. The
  // first segment's UID is the ritual id. Private rituals get CLASS:PRIVATE;
  // the caller decides which rituals to pass. Completions are not exported.
  virtual Result<std::string> ExportIcs(std::span<const Ritual> rituals,
                                        const OverridesByRitual& overrides,
                                        const ExportOptions& options) = 0;

  // Reads recurring VEVENTs as rituals. The size is checked before parsing.
  // InvalidArgument naming the line for input that is not a well-formed
  // iCalendar file (too large, binary, truncated, a malformed line, BEGIN/END
  // that do not match). Events that cannot be imported (not recurring, an
  // unsupported rule, an unknown zone, an all-day event, ...) are listed in
  // ImportResult::problems with their line, not silently changed.
  virtual Result<ImportResult> ImportIcs(std::string_view ics, const ImportOptions& options) = 0;
};

}  // namespace kindred::calendar

#endif  // KINDRED_ENGINE_CALENDAR_CALENDAR_H_
