// How a plugin's records map onto the engine's, field by field, so that each
// field merges by the rule its manifest declares, using only what the
// engine's records already are (a multi-value register per field):
//
//   last writer wins  the field itself; the engine shows the latest write.
//   keep both         the field itself (text); the engine keeps concurrent
//                     writes as a conflict, shown as `versions`.
//   counter           one integer field per device, "<name>#<device hex>",
//                     written only by that device; the value is their sum.
//   add-wins set      one text field per device holding JSON
//                     {"a": [[tag, item], ...], "r": [tag, ...]}: its adds,
//                     each with a tag unique to it, and the tags it removed
//                     (those it had seen); the set is every item with a tag
//                     nobody removed, so an add concurrent with a remove wins.
//   append-only       one text field per device holding JSON
//                     [[micros, item], ...]; the list is every device's items
//                     ordered by (micros, device, position).
//
// Since a device's per-device fields are written only by that device, and
// its writes are ordered in its own log, they never conflict. The record's
// visibility is the engine field "@shared". Pure functions.
#ifndef KINDRED_ENGINE_PLUGIN_RECORDS_H_
#define KINDRED_ENGINE_PLUGIN_RECORDS_H_

#include <cstdint>
#include <string>

#include "engine/plugin/manifest.h"
#include "kindred/ids.h"
#include "kindred/record.h"
#include "kindred/result.h"

namespace kindred::plugin {

// The engine field holding a plugin record's visibility.
inline constexpr char kSharedField[] = "@shared";

// The engine field holding `device`'s part of a per-device field.
std::string PartField(const std::string& field, const DeviceId& device);

// The plugin's view of an engine record. `spec` is the collection's spec
// when a plugin owns it (fields merged by their rules), or null for
// Kindred's own collections (every field as stored, text conflicts as
// versions). `shown_collection` is the name the reading plugin uses;
// `author` the member name of the record's creator.
pv1::Record ToPluginRecord(const Record& record, const pv1::CollectionSpec* spec,
                           const std::string& shown_collection, const std::string& author);

// Whether a record of a plugin-owned collection is shared.
bool PluginRecordIsShared(const Record& record);

// The mutation for one of a plugin's changes to its own collection
// `engine_collection` (spec `spec`), made by `device` at `now_micros`.
// `current` is the record as it stands (updates; null for creates).
// PermissionDenied for a field the manifest does not declare or a write
// its rule does not allow (a value for a counter, ...); InvalidArgument for
// a malformed change (no kind, an update without id, a keep-both value that
// is not text).
Result<Mutation> ToMutation(const pv1::Change& change, const std::string& engine_collection,
                            const pv1::CollectionSpec& spec, const DeviceId& device,
                            int64_t now_micros, const Record* current);

}  // namespace kindred::plugin

#endif  // KINDRED_ENGINE_PLUGIN_RECORDS_H_
