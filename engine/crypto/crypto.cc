#include "engine/crypto/crypto.h"

#include <mutex>

namespace kindred::crypto {
namespace {
const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }
}  // namespace

Status Init() {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  return Status::Ok();
}

SignKeyPair SignKeyPair::Generate(Random& random) {
  Secret<crypto_sign_SEEDBYTES> seed = Secret<crypto_sign_SEEDBYTES>::Generate(random);
  SignKeyPair kp;
  kp.public_key.resize(kSignPublicKeyBytes);
  crypto_sign_seed_keypair(reinterpret_cast<uint8_t*>(kp.public_key.data()),
                           kp.secret_key.data(), seed.data());
  return kp;
}

Result<SignKeyPair> SignKeyPair::FromSecret(std::string_view sk) {
  KINDRED_ASSIGN_OR_RETURN(auto stored, Secret<kSignSecretKeyBytes>::FromBytes(sk));
  // Re-derive the whole key pair from the seed (the first half) and insist
  // that the stored public half agrees: a damaged seed must not yield a
  // different, silently "valid" identity.
  Secret<crypto_sign_SEEDBYTES> seed;
  crypto_sign_ed25519_sk_to_seed(seed.data(), stored.data());
  SignKeyPair kp;
  kp.public_key.resize(kSignPublicKeyBytes);
  crypto_sign_seed_keypair(reinterpret_cast<uint8_t*>(kp.public_key.data()),
                           kp.secret_key.data(), seed.data());
  if (!kp.secret_key.Equals(stored)) {
    return Status::InvalidArgument("signing key is inconsistent with its seed");
  }
  return kp;
}

DhKeyPair DhKeyPair::Generate(Random& random) {
  DhKeyPair kp;
  kp.secret_key = Secret<kDhSecretKeyBytes>::Generate(random);
  kp.public_key.resize(kDhPublicKeyBytes);
  crypto_scalarmult_base(reinterpret_cast<uint8_t*>(kp.public_key.data()), kp.secret_key.data());
  return kp;
}

Result<DhKeyPair> DhKeyPair::FromSecret(std::string_view sk) {
  KINDRED_ASSIGN_OR_RETURN(auto secret, Secret<kDhSecretKeyBytes>::FromBytes(sk));
  DhKeyPair kp;
  kp.secret_key = secret;
  kp.public_key.resize(kDhPublicKeyBytes);
  crypto_scalarmult_base(reinterpret_cast<uint8_t*>(kp.public_key.data()), kp.secret_key.data());
  return kp;
}

std::string Sign(const SignKeyPair& key, std::string_view message) {
  std::string sig(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<uint8_t*>(sig.data()), nullptr, U8(message),
                       message.size(), key.secret_key.data());
  return sig;
}

bool Verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  if (public_key.size() != kSignPublicKeyBytes || signature.size() != kSignatureBytes) return false;
  return crypto_sign_verify_detached(U8(signature), U8(message), message.size(),
                                     U8(public_key)) == 0;
}

std::string Hash(std::string_view data) {
  std::string out;
  HashInto(data, &out);
  return out;
}

void HashInto(std::string_view data, std::string* out) {
  out->resize(kHashBytes);
  crypto_generichash(reinterpret_cast<uint8_t*>(out->data()), out->size(), U8(data), data.size(),
                     nullptr, 0);
}

Hasher::Hasher() { crypto_generichash_blake2b_init(&state_, nullptr, 0, kHashBytes); }
void Hasher::Update(std::string_view data) {
  crypto_generichash_blake2b_update(&state_, U8(data), data.size());
}
void Hasher::UpdateU64(uint64_t v) {
  std::string b;
  PutU64(&b, v);
  Update(b);
}
std::string Hasher::Finish() {
  std::string out(kHashBytes, '\0');
  crypto_generichash_blake2b_final(&state_, reinterpret_cast<uint8_t*>(out.data()), out.size());
  return out;
}

std::string KeyedHash(const SymmetricKey& key, std::string_view data, size_t out_len) {
  std::string out(out_len, '\0');
  crypto_generichash(reinterpret_cast<uint8_t*>(out.data()), out.size(), U8(data), data.size(),
                     key.data(), key.size());
  return out;
}

SymmetricKey DeriveKey(const SymmetricKey& master, const char (&label)[9], uint64_t id) {
  static_assert(crypto_kdf_CONTEXTBYTES == 8);
  SymmetricKey out;
  crypto_kdf_derive_from_key(out.data(), out.size(), id, label, master.data());
  return out;
}

