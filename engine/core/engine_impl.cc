#include "engine/core/engine_impl.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <limits>
#include <set>
#include <thread>

#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "engine/core/meta_keys.h"
#include "engine/log/merge.h"
#include "engine/log/oplog.h"
#include "engine/log/segment.h"

namespace kindred::core {
namespace {

constexpr char kRecordAd[] = "kindred/rec/1";
constexpr size_t kIndexTokenBytes = 16;
// Record ids use the characters of RFC 4648 base32 (a-z, 2-7), assigned in
// byte order so that ids sort like the numbers they encode.
constexpr char kSortableBase32[] = "234567abcdefghijklmnopqrstuvwxyz";
constexpr size_t kRecordIdPrefixBytes = 5;
// Seqs below this get record ids in their sortable form (DeriveRecordId):
// the creator's 8-character id prefix, then 8 characters of the seq.
constexpr uint64_t kSortableRecordIdSeqs = uint64_t{1} << 40;
constexpr size_t kRecordIdSeqChars = 8;
// From this many ops, Ingest checks a batch on both cores.
constexpr size_t kParallelIngestFrom = 64;

void AppendName(std::string* key, std::string_view name) {
  key->push_back(static_cast<char>(name.size()));
  key->append(name);
}

std::string CollectionPrefix(const SpaceId& space, std::string_view collection) {
  std::string key(space.bytes());
  AppendName(&key, collection);
  return key;
}

std::string RecordKey(const SpaceId& space, std::string_view collection, std::string_view id) {
  std::string key = CollectionPrefix(space, collection);
  key.append(id);
  return key;
}

// Whether a payload's names, text and list items are UTF-8, as commits
// ensure (the proto declares them bytes: protobuf then checks them neither
// when parsing nor, each time a record is sealed, when serialising).
bool TextIsUtf8(const v1::OpPayload& payload) {
  if (payload.has_remove()) return IsValidUtf8(payload.remove().collection());
  const v1::RecordWrite& write = payload.write();
  if (!IsValidUtf8(write.collection())) return false;
  for (const v1::FieldWrite& field : write.fields()) {
    if (!IsValidUtf8(field.name())) return false;
    const v1::Value& value = field.value();
    if (value.has_text() && !IsValidUtf8(value.text())) return false;
    if (value.has_list()) {
      for (const std::string& item : value.list().items()) {
        if (!IsValidUtf8(item)) return false;
      }
    }
  }
  return true;
}

void ToProto(const Value& value, v1::Value* out) {
  struct Visitor {
    v1::Value* out;
    void operator()(std::monostate) const { out->Clear(); }
    void operator()(const std::string& s) const { out->set_text(s); }
    void operator()(int64_t v) const { out->set_integer(v); }
    void operator()(const std::vector<std::string>& l) const {
      auto* list = out->mutable_list();
      for (const auto& item : l) list->add_items(item);
    }
    void operator()(bool b) const { out->set_flag(b); }
  };
  std::visit(Visitor{out}, value);
}

Value FromProto(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kText: return v.text();
    case v1::Value::kInteger: return v.integer();
    case v1::Value::kList: return std::vector<std::string>(v.list().items().begin(), v.list().items().end());
    case v1::Value::kFlag: return v.flag();
    default: return std::monostate{};
  }
}

DeviceId DotDevice(const v1::Dot& dot) {
  auto id = DeviceId::FromBytes(dot.device());
  return id.ok() ? *id : DeviceId();
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "device";
  return buf;
}

}  // namespace

std::string KeyFilePath(const std::string& home) { return home + "/device.key"; }
std::string StorePath(const std::string& home) { return home + "/db"; }

struct EngineImpl::Writer {
  // Either a local commit...
  const SpaceId* space = nullptr;
  const std::vector<Mutation>* mutations = nullptr;
  // ...or a peer's batch...
  const OpBatch* ingest = nullptr;
  // ...or work that must run alone (RunExclusive).
  const std::function<Status()>* exclusive = nullptr;
  size_t Size() const { return mutations ? mutations->size() : ingest ? ingest->size() : 1; }

  Result<std::vector<std::string>> result = Status::Internal("commit did not run");
  uint64_t ingested = 0;
  // Ingest's caller's, called once the batch is built (see Engine::Ingest);
  // null once called.
  const std::function<void()>* on_built = nullptr;
  bool done = false;
  std::condition_variable cv;
};

struct EngineImpl::CachedRecord {
  SpaceId space;
  v1::RecordState* before = nullptr;  // as stored before this group; null if new
  v1::RecordState* state = nullptr;
  bool dirty = false;
};

struct EngineImpl::RecordJob {
  const std::string* key = nullptr;
  CachedRecord* record = nullptr;
  std::string sealed;
  std::vector<std::pair<std::string, bool>> index;  // (index key, true = put, false = delete)
};

struct EngineImpl::SealScratch {
  std::string plain;
  std::string ad;
  ~SealScratch() {
    if (!plain.empty()) sodium_memzero(plain.data(), plain.size());
  }
};

struct EngineImpl::GroupState {
  // A group of a sync puts about 20 MB of protos on its arena. Protobuf's
  // default blocks (256 bytes, growing to 8 KB) made that thousands of
  // block allocations and frees per group, on both threads: about 7% of an
  // initial sync's CPU. A single commit's group still asks for just 16 KB.
  static google::protobuf::ArenaOptions ArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 16 << 10;
    options.max_block_size = 256 << 10;
    return options;
  }

  // Protos built for this group live here and die together, cheaply.
  google::protobuf::Arena arena{ArenaOptions()};
  absl::node_hash_map<std::string, CachedRecord> records;                 // by record key
  // For ids DeriveRecordId made in its sortable form: the greatest record
  // key stored under each key prefix they share (space, collection, the
  // creator's id prefix), or "" when none is; read once per group (see
  // MaybeStored). Touched by the leader only.
  absl::node_hash_map<std::string, std::string> stored_ceilings;
  const std::pair<const std::string, std::string>* last_ceiling = nullptr;  // the last one read
  std::vector<std::pair<const std::string, CachedRecord>*> record_order;  // first touched first
  std::map<SpaceId, Head> heads;  // our heads; seq and hlc move in phase 1, the hash in phase 3
  std::map<std::pair<SpaceId, DeviceId>, Head> peer_heads;  // peers' heads
  // What our new ops in one space share: the key, a fresh salt, and where
  // the chain stood before the group.
  struct LocalSpace {
    uint32_t epoch = 0;
    const crypto::SymmetricKey* key = nullptr;
    std::string salt;
    uint64_t first_seq = 0;
    std::string prev_hash;
    std::string record_id_prefix;  // see DeriveRecordId
  };
  std::map<SpaceId, LocalSpace> local_spaces;  // nodes stay put: ops point into them
  // Our new ops, in seq order per space. Sized before phase 1; the first
  // `local_count` are filled in and handed to `sealer` as they are.
  struct LocalOp {
    const SpaceId* space = nullptr;
    const LocalSpace* context = nullptr;
    uint64_t seq = 0;
    uint64_t hlc = 0;
    // What does not depend on the chain is done in phase 1: the encoded
    // payload (on the arena; wiped once sealed) and the nonce.
    char* plain = nullptr;
    size_t plain_size = 0;
    log::Nonce nonce;
  };
  std::vector<LocalOp> local_ops;
  size_t local_count = 0;
  Sealer* sealer = nullptr;
  // The segments this group writes: peers' in phase 1, ours in phase 3.
  struct NewSegment {
    SpaceId space;
    DeviceId device;
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;
    std::vector<std::string> hashes;  // op hashes (peers' segments), for overlap checks
    std::string bytes;                // the encoded OpSegment
  };
  std::vector<NewSegment> segments;
  // Purges to carry out once every op of the group is encoded.
  std::vector<std::pair<SpaceId, const v1::RecordDelete*>> purges;
  // Spaces whose control records ("_roster", "_keys", ...) this group changed.
  std::set<SpaceId> control_spaces;
  // Peers' logs whose records stay behind the log after this group: an op
  // whose epoch key has not arrived yet, and everything after it, waits
  // (ReplayLaggingLogs merges it once the key is here). Log -> applied seq.
  std::map<std::pair<SpaceId, DeviceId>, uint64_t> applied_override;
  // The worker thread seals our own ops during phase 1 (see Sealer), so
  // ingested batches cannot use it then.
  bool worker_busy = false;
  // The group whose write is under way while this one is built (see
  // RunInGroup), or null. What it will have written is read from it:
  // records, peers' heads and applied marks, and op hashes.
  const GroupState* below = nullptr;
  // This group, then the one below (may be null): newest first.
  std::array<const GroupState*, 2> Layers() const { return {this, below}; }
};

// A group of peers' batches whose write is under way while the next group
// is built on top of what it will have written (see RunInGroup).
struct EngineImpl::InFlight {
  std::shared_ptr<const GroupState> state;  // read-only from now on
  bool done = false;                        // guarded by commit_mu_
  Status status;                            // guarded by commit_mu_; set with done
};

// One group commit: its writers, and what it builds on.
struct EngineImpl::GroupRun {
  std::vector<Writer*> writers;
  size_t ops = 0;                   // the writers' ops (mutations and ingested ops), failed or not
  std::shared_ptr<InFlight> below;  // the group written meanwhile, or null
  // The writers left the queue before the write, so that the next group
  // could be built meanwhile.
  bool published = false;
  // Kept until the writers are woken, then freed (jobs first).
  std::shared_ptr<GroupState> state;
  std::vector<RecordJob> jobs;
};

// A thread that runs one task at a time for the group-commit leader (the
// second core), so that a group need not start a thread.
class EngineImpl::WorkerThread {
 public:
  WorkerThread() : thread_([this] { Run(); }) {
    pthread_setname_np(thread_.native_handle(), "kindred-worker");
  }
  ~WorkerThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Runs `task` on the thread. REQUIRES: no task is pending (Wait).
  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = std::move(task);
      busy_ = true;
    }
    cv_.notify_all();
  }
  // Returns once the posted task has returned.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || task_; });
        if (!task_) return;
        task = std::move(task_);
        task_ = nullptr;
      }
      task();
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_ = false;
      }
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> task_;  // guarded by mu_
  bool busy_ = false;           // guarded by mu_: a task is pending or running
  bool stop_ = false;           // guarded by mu_
  std::thread thread_;
};

EngineImpl::WorkerThread& EngineImpl::Worker() {
  if (!worker_) worker_ = std::make_unique<WorkerThread>();
  return *worker_;
}

namespace {

// Decodes the segment of (space, device)'s log under `cursor` (which was
// sought to the segment key of `seq`). Corruption naming op `seq` when the
// log has no segment there or the one there starts after it.
Status ReadSegmentHolding(store::Cursor& cursor, std::string_view prefix, const SpaceId& space,
                          const DeviceId& device, uint64_t seq, log::Segment* segment) {
  if (!cursor.ValidWithPrefix(prefix)) {
    KINDRED_RETURN_IF_ERROR(cursor.status());
    return Status::Corruption(log::DescribeOp(space, device, seq) + " is missing here");
  }
  uint64_t key_last = 0;
  KINDRED_RETURN_IF_ERROR(log::ParseSegmentKey(cursor.key(), prefix.size(), &key_last));
  KINDRED_RETURN_IF_ERROR(log::DecodeSegment(space, device, key_last, cursor.value(), segment));
  if (segment->first_seq > seq) {
    return Status::Corruption(log::DescribeOp(space, device, seq) + " is missing here");
  }
  return Status::Ok();
}

// Runs body(i) for every i in [0, n), in chunks claimed by the calling
// thread and, when `worker` is not null, the engine's worker thread too.
// Returns once every call has returned. REQUIRES: `worker` is idle; body
// is safe to call from both threads at once for different i.
template <typename Worker, typename Body>
void ForEachOnBoth(Worker* worker, size_t n, const Body& body) {
  constexpr size_t kChunk = 32;
  std::atomic<size_t> next{0};
  auto run = [&] {
    for (;;) {
      const size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= n) return;
      for (size_t i = begin; i < std::min(n, begin + kChunk); ++i) body(i);
    }
  };
  if (!worker || n <= kChunk) {
    run();
    return;
  }
  worker->Post(run);
  run();
  worker->Wait();
}

