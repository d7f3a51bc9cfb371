// The engine's implementation. Internal: callers use kindred/engine.h.
#ifndef KINDRED_ENGINE_CORE_ENGINE_IMPL_H_
#define KINDRED_ENGINE_CORE_ENGINE_IMPL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/core/keyfile.h"
#include "engine/core/record_cipher.h"
#include "engine/crypto/crypto.h"
#include "engine/log/hlc.h"
#include "engine/store/store.h"
#include "kindred/engine.h"
#include "kindred/v1/store.pb.h"

namespace kindred::core {

// Paths inside a home.
std::string KeyFilePath(const std::string& home);
std::string StorePath(const std::string& home);

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
  Status ReadMissingToSend(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                           const std::function<bool(OpBatch&&)>& fn) override;
  Status ReadMissing(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                     const std::function<bool(OpBatch&&)>& fn) override;
  using Engine::Ingest;
  Result<uint64_t> Ingest(const OpBatch& batch, const std::function<void()>& on_built) override;
  Result<std::string> GrantSpace(const SpaceId& space, const DeviceCard& recipient) override;
  Result<SpaceId> AcceptSpace(std::string_view grant, const DeviceCard& granter,
                              bool as_personal) override;
  // Pairing, roster, revocation: engine_roster.cc.
  Result<std::unique_ptr<PendingAdmission>> PrepareAdmission(const DeviceCard& recipient,
                                                             PairingKind kind) override;
  Status CompleteAdmission(PendingAdmission& pending) override;
  Status CheckAdmission(const std::vector<std::string>& grants, const DeviceCard& granter,
                        PairingKind kind) override;
  Result<std::vector<SpaceId>> AcceptAdmission(const std::vector<std::string>& grants,
                                               const DeviceCard& granter,
                                               PairingKind kind) override;
  std::optional<SpaceId> SharedSpace() override;
  bool SpaceEnded(const SpaceId& space) override;
  std::vector<SpaceId> SharedSpaces() override;
  Result<std::vector<RosterDevice>> Devices() override;
  Status RevokeDevice(const DeviceId& device) override;
  Status EndSpace(const SpaceId& space, const DeviceId& told_by) override;
  // Peers and change listeners: engine_peers.cc.
  Result<std::vector<DeviceCard>> SpaceDevices(const SpaceId& space) override;
  Result<std::map<DeviceId, LogHead>> Heads(const SpaceId& space) override;
  Result<PeerInfo> PeerByTransportKey(std::string_view dh_pk) override;
  Result<std::vector<PeerInfo>> Peers() override;
  Status UpdatePeer(const DeviceId& device, const std::function<void(PeerInfo&)>& change) override;
  uint64_t AddChangeListener(ChangeListener listener) override;
  void RemoveChangeListener(uint64_t handle) override;

  // For tests that tamper with the stored bytes.
  store::Store* StoreForTest() { return store_.get(); }
  // For tests of what peers refuse: commits stop checking that text is
  // UTF-8, as a faulty or hostile device's would. Call before any commit.
  void SkipTextChecksForTest() { skip_text_checks_for_test_ = true; }
  // The epoch keys of `space` this device holds, by epoch (tests check
  // what a revoked device can still read).
  std::map<uint32_t, std::string> EpochKeysForTest(const SpaceId& space);
  // The device's X25519 key pair, for the transport (transport_key.h).
  const crypto::DhKeyPair& transport_key() const { return secrets_.dh; }
  // Signs `message` with the device's Ed25519 key; for transport_key.h only.
  std::string SignForPairing(std::string_view message) const {
    return crypto::Sign(secrets_.sign, message);
  }

