#include "kindred/record_move.h"

#include <utility>

namespace kindred {

RecordMove::RecordMove(Engine& engine, SpaceId from, SpaceId to)
    : engine_(engine), from_(std::move(from)), to_(std::move(to)) {}

Status RecordMove::Add(Record record) {
  auto there = engine_.Get(to_, record.collection, record.id, /*include_deleted=*/true);
  if (!there.ok() && there.status().code() != StatusCode::kNotFound) return there.status();
  if (!there.ok()) {
    Mutation create = Mutation::Create(record.collection, std::move(record.fields));
    create.id = record.id;
    creates_.push_back(std::move(create));
  }
  deletes_.push_back(Mutation::Delete(record.collection, record.id));
  return Status::Ok();
}

Result<size_t> RecordMove::Commit() {
  if (deletes_.empty()) return size_t{0};
  if (!creates_.empty()) KINDRED_RETURN_IF_ERROR(engine_.Commit(to_, creates_).status());
  KINDRED_RETURN_IF_ERROR(engine_.Commit(from_, deletes_).status());
  const size_t moved = deletes_.size();
  creates_.clear();
  deletes_.clear();
  return moved;
}

}  // namespace kindred
