// The value types of Kindred's plugin SDK: the manifest a plugin declares,
// records as a plugin sees them, changes it asks for, commands it runs and
// view rows it derives. Header-only, standard C++20, no dependency but the
// standard library. Each type mirrors one message of
// proto/plugin/v1/plugin.proto; kindred/plugin_wire.h encodes them.
//
// Thread-compatible value types. See kindred/plugin.h for the SDK itself and
// docs/plugins.md for the manual.
#ifndef KINDRED_PLUGIN_TYPES_H_
#define KINDRED_PLUGIN_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kindred/plugin_abi.h"

namespace kindred::plugin {

// ---- Outcomes --------------------------------------------------------------

// Why a call failed: a code from plugin_abi.h and a message for people.
struct Error {
  kindred_plugin_status code = KINDRED_PLUGIN_INTERNAL;
  std::string message;
};

// A value, or the Error saying why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit, like kindred::Result
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  // REQUIRES: ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // REQUIRES: !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// ---- The manifest ----------------------------------------------------------

// How concurrent changes to one field merge (plugin.proto, MergeRule).
enum class MergeRule : int32_t {
  kLastWriterWins = 1,  // the latest write wins
  kCounter = 2,         // an integer; concurrent additions all count
  kAddWinsSet = 3,      // a set of strings; an add concurrent with a remove wins
  kAppendOnly = 4,      // a list of strings, only appended to, ordered by time
  kKeepBoth = 5,        // text; concurrent writes are all kept (a conflict) until settled
};

// How much of a collection the plugin may read besides its own.
enum class ReadScope : int32_t {
  kSharedOnly = 1,  // only records shared with the partner
  kPrivateToo = 2,  // private ones as well
};

enum class OptionKind : int32_t {
  kFlag = 1,        // --name
  kValue = 2,       // --name VALUE
  kPositional = 3,  // NAME
  kRest = 4,        // NAME... (the remaining words)
};

enum class ValueType : int32_t {
  kText = 0,
  kInteger = 1,     // checked by the CLI
  kOutputFile = 2,  // a path: return the file's bytes in CommandResult::files
};

struct FieldSpec {
  std::string name;
  MergeRule rule = MergeRule::kLastWriterWins;
};

// A collection the plugin owns. Builder: Collection("notes").Field(...).
struct CollectionSpec {
  std::string name;
  std::vector<FieldSpec> fields;

  CollectionSpec& Field(std::string field, MergeRule rule) {
    fields.push_back({std::move(field), rule});
    return *this;
  }
};

struct ViewSource {
  std::string collection;  // own by short name, or a granted one by full name
  std::string list_field;  // optional: only records whose list field ...
  std::string item;        // ... holds this item
};

// A view the plugin derives. Change `version` whenever what UpdateView
// computes changes: the host then rebuilds the view from scratch.
struct ViewSpec {
  std::string name;
  uint32_t version = 1;
  std::vector<ViewSource> sources;

  ViewSpec& From(std::string collection) {
    sources.push_back({std::move(collection), "", ""});
    return *this;
  }
  ViewSpec& FromTagged(std::string collection, std::string list_field, std::string item) {
    sources.push_back({std::move(collection), std::move(list_field), std::move(item)});
    return *this;
  }
};

struct OptionSpec {
  std::string name;
  OptionKind kind = OptionKind::kFlag;
  std::string help;
  bool required = false;
  ValueType type = ValueType::kText;
};

// A command, `kindred <path...>`. Builder: Command({"hello", "say"}, "...").Rest(...).
struct CommandSpec {
  std::vector<std::string> path;
  std::string help;
  std::vector<OptionSpec> options;

  CommandSpec& Flag(std::string name, std::string text) {
    options.push_back(
        {std::move(name), OptionKind::kFlag, std::move(text), false, ValueType::kText});
    return *this;
  }
  CommandSpec& Option(std::string name, std::string text, ValueType type = ValueType::kText) {
    options.push_back({std::move(name), OptionKind::kValue, std::move(text), false, type});
    return *this;
  }
  CommandSpec& Positional(std::string name, std::string text) {
    options.push_back(
        {std::move(name), OptionKind::kPositional, std::move(text), true, ValueType::kText});
    return *this;
  }
  CommandSpec& Rest(std::string name, std::string text, bool required = true) {
    options.push_back(
        {std::move(name), OptionKind::kRest, std::move(text), required, ValueType::kText});
    return *this;
  }
};

struct ReadGrant {
  std::string collection;
  ReadScope scope = ReadScope::kSharedOnly;
};

// What a plugin is and may do. The builder methods return references into
// the manifest's vectors: use each one in a single statement.
struct Manifest {
  std::string id;       // reverse DNS, e.g. "org.example.hello"
  std::string version;  // MAJOR.MINOR.PATCH
  std::string summary;  // one line
  std::vector<CollectionSpec> collections;
  std::vector<ViewSpec> views;
  std::vector<CommandSpec> commands;
  std::vector<ReadGrant> reads;

