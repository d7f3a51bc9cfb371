#include "engine/calendar/occurrence_state.h"

#include <cassert>
#include <tuple>

namespace kindred::calendar {
namespace {

bool IsCompletionFact(FactKind k) { return k == FactKind::kDone || k == FactKind::kUndone; }

// Keeps the newer of `*slot` and `fact` in `*slot`.
void KeepLatest(std::optional<OccurrenceFact>* slot, const OccurrenceFact& fact) {
  if (!slot->has_value() || FactIsOlder(**slot, fact)) *slot = fact;
}

}  // namespace

Status ValidateFact(const OccurrenceFact& f) {
  if (f.ritual_id.empty()) return Status::InvalidArgument("occurrence fact: ritual_id is empty");
  if (f.member.empty()) return Status::InvalidArgument("occurrence fact: member is empty");
  if (f.member.size() > kMaxMemberBytes) {
    return Status::InvalidArgument("occurrence fact: member is longer than " +
                                   std::to_string(kMaxMemberBytes) + " bytes");
  }
  if (f.text.size() > kMaxFactTextBytes) {
    return Status::InvalidArgument("occurrence fact: note or reason is longer than " +
                                   std::to_string(kMaxFactTextBytes) + " bytes");
  }
  const UnixSeconds earliest = CivilAsIfUtc({kMinYear, 1, 1, 0, 0, 0});
  const UnixSeconds latest = CivilAsIfUtc({kMaxYear, 12, 31, 23, 59, 59});
  if (f.at != 0 && (f.at < earliest || f.at > latest)) {
    return Status::InvalidArgument("occurrence fact: time " + std::to_string(f.at) +
                                   " is outside the years " + std::to_string(kMinYear) + ".." +
                                   std::to_string(kMaxYear));
  }
  switch (f.kind) {
    case FactKind::kDone:
      if (f.mood < 0 || f.mood > 5) {
        return Status::InvalidArgument("occurrence fact: mood " + std::to_string(f.mood) +
                                       " is not 1..5 (or 0 for none)");
      }
      return Status::Ok();
    case FactKind::kSkipped:
      if (f.mood != 0 || f.at != 0) {
        return Status::InvalidArgument("occurrence fact: a skip carries only a reason");
      }
      return Status::Ok();
    case FactKind::kMoved:
      if (f.mood != 0 || !f.text.empty()) {
        return Status::InvalidArgument("occurrence fact: a move carries only the new start");
      }
      return Status::Ok();
    case FactKind::kUndone:
    case FactKind::kRestored:
      if (f.mood != 0 || !f.text.empty() || f.at != 0) {
        return Status::InvalidArgument("occurrence fact: an undo carries no note, mood or time");
      }
      return Status::Ok();
  }
  return Status::InvalidArgument("occurrence fact: unknown kind");
}

bool FactIsOlder(const OccurrenceFact& a, const OccurrenceFact& b) {
  return std::tie(a.hlc, a.device, a) < std::tie(b.hlc, b.device, b);
}

void OccurrenceState::Apply(const OccurrenceFact& fact) {
  assert(ValidateFact(fact).ok());
  if (IsCompletionFact(fact.kind)) {
    auto [it, inserted] = completion_by_member_.try_emplace(fact.member, fact);
    if (!inserted && FactIsOlder(it->second, fact)) it->second = fact;
  } else {
    KeepLatest(&schedule_, fact);
  }
}

void OccurrenceState::MergeFrom(const OccurrenceState& other) {
  for (const auto& [member, fact] : other.completion_by_member_) Apply(fact);
  if (other.schedule_) Apply(*other.schedule_);
}

std::vector<Completion> OccurrenceState::Completions() const {
  std::vector<Completion> out;
  for (const auto& [member, fact] : completion_by_member_) {
    if (fact.kind == FactKind::kDone) out.push_back({member, fact.at, fact.text, fact.mood});
  }
  return out;
}

bool OccurrenceState::IsDoneBy(const std::string& member) const {
  auto it = completion_by_member_.find(member);
  return it != completion_by_member_.end() && it->second.kind == FactKind::kDone;
}

OccurrenceState::Schedule OccurrenceState::schedule() const {
  if (!schedule_) return Schedule::kAsPlanned;
  switch (schedule_->kind) {
    case FactKind::kSkipped:
      return Schedule::kSkipped;
    case FactKind::kMoved:
      return Schedule::kMoved;
    default:
      return Schedule::kAsPlanned;
  }
}

std::optional<OccurrenceOverride> OccurrenceState::Override() const {
  switch (schedule()) {
    case Schedule::kSkipped:
      return OccurrenceOverride{OccurrenceOverride::Kind::kSkipped, 0, schedule_->text};
    case Schedule::kMoved:
      return OccurrenceOverride{OccurrenceOverride::Kind::kMoved, schedule_->at, ""};
    case Schedule::kAsPlanned:
      break;
  }
  return std::nullopt;
}

Status OccurrenceStates::Apply(const OccurrenceFact& fact) {
  KINDRED_RETURN_IF_ERROR(ValidateFact(fact));
  states_[{fact.ritual_id, fact.key}].Apply(fact);
  return Status::Ok();
}

void OccurrenceStates::MergeFrom(const OccurrenceStates& other) {
  for (const auto& [id, state] : other.states_) states_[id].MergeFrom(state);
}

const OccurrenceState* OccurrenceStates::Find(const std::string& ritual_id, UnixSeconds key) const {
  auto it = states_.find({ritual_id, key});
  return it == states_.end() ? nullptr : &it->second;
}

OccurrenceOverrides OccurrenceStates::OverridesFor(const std::string& ritual_id) const {
  OccurrenceOverrides out;
  for (auto it = states_.lower_bound({ritual_id, kSinceForever});
       it != states_.end() && it->first.first == ritual_id; ++it) {
    if (auto o = it->second.Override()) out.emplace(it->first.second, std::move(*o));
  }
  return out;
}

OverridesByRitual OccurrenceStates::AllOverrides() const {
  OverridesByRitual out;
  for (const auto& [id, state] : states_) {
    if (auto o = state.Override()) out[id.first].emplace(id.second, std::move(*o));
  }
  return out;
}

}  // namespace kindred::calendar
