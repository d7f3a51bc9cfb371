// How ops become records: the merge rules, as pure functions over
// RecordState. Applying the same set of ops in any order, any number of
// times, gives byte-identical state.
//
// Each field is a multi-value register. A write names the versions of the
// field its author had seen (`supersedes`); those are dropped, the rest stay
// live. One live version is the normal case. Several live versions mean
// concurrent writes: the winner (highest HLC, then device id, then seq) is
// shown, and for text fields the record is marked as a conflict and keeps
// every value until a later write that has seen them all resolves it.
// A delete supersedes every version its author had seen; a concurrent write
// the deleter had not seen survives it (no silent loss).
#ifndef KINDRED_ENGINE_LOG_MERGE_H_
#define KINDRED_ENGINE_LOG_MERGE_H_

#include <string>
#include <vector>

#include "kindred/v1/store.pb.h"

namespace kindred::log {

// Strict weak order on dots: (device bytes, seq).
bool DotLess(const v1::Dot& a, const v1::Dot& b);
bool DotEqual(const v1::Dot& a, const v1::Dot& b);

// Applies a write op (its dot and hlc) to `state`. No effect if applied before.
void ApplyWrite(const v1::Dot& dot, uint64_t hlc, const v1::RecordWrite& write,
                v1::RecordState* state);
// As ApplyWrite, but moves the field values out of `write` instead of
// copying them: the values `write` is left with are unspecified. Same
// resulting state. For a caller that reads the write no more after it.
void ApplyWriteMovingValues(const v1::Dot& dot, uint64_t hlc, v1::RecordWrite* write,
                            v1::RecordState* state);
// Applies a delete op to `state`. No effect if applied before.
void ApplyDelete(const v1::Dot& dot, uint64_t hlc, const v1::RecordDelete& remove,
                 v1::RecordState* state);

// The version shown for a field: highest (hlc, device, seq). Null if none live.
const v1::FieldVersion* Winner(const v1::FieldState& field);
// The field named `name`, or null.
const v1::FieldState* FindField(const v1::RecordState& state, std::string_view name);
// True when the record was deleted and nothing written concurrently survives.
bool IsDeleted(const v1::RecordState& state);
// True when a text field holds more than one live value.
bool HasTextConflict(const v1::RecordState& state);
// Every live dot of every field: what a delete or full overwrite supersedes.
std::vector<v1::Dot> AllLiveDots(const v1::RecordState& state);

}  // namespace kindred::log

#endif  // KINDRED_ENGINE_LOG_MERGE_H_
