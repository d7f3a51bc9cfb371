// Identifiers that people and peers see: device ids and space ids.
#ifndef KINDRED_IDS_H_
#define KINDRED_IDS_H_

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "kindred/result.h"

namespace kindred {

// A device's identity, derived from its two public keys (Ed25519 signing
// key and X25519 key). 15 bytes of BLAKE2b, shown as 24 base32 characters in
// four groups of six, each group followed by a check character:
// "ABCDEF7-GHIJKL2-MNOPQR5-STUVWX3". The check characters catch a mistyped
// or misread character within a group. Value type; thread-compatible.
class DeviceId {
 public:
  static constexpr size_t kBytes = 15;

  DeviceId() = default;
  explicit DeviceId(const std::array<uint8_t, kBytes>& bytes) : bytes_(bytes) {}

  // Derives the id of the device with these public keys (32 bytes each).
  static DeviceId FromPublicKeys(std::string_view sign_pk, std::string_view dh_pk);
  // Parses the grouped form. Case, spaces and dashes are forgiven; a wrong
  // length or a failed check character is an InvalidArgument naming the group.
  static Result<DeviceId> Parse(std::string_view text);
  // Builds from the raw 15 bytes (e.g. from storage). InvalidArgument on length.
  static Result<DeviceId> FromBytes(std::string_view raw);

  // The grouped, human-checkable form.
  std::string ToString() const;
  // The raw 15 bytes.
  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  bool empty() const;

  auto operator<=>(const DeviceId&) const = default;

 private:
  std::array<uint8_t, kBytes> bytes_{};
};

// A space: a set of devices that share records under one key per epoch.
// 16 random bytes; shown as 32 lowercase hex characters. Value type.
class SpaceId {
 public:
  static constexpr size_t kBytes = 16;
  SpaceId() = default;
  explicit SpaceId(const std::array<uint8_t, kBytes>& bytes) : bytes_(bytes) {}
  // InvalidArgument unless `raw` has exactly 16 bytes.
  static Result<SpaceId> FromBytes(std::string_view raw);
  // Parses 32 hex characters.
  static Result<SpaceId> ParseHex(std::string_view hex);
  std::string ToHex() const;
  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  auto operator<=>(const SpaceId&) const = default;

 private:
  std::array<uint8_t, kBytes> bytes_{};
};

// RFC 4648 base32 without padding, lowercase (for record ids).
std::string ToBase32Lower(std::string_view bytes);

// Lowercase hex of arbitrary bytes.
std::string ToHex(std::string_view bytes);
// Parses lowercase or uppercase hex; InvalidArgument on odd length or a non-hex digit.
Result<std::string> FromHex(std::string_view hex);

}  // namespace kindred

#endif  // KINDRED_IDS_H_
