#include "engine/plugin/manifest.h"

#include <sodium.h>

#include <set>

#include "kindred/ids.h"

namespace kindred::plugin {
namespace {

constexpr size_t kMaxName = 64;

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [a-z][a-z0-9_]*, at most 64 bytes.
bool IsName(std::string_view s) {
  if (s.empty() || s.size() > kMaxName || !IsLower(s.front())) return false;
  for (char c : s) {
    if (!IsLower(c) && !IsDigit(c) && c != '_') return false;
  }
  return true;
}

// [a-z][a-z0-9-]*, at most 64 bytes.
bool IsWord(std::string_view s) {
  if (s.empty() || s.size() > kMaxName || !IsLower(s.front())) return false;
  for (char c : s) {
    if (!IsLower(c) && !IsDigit(c) && c != '-') return false;
  }
  return true;
}

bool IsPluginId(std::string_view id) {
  if (id.size() > 128) return false;
  size_t labels = 0, start = 0;
  while (true) {
    size_t dot = id.find('.', start);
    std::string_view label =
        id.substr(start, dot == std::string_view::npos ? id.npos : dot - start);
    if (!IsWord(label)) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

bool IsVersion(std::string_view v) {
  int parts = 0;
  size_t digits = 0;
  for (char c : v) {
    if (IsDigit(c)) {
      ++digits;
    } else if (c == '.' && digits > 0) {
      ++parts;
      digits = 0;
    } else {
      return false;
    }
  }
  return parts == 2 && digits > 0 && v.size() <= 32;
}

bool IsBuiltin(std::string_view collection) {
  for (const char* b : kBuiltinCollections) {
    if (collection == b) return true;
  }
  return false;
}

// "<plugin id>/<name>".
bool IsPluginCollection(std::string_view full) {
  size_t slash = full.find('/');
  return slash != std::string_view::npos && IsPluginId(full.substr(0, slash)) &&
         IsName(full.substr(slash + 1));
}

Status Bad(const std::string& what) { return Status::InvalidArgument("manifest: " + what); }

}  // namespace

std::string FullCollectionName(std::string_view plugin_id, std::string_view name) {
  std::string out(plugin_id);
  out += '/';
  out += name;
  return out;
}

std::string EngineCollection(std::string_view plugin_id, std::string_view name) {
  const std::string full = "kindred-plugin-collection-v1:" + FullCollectionName(plugin_id, name);
  unsigned char hash[10];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(full.data()),
                     full.size(), nullptr, 0);
  return "p1." + ToBase32Lower(std::string_view(reinterpret_cast<const char*>(hash), sizeof hash));
}

std::string_view MergeRuleName(pv1::MergeRule rule) {
  switch (rule) {
    case pv1::MERGE_RULE_LAST_WRITER_WINS:
      return "last writer wins";
    case pv1::MERGE_RULE_COUNTER:
      return "counter";
    case pv1::MERGE_RULE_ADD_WINS_SET:
      return "add-wins set";
    case pv1::MERGE_RULE_APPEND_ONLY:
      return "append-only";
    case pv1::MERGE_RULE_KEEP_BOTH:
      return "keep both on conflict";
    default:
      return "unknown";
  }
}

Status ValidateManifest(const pv1::Manifest& m) {
  if (!IsPluginId(m.id())) {
    return Bad("the id '" + m.id().substr(0, 128) +
               "' is not reverse DNS (like org.example.hello: lowercase labels joined by dots)");
  }
  if (!IsVersion(m.version())) {
    return Bad(m.id() + ": the version '" + m.version().substr(0, 32) +
               "' is not MAJOR.MINOR.PATCH");
  }
  if (m.summary().size() > 200) return Bad(m.id() + ": the summary is longer than 200 bytes");

  std::set<std::string> own;
  for (const auto& c : m.collections()) {
    if (!IsName(c.name()))
      return Bad(m.id() + ": the collection name '" + c.name().substr(0, 64) +
                 "' is not [a-z][a-z0-9_]*");
    if (!own.insert(c.name()).second)
      return Bad(m.id() + ": the collection " + c.name() + " is declared twice");
    std::set<std::string> fields;
    for (const auto& f : c.fields()) {
      if (!IsName(f.name())) {
        return Bad(m.id() + ": the field name '" + f.name().substr(0, 64) + "' of " + c.name() +
                   " is not [a-z][a-z0-9_]*");
      }
      if (!fields.insert(f.name()).second)
        return Bad(m.id() + ": the field " + c.name() + "." + f.name() + " is declared twice");
      if (f.rule() < pv1::MERGE_RULE_LAST_WRITER_WINS || f.rule() > pv1::MERGE_RULE_KEEP_BOTH) {
        return Bad(m.id() + ": the field " + c.name() + "." + f.name() + " has no merge rule");
      }
    }
  }

  std::set<std::string> granted;
  for (const auto& g : m.reads()) {
    if (!IsBuiltin(g.collection()) && !IsPluginCollection(g.collection())) {
      return Bad(
          m.id() + ": cannot ask to read '" + g.collection().substr(0, 200) +
          "' (journal, rituals, ritual_facts, or another plugin's collection as <id>/<name>)");
    }
    if (g.collection().rfind(m.id() + "/", 0) == 0) {
      return Bad(m.id() + ": asks to read its own collection " + g.collection() +
                 " (it may already)");
    }
    if (g.scope() != pv1::READ_SCOPE_SHARED_ONLY && g.scope() != pv1::READ_SCOPE_PRIVATE_TOO) {
      return Bad(m.id() + ": the grant to read " + g.collection() +
                 " has no scope (shared only, or private too)");
    }
    if (!granted.insert(g.collection()).second)
      return Bad(m.id() + ": asks to read " + g.collection() + " twice");
  }

  std::set<std::string> views;
  for (const auto& v : m.views()) {
    if (!IsName(v.name()))
      return Bad(m.id() + ": the view name '" + v.name().substr(0, 64) +
                 "' is not [a-z][a-z0-9_]*");
    if (!views.insert(v.name()).second)
      return Bad(m.id() + ": the view " + v.name() + " is declared twice");
    if (v.version() < 1) return Bad(m.id() + ": the view " + v.name() + " has no version (>= 1)");
    if (v.sources().empty()) return Bad(m.id() + ": the view " + v.name() + " has no sources");
    for (const auto& s : v.sources()) {
      if (!own.count(s.collection()) && !granted.count(s.collection())) {
        return Bad(m.id() + ": the view " + v.name() + " reads " + s.collection().substr(0, 200) +
                   ", which is neither its own nor granted");
      }
      if (s.list_field().empty() != s.item().empty()) {
        return Bad(m.id() + ": a source of the view " + v.name() +
                   " needs both list_field and item, or neither");
      }
    }
  }

  std::set<std::string> paths;
  for (const auto& c : m.commands()) {
    if (c.path().empty()) return Bad(m.id() + ": a command has no name");
    std::string joined;
    for (const auto& w : c.path()) {
      if (!IsWord(w))
        return Bad(m.id() + ": the command word '" + w.substr(0, 64) + "' is not [a-z][a-z0-9-]*");
      joined += (joined.empty() ? "" : " ") + w;
    }
    if (!paths.insert(joined).second)
      return Bad(m.id() + ": the command '" + joined + "' is declared twice");
    std::set<std::string> names;
    bool rest = false;
    for (const auto& o : c.options()) {
      if (!IsWord(o.name()))
        return Bad(m.id() + ": the option '" + o.name().substr(0, 64) + "' of '" + joined +
                   "' is not [a-z][a-z0-9-]*");
      if (o.name() == "json" || o.name() == "home" || o.name() == "help" || o.name() == "plugin") {
        return Bad(m.id() + ": the option --" + o.name() + " of '" + joined + "' is Kindred's own");
      }
      if (!names.insert(o.name()).second)
        return Bad(m.id() + ": the option " + o.name() + " of '" + joined + "' is declared twice");
      if (o.kind() < pv1::OPTION_KIND_FLAG || o.kind() > pv1::OPTION_KIND_REST) {
        return Bad(m.id() + ": the option " + o.name() + " of '" + joined + "' has no kind");
      }
      if (rest && (o.kind() == pv1::OPTION_KIND_POSITIONAL || o.kind() == pv1::OPTION_KIND_REST)) {
        return Bad(m.id() + ": '" + joined +
                   "' has a positional argument after the rest of the words");
      }
      if (o.kind() == pv1::OPTION_KIND_REST) rest = true;
      if (o.type() == pv1::VALUE_TYPE_OUTPUT_FILE && o.kind() != pv1::OPTION_KIND_VALUE) {
        return Bad(m.id() + ": the output file option " + o.name() + " of '" + joined +
                   "' must take a value");
      }
    }
  }
  // A command group ("gratitude") may not also be a command with a deeper
  // path's first word elsewhere in another plugin; that is checked by the
  // registry across plugins.
  return Status::Ok();
}

std::vector<std::string> Permissions(const pv1::Manifest& m) {
  std::vector<std::string> out;
  for (const auto& c : m.collections())
    out.push_back("write:" + FullCollectionName(m.id(), c.name()));
  for (const auto& g : m.reads()) {
    out.push_back("read:" + g.collection() +
                  (g.scope() == pv1::READ_SCOPE_PRIVATE_TOO ? ":private" : ":shared"));
  }
  return out;
}

std::vector<std::string> PermissionsInWords(const pv1::Manifest& m) {
  std::vector<std::string> out;
  for (const auto& c : m.collections()) out.push_back("keeps " + c.name());
  for (const auto& g : m.reads()) {
    out.push_back(
        "reads " + g.collection() +
        (g.scope() == pv1::READ_SCOPE_PRIVATE_TOO ? " (shared and private)" : " (shared only)"));
  }
  return out;
}

}  // namespace kindred::plugin
