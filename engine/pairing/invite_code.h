// Invite codes: the short secret one person reads aloud and the other types,
// e.g. "47-orbit-maple-lantern". It is the password of the pairing PAKE.
//
// Format: a number from 10 to 99, then three words from the word list
// (wordlist.h), joined by dashes. 90 * 1024^3 = 96,636,764,160 codes, about
// 36.5 bits, all equally likely. CPace lets an attacker test one guess per
// pairing run, and a code is single-use: the inviter discards it after one
// run, successful or not (the CLI enforces that; this class does not).
//
// Value type; thread-compatible. The code is a secret until it is used: do
// not log it.
#ifndef KINDRED_ENGINE_PAIRING_INVITE_CODE_H_
#define KINDRED_ENGINE_PAIRING_INVITE_CODE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/crypto/crypto.h"
#include "engine/pairing/wordlist.h"
#include "kindred/env.h"
#include "kindred/result.h"

namespace kindred::pairing {

class InviteCode {
 public:
  static constexpr int kMinNumber = 10;
  static constexpr int kMaxNumber = 99;
  static constexpr size_t kWords = 3;

  // A uniformly random code, drawn from `random` (used only during the call).
  static InviteCode Generate(Random& random);

  // Parses what a person typed. Forgiving: any case; words separated by
  // dashes, spaces, underscores, dots or commas, repeated or mixed; leading
  // and trailing separators; leading zeros in the number; and each word may
  // be shortened to its first three or more letters. InvalidArgument, with a
  // message for the person, when the number is missing or out of range, the
  // word count is wrong, or a word is not in the list (the message names the
  // word and, when one is close, suggests it).
  static Result<InviteCode> Parse(std::string_view text);

  // The canonical form: "47-orbit-maple-lantern".
  std::string ToString() const;

  // The PAKE password (CPace PRS): the canonical form as ASCII bytes, so any
  // accepted spelling of the same code gives the same password.
  crypto::SecretString Password() const;

  int number() const { return number_; }
  // Indexes into WordList(), in order.
  const std::array<uint16_t, kWords>& word_indices() const { return words_; }

  // Number of distinct codes, and log2 of it (the entropy of Generate()).
  static constexpr uint64_t CodeCount() {
    uint64_t n = kMaxNumber - kMinNumber + 1;
    for (size_t i = 0; i < kWords; ++i) n *= kWordListSize;
    return n;
  }
  static double EntropyBits();

  bool operator==(const InviteCode&) const = default;

 private:
  InviteCode(int number, const std::array<uint16_t, kWords>& words)
      : number_(number), words_(words) {}

  int number_;
  std::array<uint16_t, kWords> words_;
};

// Returns a uniform integer in [0, bound) from `random`, by rejection (no
// modulo bias). REQUIRES: 0 < bound <= 2^32 - 1.
uint32_t UniformBelow(Random& random, uint32_t bound);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_INVITE_CODE_H_
