// The protobuf wire format of proto/plugin/v1/plugin.proto, for the SDK's
// value types (kindred/plugin_types.h), in a few hundred lines of standard
// C++: a plugin needs neither protoc nor libprotobuf, and cannot clash with
// the host's copy of them. Encoders write proto3 (defaults left out; the
// members of a oneof always written); decoders skip unknown fields and fail
// (return false) on bytes that are not a well-formed message.
//
// Header-only; thread-compatible. tests/plugin/wire_test.cc checks every
// message against the protobuf library's own encoding.
#ifndef KINDRED_PLUGIN_WIRE_H_
#define KINDRED_PLUGIN_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kindred/plugin_types.h"

namespace kindred::plugin::wire {

enum : uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

// Appends fields to a message's bytes.
class Writer {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    bytes_.push_back(static_cast<char>(v));
  }
  void Tag(uint32_t field, uint32_t type) { Varint((static_cast<uint64_t>(field) << 3) | type); }
  // Scalars: left out when zero (proto3), unless `always` (oneof members).
  void Int64(uint32_t field, int64_t v, bool always = false) {
    if (v == 0 && !always) return;
    Tag(field, kVarint);
    Varint(static_cast<uint64_t>(v));
  }
  void Int32(uint32_t field, int32_t v) { Int64(field, v); }  // sign-extended, as protobuf does
  void UInt32(uint32_t field, uint32_t v) { Int64(field, v); }
  void Bool(uint32_t field, bool v, bool always = false) {
    if (!v && !always) return;
    Tag(field, kVarint);
    Varint(v ? 1 : 0);
  }
  void String(uint32_t field, std::string_view s, bool always = false) {
    if (s.empty() && !always) return;
    Tag(field, kLength);
    Varint(s.size());
    bytes_.append(s.data(), s.size());
  }
  // A nested message, always written.
  void Message(uint32_t field, const Writer& sub) { String(field, sub.bytes_, /*always=*/true); }

  const std::string& bytes() const { return bytes_; }
  std::string Take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Reads the fields of one message in order.
class Reader {
 public:
  Reader(const void* data, size_t size) : p_(static_cast<const uint8_t*>(data)), end_(p_ + size) {}
  explicit Reader(std::string_view bytes) : Reader(bytes.data(), bytes.size()) {}

