#include "engine/core/engine_impl.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>
#include <unordered_map>

#include "engine/log/merge.h"
#include "engine/log/oplog.h"

namespace kindred::core {
namespace {

constexpr char kMetaLayout[] = "layout";
constexpr char kMetaDevice[] = "device";
constexpr char kMetaSpacePrefix[] = "space/";
constexpr char kMetaSpaceKeyPrefix[] = "spacekey/";
constexpr char kMetaRosterPrefix[] = "roster/";
constexpr char kRecordAd[] = "kindred/rec/1";
constexpr char kSpaceKeyAd[] = "kindred/spacekey/1";
constexpr uint32_t kFormat = 1;
constexpr size_t kIndexTokenBytes = 16;
constexpr size_t kMaxNameBytes = 255;

std::string SpaceKeyKey(const SpaceId& space, uint32_t epoch) {
  std::string key(kMetaSpaceKeyPrefix);
  key.append(space.bytes());
  crypto::PutU32(&key, epoch);
  return key;
}

std::string RosterKey(const SpaceId& space, const DeviceId& device) {
  std::string key(kMetaRosterPrefix);
  key.append(space.bytes());
  key.append(device.bytes());
  return key;
}

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

Status CheckName(std::string_view what, std::string_view name) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " must not be empty");
  if (name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(std::string(what) + " is longer than 255 bytes");
  }
  return Status::Ok();
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "device";
  return buf;
}

}  // namespace

std::string KeyFilePath(const std::string& home) { return home + "/device.key"; }
std::string StorePath(const std::string& home) { return home + "/db"; }

NonceSequence::NonceSequence(Random& random) : prefix_(16, '\0') {
  random.Fill(reinterpret_cast<uint8_t*>(prefix_.data()), prefix_.size());
}

std::string NonceSequence::Next() {
  std::string nonce = prefix_;
  std::lock_guard<std::mutex> lock(mu_);
  crypto::PutU64(&nonce, ++counter_);
  return nonce;
}

struct EngineImpl::Writer {
  // Either a local commit...
  const SpaceId* space = nullptr;
  const std::vector<Mutation>* mutations = nullptr;
  // ...or a peer's batch.
  const OpBatch* ingest = nullptr;
  size_t Size() const { return mutations ? mutations->size() : ingest->ops.size(); }

  Result<std::vector<std::string>> result = Status::Internal("commit did not run");
  uint64_t ingested = 0;
  bool done = false;
  std::condition_variable cv;
};

struct EngineImpl::GroupState {
  explicit GroupState(store::Batch b) : batch(std::move(b)) {}
  // Protos built for this group live here and die together, cheaply.
  google::protobuf::Arena arena;
  store::Batch batch;
  struct CachedRecord {
    SpaceId space;
    v1::RecordState* before = nullptr;  // as stored before this group; null if new
    v1::RecordState* state = nullptr;
    bool dirty = false;
  };
  std::unordered_map<std::string, CachedRecord> records;  // by record key
  std::map<SpaceId, Head> heads;  // our heads; seq moves in phase 1, hash in phase 2
  std::map<std::pair<SpaceId, DeviceId>, Head> peer_heads;  // peers' heads, likewise
  std::map<SpaceId, std::string> salts;  // one fresh salt per space per group
  // Our new ops, in seq order per space, sealed in phase 2.
  struct LocalOp {
    SpaceId space;
    uint64_t seq;
    uint64_t hlc;
    uint32_t epoch;
    const crypto::SymmetricKey* key;
    const v1::OpPayload* payload;
  };
  std::vector<LocalOp> local_ops;
  std::vector<std::string> local_op_bytes;  // encoded envelopes, aligned with local_ops
  // Peers' ops ingested in this group: (key, bytes owned by the caller's OpBatch).
  std::vector<std::pair<std::string, const std::string*>> ingested_ops;
  // Purges to carry out once every op of the group is encoded.
  std::vector<std::pair<SpaceId, const v1::RecordDelete*>> purges;
};

EngineImpl::EngineImpl(Env& env, EngineOptions options, DeviceSecrets secrets,
                       std::unique_ptr<store::Store> store)
    : env_(env),
      options_(std::move(options)),
      secrets_(std::move(secrets)),
      store_(std::move(store)),
      records_key_(crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kRecords)),
      index_key_(crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kIndex)),
      wrap_key_(crypto::DeriveKey(secrets_.local_key, crypto::kdf_label::kSpaceWrap)),
      hlc_(env.clock()),
      nonces_(env.random()) {
  if (options_.passphrase) {
    sodium_memzero(options_.passphrase->data(), options_.passphrase->size());
    options_.passphrase.reset();
  }
}

EngineImpl::~EngineImpl() = default;

