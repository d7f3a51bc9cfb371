#include "kindred/journal.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>
#include <nlohmann/json.hpp>

#include "kindred/record_move.h"
#include "kindred/timefmt.h"

namespace kindred {
namespace {

using nlohmann::json;

constexpr char kText[] = "text";
constexpr char kMood[] = "mood";
constexpr char kTags[] = "tags";
constexpr char kShared[] = "shared";
constexpr char kCreatedAt[] = "created_at";

std::map<std::string, Value> Fields(const NewEntry& e) {
  std::map<std::string, Value> f;
  f[kText] = e.text;
  if (e.mood) f[kMood] = static_cast<int64_t>(*e.mood);
  if (!e.tags.empty()) f[kTags] = e.tags;
  f[kShared] = e.visibility == Visibility::kShared;
  if (e.created_micros) f[kCreatedAt] = *e.created_micros;
  return f;
}

// Parses one JSON Lines entry. Errors name the field, never echo the text.
Result<NewEntry> ParseLine(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("expected a JSON object");
  NewEntry e;
  auto text = j.find("text");
  if (text == j.end() || !text->is_string()) return Status::InvalidArgument("\"text\" must be a string");
  e.text = text->get<std::string>();
  if (auto it = j.find("id"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return Status::InvalidArgument("\"id\" must be a string");
    e.id = it->get<std::string>();
  }
  if (auto it = j.find("mood"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Status::InvalidArgument("\"mood\" must be a whole number from 1 to 5");
    e.mood = it->get<int>();
  }
  if (auto it = j.find("tags"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Status::InvalidArgument("\"tags\" must be an array of strings");
    for (const auto& t : *it) {
      if (!t.is_string()) return Status::InvalidArgument("\"tags\" must be an array of strings");
      e.tags.push_back(t.get<std::string>());
    }
  }
  if (auto it = j.find("visibility"); it != j.end() && !it->is_null()) {
    std::string v = it->is_string() ? it->get<std::string>() : "";
    if (v == "shared") e.visibility = Visibility::kShared;
    else if (v == "private") e.visibility = Visibility::kPrivate;
    else return Status::InvalidArgument("\"visibility\" must be \"private\" or \"shared\"");
  }
  if (auto it = j.find("created"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return Status::InvalidArgument("\"created\" must be an ISO 8601 time");
    KINDRED_ASSIGN_OR_RETURN(int64_t t, ParseIsoTime(it->get<std::string>()));
    e.created_micros = t;
  }
  KINDRED_RETURN_IF_ERROR(Journal::Validate(e));
  return e;
}

}  // namespace

std::string_view VisibilityName(Visibility v) {
  return v == Visibility::kShared ? "shared" : "private";
}

Status Journal::Validate(const NewEntry& e) {
  if (e.text.empty()) return Status::InvalidArgument("the entry's text is empty");
  if (e.text.size() > kMaxTextBytes) {
    return Status::InvalidArgument("the entry's text is longer than 64 KiB");
  }
  if (e.mood && (*e.mood < 1 || *e.mood > 5)) {
    return Status::InvalidArgument("mood must be from 1 to 5, got " + std::to_string(*e.mood));
  }
  for (const auto& t : e.tags) {
    if (t.empty()) return Status::InvalidArgument("a tag is empty");
    if (t.size() > 64) return Status::InvalidArgument("a tag is longer than 64 bytes");
  }
  if (!e.id.empty()) {
    if (e.id.size() > 64) return Status::InvalidArgument("an id is longer than 64 characters");
    for (char c : e.id) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return Status::InvalidArgument("an id may only hold letters, digits, '-' and '_'");
      }
    }
  }
  return Status::Ok();
}

SpaceId Journal::SpaceFor(Visibility visibility) const {
  // Until a partner is paired every entry lives in the personal space;
  // shared entries carry the flag and move to the shared space at pairing
  // (MoveSharedEntries). Private entries never leave the personal space.
  if (visibility == Visibility::kShared) {
    if (auto shared = engine_.SharedSpace()) return *shared;
  }
  return engine_.device().personal_space;
}

std::vector<SpaceId> Journal::ReadSpaces() const {
  std::vector<SpaceId> out = engine_.SharedSpaces();
  out.push_back(engine_.device().personal_space);
  return out;
}

Result<SpaceId> Journal::SpaceOf(const std::string& id) {
  for (const SpaceId& space : ReadSpaces()) {
    auto record = engine_.Get(space, kCollection, id);
    if (record.ok()) return space;
    if (record.status().code() != StatusCode::kNotFound) return record.status();
  }
  return Status::NotFound("no journal entry with id " + id);
}

Result<size_t> Journal::MoveSharedEntries(bool only_this_device) {
  auto shared = engine_.SharedSpace();
  if (!shared || engine_.SpaceEnded(*shared)) return size_t{0};
  const SpaceId personal = engine_.device().personal_space;
  std::vector<Record> moving;
  KINDRED_RETURN_IF_ERROR(engine_.Scan(personal, kCollection, [&](const Record& r) {
    if (r.Flag(kShared) && (!only_this_device || r.created_by == engine_.device().id)) {
      moving.push_back(r);
    }
    return true;
  }));
  RecordMove move(engine_, personal, *shared);
  for (Record& r : moving) {
    // The copy keeps the time the entry was written.
    r.fields[kCreatedAt] = r.Int(kCreatedAt).value_or(r.created_micros);
    KINDRED_RETURN_IF_ERROR(move.Add(std::move(r)));
  }
  return move.Commit();
}

Result<std::string> Journal::Add(const NewEntry& entry) {
  KINDRED_ASSIGN_OR_RETURN(auto ids, AddMany({entry}));
  return ids.front();
}

Result<std::vector<std::string>> Journal::AddMany(const std::vector<NewEntry>& entries) {
  // One atomic commit per space: private entries to the personal space,
  // shared ones to the shared space (once paired).
  std::map<SpaceId, std::vector<Mutation>> by_space;
  std::vector<std::pair<SpaceId, size_t>> order;  // where each entry's id will be
  for (const auto& e : entries) {
    KINDRED_RETURN_IF_ERROR(Validate(e));
    Mutation m = Mutation::Create(kCollection, Fields(e));
    m.id = e.id;
    const SpaceId space = SpaceFor(e.visibility);
    std::vector<Mutation>& mutations = by_space[space];
    order.emplace_back(space, mutations.size());
    mutations.push_back(std::move(m));
  }
  std::map<SpaceId, std::vector<std::string>> ids;
  for (const auto& [space, mutations] : by_space) {
    KINDRED_ASSIGN_OR_RETURN(ids[space], engine_.Commit(space, mutations));
  }
  std::vector<std::string> out;
  out.reserve(order.size());
  for (const auto& [space, index] : order) out.push_back(ids[space][index]);
  return out;
}

Status Journal::Edit(const std::string& id, const std::string& text) {
  NewEntry probe;
  probe.text = text;
  KINDRED_RETURN_IF_ERROR(Validate(probe));
  auto space = SpaceOf(id);
  if (!space.ok()) {
    // The engine's own message for an unknown or deleted record.
    if (space.status().code() != StatusCode::kNotFound) return space.status();
    space = engine_.device().personal_space;
  }
  return engine_.Commit(*space, {Mutation::Update(kCollection, id, {{kText, text}})}).status();
}

Status Journal::Remove(const std::string& id, bool purge) {
  Mutation m = purge ? Mutation::Purge(kCollection, id) : Mutation::Delete(kCollection, id);
  auto space = SpaceOf(id);
  if (!space.ok()) {
    if (space.status().code() != StatusCode::kNotFound) return space.status();
    space = engine_.device().personal_space;
  }
  return engine_.Commit(*space, {m}).status();
}

Result<JournalEntry> Journal::FromRecord(const Record& r) {
  JournalEntry e;
  e.id = r.id;
  e.text = r.Text(kText);
  if (auto mood = r.Int(kMood)) e.mood = static_cast<int>(*mood);
  e.tags = r.List(kTags);
  e.visibility = r.Flag(kShared) ? Visibility::kShared : Visibility::kPrivate;
  e.device = r.created_by;
  e.author = engine_.MemberName(r.created_by);
  e.created_micros = r.Int(kCreatedAt).value_or(r.created_micros);
  e.created_hlc = r.created_hlc;
  e.edited_micros = std::max(r.edited_micros, e.created_micros);
  auto conflict = r.conflicts.find(kText);
  if (conflict != r.conflicts.end()) {
    e.conflict = true;
    for (const auto& v : conflict->second) {
      if (auto* s = std::get_if<std::string>(&v.value)) e.versions.push_back(*s);
    }
  }
  return e;
}

Result<JournalEntry> Journal::Show(const std::string& id) {
  KINDRED_ASSIGN_OR_RETURN(SpaceId space, SpaceOf(id));
  KINDRED_ASSIGN_OR_RETURN(Record record, engine_.Get(space, kCollection, id));
  return FromRecord(record);
}

Result<std::vector<JournalEntry>> Journal::List(const JournalFilter& filter) {
  std::vector<JournalEntry> out;
  Status inner;
  auto visit = [&](const Record& r) {
    auto e = FromRecord(r);
    if (!e.ok()) {
      inner = e.status();
      return false;
    }
    if (filter.visibility && e->visibility != *filter.visibility) return true;
    if (filter.since_micros && e->created_micros < *filter.since_micros) return true;
    out.push_back(std::move(*e));
    return true;
  };
  std::set<std::string> seen;  // an entry caught mid-move shows once
  for (const SpaceId& space : ReadSpaces()) {
    auto visit_once = [&](const Record& r) { return !seen.insert(r.id).second || visit(r); };
    Status s = filter.tag
                   ? engine_.ScanByListItem(space, kCollection, kTags, *filter.tag, visit_once)
                   : engine_.Scan(space, kCollection, visit_once);
    KINDRED_RETURN_IF_ERROR(s);
    KINDRED_RETURN_IF_ERROR(inner);
  }
  std::stable_sort(out.begin(), out.end(), [](const JournalEntry& a, const JournalEntry& b) {
    return std::tie(a.created_micros, a.created_hlc, a.id) <
           std::tie(b.created_micros, b.created_hlc, b.id);
  });
  return out;
}

Result<ImportStats> Journal::Import(std::istream& input, uint64_t total_bytes,
                                    const ProgressFn& progress, size_t batch_size) {
  ImportStats stats;
  std::string line;
  // First pass: check every line, so a bad one changes nothing.
  std::streampos start = input.tellg();
  bool seekable = start != std::streampos(-1);
  if (seekable) {
    uint64_t number = 0;
    while (std::getline(input, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto parsed = ParseLine(line);
      if (!parsed.ok()) {
        return Status::InvalidArgument("line " + std::to_string(number) + ": " +
                                       parsed.status().message() + " (nothing was imported)");
      }
    }
    input.clear();
    input.seekg(start);
  }
  // Second pass: commit in batches.
  const std::vector<SpaceId> spaces = ReadSpaces();
  std::vector<NewEntry> batch;
  std::unordered_set<std::string> batch_ids;
  uint64_t number = 0, bytes = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    KINDRED_ASSIGN_OR_RETURN(auto ids, AddMany(batch));
    stats.imported += ids.size();
    batch.clear();
    batch_ids.clear();
    if (progress) progress(bytes, total_bytes);
    return Status::Ok();
  };
  while (std::getline(input, line)) {
    ++number;
    bytes += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = ParseLine(line);
    if (!parsed.ok()) {
      return Status::InvalidArgument("line " + std::to_string(number) + ": " +
                                     parsed.status().message() + "; " +
                                     std::to_string(stats.imported) + " entries before it were imported");
    }
    if (!parsed->id.empty()) {
      bool exists = false;
      for (const SpaceId& space : spaces) {
        auto existing = engine_.Get(space, kCollection, parsed->id, /*include_deleted=*/true);
        if (existing.ok()) {
          exists = true;
          break;
        }
        if (existing.status().code() != StatusCode::kNotFound) return existing.status();
      }
      if (exists) {
        ++stats.skipped;
        continue;
      }
      if (!batch_ids.insert(parsed->id).second) {  // the same id twice in one batch
        ++stats.skipped;
        continue;
      }
    }
    batch.push_back(std::move(*parsed));
    if (batch.size() >= batch_size) KINDRED_RETURN_IF_ERROR(flush());
  }
  if (input.bad()) return Status::IOError("reading the import failed");
  KINDRED_RETURN_IF_ERROR(flush());
  if (progress) progress(total_bytes, total_bytes);
  return stats;
}

std::string Journal::ToJson(const JournalEntry& e) {
  json j;
  j["id"] = e.id;
  j["text"] = e.text;
  j["mood"] = e.mood ? json(*e.mood) : json(nullptr);
  j["tags"] = e.tags;
  j["visibility"] = std::string(VisibilityName(e.visibility));
  j["author"] = e.author;
  j["device"] = e.device.ToString();
  j["created"] = FormatIsoLocal(e.created_micros);
  j["edited"] = FormatIsoLocal(e.edited_micros);
  j["conflict"] = e.conflict;
  if (e.conflict) j["versions"] = e.versions;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status Journal::Export(std::ostream& out) {
  KINDRED_ASSIGN_OR_RETURN(auto entries, List({}));
  for (const auto& e : entries) out << ToJson(e) << '\n';
  out.flush();
  if (!out) return Status::IOError("writing the export failed");
  return Status::Ok();
}

}  // namespace kindred
