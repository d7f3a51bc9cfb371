#include "engine/plugin/records.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <vector>

namespace kindred::plugin {
namespace {

using nlohmann::json;

void ToProto(const Value& v, pv1::Value* out) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    out->set_text(*s);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    out->set_integer(*i);
  } else if (const auto* l = std::get_if<std::vector<std::string>>(&v)) {
    auto* list = out->mutable_list();
    for (const auto& item : *l) list->add_items(item);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out->set_flag(*b);
  }
}

Result<Value> FromProto(const pv1::Value& v) {
  switch (v.kind_case()) {
    case pv1::Value::kText:
      return Value(v.text());
    case pv1::Value::kInteger:
      return Value(v.integer());
    case pv1::Value::kList:
      return Value(std::vector<std::string>(v.list().items().begin(), v.list().items().end()));
    case pv1::Value::kFlag:
      return Value(v.flag());
    default:
      return Value(std::monostate{});
  }
}

// The parts of a per-device field: device hex -> engine value.
std::map<std::string, const Value*> Parts(const Record& r, const std::string& field) {
  std::map<std::string, const Value*> out;
  const std::string prefix = field + "#";
  for (auto it = r.fields.lower_bound(prefix);
       it != r.fields.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    out[it->first.substr(prefix.size())] = &it->second;
  }
  return out;
}

std::string TextOf(const Value* v) {
  const auto* s = v ? std::get_if<std::string>(v) : nullptr;
  return s ? *s : "";
}

struct SetPart {
  std::vector<std::pair<std::string, std::string>> adds;  // (tag, item)
  std::vector<std::string> removes;                       // tags
};

SetPart ParseSetPart(const std::string& text) {
  SetPart part;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return part;
  if (auto a = j.find("a"); a != j.end() && a->is_array()) {
    for (const auto& e : *a) {
      if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        part.adds.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      }
    }
  }
  if (auto r = j.find("r"); r != j.end() && r->is_array()) {
    for (const auto& e : *r) {
      if (e.is_string()) part.removes.push_back(e.get<std::string>());
    }
  }
  return part;
}

std::string EncodeSetPart(const SetPart& part) {
  json a = json::array(), r = json::array();
  for (const auto& [tag, item] : part.adds) a.push_back({tag, item});
  for (const auto& tag : part.removes) r.push_back(tag);
  return json{{"a", a}, {"r", r}}.dump();
}

using AppendPart = std::vector<std::pair<int64_t, std::string>>;

AppendPart ParseAppendPart(const std::string& text) {
  AppendPart part;
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return part;
  for (const auto& e : j) {
    if (e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_string()) {
      part.emplace_back(e[0].get<int64_t>(), e[1].get<std::string>());
    }
  }
  return part;
}

std::string EncodeAppendPart(const AppendPart& part) {
  json out = json::array();
  for (const auto& [micros, item] : part) out.push_back({micros, item});
  return out.dump();
}

std::vector<std::string> MergedSet(const Record& r, const std::string& field) {
  std::set<std::string> removed;
  std::vector<std::pair<std::string, std::string>> adds;
  for (const auto& [device, value] : Parts(r, field)) {
    SetPart part = ParseSetPart(TextOf(value));
    removed.insert(part.removes.begin(), part.removes.end());
    adds.insert(adds.end(), part.adds.begin(), part.adds.end());
  }
  std::set<std::string> items;
  for (const auto& [tag, item] : adds) {
    if (!removed.count(tag)) items.insert(item);
  }
  return {items.begin(), items.end()};
}

std::vector<std::string> MergedAppend(const Record& r, const std::string& field) {
  std::vector<std::tuple<int64_t, std::string, size_t, std::string>> all;
  for (const auto& [device, value] : Parts(r, field)) {
    AppendPart part = ParseAppendPart(TextOf(value));
    for (size_t i = 0; i < part.size(); ++i)
      all.emplace_back(part[i].first, device, i, part[i].second);
  }
  std::sort(all.begin(), all.end());
  std::vector<std::string> out;
  for (auto& e : all) out.push_back(std::move(std::get<3>(e)));
  return out;
}

int64_t MergedCounter(const Record& r, const std::string& field) {
  int64_t sum = 0;
  for (const auto& [device, value] : Parts(r, field)) {
    if (const auto* i = std::get_if<int64_t>(value)) sum += *i;
  }
  return sum;
}

