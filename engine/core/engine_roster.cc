// Who belongs to a space, and with which keys: grants, the roster and epoch
// keys kept as records, pairing's admissions, revocation and the end of a
// partnership. docs/security.md explains the design; in short:
//
// * "_roster" (every space): "d<device hex>" lists a device (its keys,
//   member and name), "r<device hex>" revokes one. A record counts only
//   when its author (the op's device, authenticated by the log) belongs to
//   the same member as the device it names: each member manages its own
//   devices. The two members meet only through the grant pairing makes,
//   which lists both, and which every device joining the space receives.
// * "_keys" (every space): "k<epoch hex><device hex>" holds an epoch key
//   sealed (crypto_box_seal) to that device's X25519 key.
// * "_grants" (personal spaces): "g<space hex><device hex>" holds a grant
//   of another space (the couple's) for another device of the member, who
//   accepts it when it syncs.
#include <algorithm>
#include <limits>

#include "engine/core/engine_impl.h"
#include "engine/core/meta_keys.h"
#include "engine/log/oplog.h"

namespace kindred::core {
namespace {

constexpr char kRosterCollection[] = "_roster";
constexpr char kKeysCollection[] = "_keys";
constexpr char kGrantsCollection[] = "_grants";

// The record in the personal space that hands `sealed`, a grant of `space`,
// to a device of this member that will read it when it next syncs. One per
// (space, device): a later grant replaces it.
Mutation GrantRecord(const SpaceId& space, const std::string& device_id, const std::string& sealed) {
  Mutation m = Mutation::Create(kGrantsCollection, {{"space", space.ToHex()},
                                                    {"recipient", ToHex(device_id)},
                                                    {"grant", ToHex(sealed)}});
  m.id = "g" + space.ToHex() + ToHex(device_id);
  return m;
}
constexpr char kGrantSignContext[] = "kindred/grant/1";
constexpr char kEpochKeyContext[] = "kindred/epochkey/1";
constexpr size_t kMaxGrantBytes = size_t{1} << 20;
constexpr size_t kMaxMemberIdBytes = 64;

std::string EpochHex(uint32_t epoch) {
  std::string be;
  crypto::PutU32(&be, epoch);
  return ToHex(be);
}

// What is sealed to a device in a "_keys" record.
std::string EpochKeyPlaintext(const SpaceId& space, uint32_t epoch, std::string_view key) {
  std::string plain(kEpochKeyContext);
  plain.append(space.bytes());
  crypto::PutU32(&plain, epoch);
  plain.append(key);
  return plain;
}

std::string SealTo(std::string_view dh_pk, std::string_view plain) {
  std::string sealed(plain.size() + crypto_box_SEALBYTES, '\0');
  crypto_box_seal(reinterpret_cast<uint8_t*>(sealed.data()),
                  reinterpret_cast<const uint8_t*>(plain.data()), plain.size(),
                  reinterpret_cast<const uint8_t*>(dh_pk.data()));
  return sealed;
}

// A hex field of a control record, decoded; "" when absent or not hex.
std::string HexField(const Record& r, const std::string& name) {
  auto bytes = FromHex(r.Text(name));
  return bytes.ok() ? *bytes : std::string();
}

Status CheckCard(const DeviceCard& card) {
  if (card.sign_pk.size() != crypto::kSignPublicKeyBytes ||
      card.dh_pk.size() != crypto::kDhPublicKeyBytes ||
      DeviceId::FromPublicKeys(card.sign_pk, card.dh_pk) != card.id) {
    return Status::InvalidArgument("the device card's keys do not match its device id");
  }
  KINDRED_RETURN_IF_ERROR(CheckName("the member name", card.member_name));
  if (card.device_name.size() > kMaxNameBytes) {
    return Status::InvalidArgument("the device name is longer than 255 bytes");
  }
  if (card.member_id.empty() || card.member_id.size() > kMaxMemberIdBytes) {
    return Status::InvalidArgument("the device card has no valid member id");
  }
  return Status::Ok();
}

DeviceCard CardOfEntry(const v1::RosterEntry& entry) {
  DeviceCard card;
  auto id = DeviceId::FromBytes(entry.device_id());
  if (id.ok()) card.id = *id;
  card.sign_pk = entry.sign_pk();
  card.dh_pk = entry.dh_pk();
  card.member_id = entry.member_id();
  card.member_name = entry.member_name();
  card.device_name = entry.device_name();
  return card;
}

class PendingAdmissionImpl final : public PendingAdmission {
 public:
  const std::vector<std::string>& grants() const override { return grants_; }
  const DeviceCard& recipient() const override { return recipient_; }