// For k in [0, count): check(k, scratch, &error) (thread-safe for
// different k; false with `error` set on failure), then merge(k) on the
// calling thread, strictly in order and only once check(k) passed. Checks
// run on both threads when `worker` is not null: the worker first runs
// `prelude` (which must not conflict with check or merge), then claims
// checks; the caller merges what is checked and claims checks when it has
// nothing to merge. Stops at the first failure in order and returns it;
// returns once the worker is idle again. REQUIRES: `worker` is idle.
template <typename Worker, typename Prelude, typename Check, typename Merge>
Status CheckAndMergeInOrder(Worker* worker, size_t count, const Prelude& prelude,
                            const Check& check, const Merge& merge) {
  if (!worker) {
    prelude();
    crypto::SecretString scratch;
    for (size_t k = 0; k < count; ++k) {
      Status error;
      if (!check(k, scratch, &error)) return error;
      KINDRED_RETURN_IF_ERROR(merge(k));
    }
    return Status::Ok();
  }
  constexpr size_t kChunk = 16;
  enum : uint8_t { kPending = 0, kPassed = 1, kFailed = 2 };
  auto state = std::make_unique<std::atomic<uint8_t>[]>(count);
  for (size_t k = 0; k < count; ++k) state[k].store(kPending, std::memory_order_relaxed);
  std::vector<Status> errors(count);  // errors[k] is written before state[k] says kFailed
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> signal{0};  // bumped whenever the worker finished a chunk
  // Claims and checks the next chunk; false when none is left.
  auto run_chunk = [&](crypto::SecretString& scratch) {
    const size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
    if (begin >= count) return false;
    for (size_t k = begin; k < std::min(count, begin + kChunk); ++k) {
      Status error;
      bool passed = false;
      if (stop.load(std::memory_order_relaxed)) {
        error = Status::Internal("stopped");
      } else {
        passed = check(k, scratch, &error);
      }
      if (!passed) errors[k] = std::move(error);
      state[k].store(passed ? kPassed : kFailed, std::memory_order_release);
    }
    return true;
  };
  worker->Post([&] {
    prelude();
    crypto::SecretString scratch;
    while (!stop.load(std::memory_order_acquire) && run_chunk(scratch)) {
      signal.fetch_add(1, std::memory_order_release);
      signal.notify_one();
    }
    signal.fetch_add(1, std::memory_order_release);
    signal.notify_one();
  });
  Status result;
  crypto::SecretString scratch;
  for (size_t k = 0; k < count;) {
    const uint8_t s = state[k].load(std::memory_order_acquire);
    if (s == kPassed) {
      result = merge(k);
      if (!result.ok()) break;
      ++k;
    } else if (s == kFailed) {
      result = std::move(errors[k]);
      break;
    } else if (!run_chunk(scratch)) {
      // Everything is claimed: wait for the worker's chunk holding k.
      const uint32_t seen = signal.load(std::memory_order_acquire);
      if (state[k].load(std::memory_order_acquire) == kPending) {
        signal.wait(seen, std::memory_order_acquire);
      }
    }
  }
  stop.store(true, std::memory_order_release);
  worker->Wait();
  return result;
}

}  // namespace

// The ops of one space form one hash chain, so they are sealed in order on
// one thread. With enough ops (kParallelFrom) that is the helper, a task on
// the engine's worker thread, which follows the leader through phase 1
// (producer/consumer: the leader hands over each op with its payload
// encoded and its nonce derived). Once phase 1 ends, the leader seals
// records, and the helper joins in when it is done with the ops. While the
// leader writes, the helper frees the group's state.
class EngineImpl::Sealer {
 public:
  // Our new run of ops in one space, as sealed so far.
  struct Chain {
    Chain(uint64_t first_seq, const std::string& prev) : builder(first_seq, prev), head_hash(prev) {}
    log::SegmentBuilder builder;
    std::string head_hash;
  };

  Sealer(EngineImpl& engine, GroupState& g, bool parallel) : engine_(engine), g_(g) {
    if (parallel) StartHelper();
  }
  // Stops the helper (at once if it is still sealing) and waits for it.
  ~Sealer() {
    if (helper_) {
      cancelled_.store(true, std::memory_order_release);
      Signal();
      engine_.Worker().Wait();
    }
  }
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  // Leader: ops [0, n) of g.local_ops are final.
  void Publish(size_t n) {
    if (!helper_) return;
    published_.store(n, std::memory_order_release);
    Signal();
  }
  // Leader: there will be no more ops. Without a helper, seals them now.
  void FinishOps() {
    if (helper_) {
      published_.store(g_.local_count, std::memory_order_release);
      ops_done_.store(true, std::memory_order_release);
      Signal();
      return;
    }
    for (size_t i = 0; i < g_.local_count; ++i) SealOp(i);
    ops_done_.store(true, std::memory_order_release);
  }
  // Leader, after FinishOps: seals `jobs` on both threads (starting a helper
  // if there is none and enough work), calls `put` with each job in order
  // as soon as it and all before it are sealed, and returns when every op
  // and record is sealed. `jobs` must stay put until Retire.
  template <typename Put>
  void SealRecords(std::vector<RecordJob>& jobs, Put put) {
    if (!helper_ && jobs.size() >= kParallelFrom) StartHelper();
    sealed_ = std::make_unique<std::atomic<bool>[]>(jobs.size());
    records_.store(&jobs, std::memory_order_release);
    Signal();
    SealScratch scratch;
    size_t next_put = 0;
    for (;;) {
      const size_t i = next_record_.fetch_add(1, std::memory_order_relaxed);
      if (i < jobs.size()) {
        engine_.SealRecord(jobs[i], scratch);
        sealed_[i].store(true, std::memory_order_release);
      }
      while (next_put < jobs.size() && sealed_[next_put].load(std::memory_order_acquire)) {
        put(jobs[next_put++]);
      }
      if (i >= jobs.size()) break;
    }
    if (!helper_) return;
    WaitFor([&] {
      while (next_put < jobs.size() && sealed_[next_put].load(std::memory_order_acquire)) {
        put(jobs[next_put++]);
      }
      return helper_sealed_.load(std::memory_order_acquire) && next_put == jobs.size();
    });
  }
  // After SealRecords: our chains, by space.
  std::map<SpaceId, Chain>& chains() { return chains_; }
  // Leader, after SealRecords: hands over the group's state, which the
  // helper frees while the leader writes (or which dies here without one).
  // Nothing may touch `g` or the jobs afterwards.
  void Retire(std::shared_ptr<GroupState> g, std::vector<RecordJob> jobs) {
    if (!helper_) return;
    retired_group_ = std::move(g);
    retired_jobs_ = std::move(jobs);
    retired_.store(true, std::memory_order_release);
    Signal();
  }

  static constexpr size_t kParallelFrom = 64;
  static constexpr size_t kPublishEvery = 16;

 private:
  void Signal() {
    signal_.fetch_add(1, std::memory_order_release);
    signal_.notify_all();
  }

  // Runs RunHelper on the engine's worker thread.
  void StartHelper() {
    helper_ = true;
    engine_.Worker().Post([this] { RunHelper(); });
  }

  // Waits until `ready` holds or the sealer is cancelled; false if cancelled.
  template <typename Ready>
  bool WaitFor(Ready ready) {
    for (;;) {
      const uint32_t seen = signal_.load(std::memory_order_acquire);
      if (cancelled_.load(std::memory_order_acquire)) return false;
      if (ready()) return true;
      signal_.wait(seen, std::memory_order_acquire);
    }
  }

  void RunHelper() {
    size_t next = 0;
    for (;;) {
      const uint32_t seen = signal_.load(std::memory_order_acquire);
      if (cancelled_.load(std::memory_order_acquire)) return;
      const size_t available = published_.load(std::memory_order_acquire);
      if (next < available) {
        while (next < available && !cancelled_.load(std::memory_order_relaxed)) SealOp(next++);
        continue;
      }
      if (ops_done_.load(std::memory_order_acquire) &&
          next == published_.load(std::memory_order_acquire)) {
        break;
      }
      signal_.wait(seen, std::memory_order_acquire);
    }
    std::vector<RecordJob>* jobs = nullptr;
    if (!WaitFor([&] { return (jobs = records_.load(std::memory_order_acquire)) != nullptr; })) return;
    SealScratch scratch;
    for (size_t i; (i = next_record_.fetch_add(1, std::memory_order_relaxed)) < jobs->size();) {
      engine_.SealRecord((*jobs)[i], scratch);
      sealed_[i].store(true, std::memory_order_release);
      Signal();
    }
    helper_sealed_.store(true, std::memory_order_release);
    Signal();
    if (!WaitFor([&] { return retired_.load(std::memory_order_acquire); })) return;
    retired_jobs_.clear();
    retired_group_.reset();
  }

  // Seals op i along its space's chain. One thread at a time, in order.
  void SealOp(size_t i) {
    const GroupState::LocalOp& local = g_.local_ops[i];
    auto it = chains_.find(*local.space);
    if (it == chains_.end()) {
      it = chains_.try_emplace(*local.space, local.context->first_seq, local.context->prev_hash).first;
    }
    Chain& chain = it->second;
    envelope_.Clear();
    envelope_.set_hlc(local.hlc);
    envelope_.set_epoch(local.context->epoch);
    envelope_.set_salt(local.context->salt);
    log::SealOpWithNonce(*local.context->key, *local.space, engine_.device_.id, local.seq,
                         chain.head_hash, local.nonce,
                         std::string_view(local.plain, local.plain_size), &envelope_);
    sodium_memzero(local.plain, local.plain_size);
    chain.head_hash = log::OpHash(*local.space, engine_.device_.id, local.seq, chain.head_hash, envelope_);
    chain.builder.Append(envelope_);
  }

  EngineImpl& engine_;
  GroupState& g_;
  bool helper_ = false;  // RunHelper was posted to the worker
  std::atomic<uint32_t> signal_{0};  // bumped on every change below; both threads wait on it
  std::atomic<size_t> published_{0};
  std::atomic<bool> ops_done_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<std::vector<RecordJob>*> records_{nullptr};
  std::atomic<size_t> next_record_{0};
  std::unique_ptr<std::atomic<bool>[]> sealed_;  // per job; set before records_
  std::atomic<bool> helper_sealed_{false};  // the helper sealed its last op and record
  std::atomic<bool> retired_{false};
  // Touched only by the thread sealing ops (the helper, or the leader
  // without one) until SealRecords returns.
  std::map<SpaceId, Chain> chains_;
  v1::OpEnvelope envelope_;
  // Handed to the helper by Retire.
  std::shared_ptr<GroupState> retired_group_;
  std::vector<RecordJob> retired_jobs_;
};

EngineImpl::EngineImpl(Env& env, EngineOptions options, DeviceSecrets secrets,
                       std::unique_ptr<store::Store> store)
    : env_(env),
      options_(std::move(options)),
      secrets_(std::move(secrets)),
      store_(std::move(store)),
      index_key_(crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kIndex)),
      wrap_key_(crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kSpaceWrap)),
      hlc_(env.clock()),
      records_(crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kRecordsGcm),
               crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kRecords), env.random()) {
  if (options_.passphrase) {
    sodium_memzero(options_.passphrase->data(), options_.passphrase->size());
    options_.passphrase.reset();
  }
}

EngineImpl::~EngineImpl() {
  worker_.reset();  // before anything a task could touch
}

Result<std::unique_ptr<Engine>> EngineImpl::Create(const InitOptions& init) {
  KINDRED_RETURN_IF_ERROR(crypto::Init());
  Env& env = init.engine.env ? *init.engine.env : Env::System();
  const std::string& home = init.engine.home;
  if (home.empty()) return Status::InvalidArgument("no home directory given");
  KINDRED_RETURN_IF_ERROR(CheckName("the member name", init.member_name));
  if (!init.device_name.empty()) {
    KINDRED_RETURN_IF_ERROR(CheckName("the device name", init.device_name));
  }
  if (env.fs().Exists(KeyFilePath(home))) {
    return Status::AlreadyExists("a device already exists in " + home +
                                 "; nothing was changed (use another --home for a new device)");
  }
  if (env.fs().Exists(StorePath(home))) {
    return Status::AlreadyExists("the home " + home +
                                 " already holds a store without a key file; nothing was changed");
  }
  KINDRED_RETURN_IF_ERROR(env.fs().CreateDirs(home));

  DeviceSecrets secrets{crypto::SignKeyPair::Generate(env.random()),
                        crypto::DhKeyPair::Generate(env.random()),
                        crypto::SymmetricKey::Generate(env.random())};
  DeviceId id = DeviceId::FromPublicKeys(secrets.sign.public_key, secrets.dh.public_key);

  KINDRED_ASSIGN_OR_RETURN(auto store, store::Store::Open(StorePath(home), {.create_if_missing = true}));

  // Identity, personal space, its first epoch key and roster, in one batch.
  std::array<uint8_t, SpaceId::kBytes> space_bytes{};
  env.random().Fill(space_bytes.data(), space_bytes.size());
  SpaceId personal(space_bytes);
  std::array<uint8_t, 16> member_bytes{};
  env.random().Fill(member_bytes.data(), member_bytes.size());
  std::string member_id(reinterpret_cast<const char*>(member_bytes.data()), member_bytes.size());
  int64_t now = env.clock().NowMicros();

  v1::DeviceRecord device;
  device.set_format(kFormat);
  device.set_device_id(std::string(id.bytes()));
  device.set_sign_pk(secrets.sign.public_key);
  device.set_dh_pk(secrets.dh.public_key);
  device.set_member_id(member_id);
  device.set_member_name(init.member_name);
  device.set_personal_space(std::string(personal.bytes()));
  device.set_created_micros(now);

  v1::SpaceInfo space;
  space.set_format(kFormat);
  space.set_space_id(std::string(personal.bytes()));
  space.set_kind(v1::SPACE_KIND_PERSONAL);
  space.set_current_epoch(1);
  space.set_created_micros(now);

  v1::RosterEntry me;
  me.set_format(kFormat);
  me.set_device_id(std::string(id.bytes()));
  me.set_sign_pk(secrets.sign.public_key);
  me.set_dh_pk(secrets.dh.public_key);
  me.set_member_id(member_id);
  me.set_member_name(init.member_name);
  me.set_device_name(init.device_name.empty() ? HostName() : init.device_name);
  me.set_added_by(std::string(id.bytes()));
  me.set_added_micros(now);

  auto wrap = crypto::DeriveKey(secrets.local_key, crypto::kdf_label::kSpaceWrap);
  auto epoch_key = crypto::SymmetricKey::Generate(env.random());
  std::string sk_key = SpaceKeyKey(personal, 1);
  std::string sk_ad = std::string(kSpaceKeyAd) + sk_key;

  store::Batch batch = store->NewBatch();
  batch.Put(store::Cf::kMeta, kMetaLayout, store::kLayoutVersion);
  batch.Put(store::Cf::kMeta, kMetaDevice, device.SerializeAsString());
  batch.Put(store::Cf::kMeta, std::string(kMetaSpacePrefix) + std::string(personal.bytes()),
            space.SerializeAsString());
  batch.Put(store::Cf::kMeta, sk_key,
            crypto::AeadSealRandomNonce(env.random(), wrap, sk_ad, epoch_key.view()));
  batch.Put(store::Cf::kMeta, RosterKey(personal, id), me.SerializeAsString());
  KINDRED_RETURN_IF_ERROR(store->Write(batch, true));

  crypto::PwhashParams params = init.strength == PassphraseStrength::kInteractive
                                    ? crypto::PwhashParams::Interactive()
                                    : crypto::PwhashParams();
  Status s = WriteKeyFile(env.fs(), env.random(), KeyFilePath(home), secrets, id,
                          init.engine.passphrase, params);
  if (!s.ok()) {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(StorePath(home), ec);  // we made it a moment ago
    return s;
  }
  bool sealed = init.engine.passphrase && !init.engine.passphrase->empty();
  std::unique_ptr<EngineImpl> engine(
      new EngineImpl(env, init.engine, std::move(secrets), std::move(store)));
  KINDRED_RETURN_IF_ERROR(engine->Load());
  engine->device_.keys_protected = sealed;
  return std::unique_ptr<Engine>(std::move(engine));
}

