// How materialised records are sealed at rest with the device's local key,
// and opened again. Internal to the engine (docs/security.md, "At rest").
#ifndef KINDRED_ENGINE_CORE_RECORD_CIPHER_H_
#define KINDRED_ENGINE_CORE_RECORD_CIPHER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "kindred/env.h"
#include "kindred/status.h"

namespace kindred::core {

// Nonces for XChaCha20-Poly1305 sealing at rest: a random 16-byte prefix
// per instance and a 64-bit counter, so no nonce repeats within or across
// processes. Thread-safe.
class NonceSequence {
 public:
  explicit NonceSequence(Random& random);
  std::string Next();

 private:
  std::mutex mu_;
  std::string prefix_;
  uint64_t counter_ = 0;  // guarded by mu_
};

// Seals and opens records. Two sealed forms:
//
//  * AES-256-GCM (where the CPU has AES-NI; about three times faster than
//    XChaCha20-Poly1305 at record sizes): 0xA2 | salt (16) | counter (8) |
//    ciphertext | tag. Each RecordCipher draws a random salt and seals under
//    its own key, keyed BLAKE2b of the salt under the AES-GCM records key,
//    with nonce = 4 zero bytes | the counter, which counts up from 1: no
//    (key, nonce) pair ever repeats.
//  * XChaCha20-Poly1305 under the older records key: nonce (24) |
//    ciphertext | tag. Sealed where AES-GCM is not available, and still
//    opened (homes written before the AES-GCM form).
//
// Both authenticate `ad`. Thread-safe.
class RecordCipher {
 public:
  // `gcm_master` derives from the local key with kdf_label::kRecordsGcm,
  // `xchacha_key` with kdf_label::kRecords. `allow_aes` false seals in the
  // XChaCha20-Poly1305 form even where AES-GCM is available (tests).
  RecordCipher(const crypto::SymmetricKey& gcm_master, const crypto::SymmetricKey& xchacha_key,
               Random& random, bool allow_aes = true);
  ~RecordCipher();
  RecordCipher(const RecordCipher&) = delete;
  RecordCipher& operator=(const RecordCipher&) = delete;

  // Appends `plain` sealed with `ad` to `*out`.
  void Seal(std::string_view ad, std::string_view plain, std::string* out);
  // Opens a value Seal made (in this or any earlier process with the same
  // keys). Unauthenticated or Corruption when it does not verify,
  // FailedPrecondition when it is in the AES-GCM form and this CPU cannot
  // run AES-GCM.
  [[nodiscard]] Status Open(std::string_view ad, std::string_view sealed, std::string* plain) const;

  static constexpr uint8_t kGcmForm = 0xA2;
  static constexpr size_t kSaltBytes = 16;

 private:
  // The AES-GCM key of another instance's `salt`, derived on first use and
  // kept (a few dozen at most).
  std::shared_ptr<const crypto::AesGcmKey> KeyFor(std::string_view salt) const;

  crypto::SymmetricKey gcm_master_;
  crypto::SymmetricKey xchacha_key_;
  NonceSequence nonces_;  // the XChaCha20-Poly1305 form's
  // The AES-GCM form's, when it is used: this instance's salt and key.
  std::string salt_;
  std::unique_ptr<crypto::AesGcmKey> key_;
  std::atomic<uint64_t> counter_{0};
  // Keys of other salts met when opening.
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const crypto::AesGcmKey>, std::less<>>
      others_;  // guarded by mu_
};

}  // namespace kindred::core

#endif  // KINDRED_ENGINE_CORE_RECORD_CIPHER_H_
