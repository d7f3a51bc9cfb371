// Thin, typed wrappers over libsodium: fixed-size keys that wipe themselves,
// named sizes, results that cannot be ignored. Internal to the engine.
//
// Primitives (recorded in every envelope by id, so they can change later):
//   AEAD      XChaCha20-Poly1305-IETF (id 1)
//   signature Ed25519
//   key agreement X25519
//   hash      BLAKE2b-256
//   KDF       crypto_kdf (BLAKE2b) with an 8-byte label per purpose
//   password  Argon2id (crypto_pwhash)
#ifndef KINDRED_ENGINE_CRYPTO_CRYPTO_H_
#define KINDRED_ENGINE_CRYPTO_CRYPTO_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "kindred/env.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::crypto {

constexpr size_t kKeyBytes = 32;
constexpr size_t kSignPublicKeyBytes = crypto_sign_PUBLICKEYBYTES;  // 32
constexpr size_t kSignSecretKeyBytes = crypto_sign_SECRETKEYBYTES;  // 64
constexpr size_t kSignatureBytes = crypto_sign_BYTES;               // 64
constexpr size_t kDhPublicKeyBytes = crypto_scalarmult_BYTES;       // 32
constexpr size_t kDhSecretKeyBytes = crypto_scalarmult_SCALARBYTES; // 32
constexpr size_t kHashBytes = 32;
constexpr size_t kXNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
constexpr size_t kAeadTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;   // 16

// Identifies the AEAD in stored and sent envelopes.
enum class AeadId : uint32_t { kXChaCha20Poly1305 = 1 };

// Calls sodium_init(). Safe to call many times from any thread.
[[nodiscard]] Status Init();

// N bytes of secret material, wiped when destroyed. Movable copies wipe too.
template <size_t N>
class Secret {
 public:
  Secret() { std::memset(data_, 0, N); }
  Secret(const Secret& o) { std::memcpy(data_, o.data_, N); }
  Secret& operator=(const Secret& o) {
    if (this != &o) std::memcpy(data_, o.data_, N);
    return *this;
  }
  ~Secret() { sodium_memzero(data_, N); }

  // REQUIRES: raw.size() == N, else InvalidArgument.
  static Result<Secret> FromBytes(std::string_view raw) {
    if (raw.size() != N) return Status::InvalidArgument("secret key has the wrong length");
    Secret s;
    std::memcpy(s.data_, raw.data(), N);
    return s;
  }
  static Secret Generate(Random& random) {
    Secret s;
    random.Fill(s.data_, N);
    return s;
  }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  static constexpr size_t size() { return N; }
  // A view of the secret bytes; never log it.
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), N}; }
  // Constant-time comparison.
  bool Equals(const Secret& o) const { return sodium_memcmp(data_, o.data_, N) == 0; }

 private:
  uint8_t data_[N];
};

using SymmetricKey = Secret<kKeyBytes>;

// std::string that wipes itself: for decrypted secrets and passphrases.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string s) : s_(std::move(s)) {}
  SecretString(SecretString&& o) noexcept : s_(std::move(o.s_)) { o.Wipe(); }
  SecretString& operator=(SecretString&& o) noexcept {
    Wipe();
    s_ = std::move(o.s_);
    o.Wipe();
    return *this;
  }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString() { Wipe(); }
  std::string& str() { return s_; }
  const std::string& str() const { return s_; }
  bool empty() const { return s_.empty(); }
  void Wipe() {
    if (!s_.empty()) sodium_memzero(s_.data(), s_.size());
    s_.clear();
  }

 private:
  std::string s_;
};

// Ed25519 key pair.
struct SignKeyPair {
  std::string public_key;  // 32 bytes
  Secret<kSignSecretKeyBytes> secret_key;

  static SignKeyPair Generate(Random& random);
  // Rebuilds from a stored secret key (which embeds the public key).
  static Result<SignKeyPair> FromSecret(std::string_view sk);
};

// X25519 key pair.
struct DhKeyPair {
  std::string public_key;  // 32 bytes
  Secret<kDhSecretKeyBytes> secret_key;

  static DhKeyPair Generate(Random& random);
  static Result<DhKeyPair> FromSecret(std::string_view sk);
};

// Ed25519 detached signature over `message`.
std::string Sign(const SignKeyPair& key, std::string_view message);
// True when `signature` is valid for `message` under `public_key`.
[[nodiscard]] bool Verify(std::string_view public_key, std::string_view message,
                          std::string_view signature);

// BLAKE2b-256 of `data`.
std::string Hash(std::string_view data);
// The same, into `*out` (resized to kHashBytes; its buffer is reused).
void HashInto(std::string_view data, std::string* out);

