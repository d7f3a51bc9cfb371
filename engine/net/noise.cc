#include "engine/net/noise.h"

#include <sodium.h>

#include <cassert>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <span>

namespace kindred::net::noise {
namespace {

static_assert(kKeyBytes == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
static_assert(kTagBytes == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(kHashBytes == crypto_hash_sha256_BYTES);
static_assert(kHashBytes == crypto_auth_hmacsha256_BYTES);
static_assert(kDhBytes == crypto_scalarmult_BYTES);
static_assert(kProtocolName.size() <= kHashBytes);

// The reserved last nonce; a CipherState that reaches it is spent.
constexpr uint64_t kSpentNonce = std::numeric_limits<uint64_t>::max();

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string_view View(const uint8_t* data, size_t n) {
  return {reinterpret_cast<const char*>(data), n};
}

// HMAC-SHA-256 of the concatenation of `parts`, keyed with `key`.
void Hmac(std::string_view key, std::initializer_list<std::string_view> parts,
          uint8_t (&out)[kHashBytes]) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, Bytes(key), key.size());
  for (std::string_view part : parts) {
    crypto_auth_hmacsha256_update(&state, Bytes(part), part.size());
  }
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof state);
}

// HKDF(chaining_key, input_key_material, 2) as Noise defines it (section 4.3).
void Hkdf2(std::string_view chaining_key, std::string_view input_key_material,
           crypto::Secret<kHashBytes>* output1, crypto::Secret<kHashBytes>* output2) {
  uint8_t temp_key[kHashBytes];
  Hmac(chaining_key, {input_key_material}, temp_key);
  std::string_view temp = View(temp_key, kHashBytes);
  uint8_t out1[kHashBytes];
  uint8_t out2[kHashBytes];
  Hmac(temp, {"\x01"}, out1);
  Hmac(temp, {View(out1, kHashBytes), "\x02"}, out2);
  std::memcpy(output1->data(), out1, kHashBytes);
  std::memcpy(output2->data(), out2, kHashBytes);
  sodium_memzero(temp_key, sizeof temp_key);
  sodium_memzero(out1, sizeof out1);
  sodium_memzero(out2, sizeof out2);
}

// Message i (0-based) is written by the initiator when i is even.
Role WriterOf(int message_index) {
  return message_index % 2 == 0 ? Role::kInitiator : Role::kResponder;
}

}  // namespace

// ---------------------------------------------------------------------------
// CipherState

CipherState::CipherState(CipherState&& other) noexcept
    : key_(other.key_), has_key_(other.has_key_), nonce_(other.nonce_) {
  other.key_ = CipherKey();
  other.has_key_ = false;
}

CipherState& CipherState::operator=(CipherState&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    has_key_ = other.has_key_;
    nonce_ = other.nonce_;
    other.key_ = CipherKey();
    other.has_key_ = false;
  }
  return *this;
}

void CipherState::InitializeKey(const CipherKey& key) {
  key_ = key;
  has_key_ = true;
  nonce_ = 0;
}

