#include "engine/pairing/safety_words.h"

#include <sodium.h>

#include <cstdint>

#include "engine/pairing/cpace.h"
#include "engine/pairing/key_schedule.h"
#include "engine/pairing/wordlist.h"

namespace kindred::pairing {

static_assert(kSafetyWordCount * kBitsPerWord <= 64, "bits are read from one uint64");

std::string SafetyWords(std::string_view transcript_hash) {
  std::string input = cpace::LvCat({label::kSafetyWords, transcript_hash});
  uint8_t digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(digest, reinterpret_cast<const uint8_t*>(input.data()), input.size());

  uint64_t bits = 0;
  for (size_t i = 0; i < 8; ++i) bits = (bits << 8) | digest[i];

  std::string out;
  for (size_t i = 0; i < kSafetyWordCount; ++i) {
    size_t shift = 64 - kBitsPerWord * (i + 1);
    size_t index = (bits >> shift) & (kWordListSize - 1);
    if (i > 0) out += ' ';
    out += WordAt(index);
  }
  return out;
}

}  // namespace kindred::pairing
