// The couple's ritual calendar over the engine. Rituals are records of the
// "rituals" collection; what the partners did with an occurrence (done,
// undone, skipped, moved, restored) are immutable records of "ritual_facts",
// one per fact, so that concurrent facts never conflict and the merge is a
// set union (calendar::OccurrenceStates). docs/architecture.md ("Rituals")
// describes the record layout; docs/calendar.md the calendar semantics.
//
//   auto calendar = kindred::calendar::Calendar::Create();  // one per process
//   kindred::Rituals rituals(*engine, **calendar, kindred::Env::System().clock());
//   auto id = rituals.Add({.title = "Date night", .rule = segment});
//
// Thread-safe as the engine and the calendar are; a Rituals holds no state of
// its own beyond the references it was given.
#ifndef KINDRED_RITUALS_H_
#define KINDRED_RITUALS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/calendar/calendar.h"
#include "engine/calendar/civil_time.h"
#include "engine/calendar/occurrence_state.h"
#include "engine/calendar/ritual.h"
#include "kindred/engine.h"
#include "kindred/env.h"

namespace kindred {

// A ritual as this device sees it. Value type.
struct RitualInfo {
  calendar::Ritual ritual;
  std::string author;  // member name of the device that created it ("" if unknown)
  int64_t created_micros = 0;
  int64_t edited_micros = 0;
  // Fields ("title", "description", "rule") two devices changed at the same
  // time. The latest version is shown; the next change of the field settles it.
  std::vector<std::string> conflicts;
};

// A new ritual.
struct NewRitual {
  std::string title;
  std::string description;
  calendar::Visibility visibility = calendar::Visibility::kShared;
  calendar::RuleSegment rule;  // effective_from is ignored
};

// A rule change "from this occurrence on" (calendar::Calendar::ChangeRule).
// What is not given is taken from the rule in force at `from`.
struct RuleChange {
  // The first occurrence the new rule governs, by its nominal or actual start
  // (read in the ritual's zone unless it carries an offset).
  calendar::DateTimeArg from;
  std::optional<std::string> rrule;
  // The new rule's anchor; defaults to the nominal wall-clock time of `from`.
  std::optional<calendar::CivilTime> start;
  std::optional<std::string> zone;
  std::optional<std::chrono::seconds> duration;
};

// Changes to a ritual, made in one commit. Unset fields stay as they are.
struct RitualEdit {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<calendar::Visibility> visibility;
  // Without `rule`: the length of the rule in force now and of any later
  // rule; occurrences of earlier rules keep theirs. With `rule`, give the new
  // rule's duration there instead (InvalidArgument otherwise).
  std::optional<std::chrono::seconds> duration;
  std::optional<RuleChange> rule;
};

// One occurrence and what the partners did with it. Value type.
struct OccurrenceView {
  // Times in the ritual's zone; status after skips and moves.
  calendar::Occurrence occurrence;
  std::string title;
  calendar::Visibility visibility = calendar::Visibility::kShared;
  // Who counts as done, by member name, with their note and mood.
  std::vector<calendar::Completion> completions;
  // Who skipped or moved it (empty when as planned), and the skip's reason.
  std::string changed_by;
  std::string reason;
};

// What Rituals::ImportIcs did.
struct RitualImport {
  std::vector<std::string> imported;      // ids of the rituals added
  std::vector<std::string> already_here;  // ids that exist here already; left as they are
  uint64_t facts = 0;                     // skips and moves recorded for the added rituals
  // Events that did not become rituals, each with its line and the reason.
  std::vector<calendar::ImportProblem> problems;
};

class Rituals {
 public:
  static constexpr char kCollection[] = "rituals";
  static constexpr char kFactCollection[] = "ritual_facts";

  // `engine`, `calendar` and `clock` must outlive the Rituals; none is owned.
  // `calendar` should be the process's one Calendar (see calendar.h).
  // `clock` gives "now" for done/nearest and for ordering facts.
  Rituals(Engine& engine, calendar::Calendar& calendar, Clock& clock)
      : engine_(engine), calendar_(calendar), clock_(clock) {}

  // Adds a ritual and returns its id. InvalidArgument naming the field (the
  // title, the RRULE part, the zone, a start that does not exist, the
  // duration) with nothing written.
  Result<std::string> Add(const NewRitual& ritual);

  // Changes title, description, visibility, duration and/or the rule, in
  // one commit. A rule change applies from an occurrence on: earlier
  // occurrences keep their keys and so their completions, skips and moves.
  // NotFound for an unknown id. InvalidArgument, with nothing written, for a
  // bad value, when there is nothing to change, when the rule change's
  // `from` is not an occurrence, or when the change would detach a completion
  // already recorded for an occurrence from `from` on (choose a later one).
  Status Edit(const std::string& id, const RitualEdit& edit);

