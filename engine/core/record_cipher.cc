#include "engine/core/record_cipher.h"

#include <cstring>

namespace kindred::core {
namespace {

constexpr char kGcmKeyLabel[] = "kindred/records-gcm/1";
constexpr size_t kCounterBytes = 8;
constexpr size_t kGcmHeaderBytes = 1 + RecordCipher::kSaltBytes + kCounterBytes;
constexpr size_t kMaxOtherKeys = 64;

std::unique_ptr<crypto::AesGcmKey> DeriveGcmKey(const crypto::SymmetricKey& master,
                                                std::string_view salt) {
  std::string input(kGcmKeyLabel);
  input.append(salt);
  crypto::SecretString derived(crypto::KeyedHash(master, input, crypto::kKeyBytes));
  auto key = crypto::SymmetricKey::FromBytes(derived.str());
  return std::make_unique<crypto::AesGcmKey>(*key);  // 32 bytes: cannot fail
}

void GcmNonce(uint64_t counter, uint8_t (&nonce)[crypto::AesGcmKey::kNonceBytes]) {
  std::memset(nonce, 0, sizeof(nonce));
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
}

}  // namespace

NonceSequence::NonceSequence(Random& random) : prefix_(16, '\0') {
  random.Fill(reinterpret_cast<uint8_t*>(prefix_.data()), prefix_.size());
}

std::string NonceSequence::Next() {
  std::string nonce = prefix_;
  std::lock_guard<std::mutex> lock(mu_);
  crypto::PutU64(&nonce, ++counter_);
  return nonce;
}

RecordCipher::RecordCipher(const crypto::SymmetricKey& gcm_master,
                           const crypto::SymmetricKey& xchacha_key, Random& random, bool allow_aes)
    : gcm_master_(gcm_master), xchacha_key_(xchacha_key), nonces_(random) {
  if (allow_aes && crypto::AesGcmKey::Available()) {
    salt_.assign(kSaltBytes, '\0');
    random.Fill(reinterpret_cast<uint8_t*>(salt_.data()), salt_.size());
    key_ = DeriveGcmKey(gcm_master_, salt_);
  }
}

RecordCipher::~RecordCipher() = default;

void RecordCipher::Seal(std::string_view ad, std::string_view plain, std::string* out) {
  if (!key_) {
    const std::string nonce = nonces_.Next();
    out->reserve(out->size() + nonce.size() + plain.size() + crypto::kAeadTagBytes);
    out->append(nonce);
    crypto::AeadSeal(xchacha_key_, nonce, ad, plain, out);
    return;
  }
  const uint64_t counter = counter_.fetch_add(1, std::memory_order_relaxed) + 1;
  uint8_t nonce[crypto::AesGcmKey::kNonceBytes];
  GcmNonce(counter, nonce);
  out->reserve(out->size() + kGcmHeaderBytes + plain.size() + crypto::AesGcmKey::kTagBytes);
  out->push_back(static_cast<char>(kGcmForm));
  out->append(salt_);
  crypto::PutU64(out, counter);
  key_->Seal(nonce, ad, plain, out);
}

std::shared_ptr<const crypto::AesGcmKey> RecordCipher::KeyFor(std::string_view salt) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = others_.find(salt);
  if (it == others_.end()) {
    if (others_.size() >= kMaxOtherKeys) others_.clear();  // callers keep theirs alive
    it = others_.emplace(std::string(salt), DeriveGcmKey(gcm_master_, salt)).first;
  }
  return it->second;
}

Status RecordCipher::Open(std::string_view ad, std::string_view sealed, std::string* plain) const {
  if (sealed.size() >= kGcmHeaderBytes + crypto::AesGcmKey::kTagBytes &&
      static_cast<uint8_t>(sealed[0]) == kGcmForm) {
    if (!crypto::AesGcmKey::Available()) {
      return Status::FailedPrecondition(
          "a stored record is sealed with AES-256-GCM, which this processor cannot run");
    }
    const std::string_view salt = sealed.substr(1, kSaltBytes);
    uint8_t nonce[crypto::AesGcmKey::kNonceBytes];
    GcmNonce(crypto::GetU64(sealed.data() + 1 + kSaltBytes), nonce);
    const std::string_view body = sealed.substr(kGcmHeaderBytes);
    Status opened = key_ && salt == salt_ ? key_->Open(nonce, ad, body, plain)
                                          : KeyFor(salt)->Open(nonce, ad, body, plain);
    if (opened.ok()) return opened;
    // An XChaCha20-Poly1305 value whose random nonce happens to start with
    // the same byte: try that form too.
  }
  return crypto::AeadOpenRandomNonce(xchacha_key_, ad, sealed, plain);
}

}  // namespace kindred::core