Result<std::unique_ptr<Engine>> EngineImpl::Create(const InitOptions& init) {
  KINDRED_RETURN_IF_ERROR(crypto::Init());
  Env& env = init.engine.env ? *init.engine.env : Env::System();
  const std::string& home = init.engine.home;
  if (home.empty()) return Status::InvalidArgument("no home directory given");
  KINDRED_RETURN_IF_ERROR(CheckName("the member name", init.member_name));
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

Result<const crypto::SymmetricKey*> EngineImpl::EpochKey(const SpaceId& space, uint32_t epoch) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = epoch_keys_.find({space, epoch});
  if (it == epoch_keys_.end()) {
    return Status::NotFound("no key for epoch " + std::to_string(epoch) + " of space " +
                            space.ToHex().substr(0, 8));
  }
  return &it->second;  // entries are never erased while the engine lives
}

std::string EngineImpl::DeriveRecordId(const SpaceId& space, const DeviceId& device,
                                       uint64_t seq) const {
  std::string input("kindred/rid/1");
  input.append(space.bytes());
  input.append(device.bytes());
  crypto::PutU64(&input, seq);
  std::string digest(10, '\0');
  crypto_generichash(reinterpret_cast<uint8_t*>(digest.data()), digest.size(),
                     reinterpret_cast<const uint8_t*>(input.data()), input.size(), nullptr, 0);
  return ToBase32Lower(digest);
}

std::string EngineImpl::SealState(std::string_view key, const v1::RecordState& state) {
  std::string plain = state.SerializeAsString();
  std::string ad(kRecordAd);
  ad.append(key);
  std::string nonce = nonces_.Next();
  std::string out = nonce;
  crypto::AeadSeal(records_key_, nonce, ad, plain, &out);
  sodium_memzero(plain.data(), plain.size());
  return out;
}

Result<v1::RecordState> EngineImpl::ReadState(std::string_view key, std::string_view sealed) const {
  std::string ad(kRecordAd);
  ad.append(key);
  crypto::SecretString plain;
  if (!crypto::AeadOpenRandomNonce(records_key_, ad, sealed, &plain.str()).ok()) {
    return Status::Corruption("a stored record failed authentication: the store was altered");
  }
  v1::RecordState state;
  if (!state.ParseFromString(plain.str())) return Status::Corruption("a stored record is damaged");
  if (state.format() != kFormat) {
    return Status::Corruption("a stored record has unknown format " + std::to_string(state.format()));
  }
  return state;
}

Result<v1::RecordState*> EngineImpl::LoadState(GroupState& g, const SpaceId& space,
                                               const std::string& collection,
                                               const std::string& id) {
  std::string key = RecordKey(space, collection, id);
  auto it = g.records.find(key);
  if (it != g.records.end()) return it->second.state;
  GroupState::CachedRecord cached;
  cached.space = space;
  cached.state = google::protobuf::Arena::CreateMessage<v1::RecordState>(&g.arena);
  std::string sealed;
  Status s = store_->Get(store::Cf::kRecords, key, &sealed);
  if (s.ok()) {
    KINDRED_ASSIGN_OR_RETURN(*cached.state, ReadState(key, sealed));
    cached.before = google::protobuf::Arena::CreateMessage<v1::RecordState>(&g.arena);
    *cached.before = *cached.state;
  } else if (s.code() != StatusCode::kNotFound) {
    return s;
  }
  return g.records.emplace(std::move(key), cached).first->second.state;
}

Result<std::vector<std::string>> EngineImpl::Commit(const SpaceId& space,
                                                    const std::vector<Mutation>& mutations) {
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    if (!spaces_.count(space)) return Status::NotFound("this device does not belong to that space");
  }
  if (mutations.empty()) return std::vector<std::string>{};
  Writer w;
  w.space = &space;
  w.mutations = &mutations;
  RunInGroup(w);
  return std::move(w.result);
}

Result<uint64_t> EngineImpl::Ingest(const OpBatch& batch) {
  if (batch.ops.empty()) return uint64_t{0};
  Writer w;
  w.ingest = &batch;
  RunInGroup(w);
  if (!w.result.ok()) return w.result.status();
  return w.ingested;
}

