// The engine's implementation. Internal: callers use kindred/engine.h.
#ifndef KINDRED_ENGINE_CORE_ENGINE_IMPL_H_
#define KINDRED_ENGINE_CORE_ENGINE_IMPL_H_

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/core/keyfile.h"
#include "engine/crypto/crypto.h"
#include "engine/log/hlc.h"
#include "engine/store/store.h"
#include "kindred/engine.h"
#include "kindred/v1/store.pb.h"

namespace kindred::core {

// Paths inside a home.
std::string KeyFilePath(const std::string& home);
std::string StorePath(const std::string& home);

// Nonces for at-rest sealing: a random 16-byte prefix per engine instance
// and a 64-bit counter, so no nonce repeats within or across processes.
// Thread-safe.
class NonceSequence {
 public:
  explicit NonceSequence(Random& random);
  std::string Next();

 private:
  std::mutex mu_;
  std::string prefix_;
  uint64_t counter_ = 0;  // guarded by mu_
};

class EngineImpl final : public Engine {
 public:
  // Creates a device in an empty home.
  static Result<std::unique_ptr<Engine>> Create(const InitOptions& options);
  // Opens an existing home.
  static Result<std::unique_ptr<Engine>> OpenHome(const EngineOptions& options);
  ~EngineImpl() override;

  const DeviceInfo& device() const override { return device_; }
  Result<std::vector<std::string>> Commit(const SpaceId& space,
                                          const std::vector<Mutation>& mutations) override;
  Result<Record> Get(const SpaceId& space, const std::string& collection, const std::string& id,
                     bool include_deleted) override;
  Status Scan(const SpaceId& space, const std::string& collection,
              const std::function<bool(const Record&)>& fn) override;
  Status ScanByListItem(const SpaceId& space, const std::string& collection,
                        const std::string& field, const std::string& item,
                        const std::function<bool(const Record&)>& fn) override;
  Result<std::vector<SpaceSummary>> Spaces() override;
  std::string MemberName(const DeviceId& device) override;
  Status Verify(VerifyReport* report) override;
  DeviceCard card() const override;
  Result<VersionVector> Versions(const SpaceId& space) override;
  Status ReadMissing(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                     const std::function<bool(OpBatch&&)>& fn) override;
  Result<uint64_t> Ingest(const OpBatch& batch) override;
  Result<std::string> GrantSpace(const SpaceId& space, const DeviceCard& recipient) override;
  Result<SpaceId> AcceptSpace(std::string_view grant, const DeviceCard& granter,
                              bool as_personal) override;

  // For tests that tamper with the stored bytes.
  store::Store* StoreForTest() { return store_.get(); }

 private:
  // One caller of Commit waiting in the group-commit queue.
  struct Writer;
  // The head of this device's own log in one space.
  struct Head {
    uint64_t seq = 0;
    std::string hash = std::string(crypto::kHashBytes, '\0');
    uint64_t hlc = 0;
  };
  // State of one group commit while it is built.
  struct GroupState;

  EngineImpl(Env& env, EngineOptions options, DeviceSecrets secrets,
             std::unique_ptr<store::Store> store);

  Status Load();
  // Queues `w` and returns once its group was written (group commit).
  void RunInGroup(Writer& w);
  Status CommitGroup(std::vector<Writer*>& group);
  // Phase 1 of a local mutation: seq, clock, payload, merge.
  Status PrepareMutation(GroupState& g, const SpaceId& space, const Mutation& m, std::string* id);
  // Phase 2: seals the group's ops in chain order.
  void SealLocalOps(GroupState& g);
  // Phase 3: erases the ciphertext of every op a purge in the group names.
  Status ErasePurgedOps(GroupState& g);
  void PutVersion(store::Batch& batch, const SpaceId& space, const DeviceId& device,
                  const Head& head);
  Status IngestInGroup(GroupState& g, const OpBatch& batch, uint64_t* added);
  // Merges op (author, seq) into its record; notes a purge for phase 3.
  // `payload` must live as long as `g` (on its arena or in the caller's batch).
  Status MergePayload(GroupState& g, const SpaceId& space, const DeviceId& author, uint64_t seq,
                      uint64_t hlc, const v1::OpPayload& payload, const std::string& id);
  // The head of (space, device) as this group sees it.
  Result<Head> PeerHead(GroupState& g, const SpaceId& space, const DeviceId& device);
  // The hash of stored op `seq` of (space, device).
  Result<std::string> StoredOpHash(const SpaceId& space, const DeviceId& device, uint64_t seq);
  Result<std::string> SignKeyOf(const SpaceId& space, const DeviceId& device);
  Result<v1::RecordState*> LoadState(GroupState& g, const SpaceId& space,
                                     const std::string& collection, const std::string& id);
  Result<v1::RecordState> ReadState(std::string_view key, std::string_view sealed) const;
  std::string SealState(std::string_view key, const v1::RecordState& state);
  void UpdateIndex(store::Batch& batch, const SpaceId& space, const v1::RecordState* before,
                   const v1::RecordState& after);
  Result<const crypto::SymmetricKey*> EpochKey(const SpaceId& space, uint32_t epoch);
  Record ToRecord(const v1::RecordState& state) const;
  std::string DeriveRecordId(const SpaceId& space, const DeviceId& device, uint64_t seq) const;
  Status VerifyLog(const SpaceId& space, const DeviceId& device, VerifyReport* report);

  Env& env_;
  EngineOptions options_;
  DeviceSecrets secrets_;
  std::unique_ptr<store::Store> store_;
  DeviceInfo device_;
  crypto::SymmetricKey records_key_;
  crypto::SymmetricKey index_key_;
  crypto::SymmetricKey wrap_key_;
  log::HybridClock hlc_;
  NonceSequence nonces_;

  // Spaces, keys and roster names: loaded at open, changed only under mu_.
  mutable std::mutex meta_mu_;
  std::map<SpaceId, v1::SpaceInfo> spaces_;                         // guarded by meta_mu_
  std::map<std::pair<SpaceId, uint32_t>, crypto::SymmetricKey> epoch_keys_;  // guarded by meta_mu_
  std::map<std::pair<SpaceId, DeviceId>, v1::RosterEntry> roster_;  // guarded by meta_mu_

  // Group commit (after LevelDB's DBImpl::Write): the first writer in the
  // queue builds one batch for everyone waiting, writes it once, and wakes them.
  std::mutex commit_mu_;
  std::deque<Writer*> writers_;    // guarded by commit_mu_
  std::map<SpaceId, Head> heads_;  // guarded by commit_mu_, touched only by the leader
};

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_ENGINE_IMPL_H_