  // The next field's number and wire type; false at the end (ok()) or on
  // malformed bytes (!ok()).
  bool Next(uint32_t* field, uint32_t* type) {
    if (p_ == end_ || !ok_) return false;
    uint64_t tag;
    if (!Varint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return Fail();
    *field = static_cast<uint32_t>(tag >> 3);
    *type = static_cast<uint32_t>(tag & 7);
    return true;
  }
  bool ok() const { return ok_; }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return Fail();
      const uint8_t b = *p_++;
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = result;
        return true;
      }
    }
    return Fail();
  }
  bool Int64(uint32_t type, int64_t* v) {
    uint64_t u;
    if (type != kVarint || !Varint(&u)) return Fail();
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Int32(uint32_t type, int32_t* v) {
    int64_t w;
    if (!Int64(type, &w)) return false;
    *v = static_cast<int32_t>(w);
    return true;
  }
  bool UInt32(uint32_t type, uint32_t* v) {
    int64_t w;
    if (!Int64(type, &w)) return false;
    *v = static_cast<uint32_t>(w);
    return true;
  }
  bool Bool(uint32_t type, bool* v) {
    int64_t w;
    if (!Int64(type, &w)) return false;
    *v = w != 0;
    return true;
  }
  bool Bytes(uint32_t type, std::string_view* v) {
    uint64_t n;
    if (type != kLength || !Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return Fail();
    *v = std::string_view(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return true;
  }
  bool String(uint32_t type, std::string* v) {
    std::string_view s;
    if (!Bytes(type, &s)) return false;
    v->assign(s.data(), s.size());
    return true;
  }
  bool Skip(uint32_t type) {
    uint64_t n;
    std::string_view s;
    switch (type) {
      case kVarint:
        return Varint(&n);
      case kLength:
        return Bytes(type, &s);
      case kFixed64:
        return Advance(8);
      case kFixed32:
        return Advance(4);
      default:
        return Fail();  // groups are not used by Kindred
    }
  }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  bool Advance(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return Fail();
    p_ += n;
    return true;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

// Decodes a nested message with `decode(Reader&, T*)`.
template <typename T, typename Fn>
bool Nested(Reader& r, uint32_t type, T* out, Fn decode) {
  std::string_view bytes;
  if (!r.Bytes(type, &bytes)) return false;
  Reader sub(bytes);
  return decode(sub, out) && sub.ok();
}

// ---- Manifest ---------------------------------------------------------------

inline Writer Encode(const FieldSpec& f) {
  Writer w;
  w.String(1, f.name);
  w.Int32(2, static_cast<int32_t>(f.rule));
  return w;
}
inline Writer Encode(const CollectionSpec& c) {
  Writer w;
  w.String(1, c.name);
  for (const auto& f : c.fields) w.Message(2, Encode(f));
  return w;
}
inline Writer Encode(const ViewSource& s) {
  Writer w;
  w.String(1, s.collection);
  w.String(2, s.list_field);
  w.String(3, s.item);
  return w;
}
inline Writer Encode(const ViewSpec& v) {
  Writer w;
  w.String(1, v.name);
  w.UInt32(2, v.version);
  for (const auto& s : v.sources) w.Message(3, Encode(s));
  return w;
}
inline Writer Encode(const OptionSpec& o) {
  Writer w;
  w.String(1, o.name);
  w.Int32(2, static_cast<int32_t>(o.kind));
  w.String(3, o.help);
  w.Bool(4, o.required);
  w.Int32(5, static_cast<int32_t>(o.type));
  return w;
}
inline Writer Encode(const CommandSpec& c) {
  Writer w;
  for (const auto& p : c.path) w.String(1, p, true);
  w.String(2, c.help);
  for (const auto& o : c.options) w.Message(3, Encode(o));
  return w;
}
inline Writer Encode(const ReadGrant& g) {
  Writer w;
  w.String(1, g.collection);
  w.Int32(2, static_cast<int32_t>(g.scope));
  return w;
}
inline Writer Encode(const Manifest& m) {
  Writer w;
  w.String(1, m.id);
  w.String(2, m.version);
  w.String(3, m.summary);
  for (const auto& c : m.collections) w.Message(4, Encode(c));
  for (const auto& v : m.views) w.Message(5, Encode(v));
  for (const auto& c : m.commands) w.Message(6, Encode(c));
  for (const auto& g : m.reads) w.Message(7, Encode(g));
  return w;
}

inline bool Decode(Reader& r, FieldSpec* f) {
  uint32_t n, t;
  int32_t rule = 0;
  while (r.Next(&n, &t)) {
    bool ok = n == 1 ? r.String(t, &f->name) : n == 2 ? r.Int32(t, &rule) : r.Skip(t);
    if (!ok) return false;
  }
  f->rule = static_cast<MergeRule>(rule);
  return r.ok();
}
inline bool Decode(Reader& r, CollectionSpec* c) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == 1) {
      ok = r.String(t, &c->name);
    } else if (n == 2) {
      c->fields.emplace_back();
      ok = Nested(r, t, &c->fields.back(), [](Reader& s, FieldSpec* f) { return Decode(s, f); });
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}
inline bool Decode(Reader& r, ViewSource* s) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok = n == 1   ? r.String(t, &s->collection)
              : n == 2 ? r.String(t, &s->list_field)
              : n == 3 ? r.String(t, &s->item)
                       : r.Skip(t);
    if (!ok) return false;
  }
  return r.ok();
}
inline bool Decode(Reader& r, ViewSpec* v) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == 1) {
      ok = r.String(t, &v->name);
    } else if (n == 2) {
      ok = r.UInt32(t, &v->version);
    } else if (n == 3) {
      v->sources.emplace_back();
      ok = Nested(r, t, &v->sources.back(), [](Reader& s, ViewSource* x) { return Decode(s, x); });
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}
inline bool Decode(Reader& r, OptionSpec* o) {
  uint32_t n, t;
  int32_t kind = 0, type = 0;
  while (r.Next(&n, &t)) {
    bool ok = n == 1   ? r.String(t, &o->name)
              : n == 2 ? r.Int32(t, &kind)
              : n == 3 ? r.String(t, &o->help)
              : n == 4 ? r.Bool(t, &o->required)
              : n == 5 ? r.Int32(t, &type)
                       : r.Skip(t);
    if (!ok) return false;
  }
  o->kind = static_cast<OptionKind>(kind);
  o->type = static_cast<ValueType>(type);
  return r.ok();
}
inline bool Decode(Reader& r, CommandSpec* c) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == 1) {
      c->path.emplace_back();
      ok = r.String(t, &c->path.back());
    } else if (n == 2) {
      ok = r.String(t, &c->help);
    } else if (n == 3) {
      c->options.emplace_back();
      ok = Nested(r, t, &c->options.back(), [](Reader& s, OptionSpec* o) { return Decode(s, o); });
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}
inline bool Decode(Reader& r, ReadGrant* g) {
  uint32_t n, t;
  int32_t scope = 0;
  while (r.Next(&n, &t)) {
    bool ok = n == 1 ? r.String(t, &g->collection) : n == 2 ? r.Int32(t, &scope) : r.Skip(t);
    if (!ok) return false;
  }
  g->scope = static_cast<ReadScope>(scope);
  return r.ok();
}
inline bool Decode(Reader& r, Manifest* m) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        ok = r.String(t, &m->id);
        break;
      case 2:
        ok = r.String(t, &m->version);
        break;
      case 3:
        ok = r.String(t, &m->summary);
        break;
      case 4:
        m->collections.emplace_back();
        ok = Nested(r, t, &m->collections.back(),
                    [](Reader& s, CollectionSpec* x) { return Decode(s, x); });
        break;
      case 5:
        m->views.emplace_back();
        ok = Nested(r, t, &m->views.back(), [](Reader& s, ViewSpec* x) { return Decode(s, x); });
        break;
      case 6:
        m->commands.emplace_back();
        ok = Nested(r, t, &m->commands.back(),
                    [](Reader& s, CommandSpec* x) { return Decode(s, x); });
        break;
      case 7:
        m->reads.emplace_back();
        ok = Nested(r, t, &m->reads.back(), [](Reader& s, ReadGrant* x) { return Decode(s, x); });
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

