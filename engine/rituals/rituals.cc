#include "kindred/rituals.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "kindred/record_move.h"

namespace kindred {
namespace {

namespace cal = calendar;
using nlohmann::json;

// ---- Record layout (docs/architecture.md, "Rituals") -----------------------

// A ritual: collection "rituals".
constexpr char kTitle[] = "title";              // text
constexpr char kDescription[] = "description";  // text, may be empty
constexpr char kShared[] = "shared";            // flag
constexpr char kRule[] = "rule";                // text: JSON {"model", "segments"}

// A fact: collection "ritual_facts". Immutable: written once, deleted with
// its ritual, never updated.
constexpr char kModel[] = "model";    // text: calendar::kCalendarModelName
constexpr char kRitual[] = "ritual";  // text: the ritual's id
constexpr char kKey[] = "key";        // int: the occurrence's key (UTC seconds)
constexpr char kKind[] = "kind";      // text: done, undone, skipped, moved, restored
constexpr char kMember[] = "member";  // text: whose completion / who acted
constexpr char kStamp[] = "stamp";    // int: orders facts about one occurrence
constexpr char kAt[] = "at";          // int: done: when; moved: the new start
constexpr char kText[] = "text";      // text: done: the note; skipped: the reason
constexpr char kMood[] = "mood";      // int: done: 1..5
constexpr char kRefs[] = "refs";      // list: index items, see the *Ref functions

// Index items of a fact (list field `refs`, served by the engine's keyed
// index): every fact of a ritual, its schedule facts, every fact of one
// occurrence, and the UTC days a fact concerns (its key's, and a move's
// target's), so `upcoming` reads only the facts near its window.
std::string RitualRef(const std::string& id) { return "r:" + id; }
std::string ScheduleRef(const std::string& id) { return "s:" + id; }
std::string OccurrenceRef(const std::string& id, cal::UnixSeconds key) {
  return "o:" + std::to_string(key) + ":" + id;
}
std::string DayOf(cal::UnixSeconds t) {
  return cal::FormatCivilTime(cal::CivilFromSecondsAsIfUtc(t)).substr(0, 10);
}
std::string DayRef(cal::UnixSeconds t) { return "d:" + DayOf(t); }

// OccurrencesOf reads the facts of at most this many occurrences one by one,
// and every fact of the ritual for more.
constexpr size_t kMaxOccurrencesReadOneByOne = 62;
constexpr cal::UnixSeconds kDay = 86400;
// Occurrences() reads the index day by day; ten years is plenty.
constexpr cal::UnixSeconds kMaxWindowDays = 3661;

std::string_view KindName(cal::FactKind k) {
  switch (k) {
    case cal::FactKind::kDone:
      return "done";
    case cal::FactKind::kUndone:
      return "undone";
    case cal::FactKind::kSkipped:
      return "skipped";
    case cal::FactKind::kMoved:
      return "moved";
    case cal::FactKind::kRestored:
      return "restored";
  }
  return "";
}

std::optional<cal::FactKind> KindFromName(std::string_view name) {
  for (cal::FactKind k : {cal::FactKind::kDone, cal::FactKind::kUndone, cal::FactKind::kSkipped,
                          cal::FactKind::kMoved, cal::FactKind::kRestored}) {
    if (KindName(k) == name) return k;
  }
  return std::nullopt;
}

bool IsScheduleKind(cal::FactKind k) {
  return k == cal::FactKind::kSkipped || k == cal::FactKind::kMoved ||
         k == cal::FactKind::kRestored;
}

// ---- The rule blob -----------------------------------------------------------

std::string EncodeRule(const std::vector<cal::RuleSegment>& segments) {
  json list = json::array();
  for (size_t i = 0; i < segments.size(); ++i) {
    const cal::RuleSegment& s = segments[i];
    list.push_back({{"from", i == 0 ? json(nullptr) : json(s.effective_from)},
                    {"start", cal::FormatCivilTime(s.start)},
                    {"zone", s.zone},
                    {"rrule", s.rrule},
                    {"duration", s.duration.count()}});
  }
  return json{{"model", cal::kCalendarModelName}, {"segments", list}}.dump();
}

Result<std::vector<cal::RuleSegment>> DecodeRule(const std::string& id, const std::string& text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& what) {
    return Status::Corruption("ritual " + id + ": its stored rule " + what);
  };
  if (j.is_discarded() || !j.is_object()) return bad("is not a JSON object");
  auto model = j.find("model");
  if (model == j.end() || !model->is_string()) return bad("has no model");
  if (model->get<std::string>() != cal::kCalendarModelName) {
    return Status::FailedPrecondition("ritual " + id +
                                      " was made by a newer Kindred (calendar model " +
                                      model->get<std::string>() + "); update Kindred to see it");
  }
  auto list = j.find("segments");
  if (list == j.end() || !list->is_array() || list->empty()) return bad("has no segments");
  std::vector<cal::RuleSegment> out;
  for (const json& s : *list) {
    if (!s.is_object()) return bad("has a segment that is not an object");
    cal::RuleSegment seg;
    auto from = s.find("from");
    if (out.empty()) {
      seg.effective_from = cal::kSinceForever;
    } else if (from != s.end() && from->is_number_integer()) {
      seg.effective_from = from->get<cal::UnixSeconds>();
    } else {
      return bad("has a later segment without a start of effect");
    }
    auto start = s.find("start");
    auto zone = s.find("zone");
    auto rrule = s.find("rrule");
    auto duration = s.find("duration");
    if (start == s.end() || !start->is_string() || zone == s.end() || !zone->is_string() ||
        rrule == s.end() || !rrule->is_string() || duration == s.end() ||
        !duration->is_number_integer()) {
      return bad("has a segment with a missing field");
    }
    auto civil = cal::ParseLocalDateTime(start->get<std::string>());
    if (!civil.ok()) return bad("has a bad start: " + civil.status().message());
    seg.start = *civil;
    seg.zone = zone->get<std::string>();
    seg.rrule = rrule->get<std::string>();
    seg.duration = std::chrono::seconds(duration->get<int64_t>());
    out.push_back(std::move(seg));
  }
  return out;
}

std::map<std::string, Value> RitualFields(const cal::Ritual& r) {
  return {{kTitle, r.title},
          {kDescription, r.description},
          {kShared, r.visibility == cal::Visibility::kShared},
          {kRule, EncodeRule(r.segments)}};
}

Result<RitualInfo> RitualFromRecord(Engine& engine, const Record& r) {
  if (!r.fields.count(kTitle) || !r.fields.count(kRule)) {
    // A delete on one device and a concurrent edit on another leave the
    // edited fields alive (nothing is dropped silently), but not a ritual.
    return Status::FailedPrecondition("ritual " + r.id +
                                      " was removed on one device while it was being changed on "
                                      "another; only part of it is left. `kindred ritual rm " +
                                      r.id + "` clears it");
  }
  RitualInfo info;
  info.ritual.id = r.id;
  info.ritual.title = r.Text(kTitle);
  info.ritual.description = r.Text(kDescription);
  info.ritual.visibility =
      r.Flag(kShared, true) ? cal::Visibility::kShared : cal::Visibility::kPrivate;
  KINDRED_ASSIGN_OR_RETURN(info.ritual.segments, DecodeRule(r.id, r.Text(kRule)));
  info.author = engine.MemberName(r.created_by);
  info.created_micros = r.created_micros;
  info.edited_micros = std::max(r.edited_micros, r.created_micros);
  for (const char* name : {kTitle, kDescription, kRule}) {
    if (r.conflicts.count(name)) info.conflicts.push_back(name);
  }
  return info;
}

// ---- Facts -------------------------------------------------------------------

std::map<std::string, Value> FactFields(const cal::OccurrenceFact& f) {
  std::vector<std::string> refs{RitualRef(f.ritual_id), OccurrenceRef(f.ritual_id, f.key),
                                DayRef(f.key)};
  if (IsScheduleKind(f.kind)) refs.push_back(ScheduleRef(f.ritual_id));
  if (f.kind == cal::FactKind::kMoved && DayOf(f.at) != DayOf(f.key)) refs.push_back(DayRef(f.at));
  std::map<std::string, Value> fields{{kModel, std::string(cal::kCalendarModelName)},
                                      {kRitual, f.ritual_id},
                                      {kKey, static_cast<int64_t>(f.key)},
                                      {kKind, std::string(KindName(f.kind))},
                                      {kMember, f.member},
                                      {kStamp, static_cast<int64_t>(f.hlc)},
                                      {kRefs, std::move(refs)}};
  if (f.at != 0) fields[kAt] = static_cast<int64_t>(f.at);
  if (!f.text.empty()) fields[kText] = f.text;
  if (f.mood != 0) fields[kMood] = static_cast<int64_t>(f.mood);
  return fields;
}

// The fact a record holds, or nullopt if it is not one this code understands
// (a newer model or kind, or malformed): such facts are left out, not fatal.
std::optional<cal::OccurrenceFact> FactFromRecord(const Record& r) {
  if (r.Text(kModel) != cal::kCalendarModelName) return std::nullopt;
  auto kind = KindFromName(r.Text(kKind));
  auto key = r.Int(kKey);
  auto stamp = r.Int(kStamp);
  if (!kind || !key || !stamp || *stamp < 0) return std::nullopt;
  cal::OccurrenceFact f;
  f.ritual_id = r.Text(kRitual);
  f.key = *key;
  f.kind = *kind;
  f.member = r.Text(kMember);
  f.hlc = static_cast<uint64_t>(*stamp);
  f.device = r.created_by;
  f.at = r.Int(kAt).value_or(0);
  f.text = r.Text(kText);
  const int64_t mood = r.Int(kMood).value_or(0);
  if (mood < 0 || mood > 5) return std::nullopt;
  f.mood = static_cast<int>(mood);
  if (!cal::ValidateFact(f).ok()) return std::nullopt;
  return f;
}

// Facts read from the store, merged, with what a new fact must exceed.
struct FactSet {
  cal::OccurrenceStates states;
  std::map<std::pair<std::string, cal::UnixSeconds>, uint64_t> max_stamp;
  std::set<std::string> record_ids;  // each fact once, however it was found

