#include "engine/pairing/key_schedule.h"

#include <cstdint>
#include <cstring>

namespace kindred::pairing {
namespace {

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

crypto::SymmetricKey ExpandIsk(const cpace::Isk& isk, std::string_view label) {
  static_assert(crypto::kKeyBytes <= crypto_auth_hmacsha512_BYTES, "one HKDF block suffices");
  crypto_auth_hmacsha512_state state;
  crypto_auth_hmacsha512_init(&state, isk.data(), isk.size());
  crypto_auth_hmacsha512_update(&state, U8(label), label.size());
  const uint8_t counter = 0x01;
  crypto_auth_hmacsha512_update(&state, &counter, 1);
  crypto::Secret<crypto_auth_hmacsha512_BYTES> block;
  crypto_auth_hmacsha512_final(&state, block.data());
  sodium_memzero(&state, sizeof(state));

  crypto::SymmetricKey key;
  std::memcpy(key.data(), block.data(), key.size());
  return key;
}

SessionSecrets DeriveSessionSecrets(const cpace::Isk& isk) {
  return SessionSecrets{
      .initiator_confirm_key = ExpandIsk(isk, label::kConfirmInitiator),
      .responder_confirm_key = ExpandIsk(isk, label::kConfirmResponder),
      .session_key = ExpandIsk(isk, label::kSessionKey),
  };
}

std::string TranscriptHash(std::string_view sid, std::string_view transcript_ir) {
  std::string prefix = cpace::LvCat({label::kTranscript, sid});
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, U8(prefix), prefix.size());
  crypto_hash_sha512_update(&state, U8(transcript_ir), transcript_ir.size());
  std::string out(kTranscriptHashBytes, '\0');
  crypto_hash_sha512_final(&state, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

std::string ConfirmationTag(const crypto::SymmetricKey& key, std::string_view transcript_hash) {
  std::string tag(kTagBytes, '\0');
  crypto_auth_hmacsha512256(reinterpret_cast<uint8_t*>(tag.data()), U8(transcript_hash),
                            transcript_hash.size(), key.data());
  return tag;
}

bool TagMatches(std::string_view expected, std::string_view received) {
  return crypto::ConstantTimeEquals(expected, received);
}

}  // namespace kindred::pairing