  PairingKind kind = PairingKind::kOwnDevice;
  DeviceCard recipient_;
  v1::RosterEntry entry;                   // the recipient's roster entry
  std::vector<std::string> grants_;
  std::vector<SpaceId> spaces;             // existing spaces it joins (own device)
  // Partner pairing: the shared space to create.
  v1::SpaceInfo new_space;
  crypto::SymmetricKey new_key;
  std::vector<v1::RosterEntry> new_roster;  // its first roster
  // Grants of the new space for this member's other devices ("_grants").
  std::vector<std::pair<v1::RosterEntry, std::string>> own_grants;
  bool completed = false;
};

}  // namespace

struct EngineImpl::OpenedGrant {
  SpaceId space;
  v1::SpaceInfo info;
  std::vector<std::pair<uint32_t, crypto::SymmetricKey>> keys;
  std::vector<std::pair<DeviceId, v1::RosterEntry>> roster;
  v1::RosterEntry self;     // this device's entry in it
  v1::RosterEntry granter;  // the granter's
};

// ---------------------------------------------------------------------------
// Grants

v1::RosterEntry EngineImpl::EntryFor(const DeviceCard& card, const DeviceId& adder) const {
  v1::RosterEntry entry;
  entry.set_format(kFormat);
  entry.set_device_id(std::string(card.id.bytes()));
  entry.set_sign_pk(card.sign_pk);
  entry.set_dh_pk(card.dh_pk);
  entry.set_member_id(card.member_id);
  entry.set_member_name(card.member_name);
  entry.set_device_name(card.device_name);
  entry.set_added_by(std::string(adder.bytes()));
  entry.set_added_micros(env_.clock().NowMicros());
  return entry;
}

Result<std::string> EngineImpl::SealGrant(const v1::SpaceInfo& space,
                                          const std::vector<v1::RosterEntry>& roster,
                                          const std::map<uint32_t, crypto::SymmetricKey>& keys,
                                          const v1::RosterEntry& recipient_entry) {
  v1::SpaceGrant grant;
  grant.set_format(kFormat);
  grant.set_recipient(recipient_entry.device_id());
  grant.set_granter(std::string(device_.id.bytes()));
  grant.set_created_micros(env_.clock().NowMicros());
  *grant.mutable_space() = space;
  for (const auto& [epoch, key] : keys) {
    auto* ek = grant.add_keys();
    ek->set_epoch(epoch);
    ek->set_key(std::string(key.view()));
  }
  for (const auto& entry : roster) *grant.add_roster() = entry;
  crypto::SecretString grant_bytes(grant.SerializeAsString());
  for (auto& ek : *grant.mutable_keys()) sodium_memzero(ek.mutable_key()->data(), ek.key().size());
  v1::SignedGrant signed_grant;
  signed_grant.set_grant(grant_bytes.str());
  signed_grant.set_signature(crypto::Sign(secrets_.sign, kGrantSignContext + grant_bytes.str()));
  crypto::SecretString plain(signed_grant.SerializeAsString());
  sodium_memzero(signed_grant.mutable_grant()->data(), signed_grant.grant().size());
  if (plain.str().size() > kMaxGrantBytes - crypto_box_SEALBYTES) {
    return Status::FailedPrecondition("the space's roster is too large to share");
  }
  return SealTo(recipient_entry.dh_pk(), plain.str());
}

Result<EngineImpl::OpenedGrant> EngineImpl::OpenGrant(std::string_view sealed,
                                                      const DeviceCard& granter) {
  if (sealed.size() < crypto_box_SEALBYTES || sealed.size() > kMaxGrantBytes) {
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
  if (!signed_grant.ParseFromString(plain.str())) {
    return Status::Corruption("the space grant is malformed");
  }
  if (granter.sign_pk.size() != crypto::kSignPublicKeyBytes ||
      !crypto::Verify(granter.sign_pk, kGrantSignContext + signed_grant.grant(),
                      signed_grant.signature())) {
    return Status::Unauthenticated("the space grant is not signed by the expected device");
  }
  v1::SpaceGrant grant;
  const bool parsed = grant.ParseFromString(signed_grant.grant());
  sodium_memzero(signed_grant.mutable_grant()->data(), signed_grant.grant().size());
  if (!parsed || grant.format() != kFormat) return Status::Corruption("the space grant is malformed");
  if (grant.recipient() != device_.id.bytes() || grant.granter() != granter.id.bytes()) {
    return Status::Unauthenticated("the space grant names other devices");
  }
  OpenedGrant out;
  KINDRED_ASSIGN_OR_RETURN(out.space, SpaceId::FromBytes(grant.space().space_id()));
  out.info = grant.space();
  if (out.info.kind() != v1::SPACE_KIND_PERSONAL && out.info.kind() != v1::SPACE_KIND_SHARED) {
    return Status::Corruption("the space grant names a space of an unknown kind");
  }
  bool has_current = false;
  for (auto& ek : *grant.mutable_keys()) {
    auto k = crypto::SymmetricKey::FromBytes(ek.key());
    sodium_memzero(ek.mutable_key()->data(), ek.key().size());
    if (!k.ok()) return Status::Corruption("the space grant holds a key of the wrong size");
    if (ek.epoch() == out.info.current_epoch()) has_current = true;
    out.keys.emplace_back(ek.epoch(), *k);
  }
  if (!has_current) return Status::Corruption("the space grant lacks the space's current key");
  bool granter_listed = false, self_listed = false;
  if (grant.roster_size() > 4096) return Status::Corruption("the space grant's roster is too large");
  for (const auto& e : grant.roster()) {
    KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(e.device_id()));
    if (e.sign_pk().size() != crypto::kSignPublicKeyBytes ||
        e.dh_pk().size() != crypto::kDhPublicKeyBytes ||
        DeviceId::FromPublicKeys(e.sign_pk(), e.dh_pk()) != d) {
      return Status::Corruption(
          "the space grant's roster holds a device whose keys do not match its id");
    }
    if (!CheckName("a member name", e.member_name()).ok() ||
        e.device_name().size() > kMaxNameBytes || e.member_id().size() > kMaxMemberIdBytes) {
      return Status::Corruption("the space grant's roster holds a malformed entry");
    }
    if (d == granter.id && e.sign_pk() == granter.sign_pk && !e.revoked()) {
      granter_listed = true;
      out.granter = e;
    }
    if (d == device_.id) {
      if (e.sign_pk() != device_.sign_pk || e.dh_pk() != device_.dh_pk || e.revoked()) {
        return Status::Corruption("the space grant lists this device with other keys");
      }
      self_listed = true;
      out.self = e;
    }
    out.roster.emplace_back(d, e);
  }
  if (!granter_listed) return Status::Unauthenticated("the granter is not in the space's roster");
  if (!self_listed) return Status::Corruption("the space grant does not list this device");
  return out;
}

void EngineImpl::PutGrant(const OpenedGrant& grant, store::Batch& batch) {
  batch.Put(store::Cf::kMeta, SpaceInfoKey(grant.space), grant.info.SerializeAsString());
  for (const auto& [epoch, k] : grant.keys) {
    const std::string key = SpaceKeyKey(grant.space, epoch);
    batch.Put(store::Cf::kMeta, key,
              crypto::AeadSealRandomNonce(env_.random(), wrap_key_, std::string(kSpaceKeyAd) + key,
                                          k.view()));
  }
  for (const auto& [d, e] : grant.roster) {
    batch.Put(store::Cf::kMeta, RosterKey(grant.space, d), e.SerializeAsString());
  }
}

void EngineImpl::RememberGrant(OpenedGrant& grant) {
  spaces_[grant.space] = grant.info;
  for (auto& [epoch, k] : grant.keys) epoch_keys_[{grant.space, epoch}] = k;
  for (auto& [d, e] : grant.roster) roster_[{grant.space, d}] = e;
}

Result<std::string> EngineImpl::GrantSpace(const SpaceId& space, const DeviceCard& recipient) {
  KINDRED_RETURN_IF_ERROR(CheckCard(recipient));
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  v1::RosterEntry entry = EntryFor(recipient, device_.id);
  v1::SpaceInfo info;
  std::vector<v1::RosterEntry> roster;
  std::map<uint32_t, crypto::SymmetricKey> keys;
  bool listed = false;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    auto found = spaces_.find(space);
    if (found == spaces_.end()) return Status::NotFound("this device does not belong to that space");
    info = found->second;
    for (const auto& [key, e] : roster_) {
      if (key.first != space) continue;
      if (key.second == recipient.id) {
        if (e.revoked()) {
          return Status::FailedPrecondition("device " + recipient.id.ToString() +
                                            " was revoked and cannot join again");
        }
        listed = true;
        entry = e;
        continue;
      }
      roster.push_back(e);
    }
    for (const auto& [key, k] : epoch_keys_) {
      if (key.first == space) keys.emplace(key.second, k);
    }
  }
  roster.push_back(entry);
  KINDRED_ASSIGN_OR_RETURN(std::string sealed, SealGrant(info, roster, keys, entry));
  if (!listed) {
    // In this device's roster at once; and, for a device of this member,
    // in the roster's records too, so that every device learns of it (a
    // record naming another member's device would count nowhere).
    store::Batch batch = store_->NewBatch();
    batch.Put(store::Cf::kMeta, RosterKey(space, recipient.id), entry.SerializeAsString());
    KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      roster_[{space, recipient.id}] = entry;
    }
    if (recipient.member_id == card().member_id) {
      KINDRED_RETURN_IF_ERROR(
          CommitInternal(space, {RosterAddMutation(entry)}, /*allow_reserved=*/true).status());
    }
  }
  return sealed;
}