void AeadSeal(const SymmetricKey& key, std::string_view nonce, std::string_view ad,
              std::string_view plaintext, std::string* out) {
  size_t base = out->size();
  out->resize(base + plaintext.size() + kAeadTagBytes);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(out->data() + base), &clen,
                                             U8(plaintext), plaintext.size(), U8(ad), ad.size(),
                                             nullptr, U8(nonce), key.data());
  out->resize(base + clen);
}

Status AeadOpen(const SymmetricKey& key, std::string_view nonce, std::string_view ad,
                std::string_view ciphertext, std::string* plaintext) {
  if (nonce.size() != kXNonceBytes) return Status::Corruption("nonce has the wrong length");
  if (ciphertext.size() < kAeadTagBytes) return Status::Corruption("ciphertext is too short");
  plaintext->resize(ciphertext.size() - kAeadTagBytes);
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<uint8_t*>(plaintext->data()),
                                                 &plen, nullptr, U8(ciphertext), ciphertext.size(),
                                                 U8(ad), ad.size(), U8(nonce), key.data()) != 0) {
    plaintext->clear();
    return Status::Unauthenticated("ciphertext failed authentication");
  }
  plaintext->resize(plen);
  return Status::Ok();
}

std::string AeadSealRandomNonce(Random& random, const SymmetricKey& key, std::string_view ad,
                                std::string_view plaintext) {
  std::string out(kXNonceBytes, '\0');
  random.Fill(reinterpret_cast<uint8_t*>(out.data()), kXNonceBytes);
  std::string nonce = out;
  AeadSeal(key, nonce, ad, plaintext, &out);
  return out;
}

Status AeadOpenRandomNonce(const SymmetricKey& key, std::string_view ad, std::string_view sealed,
                           std::string* plaintext) {
  if (sealed.size() < kXNonceBytes + kAeadTagBytes) return Status::Corruption("sealed value is too short");
  return AeadOpen(key, sealed.substr(0, kXNonceBytes), ad, sealed.substr(kXNonceBytes), plaintext);
}

bool AesGcmKey::Available() {
  // The CPU's features are read by sodium_init (idempotent, thread-safe).
  return sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() == 1;
}

AesGcmKey::AesGcmKey(const SymmetricKey& key) {
  crypto_aead_aes256gcm_beforenm(&state_, key.data());
}

AesGcmKey::~AesGcmKey() { sodium_memzero(&state_, sizeof(state_)); }

void AesGcmKey::Seal(const uint8_t (&nonce)[kNonceBytes], std::string_view ad,
                     std::string_view plaintext, std::string* out) const {
  const size_t base = out->size();
  out->resize(base + plaintext.size() + kTagBytes);
  unsigned long long clen = 0;
  crypto_aead_aes256gcm_encrypt_afternm(reinterpret_cast<uint8_t*>(out->data() + base), &clen,
                                        U8(plaintext), plaintext.size(), U8(ad), ad.size(), nullptr,
                                        nonce, &state_);
  out->resize(base + clen);
}

Status AesGcmKey::Open(const uint8_t (&nonce)[kNonceBytes], std::string_view ad,
                       std::string_view ciphertext, std::string* plaintext) const {
  if (ciphertext.size() < kTagBytes) return Status::Corruption("ciphertext is too short");
  plaintext->resize(ciphertext.size() - kTagBytes);
  unsigned long long plen = 0;
  if (crypto_aead_aes256gcm_decrypt_afternm(reinterpret_cast<uint8_t*>(plaintext->data()), &plen,
                                            nullptr, U8(ciphertext), ciphertext.size(), U8(ad),
                                            ad.size(), nonce, &state_) != 0) {
    plaintext->clear();
    return Status::Unauthenticated("ciphertext failed authentication");
  }
  plaintext->resize(plen);
  return Status::Ok();
}

Result<SymmetricKey> KeyFromPassphrase(std::string_view passphrase, std::string_view salt,
                                       const PwhashParams& params) {
  if (salt.size() != kPwhashSaltBytes) return Status::Corruption("passphrase salt has the wrong length");
  SymmetricKey key;
  if (crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(), U8(salt),
                    params.opslimit, params.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::IOError("not enough memory to derive the key from the passphrase");
  }
  return key;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace kindred::crypto
