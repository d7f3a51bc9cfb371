#include "kindred/ids.h"

#include <sodium.h>

#include <cctype>

namespace kindred {
namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr int kGroups = 4;
constexpr int kGroupChars = 6;

int Base32Value(char c) {
  c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// Luhn mod N over base32 (as Syncthing does for its device ids).
char LuhnCheck(std::string_view group) {
  int factor = 1;
  int sum = 0;
  constexpr int n = 32;
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    int addend = factor * Base32Value(*it);
    factor = (factor == 2) ? 1 : 2;
    addend = (addend / n) + (addend % n);
    sum += addend;
  }
  int remainder = sum % n;
  return kBase32Alphabet[(n - remainder) % n];
}

std::string Base32(const uint8_t* data, size_t len) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out += kBase32Alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

}  // namespace

DeviceId DeviceId::FromPublicKeys(std::string_view sign_pk, std::string_view dh_pk) {
  static constexpr char kPersonal[crypto_generichash_blake2b_PERSONALBYTES] = "kindred/devid/1";
  static constexpr char kSalt[crypto_generichash_blake2b_SALTBYTES] = {};
  std::string input;
  input.append(sign_pk);
  input.append(dh_pk);
  std::array<uint8_t, kBytes> out{};
  crypto_generichash_blake2b_salt_personal(out.data(), out.size(),
                                           reinterpret_cast<const uint8_t*>(input.data()),
                                           input.size(), nullptr, 0,
                                           reinterpret_cast<const uint8_t*>(kSalt),
                                           reinterpret_cast<const uint8_t*>(kPersonal));
  return DeviceId(out);
}

Result<DeviceId> DeviceId::FromBytes(std::string_view raw) {
  if (raw.size() != kBytes) {
    return Status::InvalidArgument("device id must be " + std::to_string(kBytes) + " bytes, got " +
                                   std::to_string(raw.size()));
  }
  std::array<uint8_t, kBytes> bytes{};
  std::copy(raw.begin(), raw.end(), bytes.begin());
  return DeviceId(bytes);
}

std::string DeviceId::ToString() const {
  std::string b32 = Base32(bytes_.data(), bytes_.size());  // 24 chars
  std::string out;
  for (int g = 0; g < kGroups; ++g) {
    std::string_view group(b32.data() + g * kGroupChars, kGroupChars);
    if (g) out += '-';
    out.append(group);
    out += LuhnCheck(group);
  }
  return out;
}

Result<DeviceId> DeviceId::Parse(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c == '-' || c == ' ') continue;
    if (Base32Value(c) < 0) {
      return Status::InvalidArgument(std::string("device id has a character that is not base32: '") +
                                     c + "'");
    }
    clean += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  constexpr size_t kWant = kGroups * (kGroupChars + 1);
  if (clean.size() != kWant) {
    return Status::InvalidArgument("device id must have " + std::to_string(kWant) +
                                   " characters (four groups of seven), got " +
                                   std::to_string(clean.size()));
  }
  std::string data;
  for (int g = 0; g < kGroups; ++g) {
    std::string_view group(clean.data() + g * (kGroupChars + 1), kGroupChars);
    char check = clean[g * (kGroupChars + 1) + kGroupChars];
    if (LuhnCheck(group) != check) {
      return Status::InvalidArgument("device id group " + std::to_string(g + 1) +
                                     " has a wrong check character: was it mistyped?");
    }
    data.append(group);
  }
  // Decode 24 base32 chars = 120 bits = 15 bytes.
  std::array<uint8_t, kBytes> bytes{};
  uint32_t buffer = 0;
  int bits = 0;
  size_t pos = 0;
  for (char c : data) {
    buffer = (buffer << 5) | static_cast<uint32_t>(Base32Value(c));
    bits += 5;
    if (bits >= 8) {
      bytes[pos++] = static_cast<uint8_t>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return DeviceId(bytes);
}

bool DeviceId::empty() const {
  for (uint8_t b : bytes_) {
    if (b) return false;
  }
  return true;
}

Result<SpaceId> SpaceId::FromBytes(std::string_view raw) {
  if (raw.size() != kBytes) return Status::InvalidArgument("space id must be 16 bytes");
  std::array<uint8_t, kBytes> bytes{};
  std::copy(raw.begin(), raw.end(), bytes.begin());
  return SpaceId(bytes);
}

Result<SpaceId> SpaceId::ParseHex(std::string_view hex) {
  KINDRED_ASSIGN_OR_RETURN(std::string raw, FromHex(hex));
  return FromBytes(raw);
}

std::string SpaceId::ToHex() const { return kindred::ToHex(bytes()); }

std::string ToBase32Lower(std::string_view bytes) {
  std::string out = Base32(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2) return Status::InvalidArgument("hex string has an odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("not a hex digit in hex string");
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

}  // namespace kindred