Result<SpaceId> EngineImpl::AcceptSpace(std::string_view sealed, const DeviceCard& granter,
                                        bool as_personal) {
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  KINDRED_ASSIGN_OR_RETURN(OpenedGrant grant, OpenGrant(sealed, granter));
  store::Batch batch = store_->NewBatch();
  PutGrant(grant, batch);
  if (as_personal) {
    std::string bytes;
    KINDRED_RETURN_IF_ERROR(store_->Get(store::Cf::kMeta, kMetaDevice, &bytes));
    v1::DeviceRecord rec;
    if (!rec.ParseFromString(bytes)) return Status::Corruption("the device record is damaged");
    rec.set_personal_space(std::string(grant.space.bytes()));
    batch.Put(store::Cf::kMeta, kMetaDevice, rec.SerializeAsString());
  }
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    RememberGrant(grant);
    if (as_personal) device_.personal_space = grant.space;
  }
  {
    std::lock_guard<std::mutex> lock(dirty_mu_);
    control_dirty_.insert(grant.space);
  }
  KINDRED_RETURN_IF_ERROR(RefreshControl());
  return grant.space;
}

// ---------------------------------------------------------------------------
// Control records

Mutation EngineImpl::RosterAddMutation(const v1::RosterEntry& entry) const {
  Mutation m = Mutation::Create(kRosterCollection,
                                {{"sign_pk", ToHex(entry.sign_pk())},
                                 {"dh_pk", ToHex(entry.dh_pk())},
                                 {"member_id", ToHex(entry.member_id())},
                                 {"member_name", entry.member_name()},
                                 {"device_name", entry.device_name()},
                                 {"added_at", static_cast<int64_t>(entry.added_micros())}});
  m.id = "d" + ToHex(entry.device_id());
  return m;
}

Mutation EngineImpl::EpochKeyMutation(const SpaceId& space, uint32_t epoch,
                                      const crypto::SymmetricKey& key,
                                      const v1::RosterEntry& to) const {
  crypto::SecretString plain(EpochKeyPlaintext(space, epoch, key.view()));
  Mutation m = Mutation::Create(kKeysCollection,
                                {{"epoch", static_cast<int64_t>(epoch)},
                                 {"device", ToHex(to.device_id())},
                                 {"sealed", ToHex(SealTo(to.dh_pk(), plain.str()))}});
  m.id = "k" + EpochHex(epoch) + ToHex(to.device_id());
  return m;
}

Status EngineImpl::PutSpaceInfo(const SpaceId& space, const v1::SpaceInfo& info) {
  store::Batch batch = store_->NewBatch();
  batch.Put(store::Cf::kMeta, SpaceInfoKey(space), info.SerializeAsString());
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  std::lock_guard<std::mutex> lock(meta_mu_);
  spaces_[space] = info;
  return Status::Ok();
}

Status EngineImpl::RefreshControl() {
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  for (int round = 0; round < 64; ++round) {
    std::set<SpaceId> dirty;
    {
      std::lock_guard<std::mutex> lock(dirty_mu_);
      dirty.swap(control_dirty_);
    }
    if (dirty.empty()) return Status::Ok();
    bool learned = false;
    for (const SpaceId& space : dirty) KINDRED_RETURN_IF_ERROR(RefreshSpaceLocked(space, &learned));
    if (learned) KINDRED_RETURN_IF_ERROR(ReplayLaggingLogs());
  }
  return Status::Ok();
}

Status EngineImpl::RefreshSpaceLocked(const SpaceId& space, bool* learned_keys) {
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    if (!spaces_.count(space)) return Status::Ok();
  }
  KINDRED_RETURN_IF_ERROR(RebuildRoster(space));
  KINDRED_RETURN_IF_ERROR(LearnEpochKeys(space, learned_keys));
  if (space == device_.personal_space) KINDRED_RETURN_IF_ERROR(AcceptPendingGrants(space));
  return Status::Ok();
}