Result<std::unique_ptr<Engine>> EngineImpl::OpenHome(const EngineOptions& options) {
  KINDRED_RETURN_IF_ERROR(crypto::Init());
  Env& env = options.env ? *options.env : Env::System();
  const std::string& home = options.home;
  if (home.empty()) return Status::InvalidArgument("no home directory given");
  if (!env.fs().Exists(KeyFilePath(home))) {
    if (env.fs().Exists(StorePath(home))) {
      return Status::Corruption("the home " + home +
                                " has a store but no key file (device.key); it cannot be opened");
    }
    return Status::FailedPrecondition("there is no Kindred device in " + home +
                                      " yet: run `kindred init --name NAME` first");
  }
  if (!env.fs().Exists(StorePath(home))) {
    return Status::Corruption("the home " + home + " has a key file but its store (db/) is missing");
  }
  bool sealed = false;
  KINDRED_ASSIGN_OR_RETURN(DeviceSecrets secrets,
                           ReadKeyFile(env.fs(), KeyFilePath(home), options.passphrase, &sealed));
  auto store = store::Store::Open(StorePath(home), {.create_if_missing = false});
  if (!store.ok()) {
    if (store.status().code() == StatusCode::kNotFound) {
      return Status::Corruption("the home " + home + " has a key file but its store (db/) is missing");
    }
    return store.status();
  }
  std::unique_ptr<EngineImpl> engine(
      new EngineImpl(env, options, std::move(secrets), std::move(*store)));
  KINDRED_RETURN_IF_ERROR(engine->Load());
  KINDRED_RETURN_IF_ERROR(engine->ReplayUnappliedOps());
  {
    // The roster and keys follow their records, also after a crash
    // between a commit and its refresh.
    std::lock_guard<std::mutex> lock(engine->dirty_mu_);
    for (const auto& [space, info] : engine->spaces_) engine->control_dirty_.insert(space);
  }
  KINDRED_RETURN_IF_ERROR(engine->RefreshControl());
  engine->device_.keys_protected = sealed;
  return std::unique_ptr<Engine>(std::move(engine));
}

Status EngineImpl::Load() {
  std::string layout;
  Status s = store_->Get(store::Cf::kMeta, kMetaLayout, &layout);
  if (!s.ok()) return Status::Corruption("the store has no layout version: it is damaged");
  if (layout != store::kLayoutVersion) {
    return Status::Corruption("the store has layout '" + layout + "', but this version reads '" +
                              store::kLayoutVersion + "'");
  }
  std::string bytes;
  if (!store_->Get(store::Cf::kMeta, kMetaDevice, &bytes).ok()) {
    return Status::Corruption("the store has no device record: it is damaged");
  }
  v1::DeviceRecord rec;
  if (!rec.ParseFromString(bytes)) return Status::Corruption("the device record is damaged");
  DeviceId id = DeviceId::FromPublicKeys(secrets_.sign.public_key, secrets_.dh.public_key);
  if (rec.device_id() != id.bytes()) {
    return Status::Corruption("the key file belongs to another device than this store");
  }
  device_.id = id;
  device_.member_name = rec.member_name();
  device_.sign_pk = secrets_.sign.public_key;
  device_.dh_pk = secrets_.dh.public_key;
  KINDRED_ASSIGN_OR_RETURN(device_.personal_space, SpaceId::FromBytes(rec.personal_space()));

  std::lock_guard<std::mutex> meta_lock(meta_mu_);
  auto cursor = store_->NewCursor(store::Cf::kMeta);
  for (cursor->Seek(kMetaSpacePrefix); cursor->ValidWithPrefix(kMetaSpacePrefix); cursor->Next()) {
    v1::SpaceInfo info;
    if (!info.ParseFromArray(cursor->value().data(), static_cast<int>(cursor->value().size()))) {
      return Status::Corruption("a space record is damaged");
    }
    KINDRED_ASSIGN_OR_RETURN(SpaceId sid, SpaceId::FromBytes(info.space_id()));
    spaces_[sid] = info;
  }
  for (cursor->Seek(kMetaSpaceKeyPrefix); cursor->ValidWithPrefix(kMetaSpaceKeyPrefix);
       cursor->Next()) {
    std::string_view key = cursor->key();
    std::string_view rest = key.substr(sizeof(kMetaSpaceKeyPrefix) - 1);
    if (rest.size() != SpaceId::kBytes + 4) return Status::Corruption("a space key entry is damaged");
    KINDRED_ASSIGN_OR_RETURN(SpaceId sid, SpaceId::FromBytes(rest.substr(0, SpaceId::kBytes)));
    uint32_t epoch = 0;
    for (char c : rest.substr(SpaceId::kBytes)) epoch = (epoch << 8) | static_cast<uint8_t>(c);
    crypto::SecretString plain;
    if (!crypto::AeadOpenRandomNonce(wrap_key_, std::string(kSpaceKeyAd) + std::string(key),
                                     cursor->value(), &plain.str())
             .ok()) {
      return Status::Corruption("a space key failed authentication: the store was altered");
    }
    KINDRED_ASSIGN_OR_RETURN(auto k, crypto::SymmetricKey::FromBytes(plain.str()));
    epoch_keys_[{sid, epoch}] = k;
  }
  for (cursor->Seek(kMetaRosterPrefix); cursor->ValidWithPrefix(kMetaRosterPrefix); cursor->Next()) {
    v1::RosterEntry entry;
    if (!entry.ParseFromArray(cursor->value().data(), static_cast<int>(cursor->value().size()))) {
      return Status::Corruption("a roster entry is damaged");
    }
    KINDRED_ASSIGN_OR_RETURN(DeviceId did, DeviceId::FromBytes(entry.device_id()));
    std::string_view rest = cursor->key().substr(sizeof(kMetaRosterPrefix) - 1);
    KINDRED_ASSIGN_OR_RETURN(SpaceId sid, SpaceId::FromBytes(rest.substr(0, SpaceId::kBytes)));
    roster_[{sid, did}] = entry;
    if (did == device_.id) device_.device_name = entry.device_name();
  }
  KINDRED_RETURN_IF_ERROR(cursor->status());

  // Our own heads and the highest clock value seen in any log.
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  auto versions = store_->NewCursor(store::Cf::kVersions);
  for (versions->SeekToFirst(); versions->Valid(); versions->Next()) {
    v1::VersionEntry v;
    std::string_view key = versions->key();
    if (key.size() != SpaceId::kBytes + DeviceId::kBytes ||
        !v.ParseFromArray(versions->value().data(), static_cast<int>(versions->value().size()))) {
      return Status::Corruption("a version vector entry is damaged");
    }
    hlc_.Observe(v.hlc());
    if (key.substr(SpaceId::kBytes) == device_.id.bytes()) {
      KINDRED_ASSIGN_OR_RETURN(SpaceId sid, SpaceId::FromBytes(key.substr(0, SpaceId::kBytes)));
      heads_[sid] = Head{v.seq(), v.head_hash(), v.hlc()};
    }
  }
  return versions->status();
}

Status EngineImpl::ReplayUnappliedOps() {
  struct Lag {
    SpaceId space;
    DeviceId device;
    uint64_t applied = 0;
    uint64_t head = 0;
  };
  std::vector<Lag> lags;
  auto versions = store_->NewCursor(store::Cf::kVersions);
  for (versions->SeekToFirst(); versions->Valid(); versions->Next()) {
    std::string_view key = versions->key();
    v1::VersionEntry head;
    if (key.size() != SpaceId::kBytes + DeviceId::kBytes ||
        !head.ParseFromArray(versions->value().data(), static_cast<int>(versions->value().size()))) {
      return Status::Corruption("a version vector entry is damaged");
    }
    Lag lag;
    KINDRED_ASSIGN_OR_RETURN(lag.space, SpaceId::FromBytes(key.substr(0, SpaceId::kBytes)));
    KINDRED_ASSIGN_OR_RETURN(lag.device, DeviceId::FromBytes(key.substr(SpaceId::kBytes)));
    lag.head = head.seq();
    std::string bytes;
    Status s = store_->Get(store::Cf::kApplied, key, &bytes);
    if (s.ok()) {
      v1::VersionEntry applied;
      if (!applied.ParseFromString(bytes)) return Status::Corruption("an applied mark is damaged");
      lag.applied = applied.seq();
    } else if (s.code() != StatusCode::kNotFound) {
      return s;
    }
    if (lag.applied > lag.head) {
      return Status::Corruption("the records of device " + lag.device.ToString() +
                                " are ahead of its op log: the store was altered");
    }
    if (lag.applied < lag.head) lags.push_back(lag);
  }
  KINDRED_RETURN_IF_ERROR(versions->status());
  for (const Lag& lag : lags) {
    KINDRED_RETURN_IF_ERROR(ReplayLog(lag.space, lag.device, lag.applied + 1, lag.head));
  }
  return Status::Ok();
}

Status EngineImpl::ReplayLog(const SpaceId& space, const DeviceId& device, uint64_t from,
                             uint64_t to) {
  // Merges in chunks, each written with its applied mark, so that memory
  // stays bounded and an interrupted replay resumes where it stopped.
  constexpr uint64_t kChunk = 10000;
  const std::string prefix = log::SegmentPrefix(space, device);
  const std::string id_prefix = RecordIdPrefix(space, device);
  auto cursor = store_->NewCursor(store::Cf::kOplog);
  cursor->Seek(log::SegmentKey(space, device, from));
  log::Segment segment;
  crypto::SecretString plain;
  auto g = std::make_unique<GroupState>();
  uint64_t merged = 0;
  auto write_chunk = [&](uint64_t applied_to) -> Status {
    store::Batch batch = store_->NewBatch();
    SealScratch scratch;
    for (auto& [key, cached] : g->records) {
      if (!cached.dirty) continue;
      RecordJob job{&key, &cached, {}, {}};
      SealRecord(job, scratch);
      batch.Put(store::Cf::kRecords, key, job.sealed);
      for (const auto& [index_key, put] : job.index) {
        if (put) {
          batch.Put(store::Cf::kIndex, index_key, "");
        } else {
          batch.Delete(store::Cf::kIndex, index_key);
        }
      }
    }
    PutApplied(batch, space, device, applied_to);
    // Through the write-ahead log: recovery is rare, and then it sticks.
    KINDRED_RETURN_IF_ERROR(store_->Write(batch, options_.sync_writes));
    if (!g->control_spaces.empty()) {
      std::lock_guard<std::mutex> lock(dirty_mu_);
      control_dirty_.insert(g->control_spaces.begin(), g->control_spaces.end());
    }
    g = std::make_unique<GroupState>();
    merged = 0;
    return Status::Ok();
  };
  for (uint64_t seq = from; seq <= to; cursor->Next()) {
    KINDRED_RETURN_IF_ERROR(ReadSegmentHolding(*cursor, prefix, space, device, seq, &segment));
    for (; seq <= std::min(to, segment.last_seq()); ++seq) {
      const size_t i = seq - segment.first_seq;
      const v1::OpEnvelope& op = segment.ops[i];
      hlc_.Observe(op.hlc());
      if (op.purged()) continue;  // its purge was merged (or is merged below)
      auto held_key = EpochKey(space, op.epoch());
      if (held_key.status().code() == StatusCode::kNotFound) {
        // Its key has not reached this device yet: the rest waits for it.
        return write_chunk(seq - 1);
      }
      KINDRED_ASSIGN_OR_RETURN(const crypto::SymmetricKey* key, std::move(held_key));
      KINDRED_RETURN_IF_ERROR(
          log::OpenOp(*key, space, device, seq, segment.PrevHashOf(i), op, &plain.str()));
      auto* payload = google::protobuf::Arena::CreateMessage<v1::OpPayload>(&g->arena);
      if (!payload->ParseFromString(plain.str()) || payload->format() != kFormat ||
          payload->body_case() == v1::OpPayload::BODY_NOT_SET) {
        return Status::Corruption(log::DescribeOp(space, device, seq) + " holds a damaged payload");
      }
      // Purges need no erasing here: that went into the op log with the purge.
      KINDRED_RETURN_IF_ERROR(MergePayload(*g, space, device, seq, op.hlc(), *payload, id_prefix));
      if (++merged == kChunk) KINDRED_RETURN_IF_ERROR(write_chunk(seq));
    }
  }
  return write_chunk(to);
}

