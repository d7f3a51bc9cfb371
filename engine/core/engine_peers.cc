// The engine's knowledge of other devices (rosters and peer records), the
// heads of its logs, and change listeners: what the sync layer asks of it.
#include <algorithm>

#include "engine/core/engine_impl.h"
#include "engine/core/transport_key.h"
#include "engine/log/oplog.h"
#include "kindred/v1/sync.pb.h"

namespace kindred::core {
namespace {

constexpr char kMetaPeerPrefix[] = "peer/";
constexpr uint32_t kPeerFormat = 1;

std::string PeerKey(const DeviceId& device) {
  std::string key(kMetaPeerPrefix);
  key.append(device.bytes());
  return key;
}

DeviceCard CardOf(const DeviceId& id, const v1::RosterEntry& entry) {
  DeviceCard card;
  card.id = id;
  card.sign_pk = entry.sign_pk();
  card.dh_pk = entry.dh_pk();
  card.member_id = entry.member_id();
  card.member_name = entry.member_name();
  card.device_name = entry.device_name();
  return card;
}

}  // namespace

Result<std::vector<DeviceCard>> EngineImpl::SpaceDevices(const SpaceId& space) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  if (!spaces_.count(space)) return Status::NotFound("this device does not belong to that space");
  std::vector<DeviceCard> out;
  for (auto it = roster_.lower_bound({space, DeviceId()});
       it != roster_.end() && it->first.first == space; ++it) {
    if (!it->second.revoked()) out.push_back(CardOf(it->first.second, it->second));
  }
  return out;
}

Result<std::map<DeviceId, LogHead>> EngineImpl::Heads(const SpaceId& space) {
  std::map<DeviceId, LogHead> heads;
  auto cursor = store_->NewCursor(store::Cf::kVersions);
  const std::string prefix(space.bytes());
  for (cursor->Seek(prefix); cursor->ValidWithPrefix(prefix); cursor->Next()) {
    v1::VersionEntry v;
    if (!v.ParseFromArray(cursor->value().data(), static_cast<int>(cursor->value().size())) ||
        (v.seq() > 0 && v.head_hash().size() != crypto::kHashBytes)) {
      return Status::Corruption("a version vector entry is damaged");
    }
    KINDRED_ASSIGN_OR_RETURN(DeviceId d, DeviceId::FromBytes(cursor->key().substr(prefix.size())));
    LogHead head;
    head.seq = v.seq();
    head.hash = v.seq() > 0 ? v.head_hash() : std::string(crypto::kHashBytes, '\0');
    heads[d] = std::move(head);
  }
  KINDRED_RETURN_IF_ERROR(cursor->status());
  return heads;
}

Result<PeerInfo> EngineImpl::PeerLocked(const DeviceId& device) {
  PeerInfo info;
  bool found = false;
  bool revoked = false;
  for (const auto& [key, entry] : roster_) {
    if (key.second != device) continue;
    if (entry.revoked()) {
      revoked = true;
      continue;
    }
    if (!found) info.card = CardOf(device, entry);
    found = true;
    info.spaces.push_back(key.first);
  }
  if (!found && revoked && device != device_.id) {
    return Status::PermissionDenied("device " + device.ToString() + " was revoked");
  }
  if (!found || device == device_.id) {
    return Status::NotFound("device " + device.ToString() +
                            " is not in the roster of any space here");
  }
  std::string bytes;
  Status s = store_->Get(store::Cf::kMeta, PeerKey(device), &bytes);
  if (s.code() == StatusCode::kNotFound) return info;
  KINDRED_RETURN_IF_ERROR(s);
  v1::PeerRecord record;
  if (!record.ParseFromString(bytes) || record.format() != kPeerFormat) {
    return Status::Corruption("the record of peer " + device.ToString() + " is damaged");
  }
  info.address = record.address();
  info.last_seen_micros = record.last_seen_micros();
  info.last_sync_micros = record.last_sync_micros();
  info.last_result = record.last_result();
  return info;
}

Result<PeerInfo> EngineImpl::PeerByTransportKey(std::string_view dh_pk) {
  if (dh_pk.size() != crypto::kDhPublicKeyBytes) {
    return Status::InvalidArgument("a transport key has 32 bytes");
  }
  std::lock_guard<std::mutex> lock(meta_mu_);
  for (const auto& [key, entry] : roster_) {
    // Public keys: no need for a constant-time comparison.
    if (key.second != device_.id && entry.dh_pk() == dh_pk) return PeerLocked(key.second);
  }
  return Status::NotFound("no space here lists a device with that key");
}

Result<std::vector<PeerInfo>> EngineImpl::Peers() {
  std::lock_guard<std::mutex> lock(meta_mu_);
  std::vector<DeviceId> devices;
  for (const auto& [key, entry] : roster_) {
    // Devices met only in a space that has ended are no longer peers.
    auto space = spaces_.find(key.first);
    if (key.second != device_.id && !entry.revoked() && space != spaces_.end() &&
        space->second.ended_micros() == 0) {
      devices.push_back(key.second);
    }
  }
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  std::vector<PeerInfo> out;
  for (const DeviceId& d : devices) {
    KINDRED_ASSIGN_OR_RETURN(PeerInfo info, PeerLocked(d));
    out.push_back(std::move(info));
  }
  return out;
}

Status EngineImpl::UpdatePeer(const DeviceId& device,
                              const std::function<void(PeerInfo&)>& change) {
  std::lock_guard<std::mutex> peers_lock(peers_mu_);
  PeerInfo info;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    KINDRED_ASSIGN_OR_RETURN(info, PeerLocked(device));
  }
  change(info);
  v1::PeerRecord record;
  record.set_format(kPeerFormat);
  record.set_device_id(std::string(device.bytes()));
  record.set_address(info.address);
  record.set_last_seen_micros(info.last_seen_micros);
  record.set_last_sync_micros(info.last_sync_micros);
  record.set_last_result(info.last_result);
  store::Batch batch = store_->NewBatch();
  batch.Put(store::Cf::kMeta, PeerKey(device), record.SerializeAsString());
  return store_->Write(batch, options_.sync_writes);
}

uint64_t EngineImpl::AddChangeListener(ChangeListener listener) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  const uint64_t handle = next_listener_++;
  listeners_.emplace(handle, std::move(listener));
  return handle;
}

void EngineImpl::RemoveChangeListener(uint64_t handle) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  listeners_.erase(handle);
}

void EngineImpl::NotifyChanged(const SpaceId& space) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  for (const auto& [handle, listener] : listeners_) listener(space);
}

}  // namespace kindred::core

namespace kindred::core {

Result<crypto::DhKeyPair> TransportKeyPair(const Engine& engine) {
  const auto* impl = dynamic_cast<const EngineImpl*>(&engine);
  if (!impl) return Status::InvalidArgument("the engine has no transport key");
  return impl->transport_key();
}

Result<std::string> SignPairingCertificate(const Engine& engine, std::string_view body) {
  const auto* impl = dynamic_cast<const EngineImpl*>(&engine);
  if (!impl) return Status::InvalidArgument("the engine has no signing key");
  std::string message(kPairingCertificateContext);
  message.append(body);
  return impl->SignForPairing(message);
}

}  // namespace kindred::core