Status EngineImpl::RebuildRoster(const SpaceId& space) {
  std::vector<Record> adds, revokes;
  KINDRED_RETURN_IF_ERROR(Scan(space, kRosterCollection, [&](const Record& r) {
    if (r.id.size() == 1 + 2 * DeviceId::kBytes && r.id[0] == 'd') adds.push_back(r);
    if (r.id.size() == 1 + 2 * DeviceId::kBytes && r.id[0] == 'r') revokes.push_back(r);
    return true;
  }));
  std::vector<std::pair<DeviceId, v1::RosterEntry>> changed;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    // Each member manages its own devices: a record counts when its author
    // belongs to the member of the device it names.
    auto member_of = [&](const DeviceId& d) -> const std::string* {
      auto it = roster_.find({space, d});
      return it == roster_.end() ? nullptr : &it->second.member_id();
    };
    for (const Record& r : adds) {
      auto raw = FromHex(std::string_view(r.id).substr(1));
      if (!raw.ok()) continue;
      auto id = DeviceId::FromBytes(*raw);
      if (!id.ok() || roster_.count({space, *id})) continue;
      v1::RosterEntry e;
      e.set_format(kFormat);
      e.set_device_id(std::string(id->bytes()));
      e.set_sign_pk(HexField(r, "sign_pk"));
      e.set_dh_pk(HexField(r, "dh_pk"));
      e.set_member_id(HexField(r, "member_id"));
      e.set_member_name(r.Text("member_name"));
      e.set_device_name(r.Text("device_name"));
      e.set_added_by(std::string(r.created_by.bytes()));
      e.set_added_micros(r.Int("added_at").value_or(r.created_micros));
      if (e.sign_pk().size() != crypto::kSignPublicKeyBytes ||
          e.dh_pk().size() != crypto::kDhPublicKeyBytes ||
          DeviceId::FromPublicKeys(e.sign_pk(), e.dh_pk()) != *id ||
          !CheckName("a member name", e.member_name()).ok() ||
          e.device_name().size() > kMaxNameBytes || e.member_id().empty() ||
          e.member_id().size() > kMaxMemberIdBytes) {
        continue;  // malformed: ignored everywhere alike
      }
      const std::string* author_member = member_of(r.created_by);
      if (!author_member || *author_member != e.member_id()) continue;
      roster_[{space, *id}] = e;
      changed.emplace_back(*id, e);
    }
    for (const Record& r : revokes) {
      auto raw = FromHex(std::string_view(r.id).substr(1));
      if (!raw.ok()) continue;
      auto id = DeviceId::FromBytes(*raw);
      if (!id.ok()) continue;
      auto target = roster_.find({space, *id});
      const std::string* author_member = member_of(r.created_by);
      if (target == roster_.end() || !author_member ||
          *author_member != target->second.member_id() || r.created_by == *id) {
        continue;
      }
      v1::RosterEntry& e = target->second;
      const uint64_t after = static_cast<uint64_t>(std::max<int64_t>(r.Int("after_seq").value_or(0), 0));
      if (e.revoked() && e.revoked_after_seq() >= after) continue;
      if (!e.revoked()) {
        e.set_revoked(true);
        e.set_revoked_by(std::string(r.created_by.bytes()));
        e.set_revoked_micros(r.Int("at").value_or(r.created_micros));
      }
      // Two revocations of one device: what either had accepted counts.
      e.set_revoked_after_seq(std::max(e.revoked_after_seq(), after));
      changed.emplace_back(*id, e);
    }
  }
  if (changed.empty()) return Status::Ok();
  store::Batch batch = store_->NewBatch();
  for (const auto& [d, e] : changed) {
    batch.Put(store::Cf::kMeta, RosterKey(space, d), e.SerializeAsString());
  }
  return store_->Write(batch, true);
}

Status EngineImpl::LearnEpochKeys(const SpaceId& space, bool* learned) {
  const std::string me = ToHex(device_.id.bytes());
  std::vector<std::pair<uint32_t, std::vector<std::string>>> offers;
  KINDRED_RETURN_IF_ERROR(Scan(space, kKeysCollection, [&](const Record& r) {
    if (r.Text("device") != me) return true;
    auto epoch = r.Int("epoch");
    if (!epoch || *epoch <= 0 || *epoch > std::numeric_limits<uint32_t>::max()) return true;
    std::vector<std::string> sealed{HexField(r, "sealed")};
    // Written twice at once (key repair on two devices): try every version.
    auto conflict = r.conflicts.find("sealed");
    if (conflict != r.conflicts.end()) {
      for (const auto& v : conflict->second) {
        if (auto* text = std::get_if<std::string>(&v.value)) {
          auto bytes = FromHex(*text);
          if (bytes.ok()) sealed.push_back(*bytes);
        }
      }
    }
    offers.emplace_back(static_cast<uint32_t>(*epoch), std::move(sealed));
    return true;
  }));
  std::vector<std::pair<uint32_t, crypto::SymmetricKey>> fresh;
  uint32_t highest = 0;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    for (auto& [epoch, candidates] : offers) {
      if (epoch_keys_.count({space, epoch})) {
        highest = std::max(highest, epoch);
        continue;
      }
      for (const std::string& sealed : candidates) {
        if (sealed.size() <= crypto_box_SEALBYTES) continue;
        crypto::SecretString plain;
        plain.str().resize(sealed.size() - crypto_box_SEALBYTES);
        if (crypto_box_seal_open(reinterpret_cast<uint8_t*>(plain.str().data()),
                                 reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size(),
                                 reinterpret_cast<const uint8_t*>(device_.dh_pk.data()),
                                 secrets_.dh.secret_key.data()) != 0) {
          continue;
        }
        const std::string prefix = EpochKeyPlaintext(space, epoch, "");
        if (plain.str().size() != prefix.size() + crypto::kKeyBytes ||
            !crypto::ConstantTimeEquals(std::string_view(plain.str()).substr(0, prefix.size()),
                                        prefix)) {
          continue;
        }
        auto key = crypto::SymmetricKey::FromBytes(std::string_view(plain.str()).substr(prefix.size()));
        if (!key.ok()) continue;
        fresh.emplace_back(epoch, *key);
        highest = std::max(highest, epoch);
        break;
      }
    }
  }
  v1::SpaceInfo info;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    info = spaces_.at(space);
  }
  const bool newer = highest > info.current_epoch();
  if (fresh.empty() && !newer) return Status::Ok();
  store::Batch batch = store_->NewBatch();
  for (const auto& [epoch, k] : fresh) {
    const std::string key = SpaceKeyKey(space, epoch);
    batch.Put(store::Cf::kMeta, key,
              crypto::AeadSealRandomNonce(env_.random(), wrap_key_, std::string(kSpaceKeyAd) + key,
                                          k.view()));
  }
  if (newer) {
    info.set_current_epoch(highest);
    batch.Put(store::Cf::kMeta, SpaceInfoKey(space), info.SerializeAsString());
  }
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  std::lock_guard<std::mutex> lock(meta_mu_);
  for (auto& [epoch, k] : fresh) epoch_keys_[{space, epoch}] = k;
  if (newer) spaces_[space] = info;
  if (!fresh.empty()) *learned = true;
  return Status::Ok();
}