// ---- Values and records ----------------------------------------------------------

inline Writer EncodeValue(const Value& v) {
  Writer w;
  if (const auto* s = std::get_if<std::string>(&v)) {
    w.String(1, *s, true);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    w.Int64(2, *i, true);
  } else if (const auto* l = std::get_if<std::vector<std::string>>(&v)) {
    Writer list;
    for (const auto& item : *l) list.String(1, item, true);
    w.Message(3, list);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    w.Bool(4, *b, true);
  }
  return w;
}
inline bool DecodeValue(Reader& r, Value* v) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == 1) {
      std::string s;
      ok = r.String(t, &s);
      *v = std::move(s);
    } else if (n == 2) {
      int64_t i = 0;
      ok = r.Int64(t, &i);
      *v = i;
    } else if (n == 3) {
      std::vector<std::string> items;
      ok = Nested(r, t, &items, [](Reader& s, std::vector<std::string>* out) {
        uint32_t fn, ft;
        while (s.Next(&fn, &ft)) {
          bool good;
          if (fn == 1) {
            out->emplace_back();
            good = s.String(ft, &out->back());
          } else {
            good = s.Skip(ft);
          }
          if (!good) return false;
        }
        return s.ok();
      });
      *v = std::move(items);
    } else if (n == 4) {
      bool b = false;
      ok = r.Bool(t, &b);
      *v = b;
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

inline Writer Encode(const Record& rec) {
  Writer w;
  w.String(1, rec.collection);
  w.String(2, rec.id);
  for (const auto& [name, value] : rec.fields) {
    Writer f;
    f.String(1, name);
    if (value.index() != 0) f.Message(2, EncodeValue(value));
    auto it = rec.versions.find(name);
    if (it != rec.versions.end()) {
      for (const auto& v : it->second) f.String(3, v, true);
    }
    w.Message(3, f);
  }
  w.String(4, rec.author);
  w.String(5, rec.device);
  w.Int64(6, rec.created_micros);
  w.Int64(7, rec.edited_micros);
  w.Bool(8, rec.shared);
  w.Bool(9, rec.deleted);
  return w;
}
inline bool Decode(Reader& r, Record* rec) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        ok = r.String(t, &rec->collection);
        break;
      case 2:
        ok = r.String(t, &rec->id);
        break;
      case 3: {
        std::string name;
        Value value;
        std::vector<std::string> versions;
        std::string_view bytes;
        ok = r.Bytes(t, &bytes);
        if (!ok) break;
        Reader f(bytes);
        uint32_t fn, ft;
        while (ok && f.Next(&fn, &ft)) {
          if (fn == 1) {
            ok = f.String(ft, &name);
          } else if (fn == 2) {
            ok = Nested(f, ft, &value, [](Reader& s, Value* v) { return DecodeValue(s, v); });
          } else if (fn == 3) {
            versions.emplace_back();
            ok = f.String(ft, &versions.back());
          } else {
            ok = f.Skip(ft);
          }
        }
        ok = ok && f.ok();
        if (ok) {
          if (!versions.empty()) rec->versions[name] = std::move(versions);
          rec->fields[name] = std::move(value);
        }
        break;
      }
      case 4:
        ok = r.String(t, &rec->author);
        break;
      case 5:
        ok = r.String(t, &rec->device);
        break;
      case 6:
        ok = r.Int64(t, &rec->created_micros);
        break;
      case 7:
        ok = r.Int64(t, &rec->edited_micros);
        break;
      case 8:
        ok = r.Bool(t, &rec->shared);
        break;
      case 9:
        ok = r.Bool(t, &rec->deleted);
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

// Decodes the repeated message field `field` of a message into `out`.
template <typename T>
bool DecodeRepeated(std::string_view bytes, uint32_t field, std::vector<T>* out) {
  Reader r(bytes);
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == field) {
      out->emplace_back();
      ok = Nested(r, t, &out->back(), [](Reader& s, T* x) { return Decode(s, x); });
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

// ---- Host calls ------------------------------------------------------------------

inline Writer Encode(const Query& q) {
  Writer w;
  w.String(1, q.collection);
  w.String(2, q.list_field);
  w.String(3, q.item);
  w.String(4, q.id);
  return w;
}
inline bool Decode(Reader& r, Query* q) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok = n == 1   ? r.String(t, &q->collection)
              : n == 2 ? r.String(t, &q->list_field)
              : n == 3 ? r.String(t, &q->item)
              : n == 4 ? r.String(t, &q->id)
                       : r.Skip(t);
    if (!ok) return false;
  }
  return r.ok();
}