  // Folds in a fact record; false if it was already here.
  bool Add(const Record& r) {
    if (!record_ids.insert(r.id).second) return false;
    auto fact = FactFromRecord(r);
    if (!fact) return true;
    (void)states.Apply(*fact);  // validated in FactFromRecord
    uint64_t& stamp = max_stamp[{fact->ritual_id, fact->key}];
    stamp = std::max(stamp, fact->hlc);
    return true;
  }
  uint64_t MaxStamp(const std::string& id, cal::UnixSeconds key) const {
    auto it = max_stamp.find({id, key});
    return it == max_stamp.end() ? 0 : it->second;
  }
};

Status ReadRef(Engine& engine, const SpaceId& space, const std::string& item, FactSet* facts,
               std::vector<cal::OccurrenceFact>* found = nullptr) {
  return engine.ScanByListItem(space, Rituals::kFactCollection, kRefs, item, [&](const Record& r) {
    if (facts->Add(r) && found) {
      if (auto f = FactFromRecord(r)) found->push_back(std::move(*f));
    }
    return true;
  });
}

OccurrenceView MakeView(const cal::Occurrence& o, const cal::Ritual& ritual,
                        const cal::OccurrenceStates& states) {
  OccurrenceView v;
  v.occurrence = o;
  v.title = ritual.title;
  v.visibility = ritual.visibility;
  if (const cal::OccurrenceState* s = states.Find(ritual.id, o.key)) {
    v.completions = s->Completions();
    if (s->schedule() != cal::OccurrenceState::Schedule::kAsPlanned && s->schedule_fact()) {
      v.changed_by = s->schedule_fact()->member;
      if (s->schedule() == cal::OccurrenceState::Schedule::kSkipped)
        v.reason = s->schedule_fact()->text;
    }
  }
  return v;
}

cal::DateTimeArg AtInstant(cal::UnixSeconds t) {
  return cal::DateTimeArg{cal::CivilFromSecondsAsIfUtc(t), 0};
}

std::string Describe(const cal::DateTimeArg& at) {
  std::string s = cal::FormatCivilTime(at.local);
  if (at.local.second == 0) s = s.substr(0, 16);
  if (at.utc_offset_seconds) {
    cal::ZonedTime z{0, at.local, *at.utc_offset_seconds};
    s = cal::FormatIso8601(z);
  }
  return s;
}

}  // namespace