Status EngineImpl::AcceptPendingGrants(const SpaceId& personal) {
  const std::string me = ToHex(device_.id.bytes());
  std::vector<Record> grants;
  KINDRED_RETURN_IF_ERROR(Scan(personal, kGrantsCollection, [&](const Record& r) {
    if (r.Text("recipient") == me) grants.push_back(r);
    return true;
  }));
  for (const Record& r : grants) {
    auto space = SpaceId::FromBytes(HexField(r, "space"));
    if (!space.ok()) continue;
    DeviceCard granter;
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      if (spaces_.count(*space)) continue;  // joined already
      auto it = roster_.find({personal, r.created_by});
      if (it == roster_.end() || it->second.revoked()) continue;
      granter = CardOfEntry(it->second);
    }
    auto opened = OpenGrant(HexField(r, "grant"), granter);
    if (!opened.ok() || opened->space != *space) continue;  // not ours to fix: ignored alike
    store::Batch batch = store_->NewBatch();
    PutGrant(*opened, batch);
    KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      RememberGrant(*opened);
    }
    std::lock_guard<std::mutex> lock(dirty_mu_);
    control_dirty_.insert(*space);
  }
  return Status::Ok();
}

Status EngineImpl::ReplayLaggingLogs() {
  return RunExclusive([this] { return ReplayUnappliedOps(); });
}

std::vector<v1::RosterEntry> EngineImpl::ActiveRosterLocked(const SpaceId& space) const {
  std::vector<v1::RosterEntry> out;
  for (auto it = roster_.lower_bound({space, DeviceId()});
       it != roster_.end() && it->first.first == space; ++it) {
    if (!it->second.revoked()) out.push_back(it->second);
  }
  return out;
}

bool EngineImpl::IsActiveLocked(const DeviceId& device) const {
  for (const auto& [key, entry] : roster_) {
    if (key.second == device && !entry.revoked()) return true;
  }
  return false;
}