Result<const crypto::SymmetricKey*> EngineImpl::EpochKey(const SpaceId& space, uint32_t epoch) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = epoch_keys_.find({space, epoch});
  if (it == epoch_keys_.end()) {
    return Status::NotFound("no key for epoch " + std::to_string(epoch) + " of space " +
                            space.ToHex().substr(0, 8));
  }
  return &it->second;  // entries are never erased while the engine lives
}

std::string EngineImpl::RecordIdPrefix(const SpaceId& space, const DeviceId& device) {
  std::string input("kindred/rid/2");
  input.append(space.bytes());
  input.append(device.bytes());
  std::string prefix(kRecordIdPrefixBytes, '\0');
  crypto_generichash(reinterpret_cast<uint8_t*>(prefix.data()), prefix.size(),
                     reinterpret_cast<const uint8_t*>(input.data()), input.size(), nullptr, 0);
  return prefix;
}

std::string EngineImpl::DeriveRecordId(std::string_view prefix, const SpaceId& space,
                                       const DeviceId& device, uint64_t seq) {
  if (seq >= kSortableRecordIdSeqs) {
    // Beyond 2^40 ops: a plain hash of the dot (no longer in seq order).
    std::string input("kindred/rid/1");
    input.append(space.bytes());
    input.append(device.bytes());
    crypto::PutU64(&input, seq);
    std::string digest(10, '\0');
    crypto_generichash(reinterpret_cast<uint8_t*>(digest.data()), digest.size(),
                       reinterpret_cast<const uint8_t*>(input.data()), input.size(), nullptr, 0);
    return ToBase32Lower(digest);
  }
  // 80 bits: the 40-bit prefix, then the seq; 16 characters of 5 bits each.
  uint64_t high = 0;
  for (char c : prefix) high = (high << 8) | static_cast<uint8_t>(c);
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i) id[i] = kSortableBase32[(high >> (35 - 5 * i)) & 31];
  for (int i = 0; i < 8; ++i) id[8 + i] = kSortableBase32[(seq >> (35 - 5 * i)) & 31];
  return id;
}

void EngineImpl::SealRecord(RecordJob& job, SealScratch& scratch) {
  const v1::RecordState& state = *job.record->state;
  state.SerializeToString(&scratch.plain);
  scratch.ad.assign(kRecordAd);
  scratch.ad.append(*job.key);
  job.sealed.clear();
  records_.Seal(scratch.ad, scratch.plain, &job.sealed);
  sodium_memzero(scratch.plain.data(), scratch.plain.size());
  IndexChanges(job.record->space, job.record->before, state, &job.index);
}

Result<v1::RecordState> EngineImpl::ReadState(std::string_view key, std::string_view sealed) const {
  std::string ad(kRecordAd);
  ad.append(key);
  crypto::SecretString plain;
  if (Status opened = records_.Open(ad, sealed, &plain.str()); !opened.ok()) {
    if (opened.code() == StatusCode::kFailedPrecondition)
      return Status::Corruption(opened.message());
    return Status::Corruption("a stored record failed authentication: the store was altered");
  }
  v1::RecordState state;
  if (!state.ParseFromString(plain.str())) return Status::Corruption("a stored record is damaged");
  if (state.format() != kFormat) {
    return Status::Corruption("a stored record has unknown format " + std::to_string(state.format()));
  }
  return state;
}

bool EngineImpl::MaybeStored(GroupState& g, std::string_view key) {
  // Every id its creator derives shares the key's prefix up to the seq, and
  // sorts by seq: once the greatest stored key under that prefix is known,
  // a key above it cannot be stored. The store changes meanwhile only
  // through the group below, whose records LoadState reads from it first.
  const std::string_view prefix = key.substr(0, key.size() - kRecordIdSeqChars);
  // Consecutive ops nearly always share it: the last one's entry first.
  if (!g.last_ceiling || g.last_ceiling->first != prefix) {
    auto it = g.stored_ceilings.find(absl::string_view(prefix.data(), prefix.size()));
    if (it == g.stored_ceilings.end()) {
      std::string last;
      Status s = store_->LastKeyWithPrefix(store::Cf::kRecords, prefix, &last);
      if (!s.ok() && s.code() != StatusCode::kNotFound) return true;  // the lookup will say
      it = g.stored_ceilings.emplace(std::string(prefix), std::move(last)).first;
    }
    g.last_ceiling = &*it;
  }
  const std::string& ceiling = g.last_ceiling->second;
  return !ceiling.empty() && key <= std::string_view(ceiling);
}

Result<EngineImpl::CachedRecord*> EngineImpl::LoadState(GroupState& g, const SpaceId& space,
                                                        const std::string& collection,
                                                        const std::string& id, bool derived) {
  // One probe of the map whether or not the record is there yet.
  auto [it, inserted] = g.records.try_emplace(RecordKey(space, collection, id));
  CachedRecord& cached = it->second;
  if (!inserted) return &cached;
  const std::string& key = it->first;
  cached.space = space;
  cached.state = google::protobuf::Arena::CreateMessage<v1::RecordState>(&g.arena);
  // As the group in flight below writes it, else as stored.
  bool held = false;
  if (g.below) {
    auto below = g.below->records.find(key);
    if (below != g.below->records.end() && below->second.dirty) {
      *cached.state = *below->second.state;
      held = true;
    }
  }
  if (!held && (!derived || MaybeStored(g, key))) {
    std::string sealed;
    Status s = store_->Get(store::Cf::kRecords, key, &sealed);
    if (s.ok()) {
      Result<v1::RecordState> stored = ReadState(key, sealed);
      if (!stored.ok()) s = stored.status();
      if (s.ok()) {
        *cached.state = *std::move(stored);
        held = true;
      }
    }
    if (!s.ok() && s.code() != StatusCode::kNotFound) {
      g.records.erase(it);
      return s;
    }
  }
  if (held) {
    cached.before = google::protobuf::Arena::CreateMessage<v1::RecordState>(&g.arena);
    *cached.before = *cached.state;
  }
  g.record_order.push_back(&*it);
  return &cached;
}

Result<std::vector<std::string>> EngineImpl::Commit(const SpaceId& space,
                                                    const std::vector<Mutation>& mutations) {
  return CommitInternal(space, mutations, /*allow_reserved=*/false);
}

Result<std::vector<std::string>> EngineImpl::CommitInternal(const SpaceId& space,
                                                            const std::vector<Mutation>& mutations,
                                                            bool allow_reserved) {
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    auto info = spaces_.find(space);
    if (info == spaces_.end()) return Status::NotFound("this device does not belong to that space");
    if (info->second.ended_micros() != 0) {
      return Status::FailedPrecondition(
          "the partnership has ended (kindred unpair): the shared space is read-only");
    }
  }
  bool control = false;
  for (const Mutation& m : mutations) {
    if (!m.collection.empty() && m.collection.front() == '_') {
      if (!allow_reserved) {
        return Status::InvalidArgument("the collection name '" + m.collection +
                                       "' is reserved: names starting with '_' are the engine's");
      }
      control = true;
    }
  }
  if (mutations.empty()) return std::vector<std::string>{};
  Writer w;
  w.space = &space;
  w.mutations = &mutations;
  RunInGroup(w);
  if (w.result.ok()) {
    if (control) {
      std::lock_guard<std::mutex> lock(dirty_mu_);
      control_dirty_.insert(space);
    }
    Status refreshed = RefreshControl();
    NotifyChanged(space);
    if (!refreshed.ok()) return refreshed;
  }
  return std::move(w.result);
}

Result<uint64_t> EngineImpl::Ingest(const OpBatch& batch, const std::function<void()>& on_built) {
  Writer w;
  w.ingest = &batch;
  w.on_built = on_built ? &on_built : nullptr;
  // Unless the group announced it before its write, on the way out.
  struct Announce {
    Writer& w;
    ~Announce() {
      if (w.on_built) (*w.on_built)();
    }
  } announce{w};
  if (batch.size() == 0) return uint64_t{0};
  RunInGroup(w);
  if (!w.result.ok()) return w.result.status();
  // A batch that changed the roster or brought a key takes effect before
  // the next one is checked (such a group does not announce itself early).
  KINDRED_RETURN_IF_ERROR(RefreshControl());
  if (w.ingested > 0) NotifyChanged(batch.space);
  return w.ingested;
}

Status EngineImpl::RunExclusive(const std::function<Status()>& fn) {
  Writer w;
  w.exclusive = &fn;
  RunInGroup(w);
  return w.result.status();
}

void EngineImpl::RunInGroup(Writer& w) {
  std::unique_lock<std::mutex> lock(commit_mu_);
  writers_.push_back(&w);
  while (!w.done && (writers_.empty() || &w != writers_.front())) w.cv.wait(lock);
  if (w.done) return;

  // Leader: take everyone queued so far, with a cap to bound memory. Work
  // that must run alone forms a group of its own.
  GroupRun run;
  bool ingest_only = true;
  for (Writer* other : writers_) {
    if (!run.writers.empty() && (other->exclusive || run.ops + other->Size() > 10000)) break;
    run.writers.push_back(other);
    run.ops += other->Size();
    ingest_only = ingest_only && other->ingest;
    if (other->exclusive) break;
  }
  // A group of peers' batches is built on top of the group whose write is
  // still under way, if any (a sync's batches follow one another); anything
  // else waits until that write is done.
  run.below = in_flight_;
  if (run.below && (run.below->done || !ingest_only)) {
    in_flight_cv_.wait(lock, [&run] { return run.below->done; });
    run.below.reset();
  }
  // Build and write without the lock, so later writers can queue up behind
  // this group and share the next write. Only the leader (the front of the
  // queue) touches heads_, and there is one leader at a time.
  lock.unlock();
  Status s;
  if (run.writers.front()->exclusive) {
    s = (*run.writers.front()->exclusive)();
    run.writers.front()->result = s.ok()
                                      ? Result<std::vector<std::string>>(std::vector<std::string>{})
                                      : Result<std::vector<std::string>>(s);
  } else {
    s = CommitGroup(run);
  }
  lock.lock();
  for (Writer* done : run.writers) {
    if (!s.ok()) done->result = s;
    if (!run.published) writers_.pop_front();
    done->done = true;
    if (done != &w) done->cv.notify_one();
  }
  if (!run.published && !writers_.empty()) writers_.front()->cv.notify_one();
  lock.unlock();
  // The group's state (and the one below, if this was the last to read it)
  // is freed here, once its writers are on their way.
}

