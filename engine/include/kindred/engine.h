// The Kindred engine: one device's encrypted, local-first store of records,
// organised in spaces, each with a signed, hash-chained op log per device.
//
//   auto engine = kindred::Engine::Open({.home = "/path/to/home"});
//   if (!engine.ok()) { ... engine.status().message() ... }
//   auto ids = (*engine)->Commit(space, {Mutation::Create("journal", {...})});
//
// Thread-safe: every method may be called from any thread. Concurrent
// Commit calls are grouped into one durable write (group commit).
#ifndef KINDRED_ENGINE_H_
#define KINDRED_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kindred/env.h"
#include "kindred/ids.h"
#include "kindred/record.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred {

namespace v1 {
class OpEnvelope;  // the engine's op envelope (an internal schema); see OpBatch::decoded
}  // namespace v1

// How hard the passphrase key derivation (Argon2id) works.
enum class PassphraseStrength {
  kModerate,     // default: about a second and 256 MiB
  kInteractive,  // faster (tests, small devices): 64 MiB
};

// Options for opening an existing home.
struct EngineOptions {
  // The home directory (holds device.key and db/). Required.
  std::string home;
  // The operating system. Not owned; must outlive the engine. Null = real OS.
  Env* env = nullptr;
  // The passphrase that seals the key file, if the user set one.
  std::optional<std::string> passphrase;
  // Wait for the disk on every commit (fsync). Concurrent commits share one.
  bool sync_writes = true;
};

// Options for creating a new device in an empty home.
struct InitOptions {
  EngineOptions engine;
  // The member (person) this device belongs to, e.g. "Alex". Required.
  std::string member_name;
  // A name for the device, e.g. "laptop". Defaults to the host name.
  std::string device_name;
  // Seal the key file with engine.passphrase when set and non-empty.
  PassphraseStrength strength = PassphraseStrength::kModerate;
};

// This device's public identity.
struct DeviceInfo {
  DeviceId id;
  std::string member_name;
  std::string device_name;
  std::string sign_pk;  // Ed25519 public key, 32 bytes
  std::string dh_pk;    // X25519 public key, 32 bytes
  SpaceId personal_space;
  // False when the key file is not sealed with a passphrase.
  bool keys_protected = false;
};

// A space as this device sees it.
struct SpaceSummary {
  SpaceId id;
  std::string kind;  // "personal" or "shared"
  uint32_t epoch = 0;
  // Shared spaces after `kindred unpair`: when the partnership ended (0
  // while it lasts). An ended space is read-only and no longer synced.
  int64_t ended_micros = 0;
  // Device -> highest seq of its log held here.
  std::map<DeviceId, uint64_t> version_vector;
  // Live (not deleted) records per collection.
  std::map<std::string, uint64_t> records;
};

// What Engine::Verify checked.
struct VerifyReport {
  uint64_t ops = 0;         // ops whose hash chain was checked
  uint64_t decrypted = 0;   // ops whose payload authenticated and decrypted
  uint64_t purged = 0;      // ops whose ciphertext was erased on purpose
  uint64_t signatures = 0;  // batch signatures verified
  uint64_t records = 0;     // materialised records that authenticated
  uint64_t pending = 0;     // ops whose epoch key has not reached this device yet
};

// What a device holds of a space's logs: device -> highest seq.
using VersionVector = std::map<DeviceId, uint64_t>;

// A contiguous run of one device's ops in one space, ending at a signed
// head, as sync sends it. The bytes are opaque here: the engine checks them
// all before it trusts any.
struct OpBatch {
  SpaceId space;
  DeviceId device;
  uint64_t first_seq = 0;
  std::vector<std::string> ops;  // encoded op envelopes, seq first_seq, first_seq+1, ...
  std::string signature;         // encoded batch signature over the last op
  // Optional, and only from code in this process that computed them itself
  // from `ops` (never values a peer sent): derived_hashes[i] is the op hash
  // of ops[i] along the prev_hash it names, and every op that is not purged
  // had its payload_hash computed here from its ciphertext. Ingest then
  // uses them instead of hashing every op a second time. Empty: Ingest
  // computes and checks both itself.
  std::vector<std::string> derived_hashes;
  // Optional, in-process only, and only with derived_hashes: the ops
  // already decoded by the code that derived those hashes (the sync layer,
  // which rebuilds them from the wire), in place of `ops`, which is then
  // empty; Ingest reads them as they are instead of parsing encoded
  // envelopes (it never changes them). decoded[i] is op first_seq + i. An
  // op may leave out its prev_hash when it is not the first: it is then
  // linked to the op before it by derived_hashes, which were derived along
  // the chain. decoded_owners keep them alive (the engine never looks
  // inside).
  std::vector<const v1::OpEnvelope*> decoded;
  std::vector<std::shared_ptr<const void>> decoded_owners;

