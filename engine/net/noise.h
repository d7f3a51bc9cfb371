// The Noise Protocol Framework (revision 34), exactly as much of it as
// Kindred's transport uses: Noise_XX_25519_ChaChaPoly_SHA256.
//
// The three objects follow the specification's sections 5.1-5.3 and keep its
// names, so the code can be read next to https://noiseprotocol.org/noise.html.
// Primitives come from libsodium: X25519 (crypto_scalarmult),
// ChaCha20-Poly1305 IETF, SHA-256 and HMAC-SHA-256.
//
// Pure computation: no I/O and no clock. Internal to the engine.
#ifndef KINDRED_ENGINE_NET_NOISE_H_
#define KINDRED_ENGINE_NET_NOISE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "engine/crypto/crypto.h"
#include "kindred/env.h"
#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::net::noise {

// The full protocol name; it is also the initial handshake hash.
inline constexpr std::string_view kProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";

constexpr size_t kDhBytes = 32;             // DHLEN: X25519 public keys and shared secrets
constexpr size_t kHashBytes = 32;           // HASHLEN: SHA-256
constexpr size_t kKeyBytes = 32;            // cipher keys
constexpr size_t kTagBytes = 16;            // Poly1305 authentication tag
constexpr size_t kMaxMessageBytes = 65535;  // any Noise message, handshake or transport
// The largest plaintext that fits in one transport message.
constexpr size_t kMaxPlaintextBytes = kMaxMessageBytes - kTagBytes;  // 65519

using CipherKey = crypto::Secret<kKeyBytes>;

// Which side of the handshake this party plays.
enum class Role { kInitiator, kResponder };

// A key and a nonce counter (spec section 5.1). Without a key, encryption and
// decryption pass data through unchanged, as the handshake requires.
//
// Each nonce is used at most once: the counter only moves forward, and the
// last value, 2^64-1, is reserved, so a CipherState that has used 2^64-1
// nonces refuses to encrypt or decrypt again. The key is wiped on
// destruction. Movable value type; thread-compatible.
class CipherState {
 public:
  // A CipherState without a key.
  CipherState() = default;
  CipherState(CipherState&& other) noexcept;
  CipherState& operator=(CipherState&& other) noexcept;
  CipherState(const CipherState&) = delete;
  CipherState& operator=(const CipherState&) = delete;
  ~CipherState() = default;  // the key wipes itself

  // Sets the key and resets the nonce to 0.
  void InitializeKey(const CipherKey& key);
  bool HasKey() const { return has_key_; }
  // The nonce the next EncryptWithAd or DecryptWithAd will use.
  uint64_t nonce() const { return nonce_; }

  // Appends the ChaCha20-Poly1305 encryption of `plaintext` (ciphertext and
  // tag) to `*out`, authenticating `ad`, and advances the nonce. Without a
  // key, appends `plaintext` itself. FailedPrecondition once the nonces are
  // used up.
  [[nodiscard]] Status EncryptWithAd(std::string_view ad, std::string_view plaintext,
                                     std::string* out);
  // Authenticates and decrypts `ciphertext`, appending the plaintext to
  // `*out`. Unauthenticated if the tag does not verify: the ciphertext was
  // altered, forged, replayed or reordered (the nonce has moved on). The
  // nonce advances only on success. FailedPrecondition once the nonces are
  // used up.
  [[nodiscard]] Status DecryptWithAd(std::string_view ad, std::string_view ciphertext,
                                     std::string* out);

  // Jumps the nonce counter, to test the end of the nonce space.
  void SetNonceForTest(uint64_t nonce) { nonce_ = nonce; }

 private:
  // Fills the 12-byte IETF nonce: 4 zero bytes, then `nonce_` little-endian.
  void FillNonce(uint8_t (&out)[12]) const;

  CipherKey key_;
  bool has_key_ = false;
  uint64_t nonce_ = 0;
};

// The two CipherStates that Split() produces, named from one party's view.
struct TransportCiphers {
  CipherState send;
  CipherState receive;
};

// The chaining key, handshake hash and handshake CipherState (spec section
// 5.2). Secrets are wiped on destruction. Not copyable; thread-compatible.
class SymmetricState {
 public:
  // InitializeSymmetric(protocol_name).
  explicit SymmetricState(std::string_view protocol_name);
  SymmetricState(const SymmetricState&) = delete;
  SymmetricState& operator=(const SymmetricState&) = delete;