Status EngineImpl::CommitGroup(GroupRun& run) {
  // Phase 1, in order: assign seqs and clocks, build payloads, merge into
  // records, check peers' batches; our ops go to the sealer as they are
  // built. Each writer is all or nothing: when one fails, the group is
  // rebuilt without it (failures are rare), with a fresh salt.
  std::vector<Writer*>& group = run.writers;
  const InFlight* below = run.below.get();
  // With a group below, records_error_ is its leader's until it is written.
  if (!below && !records_error_.ok()) return records_error_;
  std::vector<bool> failed(group.size(), false);
  std::shared_ptr<GroupState> g;
  std::unique_ptr<Sealer> sealer;  // declared after g: it goes first
  for (bool rebuild = true; rebuild;) {
    rebuild = false;
    sealer.reset();  // stops the helper of a failed attempt
    g = std::make_shared<GroupState>();
    if (below) g->below = below->state.get();
    size_t local_ops = 0, ingested_ops = 0;
    for (size_t i = 0; i < group.size(); ++i) {
      if (!failed[i] && group[i]->mutations) local_ops += group[i]->mutations->size();
      if (!failed[i] && group[i]->ingest) ingested_ops += group[i]->ingest->size();
    }
    g->local_ops.resize(local_ops);
    g->records.reserve(local_ops + ingested_ops);  // most ops touch a record of their own
    g->worker_busy = local_ops >= Sealer::kParallelFrom;
    sealer = std::make_unique<Sealer>(*this, *g, g->worker_busy);
    g->sealer = sealer.get();
    for (size_t i = 0; i < group.size() && !rebuild; ++i) {
      Writer* w = group[i];
      if (failed[i]) continue;
      std::vector<std::string> ids;
      Status s;
      if (w->ingest) {
        s = IngestInGroup(*g, *w->ingest, &w->ingested);
      } else {
        ids.reserve(w->mutations->size());
        for (const Mutation& m : *w->mutations) {
          std::string id;
          s = PrepareMutation(*g, *w->space, m, &id);
          if (!s.ok()) break;
          ids.push_back(std::move(id));
        }
      }
      if (s.ok()) {
        w->result = std::move(ids);
        continue;
      }
      w->result = s;
      failed[i] = true;
      rebuild = std::count(failed.begin(), failed.end(), false) > 0;
      if (!rebuild) return Status::Ok();  // nobody left to write for
    }
  }
  if (g->heads.empty() && g->peer_heads.empty()) return Status::Ok();

  // Phase 2, on both cores: the rest of our ops along the chain, and the
  // materialised records (sealed with the local key) with their index
  // changes, each put into the batch as soon as it and those before it are
  // sealed. In key order: RocksDB then appends each record next to the one
  // before (see Store).
  sealer->FinishOps();
  std::vector<RecordJob> jobs;
  jobs.reserve(g->record_order.size());
  for (auto* entry : g->record_order) {
    if (entry->second.dirty) jobs.push_back(RecordJob{&entry->first, &entry->second, {}, {}});
  }
  // A device's new records come in key order already (DeriveRecordId).
  auto by_key = [](const RecordJob& a, const RecordJob& b) { return *a.key < *b.key; };
  if (!std::is_sorted(jobs.begin(), jobs.end(), by_key)) std::sort(jobs.begin(), jobs.end(), by_key);
  // Records and index go into their own batch, written without the
  // write-ahead log once the op log is durable (see Store).
  store::Batch derived = store_->NewReusedBatch(last_derived_bytes_ + last_derived_bytes_ / 8);
  sealer->SealRecords(jobs, [&derived](const RecordJob& job) {
    derived.Put(store::Cf::kRecords, *job.key, job.sealed);
    for (const auto& [key, put] : job.index) {
      if (put) {
        derived.Put(store::Cf::kIndex, key, "");
      } else {
        derived.Delete(store::Cf::kIndex, key);
      }
    }
  });

  // The group below is written before this one's batches are built (purges
  // read the stored log) and written; if its write failed, this group,
  // built on it, fails too.
  if (below) {
    std::unique_lock<std::mutex> lock(commit_mu_);
    in_flight_cv_.wait(lock, [below] { return below->done; });
    KINDRED_RETURN_IF_ERROR(below->status);
  }
  if (!records_error_.ok()) return records_error_;

  // Phase 3: the op log's batch. Our new ops in each space become one
  // segment, signed once over its last op.
  store::Batch batch = store_->NewReusedBatch(last_log_bytes_ + last_log_bytes_ / 8);
  for (auto& [space, chain] : sealer->chains()) {
    Head& head = g->heads.at(space);
    head.hash = chain.head_hash;
    v1::BatchSignature sig;
    sig.set_format(kFormat);
    sig.set_seq(head.seq);
    sig.set_head_hash(head.hash);
    sig.set_signature(crypto::Sign(secrets_.sign,
                                   log::HeadMessage(space, device_.id, head.seq, head.hash)));
    GroupState::NewSegment segment;
    segment.space = space;
    segment.device = device_.id;
    segment.first_seq = chain.builder.first_seq();
    segment.last_seq = chain.builder.last_seq();
    segment.bytes = chain.builder.Finish(sig);
    g->segments.push_back(std::move(segment));
    PutVersion(batch, space, device_.id, head);
  }
  bool purged = false;
  if (!g->purges.empty()) {
    KINDRED_RETURN_IF_ERROR(ErasePurgedOps(*g, batch));
    purged = true;
  }
  for (const auto& segment : g->segments) {
    batch.Put(store::Cf::kOplog, log::SegmentKey(segment.space, segment.device, segment.last_seq),
              segment.bytes);
  }
  for (auto& [log_id, head] : g->peer_heads) {
    PutVersion(batch, log_id.first, log_id.second, head);
    auto lag = g->applied_override.find(log_id);
    PutApplied(derived, log_id.first, log_id.second,
               lag == g->applied_override.end() ? head.seq : lag->second);
  }
  for (auto& [space, head] : g->heads) PutApplied(derived, space, device_.id, head.seq);
  last_log_bytes_ = batch.ByteSize();
  last_derived_bytes_ = derived.ByteSize();

  // The op log first, durably; then what derives from it.
  std::vector<std::pair<SpaceId, Head>> new_heads(g->heads.begin(), g->heads.end());
  std::set<SpaceId> control_spaces = std::move(g->control_spaces);
  // A group of peers' batches only (no ops of ours, no purge, no control
  // record), large enough to be worth it, lets the next group be built
  // while it writes, when one is coming (writers wait behind it, or its
  // callers asked to be told): its writers leave the queue now, the next
  // leader reads what this group writes from its state
  // (GroupState::below), and writes after it. Otherwise the helper frees
  // the group's state while the leader writes.
  std::shared_ptr<InFlight> in_flight;
  const bool announced =
      std::any_of(group.begin(), group.end(), [](const Writer* w) { return w->on_built; });
  if (new_heads.empty() && !purged && control_spaces.empty() && run.ops >= kParallelIngestFrom &&
      (announced || WritersQueuedBehind(group.size()))) {
    sealer.reset();  // the worker thread is the next leader's from here
    in_flight = std::make_shared<InFlight>();
    in_flight->state = g;
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      in_flight_ = in_flight;
      for (size_t i = 0; i < group.size(); ++i) writers_.pop_front();
      run.published = true;
      if (!writers_.empty()) writers_.front()->cv.notify_one();
    }
    for (Writer* w : group) {
      if (w->on_built) (*std::exchange(w->on_built, nullptr))();
    }
  } else {
    sealer->Retire(std::move(g), std::move(jobs));
  }
  Status written = store_->Write(batch, options_.sync_writes);
  if (written.ok()) {
    // The ops are in the log now, whatever happens to the records.
    for (auto& [space, head] : new_heads) heads_[space] = head;
    Status derived_written = store_->WriteUnlogged(derived);
    if (!derived_written.ok()) {
      records_error_ = Status::IOError(
          "the records could not be updated after a commit (" + derived_written.message() +
          "); the commit itself was saved: reopen the store to rebuild them");
      written = records_error_;
    }
  }
  store_->Recycle(std::move(batch));
  store_->Recycle(std::move(derived));
  if (in_flight) {
    std::lock_guard<std::mutex> lock(commit_mu_);
    in_flight->done = true;
    in_flight->status = written;
    if (in_flight_ == in_flight) in_flight_.reset();
    in_flight_cv_.notify_all();
    run.state = std::move(g);
    run.jobs = std::move(jobs);
  }
  sealer.reset();
  KINDRED_RETURN_IF_ERROR(written);
  if (!control_spaces.empty()) {
    std::lock_guard<std::mutex> lock(dirty_mu_);
    control_dirty_.insert(control_spaces.begin(), control_spaces.end());
  }
  if (purged) {
    // Erased ciphertext must also leave older files and the write-ahead log.
    KINDRED_RETURN_IF_ERROR(store_->CompactAll());
  }
  return Status::Ok();
}

bool EngineImpl::WritersQueuedBehind(size_t group_size) {
  std::lock_guard<std::mutex> lock(commit_mu_);
  return writers_.size() > group_size;
}

void EngineImpl::PutApplied(store::Batch& batch, const SpaceId& space, const DeviceId& device,
                            uint64_t seq) {
  v1::VersionEntry v;
  v.set_format(kFormat);
  v.set_seq(seq);
  batch.Put(store::Cf::kApplied, log::VersionKey(space, device), v.SerializeAsString());
}

void EngineImpl::PutVersion(store::Batch& batch, const SpaceId& space, const DeviceId& device,
                            const Head& head) {
  v1::VersionEntry v;
  v.set_format(kFormat);
  v.set_seq(head.seq);
  v.set_head_hash(head.hash);
  v.set_hlc(head.hlc);
  batch.Put(store::Cf::kVersions, log::VersionKey(space, device), v.SerializeAsString());
}

Status EngineImpl::ErasePurgedOps(GroupState& g, store::Batch& batch) {
  // Each segment a purge reaches is decoded once, changed, and written again:
  // this group's new segments in place, stored ones with a put of their key.
  // The chain and the signature stay valid: an op's hash covers its payload
  // hash, not its ciphertext.
  struct Touched {
    log::Segment segment;
    bool changed = false;
  };
  std::map<size_t, Touched> fresh;         // by index in g.segments
  std::map<std::string, Touched> stored;  // by oplog key
  auto cursor = store_->NewCursor(store::Cf::kOplog);
  for (const auto& [space, remove] : g.purges) {
    for (const auto& dot : remove->purged_ops()) {
      KINDRED_ASSIGN_OR_RETURN(DeviceId author, DeviceId::FromBytes(dot.device()));
      const uint64_t seq = dot.seq();
      if (seq == 0) continue;
      Touched* touched = nullptr;
      for (size_t i = 0; i < g.segments.size() && !touched; ++i) {
        const auto& s = g.segments[i];
        if (s.space != space || s.device != author || seq < s.first_seq || seq > s.last_seq) continue;
        auto it = fresh.find(i);
        if (it == fresh.end()) {
          it = fresh.try_emplace(i).first;
          KINDRED_RETURN_IF_ERROR(
              log::DecodeSegment(space, author, s.last_seq, s.bytes, &it->second.segment));
        }
        touched = &it->second;
      }
      if (!touched) {
        const std::string prefix = log::SegmentPrefix(space, author);
        cursor->Seek(log::SegmentKey(space, author, seq));
        if (!cursor->ValidWithPrefix(prefix)) {
          KINDRED_RETURN_IF_ERROR(cursor->status());
          continue;  // not synced here yet
        }
        std::string key(cursor->key());
        auto it = stored.find(key);
        if (it == stored.end()) {
          uint64_t last = 0;
          KINDRED_RETURN_IF_ERROR(log::ParseSegmentKey(key, prefix.size(), &last));
          it = stored.try_emplace(key).first;
          KINDRED_RETURN_IF_ERROR(
              log::DecodeSegment(space, author, last, cursor->value(), &it->second.segment));
        }
        touched = &it->second;
        if (seq < touched->segment.first_seq) continue;  // not held here
      }
      v1::OpEnvelope& op = touched->segment.ops[seq - touched->segment.first_seq];
      if (op.purged()) continue;
      op.clear_ciphertext();
      op.set_purged(true);
      touched->changed = true;
    }
  }
  for (auto& [index, touched] : fresh) {
    if (touched.changed) g.segments[index].bytes = log::EncodeSegment(touched.segment);
  }
  for (auto& [key, touched] : stored) {
    if (touched.changed) batch.Put(store::Cf::kOplog, key, log::EncodeSegment(touched.segment));
  }
  return Status::Ok();
}

