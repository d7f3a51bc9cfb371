// The ritual calendar's model: rituals, their rule segments, occurrences and
// the per-occurrence overrides (skipped, moved) that expansion applies.
// Plain value types, thread-compatible. Validation, expansion and iCalendar
// conversion are in calendar.h; the merge of occurrence facts is in
// occurrence_state.h. See docs/calendar.md for the semantics.
#ifndef KINDRED_ENGINE_CALENDAR_RITUAL_H_
#define KINDRED_ENGINE_CALENDAR_RITUAL_H_

#include <chrono>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/calendar/civil_time.h"

namespace kindred::calendar {

// Names the shape of the records below. Bump when a field's meaning changes,
// so stored rituals and occurrence keys can be told apart by the code that
// made them.
inline constexpr char kCalendarModelName[] = "kindred.calendar.ritual.v1";

// The earliest instant; the first rule segment is in force since then.
inline constexpr UnixSeconds kSinceForever = std::numeric_limits<UnixSeconds>::min();

// Who sees a ritual. Shared rituals sync to the partner; private ones stay
// with their author (the engine enforces this; the calendar only carries it).
enum class Visibility { kShared, kPrivate };

// How often a rule repeats (RFC 5545 FREQ). Finer frequencies are rejected.
enum class Frequency { kDaily, kWeekly, kMonthly, kYearly };

// The RRULE's UNTIL, kept as written. kUtc is an instant ("...Z"); kDate is a
// whole date in the ritual's zone (inclusive); kLocal is a wall-clock time in
// the ritual's zone (RFC 5545 only allows it for floating starts; accepted).
struct RuleUntil {
  enum class Kind { kUtc, kDate, kLocal };
  Kind kind = Kind::kUtc;
  CivilTime time;  // for kDate the time of day is 00:00:00

  auto operator<=>(const RuleUntil&) const = default;
};

// A recurrence rule that passed validation (see Calendar::ParseRule).
struct RecurrenceRule {
  std::string text;  // canonical RRULE value: upper case, parts in a fixed order
  Frequency frequency = Frequency::kDaily;
  int interval = 1;
  std::optional<int> count;
  std::optional<RuleUntil> until;
};

// One rule of a ritual, in force from `effective_from` until the next
// segment's `effective_from`. A rule change adds a segment; earlier segments,
// and so past occurrences and the states keyed by them, stay as they were.
struct RuleSegment {
  // The cut: this segment yields the occurrences of its own series whose
  // nominal start (UTC) is at or after it and before the next segment's cut.
  // Ignored for the first segment, which governs everything before the second.
  UnixSeconds effective_from = kSinceForever;
  // DTSTART: a wall-clock time in `zone`. The anchor of the rule (its time of
  // day, and its weekday/day/month where the rule does not say) and the
  // earliest possible occurrence. It is an occurrence only if the rule
  // produces it (e.g. a start on a Wednesday is not one of FREQ=WEEKLY;BYDAY=FR).
  CivilTime start;
  std::string zone;                  // IANA time zone name, e.g. "Europe/Berlin"
  std::string rrule;                 // RFC 5545 RRULE value, e.g. "FREQ=MONTHLY;BYDAY=1SU"
  std::chrono::seconds duration{0};  // > 0, at most kMaxRitualDuration

  bool operator==(const RuleSegment&) const = default;
};

// A recurring ritual of the couple.
struct Ritual {
  std::string id;  // stable and unique; also the iCalendar UID
  std::string title;
  std::string description;
  Visibility visibility = Visibility::kShared;
  // At least one; effective_from strictly increasing from the second on.
  std::vector<RuleSegment> segments;

  bool operator==(const Ritual&) const = default;
};

// What happened to one occurrence's schedule, as expansion applies it. The
// merged OccurrenceState (occurrence_state.h) produces these.
struct OccurrenceOverride {
  enum class Kind { kSkipped, kMoved };
  Kind kind = Kind::kSkipped;
  UnixSeconds moved_to = 0;  // kMoved: the new start
  std::string reason;        // kSkipped: why, possibly empty

  bool operator==(const OccurrenceOverride&) const = default;
};

// Overrides of one ritual, by occurrence key (the nominal start, UTC).
using OccurrenceOverrides = std::map<UnixSeconds, OccurrenceOverride>;

// Overrides of many rituals, by ritual id.
using OverridesByRitual = std::map<std::string, OccurrenceOverrides>;

// How an occurrence stands after overrides.
enum class OccurrenceStatus { kScheduled, kMoved, kSkipped };

// One occurrence of a ritual.
struct Occurrence {
  std::string ritual_id;
  // The stable identity of the occurrence: its nominal start (UTC), as the
  // rule produced it. Moving an occurrence does not change its key.
  UnixSeconds key = 0;
  // The wall-clock time the rule produced (RECURRENCE-ID in iCalendar). It
  // differs from start.local when the occurrence was moved, or when the
  // nominal time fell into a skipped DST hour (then start is an hour later).
  CivilTime nominal_local;
  ZonedTime start;  // actual start, after a move
  ZonedTime end;    // start + the segment's duration, seen in the same zone
  std::string zone;
  size_t segment_index = 0;  // which of the ritual's segments produced it
  OccurrenceStatus status = OccurrenceStatus::kScheduled;

  bool operator==(const Occurrence&) const = default;
};

// A half-open range of instants [from, to).
struct TimeWindow {
  UnixSeconds from = 0;
  UnixSeconds to = 0;
};

}  // namespace kindred::calendar

#endif  // KINDRED_ENGINE_CALENDAR_RITUAL_H_
