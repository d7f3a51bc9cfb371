// Moving records from one space to another: how shared items written before
// pairing reach the couple's shared space, and how a plugin record whose
// visibility changed goes where it now belongs. The journal, the rituals
// and the plugin host all move records this one way.
#ifndef KINDRED_RECORD_MOVE_H_
#define KINDRED_RECORD_MOVE_H_

#include <cstddef>
#include <vector>

#include "kindred/engine.h"
#include "kindred/record.h"
#include "kindred/result.h"

namespace kindred {

// Collects records to move from `from` to `to`, then moves them in two
// commits: each is created in `to` with its id and fields, then deleted
// from `from`. Created first, so a crash in between leaves a copy in each
// (readers show one), never none. A record that `to` already has, live or
// deleted (moved by another of the member's devices, and perhaps deleted
// there since), is not created again; it only leaves `from`. Not
// thread-safe; `engine` must outlive it.
class RecordMove {
 public:
  RecordMove(Engine& engine, SpaceId from, SpaceId to);

  // Queues `record` (as read from `from`; adjust its fields first if the
  // copy should differ). Errors come from reading `to`.
  [[nodiscard]] Status Add(Record record);

  // How many records are queued.
  size_t size() const { return deletes_.size(); }

  // Writes the creates to `to`, then the deletes to `from`. Returns how
  // many records moved. Nothing queued: 0, and nothing written.
  [[nodiscard]] Result<size_t> Commit();

 private:
  Engine& engine_;
  SpaceId from_;
  SpaceId to_;
  std::vector<Mutation> creates_;
  std::vector<Mutation> deletes_;
};

}  // namespace kindred

#endif  // KINDRED_RECORD_MOVE_H_