inline Writer Encode(const FieldWrite& f) {
  Writer w;
  w.String(1, f.name);
  if (f.set.index() != 0) w.Message(2, EncodeValue(f.set));
  w.Int64(3, f.add);
  for (const auto& i : f.add_items) w.String(4, i, true);
  for (const auto& i : f.remove_items) w.String(5, i, true);
  return w;
}
inline bool Decode(Reader& r, FieldWrite* f) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        ok = r.String(t, &f->name);
        break;
      case 2:
        ok = Nested(r, t, &f->set, [](Reader& s, Value* v) { return DecodeValue(s, v); });
        break;
      case 3:
        ok = r.Int64(t, &f->add);
        break;
      case 4:
        f->add_items.emplace_back();
        ok = r.String(t, &f->add_items.back());
        break;
      case 5:
        f->remove_items.emplace_back();
        ok = r.String(t, &f->remove_items.back());
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}
inline Writer Encode(const Change& c) {
  Writer w;
  w.Int32(1, static_cast<int32_t>(c.kind));
  w.String(2, c.collection);
  w.String(3, c.id);
  w.Int32(4, static_cast<int32_t>(c.visibility));
  for (const auto& f : c.writes) w.Message(5, Encode(f));
  return w;
}
inline bool Decode(Reader& r, Change* c) {
  uint32_t n, t;
  int32_t kind = 0, visibility = 0;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        ok = r.Int32(t, &kind);
        break;
      case 2:
        ok = r.String(t, &c->collection);
        break;
      case 3:
        ok = r.String(t, &c->id);
        break;
      case 4:
        ok = r.Int32(t, &visibility);
        break;
      case 5:
        c->writes.emplace_back();
        ok = Nested(r, t, &c->writes.back(), [](Reader& s, FieldWrite* x) { return Decode(s, x); });
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  c->kind = static_cast<Change::Kind>(kind);
  c->visibility = static_cast<Change::Visibility>(visibility);
  return r.ok();
}

inline Writer Encode(const ViewRow& row) {
  Writer w;
  w.String(1, row.key);
  w.String(2, row.value);
  return w;
}
inline bool Decode(Reader& r, ViewRow* row) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok = n == 1 ? r.String(t, &row->key) : n == 2 ? r.String(t, &row->value) : r.Skip(t);
    if (!ok) return false;
  }
  return r.ok();
}