void CipherState::FillNonce(uint8_t (&out)[12]) const {
  static_assert(sizeof out == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
  std::memset(out, 0, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(nonce_ >> (8 * i));
}

Status CipherState::EncryptWithAd(std::string_view ad, std::string_view plaintext,
                                  std::string* out) {
  if (!has_key_) {
    out->append(plaintext);
    return Status::Ok();
  }
  if (nonce_ == kSpentNonce) {
    return Status::FailedPrecondition("cipher has used all its nonces; cannot encrypt again");
  }
  uint8_t nonce[12];
  FillNonce(nonce);
  size_t base = out->size();
  out->resize(base + plaintext.size() + kTagBytes);
  unsigned long long written = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(out->data() + base),
                                            &written, Bytes(plaintext), plaintext.size(), Bytes(ad),
                                            ad.size(), nullptr, nonce, key_.data());
  out->resize(base + written);
  ++nonce_;
  return Status::Ok();
}

Status CipherState::DecryptWithAd(std::string_view ad, std::string_view ciphertext,
                                  std::string* out) {
  if (!has_key_) {
    out->append(ciphertext);
    return Status::Ok();
  }
  if (nonce_ == kSpentNonce) {
    return Status::FailedPrecondition("cipher has used all its nonces; cannot decrypt again");
  }
  if (ciphertext.size() < kTagBytes) {
    return Status::Unauthenticated("ciphertext is shorter than its authentication tag");
  }
  uint8_t nonce[12];
  FillNonce(nonce);
  size_t base = out->size();
  out->resize(base + ciphertext.size() - kTagBytes);
  unsigned long long written = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(
          reinterpret_cast<uint8_t*>(out->data() + base), &written, nullptr, Bytes(ciphertext),
          ciphertext.size(), Bytes(ad), ad.size(), nonce, key_.data()) != 0) {
    out->resize(base);
    return Status::Unauthenticated("ciphertext failed authentication");
  }
  out->resize(base + written);
  ++nonce_;
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// SymmetricState

SymmetricState::SymmetricState(std::string_view protocol_name) {
  // Every protocol Kindred speaks has a name of at most HASHLEN bytes, which
  // the spec pads with zeros instead of hashing.
  std::memset(hash_, 0, kHashBytes);
  if (protocol_name.size() <= kHashBytes) {
    std::memcpy(hash_, protocol_name.data(), protocol_name.size());
  } else {
    crypto_hash_sha256(hash_, Bytes(protocol_name), protocol_name.size());
  }
  std::memcpy(chaining_key_.data(), hash_, kHashBytes);
}

void SymmetricState::MixKey(std::string_view input_key_material) {
  crypto::Secret<kHashBytes> temp_key;
  Hkdf2(chaining_key_.view(), input_key_material, &chaining_key_, &temp_key);
  cipher_.InitializeKey(temp_key);
}

void SymmetricState::MixHash(std::string_view data) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, hash_, kHashBytes);
  crypto_hash_sha256_update(&state, Bytes(data), data.size());
  crypto_hash_sha256_final(&state, hash_);
}

Status SymmetricState::EncryptAndHash(std::string_view plaintext, std::string* out) {
  size_t base = out->size();
  KINDRED_RETURN_IF_ERROR(cipher_.EncryptWithAd(handshake_hash(), plaintext, out));
  MixHash(std::string_view(*out).substr(base));
  return Status::Ok();
}

Status SymmetricState::DecryptAndHash(std::string_view ciphertext, std::string* out) {
  KINDRED_RETURN_IF_ERROR(cipher_.DecryptWithAd(handshake_hash(), ciphertext, out));
  MixHash(ciphertext);
  return Status::Ok();
}

std::pair<CipherState, CipherState> SymmetricState::Split() const {
  crypto::Secret<kHashBytes> key1;
  crypto::Secret<kHashBytes> key2;
  Hkdf2(chaining_key_.view(), "", &key1, &key2);
  std::pair<CipherState, CipherState> ciphers;
  ciphers.first.InitializeKey(key1);
  ciphers.second.InitializeKey(key2);
  return ciphers;
}

// ---------------------------------------------------------------------------
// HandshakeState

HandshakeState::HandshakeState(Role role, std::string_view prologue,
                               const crypto::DhKeyPair& static_key, Random& random)
    : role_(role), random_(random), symmetric_(kProtocolName), static_(static_key) {
  symmetric_.MixHash(prologue);
}

std::span<const HandshakeState::Token> HandshakeState::PatternFor(int index) {
  static constexpr Token kMessage1[] = {Token::kE};
  static constexpr Token kMessage2[] = {Token::kE, Token::kEE, Token::kS, Token::kES};
  static constexpr Token kMessage3[] = {Token::kS, Token::kSE};
  switch (index) {
    case 0:
      return kMessage1;
    case 1:
      return kMessage2;
    default:
      return kMessage3;
  }
}

bool HandshakeState::IsMyTurnToWrite() const {
  return !failed_ && next_message_ < 3 && WriterOf(next_message_) == role_;
}

Status HandshakeState::MixDh(const crypto::Secret<kDhBytes>& secret, std::string_view public_key) {
  assert(public_key.size() == kDhBytes);
  crypto::Secret<kDhBytes> shared;
  // libsodium refuses (returns -1) when the result is all zeros, which
  // happens exactly when the peer sent a low-order point.
  if (crypto_scalarmult(shared.data(), secret.data(), Bytes(public_key)) != 0) {
    return Status::Unauthenticated(
        "peer's public key is a low-order point (the shared secret is zero)");
  }
  symmetric_.MixKey(shared.view());
  return Status::Ok();
}

