// Where the engine keeps its metadata in the store's default column family,
// shared by the engine's source files. Internal.
#ifndef KINDRED_ENGINE_CORE_META_KEYS_H_
#define KINDRED_ENGINE_CORE_META_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "kindred/ids.h"
#include "kindred/status.h"

namespace kindred::core {

inline constexpr char kMetaLayout[] = "layout";
inline constexpr char kMetaDevice[] = "device";
inline constexpr char kMetaSpacePrefix[] = "space/";
inline constexpr char kMetaSpaceKeyPrefix[] = "spacekey/";
inline constexpr char kMetaRosterPrefix[] = "roster/";
// Associated data prefix of a space key sealed at rest (then its meta key).
inline constexpr char kSpaceKeyAd[] = "kindred/spacekey/1";
inline constexpr uint32_t kFormat = 1;
inline constexpr size_t kMaxNameBytes = 255;

// "space/" | space.
inline std::string SpaceInfoKey(const SpaceId& space) {
  return std::string(kMetaSpacePrefix) + std::string(space.bytes());
}
// "spacekey/" | space | epoch (big-endian).
inline std::string SpaceKeyKey(const SpaceId& space, uint32_t epoch) {
  std::string key(kMetaSpaceKeyPrefix);
  key.append(space.bytes());
  crypto::PutU32(&key, epoch);
  return key;
}
// "roster/" | space | device.
inline std::string RosterKey(const SpaceId& space, const DeviceId& device) {
  std::string key(kMetaRosterPrefix);
  key.append(space.bytes());
  key.append(device.bytes());
  return key;
}

// A name (member, device, collection, field, record id): 1 to 255 bytes.
inline Status CheckName(std::string_view what, std::string_view name) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " must not be empty");
  if (name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(std::string(what) + " is longer than 255 bytes");
  }
  return Status::Ok();
}

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_META_KEYS_H_