  // Derives a new chaining key and cipher key from `input_key_material`.
  void MixKey(std::string_view input_key_material);
  // h = SHA-256(h || data).
  void MixHash(std::string_view data);
  // Encrypts (or, before the first MixKey, copies) `plaintext` with h as the
  // associated data, appends it to `*out` and mixes it into h.
  [[nodiscard]] Status EncryptAndHash(std::string_view plaintext, std::string* out);
  // The inverse of EncryptAndHash; Unauthenticated if the tag does not verify.
  [[nodiscard]] Status DecryptAndHash(std::string_view ciphertext, std::string* out);
  // Derives the two transport CipherStates: first for initiator-to-responder
  // messages, second for responder-to-initiator messages.
  std::pair<CipherState, CipherState> Split() const;

  bool HasKey() const { return cipher_.HasKey(); }
  // h: a transcript hash both parties share once the handshake is complete.
  std::string_view handshake_hash() const {
    return {reinterpret_cast<const char*>(hash_), kHashBytes};
  }

 private:
  crypto::Secret<kHashBytes> chaining_key_;
  uint8_t hash_[kHashBytes];
  CipherState cipher_;
};

// One party's side of a Noise_XX_25519_ChaChaPoly_SHA256 handshake (spec
// section 5.3):
//
//   -> e
//   <- e, ee, s, es
//   -> s, se
//
// The initiator writes messages 1 and 3, the responder message 2. After
// message 3 the handshake is complete and Split() hands out the transport
// ciphers. Any error leaves the handshake failed for good. Secrets are wiped
// on destruction. Not copyable; thread-compatible.
class HandshakeState {
 public:
  // Starts a handshake with this party's static key pair `static_key`.
  // Ephemeral keys are drawn from `random`, which must outlive this object
  // (tests pass a Random that returns fixed bytes to reproduce vectors).
  // REQUIRES: crypto::Init() has succeeded; static_key.public_key is
  // kDhBytes long.
  HandshakeState(Role role, std::string_view prologue, const crypto::DhKeyPair& static_key,
                 Random& random);
  HandshakeState(const HandshakeState&) = delete;
  HandshakeState& operator=(const HandshakeState&) = delete;

  // Appends the next handshake message, carrying `payload`, to `*message`.
  // FailedPrecondition when it is not this party's turn to write or the
  // handshake failed; InvalidArgument if the message would exceed
  // kMaxMessageBytes.
  [[nodiscard]] Status WriteMessage(std::string_view payload, std::string* message);
  // Processes the peer's next handshake message and appends its payload to
  // `*payload`. Corruption if the message is too short or too long,
  // Unauthenticated if it fails to decrypt or the peer's public key is a
  // low-order point; FailedPrecondition when it is not this party's turn to
  // read or the handshake failed.
  [[nodiscard]] Status ReadMessage(std::string_view message, std::string* payload);

  // True once all three messages have been written or read.
  bool IsComplete() const { return next_message_ == 3 && !failed_; }
  // True when the next step is WriteMessage (false once complete).
  bool IsMyTurnToWrite() const;

  // The peer's static public key (32 bytes), or empty before it has arrived
  // (message 2 for the initiator, message 3 for the responder).
  const std::string& remote_static_key() const { return remote_static_; }
  // The handshake hash so far; after completion, a value both parties share
  // that can bind higher-level protocols to this session.
  std::string handshake_hash() const { return std::string(symmetric_.handshake_hash()); }

  // The transport ciphers, send and receive for this party's role.
  // FailedPrecondition unless IsComplete().
  [[nodiscard]] Result<TransportCiphers> Split() const;

 private:
  // The tokens of a message pattern.
  enum class Token { kE, kS, kEE, kES, kSE };
  // The tokens of message `index` (0, 1 or 2) of the XX pattern.
  static std::span<const Token> PatternFor(int index);

  [[nodiscard]] Status WriteTokens(std::string_view payload, std::string* message);
  [[nodiscard]] Status ReadTokens(std::string_view message, std::string* payload);
  // Performs the DH that `token` (ee, es or se) names and mixes it in.
  [[nodiscard]] Status MixDhToken(Token token);
  // X25519 of our `secret` with the peer's `public_key`, fed to MixKey.
  // Unauthenticated if the shared secret is all zeros.
  [[nodiscard]] Status MixDh(const crypto::Secret<kDhBytes>& secret, std::string_view public_key);

  Role role_;
  Random& random_;
  SymmetricState symmetric_;
  crypto::DhKeyPair static_;
  std::optional<crypto::DhKeyPair> ephemeral_;
  std::string remote_static_;
  std::string remote_ephemeral_;
  int next_message_ = 0;  // 0, 1 or 2 while in progress; 3 when complete
  bool failed_ = false;
};

}  // namespace kindred::net::noise

#endif  // KINDRED_ENGINE_NET_NOISE_H_