// ---- Spaces ------------------------------------------------------------------

SpaceId Rituals::SpaceFor(calendar::Visibility visibility) const {
  // Until a partner is paired every ritual lives in the personal space;
  // shared ones carry the flag (and their facts follow them) and move to the
  // couple's shared space at pairing (MoveSharedRituals).
  if (visibility == cal::Visibility::kShared) {
    if (auto shared = engine_.SharedSpace()) return *shared;
  }
  return engine_.device().personal_space;
}

std::vector<SpaceId> Rituals::RitualSpaces() const {
  std::vector<SpaceId> out = engine_.SharedSpaces();
  out.push_back(engine_.device().personal_space);
  return out;
}

namespace {

struct Located {
  SpaceId space;
  RitualInfo info;
};

Result<Located> FindRitual(Engine& engine, const std::vector<SpaceId>& spaces,
                           const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("the ritual id is empty");
  for (const SpaceId& space : spaces) {
    auto r = engine.Get(space, Rituals::kCollection, id);
    if (r.ok()) {
      KINDRED_ASSIGN_OR_RETURN(RitualInfo info, RitualFromRecord(engine, *r));
      return Located{space, std::move(info)};
    }
    if (r.status().code() != StatusCode::kNotFound) return r.status();
  }
  return Status::NotFound("no ritual with id " + id + " (see `kindred ritual list`)");
}

cal::UnixSeconds NowSeconds(Clock& clock) {
  const int64_t micros = clock.NowMicros();
  return micros >= 0 ? micros / 1'000'000 : -((-micros + 999'999) / 1'000'000);
}

}  // namespace

// ---- Rituals -----------------------------------------------------------------

Result<std::string> Rituals::Add(const NewRitual& add) {
  cal::Ritual r;
  r.id = "new";  // for validation only; the engine assigns the id
  r.title = add.title;
  r.description = add.description;
  r.visibility = add.visibility;
  cal::RuleSegment seg = add.rule;
  seg.effective_from = cal::kSinceForever;
  KINDRED_ASSIGN_OR_RETURN(cal::RecurrenceRule rule, calendar_.ParseRule(seg.rrule));
  seg.rrule = rule.text;
  r.segments = {seg};
  KINDRED_RETURN_IF_ERROR(calendar_.ValidateRitual(r));
  Mutation m = Mutation::Create(kCollection, RitualFields(r));
  KINDRED_ASSIGN_OR_RETURN(auto ids, engine_.Commit(SpaceFor(r.visibility), {m}));
  return ids.front();
}

namespace {

// `ritual` with `change` applied (Calendar::ChangeRule), refusing a change
// that would detach a completion recorded for an occurrence from the cut on.
Result<cal::Ritual> ApplyRuleChange(Engine& engine, cal::Calendar& calendar, const SpaceId& space,
                                    const cal::Ritual& old, const RuleChange& change) {
  // Every fact of the ritual: overrides to find `from`, and the completions
  // the change must keep attached.
  FactSet facts;
  KINDRED_RETURN_IF_ERROR(ReadRef(engine, space, RitualRef(old.id), &facts));
  const cal::OccurrenceOverrides overrides = facts.states.OverridesFor(old.id);
  auto from = calendar.FindOccurrence(old, overrides, change.from);
  if (!from.ok()) {
    if (from.status().code() == StatusCode::kNotFound) {
      return Status::InvalidArgument("--from " + Describe(change.from) +
                                     " is not an occurrence of '" + old.title +
                                     "': a new rule starts at one of its occurrences");
    }
    return from.status();
  }
  const cal::RuleSegment& current = old.segments[from->segment_index];
  cal::RuleSegment next;
  next.start = change.start.value_or(from->nominal_local);
  next.zone = change.zone.value_or(current.zone);
  next.duration = change.duration.value_or(current.duration);
  KINDRED_ASSIGN_OR_RETURN(cal::RecurrenceRule rule,
                           calendar.ParseRule(change.rrule.value_or(current.rrule)));
  next.rrule = rule.text;
  KINDRED_ASSIGN_OR_RETURN(cal::Ritual changed, calendar.ChangeRule(old, from->key, next));

  const cal::UnixSeconds cut = changed.segments.back().effective_from;
  cal::ExpandOptions all;
  all.include_skipped = true;
  for (const auto& [occurrence, stamp] : facts.max_stamp) {
    const cal::UnixSeconds key = occurrence.second;
    const cal::OccurrenceState* state = facts.states.Find(old.id, key);
    if (key < cut || !state || state->Completions().empty()) continue;
    const cal::TimeWindow at{key, key + 1};
    KINDRED_ASSIGN_OR_RETURN(auto before, calendar.Expand(old, {}, at, all));
    KINDRED_ASSIGN_OR_RETURN(auto after, calendar.Expand(changed, {}, at, all));
    auto has_key = [&](const std::vector<cal::Occurrence>& v) {
      return std::any_of(v.begin(), v.end(),
                         [&](const cal::Occurrence& o) { return o.key == key; });
    };
    if (has_key(before) && !has_key(after)) {
      KINDRED_ASSIGN_OR_RETURN(cal::ZonedTime when, calendar.ToZone(key, before.front().zone));
      return Status::InvalidArgument(
          "the occurrence at " + cal::FormatIso8601(when) +
          " is already marked done, and a new rule from " + Describe(change.from) +
          " would no longer have it; choose a later occurrence for --from");
    }
  }
  return changed;
}

}  // namespace

Status Rituals::Edit(const std::string& id, const RitualEdit& edit) {
  KINDRED_ASSIGN_OR_RETURN(Located found, FindRitual(engine_, RitualSpaces(), id));
  cal::Ritual r = found.info.ritual;
  std::map<std::string, Value> fields;
  if (edit.rule) {
    if (edit.duration) {
      return Status::InvalidArgument("give the new rule's duration with the rule change");
    }
    KINDRED_ASSIGN_OR_RETURN(r, ApplyRuleChange(engine_, calendar_, found.space, r, *edit.rule));
    fields[kRule] = EncodeRule(r.segments);
  }
  if (edit.duration) {
    const cal::UnixSeconds now = NowSeconds(clock_);
    for (size_t i = 0; i < r.segments.size(); ++i) {
      // The segment in force now, and later ones.
      if (i + 1 == r.segments.size() || r.segments[i + 1].effective_from > now) {
        r.segments[i].duration = *edit.duration;
      }
    }
    fields[kRule] = EncodeRule(r.segments);
  }
  if (edit.title) {
    r.title = *edit.title;
    fields[kTitle] = r.title;
  }
  if (edit.description) {
    r.description = *edit.description;
    fields[kDescription] = r.description;
  }
  if (edit.visibility) {
    if (SpaceFor(*edit.visibility) != found.space) {
      return Status::FailedPrecondition(
          "changing a ritual's visibility across spaces is not supported yet");
    }
    r.visibility = *edit.visibility;
    fields[kShared] = r.visibility == cal::Visibility::kShared;
  }
  if (fields.empty()) return Status::InvalidArgument("nothing to change");
  KINDRED_RETURN_IF_ERROR(calendar_.ValidateRitual(r));
  return engine_.Commit(found.space, {Mutation::Update(kCollection, id, fields)}).status();
}

Status Rituals::Remove(const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("the ritual id is empty");
  // Not FindRitual: a ritual this code cannot read (a newer model, or what a
  // concurrent delete left) can still be removed.
  for (const SpaceId& space : RitualSpaces()) {
    auto r = engine_.Get(space, kCollection, id);
    if (r.status().code() == StatusCode::kNotFound) continue;
    KINDRED_RETURN_IF_ERROR(r.status());
    FactSet facts;
    KINDRED_RETURN_IF_ERROR(ReadRef(engine_, space, RitualRef(id), &facts));
    std::vector<Mutation> mutations{Mutation::Delete(kCollection, id)};
    for (const std::string& fact : facts.record_ids) {
      mutations.push_back(Mutation::Delete(kFactCollection, fact));
    }
    return engine_.Commit(space, mutations).status();
  }
  return Status::NotFound("no ritual with id " + id + " (see `kindred ritual list`)");
}

Result<RitualInfo> Rituals::Get(const std::string& id) {
  const auto spaces = RitualSpaces();
  KINDRED_ASSIGN_OR_RETURN(Located found, FindRitual(engine_, spaces, id));
  return std::move(found.info);
}

Result<std::vector<RitualInfo>> Rituals::List() {
  std::vector<RitualInfo> out;
  Status inner;
  std::set<std::string> seen;  // a ritual caught mid-move shows once
  for (const SpaceId& space : RitualSpaces()) {
    KINDRED_RETURN_IF_ERROR(engine_.Scan(space, kCollection, [&](const Record& r) {
      if (!seen.insert(r.id).second) return true;
      auto info = RitualFromRecord(engine_, r);
      if (info.ok()) {
        out.push_back(std::move(*info));
      } else if (info.status().code() != StatusCode::kFailedPrecondition) {
        inner = info.status();  // a newer model is left out; damage is not
        return false;
      }
      return true;
    }));
    KINDRED_RETURN_IF_ERROR(inner);
  }
  std::stable_sort(out.begin(), out.end(), [](const RitualInfo& a, const RitualInfo& b) {
    return std::tie(a.created_micros, a.ritual.id) < std::tie(b.created_micros, b.ritual.id);
  });
  return out;
}

Result<std::vector<OccurrenceView>> Rituals::Occurrences(calendar::TimeWindow window) {
  if (window.to <= window.from) return std::vector<OccurrenceView>{};
  if (window.to - window.from > kMaxWindowDays * kDay) {
    return Status::InvalidArgument("a window of more than " + std::to_string(kMaxWindowDays) +
                                   " days");
  }
  KINDRED_ASSIGN_OR_RETURN(std::vector<RitualInfo> infos, List());
  std::vector<cal::Ritual> rituals;
  std::map<std::string, const cal::Ritual*> by_id;
  rituals.reserve(infos.size());
  for (const RitualInfo& i : infos) rituals.push_back(i.ritual);
  for (const cal::Ritual& r : rituals) by_id[r.id] = &r;

  FactSet facts;
  const cal::UnixSeconds first_day = window.from - (((window.from % kDay) + kDay) % kDay);
  const cal::UnixSeconds days = (window.to - 1 - first_day) / kDay + 1;
  for (const SpaceId& space : RitualSpaces()) {
    // The facts of occurrences whose key falls on a day of the window, and of
    // moves to a day of the window; then every fact of each occurrence found
    // through a move whose key lies outside, so its latest state is known.
    std::vector<cal::OccurrenceFact> found;
    for (cal::UnixSeconds d = 0; d < days; ++d) {
      KINDRED_RETURN_IF_ERROR(
          ReadRef(engine_, space, DayRef(first_day + d * kDay), &facts, &found));
    }
    std::set<std::pair<std::string, cal::UnixSeconds>> outside;
    for (const cal::OccurrenceFact& f : found) {
      if (f.kind == cal::FactKind::kMoved &&
          (f.key < first_day || f.key >= first_day + days * kDay)) {
        outside.insert({f.ritual_id, f.key});
      }
    }
    for (const auto& [id, key] : outside) {
      KINDRED_RETURN_IF_ERROR(ReadRef(engine_, space, OccurrenceRef(id, key), &facts));
    }
  }
  cal::ExpandOptions options;
  options.include_skipped = true;
  KINDRED_ASSIGN_OR_RETURN(
      std::vector<cal::Occurrence> occurrences,
      calendar_.ExpandAll(rituals, facts.states.AllOverrides(), window, options));
  std::vector<OccurrenceView> out;
  out.reserve(occurrences.size());
  for (const cal::Occurrence& o : occurrences) {
    out.push_back(MakeView(o, *by_id.at(o.ritual_id), facts.states));
  }
  return out;
}

Result<std::vector<OccurrenceView>> Rituals::OccurrencesOf(const std::string& id,
                                                           calendar::TimeWindow window) {
  KINDRED_ASSIGN_OR_RETURN(Located found, FindRitual(engine_, RitualSpaces(), id));
  // Skips and moves of the ritual decide which occurrences there are; the
  // facts of those occurrences then give their completions.
  FactSet facts;
  KINDRED_RETURN_IF_ERROR(ReadRef(engine_, found.space, ScheduleRef(id), &facts));
  cal::ExpandOptions options;
  options.include_skipped = true;
  KINDRED_ASSIGN_OR_RETURN(
      std::vector<cal::Occurrence> occurrences,
      calendar_.Expand(found.info.ritual, facts.states.OverridesFor(id), window, options));
  if (occurrences.size() <= kMaxOccurrencesReadOneByOne) {
    for (const cal::Occurrence& o : occurrences) {
      KINDRED_RETURN_IF_ERROR(ReadRef(engine_, found.space, OccurrenceRef(id, o.key), &facts));
    }
  } else {
    KINDRED_RETURN_IF_ERROR(ReadRef(engine_, found.space, RitualRef(id), &facts));
  }
  std::vector<OccurrenceView> out;
  out.reserve(occurrences.size());
  for (const cal::Occurrence& o : occurrences)
    out.push_back(MakeView(o, found.info.ritual, facts.states));
  return out;
}

namespace {

// What one call of MarkDone/Undo/Skip/Move/Restore asks for.
struct FactRequest {
  cal::FactKind kind;
  std::optional<cal::DateTimeArg> at;
  std::string text;
  int mood = 0;
  std::optional<cal::DateTimeArg> to;  // kMoved
};

// Finds the occurrence (by `request.at`, else the one nearest to now),
// records one fact about it in the ritual's space, and returns it as it now
// stands.
Result<OccurrenceView> RecordFact(Engine& engine, cal::Calendar& calendar, Clock& clock,
                                  const std::vector<SpaceId>& spaces, const std::string& id,
                                  FactRequest request) {
  KINDRED_ASSIGN_OR_RETURN(Located found, FindRitual(engine, spaces, id));
  const cal::Ritual& ritual = found.info.ritual;
  FactSet schedule;
  KINDRED_RETURN_IF_ERROR(ReadRef(engine, found.space, ScheduleRef(id), &schedule));
  cal::OccurrenceOverrides overrides = schedule.states.OverridesFor(id);
  const cal::UnixSeconds now = NowSeconds(clock);

  Result<cal::Occurrence> occurrence = Status::NotFound("");
  if (request.at) {
    occurrence = calendar.FindOccurrence(ritual, overrides, *request.at);
    if (!occurrence.ok() && occurrence.status().code() == StatusCode::kNotFound) {
      std::string hint;
      if (auto near = calendar.Nearest(ritual, overrides, now); near.ok()) {
        hint = " (the one nearest to now starts at " + cal::FormatIso8601(near->start) + ")";
      }
      return Status::NotFound("'" + ritual.title + "' has no occurrence starting at " +
                              Describe(*request.at) + hint);
    }
  } else {
    occurrence = calendar.Nearest(ritual, overrides, now);
  }
  if (!occurrence.ok()) return occurrence.status();
  const cal::UnixSeconds key = occurrence->key;

  cal::OccurrenceFact fact;
  fact.ritual_id = id;
  fact.key = key;
  fact.kind = request.kind;
  fact.member = engine.device().member_name;
  fact.device = engine.device().id;
  fact.text = std::move(request.text);
  fact.mood = request.mood;
  if (request.kind == cal::FactKind::kDone) fact.at = now;
  if (request.kind == cal::FactKind::kMoved) {
    const cal::DateTimeArg& to = *request.to;
    if (!cal::IsValidCivilTime(to.local)) {
      return Status::InvalidArgument("--to " + Describe(to) + " is not a valid date and time");
    }
    if (to.utc_offset_seconds) {
      fact.at = cal::CivilAsIfUtc(to.local) - *to.utc_offset_seconds;
    } else {
      KINDRED_ASSIGN_OR_RETURN(cal::ResolvedTime resolved,
                               calendar.ResolveLocal(to.local, occurrence->zone));
      if (resolved.kind == cal::LocalTimeKind::kSkipped) {
        return Status::InvalidArgument("--to " + Describe(to) + " does not exist in " +
                                       occurrence->zone + ": the clocks jump forward over it");
      }
      fact.at = resolved.time.utc;
    }
    if (fact.at == key) {  // back to the rule's own time
      fact.kind = cal::FactKind::kRestored;
      fact.at = 0;
    }
  }

  // Every fact already here about this occurrence: the new one must come
  // after all of them, whatever this device's clock says.
  FactSet facts;
  KINDRED_RETURN_IF_ERROR(ReadRef(engine, found.space, OccurrenceRef(id, key), &facts));
  const int64_t now_micros = clock.NowMicros();
  fact.hlc = std::max<uint64_t>(now_micros > 0 ? static_cast<uint64_t>(now_micros) : 0,
                                facts.MaxStamp(id, key) + 1);
  KINDRED_RETURN_IF_ERROR(cal::ValidateFact(fact));
  KINDRED_ASSIGN_OR_RETURN(
      auto ids,
      engine.Commit(found.space, {Mutation::Create(Rituals::kFactCollection, FactFields(fact))}));
  (void)facts.states.Apply(fact);

  if (auto o = facts.states.Find(id, key) ? facts.states.Find(id, key)->Override() : std::nullopt) {
    overrides[key] = *o;
  } else {
    overrides.erase(key);
  }
  KINDRED_ASSIGN_OR_RETURN(cal::Occurrence now_standing,
                           calendar.FindOccurrence(ritual, overrides, AtInstant(key)));
  if (now_standing.key != key) now_standing = *occurrence;  // another occurrence sits there
  return MakeView(now_standing, ritual, facts.states);
}

}  // namespace

Result<OccurrenceView> Rituals::MarkDone(const std::string& id,
                                         const std::optional<calendar::DateTimeArg>& at,
                                         const std::string& note, int mood) {
  return RecordFact(engine_, calendar_, clock_, RitualSpaces(), id,
                    {cal::FactKind::kDone, at, note, mood, std::nullopt});
}

Result<OccurrenceView> Rituals::Undo(const std::string& id,
                                     const std::optional<calendar::DateTimeArg>& at) {
  return RecordFact(engine_, calendar_, clock_, RitualSpaces(), id,
                    {cal::FactKind::kUndone, at, "", 0, std::nullopt});
}

Result<OccurrenceView> Rituals::Skip(const std::string& id,
                                     const std::optional<calendar::DateTimeArg>& at,
                                     const std::string& reason) {
  return RecordFact(engine_, calendar_, clock_, RitualSpaces(), id,
                    {cal::FactKind::kSkipped, at, reason, 0, std::nullopt});
}

Result<OccurrenceView> Rituals::Move(const std::string& id,
                                     const std::optional<calendar::DateTimeArg>& at,
                                     const calendar::DateTimeArg& to) {
  return RecordFact(engine_, calendar_, clock_, RitualSpaces(), id,
                    {cal::FactKind::kMoved, at, "", 0, to});
}

Result<OccurrenceView> Rituals::Restore(const std::string& id,
                                        const std::optional<calendar::DateTimeArg>& at) {
  return RecordFact(engine_, calendar_, clock_, RitualSpaces(), id,
                    {cal::FactKind::kRestored, at, "", 0, std::nullopt});
}

Result<std::string> Rituals::ExportIcs() {
  KINDRED_ASSIGN_OR_RETURN(std::vector<RitualInfo> infos, List());
  std::vector<cal::Ritual> rituals;
  cal::OverridesByRitual overrides;
  for (const RitualInfo& info : infos) {
    FactSet facts;
    for (const SpaceId& space : RitualSpaces()) {  // the ritual's own, wherever it lives
      KINDRED_RETURN_IF_ERROR(ReadRef(engine_, space, ScheduleRef(info.ritual.id), &facts));
    }
    auto o = facts.states.OverridesFor(info.ritual.id);
    if (!o.empty()) overrides[info.ritual.id] = std::move(o);
    rituals.push_back(info.ritual);
  }
  cal::ExportOptions options;
  options.dtstamp = NowSeconds(clock_);
  return calendar_.ExportIcs(rituals, overrides, options);
}

Result<RitualImport> Rituals::ImportIcs(std::string_view ics, const std::string& floating_zone) {
  cal::ImportOptions options;
  options.floating_zone = floating_zone;
  KINDRED_ASSIGN_OR_RETURN(cal::ImportResult parsed, calendar_.ImportIcs(ics, options));
  RitualImport out;
  out.problems = std::move(parsed.problems);
  const auto spaces = RitualSpaces();
  std::map<SpaceId, std::vector<Mutation>> by_space;
  std::set<std::string> seen;
  const int64_t now_micros = std::max<int64_t>(clock_.NowMicros(), 0);
  for (cal::Ritual& r : parsed.rituals) {
    bool exists = !seen.insert(r.id).second;
    for (const SpaceId& space : spaces) {
      if (exists) break;
      auto got = engine_.Get(space, kCollection, r.id, /*include_deleted=*/true);
      if (got.ok())
        exists = true;
      else if (got.status().code() != StatusCode::kNotFound)
        return got.status();
    }
    if (exists) {
      out.already_here.push_back(r.id);
      continue;
    }
    auto valid = calendar_.ValidateRitual(r);
    if (!valid.ok()) {
      out.problems.push_back({0, r.id, r.title, valid.message()});
      continue;
    }
    std::vector<Mutation>& mutations = by_space[SpaceFor(r.visibility)];
    Mutation m = Mutation::Create(kCollection, RitualFields(r));
    m.id = r.id;
    mutations.push_back(std::move(m));
    out.imported.push_back(r.id);
    auto overrides = parsed.overrides.find(r.id);
    if (overrides == parsed.overrides.end()) continue;
    for (const auto& [key, o] : overrides->second) {
      cal::OccurrenceFact f;
      f.ritual_id = r.id;
      f.key = key;
      f.member = engine_.device().member_name;
      f.device = engine_.device().id;
      f.hlc = static_cast<uint64_t>(now_micros);
      if (o.kind == cal::OccurrenceOverride::Kind::kSkipped) {
        f.kind = cal::FactKind::kSkipped;
        f.text = o.reason.substr(0, cal::kMaxFactTextBytes);
      } else {
        f.kind = cal::FactKind::kMoved;
        f.at = o.moved_to;
      }
      if (!cal::ValidateFact(f).ok()) continue;
      mutations.push_back(Mutation::Create(kFactCollection, FactFields(f)));
      ++out.facts;
    }
  }
  // One atomic commit per space (today there is one space).
  for (const auto& [space, mutations] : by_space) {
    KINDRED_RETURN_IF_ERROR(engine_.Commit(space, mutations).status());
  }
  return out;
}

Result<size_t> Rituals::MoveSharedRituals(bool only_this_device) {
  auto shared = engine_.SharedSpace();
  if (!shared || engine_.SpaceEnded(*shared)) return size_t{0};
  const SpaceId personal = engine_.device().personal_space;
  std::vector<Record> moving;
  KINDRED_RETURN_IF_ERROR(engine_.Scan(personal, kCollection, [&](const Record& r) {
    if (r.Flag(kShared, true) && (!only_this_device || r.created_by == engine_.device().id)) {
      moving.push_back(r);
    }
    return true;
  }));
  RecordMove move(engine_, personal, *shared);
  for (Record& r : moving) {
    // Its facts go with it, keeping their ids (each is written once, never changed).
    std::vector<Record> facts;
    KINDRED_RETURN_IF_ERROR(engine_.ScanByListItem(personal, kFactCollection, kRefs,
                                                   RitualRef(r.id), [&](const Record& f) {
                                                     facts.push_back(f);
                                                     return true;
                                                   }));
    KINDRED_RETURN_IF_ERROR(move.Add(std::move(r)));
    for (Record& f : facts) KINDRED_RETURN_IF_ERROR(move.Add(std::move(f)));
  }
  KINDRED_RETURN_IF_ERROR(move.Commit().status());
  return moving.size();
}

Result<std::vector<std::string>> Rituals::Members() {
  const std::string& me = engine_.device().member_name;
  std::vector<std::string> out{me};
  std::set<std::string> others;
  const auto spaces = RitualSpaces();
  KINDRED_ASSIGN_OR_RETURN(std::vector<SpaceSummary> summaries, engine_.Spaces());
  for (const SpaceSummary& s : summaries) {
    if (std::find(spaces.begin(), spaces.end(), s.id) == spaces.end()) continue;
    for (const auto& [device, seq] : s.version_vector) {
      std::string name = engine_.MemberName(device);
      if (!name.empty() && name != me) others.insert(std::move(name));
    }
  }
  out.insert(out.end(), others.begin(), others.end());
  return out;
}

}  // namespace kindred