  CollectionSpec& Collection(std::string name) {
    collections.push_back({std::move(name), {}});
    return collections.back();
  }
  ViewSpec& View(std::string name, uint32_t view_version) {
    views.push_back({std::move(name), view_version, {}});
    return views.back();
  }
  CommandSpec& Command(std::vector<std::string> path, std::string help) {
    commands.push_back({std::move(path), std::move(help), {}});
    return commands.back();
  }
  Manifest& Reads(std::string collection, ReadScope scope) {
    reads.push_back({std::move(collection), scope});
    return *this;
  }
};

// ---- Records ----------------------------------------------------------------

// Nothing, text, an integer, a list of strings, or a flag.
using Value = std::variant<std::monostate, std::string, int64_t, std::vector<std::string>, bool>;

// A record as the plugin may see it, each field merged by its rule.
struct Record {
  std::string collection;  // own by short name, others by full name
  std::string id;
  std::map<std::string, Value> fields;
  // Keep-both fields in conflict: every surviving text, oldest first.
  std::map<std::string, std::vector<std::string>> versions;
  std::string author;  // member name
  std::string device;  // device id
  int64_t created_micros = 0;
  int64_t edited_micros = 0;
  bool shared = false;
  bool deleted = false;  // only in ViewChanges

  std::string Text(const std::string& name) const {
    auto it = fields.find(name);
    if (it == fields.end()) return "";
    const auto* s = std::get_if<std::string>(&it->second);
    return s ? *s : "";
  }
  std::optional<int64_t> Int(const std::string& name) const {
    auto it = fields.find(name);
    if (it == fields.end()) return std::nullopt;
    const auto* i = std::get_if<int64_t>(&it->second);
    return i ? std::optional<int64_t>(*i) : std::nullopt;
  }
  std::vector<std::string> List(const std::string& name) const {
    auto it = fields.find(name);
    if (it == fields.end()) return {};
    const auto* l = std::get_if<std::vector<std::string>>(&it->second);
    return l ? *l : std::vector<std::string>{};
  }
  bool Flag(const std::string& name, bool fallback = false) const {
    auto it = fields.find(name);
    if (it == fields.end()) return fallback;
    const auto* b = std::get_if<bool>(&it->second);
    return b ? *b : fallback;
  }
};

// One write to one field; which member counts depends on the field's rule.
struct FieldWrite {
  std::string name;
  Value set;                              // last writer wins, keep both
  int64_t add = 0;                        // counter
  std::vector<std::string> add_items;     // add-wins set, append-only
  std::vector<std::string> remove_items;  // add-wins set
};

// A change to one record of the plugin's own collections.
struct Change {
  enum class Kind : int32_t { kCreate = 1, kUpdate = 2, kDelete = 3 };
  enum class Visibility : int32_t { kUnchanged = 0, kShared = 1, kPrivate = 2 };

  Kind kind = Kind::kCreate;
  std::string collection;
  std::string id;                                  // update, delete
  Visibility visibility = Visibility::kUnchanged;  // a create without it is private
  std::vector<FieldWrite> writes;