Status EngineImpl::PrepareMutation(GroupState& g, const SpaceId& space, const Mutation& m,
                                   std::string* id) {
  KINDRED_RETURN_IF_ERROR(CheckName("the collection name", m.collection));
  for (const auto& [name, value] : m.fields) {
    KINDRED_RETURN_IF_ERROR(CheckName("a field name", name));
    // Text must be UTF-8: an op holding anything else could be neither
    // read back nor synced. The error names the field, never the text.
    bool valid = true;
    if (const auto* text = std::get_if<std::string>(&value)) {
      valid = IsValidUtf8(*text);
    } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
      valid = std::all_of(list->begin(), list->end(), IsValidUtf8);
    }
    if (!valid && !skip_text_checks_for_test_) {
      return Status::InvalidArgument("the text of field '" + name + "' is not valid UTF-8");
    }
  }

  auto head_it = g.heads.find(space);
  if (head_it == g.heads.end()) {
    auto stored = heads_.find(space);
    head_it = g.heads.emplace(space, stored == heads_.end() ? Head{} : stored->second).first;
  }
  Head& head = head_it->second;
  auto local_it = g.local_spaces.find(space);
  if (local_it == g.local_spaces.end()) {
    GroupState::LocalSpace local;
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      local.epoch = spaces_.at(space).current_epoch();
    }
    KINDRED_ASSIGN_OR_RETURN(local.key, EpochKey(space, local.epoch));
    local.salt.assign(log::kSaltBytes, '\0');
    env_.random().Fill(reinterpret_cast<uint8_t*>(local.salt.data()), local.salt.size());
    local.first_seq = head.seq + 1;
    local.prev_hash = head.hash;
    local.record_id_prefix = RecordIdPrefix(space, device_.id);
    local_it = g.local_spaces.emplace(space, std::move(local)).first;
  }
  const uint64_t seq = head.seq + 1;

  auto* payload = google::protobuf::Arena::CreateMessage<v1::OpPayload>(&g.arena);
  payload->set_format(kFormat);
  CachedRecord* record = nullptr;
  if (m.kind == Mutation::Kind::kCreate) {
    if (m.id.empty()) {
      // A fresh id derived from this op's own dot: no record can have it yet.
      *id = DeriveRecordId(local_it->second.record_id_prefix, space, device_.id, seq);
      auto [it, inserted] = g.records.try_emplace(RecordKey(space, m.collection, *id));
      record = &it->second;
      if (inserted) {
        record->space = space;
        record->state = google::protobuf::Arena::CreateMessage<v1::RecordState>(&g.arena);
        g.record_order.push_back(&*it);
      }
    } else {
      *id = m.id;
      KINDRED_RETURN_IF_ERROR(CheckName("the record id", *id));
      KINDRED_ASSIGN_OR_RETURN(record, LoadState(g, space, m.collection, *id));
      if (!record->state->ops().empty() && !log::IsDeleted(*record->state)) {
        return Status::AlreadyExists("a record with id " + *id + " already exists in " +
                                     m.collection);
      }
    }
    auto* write = payload->mutable_write();
    write->set_collection(m.collection);
    if (!m.id.empty()) write->set_record_id(m.id);
    for (const auto& [name, value] : m.fields) {
      auto* fw = write->add_fields();
      fw->set_name(name);
      ToProto(value, fw->mutable_value());
    }
  } else {
    *id = m.id;
    KINDRED_ASSIGN_OR_RETURN(record, LoadState(g, space, m.collection, m.id));
    const v1::RecordState& state = *record->state;
    if (state.ops().empty() || log::IsDeleted(state)) {
      return Status::NotFound("no " + m.collection + " record with id " + m.id);
    }
    if (m.kind == Mutation::Kind::kUpdate) {
      auto* write = payload->mutable_write();
      write->set_collection(m.collection);
      write->set_record_id(m.id);
      for (const auto& [name, value] : m.fields) {
        auto* fw = write->add_fields();
        fw->set_name(name);
        ToProto(value, fw->mutable_value());
        if (const v1::FieldState* f = log::FindField(state, name)) {
          for (const auto& v : f->live()) *fw->add_supersedes() = v.dot();
        }
      }
    } else {
      auto* remove = payload->mutable_remove();
      remove->set_collection(m.collection);
      remove->set_record_id(m.id);
      for (const auto& dot : log::AllLiveDots(state)) *remove->add_supersedes() = dot;
      if (m.kind == Mutation::Kind::kPurge) {
        remove->set_purge(true);
        for (const auto& dot : state.ops()) *remove->add_purged_ops() = dot;
      }
    }
  }

  const uint64_t hlc = hlc_.Now();
  head.seq = seq;
  head.hlc = hlc;
  GroupState::LocalOp& op = g.local_ops[g.local_count++];
  op.space = &local_it->first;
  op.context = &local_it->second;
  op.seq = seq;
  op.hlc = hlc;
  op.plain_size = payload->ByteSizeLong();
  op.plain = google::protobuf::Arena::CreateArray<char>(&g.arena, op.plain_size);
  payload->SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(op.plain));
  op.nonce = log::OpNonceBytes(space, device_.id, seq, local_it->second.epoch, local_it->second.salt);
  if (g.local_count % Sealer::kPublishEvery == 0) g.sealer->Publish(g.local_count);
  MergeInto(g, *record, space, device_.id, seq, hlc, *payload, *id);  // a copy: *id is returned
  return Status::Ok();
}

Status EngineImpl::MergePayload(GroupState& g, const SpaceId& space, const DeviceId& author,
                                uint64_t seq, uint64_t hlc, v1::OpPayload& payload,
                                std::string_view id_prefix) {
  const std::string& collection =
      payload.has_write() ? payload.write().collection() : payload.remove().collection();
  const std::string& named =
      payload.has_write() ? payload.write().record_id() : payload.remove().record_id();
  // An op that names no record created it: its id derives from the op's dot.
  const bool derived = named.empty();
  std::string id = derived ? DeriveRecordId(id_prefix, space, author, seq) : named;
  KINDRED_RETURN_IF_ERROR(CheckName("a collection name", collection));
  KINDRED_RETURN_IF_ERROR(CheckName("a record id", id));
  KINDRED_ASSIGN_OR_RETURN(
      CachedRecord * record,
      LoadState(g, space, collection, id, derived && seq < kSortableRecordIdSeqs));
  MergeInto(g, *record, space, author, seq, hlc, payload, std::move(id));
  return Status::Ok();
}

void EngineImpl::MergeInto(GroupState& g, CachedRecord& record, const SpaceId& space,
                           const DeviceId& author, uint64_t seq, uint64_t hlc,
                           v1::OpPayload& payload, std::string id) {
  // On the group's arena: a Dot on the stack would allocate its device's
  // string object on the heap, once per op.
  v1::Dot& dot = *google::protobuf::Arena::CreateMessage<v1::Dot>(&g.arena);
  dot.set_device(author.bytes().data(), author.bytes().size());
  dot.set_seq(seq);
  v1::RecordState* state = record.state;
  if (state->record_id().empty()) state->set_record_id(std::move(id));  // no copy on the arena
  const std::string& collection =
      payload.has_write() ? payload.write().collection() : payload.remove().collection();
  if (!collection.empty() && collection.front() == '_') g.control_spaces.insert(space);
  if (payload.has_write()) {
    log::ApplyWriteMovingValues(dot, hlc, payload.mutable_write(), state);
  } else {
    log::ApplyDelete(dot, hlc, payload.remove(), state);
    if (payload.remove().purge()) g.purges.emplace_back(space, &payload.remove());
  }
  record.dirty = true;
}

void EngineImpl::IndexChanges(const SpaceId& space, const v1::RecordState* before,
                              const v1::RecordState& after,
                              std::vector<std::pair<std::string, bool>>* changes) const {
  auto tokens = [&](const v1::RecordState& s) {
    std::set<std::string> out;
    if (s.ops().empty() || log::IsDeleted(s)) return out;
    for (const auto& field : s.fields()) {
      const v1::FieldVersion* w = log::Winner(field);
      if (!w || !w->value().has_list()) continue;
      for (const auto& item : w->value().list().items()) {
        std::string key = CollectionPrefix(space, s.collection());
        AppendName(&key, field.name());
        key.append(crypto::KeyedHash(index_key_, item, kIndexTokenBytes));
        key.append(s.record_id());
        out.insert(std::move(key));
      }
    }
    return out;
  };
  std::set<std::string> old_keys, new_keys = tokens(after);
  if (before) old_keys = tokens(*before);
  for (const auto& k : old_keys) {
    if (!new_keys.count(k)) changes->emplace_back(k, false);
  }
  for (const auto& k : new_keys) {
    if (!old_keys.count(k)) changes->emplace_back(k, true);
  }
}

Record EngineImpl::ToRecord(const v1::RecordState& state) const {
  Record r;
  r.collection = state.collection();
  r.id = state.record_id();
  r.created_by = DotDevice(state.created());
  r.created_micros = log::HlcMillis(state.created_hlc()) * 1000;
  r.created_hlc = state.created_hlc();
  r.edited_micros = log::HlcMillis(state.edited_hlc()) * 1000;
  r.deleted = log::IsDeleted(state);
  for (const auto& field : state.fields()) {
    const v1::FieldVersion* w = log::Winner(field);
    if (!w) continue;
    r.fields[field.name()] = FromProto(w->value());
    if (field.live_size() > 1 && w->value().has_text()) {
      auto& versions = r.conflicts[field.name()];
      for (const auto& v : field.live()) {
        versions.push_back({FromProto(v.value()), log::HlcMillis(v.hlc()) * 1000, DotDevice(v.dot())});
      }
    }
  }
  return r;
}

Result<Record> EngineImpl::Get(const SpaceId& space, const std::string& collection,
                               const std::string& id, bool include_deleted) {
  std::string key = RecordKey(space, collection, id);
  std::string sealed;
  Status s = store_->Get(store::Cf::kRecords, key, &sealed);
  if (s.code() == StatusCode::kNotFound) return Status::NotFound("no " + collection + " record with id " + id);
  KINDRED_RETURN_IF_ERROR(s);
  KINDRED_ASSIGN_OR_RETURN(v1::RecordState state, ReadState(key, sealed));
  if (log::IsDeleted(state) && !include_deleted) {
    return Status::NotFound("the " + collection + " record " + id + " was deleted");
  }
  return ToRecord(state);
}

Status EngineImpl::Scan(const SpaceId& space, const std::string& collection,
                        const std::function<bool(const Record&)>& fn) {
  std::string prefix = CollectionPrefix(space, collection);
  auto cursor = store_->NewCursor(store::Cf::kRecords);
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next()) {
    KINDRED_ASSIGN_OR_RETURN(v1::RecordState state, ReadState(cursor->key(), cursor->value()));
    if (log::IsDeleted(state)) continue;
    if (!fn(ToRecord(state))) break;
  }
  return cursor->status();
}

Status EngineImpl::ScanByListItem(const SpaceId& space, const std::string& collection,
                                  const std::string& field, const std::string& item,
                                  const std::function<bool(const Record&)>& fn) {
  std::string prefix = CollectionPrefix(space, collection);
  AppendName(&prefix, field);
  prefix.append(crypto::KeyedHash(index_key_, item, kIndexTokenBytes));
  auto cursor = store_->NewCursor(store::Cf::kIndex);
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next()) {
    std::string id(cursor->key().substr(prefix.size()));
    auto record = Get(space, collection, id, false);
    if (record.status().code() == StatusCode::kNotFound) continue;
    KINDRED_RETURN_IF_ERROR(record.status());
    if (!fn(*record)) break;
  }
  return cursor->status();
}

Result<std::vector<SpaceSummary>> EngineImpl::Spaces() {
  std::vector<SpaceSummary> out;
  std::map<SpaceId, v1::SpaceInfo> spaces;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    spaces = spaces_;
  }
  for (const auto& [id, info] : spaces) {
    SpaceSummary s;
    s.id = id;
    s.kind = info.kind() == v1::SPACE_KIND_SHARED ? "shared" : "personal";
    s.epoch = info.current_epoch();
    s.ended_micros = info.ended_micros();
    auto versions = store_->NewCursor(store::Cf::kVersions);
    std::string prefix(id.bytes());
    for (versions->Seek(prefix); versions->ValidWithPrefix(prefix); versions->Next()) {
      v1::VersionEntry v;
      if (!v.ParseFromArray(versions->value().data(), static_cast<int>(versions->value().size()))) {
        return Status::Corruption("a version vector entry is damaged");
      }
      KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(versions->key().substr(prefix.size())));
      s.version_vector[d] = v.seq();
    }
    KINDRED_RETURN_IF_ERROR(versions->status());
    auto records = store_->NewCursor(store::Cf::kRecords);
    for (records->Seek(prefix); records->ValidWithPrefix(prefix); records->Next()) {
      KINDRED_ASSIGN_OR_RETURN(v1::RecordState state, ReadState(records->key(), records->value()));
      // The engine's own collections (roster, keys) are not the user's records.
      if (!log::IsDeleted(state) && !state.collection().empty() && state.collection().front() != '_') {
        ++s.records[state.collection()];
      }
    }
    KINDRED_RETURN_IF_ERROR(records->status());
    out.push_back(std::move(s));
  }
  return out;
}

std::string EngineImpl::MemberName(const DeviceId& device) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  for (const auto& [key, entry] : roster_) {
    if (key.second == device) return entry.member_name();
  }
  return "";
}

Result<std::string> EngineImpl::SignKeyOf(const SpaceId& space, const DeviceId& device) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = roster_.find({space, device});
  if (it == roster_.end()) {
    return Status::PermissionDenied("device " + device.ToString() +
                                    " is not a member of this space");
  }
  return it->second.sign_pk();
}