Status Denied(const std::string& what) { return Status::PermissionDenied(what); }

}  // namespace

std::string PartField(const std::string& field, const DeviceId& device) {
  return field + "#" + ToHex(device.bytes());
}

bool PluginRecordIsShared(const Record& record) { return record.Flag(kSharedField); }

pv1::Record ToPluginRecord(const Record& r, const pv1::CollectionSpec* spec,
                           const std::string& shown_collection, const std::string& author) {
  pv1::Record out;
  out.set_collection(shown_collection);
  out.set_id(r.id);
  out.set_author(author);
  out.set_device(r.created_by.ToString());
  out.set_created_micros(r.created_micros);
  out.set_edited_micros(r.edited_micros);
  out.set_deleted(r.deleted);
  if (spec == nullptr) {
    out.set_shared(r.Flag("shared") || r.Flag(kSharedField));
    for (const auto& [name, value] : r.fields) {
      auto* f = out.add_fields();
      f->set_name(name);
      ToProto(value, f->mutable_value());
      auto c = r.conflicts.find(name);
      if (c != r.conflicts.end() && c->second.size() > 1) {
        for (const auto& v : c->second) {
          if (const auto* s = std::get_if<std::string>(&v.value)) f->add_versions(*s);
        }
      }
    }
    return out;
  }
  out.set_shared(PluginRecordIsShared(r));
  for (const auto& fs : spec->fields()) {
    pv1::Field field;
    field.set_name(fs.name());
    switch (fs.rule()) {
      case pv1::MERGE_RULE_LAST_WRITER_WINS:
      case pv1::MERGE_RULE_KEEP_BOTH: {
        auto it = r.fields.find(fs.name());
        if (it == r.fields.end()) continue;
        ToProto(it->second, field.mutable_value());
        auto c = r.conflicts.find(fs.name());
        if (fs.rule() == pv1::MERGE_RULE_KEEP_BOTH && c != r.conflicts.end() &&
            c->second.size() > 1) {
          for (const auto& v : c->second) {
            if (const auto* s = std::get_if<std::string>(&v.value)) field.add_versions(*s);
          }
        }
        break;
      }
      case pv1::MERGE_RULE_COUNTER:
        field.mutable_value()->set_integer(MergedCounter(r, fs.name()));
        break;
      case pv1::MERGE_RULE_ADD_WINS_SET: {
        auto* list = field.mutable_value()->mutable_list();
        for (auto& item : MergedSet(r, fs.name())) list->add_items(std::move(item));
        break;
      }
      case pv1::MERGE_RULE_APPEND_ONLY: {
        auto* list = field.mutable_value()->mutable_list();
        for (auto& item : MergedAppend(r, fs.name())) list->add_items(std::move(item));
        break;
      }
      default:
        continue;
    }
    *out.add_fields() = std::move(field);
  }
  return out;
}