 private:
  // One caller of Commit waiting in the group-commit queue.
  struct Writer;
  // The head of this device's own log in one space.
  struct Head {
    uint64_t seq = 0;
    std::string hash = std::string(crypto::kHashBytes, '\0');
    uint64_t hlc = 0;
  };
  // A record as one group commit sees it.
  struct CachedRecord;
  // A dirty record to seal at the end of a group, and the result.
  struct RecordJob;
  // Per-thread buffers for sealing records.
  struct SealScratch;
  // State of one group commit while it is built.
  struct GroupState;
  // Seals a group's own ops along the hash chain on the worker thread while
  // the leader still prepares later ones, then seals records on both threads.
  class Sealer;
  // The second thread of group commits (the leader is the first).
  class WorkerThread;
  WorkerThread& Worker();  // leader only
  // A group whose write is under way while the next one is built.
  struct InFlight;
  // One group commit: its writers, and what it builds on.
  struct GroupRun;

  EngineImpl(Env& env, EngineOptions options, DeviceSecrets secrets,
             std::unique_ptr<store::Store> store);

  Status Load();
  // Commit, with the engine's reserved collections allowed.
  Result<std::vector<std::string>> CommitInternal(const SpaceId& space,
                                                  const std::vector<Mutation>& mutations,
                                                  bool allow_reserved);
  // Runs `fn` as the only group-commit leader (nothing else commits or
  // ingests meanwhile), e.g. to merge ops that waited for a key.
  Status RunExclusive(const std::function<Status()>& fn);

