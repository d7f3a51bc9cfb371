// Kindred's key schedule on top of CPace: what is derived from ISK and the
// transcript, under which labels. docs/pairing-crypto.md is the specification;
// keep the two in step, and change kProtocolLabel's version when any label or
// formula here changes.
//
// Internal to kindred::pairing. All functions are thread-safe.
#ifndef KINDRED_ENGINE_PAIRING_KEY_SCHEDULE_H_
#define KINDRED_ENGINE_PAIRING_KEY_SCHEDULE_H_

#include <sodium.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "engine/pairing/cpace.h"

namespace kindred::pairing {

// Labels. Each derived value has its own, so no value can stand in for
// another. All are ASCII and start with the protocol name and version.
namespace label {
// Bound into CPace's channel identifier CI, before the party ids.
inline constexpr std::string_view kProtocol = "kindred-pairing-v1";
// Key for the initiator's confirmation tag Ta.
inline constexpr std::string_view kConfirmInitiator = "kindred-pairing-v1 confirm initiator";
// Key for the responder's confirmation tag Tb.
inline constexpr std::string_view kConfirmResponder = "kindred-pairing-v1 confirm responder";
// The 32-byte session key handed to the caller.
inline constexpr std::string_view kSessionKey = "kindred-pairing-v1 session key";
// Prefix of the public transcript hash.
inline constexpr std::string_view kTranscript = "kindred-pairing-v1 transcript";
// Prefix of the hash the safety words are read from.
inline constexpr std::string_view kSafetyWords = "kindred-pairing-v1 safety words";
}  // namespace label

// Sizes.
inline constexpr size_t kTranscriptHashBytes = crypto_hash_sha512_BYTES;  // 64
inline constexpr size_t kTagBytes = crypto_auth_hmacsha512256_BYTES;      // 32
static_assert(crypto_auth_hmacsha512256_KEYBYTES == crypto::kKeyBytes);

// HKDF-Expand-SHA-512(PRK = ISK, info = label, L = 32) (RFC 5869), which for
// L <= 64 is the first 32 bytes of HMAC-SHA-512(ISK, label || 0x01).
crypto::SymmetricKey ExpandIsk(const cpace::Isk& isk, std::string_view label);

// The three keys Kindred takes from one ISK.
struct SessionSecrets {
  crypto::SymmetricKey initiator_confirm_key;  // ExpandIsk(isk, kConfirmInitiator)
  crypto::SymmetricKey responder_confirm_key;  // ExpandIsk(isk, kConfirmResponder)
  crypto::SymmetricKey session_key;            // ExpandIsk(isk, kSessionKey)
};
SessionSecrets DeriveSessionSecrets(const cpace::Isk& isk);

// TH = SHA-512(lv_cat(kTranscript, sid) || transcript_ir). Public: the same on
// both sides exactly when both saw the same sid, Ya, ADa, Yb and ADb.
std::string TranscriptHash(std::string_view sid, std::string_view transcript_ir);

// A confirmation tag: HMAC-SHA-512-256(key, TH) (libsodium crypto_auth).
std::string ConfirmationTag(const crypto::SymmetricKey& key, std::string_view transcript_hash);

// True when `received` equals the expected tag; compares in constant time
// (sodium_memcmp). False on any length mismatch.
[[nodiscard]] bool TagMatches(std::string_view expected, std::string_view received);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_KEY_SCHEDULE_H_
