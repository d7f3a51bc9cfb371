// Records: what the engine stores and syncs. Plugins and the journal build
// on these value types.
#ifndef KINDRED_RECORD_H_
#define KINDRED_RECORD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kindred/ids.h"

namespace kindred {

// A field value: nothing, text, an integer, a list of strings, or a flag.
// Only text fields can be "in conflict" (see Record::conflicts).
using Value = std::variant<std::monostate, std::string, int64_t, std::vector<std::string>, bool>;

// One surviving version of a field.
struct FieldVersion {
  Value value;
  int64_t written_micros = 0;  // wall time of the write (from its HLC)
  DeviceId device;             // who wrote it
};

// A record as this device currently sees it. Value type.
struct Record {
  std::string collection;
  std::string id;
  // Each field's current value (for concurrent writes, the latest by HLC,
  // then device id).
  std::map<std::string, Value> fields;
  // Text fields written concurrently on different devices: every surviving
  // version, oldest first. Empty when there is no conflict. A later update
  // of the field resolves it.
  std::map<std::string, std::vector<FieldVersion>> conflicts;
  DeviceId created_by;
  int64_t created_micros = 0;
  int64_t edited_micros = 0;
  // The hybrid logical clock of the op that created the record: a total
  // order of creation, finer than created_micros.
  uint64_t created_hlc = 0;
  bool deleted = false;

  // The text in `name`, or "" when absent or not text.
  std::string Text(const std::string& name) const;
  // The integer in `name`, if any.
  std::optional<int64_t> Int(const std::string& name) const;
  // The list in `name`, or empty.
  std::vector<std::string> List(const std::string& name) const;
  // The flag in `name`, or `fallback`.
  bool Flag(const std::string& name, bool fallback = false) const;
};

// One change to one record, as passed to Engine::Commit.
struct Mutation {
  enum class Kind { kCreate, kUpdate, kDelete, kPurge };
  Kind kind = Kind::kCreate;
  std::string collection;
  // Update, delete and purge: the record. Create: empty to derive a fresh id,
  // or an explicit id (e.g. on import, or a record moving between spaces);
  // an explicit id may be that of a deleted record, which the create brings
  // back (with only the new fields), but not that of a live one.
  std::string id;
  // Create and update: the fields to set. An update supersedes every version
  // of each named field this device has seen, resolving a conflict.
  std::map<std::string, Value> fields;

  static Mutation Create(std::string collection, std::map<std::string, Value> fields) {
    return {Kind::kCreate, std::move(collection), "", std::move(fields)};
  }
  static Mutation Update(std::string collection, std::string id, std::map<std::string, Value> fields) {
    return {Kind::kUpdate, std::move(collection), std::move(id), std::move(fields)};
  }
  static Mutation Delete(std::string collection, std::string id) {
    return {Kind::kDelete, std::move(collection), std::move(id), {}};
  }
  // Deletes and erases the ciphertext of every earlier op of the record, here
  // and, as the purge syncs, on every other device.
  static Mutation Purge(std::string collection, std::string id) {
    return {Kind::kPurge, std::move(collection), std::move(id), {}};
  }
};

}  // namespace kindred

#endif  // KINDRED_RECORD_H_