void EngineImpl::RunInGroup(Writer& w) {
  std::unique_lock<std::mutex> lock(commit_mu_);
  writers_.push_back(&w);
  while (!w.done && &w != writers_.front()) w.cv.wait(lock);
  if (w.done) return;

  // Leader: take everyone queued so far, with a cap to bound memory.
  std::vector<Writer*> group;
  size_t ops = 0;
  for (Writer* other : writers_) {
    if (!group.empty() && ops + other->Size() > 10000) break;
    group.push_back(other);
    ops += other->Size();
  }
  // Build and write without the lock, so later writers can queue up behind
  // this group and share the next write. Only the leader (the front of the
  // queue) touches heads_, and there is one leader at a time.
  lock.unlock();
  Status s = CommitGroup(group);
  lock.lock();
  for (Writer* done : group) {
    if (!s.ok()) done->result = s;
    writers_.pop_front();
    done->done = true;
    if (done != &w) done->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
}

Status EngineImpl::CommitGroup(std::vector<Writer*>& group) {
  // Phase 1, in order: assign seqs and clocks, build payloads, merge into
  // records, check peers' batches. Each writer is all or nothing: when one
  // fails, the group is rebuilt without it (failures are rare).
  std::vector<bool> failed(group.size(), false);
  std::unique_ptr<GroupState> g;
  for (bool rebuild = true; rebuild;) {
    rebuild = false;
    g = std::make_unique<GroupState>(store_->NewBatch());
    for (size_t i = 0; i < group.size() && !rebuild; ++i) {
      Writer* w = group[i];
      if (failed[i]) continue;
      std::vector<std::string> ids;
      Status s;
      if (w->ingest) {
        s = IngestInGroup(*g, *w->ingest, &w->ingested);
      } else {
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

  // Phase 2, on both cores: seal our ops along the hash chain on this
  // thread while a helper seals the materialised records.
  std::vector<std::pair<const std::string*, GroupState::CachedRecord*>> dirty;
  for (auto& [key, cached] : g->records) {
    if (cached.dirty) dirty.emplace_back(&key, &cached);
  }
  std::vector<std::string> sealed(dirty.size());
  auto seal_records = [&] {
    for (size_t i = 0; i < dirty.size(); ++i) sealed[i] = SealState(*dirty[i].first, *dirty[i].second->state);
  };
  constexpr size_t kParallelFrom = 64;
  std::thread helper;
  if (dirty.size() >= kParallelFrom) helper = std::thread(seal_records);
  SealLocalOps(*g);
  if (helper.joinable()) {
    helper.join();
  } else {
    seal_records();
  }

  // Phase 3: everything into one batch.
  for (size_t i = 0; i < g->local_ops.size(); ++i) {
    const auto& op = g->local_ops[i];
    g->batch.Put(store::Cf::kOplog, log::OpKey(op.space, device_.id, op.seq), g->local_op_bytes[i]);
  }
  bool purged = false;
  if (!g->purges.empty()) {
    KINDRED_RETURN_IF_ERROR(ErasePurgedOps(*g));
    purged = true;
  }
  for (size_t i = 0; i < dirty.size(); ++i) {
    g->batch.Put(store::Cf::kRecords, *dirty[i].first, sealed[i]);
    UpdateIndex(g->batch, dirty[i].second->space, dirty[i].second->before, *dirty[i].second->state);
  }
  // One signature per space per group over the new head of our chain.
  for (auto& [space, head] : g->heads) {
    v1::BatchSignature sig;
    sig.set_format(kFormat);
    sig.set_seq(head.seq);
    sig.set_head_hash(head.hash);
    sig.set_signature(crypto::Sign(secrets_.sign,
                                   log::HeadMessage(space, device_.id, head.seq, head.hash)));
    g->batch.Put(store::Cf::kOplog, log::SignatureKey(space, device_.id, head.seq),
                 sig.SerializeAsString());
    PutVersion(g->batch, space, device_.id, head);
  }
  for (auto& [log_id, head] : g->peer_heads) PutVersion(g->batch, log_id.first, log_id.second, head);
  KINDRED_RETURN_IF_ERROR(store_->Write(g->batch, options_.sync_writes));
  for (auto& [space, head] : g->heads) heads_[space] = head;
  if (purged) {
    // Erased ciphertext must also leave older files and the write-ahead log.
    KINDRED_RETURN_IF_ERROR(store_->CompactAll());
  }
  return Status::Ok();
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

void EngineImpl::SealLocalOps(GroupState& g) {
  g.local_op_bytes.resize(g.local_ops.size());
  std::string plain;
  v1::OpEnvelope op;
  for (size_t i = 0; i < g.local_ops.size(); ++i) {
    const auto& local = g.local_ops[i];
    Head& head = g.heads[local.space];
    op.Clear();
    op.set_hlc(local.hlc);
    op.set_epoch(local.epoch);
    op.set_prev_hash(head.hash);
    op.set_salt(g.salts[local.space]);
    local.payload->SerializeToString(&plain);
    log::SealOp(*local.key, local.space, device_.id, local.seq, plain, &op);
    head.hash = log::OpHash(local.space, device_.id, local.seq, op);
    op.SerializeToString(&g.local_op_bytes[i]);
  }
  sodium_memzero(plain.data(), plain.size());
}

Status EngineImpl::ErasePurgedOps(GroupState& g) {
  // Ops of this group by key, so a purge can also reach them.
  std::unordered_map<std::string, const std::string*> in_group;
  for (size_t i = 0; i < g.local_ops.size(); ++i) {
    in_group[log::OpKey(g.local_ops[i].space, device_.id, g.local_ops[i].seq)] = &g.local_op_bytes[i];
  }
  for (const auto& [key, bytes] : g.ingested_ops) in_group[key] = bytes;
  std::set<std::string> erased;
  for (const auto& [space, remove] : g.purges) {
    for (const auto& purged : remove->purged_ops()) {
      KINDRED_ASSIGN_OR_RETURN(DeviceId author, DeviceId::FromBytes(purged.device()));
      std::string key = log::OpKey(space, author, purged.seq());
      if (erased.count(key)) continue;
      std::string bytes;
      auto pending = in_group.find(key);
      if (pending != in_group.end()) {
        bytes = *pending->second;
      } else {
        Status s = store_->Get(store::Cf::kOplog, key, &bytes);
        if (s.code() == StatusCode::kNotFound) continue;  // not synced here yet
        KINDRED_RETURN_IF_ERROR(s);
      }
      v1::OpEnvelope old;
      if (!old.ParseFromString(bytes)) return Status::Corruption("a stored op is damaged");
      if (old.purged()) continue;
      old.clear_ciphertext();
      old.set_purged(true);
      g.batch.Put(store::Cf::kOplog, key, old.SerializeAsString());  // later puts win
      erased.insert(std::move(key));
    }
  }
  return Status::Ok();
}

Status EngineImpl::PrepareMutation(GroupState& g, const SpaceId& space, const Mutation& m,
                                   std::string* id) {
  KINDRED_RETURN_IF_ERROR(CheckName("the collection name", m.collection));
  for (const auto& [name, value] : m.fields) KINDRED_RETURN_IF_ERROR(CheckName("a field name", name));

  auto head_it = g.heads.find(space);
  if (head_it == g.heads.end()) {
    auto stored = heads_.find(space);
    head_it = g.heads.emplace(space, stored == heads_.end() ? Head{} : stored->second).first;
  }
  Head& head = head_it->second;
  const uint64_t seq = head.seq + 1;

  auto* payload = google::protobuf::Arena::CreateMessage<v1::OpPayload>(&g.arena);
  payload->set_format(kFormat);
  v1::RecordState* state = nullptr;
  if (m.kind == Mutation::Kind::kCreate) {
    if (m.id.empty()) {
      // A fresh id derived from this op's own dot: no record can have it yet.
      *id = DeriveRecordId(space, device_.id, seq);
      GroupState::CachedRecord fresh;
      fresh.space = space;
      fresh.state = google::protobuf::Arena::CreateMessage<v1::RecordState>(&g.arena);
      state = g.records.emplace(RecordKey(space, m.collection, *id), fresh).first->second.state;
    } else {
      *id = m.id;
      KINDRED_RETURN_IF_ERROR(CheckName("the record id", *id));
      KINDRED_ASSIGN_OR_RETURN(state, LoadState(g, space, m.collection, *id));
      if (!state->ops().empty()) {
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
    KINDRED_ASSIGN_OR_RETURN(state, LoadState(g, space, m.collection, m.id));
    if (state->ops().empty() || log::IsDeleted(*state)) {
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
        if (const v1::FieldState* f = log::FindField(*state, name)) {
          for (const auto& v : f->live()) *fw->add_supersedes() = v.dot();
        }
      }
    } else {
      auto* remove = payload->mutable_remove();
      remove->set_collection(m.collection);
      remove->set_record_id(m.id);
      for (const auto& dot : log::AllLiveDots(*state)) *remove->add_supersedes() = dot;
      if (m.kind == Mutation::Kind::kPurge) {
        remove->set_purge(true);
        for (const auto& dot : state->ops()) *remove->add_purged_ops() = dot;
      }
    }
  }

  uint32_t epoch = 0;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    epoch = spaces_.at(space).current_epoch();
  }
  KINDRED_ASSIGN_OR_RETURN(const crypto::SymmetricKey* key, EpochKey(space, epoch));
  if (!g.salts.count(space)) {
    std::string salt(log::kSaltBytes, '\0');
    env_.random().Fill(reinterpret_cast<uint8_t*>(salt.data()), salt.size());
    g.salts.emplace(space, std::move(salt));
  }
  const uint64_t hlc = hlc_.Now();
  head.seq = seq;
  head.hlc = hlc;
  g.local_ops.push_back({space, seq, hlc, epoch, key, payload});
  return MergePayload(g, space, device_.id, seq, hlc, *payload, *id);
}

Status EngineImpl::MergePayload(GroupState& g, const SpaceId& space, const DeviceId& author,
                                uint64_t seq, uint64_t hlc, const v1::OpPayload& payload,
                                const std::string& id) {
  const std::string& collection =
      payload.has_write() ? payload.write().collection() : payload.remove().collection();
  KINDRED_RETURN_IF_ERROR(CheckName("a collection name", collection));
  KINDRED_RETURN_IF_ERROR(CheckName("a record id", id));
  KINDRED_ASSIGN_OR_RETURN(v1::RecordState* state, LoadState(g, space, collection, id));
  v1::Dot dot;
  dot.set_device(std::string(author.bytes()));
  dot.set_seq(seq);
  if (state->record_id().empty()) state->set_record_id(id);
  if (payload.has_write()) {
    log::ApplyWrite(dot, hlc, payload.write(), state);
  } else {
    log::ApplyDelete(dot, hlc, payload.remove(), state);
    if (payload.remove().purge()) g.purges.emplace_back(space, &payload.remove());
  }
  g.records.at(RecordKey(space, collection, id)).dirty = true;
  return Status::Ok();
}

void EngineImpl::UpdateIndex(store::Batch& batch, const SpaceId& space,
                             const v1::RecordState* before, const v1::RecordState& after) {
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
    if (!new_keys.count(k)) batch.Delete(store::Cf::kIndex, k);
  }
  for (const auto& k : new_keys) {
    if (!old_keys.count(k)) batch.Put(store::Cf::kIndex, k, "");
  }
}

Record EngineImpl::ToRecord(const v1::RecordState& state) const {
  Record r;
  r.collection = state.collection();
  r.id = state.record_id();
  r.created_by = DotDevice(state.created());
  r.created_micros = log::HlcMillis(state.created_hlc()) * 1000;
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
      if (!log::IsDeleted(state)) ++s.records[state.collection()];
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

Status EngineImpl::VerifyLog(const SpaceId& space, const DeviceId& device, VerifyReport* report) {
  auto sign_pk_or = SignKeyOf(space, device);
  if (!sign_pk_or.ok()) {
    return Status::Corruption("the log of unknown device " + device.ToString() + " is stored here");
  }
  const std::string sign_pk = *sign_pk_or;
  std::map<uint64_t, v1::BatchSignature> signatures;
  auto cursor = store_->NewCursor(store::Cf::kOplog);
  std::string sig_prefix = log::SignaturePrefix(space, device);
  for (cursor->Seek(sig_prefix); cursor->ValidWithPrefix(sig_prefix); cursor->Next()) {
    v1::BatchSignature sig;
    if (!sig.ParseFromArray(cursor->value().data(), static_cast<int>(cursor->value().size()))) {
      return Status::Corruption("a batch signature of device " + device.ToString() + " is damaged");
    }
    signatures[sig.seq()] = sig;
  }
  std::string prefix = log::OpPrefix(space, device);
  std::string prev(crypto::kHashBytes, '\0');
  uint64_t expected = 1;
  uint64_t last_signed = 0;
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next(), ++expected) {
    std::string_view key = cursor->key();
    uint64_t seq = crypto::GetU64(key.data() + prefix.size());
    if (seq != expected) {
      return Status::Corruption("the log of device " + device.ToString() + " has a gap before op " +
                                std::to_string(seq));
    }
    v1::OpEnvelope op;
    if (!op.ParseFromArray(cursor->value().data(), static_cast<int>(cursor->value().size()))) {
      return Status::Corruption(log::DescribeOp(space, device, seq) + " is damaged");
    }
    if (!crypto::ConstantTimeEquals(op.prev_hash(), prev)) {
      return Status::Corruption(log::DescribeOp(space, device, seq) +
                                " does not follow the op before it: the log was altered");
    }
    prev = log::OpHash(space, device, seq, op);
    ++report->ops;
    if (op.purged()) {
      if (!op.ciphertext().empty()) return Status::Corruption(log::DescribeOp(space, device, seq) + " is marked purged but still holds ciphertext");
      ++report->purged;
    } else {
      KINDRED_ASSIGN_OR_RETURN(const crypto::SymmetricKey* key, EpochKey(space, op.epoch()));
      crypto::SecretString plain;
      KINDRED_RETURN_IF_ERROR(log::OpenOp(*key, space, device, seq, op, &plain.str()));
      v1::OpPayload payload;
      if (!payload.ParseFromString(plain.str())) {
        return Status::Corruption(log::DescribeOp(space, device, seq) + " holds a damaged payload");
      }
      ++report->decrypted;
    }
    auto sig = signatures.find(seq);
    if (sig != signatures.end()) {
      if (!crypto::ConstantTimeEquals(sig->second.head_hash(), prev) ||
          !crypto::Verify(sign_pk, log::HeadMessage(space, device, seq, prev), sig->second.signature())) {
        return Status::Corruption("the signature over " + log::DescribeOp(space, device, seq) +
                                  " does not verify: the log was altered");
      }
      ++report->signatures;
      last_signed = seq;
    }
  }
  KINDRED_RETURN_IF_ERROR(cursor->status());
  if (expected - 1 != last_signed) {
    return Status::Corruption("the last ops of device " + device.ToString() +
                              " are not covered by a signature");
  }
  return Status::Ok();
}

Status EngineImpl::Verify(VerifyReport* report) {
  *report = VerifyReport{};
  std::vector<std::pair<SpaceId, DeviceId>> logs;
  auto versions = store_->NewCursor(store::Cf::kVersions);
  for (versions->SeekToFirst(); versions->Valid(); versions->Next()) {
    std::string_view key = versions->key();
    KINDRED_ASSIGN_OR_RETURN(SpaceId s, SpaceId::FromBytes(key.substr(0, SpaceId::kBytes)));
    KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(key.substr(SpaceId::kBytes)));
    logs.emplace_back(s, d);
  }
  KINDRED_RETURN_IF_ERROR(versions->status());
  for (const auto& [space, device] : logs) KINDRED_RETURN_IF_ERROR(VerifyLog(space, device, report));
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
  KINDRED_ASSIGN_OR_RETURN(VersionVector ours, Versions(space));
  if (max_ops == 0) max_ops = 1;
  for (const auto& [device, head] : ours) {
    auto it = theirs.find(device);
    uint64_t from = (it == theirs.end() ? 0 : it->second) + 1;
    if (from > head) continue;
    // Signed heads of this log at or after `from`; a batch must end at one.
    std::vector<std::pair<uint64_t, std::string>> signed_heads;
    auto sigs = store_->NewCursor(store::Cf::kOplog);
    std::string sig_prefix = log::SignaturePrefix(space, device);
    for (sigs->Seek(log::SignatureKey(space, device, from)); sigs->ValidWithPrefix(sig_prefix);
         sigs->Next()) {
      signed_heads.emplace_back(crypto::GetU64(sigs->key().data() + sig_prefix.size()),
                                std::string(sigs->value()));
    }
    KINDRED_RETURN_IF_ERROR(sigs->status());
    auto ops = store_->NewCursor(store::Cf::kOplog);
    std::string op_prefix = log::OpPrefix(space, device);
    ops->Seek(log::OpKey(space, device, from));
    uint64_t next = from;
    size_t sig_index = 0;
    while (next <= head && sig_index < signed_heads.size()) {
      // Take whole signed runs until the batch holds about max_ops.
      size_t end = sig_index;
      while (end + 1 < signed_heads.size() && signed_heads[end + 1].first - next + 1 <= max_ops) {
        ++end;
      }
      OpBatch batch;
      batch.space = space;
      batch.device = device;
      batch.first_seq = next;
      batch.signature = signed_heads[end].second;
      for (; next <= signed_heads[end].first; ++next, ops->Next()) {
        if (!ops->ValidWithPrefix(op_prefix) ||
            crypto::GetU64(ops->key().data() + op_prefix.size()) != next) {
          KINDRED_RETURN_IF_ERROR(ops->status());
          return Status::Corruption(log::DescribeOp(space, device, next) + " is missing here");
        }
        batch.ops.emplace_back(ops->value());
      }
      sig_index = end + 1;
      if (!fn(std::move(batch))) return Status::Ok();
    }
  }
  return Status::Ok();
}

Result<std::string> EngineImpl::StoredOpHash(const SpaceId& space, const DeviceId& device,
                                             uint64_t seq) {
  if (seq == 0) return std::string(crypto::kHashBytes, '\0');
  std::string bytes;
  KINDRED_RETURN_IF_ERROR(store_->Get(store::Cf::kOplog, log::OpKey(space, device, seq), &bytes));
  v1::OpEnvelope op;
  if (!op.ParseFromString(bytes)) return Status::Corruption(log::DescribeOp(space, device, seq) + " is damaged");
  return log::OpHash(space, device, seq, op);
}

Result<EngineImpl::Head> EngineImpl::PeerHead(GroupState& g, const SpaceId& space,
                                              const DeviceId& device) {
  auto it = g.peer_heads.find({space, device});
  if (it != g.peer_heads.end()) return it->second;
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
  const std::string who = "the batch from device " + b.device.ToString();
  KINDRED_ASSIGN_OR_RETURN(std::string sign_pk, SignKeyOf(b.space, b.device));
  if (b.first_seq == 0) return Status::Corruption(who + " starts at seq 0");
  v1::BatchSignature sig;
  if (!sig.ParseFromString(b.signature) || sig.format() != kFormat) {
    return Status::Corruption(who + " has a damaged signature");
  }
  const uint64_t last = b.first_seq + b.ops.size() - 1;
  if (sig.seq() != last) return Status::Corruption(who + " is signed for another range of ops");

  Head head;
  if (b.device == device_.id) {
    auto own = g.heads.find(b.space);
    head = own != g.heads.end() ? own->second : heads_[b.space];
  } else {
    KINDRED_ASSIGN_OR_RETURN(head, PeerHead(g, b.space, b.device));
  }
  if (b.first_seq > head.seq + 1) {
    return Status::FailedPrecondition(who + " starts at op " + std::to_string(b.first_seq) +
                                      " but only " + std::to_string(head.seq) +
                                      " are held here: ops are missing in between");
  }
  std::string prev;
  if (b.first_seq - 1 == head.seq) {
    prev = head.hash;
  } else {
    KINDRED_ASSIGN_OR_RETURN(prev, StoredOpHash(b.space, b.device, b.first_seq - 1));
  }

  // Check everything before keeping anything.
  struct Fresh {
    uint64_t seq;
    v1::OpEnvelope op;
    v1::OpPayload* payload;  // on the group's arena: purges point into it
    bool readable;
  };
  std::vector<Fresh> fresh;
  for (size_t i = 0; i < b.ops.size(); ++i) {
    const uint64_t seq = b.first_seq + i;
    const std::string what = log::DescribeOp(b.space, b.device, seq);
    v1::OpEnvelope op;
    if (!op.ParseFromString(b.ops[i])) return Status::Corruption(what + " is malformed");
    if (!crypto::ConstantTimeEquals(op.prev_hash(), prev)) {
      return Status::Corruption(what + " does not follow the op before it: the chain is broken");
    }
    std::string hash = log::OpHash(b.space, b.device, seq, op);
    if (seq <= head.seq) {
      KINDRED_ASSIGN_OR_RETURN(std::string held, StoredOpHash(b.space, b.device, seq));
      if (!crypto::ConstantTimeEquals(held, hash)) {
        return Status::Corruption("fork: device " + b.device.ToString() +
                                  " sent a different op " + std::to_string(seq) +
                                  " than the one held here; refusing its log");
      }
    } else {
      Fresh f{seq, std::move(op), google::protobuf::Arena::CreateMessage<v1::OpPayload>(&g.arena),
              false};
      if (!f.op.purged()) {
        KINDRED_ASSIGN_OR_RETURN(const crypto::SymmetricKey* key, EpochKey(b.space, f.op.epoch()));
        crypto::SecretString plain;
        KINDRED_RETURN_IF_ERROR(log::OpenOp(*key, b.space, b.device, seq, f.op, &plain.str()));
        if (!f.payload->ParseFromString(plain.str()) || f.payload->format() != kFormat ||
            f.payload->body_case() == v1::OpPayload::BODY_NOT_SET) {
          return Status::Corruption(what + " holds a malformed payload");
        }
        f.readable = true;
      } else if (!f.op.ciphertext().empty()) {
        return Status::Corruption(what + " is marked purged but carries ciphertext");
      }
      fresh.push_back(std::move(f));
    }
    prev = std::move(hash);
  }
  if (!crypto::ConstantTimeEquals(sig.head_hash(), prev) ||
      !crypto::Verify(sign_pk, log::HeadMessage(b.space, b.device, last, prev), sig.signature())) {
    return Status::Corruption(who + " has a signature that does not verify");
  }
  if (fresh.empty()) return Status::Ok();
  if (b.device == device_.id) {
    return Status::Corruption(who + " holds ops of this device's own log that it never wrote");
  }

  // All checked: store and merge.
  uint64_t max_hlc = head.hlc;
  for (size_t i = 0; i < fresh.size(); ++i) {
    Fresh& f = fresh[i];
    std::string op_key = log::OpKey(b.space, b.device, f.seq);
    const std::string& bytes = b.ops[f.seq - b.first_seq];
    g.batch.Put(store::Cf::kOplog, op_key, bytes);
    g.ingested_ops.emplace_back(std::move(op_key), &bytes);
    hlc_.Observe(f.op.hlc());
    max_hlc = std::max(max_hlc, f.op.hlc());
    if (!f.readable) continue;
    const std::string& rid = f.payload->has_write() ? f.payload->write().record_id()
                                                    : f.payload->remove().record_id();
    std::string id = rid.empty() ? DeriveRecordId(b.space, b.device, f.seq) : rid;
    KINDRED_RETURN_IF_ERROR(MergePayload(g, b.space, b.device, f.seq, f.op.hlc(), *f.payload, id));
  }
  g.batch.Put(store::Cf::kOplog, log::SignatureKey(b.space, b.device, last), b.signature);
  g.peer_heads[{b.space, b.device}] = Head{last, prev, max_hlc};
  *added = fresh.size();
  return Status::Ok();
}

Result<std::string> EngineImpl::GrantSpace(const SpaceId& space, const DeviceCard& recipient) {
  if (recipient.sign_pk.size() != crypto::kSignPublicKeyBytes ||
      recipient.dh_pk.size() != crypto::kDhPublicKeyBytes ||
      DeviceId::FromPublicKeys(recipient.sign_pk, recipient.dh_pk) != recipient.id) {
    return Status::InvalidArgument("the device card's keys do not match its device id");
  }
  KINDRED_RETURN_IF_ERROR(CheckName("the member name", recipient.member_name));
  v1::RosterEntry entry;
  entry.set_format(kFormat);
  entry.set_device_id(std::string(recipient.id.bytes()));
  entry.set_sign_pk(recipient.sign_pk);
  entry.set_dh_pk(recipient.dh_pk);
  entry.set_member_id(recipient.member_id);
  entry.set_member_name(recipient.member_name);
  entry.set_device_name(recipient.device_name);
  entry.set_added_by(std::string(device_.id.bytes()));

  v1::SpaceGrant grant;
  grant.set_format(kFormat);
  grant.set_recipient(std::string(recipient.id.bytes()));
  grant.set_granter(std::string(device_.id.bytes()));
  grant.set_created_micros(env_.clock().NowMicros());
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    auto info = spaces_.find(space);
    if (info == spaces_.end()) return Status::NotFound("this device does not belong to that space");
    *grant.mutable_space() = info->second;
    for (const auto& [key, k] : epoch_keys_) {
      if (key.first != space) continue;
      auto* ek = grant.add_keys();
      ek->set_epoch(key.second);
      ek->set_key(std::string(k.view()));
    }
    for (const auto& [key, e] : roster_) {
      if (key.first == space) *grant.add_roster() = e;
    }
    *grant.add_roster() = entry;
  }
  crypto::SecretString grant_bytes(grant.SerializeAsString());
  for (auto& ek : *grant.mutable_keys()) sodium_memzero(ek.mutable_key()->data(), ek.key().size());
  v1::SignedGrant signed_grant;
  signed_grant.set_grant(grant_bytes.str());
  signed_grant.set_signature(crypto::Sign(secrets_.sign, "kindred/grant/1" + grant_bytes.str()));
  crypto::SecretString plain(signed_grant.SerializeAsString());
  sodium_memzero(signed_grant.mutable_grant()->data(), signed_grant.grant().size());
  std::string sealed(plain.str().size() + crypto_box_SEALBYTES, '\0');
  crypto_box_seal(reinterpret_cast<uint8_t*>(sealed.data()),
                  reinterpret_cast<const uint8_t*>(plain.str().data()), plain.str().size(),
                  reinterpret_cast<const uint8_t*>(recipient.dh_pk.data()));

  store::Batch batch = store_->NewBatch();
  batch.Put(store::Cf::kMeta, RosterKey(space, recipient.id), entry.SerializeAsString());
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  std::lock_guard<std::mutex> lock(meta_mu_);
  roster_[{space, recipient.id}] = entry;
  return sealed;
}

Result<SpaceId> EngineImpl::AcceptSpace(std::string_view sealed, const DeviceCard& granter,
                                        bool as_personal) {
  if (sealed.size() < crypto_box_SEALBYTES || sealed.size() > (1u << 20)) {
    return Status::Corruption("the space grant has an impossible size");
  }
  crypto::SecretString plain;
  plain.str().resize(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(reinterpret_cast<uint8_t*>(plain.str().data()),
                           reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size(),
                           reinterpret_cast<const uint8_t*>(device_.dh_pk.data()),
                           secrets_.dh.secret_key.data()) != 0) {
    return Status::Unauthenticated("the space grant is not for this device or was altered");
  }
  v1::SignedGrant signed_grant;
  v1::SpaceGrant grant;
  if (!signed_grant.ParseFromString(plain.str())) return Status::Corruption("the space grant is malformed");
  if (!crypto::Verify(granter.sign_pk, "kindred/grant/1" + signed_grant.grant(),
                      signed_grant.signature())) {
    return Status::Unauthenticated("the space grant is not signed by the expected device");
  }
  bool parsed = grant.ParseFromString(signed_grant.grant());
  sodium_memzero(signed_grant.mutable_grant()->data(), signed_grant.grant().size());
  if (!parsed || grant.format() != kFormat) return Status::Corruption("the space grant is malformed");
  if (grant.recipient() != device_.id.bytes() || grant.granter() != granter.id.bytes()) {
    return Status::Unauthenticated("the space grant names other devices");
  }
  KINDRED_ASSIGN_OR_RETURN(SpaceId space, SpaceId::FromBytes(grant.space().space_id()));
  bool granter_listed = false;
  for (const auto& e : grant.roster()) {
    if (e.device_id() == granter.id.bytes() && e.sign_pk() == granter.sign_pk) granter_listed = true;
  }
  if (!granter_listed) return Status::Unauthenticated("the granter is not in the space's roster");

  store::Batch batch = store_->NewBatch();
  batch.Put(store::Cf::kMeta, std::string(kMetaSpacePrefix) + std::string(space.bytes()),
            grant.space().SerializeAsString());
  std::vector<std::pair<uint32_t, crypto::SymmetricKey>> keys;
  for (auto& ek : *grant.mutable_keys()) {
    auto k = crypto::SymmetricKey::FromBytes(ek.key());
    sodium_memzero(ek.mutable_key()->data(), ek.key().size());
    if (!k.ok()) return Status::Corruption("the space grant holds a key of the wrong size");
    std::string key = SpaceKeyKey(space, ek.epoch());
    batch.Put(store::Cf::kMeta, key,
              crypto::AeadSealRandomNonce(env_.random(), wrap_key_, std::string(kSpaceKeyAd) + key,
                                          k->view()));
    keys.emplace_back(ek.epoch(), *k);
  }
  std::vector<std::pair<DeviceId, v1::RosterEntry>> entries;
  for (const auto& e : grant.roster()) {
    KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(e.device_id()));
    if (DeviceId::FromPublicKeys(e.sign_pk(), e.dh_pk()) != d) {
      return Status::Corruption("the space grant's roster holds a device whose keys do not match its id");
    }
    batch.Put(store::Cf::kMeta, RosterKey(space, d), e.SerializeAsString());
    entries.emplace_back(d, e);
  }
  if (as_personal) {
    std::string bytes;
    KINDRED_RETURN_IF_ERROR(store_->Get(store::Cf::kMeta, kMetaDevice, &bytes));
    v1::DeviceRecord rec;
    if (!rec.ParseFromString(bytes)) return Status::Corruption("the device record is damaged");
    rec.set_personal_space(std::string(space.bytes()));
    batch.Put(store::Cf::kMeta, kMetaDevice, rec.SerializeAsString());
  }
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  std::lock_guard<std::mutex> lock(meta_mu_);
  spaces_[space] = grant.space();
  for (auto& [epoch, k] : keys) epoch_keys_[{space, epoch}] = k;
  for (auto& [d, e] : entries) roster_[{space, d}] = e;
  if (as_personal) device_.personal_space = space;
  return space;
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