  static Change Create(std::string collection) {
    return Make(Kind::kCreate, std::move(collection), "");
  }
  static Change Update(std::string collection, std::string id) {
    return Make(Kind::kUpdate, std::move(collection), std::move(id));
  }
  static Change Delete(std::string collection, std::string id) {
    return Make(Kind::kDelete, std::move(collection), std::move(id));
  }
  Change& Shared(bool shared) {
    visibility = shared ? Visibility::kShared : Visibility::kPrivate;
    return *this;
  }
  // Last writer wins or keep both: the new value.
  Change& Set(std::string field, Value value) {
    FieldWrite w;
    w.name = std::move(field);
    w.set = std::move(value);
    writes.push_back(std::move(w));
    return *this;
  }
  // Counter: add `delta` (may be negative).
  Change& Add(std::string field, int64_t delta) {
    FieldWrite w;
    w.name = std::move(field);
    w.add = delta;
    writes.push_back(std::move(w));
    return *this;
  }
  // Add-wins set: add an item. Append-only: append an item.
  Change& Insert(std::string field, std::string item) {
    FieldWrite w;
    w.name = std::move(field);
    w.add_items.push_back(std::move(item));
    writes.push_back(std::move(w));
    return *this;
  }
  Change& Append(std::string field, std::string item) {
    return Insert(std::move(field), std::move(item));
  }
  // Add-wins set: remove an item (as this device has seen it).
  Change& Erase(std::string field, std::string item) {
    FieldWrite w;
    w.name = std::move(field);
    w.remove_items.push_back(std::move(item));
    writes.push_back(std::move(w));
    return *this;
  }

 private:
  static Change Make(Kind kind, std::string collection, std::string id) {
    Change c;
    c.kind = kind;
    c.collection = std::move(collection);
    c.id = std::move(id);
    return c;
  }
};

// Which records to read: a whole collection, those whose list field holds
// an item, or one by id.
struct Query {
  std::string collection;
  std::string list_field;
  std::string item;
  std::string id;
};

struct ViewRow {
  std::string key;
  std::string value;
};

// ---- Commands ---------------------------------------------------------------

struct Environment {
  std::string member;  // this device's member name
  std::string device;  // this device's id
  int64_t now_micros = 0;
  int32_t utc_offset_seconds = 0;  // of the local time zone, now
};

// One run of a command, with the arguments the user gave.
struct Command {
  std::vector<std::string> path;
  std::map<std::string, std::vector<std::string>> arguments;  // given ones only
  bool json = false;  // --json: print the command's JSON shape
  Environment env;

  // True when the option or flag was given.
  bool Has(const std::string& name) const { return arguments.count(name) != 0; }
  // A value (a REST argument's words joined by spaces), or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = arguments.find(name);
    if (it == arguments.end() || it->second.empty()) return fallback;
    std::string joined;
    for (const std::string& w : it->second) {
      if (!joined.empty()) joined += ' ';
      joined += w;
    }
    return joined;
  }
  // An integer option (the CLI has checked it), or nullopt when not given.
  std::optional<int64_t> Int(const std::string& name) const {
    auto it = arguments.find(name);
    if (it == arguments.end() || it->second.empty()) return std::nullopt;
    try {
      return std::stoll(it->second.front());
    } catch (...) {
      return std::nullopt;
    }
  }
  // "gratitude add".
  std::string Name() const {
    std::string n;
    for (const std::string& p : path) n += (n.empty() ? "" : " ") + p;
    return n;
  }
};

struct OutputFile {
  std::string option;  // an OUTPUT_FILE option of the command
  std::string content;
};

// What a command did: its exit code (0 ok, 1 bad input), what it printed,
// and files for the CLI to write to the paths of OUTPUT_FILE options.
struct CommandResult {
  int32_t exit_code = 0;
  std::string out;
  std::string err;
  std::vector<OutputFile> files;

  static CommandResult Ok(std::string out) {
    CommandResult r;
    r.out = std::move(out);
    return r;
  }
  // Bad input: exit code 1 and a message for stderr ("kindred: " is added).
  static CommandResult Usage(std::string message) {
    CommandResult r;
    r.exit_code = 1;
    r.err = std::move(message);
    return r;
  }
};

// ---- Views --------------------------------------------------------------------

// Records of a view's sources that changed (deleted ones have `deleted`).
struct ViewChanges {
  std::string view;
  uint32_t version = 0;
  bool rebuild = false;  // the view starts empty
  std::vector<Record> records;
};

// Rows to put and remove.
struct ViewUpdate {
  std::vector<ViewRow> put;
  std::vector<std::string> remove;

  ViewUpdate& Put(std::string key, std::string value) {
    put.push_back({std::move(key), std::move(value)});
    return *this;
  }
  ViewUpdate& Remove(std::string key) {
    remove.push_back(std::move(key));
    return *this;
  }
};

// ---- Small helpers ----------------------------------------------------------------

// `text` as a JSON string literal, quoted and escaped.
inline std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace kindred::plugin

#endif  // KINDRED_PLUGIN_TYPES_H_
