// The word list for invite codes and safety words: 1024 short, common English
// words (4 to 7 lowercase letters) whose first three letters are all
// different, so three letters name a word and two words never start alike.
//
// The list itself is wordlist.inc, committed and compiled in. Changing it
// changes every invite code and safety string: treat it as part of the
// pairing protocol (bump kPairingProtocolVersion in messages.h).
//
// Internal to kindred::pairing. All functions are thread-safe.
#ifndef KINDRED_ENGINE_PAIRING_WORDLIST_H_
#define KINDRED_ENGINE_PAIRING_WORDLIST_H_

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace kindred::pairing {

inline constexpr size_t kWordListSize = 1024;
// Each word carries log2(kWordListSize) bits.
inline constexpr size_t kBitsPerWord = 10;
static_assert(size_t{1} << kBitsPerWord == kWordListSize);
// How many leading letters identify a word.
inline constexpr size_t kUniquePrefixLetters = 3;

// All words, sorted.
std::span<const std::string_view> WordList();

// The word at `index`. REQUIRES: index < kWordListSize.
std::string_view WordAt(size_t index);

// The index of `word` (lowercase), which may also be shortened to any prefix
// of at least kUniquePrefixLetters letters ("lan" or "lant" for "lantern").
// nullopt for anything else.
std::optional<size_t> FindWord(std::string_view word);

// The list words a mistyped `word` (lowercase) most likely meant, best first,
// at most kMaxSuggestions: those fewest edits away (insertion, deletion,
// substitution, or swap of neighbours; at most two), a word sharing its first
// three letters ahead of the others; or, when nothing is that close, the word
// sharing its first three letters. Empty if nothing is close.
inline constexpr size_t kMaxSuggestions = 3;
std::vector<std::string_view> SuggestWords(std::string_view word);

}  // namespace kindred::pairing

#endif  // KINDRED_ENGINE_PAIRING_WORDLIST_H_