  // ---- The roster and keys as records (engine_roster.cc) ----
  // A decoded, checked grant.
  struct OpenedGrant;
  // Builds and seals a grant of `space` for `recipient_entry`'s device,
  // listing `roster` (which must include the recipient) and `keys`.
  Result<std::string> SealGrant(const v1::SpaceInfo& space,
                                const std::vector<v1::RosterEntry>& roster,
                                const std::map<uint32_t, crypto::SymmetricKey>& keys,
                                const v1::RosterEntry& recipient_entry);
  // Opens and checks a grant made by `granter` for this device.
  Result<OpenedGrant> OpenGrant(std::string_view sealed, const DeviceCard& granter);
  // Stores an opened grant's space, keys and roster (in `batch`) and, after
  // the write, in memory (`Remember`).
  void PutGrant(const OpenedGrant& grant, store::Batch& batch);
  void RememberGrant(OpenedGrant& grant);  // REQUIRES: meta_mu_ held
  // The roster entry a device gets when `adder` lists it.
  v1::RosterEntry EntryFor(const DeviceCard& card, const DeviceId& adder) const;
  // The "_roster" record that lists `entry`, and the "_keys" record that
  // seals epoch key `key` of `space` to device `to`.
  Mutation RosterAddMutation(const v1::RosterEntry& entry) const;
  Mutation EpochKeyMutation(const SpaceId& space, uint32_t epoch, const crypto::SymmetricKey& key,
                            const v1::RosterEntry& to) const;
  // Brings the roster, epoch keys and pending grants up to date with the
  // control records of the spaces that changed (control_dirty_), then
  // merges ops that were waiting for a key. Serialised by control_mu_.
  Status RefreshControl();
  Status RefreshSpaceLocked(const SpaceId& space, bool* learned_keys);  // REQUIRES: control_mu_
  Status RebuildRoster(const SpaceId& space);
  Status LearnEpochKeys(const SpaceId& space, bool* learned);
  Status AcceptPendingGrants(const SpaceId& personal);
  // Merges the ops of every log whose records lag behind it (a key arrived).
  Status ReplayLaggingLogs();
  // The active (not revoked) devices of `space` here. REQUIRES: meta_mu_ held.
  std::vector<v1::RosterEntry> ActiveRosterLocked(const SpaceId& space) const;
  // Whether the roster of some space here lists `device` as active.
  bool IsActiveLocked(const DeviceId& device) const;  // REQUIRES: meta_mu_ held
  Status PutSpaceInfo(const SpaceId& space, const v1::SpaceInfo& info);
  // Queues `w` and returns once its group was written (group commit).
  void RunInGroup(Writer& w);
  Status CommitGroup(GroupRun& run);
  // Whether writers wait behind the leader's group of `group_size`.
  bool WritersQueuedBehind(size_t group_size);
  // Phase 1 of a local mutation: seq, clock, payload, merge. Hands the op
  // to the group's sealer.
  Status PrepareMutation(GroupState& g, const SpaceId& space, const Mutation& m, std::string* id);
  // Phase 3: erases the ciphertext of every op a purge in the group names,
  // rewriting the segments that hold them.
  Status ErasePurgedOps(GroupState& g, store::Batch& batch);
  void PutVersion(store::Batch& batch, const SpaceId& space, const DeviceId& device,
                  const Head& head);
  // Notes that the records hold the effect of ops up to `seq` of (space, device).
  void PutApplied(store::Batch& batch, const SpaceId& space, const DeviceId& device, uint64_t seq);
  // After a crash the records can lag the op log (they are written without
  // the write-ahead log): merges the ops after each log's applied mark.
  Status ReplayUnappliedOps();
  Status ReplayLog(const SpaceId& space, const DeviceId& device, uint64_t from, uint64_t to);
  Status IngestInGroup(GroupState& g, const OpBatch& batch, uint64_t* added);
  // Merges a peer's op (author, seq) into its record; checks the names first.
  // An op that names no record created it, under the id DeriveRecordId
  // makes from `id_prefix` (RecordIdPrefix(space, author)) and seq.
  // `payload` must live as long as `g` (on its arena or in the caller's batch).
  // A write's field values are moved into the record (see MergeInto).
  Status MergePayload(GroupState& g, const SpaceId& space, const DeviceId& author, uint64_t seq,
                      uint64_t hlc, v1::OpPayload& payload, std::string_view id_prefix);
  // Merges op (author, seq) into `record`; notes a purge for phase 3. A
  // write's field values are moved out of `payload` into the record, not
  // copied: callers have encoded the payload already and read it no more
  // (a delete's stays whole: a purge reads it in phase 3).
  void MergeInto(GroupState& g, CachedRecord& record, const SpaceId& space, const DeviceId& author,
                 uint64_t seq, uint64_t hlc, v1::OpPayload& payload, std::string id);
  // The head of (space, device) as this group sees it.
  Result<Head> PeerHead(GroupState& g, const SpaceId& space, const DeviceId& device);
  // ReadMissing, with every op's prev_hash (`linked`) or only the first of
  // each batch's (ReadMissingToSend).
  Status ReadMissingOps(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                        bool linked, const std::function<bool(OpBatch&&)>& fn);
  // The hashes of held ops `from`..`to` (1 <= from <= to) of (space, device),
  // from this group's new segments (or the group below's) or the store.
  Status HeldOpHashes(GroupState& g, const SpaceId& space, const DeviceId& device, uint64_t from,
                      uint64_t to, std::vector<std::string>* out);
  Result<std::string> SignKeyOf(const SpaceId& space, const DeviceId& device);
  // The record (space, collection, id) as group `g` sees it: as this group
  // left it, else as the group below writes it, else as stored (empty when
  // absent). `derived`: DeriveRecordId made `id` in its sortable form, so
  // a record that cannot be stored is not looked up (see MaybeStored).
  Result<CachedRecord*> LoadState(GroupState& g, const SpaceId& space,
                                  const std::string& collection, const std::string& id,
                                  bool derived = false);
  // False when no record with this key can be in the store: `key`'s id
  // was derived in sortable form and is above every stored id its creator
  // derived. One store seek per group and key prefix. Leader only.
  bool MaybeStored(GroupState& g, std::string_view key);
  Result<v1::RecordState> ReadState(std::string_view key, std::string_view sealed) const;
  // Seals `job`'s record and works out its index changes. Thread-safe.
  void SealRecord(RecordJob& job, SealScratch& scratch);
  // Index entries to add (true) or remove (false) when a record changes.
  void IndexChanges(const SpaceId& space, const v1::RecordState* before,
                    const v1::RecordState& after,
                    std::vector<std::pair<std::string, bool>>* changes) const;
  Result<const crypto::SymmetricKey*> EpochKey(const SpaceId& space, uint32_t epoch);
  Record ToRecord(const v1::RecordState& state) const;
  // The id of the record created by op (space, device, seq) without an
  // explicit id: RecordIdPrefix(space, device), then the seq, in 16
  // characters that sort like the seq. Unique: the seq is unique per device,
  // and the 40-bit prefix tells a space's devices apart. A device's new
  // records thus get increasing ids, so a commit appends to the records
  // column family instead of inserting all over it (docs/performance.md).
  static std::string DeriveRecordId(std::string_view prefix, const SpaceId& space,
                                    const DeviceId& device, uint64_t seq);
  // 5 bytes of BLAKE2b("kindred/rid/2" | space | device).
  static std::string RecordIdPrefix(const SpaceId& space, const DeviceId& device);
  // Checks the log of (space, device) against its recorded head.
  Status VerifyLog(const SpaceId& space, const DeviceId& device, const v1::VersionEntry& head,
                   VerifyReport* report);

