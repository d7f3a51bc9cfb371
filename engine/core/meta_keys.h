// Where the engine keeps its metadata in the store's default column family,
// shared by the engine's source files. Internal.
#ifndef KINDRED_ENGINE_CORE_META_KEYS_H_
#define KINDRED_ENGINE_CORE_META_KEYS_H_

#include <cstdint>
#include <cstring>
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

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), as protobuf requires of the string
// fields of ops and records.
inline bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* end = p + text.size();
  while (p < end) {
    // Most text is ASCII: eight bytes at a time while none has its top bit.
    uint64_t word;
    while (end - p >= 8 && (std::memcpy(&word, p, 8), (word & 0x8080808080808080u) == 0)) p += 8;
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;  // a continuation byte, an overlong lead, or no lead at all
    }
    if (static_cast<size_t>(end - p) < n || p[1] < lo || p[1] > hi) return false;
    for (size_t k = 2; k < n; ++k) {
      if ((p[k] & 0xc0) != 0x80) return false;
    }
    p += n;
  }
  return true;
}

// A name (member, device, collection, field, record id): 1 to 255 bytes of
// UTF-8.
inline Status CheckName(std::string_view what, std::string_view name) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " must not be empty");
  if (name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(std::string(what) + " is longer than 255 bytes");
  }
  if (!IsValidUtf8(name)) return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
  return Status::Ok();
}

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_META_KEYS_H_