Result<Mutation> ToMutation(const pv1::Change& change, const std::string& engine_collection,
                            const pv1::CollectionSpec& spec, const DeviceId& device,
                            int64_t now_micros, const Record* current) {
  if (change.kind() == pv1::CHANGE_KIND_DELETE) {
    if (change.id().empty()) return Status::InvalidArgument("a delete names no record");
    if (change.writes_size() > 0) return Status::InvalidArgument("a delete carries writes");
    return Mutation::Delete(engine_collection, change.id());
  }
  const bool create = change.kind() == pv1::CHANGE_KIND_CREATE;
  if (!create && change.kind() != pv1::CHANGE_KIND_UPDATE) {
    return Status::InvalidArgument("a change has no kind (create, update or delete)");
  }
  if (!create && change.id().empty()) return Status::InvalidArgument("an update names no record");
  if (create && !change.id().empty())
    return Status::InvalidArgument("a create names an id; the engine gives one");

  std::map<std::string, Value> fields;
  if (create)
    fields[kSharedField] = change.visibility() == pv1::VISIBILITY_SHARED;
  else if (change.visibility() != pv1::VISIBILITY_UNCHANGED)
    fields[kSharedField] = change.visibility() == pv1::VISIBILITY_SHARED;

  // Per-device parts being built, starting from what this device wrote before.
  std::map<std::string, SetPart> sets;
  std::map<std::string, AppendPart> appends;
  std::map<std::string, int64_t> counters;
  auto own_value = [&](const std::string& name) -> const Value* {
    if (current == nullptr) return nullptr;
    auto it = current->fields.find(PartField(name, device));
    return it == current->fields.end() ? nullptr : &it->second;
  };

  for (const auto& w : change.writes()) {
    const pv1::FieldSpec* fs = nullptr;
    for (const auto& f : spec.fields()) {
      if (f.name() == w.name()) fs = &f;
    }
    if (fs == nullptr)
      return Denied("wrote the field " + w.name().substr(0, 64) +
                    ", which the manifest does not declare for " + spec.name());
    const bool has_set = w.has_set() && w.set().kind_case() != pv1::Value::KIND_NOT_SET;
    const bool has_items = w.add_items_size() > 0 || w.remove_items_size() > 0;
    const std::string what =
        spec.name() + "." + w.name() + " (" + std::string(MergeRuleName(fs->rule())) + ")";
    switch (fs->rule()) {
      case pv1::MERGE_RULE_LAST_WRITER_WINS:
      case pv1::MERGE_RULE_KEEP_BOTH: {
        if (!has_set || has_items || w.add() != 0)
          return Denied("wrote " + what + " other than by setting its value");
        if (fs->rule() == pv1::MERGE_RULE_KEEP_BOTH && !w.set().has_text()) {
          return Status::InvalidArgument("set " + what + " to a value that is not text");
        }
        KINDRED_ASSIGN_OR_RETURN(fields[w.name()], FromProto(w.set()));
        break;
      }
      case pv1::MERGE_RULE_COUNTER: {
        if (has_set || has_items) return Denied("wrote " + what + " other than by adding to it");
        auto [it, fresh] = counters.try_emplace(w.name(), 0);
        if (fresh) {
          const Value* old = own_value(w.name());
          if (const auto* i = old ? std::get_if<int64_t>(old) : nullptr) it->second = *i;
        }
        it->second += w.add();
        break;
      }
      case pv1::MERGE_RULE_ADD_WINS_SET: {
        if (has_set || w.add() != 0)
          return Denied("wrote " + what + " other than by adding or removing items");
        auto [it, fresh] = sets.try_emplace(w.name());
        if (fresh) it->second = ParseSetPart(TextOf(own_value(w.name())));
        SetPart& part = it->second;
        if (w.remove_items_size() > 0) {
          // Remove every tag of the item this device has seen, from any device.
          std::set<std::string> gone(w.remove_items().begin(), w.remove_items().end());
          if (current != nullptr) {
            for (const auto& [dev, value] : Parts(*current, w.name())) {
              for (const auto& [tag, item] : ParseSetPart(TextOf(value)).adds) {
                if (gone.count(item)) part.removes.push_back(tag);
              }
            }
          }
          for (const auto& [tag, item] : part.adds) {
            if (gone.count(item)) part.removes.push_back(tag);
          }
          std::sort(part.removes.begin(), part.removes.end());
          part.removes.erase(std::unique(part.removes.begin(), part.removes.end()),
                             part.removes.end());
        }
        const std::string device_hex = ToHex(device.bytes()).substr(0, 8);
        for (const auto& item : w.add_items()) {
          part.adds.emplace_back(device_hex + "." + std::to_string(part.adds.size() + 1), item);
        }
        break;
      }
      case pv1::MERGE_RULE_APPEND_ONLY: {
        if (has_set || w.add() != 0 || w.remove_items_size() > 0)
          return Denied("wrote " + what + " other than by appending");
        auto [it, fresh] = appends.try_emplace(w.name());
        if (fresh) it->second = ParseAppendPart(TextOf(own_value(w.name())));
        for (const auto& item : w.add_items()) it->second.emplace_back(now_micros, item);
        break;
      }
      default:
        return Status::Internal("a field with no merge rule");
    }
  }
  for (const auto& [name, total] : counters) fields[PartField(name, device)] = total;
  for (const auto& [name, part] : sets) fields[PartField(name, device)] = EncodeSetPart(part);
  for (const auto& [name, part] : appends) fields[PartField(name, device)] = EncodeAppendPart(part);

  if (create) return Mutation::Create(engine_collection, std::move(fields));
  if (fields.empty()) return Status::InvalidArgument("an update changes nothing");
  return Mutation::Update(engine_collection, change.id(), std::move(fields));
}

}  // namespace kindred::plugin
