// Reading a plugin's manifest: the checks it must pass before the host
// loads the plugin, the engine names of its collections, and its
// permissions as people read them.
#ifndef KINDRED_ENGINE_PLUGIN_MANIFEST_H_
#define KINDRED_ENGINE_PLUGIN_MANIFEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "kindred/status.h"
#include "plugin/v1/plugin.pb.h"

namespace kindred::plugin {

namespace pv1 = ::kindred::plugin::v1;

// The collections of Kindred itself that a manifest may ask to read.
inline constexpr const char* kBuiltinCollections[] = {"journal", "rituals", "ritual_facts"};

// The name people and manifests use for a plugin's collection: "<plugin id>/<name>".
std::string FullCollectionName(std::string_view plugin_id, std::string_view name);

// The name the engine stores a plugin's collection under: "p1." and 16
// base32 characters of BLAKE2b over the full name. Collection names appear
// in the store's keys (as "journal" does), and a plugin's name says which
// habits a couple keeps, so it is not written there in plain words. It is
// not a secret: anyone who knows a plugin's id can compute it (a keyed name
// needs an engine hook; docs/plugins.md). Stable forever: it is where the
// records live.
std::string EngineCollection(std::string_view plugin_id, std::string_view name);

// OK when `manifest` is well formed: a reverse-DNS id (at least two labels
// of [a-z0-9-], starting with a letter), a MAJOR.MINOR.PATCH version,
// collections and fields with [a-z][a-z0-9_]* names (at most 64 bytes) and a
// merge rule each, views with a version >= 1 and sources that are the
// plugin's own collections or ones it may read, commands with [a-z][a-z0-9-]*
// words and options, and read grants naming a Kindred collection or another
// plugin's ("<id>/<name>") with a scope. InvalidArgument naming the first
// problem otherwise. Pure.
Status ValidateManifest(const pv1::Manifest& manifest);

// The plugin's permissions, one string each, in a fixed grammar:
// "write:<engine collection>" for each collection it owns, then
// "read:<collection>:shared" or "read:<collection>:private" for each grant.
std::vector<std::string> Permissions(const pv1::Manifest& manifest);

// The same in words: "writes its own notes", "reads journal (shared and private)".
std::vector<std::string> PermissionsInWords(const pv1::Manifest& manifest);

// "last writer wins", "counter", ...
std::string_view MergeRuleName(pv1::MergeRule rule);

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_MANIFEST_H_