// Repeated strings of field `field`.
inline bool DecodeStrings(std::string_view bytes, uint32_t field, std::vector<std::string>* out) {
  Reader r(bytes);
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == field) {
      out->emplace_back();
      ok = r.String(t, &out->back());
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

// ---- Commands and views ----------------------------------------------------------------

inline Writer Encode(const Environment& e) {
  Writer w;
  w.String(1, e.member);
  w.String(2, e.device);
  w.Int64(3, e.now_micros);
  w.Int32(4, e.utc_offset_seconds);
  return w;
}
inline bool Decode(Reader& r, Environment* e) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok = n == 1   ? r.String(t, &e->member)
              : n == 2 ? r.String(t, &e->device)
              : n == 3 ? r.Int64(t, &e->now_micros)
              : n == 4 ? r.Int32(t, &e->utc_offset_seconds)
                       : r.Skip(t);
    if (!ok) return false;
  }
  return r.ok();
}
inline Writer Encode(const Command& c) {
  Writer w;
  for (const auto& p : c.path) w.String(1, p, true);
  for (const auto& [name, values] : c.arguments) {
    Writer a;
    a.String(1, name);
    for (const auto& v : values) a.String(2, v, true);
    w.Message(2, a);
  }
  w.Bool(3, c.json);
  w.Message(4, Encode(c.env));
  return w;
}
inline bool Decode(Reader& r, Command* c) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        c->path.emplace_back();
        ok = r.String(t, &c->path.back());
        break;
      case 2: {
        std::pair<std::string, std::vector<std::string>> arg;
        ok = Nested(r, t, &arg, [](Reader& s, std::pair<std::string, std::vector<std::string>>* a) {
          uint32_t fn, ft;
          while (s.Next(&fn, &ft)) {
            bool good;
            if (fn == 1) {
              good = s.String(ft, &a->first);
            } else if (fn == 2) {
              a->second.emplace_back();
              good = s.String(ft, &a->second.back());
            } else {
              good = s.Skip(ft);
            }
            if (!good) return false;
          }
          return s.ok();
        });
        if (ok) c->arguments[arg.first] = std::move(arg.second);
        break;
      }
      case 3:
        ok = r.Bool(t, &c->json);
        break;
      case 4:
        ok = Nested(r, t, &c->env, [](Reader& s, Environment* e) { return Decode(s, e); });
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

inline Writer Encode(const CommandResult& c) {
  Writer w;
  w.Int32(1, c.exit_code);
  w.String(2, c.out);
  w.String(3, c.err);
  for (const auto& f : c.files) {
    Writer file;
    file.String(1, f.option);
    file.String(2, f.content);
    w.Message(4, file);
  }
  return w;
}
inline bool Decode(Reader& r, CommandResult* c) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        ok = r.Int32(t, &c->exit_code);
        break;
      case 2:
        ok = r.String(t, &c->out);
        break;
      case 3:
        ok = r.String(t, &c->err);
        break;
      case 4:
        c->files.emplace_back();
        ok = Nested(r, t, &c->files.back(), [](Reader& s, OutputFile* f) {
          uint32_t fn, ft;
          while (s.Next(&fn, &ft)) {
            bool good = fn == 1   ? s.String(ft, &f->option)
                        : fn == 2 ? s.String(ft, &f->content)
                                  : s.Skip(ft);
            if (!good) return false;
          }
          return s.ok();
        });
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

inline Writer Encode(const ViewChanges& v) {
  Writer w;
  w.String(1, v.view);
  w.UInt32(2, v.version);
  w.Bool(3, v.rebuild);
  for (const auto& rec : v.records) w.Message(4, Encode(rec));
  return w;
}
inline bool Decode(Reader& r, ViewChanges* v) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    switch (n) {
      case 1:
        ok = r.String(t, &v->view);
        break;
      case 2:
        ok = r.UInt32(t, &v->version);
        break;
      case 3:
        ok = r.Bool(t, &v->rebuild);
        break;
      case 4:
        v->records.emplace_back();
        ok = Nested(r, t, &v->records.back(), [](Reader& s, Record* x) { return Decode(s, x); });
        break;
      default:
        ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

inline Writer Encode(const ViewUpdate& u) {
  Writer w;
  for (const auto& row : u.put) w.Message(1, Encode(row));
  for (const auto& key : u.remove) w.String(2, key, true);
  return w;
}
inline bool Decode(Reader& r, ViewUpdate* u) {
  uint32_t n, t;
  while (r.Next(&n, &t)) {
    bool ok;
    if (n == 1) {
      u->put.emplace_back();
      ok = Nested(r, t, &u->put.back(), [](Reader& s, ViewRow* x) { return Decode(s, x); });
    } else if (n == 2) {
      u->remove.emplace_back();
      ok = r.String(t, &u->remove.back());
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return false;
  }
  return r.ok();
}

// Decodes a whole message of type T from `bytes`.
template <typename T>
bool DecodeMessage(std::string_view bytes, T* out) {
  Reader r(bytes);
  return Decode(r, out) && r.ok();
}

}  // namespace kindred::plugin::wire

#endif  // KINDRED_PLUGIN_WIRE_H_