  // How many ops the batch holds: decoded ones, or encoded ones.
  size_t size() const { return decoded.empty() ? ops.size() : decoded.size(); }
};

// The public identity another device needs to add this one to a space.
struct DeviceCard {
  DeviceId id;
  std::string sign_pk;
  std::string dh_pk;
  std::string member_id;
  std::string member_name;
  std::string device_name;
};

// A device listed in the roster of a space here, as `kindred devices` shows it.
struct RosterDevice {
  DeviceCard card;
  DeviceId added_by;            // the device that added it (itself for a space's first device)
  int64_t added_micros = 0;     // 0 when unknown
  bool revoked = false;         // revoked in every space that lists it
  DeviceId revoked_by;
  int64_t revoked_micros = 0;
  std::vector<SpaceId> spaces;  // the spaces whose roster lists it, in id order
};

// What pairing makes of the other device: a partner's (the two members
// create their shared space) or another device of this member (it joins
// the personal space and the shared space).
enum class PairingKind { kPartner, kOwnDevice };

// The spaces, keys and roster entries an inviter is about to share with a
// device that pairing authenticated, prepared but not yet written: nothing
// changes until Engine::CompleteAdmission. Destroying it abandons the
// admission and wipes the keys it holds. Not thread-safe.
class PendingAdmission {
 public:
  virtual ~PendingAdmission() = default;
  // The grants to hand to the recipient (Engine::AcceptAdmission): each
  // sealed to its X25519 key and signed by this device.
  virtual const std::vector<std::string>& grants() const = 0;
  // The recipient as the rosters will list it.
  virtual const DeviceCard& recipient() const = 0;
};

// Called with (done, total) during long operations.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// The head of one device's log in one space, as held here.
struct LogHead {
  uint64_t seq = 0;   // highest seq held; 0 = none
  std::string hash;   // op hash of op `seq` (32 bytes); 32 zero bytes when seq is 0
};

// Another device that shares at least one space with this one, and what
// this device remembers about syncing with it.
struct PeerInfo {
  DeviceCard card;              // as the roster of a shared space lists it
  std::vector<SpaceId> spaces;  // the spaces whose roster here lists it, in id order
  std::string address;          // "HOST:PORT" it was last reached at; "" when unknown
  int64_t last_seen_micros = 0; // last authenticated connection, either way; 0 = never
  int64_t last_sync_micros = 0; // last sync that completed; 0 = never
  std::string last_result;      // "" = never tried, "ok", or why the last attempt failed
};

// Told about every durable change to a space: a local commit, or a peer's
// batch that added ops. See Engine::AddChangeListener.
using ChangeListener = std::function<void(const SpaceId& space)>;

class Engine {
 public:
  virtual ~Engine() = default;

  // Creates a device in `options.engine.home`: keys, personal space, store.
  // AlreadyExists if the home already holds a device (nothing is changed).
  static Result<std::unique_ptr<Engine>> Init(const InitOptions& options);

  // Opens the device in `options.home`. FailedPrecondition when the home
  // holds no device; Unauthenticated for a missing or wrong passphrase;
  // Busy when another process has the store open; Corruption when the
  // store or key file is damaged. Never re-initialises anything.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);

  // Whether the home's key file is sealed with a passphrase (so a caller
  // knows to ask for one). FailedPrecondition when there is no device.
  static Result<bool> KeyFileIsSealed(const std::string& home, Env* env = nullptr);

  virtual const DeviceInfo& device() const = 0;

  // Applies `mutations` to `space` as one atomic, durable commit, and
  // returns the ids of the records touched, in order. InvalidArgument or
  // NotFound (nothing written) when a mutation names a record that does
  // not exist, or is malformed (names must be 1 to 255 bytes, and names,
  // text and list items UTF-8), or names a collection reserved for the
  // engine (starting with '_'); FailedPrecondition for a shared space whose
  // partnership has ended (read-only).
  virtual Result<std::vector<std::string>> Commit(const SpaceId& space,
                                                  const std::vector<Mutation>& mutations) = 0;

  // The record, or NotFound (also for deleted records unless include_deleted).
  virtual Result<Record> Get(const SpaceId& space, const std::string& collection,
                             const std::string& id, bool include_deleted = false) = 0;

  // Calls `fn` for each live record of `collection` in `space`, in id
  // order, until it returns false. Corruption if a record fails to
  // authenticate.
  virtual Status Scan(const SpaceId& space, const std::string& collection,
                      const std::function<bool(const Record&)>& fn) = 0;

