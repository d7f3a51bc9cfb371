#include "engine/log/merge.h"

#include <algorithm>
#include <utility>


namespace kindred::log {
namespace {

using DotList = google::protobuf::RepeatedPtrField<v1::Dot>;

bool Contains(const DotList& dots, const v1::Dot& dot) {
  auto it = std::lower_bound(dots.begin(), dots.end(), dot, DotLess);
  return it != dots.end() && DotEqual(*it, dot);
}

// Inserts `dot` keeping `dots` sorted and unique. Returns false if present.
bool InsertSorted(DotList* dots, const v1::Dot& dot) {
  auto it = std::lower_bound(dots->begin(), dots->end(), dot, DotLess);
  if (it != dots->end() && DotEqual(*it, dot)) return false;
  int index = static_cast<int>(it - dots->begin());
  *dots->Add() = dot;
  for (int i = dots->size() - 1; i > index; --i) dots->SwapElements(i, i - 1);
  return true;
}

// Adds a version (dot, hlc) to `list`, kept sorted by (hlc, dot), and
// returns it so the caller can fill in the value in place (no copy of a
// temporary: values can be long texts).
v1::FieldVersion* AddVersion(google::protobuf::RepeatedPtrField<v1::FieldVersion>* list,
                             const v1::Dot& dot, uint64_t hlc) {
  auto it = std::lower_bound(list->begin(), list->end(), std::make_pair(hlc, &dot),
                             [](const v1::FieldVersion& v, const std::pair<uint64_t, const v1::Dot*>& key) {
                               if (v.hlc() != key.first) return v.hlc() < key.first;
                               return DotLess(v.dot(), *key.second);
                             });
  int index = static_cast<int>(it - list->begin());
  v1::FieldVersion* added = list->Add();
  *added->mutable_dot() = dot;
  added->set_hlc(hlc);
  for (int i = list->size() - 1; i > index; --i) list->SwapElements(i, i - 1);
  return list->Mutable(index);
}

v1::FieldState* FindOrAddField(v1::RecordState* state, const std::string& name) {
  auto* fields = state->mutable_fields();
  auto it = std::lower_bound(fields->begin(), fields->end(), name,
                             [](const v1::FieldState& f, const std::string& n) { return f.name() < n; });
  if (it != fields->end() && it->name() == name) return &*it;
  int index = static_cast<int>(it - fields->begin());
  v1::FieldState* added = fields->Add();
  added->set_name(name);
  for (int i = fields->size() - 1; i > index; --i) fields->SwapElements(i, i - 1);
  return fields->Mutable(index);
}

void DropLive(v1::FieldState* field, const DotList& gone) {
  auto* live = field->mutable_live();
  for (int i = live->size() - 1; i >= 0; --i) {
    if (Contains(gone, live->Get(i).dot())) live->DeleteSubrange(i, 1);
  }
}

DotList Sorted(const DotList& dots) {
  DotList out;
  for (const auto& d : dots) InsertSorted(&out, d);
  return out;
}

// True when `write` names its fields in strictly increasing order and
// supersedes nothing.
bool FieldsInOrderWithoutSupersedes(const v1::RecordWrite& write) {
  for (int i = 0; i < write.fields_size(); ++i) {
    if (!write.fields(i).supersedes().empty()) return false;
    if (i > 0 && !(write.fields(i - 1).name() < write.fields(i).name())) return false;
  }
  return true;
}

// Records that op `dot` at `hlc` touched the record. False if seen before.
bool Touch(const v1::Dot& dot, uint64_t hlc, v1::RecordState* state) {
  if (!InsertSorted(state->mutable_ops(), dot)) return false;
  bool first = state->ops_size() == 1;
  if (first || hlc < state->created_hlc() ||
      (hlc == state->created_hlc() && DotLess(dot, state->created()))) {
    state->set_created_hlc(hlc);
    *state->mutable_created() = dot;
  }
  state->set_edited_hlc(std::max(state->edited_hlc(), hlc));
  return true;
}

}  // namespace

bool DotLess(const v1::Dot& a, const v1::Dot& b) {
  if (a.device() != b.device()) return a.device() < b.device();
  return a.seq() < b.seq();
}
bool DotEqual(const v1::Dot& a, const v1::Dot& b) {
  return a.seq() == b.seq() && a.device() == b.device();
}

namespace {

// ApplyWrite's body; take_value(i, into) gives `into` the value of the
// write's field i (copied, or moved out of the write).
template <typename TakeValue>
void ApplyWriteWith(const v1::Dot& dot, uint64_t hlc, const v1::RecordWrite& write,
                    v1::RecordState* state, const TakeValue& take_value) {
  if (!Touch(dot, hlc, state)) return;
  if (state->format() == 0) state->set_format(1);
  if (state->collection().empty()) state->set_collection(write.collection());
  if (state->ops_size() == 1 && state->fields_size() == 0 && state->removed_size() == 0 &&
      FieldsInOrderWithoutSupersedes(write)) {
    // The first write of a record, fields named in order, superseding
    // nothing (every create): the loop below would append each field with
    // one live version, in turn. Build that directly; same bytes.
    state->mutable_fields()->Reserve(write.fields_size());
    for (int i = 0; i < write.fields_size(); ++i) {
      v1::FieldState* field = state->add_fields();
      field->set_name(write.fields(i).name());
      v1::FieldVersion* version = field->add_live();
      *version->mutable_dot() = dot;
      version->set_hlc(hlc);
      take_value(i, version->mutable_value());
    }
    return;
  }
  for (int i = 0; i < write.fields_size(); ++i) {
    const v1::FieldWrite& fw = write.fields(i);
    v1::FieldState* field = FindOrAddField(state, fw.name());
    DotList gone = Sorted(fw.supersedes());
    DropLive(field, gone);
    for (const auto& d : gone) InsertSorted(field->mutable_superseded(), d);
    if (Contains(field->superseded(), dot) || Contains(state->removed(), dot)) continue;
    take_value(i, AddVersion(field->mutable_live(), dot, hlc)->mutable_value());
  }
}

}  // namespace

void ApplyWrite(const v1::Dot& dot, uint64_t hlc, const v1::RecordWrite& write,
                v1::RecordState* state) {
  ApplyWriteWith(dot, hlc, write, state,
                 [&write](int i, v1::Value* into) { *into = write.fields(i).value(); });
}

void ApplyWriteMovingValues(const v1::Dot& dot, uint64_t hlc, v1::RecordWrite* write,
                            v1::RecordState* state) {
  // On one arena (the engine's group), Swap exchanges pointers; across
  // arenas it copies.
  ApplyWriteWith(dot, hlc, *write, state, [write](int i, v1::Value* into) {
    into->Swap(write->mutable_fields(i)->mutable_value());
  });
}

void ApplyDelete(const v1::Dot& dot, uint64_t hlc, const v1::RecordDelete& remove,
                 v1::RecordState* state) {
  if (!Touch(dot, hlc, state)) return;
  if (state->format() == 0) state->set_format(1);
  if (state->collection().empty()) state->set_collection(remove.collection());
  DotList gone = Sorted(remove.supersedes());
  if (remove.purge()) {
    for (const auto& d : remove.purged_ops()) InsertSorted(&gone, d);
    state->set_purged(true);
  }
  for (const auto& d : gone) InsertSorted(state->mutable_removed(), d);
  for (auto& field : *state->mutable_fields()) DropLive(&field, gone);
  AddVersion(state->mutable_deletes(), dot, hlc);
}

const v1::FieldVersion* Winner(const v1::FieldState& field) {
  if (field.live().empty()) return nullptr;
  return &field.live(field.live_size() - 1);  // kept sorted by (hlc, dot)
}

const v1::FieldState* FindField(const v1::RecordState& state, std::string_view name) {
  for (const auto& f : state.fields()) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

bool IsDeleted(const v1::RecordState& state) {
  if (state.deletes().empty()) return false;
  for (const auto& f : state.fields()) {
    if (!f.live().empty()) return false;
  }
  return true;
}

bool HasTextConflict(const v1::RecordState& state) {
  for (const auto& f : state.fields()) {
    if (f.live_size() > 1 && f.live(0).value().has_text()) return true;
  }
  return false;
}

std::vector<v1::Dot> AllLiveDots(const v1::RecordState& state) {
  DotList all;
  for (const auto& f : state.fields()) {
    for (const auto& v : f.live()) InsertSorted(&all, v.dot());
  }
  return {all.begin(), all.end()};
}

}  // namespace kindred::log