Status HandshakeState::MixDhToken(Token token) {
  const bool initiator = role_ == Role::kInitiator;
  switch (token) {
    case Token::kEE:
      return MixDh(ephemeral_->secret_key, remote_ephemeral_);
    case Token::kES:  // initiator's ephemeral with responder's static
      return initiator ? MixDh(ephemeral_->secret_key, remote_static_)
                       : MixDh(static_.secret_key, remote_ephemeral_);
    case Token::kSE:  // initiator's static with responder's ephemeral
      return initiator ? MixDh(static_.secret_key, remote_ephemeral_)
                       : MixDh(ephemeral_->secret_key, remote_static_);
    case Token::kE:
    case Token::kS:
      break;
  }
  return Status::Internal("not a DH token");
}

Status HandshakeState::WriteMessage(std::string_view payload, std::string* message) {
  if (!IsMyTurnToWrite()) {
    return Status::FailedPrecondition(failed_
                                          ? "handshake has already failed"
                                          : "not this party's turn to write a handshake message");
  }
  Status status = WriteTokens(payload, message);
  if (!status.ok()) {
    failed_ = true;
    return status;
  }
  ++next_message_;
  return Status::Ok();
}

Status HandshakeState::WriteTokens(std::string_view payload, std::string* message) {
  std::string out;
  for (Token token : PatternFor(next_message_)) {
    if (token == Token::kE) {
      ephemeral_ = crypto::DhKeyPair::Generate(random_);
      out += ephemeral_->public_key;
      symmetric_.MixHash(ephemeral_->public_key);
    } else if (token == Token::kS) {
      KINDRED_RETURN_IF_ERROR(symmetric_.EncryptAndHash(static_.public_key, &out));
    } else {
      KINDRED_RETURN_IF_ERROR(MixDhToken(token));
    }
  }
  if (out.size() + payload.size() + (symmetric_.HasKey() ? kTagBytes : 0) > kMaxMessageBytes) {
    return Status::InvalidArgument("a handshake payload of " + std::to_string(payload.size()) +
                                   " bytes makes the message longer than 65535 bytes");
  }
  KINDRED_RETURN_IF_ERROR(symmetric_.EncryptAndHash(payload, &out));
  message->append(out);
  return Status::Ok();
}

Status HandshakeState::ReadMessage(std::string_view message, std::string* payload) {
  if (failed_ || next_message_ >= 3 || WriterOf(next_message_) == role_) {
    return Status::FailedPrecondition(failed_
                                          ? "handshake has already failed"
                                          : "not this party's turn to read a handshake message");
  }
  Status status = ReadTokens(message, payload);
  if (!status.ok()) {
    failed_ = true;
    return status.WithContext("handshake message " + std::to_string(next_message_ + 1));
  }
  ++next_message_;
  return Status::Ok();
}

Status HandshakeState::ReadTokens(std::string_view message, std::string* payload) {
  if (message.size() > kMaxMessageBytes) return Status::Corruption("longer than 65535 bytes");
  const Status too_short = Status::Corruption("too short");
  for (Token token : PatternFor(next_message_)) {
    if (token == Token::kE) {
      if (message.size() < kDhBytes) return too_short;
      remote_ephemeral_ = std::string(message.substr(0, kDhBytes));
      message.remove_prefix(kDhBytes);
      symmetric_.MixHash(remote_ephemeral_);
    } else if (token == Token::kS) {
      const size_t length = kDhBytes + (symmetric_.HasKey() ? kTagBytes : 0);
      if (message.size() < length) return too_short;
      std::string key;
      Status status = symmetric_.DecryptAndHash(message.substr(0, length), &key);
      if (!status.ok()) return status.WithContext("peer's static key");
      message.remove_prefix(length);
      remote_static_ = std::move(key);
    } else {
      KINDRED_RETURN_IF_ERROR(MixDhToken(token));
    }
  }
  if (symmetric_.HasKey() && message.size() < kTagBytes) return too_short;
  std::string plaintext;
  Status status = symmetric_.DecryptAndHash(message, &plaintext);
  if (!status.ok()) return status.WithContext("payload");
  payload->append(plaintext);
  return Status::Ok();
}

Result<TransportCiphers> HandshakeState::Split() const {
  if (!IsComplete()) return Status::FailedPrecondition("handshake is not complete");
  auto [initiator_to_responder, responder_to_initiator] = symmetric_.Split();
  if (role_ == Role::kInitiator) {
    return TransportCiphers{std::move(initiator_to_responder), std::move(responder_to_initiator)};
  }
  return TransportCiphers{std::move(responder_to_initiator), std::move(initiator_to_responder)};
}

}  // namespace kindred::net::noise