  // Edit with only a rule change.
  Status ChangeRule(const std::string& id, const RuleChange& change) {
    RitualEdit edit;
    edit.rule = change;
    return Edit(id, edit);
  }

  // Deletes the ritual and the facts this device holds about it (also one
  // that Get cannot read).
  Status Remove(const std::string& id);

  // The ritual. NotFound for an unknown or deleted id. FailedPrecondition if
  // it was written by a newer Kindred (an unknown calendar model), or if only
  // part of it is left (deleted on one device while edited on another).
  Result<RitualInfo> Get(const std::string& id);

  // Every ritual, oldest first. Those Get cannot read (FailedPrecondition)
  // are left out.
  Result<std::vector<RitualInfo>> List();

  // The occurrences of every ritual whose actual start lies in `window`, in
  // start order (ties by ritual id, then key), skipped ones included. Reads
  // only the facts about the window's days. InvalidArgument for a window of
  // more than 3661 days.
  Result<std::vector<OccurrenceView>> Occurrences(calendar::TimeWindow window);

  // The same for one ritual.
  Result<std::vector<OccurrenceView>> OccurrencesOf(const std::string& id,
                                                    calendar::TimeWindow window);

  // ---- What happened to an occurrence --------------------------------------
  // `at` names the occurrence by its nominal or actual start; without it, the
  // scheduled or moved occurrence nearest to now. Each records one fact for
  // this device's member and returns the occurrence as it now stands.
  // NotFound when no occurrence starts at `at`; InvalidArgument for a bad
  // note, mood (1..5, or 0 for none) or time.

  // This member did it. Both partners' completions count.
  Result<OccurrenceView> MarkDone(const std::string& id,
                                  const std::optional<calendar::DateTimeArg>& at,
                                  const std::string& note, int mood);
  // This member takes their completion back.
  Result<OccurrenceView> Undo(const std::string& id,
                              const std::optional<calendar::DateTimeArg>& at);
  // The occurrence will not happen.
  Result<OccurrenceView> Skip(const std::string& id, const std::optional<calendar::DateTimeArg>& at,
                              const std::string& reason);
  // The occurrence happens at `to` instead (read in the occurrence's zone
  // unless it carries an offset). A move back to the rule's own time restores
  // it. InvalidArgument if `to` does not exist there (a skipped DST hour).
  Result<OccurrenceView> Move(const std::string& id, const std::optional<calendar::DateTimeArg>& at,
                              const calendar::DateTimeArg& to);
  // Back to the rule's time: undoes a skip or a move.
  Result<OccurrenceView> Restore(const std::string& id,
                                 const std::optional<calendar::DateTimeArg>& at);

  // ---- iCalendar -----------------------------------------------------------

  // Every ritual as RFC 5545 text (calendar::Calendar::ExportIcs), with skips
  // as EXDATE and moves as RECURRENCE-ID overrides; DTSTAMP is now.
  Result<std::string> ExportIcs();

  // Reads recurring events as rituals, with their skips and moves as facts,
  // in one atomic commit. Rituals whose id (UID) exists here already are left
  // as they are, so importing a file twice is harmless. InvalidArgument
  // naming the line for a file that is not well-formed iCalendar (nothing is
  // written); events that cannot be rituals are listed in `problems`.
  // `floating_zone` is the zone for times without one (usually the machine's).
  Result<RitualImport> ImportIcs(std::string_view ics, const std::string& floating_zone);

  // The names of the members who keep these rituals: this device's member
  // first, then the others this device has seen write to the rituals' spaces.
  Result<std::vector<std::string>> Members();

  // Moves shared rituals that still live in the personal space (made before
  // pairing, or on a device that had not heard of it yet), with every fact
  // of their occurrences, into the couple's shared space, keeping their
  // ids; then deletes them from the personal space. With
  // `only_this_device`, only rituals this device made. Private rituals
  // never move. Returns how many rituals moved; 0 without a shared space.
  Result<size_t> MoveSharedRituals(bool only_this_device = false);

 private:
  // The space a new ritual of this visibility (and its facts) goes to:
  // shared ones to the couple's shared space once paired, the rest (and
  // shared ones before pairing, flagged) to the personal space.
  SpaceId SpaceFor(calendar::Visibility visibility) const;
  // Where rituals are looked for: the shared spaces, then the personal one.
  std::vector<SpaceId> RitualSpaces() const;

  Engine& engine_;
  calendar::Calendar& calendar_;
  Clock& clock_;
};

}  // namespace kindred

#endif  // KINDRED_RITUALS_H_
