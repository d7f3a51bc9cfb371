// Safety words: a short string both people see after pairing and compare,
// e.g. "pencil saga youth lunch juggle". It is read from the pairing
// transcript hash, so it is the same on both sides exactly when both saw the
// same pairing messages, and differs (but for a 2^-50 chance) otherwise.
//
// Internal to kindred::pairing; PakeOutcome carries the string. Thread-safe.
#ifndef KINDRED_ENGINE_PAIRING_SAFETY_WORDS_H_
#define KINDRED_ENGINE_PAIRING_SAFETY_WORDS_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace kindred::pairing {

// Words in a safety string: 5 words of 10 bits each, 50 bits.
inline constexpr size_t kSafetyWordCount = 5;

// The safety words for a transcript hash (key_schedule.h's TranscriptHash),
// separated by single spaces: the first 50 bits, big-endian, of
// SHA-512(lv_cat("kindred-pairing-v1 safety words", transcript_hash)), in
// 10-bit groups, each an index into WordList().
std::string SafetyWords(std::string_view transcript_hash);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_SAFETY_WORDS_H_