std::map<uint32_t, std::string> EngineImpl::EpochKeysForTest(const SpaceId& space) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  std::map<uint32_t, std::string> out;
  for (const auto& [key, k] : epoch_keys_) {
    if (key.first == space) out[key.second] = std::string(k.view());
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pairing

Result<std::unique_ptr<PendingAdmission>> EngineImpl::PrepareAdmission(const DeviceCard& recipient,
                                                                       PairingKind kind) {
  KINDRED_RETURN_IF_ERROR(CheckCard(recipient));
  if (recipient.id == device_.id) {
    return Status::FailedPrecondition("the other device is this very device");
  }
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  const DeviceCard me = card();
  auto pending = std::make_unique<PendingAdmissionImpl>();
  pending->kind = kind;
  pending->recipient_ = recipient;
  std::lock_guard<std::mutex> lock(meta_mu_);
  for (const auto& [key, e] : roster_) {
    if (key.second != recipient.id) continue;
    if (e.revoked()) {
      return Status::FailedPrecondition("device " + recipient.id.ToString() +
                                        " was revoked and cannot be paired again; start it "
                                        "afresh with `kindred init` in a new home");
    }
    return Status::FailedPrecondition("device " + recipient.id.ToString() +
                                      " is already linked or paired with this one");
  }
  std::optional<SpaceId> shared;
  for (const auto& [id, info] : spaces_) {
    if (info.kind() == v1::SPACE_KIND_SHARED && info.ended_micros() == 0) shared = id;
  }
  if (kind == PairingKind::kOwnDevice) {
    pending->recipient_.member_id = me.member_id;
    pending->recipient_.member_name = me.member_name;
    pending->entry = EntryFor(pending->recipient_, device_.id);
    pending->spaces.push_back(device_.personal_space);
    if (shared) pending->spaces.push_back(*shared);
    for (const SpaceId& space : pending->spaces) {
      std::vector<v1::RosterEntry> roster;
      std::map<uint32_t, crypto::SymmetricKey> keys;
      for (auto it = roster_.lower_bound({space, DeviceId()});
           it != roster_.end() && it->first.first == space; ++it) {
        roster.push_back(it->second);
      }
      roster.push_back(pending->entry);
      for (const auto& [key, k] : epoch_keys_) {
        if (key.first == space) keys.emplace(key.second, k);
      }
      KINDRED_ASSIGN_OR_RETURN(std::string sealed,
                               SealGrant(spaces_.at(space), roster, keys, pending->entry));
      pending->grants_.push_back(std::move(sealed));
    }
    return std::unique_ptr<PendingAdmission>(std::move(pending));
  }

  // A partner: a new shared space for the two members.
  if (shared) {
    std::string partner;
    for (const auto& e : ActiveRosterLocked(*shared)) {
      if (e.member_id() != me.member_id) partner = e.member_name();
    }
    return Status::FailedPrecondition(
        "this device is already paired" + (partner.empty() ? "" : " with " + partner) +
        "; run `kindred unpair` first to pair with someone else");
  }
  if (recipient.member_id == me.member_id) {
    return Status::FailedPrecondition(
        "the other device belongs to you: link it with `kindred invite device` instead");
  }
  std::array<uint8_t, SpaceId::kBytes> id_bytes{};
  env_.random().Fill(id_bytes.data(), id_bytes.size());
  const SpaceId space(id_bytes);
  v1::SpaceInfo& info = pending->new_space;
  info.set_format(kFormat);
  info.set_space_id(std::string(space.bytes()));
  info.set_kind(v1::SPACE_KIND_SHARED);
  info.set_current_epoch(1);
  info.set_created_micros(env_.clock().NowMicros());
  pending->new_key = crypto::SymmetricKey::Generate(env_.random());
  // Its first roster: this member's devices, and the partner's device.
  auto my_entry = roster_.find({device_.personal_space, device_.id});
  v1::RosterEntry genesis = my_entry != roster_.end() ? my_entry->second : EntryFor(me, device_.id);
  genesis.set_added_by(std::string(device_.id.bytes()));
  genesis.set_added_micros(info.created_micros());
  pending->new_roster.push_back(genesis);
  std::vector<v1::RosterEntry> own_others;
  for (const auto& e : ActiveRosterLocked(device_.personal_space)) {
    if (e.device_id() == device_.id.bytes()) continue;
    v1::RosterEntry copy = e;
    copy.set_added_by(std::string(device_.id.bytes()));
    copy.set_added_micros(info.created_micros());
    own_others.push_back(copy);
    pending->new_roster.push_back(copy);
  }
  pending->entry = EntryFor(recipient, device_.id);
  pending->new_roster.push_back(pending->entry);
  std::map<uint32_t, crypto::SymmetricKey> keys{{1, pending->new_key}};
  KINDRED_ASSIGN_OR_RETURN(std::string sealed,
                           SealGrant(info, pending->new_roster, keys, pending->entry));
  pending->grants_.push_back(std::move(sealed));
  for (const auto& other : own_others) {
    KINDRED_ASSIGN_OR_RETURN(std::string own, SealGrant(info, pending->new_roster, keys, other));
    pending->own_grants.emplace_back(other, std::move(own));
  }
  pending->spaces.push_back(space);
  return std::unique_ptr<PendingAdmission>(std::move(pending));
}

Status EngineImpl::CompleteAdmission(PendingAdmission& pending_base) {
  auto* pending = dynamic_cast<PendingAdmissionImpl*>(&pending_base);
  if (!pending || pending->completed) {
    return Status::InvalidArgument("the admission was not prepared by this engine, or is done");
  }
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  if (pending->kind == PairingKind::kOwnDevice) {
    for (const SpaceId& space : pending->spaces) {
      {
        std::lock_guard<std::mutex> lock(meta_mu_);
        if (!spaces_.count(space) || roster_.count({space, pending->recipient_.id})) continue;
      }
      KINDRED_RETURN_IF_ERROR(
          CommitInternal(space, {RosterAddMutation(pending->entry)}, /*allow_reserved=*/true)
              .status());
    }
    pending->completed = true;
    return Status::Ok();
  }
  const SpaceId space = pending->spaces.front();
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    for (const auto& [id, info] : spaces_) {
      if (info.kind() == v1::SPACE_KIND_SHARED && info.ended_micros() == 0) {
        return Status::FailedPrecondition("this device was paired meanwhile");
      }
    }
  }
  store::Batch batch = store_->NewBatch();
  batch.Put(store::Cf::kMeta, SpaceInfoKey(space), pending->new_space.SerializeAsString());
  const std::string key = SpaceKeyKey(space, 1);
  batch.Put(store::Cf::kMeta, key,
            crypto::AeadSealRandomNonce(env_.random(), wrap_key_, std::string(kSpaceKeyAd) + key,
                                        pending->new_key.view()));
  for (const auto& e : pending->new_roster) {
    KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(e.device_id()));
    batch.Put(store::Cf::kMeta, RosterKey(space, d), e.SerializeAsString());
  }
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    spaces_[space] = pending->new_space;
    epoch_keys_[{space, 1}] = pending->new_key;
    for (const auto& e : pending->new_roster) {
      roster_[{space, *DeviceId::FromBytes(e.device_id())}] = e;
    }
  }
  pending->completed = true;
  if (!pending->own_grants.empty()) {
    // This member's other devices join when they next sync the personal space.
    std::vector<Mutation> grants;
    for (const auto& [entry, sealed] : pending->own_grants) {
      grants.push_back(GrantRecord(space, entry.device_id(), sealed));
    }
    KINDRED_RETURN_IF_ERROR(
        CommitInternal(device_.personal_space, grants, /*allow_reserved=*/true).status());
  }
  return Status::Ok();
}

Status EngineImpl::CheckAdmission(const std::vector<std::string>& grants,
                                  const DeviceCard& granter, PairingKind kind) {
  // The same checks as AcceptAdmission, which writes only after all pass.
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  std::vector<OpenedGrant> opened;
  for (const std::string& g : grants) {
    KINDRED_ASSIGN_OR_RETURN(OpenedGrant o, OpenGrant(g, granter));
    opened.push_back(std::move(o));
  }
  const DeviceCard me = card();
  std::lock_guard<std::mutex> lock(meta_mu_);
  int personal = 0, shared = 0;
  for (const auto& o : opened) {
    if (spaces_.count(o.space)) {
      return Status::FailedPrecondition("this device already belongs to the space it is offered");
    }
    if (o.info.ended_micros() != 0) return Status::Corruption("the offered space has ended");
    (o.info.kind() == v1::SPACE_KIND_PERSONAL ? personal : shared)++;
  }
  bool paired = false;
  for (const auto& [id, info] : spaces_) {
    if (info.kind() == v1::SPACE_KIND_SHARED && info.ended_micros() == 0) paired = true;
  }
  if (kind == PairingKind::kOwnDevice) {
    if (personal != 1 || shared > 1) {
      return Status::Corruption("the inviter offered other spaces than a device link shares");
    }
    for (const auto& o : opened) {
      if (o.self.member_id() != o.granter.member_id()) {
        return Status::Corruption("the inviter listed this device under another member");
      }
    }
    // Only a new device may take another's personal space.
    bool alone = spaces_.size() == 1;
    for (const auto& [key, e] : roster_) {
      if (key.second != device_.id) alone = false;
    }
    if (alone) {
      auto versions = store_->NewCursor(store::Cf::kVersions);
      versions->Seek(device_.personal_space.bytes());
      if (versions->ValidWithPrefix(device_.personal_space.bytes())) alone = false;
    }
    if (!alone) {
      return Status::FailedPrecondition(
          "this device already has entries or devices of its own; only a new device can be "
          "linked (run `kindred init` in a new home, then `kindred join`)");
    }
    return Status::Ok();
  }
  if (personal != 0 || shared != 1) {
    return Status::Corruption("the inviter offered other spaces than partner pairing shares");
  }
  if (paired) {
    return Status::FailedPrecondition(
        "this device is already paired; run `kindred unpair` first to pair with someone else");
  }
  if (opened.front().granter.member_id() == me.member_id) {
    return Status::FailedPrecondition(
        "the inviter is one of your own devices: join it with `kindred invite device` instead");
  }
  return Status::Ok();
}

