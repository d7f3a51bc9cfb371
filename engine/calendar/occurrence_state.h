// What the partners did with each occurrence, as a set of facts and the state
// they merge into. Pure functions; the engine stores and syncs the facts.
//
// Merge rules (docs/calendar.md has the reasoning):
//  * The state is a function of the SET of facts: applying them in any order,
//    with any duplicates, gives the same state.
//  * Completions accumulate, one per member: for each member the latest of
//    their kDone/kUndone facts wins, so both partners marking the same
//    occurrence done both count.
//  * The schedule (as planned, skipped, moved) is one register: the latest of
//    all kSkipped/kMoved/kRestored facts wins.
//  * The two are independent, so one partner moving an occurrence while the
//    other completes it keeps both facts.
//  * "Latest" is by (hlc, device), then by the fact's content, which gives a
//    total order even for two different facts with the same stamp.
#ifndef KINDRED_ENGINE_CALENDAR_OCCURRENCE_STATE_H_
#define KINDRED_ENGINE_CALENDAR_OCCURRENCE_STATE_H_

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/calendar/ritual.h"
#include "kindred/ids.h"
#include "kindred/status.h"

namespace kindred::calendar {

enum class FactKind {
  kDone,      // `member` did it at `at`, with an optional note and mood
  kUndone,    // `member` takes their completion back
  kSkipped,   // the occurrence will not happen; `text` is the reason
  kMoved,     // the occurrence happens at `at` instead
  kRestored,  // back to the rule's time (undoes a skip or a move)
};

// One thing a partner did to one occurrence. Value type.
struct OccurrenceFact {
  std::string ritual_id;
  UnixSeconds key = 0;  // the occurrence's key (its nominal start, UTC)
  FactKind kind = FactKind::kDone;
  std::string member;  // kDone/kUndone: whose completion; otherwise who acted
  uint64_t hlc = 0;    // hybrid logical clock of the device that made the fact
  DeviceId device;     // the device that made the fact; breaks hlc ties
  UnixSeconds at = 0;  // kDone: when it was done; kMoved: the new start
  std::string text;    // kDone: the note; kSkipped: the reason
  int mood = 0;        // kDone: 1..5, or 0 for none

  auto operator<=>(const OccurrenceFact&) const = default;
};

inline constexpr size_t kMaxFactTextBytes = 4000;
inline constexpr size_t kMaxMemberBytes = 128;

// OK if `fact` is well formed: ritual_id and member non-empty (member at most
// kMaxMemberBytes), mood 0..5 and only on kDone, text at most
// kMaxFactTextBytes and only on kDone/kSkipped, `at` only on kDone/kMoved
// and within the years kMinYear..kMaxYear.
// InvalidArgument naming the field otherwise.
Status ValidateFact(const OccurrenceFact& fact);

// True if `a` is older than `b` in the merge order described above.
bool FactIsOlder(const OccurrenceFact& a, const OccurrenceFact& b);

// One member's completion of an occurrence.
struct Completion {
  std::string member;
  UnixSeconds done_at = 0;
  std::string note;
  int mood = 0;  // 1..5, or 0 for none

  bool operator==(const Completion&) const = default;
};

// The merged state of one occurrence. Value type; thread-compatible.
class OccurrenceState {
 public:
  enum class Schedule { kAsPlanned, kSkipped, kMoved };

  // Folds `fact` in. Commutative, associative and idempotent.
  // REQUIRES: ValidateFact(fact).ok(), and every fact applied to one state is
  // about the same occurrence (OccurrenceStates takes care of both).
  void Apply(const OccurrenceFact& fact);

  // Folds in all facts that decide `other` (a join of the two states).
  void MergeFrom(const OccurrenceState& other);

  // The members who count as done, ordered by member, each with the note and
  // mood of their latest kDone.
  std::vector<Completion> Completions() const;
  // True if `member`'s latest completion fact is kDone.
  bool IsDoneBy(const std::string& member) const;

  // As planned, skipped or moved, by the latest schedule fact.
  Schedule schedule() const;
  // The fact that decides the schedule (who skipped or moved it, and when),
  // or nullptr when no skip, move or restore was ever recorded.
  const OccurrenceFact* schedule_fact() const { return schedule_ ? &*schedule_ : nullptr; }
  // The override expansion applies, or nullopt when as planned.
  std::optional<OccurrenceOverride> Override() const;

  // Equal when the deciding facts are equal.
  bool operator==(const OccurrenceState&) const = default;

 private:
  std::map<std::string, OccurrenceFact> completion_by_member_;  // latest kDone/kUndone
  std::optional<OccurrenceFact> schedule_;                      // latest kSkipped/kMoved/kRestored
};

// The merged states of all occurrences of all rituals. Value type;
// thread-compatible.
class OccurrenceStates {
 public:
  // Validates `fact` and folds it into the state of its occurrence.
  // InvalidArgument (state unchanged) when ValidateFact fails.
  Status Apply(const OccurrenceFact& fact);

  // Joins `other` into this; the result is what applying both fact sets gives.
  void MergeFrom(const OccurrenceStates& other);

  // The state of one occurrence, or nullptr if no fact names it. The pointer
  // is valid until the next Apply or MergeFrom.
  const OccurrenceState* Find(const std::string& ritual_id, UnixSeconds key) const;

  // The skips and moves of one ritual, for Calendar::Expand and ExportIcs.
  OccurrenceOverrides OverridesFor(const std::string& ritual_id) const;
  // The skips and moves of every ritual.
  OverridesByRitual AllOverrides() const;

  // The number of occurrences some fact names.
  size_t size() const { return states_.size(); }
  // Equal when every occurrence has the same merged state.
  bool operator==(const OccurrenceStates&) const = default;

 private:
  std::map<std::pair<std::string, UnixSeconds>, OccurrenceState> states_;
};

}  // namespace kindred::calendar

#endif  // KINDRED_ENGINE_CALENDAR_OCCURRENCE_STATE_H_