Status EngineImpl::VerifyLog(const SpaceId& space, const DeviceId& device,
                             const v1::VersionEntry& head, VerifyReport* report) {
  auto sign_pk_or = SignKeyOf(space, device);
  if (!sign_pk_or.ok()) {
    return Status::Corruption("the log of unknown device " + device.ToString() + " is stored here");
  }
  const std::string sign_pk = *sign_pk_or;
  const std::string prefix = log::SegmentPrefix(space, device);
  std::string prev(crypto::kHashBytes, '\0');
  uint64_t expected = 1;
  log::Segment segment;
  crypto::SecretString plain;
  v1::OpPayload payload;
  auto cursor = store_->NewCursor(store::Cf::kOplog);
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next()) {
    uint64_t key_last = 0;
    KINDRED_RETURN_IF_ERROR(log::ParseSegmentKey(cursor->key(), prefix.size(), &key_last));
    KINDRED_RETURN_IF_ERROR(log::DecodeSegment(space, device, key_last, cursor->value(), &segment));
    if (segment.first_seq != expected) {
      return Status::Corruption("the log of device " + device.ToString() + " in space " +
                                space.ToHex().substr(0, 8) + " jumps from op " +
                                std::to_string(expected - 1) + " to op " +
                                std::to_string(segment.first_seq) + ": the log was altered");
    }
    if (!crypto::ConstantTimeEquals(segment.prev_hash, prev)) {
      return Status::Corruption(log::DescribeOp(space, device, segment.first_seq) +
                                " does not follow the op before it: the log was altered");
    }
    for (size_t i = 0; i < segment.ops.size(); ++i) {
      const uint64_t seq = segment.first_seq + i;
      const v1::OpEnvelope& op = segment.ops[i];
      ++report->ops;
      if (op.purged()) {
        if (!op.ciphertext().empty()) {
          return Status::Corruption(log::DescribeOp(space, device, seq) +
                                    " is marked purged but still holds ciphertext");
        }
        ++report->purged;
        continue;
      }
      auto held_key = EpochKey(space, op.epoch());
      if (held_key.status().code() == StatusCode::kNotFound) {
        // Waiting for its key: the signature still covers its payload hash.
        if (!crypto::ConstantTimeEquals(crypto::Hash(op.ciphertext()), op.payload_hash())) {
          return Status::Corruption(log::DescribeOp(space, device, seq) +
                                    " does not match its payload hash: it was altered");
        }
        ++report->pending;
        continue;
      }
      KINDRED_ASSIGN_OR_RETURN(const crypto::SymmetricKey* key, std::move(held_key));
      KINDRED_RETURN_IF_ERROR(
          log::OpenOp(*key, space, device, seq, segment.PrevHashOf(i), op, &plain.str()));
      if (!payload.ParseFromString(plain.str())) {
        return Status::Corruption(log::DescribeOp(space, device, seq) + " holds a damaged payload");
      }
      ++report->decrypted;
    }
    KINDRED_RETURN_IF_ERROR(log::CheckSegmentSignature(sign_pk, space, device, segment));
    ++report->signatures;
    prev = segment.hashes.back();
    expected = segment.last_seq() + 1;
  }
  KINDRED_RETURN_IF_ERROR(cursor->status());
  // The log must end exactly at the head recorded for it: a segment removed
  // from the end would otherwise go unnoticed.
  if (expected - 1 != head.seq() || !crypto::ConstantTimeEquals(prev, head.head_hash())) {
    return Status::Corruption("the log of device " + device.ToString() + " in space " +
                              space.ToHex().substr(0, 8) + " ends at op " +
                              std::to_string(expected - 1) + ", not at its recorded head op " +
                              std::to_string(head.seq()) + ": the log was altered");
  }
  return Status::Ok();
}

Status EngineImpl::Verify(VerifyReport* report) {
  *report = VerifyReport{};
  struct Log {
    SpaceId space;
    DeviceId device;
    v1::VersionEntry head;
  };
  std::vector<Log> logs;
  auto versions = store_->NewCursor(store::Cf::kVersions);
  for (versions->SeekToFirst(); versions->Valid(); versions->Next()) {
    std::string_view key = versions->key();
    if (key.size() != SpaceId::kBytes + DeviceId::kBytes) {
      return Status::Corruption("a version vector entry is damaged");
    }
    Log entry;
    KINDRED_ASSIGN_OR_RETURN(entry.space, SpaceId::FromBytes(key.substr(0, SpaceId::kBytes)));
    KINDRED_ASSIGN_OR_RETURN(entry.device, DeviceId::FromBytes(key.substr(SpaceId::kBytes)));
    if (!entry.head.ParseFromArray(versions->value().data(),
                                   static_cast<int>(versions->value().size()))) {
      return Status::Corruption("a version vector entry is damaged");
    }
    logs.push_back(std::move(entry));
  }
  KINDRED_RETURN_IF_ERROR(versions->status());
  for (const auto& l : logs) KINDRED_RETURN_IF_ERROR(VerifyLog(l.space, l.device, l.head, report));
  auto records = store_->NewCursor(store::Cf::kRecords);
  for (records->SeekToFirst(); records->Valid(); records->Next()) {
    KINDRED_ASSIGN_OR_RETURN(v1::RecordState state, ReadState(records->key(), records->value()));
    ++report->records;
  }
  return records->status();
}

DeviceCard EngineImpl::card() const {
  DeviceCard c;
  c.id = device_.id;
  c.sign_pk = device_.sign_pk;
  c.dh_pk = device_.dh_pk;
  c.member_name = device_.member_name;
  c.device_name = device_.device_name;
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = roster_.find({device_.personal_space, device_.id});
  if (it != roster_.end()) c.member_id = it->second.member_id();
  return c;
}

Result<VersionVector> EngineImpl::Versions(const SpaceId& space) {
  VersionVector vv;
  auto cursor = store_->NewCursor(store::Cf::kVersions);
  std::string prefix(space.bytes());
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next()) {
    v1::VersionEntry v;
    if (!v.ParseFromArray(cursor->value().data(), static_cast<int>(cursor->value().size()))) {
      return Status::Corruption("a version vector entry is damaged");
    }
    KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(cursor->key().substr(prefix.size())));
    vv[d] = v.seq();
  }
  KINDRED_RETURN_IF_ERROR(cursor->status());
  return vv;
}

Status EngineImpl::ReadMissing(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                               const std::function<bool(OpBatch&&)>& fn) {
  return ReadMissingOps(space, theirs, max_ops, /*linked=*/true, fn);
}

Status EngineImpl::ReadMissingToSend(const SpaceId& space, const VersionVector& theirs,
                                     size_t max_ops, const std::function<bool(OpBatch&&)>& fn) {
  return ReadMissingOps(space, theirs, max_ops, /*linked=*/false, fn);
}

Status EngineImpl::ReadMissingOps(const SpaceId& space, const VersionVector& theirs, size_t max_ops,
                                  bool linked, const std::function<bool(OpBatch&&)>& fn) {
  KINDRED_ASSIGN_OR_RETURN(VersionVector ours, Versions(space));
  if (max_ops == 0) max_ops = 1;
  log::Segment segment;
  for (const auto& [device, head] : ours) {
    auto it = theirs.find(device);
    uint64_t next = (it == theirs.end() ? 0 : it->second) + 1;
    if (next > head) continue;
    // Segments from the one holding `next` on. A batch takes whole segments
    // (the first one from `next`) while it holds about max_ops, so it ends
    // at a segment's end, whose signature goes with it.
    const std::string prefix = log::SegmentPrefix(space, device);
    auto cursor = store_->NewCursor(store::Cf::kOplog);
    cursor->Seek(log::SegmentKey(space, device, next));
    OpBatch batch;
    for (; next <= head; cursor->Next()) {
      if (!cursor->ValidWithPrefix(prefix)) {
        KINDRED_RETURN_IF_ERROR(cursor->status());
        return Status::Corruption(log::DescribeOp(space, device, next) + " is missing here");
      }
      uint64_t key_last = 0;
      KINDRED_RETURN_IF_ERROR(log::ParseSegmentKey(cursor->key(), prefix.size(), &key_last));
      // Unlinked, a segment is only split into its ops, unless the batch
      // starts inside it (the first op's prev_hash is then the hash of the
      // op before it).
      KINDRED_RETURN_IF_ERROR(
          log::DecodeSegment(space, device, key_last, cursor->value(), &segment,
                             linked ? log::SegmentDecode::kFull : log::SegmentDecode::kRawOps));
      if (!linked && segment.first_seq < next) {
        KINDRED_RETURN_IF_ERROR(
            log::DecodeSegment(space, device, key_last, cursor->value(), &segment));
      }
      if (segment.first_seq > next || segment.last_seq() > head) {
        return Status::Corruption("the log of device " + device.ToString() +
                                  " does not match its recorded head near op " +
                                  std::to_string(next));
      }
      const size_t take = segment.last_seq() - next + 1;
      if (!batch.ops.empty() && batch.ops.size() + take > max_ops) {
        if (!fn(std::move(batch))) return Status::Ok();
        batch = OpBatch{};
      }
      if (batch.ops.empty()) {
        batch.space = space;
        batch.device = device;
        batch.first_seq = next;
      }
      for (size_t i = next - segment.first_seq; i < segment.ops.size(); ++i) {
        if (linked || batch.ops.empty()) {
          batch.ops.push_back(log::WireOp(segment, i));
        } else {
          batch.ops.push_back(std::move(segment.raw_ops[i]));
        }
      }
      batch.signature = segment.signature.SerializeAsString();
      next = segment.last_seq() + 1;
    }
    if (!batch.ops.empty() && !fn(std::move(batch))) return Status::Ok();
  }
  return Status::Ok();
}

Status EngineImpl::HeldOpHashes(GroupState& g, const SpaceId& space, const DeviceId& device,
                                uint64_t from, uint64_t to, std::vector<std::string>* out) {
  out->clear();
  const std::string prefix = log::SegmentPrefix(space, device);
  std::unique_ptr<store::Cursor> cursor;
  log::Segment segment;
  for (uint64_t seq = from; seq <= to;) {
    // Ops ingested earlier in this group, or by the group below, are not
    // in the store yet.
    const GroupState::NewSegment* pending = nullptr;
    for (const GroupState* group : g.Layers()) {
      if (!group || pending) continue;
      for (const auto& s : group->segments) {
        if (s.space == space && s.device == device && s.first_seq <= seq && seq <= s.last_seq &&
            !s.hashes.empty()) {
          pending = &s;
        }
      }
    }
    if (pending) {
      const uint64_t end = std::min(to, pending->last_seq);
      for (; seq <= end; ++seq) out->push_back(pending->hashes[seq - pending->first_seq]);
      continue;
    }
    if (!cursor) {
      cursor = store_->NewCursor(store::Cf::kOplog);
      cursor->Seek(log::SegmentKey(space, device, seq));
    }
    KINDRED_RETURN_IF_ERROR(ReadSegmentHolding(*cursor, prefix, space, device, seq, &segment));
    const uint64_t end = std::min(to, segment.last_seq());
    for (; seq <= end; ++seq) out->push_back(segment.hashes[seq - segment.first_seq]);
    cursor->Next();
  }
  return Status::Ok();
}

Result<EngineImpl::Head> EngineImpl::PeerHead(GroupState& g, const SpaceId& space,
                                              const DeviceId& device) {
  for (const GroupState* group : g.Layers()) {
    if (!group) continue;
    auto it = group->peer_heads.find({space, device});
    if (it != group->peer_heads.end()) return it->second;
  }
  std::string bytes;
  Status s = store_->Get(store::Cf::kVersions, log::VersionKey(space, device), &bytes);
  if (s.code() == StatusCode::kNotFound) return Head{};
  KINDRED_RETURN_IF_ERROR(s);
  v1::VersionEntry v;
  if (!v.ParseFromString(bytes)) return Status::Corruption("a version vector entry is damaged");
  return Head{v.seq(), v.head_hash(), v.hlc()};
}