Result<std::vector<SpaceId>> EngineImpl::AcceptAdmission(const std::vector<std::string>& grants,
                                                         const DeviceCard& granter,
                                                         PairingKind kind) {
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  KINDRED_RETURN_IF_ERROR(CheckAdmission(grants, granter, kind));
  std::vector<OpenedGrant> opened;
  for (const std::string& g : grants) {
    KINDRED_ASSIGN_OR_RETURN(OpenedGrant o, OpenGrant(g, granter));
    opened.push_back(std::move(o));
  }
  std::vector<SpaceId> joined;
  store::Batch batch = store_->NewBatch();
  for (const auto& o : opened) {
    PutGrant(o, batch);
    joined.push_back(o.space);
  }
  const SpaceId old_personal = device_.personal_space;
  const OpenedGrant* personal = nullptr;
  for (const auto& o : opened) {
    if (o.info.kind() == v1::SPACE_KIND_PERSONAL) personal = &o;
  }
  if (kind == PairingKind::kOwnDevice && personal) {
    // This device becomes one of the member's: its own (empty) personal
    // space goes, the member's takes its place.
    std::string bytes;
    KINDRED_RETURN_IF_ERROR(store_->Get(store::Cf::kMeta, kMetaDevice, &bytes));
    v1::DeviceRecord rec;
    if (!rec.ParseFromString(bytes)) return Status::Corruption("the device record is damaged");
    rec.set_personal_space(std::string(personal->space.bytes()));
    rec.set_member_id(personal->self.member_id());
    rec.set_member_name(personal->self.member_name());
    batch.Put(store::Cf::kMeta, kMetaDevice, rec.SerializeAsString());
    batch.Delete(store::Cf::kMeta, SpaceInfoKey(old_personal));
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      for (const auto& [key, k] : epoch_keys_) {
        if (key.first == old_personal) batch.Delete(store::Cf::kMeta, SpaceKeyKey(old_personal, key.second));
      }
      for (const auto& [key, e] : roster_) {
        if (key.first == old_personal) batch.Delete(store::Cf::kMeta, RosterKey(old_personal, key.second));
      }
    }
  }
  KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    for (auto& o : opened) RememberGrant(o);
    if (kind == PairingKind::kOwnDevice && personal) {
      spaces_.erase(old_personal);
      for (auto it = epoch_keys_.begin(); it != epoch_keys_.end();) {
        it = it->first.first == old_personal ? epoch_keys_.erase(it) : std::next(it);
      }
      for (auto it = roster_.begin(); it != roster_.end();) {
        it = it->first.first == old_personal ? roster_.erase(it) : std::next(it);
      }
      device_.personal_space = personal->space;
      device_.member_name = personal->self.member_name();
    }
  }
  {
    std::lock_guard<std::mutex> lock(dirty_mu_);
    control_dirty_.insert(joined.begin(), joined.end());
  }
  KINDRED_RETURN_IF_ERROR(RefreshControl());
  if (kind == PairingKind::kPartner) {
    // This member's other devices join the couple's space too.
    const SpaceId space = joined.front();
    std::vector<v1::RosterEntry> others;
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      for (const auto& e : ActiveRosterLocked(device_.personal_space)) {
        auto d = DeviceId::FromBytes(e.device_id());
        if (!d.ok() || *d == device_.id || roster_.count({space, *d})) continue;
        v1::RosterEntry copy = e;
        copy.set_added_by(std::string(device_.id.bytes()));
        copy.set_added_micros(env_.clock().NowMicros());
        others.push_back(copy);
      }
    }
    if (!others.empty()) {
      std::vector<Mutation> adds;
      for (const auto& e : others) adds.push_back(RosterAddMutation(e));
      KINDRED_RETURN_IF_ERROR(CommitInternal(space, adds, /*allow_reserved=*/true).status());
      v1::SpaceInfo info;
      std::vector<v1::RosterEntry> roster;
      std::map<uint32_t, crypto::SymmetricKey> keys;
      {
        std::lock_guard<std::mutex> lock(meta_mu_);
        info = spaces_.at(space);
        for (auto it = roster_.lower_bound({space, DeviceId()});
             it != roster_.end() && it->first.first == space; ++it) {
          roster.push_back(it->second);
        }
        for (const auto& [key, k] : epoch_keys_) {
          if (key.first == space) keys.emplace(key.second, k);
        }
      }
      std::vector<Mutation> grant_records;
      for (const auto& e : others) {
        KINDRED_ASSIGN_OR_RETURN(std::string sealed, SealGrant(info, roster, keys, e));
        grant_records.push_back(GrantRecord(space, e.device_id(), sealed));
      }
      KINDRED_RETURN_IF_ERROR(
          CommitInternal(device_.personal_space, grant_records, /*allow_reserved=*/true).status());
    }
  }
  return joined;
}