  Env& env_;
  EngineOptions options_;
  DeviceSecrets secrets_;
  bool skip_text_checks_for_test_ = false;  // see SkipTextChecksForTest
  std::unique_ptr<store::Store> store_;
  DeviceInfo device_;
  crypto::SymmetricKey index_key_;
  crypto::SymmetricKey wrap_key_;
  log::HybridClock hlc_;
  RecordCipher records_;  // seals and opens records at rest

  // Serialises RefreshControl and the pairing/revocation writers.
  std::recursive_mutex control_mu_;
  // Spaces whose control records ("_roster", "_keys", "_grants") changed
  // in a group and await RefreshControl.
  std::mutex dirty_mu_;
  std::set<SpaceId> control_dirty_;  // guarded by dirty_mu_

  // Spaces, keys and roster names: loaded at open, changed only under mu_.
  mutable std::mutex meta_mu_;
  std::map<SpaceId, v1::SpaceInfo> spaces_;                         // guarded by meta_mu_
  std::map<std::pair<SpaceId, uint32_t>, crypto::SymmetricKey> epoch_keys_;  // guarded by meta_mu_
  std::map<std::pair<SpaceId, DeviceId>, v1::RosterEntry> roster_;  // guarded by meta_mu_

  // Group commit (after LevelDB's DBImpl::Write): the first writer in the
  // queue builds one batch for everyone waiting, writes it once, and wakes them.
  std::mutex commit_mu_;
  std::deque<Writer*> writers_;    // guarded by commit_mu_
  // The last group of peers' batches to leave the queue before its write
  // was done (see RunInGroup), until it is written.
  std::shared_ptr<InFlight> in_flight_;   // guarded by commit_mu_
  std::condition_variable in_flight_cv_;  // signalled as a group in flight is written
  std::map<SpaceId, Head> heads_;  // guarded by commit_mu_, touched only by the leader
  // Touched only by the leader: the worker thread (started on first use),
  // the sizes of the last group's batches (to size the next ones), and an
  // error that left the records behind the log.
  std::unique_ptr<WorkerThread> worker_;
  size_t last_log_bytes_ = 0;
  size_t last_derived_bytes_ = 0;
  Status records_error_;

  // Peers and change listeners (engine_peers.cc).
  // Tells the change listeners that `space` changed. Takes no other lock.
  void NotifyChanged(const SpaceId& space);
  // The peer `device` as the rosters list it, with its stored record.
  Result<PeerInfo> PeerLocked(const DeviceId& device);  // REQUIRES: meta_mu_ held
  std::mutex peers_mu_;      // serialises UpdatePeer's read-modify-write
  std::mutex listeners_mu_;  // held while listeners run
  std::map<uint64_t, ChangeListener> listeners_;  // guarded by listeners_mu_
  uint64_t next_listener_ = 1;                     // guarded by listeners_mu_
};

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_ENGINE_IMPL_H_