Status EngineImpl::IngestInGroup(GroupState& g, const OpBatch& b, uint64_t* added) {
  *added = 0;
  // Error messages are built only on failure: a batch has thousands of ops.
  auto who = [&b] { return "the batch from device " + b.device.ToString(); };
  auto what = [&b](uint64_t seq) { return log::DescribeOp(b.space, b.device, seq); };
  std::string sign_pk;
  uint64_t revoked_after = std::numeric_limits<uint64_t>::max();
  {
    // The author must be in the roster as this device knows it now; a
    // revoked author's ops count only up to where its revocation saw them.
    std::lock_guard<std::mutex> lock(meta_mu_);
    auto it = roster_.find({b.space, b.device});
    if (it == roster_.end()) {
      return Status::PermissionDenied("device " + b.device.ToString() +
                                      " is not a member of this space");
    }
    sign_pk = it->second.sign_pk();
    if (it->second.revoked()) revoked_after = it->second.revoked_after_seq();
  }
  const size_t n = b.size();
  if (b.first_seq == 0) return Status::Corruption(who() + " starts at seq 0");
  if (b.first_seq - 1 > std::numeric_limits<uint64_t>::max() - n) {
    return Status::Corruption(who() + " names impossible seqs");
  }
  if (b.first_seq - 1 + n > revoked_after) {
    return Status::PermissionDenied("device " + b.device.ToString() +
                                    " was revoked from this space; its ops after op " +
                                    std::to_string(revoked_after) + " are refused");
  }
  v1::BatchSignature sig;
  if (!sig.ParseFromString(b.signature) || sig.format() != kFormat) {
    return Status::Corruption(who() + " has a damaged signature");
  }
  const uint64_t last = b.first_seq + n - 1;
  if (sig.seq() != last) return Status::Corruption(who() + " is signed for another range of ops");

  Head head;
  if (b.device == device_.id) {
    // Our own ops can only come back as copies of what is written already.
    auto own = heads_.find(b.space);
    if (own != heads_.end()) head = own->second;
  } else {
    KINDRED_ASSIGN_OR_RETURN(head, PeerHead(g, b.space, b.device));
  }
  if (b.first_seq > head.seq + 1) {
    return Status::FailedPrecondition(who() + " starts at op " + std::to_string(b.first_seq) +
                                      " but only " + std::to_string(head.seq) +
                                      " are held here: ops are missing in between");
  }
  // The hashes of the held ops the batch overlaps, and of the one before it.
  std::vector<std::string> held;
  const uint64_t held_from = std::max<uint64_t>(b.first_seq - 1, 1);
  const uint64_t held_to = std::min(last, head.seq);
  std::string first_prev;
  if (b.first_seq - 1 == head.seq) {
    first_prev = head.hash;
  } else {
    KINDRED_RETURN_IF_ERROR(HeldOpHashes(g, b.space, b.device, held_from, held_to, &held));
    first_prev = b.first_seq == 1 ? std::string(crypto::kHashBytes, '\0') : held[0];
  }

  // Check everything before keeping anything, on both cores where the work
  // allows (the worker thread is free unless our own ops are being sealed):
  // nothing is merged before the whole chain, the signature over its head,
  // and the op's own payload hash and AEAD tag have verified.
  WorkerThread* worker = !g.worker_busy && n >= kParallelIngestFrom ? &Worker() : nullptr;

  // Step 1, on both cores: parse every op, and hash it along the prev_hash
  // it names (step 2 checks those links against the chain).
  // With derived_hashes (the sync layer hashed the ops as it rebuilt them
  // from the wire), the hashes are taken from there instead.
  // Ops the sync layer decoded already (OpBatch::decoded) are read as they
  // are, with the hashes it derived.
  const bool derived = b.derived_hashes.size() == n;
  const bool decoded = !b.decoded.empty();
  if (decoded && (!derived || !b.ops.empty())) {
    return Status::InvalidArgument(who() + " holds decoded ops without their derived hashes" +
                                   (b.ops.empty() ? "" : ", or beside encoded ones"));
  }
  std::vector<const v1::OpEnvelope*> ops(n, nullptr);
  std::vector<v1::OpEnvelope*> parsed;  // the ops parsed here: the group's, to change
  std::vector<std::string> hashes(n);
  if (decoded) {
    for (size_t i = 0; i < n; ++i) {
      ops[i] = b.decoded[i];
      hashes[i] = b.derived_hashes[i];
    }
  } else {
    parsed.assign(n, nullptr);
    ForEachOnBoth(worker, n, [&](size_t i) {
      auto* op = google::protobuf::Arena::CreateMessage<v1::OpEnvelope>(&g.arena);
      if (!op->ParseFromString(b.ops[i])) return;
      hashes[i] = derived ? b.derived_hashes[i]
                          : log::OpHash(b.space, b.device, b.first_seq + i, op->prev_hash(), *op);
      parsed[i] = op;
      ops[i] = op;
    });
  }

  // Step 2, in order: the chain, forks, which ops are new and which key
  // opens each, and the signature over the head.
  // Whether the records already lag this log (an op waits for its key):
  // then nothing of it is merged until the key arrives, so ops merge in
  // order of their log.
  const std::pair<SpaceId, DeviceId> log_id{b.space, b.device};
  std::optional<uint64_t> waits_from;  // first op that waits for its key
  if (auto lag = g.applied_override.find(log_id); lag != g.applied_override.end()) {
    waits_from = lag->second + 1;
  } else if (b.device != device_.id) {
    std::optional<uint64_t> applied;  // as the group below writes it, else as stored
    if (g.below) {
      if (auto lag = g.below->applied_override.find(log_id);
          lag != g.below->applied_override.end()) {
        applied = lag->second;
      } else if (auto at = g.below->peer_heads.find(log_id); at != g.below->peer_heads.end()) {
        applied = at->second.seq;
      }
    }
    if (!applied) {
      std::string bytes;
      Status s = store_->Get(store::Cf::kApplied, log::VersionKey(b.space, b.device), &bytes);
      if (s.ok()) {
        v1::VersionEntry entry;
        if (!entry.ParseFromString(bytes)) return Status::Corruption("an applied mark is damaged");
        applied = entry.seq();
      } else if (s.code() != StatusCode::kNotFound) {
        return s;
      }
    }
    if (applied && *applied < head.seq) waits_from = *applied + 1;
  }
  // A new op, to check (step 3) and merge.
  struct Fresh {
    size_t index = 0;                          // in the batch
    const crypto::SymmetricKey* key = nullptr;  // null: kept unread (purged, or no key yet)
    v1::OpPayload* payload = nullptr;          // on the group's arena: purges point into it
    bool readable = false;
  };
  std::vector<Fresh> fresh;
  size_t first_fresh = n;  // batch index of the first new op
  const std::string* prev = &first_prev;
  const crypto::SymmetricKey* epoch_key = nullptr;  // the last key looked up, for...
  uint32_t key_epoch = 0;                           // ...this epoch
  uint64_t max_hlc = head.hlc;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t seq = b.first_seq + i;
    const v1::OpEnvelope* op = ops[i];
    if (!op) return Status::Corruption(what(seq) + " is malformed");
    // A decoded op after the first may leave out its prev_hash: its hash
    // was derived along the chain from the op before (OpBatch::decoded).
    const bool linked_by_derivation = decoded && i > 0 && op->prev_hash().empty();
    if (!linked_by_derivation && !crypto::ConstantTimeEquals(op->prev_hash(), *prev)) {
      return Status::Corruption(what(seq) +
                                " does not follow the op before it: the chain is broken");
    }
    const std::string& hash = hashes[i];
    if (seq <= head.seq) {
      if (!crypto::ConstantTimeEquals(held[seq - held_from], hash)) {
        return Status::Corruption("fork: device " + b.device.ToString() +
                                  " sent a different op " + std::to_string(seq) +
                                  " than the one held here; refusing its log");
      }
    } else {
      if (fresh.empty()) {
        first_fresh = i;
        fresh.reserve(n - i);
      }
      Fresh f;
      f.index = i;
      if (!op->purged() && !waits_from) {
        if (!epoch_key || key_epoch != op->epoch()) {
          auto held_key = EpochKey(b.space, op->epoch());
          if (held_key.ok()) {
            epoch_key = *held_key;
            key_epoch = op->epoch();
          } else if (held_key.status().code() == StatusCode::kNotFound) {
            epoch_key = nullptr;
            waits_from = seq;  // its key has not reached this device yet
          } else {
            return held_key.status();
          }
        }
        if (!waits_from) f.key = epoch_key;
      }
      if (op->purged() && !op->ciphertext().empty()) {
        return Status::Corruption(what(seq) + " is marked purged but carries ciphertext");
      }
      max_hlc = std::max(max_hlc, op->hlc());
      fresh.push_back(f);
    }
    prev = &hash;
  }
  if (!crypto::ConstantTimeEquals(sig.head_hash(), *prev) ||
      !crypto::Verify(sign_pk, log::HeadMessage(b.space, b.device, last, *prev), sig.signature())) {
    return Status::Corruption(who() + " has a signature that does not verify");
  }
  if (fresh.empty()) return Status::Ok();
  if (b.device == device_.id) {
    return Status::Corruption(who() + " holds ops of this device's own log that it never wrote");
  }
  const std::string& fresh_prev = first_fresh == 0 ? first_prev : hashes[first_fresh - 1];
  // Stored ops leave out prev_hash (derivable); the hashes above keep it.
  if (!decoded) {
    for (const Fresh& f : fresh) parsed[f.index]->clear_prev_hash();
  }

  // Step 3: each new op's payload hash and AEAD tag, and its payload parsed,
  // on both cores (the worker first encodes the new ops as one segment: the
  // batch's signature covers its last op, which is theirs too); the leader
  // merges each op, in order, once it is checked.
  GroupState::NewSegment segment;
  segment.space = b.space;
  segment.device = b.device;
  segment.first_seq = b.first_seq + first_fresh;
  segment.last_seq = last;
  log::SegmentBuilder builder(segment.first_seq, fresh_prev);
  auto build_segment = [&] {
    size_t bytes = 0;
    for (const Fresh& f : fresh) {
      bytes += decoded ? ops[f.index]->ciphertext().size() + 96 : b.ops[f.index].size() + 4;
    }
    builder.Reserve(bytes);
    for (const Fresh& f : fresh) {
      const v1::OpEnvelope& op = *ops[f.index];
      if (op.prev_hash().empty()) {
        builder.Append(op);
        continue;
      }
      // A decoded run's first op (never changed here): stored without it.
      v1::OpEnvelope stored = op;
      stored.clear_prev_hash();
      builder.Append(stored);
    }
  };
  // Checks fresh[k]; returns false with `error` set if it fails.
  auto check = [&](size_t k, crypto::SecretString& plain, Status* error) {
    Fresh& f = fresh[k];
    const v1::OpEnvelope& op = *ops[f.index];
    const uint64_t seq = b.first_seq + f.index;
    if (op.purged()) return true;
    if (!f.key) {
      // Kept without being read: the signature covers its payload hash, so
      // check that the ciphertext is the one signed.
      if (op.format() != log::kOpFormat ||
          op.aead() != static_cast<uint32_t>(crypto::AeadId::kXChaCha20Poly1305) ||
          !crypto::ConstantTimeEquals(crypto::Hash(op.ciphertext()), op.payload_hash())) {
        *error = Status::Corruption(what(seq) + " is malformed or does not match its payload hash");
        return false;
      }
      return true;
    }
    const std::string& op_prev = f.index == 0 ? first_prev : hashes[f.index - 1];
    *error = log::OpenOp(*f.key, b.space, b.device, seq, op_prev, op, &plain.str(), derived);
    if (!error->ok()) return false;
    f.payload = google::protobuf::Arena::CreateMessage<v1::OpPayload>(&g.arena);
    const bool parsed = f.payload->ParseFromString(plain.str());
    plain.Wipe();
    if (!parsed || f.payload->format() != kFormat ||
        f.payload->body_case() == v1::OpPayload::BODY_NOT_SET || !TextIsUtf8(*f.payload)) {
      *error = Status::Corruption(what(seq) + " holds a malformed payload");
      return false;
    }
    f.readable = true;
    return true;
  };
  const std::string id_prefix = RecordIdPrefix(b.space, b.device);
  auto merge = [&](size_t k) -> Status {
    Fresh& f = fresh[k];
    const uint64_t seq = b.first_seq + f.index;
    if (!f.readable || (waits_from && seq >= *waits_from)) return Status::Ok();
    return MergePayload(g, b.space, b.device, seq, ops[f.index]->hlc(), *f.payload, id_prefix);
  };
  KINDRED_RETURN_IF_ERROR(CheckAndMergeInOrder(worker, fresh.size(), build_segment, check, merge));
  for (const Fresh& f : fresh) hlc_.Observe(ops[f.index]->hlc());
  segment.bytes = builder.Finish(sig);
  segment.hashes.assign(std::make_move_iterator(hashes.begin() + first_fresh),
                        std::make_move_iterator(hashes.end()));
  g.segments.push_back(std::move(segment));
  g.peer_heads[log_id] = Head{last, g.segments.back().hashes.back(), max_hlc};
  if (waits_from) g.applied_override[log_id] = *waits_from - 1;
  *added = fresh.size();
  return Status::Ok();
}

}  // namespace kindred::core

namespace kindred {

Result<std::unique_ptr<Engine>> Engine::Init(const InitOptions& options) {
  return core::EngineImpl::Create(options);
}

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  return core::EngineImpl::OpenHome(options);
}

Result<bool> Engine::KeyFileIsSealed(const std::string& home, Env* env) {
  Env& e = env ? *env : Env::System();
  if (!e.fs().Exists(core::KeyFilePath(home))) {
    return Status::FailedPrecondition("there is no Kindred device in " + home +
                                      " yet: run `kindred init --name NAME` first");
  }
  return core::KeyFileSealed(e.fs(), core::KeyFilePath(home));
}

std::string Record::Text(const std::string& name) const {
  auto it = fields.find(name);
  if (it == fields.end()) return "";
  auto* s = std::get_if<std::string>(&it->second);
  return s ? *s : "";
}
std::optional<int64_t> Record::Int(const std::string& name) const {
  auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  auto* v = std::get_if<int64_t>(&it->second);
  return v ? std::optional<int64_t>(*v) : std::nullopt;
}
std::vector<std::string> Record::List(const std::string& name) const {
  auto it = fields.find(name);
  if (it == fields.end()) return {};
  auto* v = std::get_if<std::vector<std::string>>(&it->second);
  return v ? *v : std::vector<std::string>{};
}
bool Record::Flag(const std::string& name, bool fallback) const {
  auto it = fields.find(name);
  if (it == fields.end()) return fallback;
  auto* v = std::get_if<bool>(&it->second);
  return v ? *v : fallback;
}

}  // namespace kindred