std::optional<SpaceId> EngineImpl::SharedSpace() {
  std::vector<SpaceId> all = SharedSpaces();
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::vector<SpaceId> EngineImpl::SharedSpaces() {
  std::vector<std::pair<std::pair<int, int64_t>, SpaceId>> found;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    for (const auto& [id, info] : spaces_) {
      if (info.kind() != v1::SPACE_KIND_SHARED) continue;
      // Lasting first (newest first), then ended ones, latest end first.
      const bool ended = info.ended_micros() != 0;
      found.push_back({{ended ? 1 : 0, -(ended ? info.ended_micros()
                                              : static_cast<int64_t>(info.created_micros()))},
                       id});
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<SpaceId> out;
  for (const auto& [order, id] : found) out.push_back(id);
  return out;
}

bool EngineImpl::SpaceEnded(const SpaceId& space) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  auto it = spaces_.find(space);
  return it != spaces_.end() && it->second.ended_micros() != 0;
}

Result<std::vector<RosterDevice>> EngineImpl::Devices() {
  std::lock_guard<std::mutex> lock(meta_mu_);
  std::map<DeviceId, RosterDevice> out;
  std::map<DeviceId, bool> active;
  for (const auto& [key, e] : roster_) {
    auto [it, inserted] = out.try_emplace(key.second);
    RosterDevice& d = it->second;
    if (inserted || key.first == device_.personal_space) d.card = CardOfEntry(e);
    auto adder = DeviceId::FromBytes(e.added_by());
    if (adder.ok() && (d.added_by.empty() || (e.added_micros() && e.added_micros() < d.added_micros))) {
      d.added_by = *adder;
      d.added_micros = e.added_micros();
    }
    d.spaces.push_back(key.first);
    if (!e.revoked()) {
      active[key.second] = true;
    } else {
      auto by = DeviceId::FromBytes(e.revoked_by());
      if (by.ok()) d.revoked_by = *by;
      d.revoked_micros = std::max(d.revoked_micros, e.revoked_micros());
    }
  }
  std::vector<RosterDevice> result;
  for (auto& [id, d] : out) {
    d.revoked = !active[id];
    std::sort(d.spaces.begin(), d.spaces.end());
    result.push_back(std::move(d));
  }
  return result;
}

Status EngineImpl::RevokeDevice(const DeviceId& device) {
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  const DeviceCard me = card();
  std::vector<SpaceId> spaces;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    bool listed = false, active = false;
    std::string member;
    for (const auto& [key, e] : roster_) {
      if (key.second != device) continue;
      listed = true;
      member = e.member_id();
      if (e.revoked()) continue;
      active = true;
      auto info = spaces_.find(key.first);
      if (info != spaces_.end() && info->second.ended_micros() == 0) spaces.push_back(key.first);
    }
    if (!listed) return Status::NotFound("no device " + device.ToString() + " is listed here");
    if (device == device_.id) {
      return Status::FailedPrecondition(
          "that is this device: revoke it from another of your devices");
    }
    if (member != me.member_id) {
      return Status::PermissionDenied("device " + device.ToString() +
                                      " is your partner's: only its owner can revoke it");
    }
    if (!active) return Status::FailedPrecondition("device " + device.ToString() + " is already revoked");
  }
  for (const SpaceId& space : spaces) {
    KINDRED_ASSIGN_OR_RETURN(VersionVector held, Versions(space));
    auto seen = held.find(device);
    const uint64_t after = seen == held.end() ? 0 : seen->second;
    v1::SpaceInfo info;
    std::vector<v1::RosterEntry> remaining;
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      info = spaces_.at(space);
      for (const auto& e : ActiveRosterLocked(space)) {
        if (e.device_id() != device.bytes()) remaining.push_back(e);
      }
    }
    // A new epoch: the next generation, with a random tag so that two
    // devices rotating at once never pick the same number.
    const uint32_t generation = (info.current_epoch() >> 16) + 1;
    if (generation > 0xffff) return Status::FailedPrecondition("the space has run out of epochs");
    uint16_t tag = 0;
    while (tag == 0) env_.random().Fill(reinterpret_cast<uint8_t*>(&tag), sizeof tag);
    const uint32_t epoch = (generation << 16) | tag;
    const crypto::SymmetricKey key = crypto::SymmetricKey::Generate(env_.random());
    {
      // Kept first, so it is never lost; it becomes current after the
      // revocation is written (under the old key: the new one travels in it).
      store::Batch batch = store_->NewBatch();
      const std::string meta_key = SpaceKeyKey(space, epoch);
      batch.Put(store::Cf::kMeta, meta_key,
                crypto::AeadSealRandomNonce(env_.random(), wrap_key_,
                                            std::string(kSpaceKeyAd) + meta_key, key.view()));
      KINDRED_RETURN_IF_ERROR(store_->Write(batch, true));
      std::lock_guard<std::mutex> lock(meta_mu_);
      epoch_keys_[{space, epoch}] = key;
    }
    std::vector<Mutation> mutations;
    Mutation revoke = Mutation::Create(kRosterCollection,
                                       {{"after_seq", static_cast<int64_t>(after)},
                                        {"at", env_.clock().NowMicros()}});
    revoke.id = "r" + ToHex(device.bytes());
    mutations.push_back(std::move(revoke));
    for (const auto& e : remaining) mutations.push_back(EpochKeyMutation(space, epoch, key, e));
    KINDRED_RETURN_IF_ERROR(CommitInternal(space, mutations, /*allow_reserved=*/true).status());
    {
      std::lock_guard<std::mutex> lock(meta_mu_);
      info = spaces_.at(space);
    }
    if (info.current_epoch() < epoch) {
      info.set_current_epoch(epoch);
      KINDRED_RETURN_IF_ERROR(PutSpaceInfo(space, info));
    }
  }
  return Status::Ok();
}

Status EngineImpl::EndSpace(const SpaceId& space, const DeviceId& told_by) {
  std::lock_guard<std::recursive_mutex> control(control_mu_);
  v1::SpaceInfo info;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    auto it = spaces_.find(space);
    if (it == spaces_.end() || it->second.kind() != v1::SPACE_KIND_SHARED) {
      return Status::NotFound("that is not a shared space of this device");
    }
    if (it->second.ended_micros() != 0) return Status::Ok();
    info = it->second;
  }
  info.set_ended_micros(env_.clock().NowMicros());
  info.set_ended_by(std::string((told_by.empty() ? device_.id : told_by).bytes()));
  KINDRED_RETURN_IF_ERROR(PutSpaceInfo(space, info));
  NotifyChanged(space);
  return Status::Ok();
}

}  // namespace kindred::core