  // Like Scan, but only records whose list field `field` contains `item`
  // (served from the encrypted index).
  virtual Status ScanByListItem(const SpaceId& space, const std::string& collection,
                                const std::string& field, const std::string& item,
                                const std::function<bool(const Record&)>& fn) = 0;

  // The spaces this device belongs to, with version vectors and counts.
  virtual Result<std::vector<SpaceSummary>> Spaces() = 0;

  // The member a device belongs to, as named in the space roster ("" if unknown).
  virtual std::string MemberName(const DeviceId& device) = 0;

  // Checks every op's hash chain, batch signatures and authenticated
  // payload, and every materialised record. Corruption names the first
  // op or record that fails.
  virtual Status Verify(VerifyReport* report) = 0;

  // ---- Sync and sharing (used by the sync and pairing layers) ----

  // This device's public card.
  virtual DeviceCard card() const = 0;

  // The version vector of `space` here.
  virtual Result<VersionVector> Versions(const SpaceId& space) = 0;

  // Calls `fn` with the ops of `space` that a holder of `theirs` lacks, per
  // device in seq order, in batches of about `max_ops` that each end at a
  // signed head, until `fn` returns false. Memory stays bounded by one batch.
  virtual Status ReadMissing(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                             const std::function<bool(OpBatch&&)>& fn) = 0;

  // ReadMissing for a sender that encodes the ops again for the wire (the
  // sync layer): only the first op of each batch carries its prev_hash; the
  // others are as stored, without it, so no op is parsed or hashed here.
  // Such a batch is not for Ingest as it is: the receiver derives the links
  // (docs/protocol.md, section 14).
  virtual Status ReadMissingToSend(const SpaceId& space, const VersionVector& theirs,
                                   size_t max_ops, const std::function<bool(OpBatch&&)>& fn) = 0;

  // Checks a batch from a peer (known device, unbroken hash chain from what
  // is held here, valid signature, authentic payloads), then merges and
  // stores it in one atomic write. Ops already held are skipped. Returns how
  // many ops were new. PermissionDenied for a device not in the space's
  // roster, or ops a revoked device wrote after its revocation; Corruption
  // for a broken chain, bad signature or payload, or a fork (two different
  // ops for one seq), with nothing stored. Ops under an epoch key that has
  // not reached this device yet are stored once their chain and signature
  // verify, and merged when the key arrives (Verify counts them pending).
  Result<uint64_t> Ingest(const OpBatch& batch) { return Ingest(batch, nullptr); }
  // Ingest, calling `on_built` (if set) exactly once, from inside this call
  // (possibly on another thread that runs it): as soon as the batch is
  // checked and merged and only its durable write remains, or at the latest
  // just before Ingest returns (on failure too). A batch passed to Ingest
  // after that is checked against this one's effects, while this one is
  // being written, and written after it; a batch that changes the roster or
  // the keys (or purges) takes effect first. This is how a sync keeps both
  // cores busy. `on_built` must be quick and must not call the engine.
  virtual Result<uint64_t> Ingest(const OpBatch& batch, const std::function<void()>& on_built) = 0;

  // Adds `recipient` to the roster of `space` and returns the space's keys
  // and roster sealed to the recipient's X25519 key and signed by this
  // device. The caller must have authenticated `recipient` (pairing does).
  virtual Result<std::string> GrantSpace(const SpaceId& space, const DeviceCard& recipient) = 0;

  // Opens a grant made by `granter` (authenticated by the caller) for this
  // device and joins the space. With `as_personal`, the space becomes this
  // device's personal space (linking another device of the same member).
  virtual Result<SpaceId> AcceptSpace(std::string_view grant, const DeviceCard& granter,
                                      bool as_personal) = 0;

  // ---- Pairing, roster and revocation (used by `kindred invite/join`) ----
  //
  // A space's roster is kept as signed ops in its reserved collection
  // "_roster" (and its epoch keys, sealed to each device, in "_keys"), so it
  // syncs like everything else; Ingest accepts a batch only from a device
  // the roster lists and has not revoked. Collections whose names start
  // with '_' are the engine's: Commit refuses them.