// Incremental BLAKE2b-256.
class Hasher {
 public:
  Hasher();
  void Update(std::string_view data);
  void UpdateU64(uint64_t v);  // big-endian
  std::string Finish();        // 32 bytes

 private:
  crypto_generichash_blake2b_state state_;
};

// Keyed BLAKE2b of `data`, `out_len` bytes (16..64). For deterministic index tokens.
std::string KeyedHash(const SymmetricKey& key, std::string_view data, size_t out_len);

// Purpose labels for key derivation. Each purpose gets its own label, so a
// key derived for one purpose is useless for another. Exactly 8 bytes each.
namespace kdf_label {
inline constexpr char kRecords[] = "kd-recrd";    // materialised records at rest
inline constexpr char kIndex[] = "kd-index";      // index tokens at rest
inline constexpr char kSpaceWrap[] = "kd-spkey";  // wrapping space keys at rest
inline constexpr char kMeta[] = "kd-meta_";       // other encrypted metadata at rest
inline constexpr char kRecordsGcm[] = "kd-recgm";  // records at rest, AES-GCM (keys per process)
}  // namespace kdf_label

// Derives subkey `id` for purpose `label` (8 bytes) from `master`.
SymmetricKey DeriveKey(const SymmetricKey& master, const char (&label)[9], uint64_t id = 1);

// XChaCha20-Poly1305: appends ciphertext||tag for `plaintext` to `*out`.
// REQUIRES: `nonce` is 24 bytes and never used before with `key`.
void AeadSeal(const SymmetricKey& key, std::string_view nonce, std::string_view ad,
              std::string_view plaintext, std::string* out);
// Decrypts and authenticates; Unauthenticated on any mismatch.
[[nodiscard]] Status AeadOpen(const SymmetricKey& key, std::string_view nonce, std::string_view ad,
                              std::string_view ciphertext, std::string* plaintext);
// Seals with a fresh random nonce; the output is nonce||ciphertext||tag.
std::string AeadSealRandomNonce(Random& random, const SymmetricKey& key, std::string_view ad,
                                std::string_view plaintext);
// Opens the output of AeadSealRandomNonce.
[[nodiscard]] Status AeadOpenRandomNonce(const SymmetricKey& key, std::string_view ad,
                                         std::string_view sealed, std::string* plaintext);

// AES-256-GCM with its key schedule computed once (libsodium's "afternm"
// API), for sealing many values under one key quickly. Only usable where
// Available() (the CPU has AES-NI and CLMUL). Nonces are 12 bytes and must
// never repeat under one key. Seal and Open are safe to call from several
// threads at once. The key schedule is wiped when destroyed.
class AesGcmKey {
 public:
  static constexpr size_t kNonceBytes = crypto_aead_aes256gcm_NPUBBYTES;  // 12
  static constexpr size_t kTagBytes = crypto_aead_aes256gcm_ABYTES;       // 16
  // True when this CPU can run AES-256-GCM.
  static bool Available();
  // REQUIRES: Available().
  explicit AesGcmKey(const SymmetricKey& key);
  ~AesGcmKey();
  AesGcmKey(const AesGcmKey&) = delete;
  AesGcmKey& operator=(const AesGcmKey&) = delete;
  // Appends ciphertext||tag for `plaintext` to `*out`.
  void Seal(const uint8_t (&nonce)[kNonceBytes], std::string_view ad, std::string_view plaintext,
            std::string* out) const;
  // Decrypts and authenticates; Unauthenticated on any mismatch.
  [[nodiscard]] Status Open(const uint8_t (&nonce)[kNonceBytes], std::string_view ad,
                            std::string_view ciphertext, std::string* plaintext) const;

 private:
  crypto_aead_aes256gcm_state state_;
};

// Argon2id work factors.
struct PwhashParams {
  uint64_t opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
  uint64_t memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
  static PwhashParams Interactive() {
    return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
  }
};
constexpr size_t kPwhashSaltBytes = crypto_pwhash_SALTBYTES;  // 16

// Derives a key from a passphrase with Argon2id. IOError if out of memory.
[[nodiscard]] Result<SymmetricKey> KeyFromPassphrase(std::string_view passphrase,
                                                     std::string_view salt,
                                                     const PwhashParams& params);

// Constant-time equality of two byte strings (false on length mismatch).
[[nodiscard]] bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Appends `v` big-endian to `out`.
void PutU64(std::string* out, uint64_t v);
void PutU32(std::string* out, uint32_t v);
uint64_t GetU64(const char* p);

}  // namespace kindred::crypto

#endif  // KINDRED_ENGINE_CRYPTO_CRYPTO_H_