  // Prepares what pairing shares with `recipient` (whom the caller has
  // authenticated): kOwnDevice, this member's personal space and shared
  // space (if any), with the recipient listed as this member's device;
  // kPartner, a new shared space for the two members, listing this
  // member's devices and the recipient. Writes nothing. InvalidArgument for
  // a card whose keys do not match its id; FailedPrecondition when the
  // pairing makes no sense (already paired, already linked, this device).
  virtual Result<std::unique_ptr<PendingAdmission>> PrepareAdmission(const DeviceCard& recipient,
                                                                     PairingKind kind) = 0;
  // Writes what `pending` prepared: the recipient's roster entries (as ops)
  // and, for a partner, the shared space (the granter's other devices get
  // grants for it in the personal space). REQUIRES: `pending` came from
  // this engine's PrepareAdmission.
  virtual Status CompleteAdmission(PendingAdmission& pending) = 0;
  // Checks `grants` from `granter` (authenticated by the caller) as
  // AcceptAdmission would, without writing anything.
  virtual Status CheckAdmission(const std::vector<std::string>& grants, const DeviceCard& granter,
                                PairingKind kind) = 0;
  // Joins the spaces `grants` share. kOwnDevice: this device becomes a
  // device of the granter's member and takes its personal space (only a
  // new device, with no entries or pairings of its own, may). kPartner:
  // joins the couple's shared space and lists this member's other devices
  // in it. Returns the spaces joined. Unauthenticated or Corruption for a
  // grant that is not for this device, not signed by `granter` or
  // malformed; FailedPrecondition as for PrepareAdmission.
  virtual Result<std::vector<SpaceId>> AcceptAdmission(const std::vector<std::string>& grants,
                                                       const DeviceCard& granter,
                                                       PairingKind kind) = 0;
  // True when `space` is a shared space whose partnership has ended
  // (read-only here, and no longer synced).
  virtual bool SpaceEnded(const SpaceId& space) = 0;
  // The couple's shared space: the one whose partnership lasts, else the
  // latest that ended (read-only); nullopt before partner pairing.
  virtual std::optional<SpaceId> SharedSpace() = 0;
  // Every shared space here: the one whose partnership lasts first, then
  // those that ended, latest first.
  virtual std::vector<SpaceId> SharedSpaces() = 0;
  // Every device any roster here lists (this one included), in id order.
  virtual Result<std::vector<RosterDevice>> Devices() = 0;
  // Revokes `device`, another device of this member: in every space that
  // lists it, a signed roster op marks it revoked and a new epoch key,
  // sealed to each remaining device, replaces the old one for everything
  // written afterwards. Its later ops are refused and it may no longer
  // connect. NotFound for an unknown device; FailedPrecondition for this
  // device or one already revoked; PermissionDenied for the partner's.
  virtual Status RevokeDevice(const DeviceId& device) = 0;
  // Ends the partnership (`kindred unpair`): the shared space becomes
  // read-only here (Commit refuses it) and is no longer synced; the next
  // sync tells the other devices. `told_by` is the device that ended it, or
  // empty for this one. NotFound if `space` is not a shared space here.
  virtual Status EndSpace(const SpaceId& space, const DeviceId& told_by = DeviceId()) = 0;

  // ---- Peers and change notification (used by the sync layer) ----

  // The devices in the roster of `space` here, this one included, in id
  // order. NotFound if this device does not belong to the space.
  virtual Result<std::vector<DeviceCard>> SpaceDevices(const SpaceId& space) = 0;

  // The head (seq and op hash) of every device's log of `space` held here.
  virtual Result<std::map<DeviceId, LogHead>> Heads(const SpaceId& space) = 0;

  // The other device whose X25519 public key is `dh_pk` (how the transport
  // authenticates a peer), if the roster of any space here lists it.
  // NotFound otherwise, and for this device's own key.
  virtual Result<PeerInfo> PeerByTransportKey(std::string_view dh_pk) = 0;

  // Every other device listed in the roster of a space here, with what is
  // remembered about it, in device id order.
  virtual Result<std::vector<PeerInfo>> Peers() = 0;

  // Changes what is remembered about `device` (address, last seen, last
  // sync and its result; `change` may not change card or spaces) and stores
  // it durably. Serialised with other UpdatePeer calls, so `change` sees the
  // latest record; it must be quick and must not call into the engine.
  // NotFound if no roster here lists the device.
  virtual Status UpdatePeer(const DeviceId& device,
                            const std::function<void(PeerInfo&)>& change) = 0;

  // Registers `listener`, called after every durable change to a space on
  // the thread that made it, with no other engine lock held; listeners are
  // called one at a time. A listener must return quickly (e.g. post to an
  // event loop) and must not call back into the engine's Commit, Ingest or
  // Add/RemoveChangeListener. Returns a handle.
  virtual uint64_t AddChangeListener(ChangeListener listener) = 0;
  // Unregisters a listener. Once this returns, it is not running and will
  // not be called again. Unknown handles are ignored.
  virtual void RemoveChangeListener(uint64_t handle) = 0;
};

}  // namespace kindred

#endif  // KINDRED_ENGINE_H_
