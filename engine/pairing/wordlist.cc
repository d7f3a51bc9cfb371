#include "engine/pairing/wordlist.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <string>
#include <vector>

namespace kindred::pairing {
namespace {

constexpr std::array<std::string_view, kWordListSize> kWords = {
#include "engine/pairing/wordlist.inc"
};

constexpr bool AllWellFormed() {
  for (std::string_view w : kWords) {
    if (w.size() < 4 || w.size() > 7) return false;
    for (char c : w) {
      if (c < 'a' || c > 'z') return false;
    }
  }
  return true;
}

constexpr bool PrefixesUnique() {
  // Sorted, so words sharing a prefix would be neighbours.
  for (size_t i = 1; i < kWords.size(); ++i) {
    if (kWords[i - 1].substr(0, kUniquePrefixLetters) ==
        kWords[i].substr(0, kUniquePrefixLetters)) {
      return false;
    }
  }
  return true;
}

static_assert(std::ranges::is_sorted(kWords), "wordlist.inc must be sorted");
static_assert(AllWellFormed(), "every word must be 4 to 7 lowercase letters");
static_assert(PrefixesUnique(), "no two words may share their first three letters");

// Optimal string alignment distance (Levenshtein plus swaps of neighbours).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::span<const std::string_view> WordList() { return kWords; }

std::string_view WordAt(size_t index) {
  assert(index < kWords.size());
  return kWords[index];
}

std::optional<size_t> FindWord(std::string_view word) {
  if (word.size() < kUniquePrefixLetters) return std::nullopt;
  // The first word not less than `word`; if `word` is a word or a prefix of
  // one, that is it (prefixes sort before their extensions).
  auto it = std::ranges::lower_bound(kWords, word);
  if (it == kWords.end() || !it->starts_with(word)) return std::nullopt;
  return static_cast<size_t>(it - kWords.begin());
}

std::vector<std::string_view> SuggestWords(std::string_view word) {
  std::optional<size_t> same_prefix;
  if (word.size() >= kUniquePrefixLetters) {
    same_prefix = FindWord(word.substr(0, kUniquePrefixLetters));
  }

  constexpr size_t kMaxDistance = 2;
  size_t best_distance = kMaxDistance;
  std::vector<std::string_view> best;
  for (size_t i = 0; i < kWords.size(); ++i) {
    size_t distance = EditDistance(word, kWords[i]);
    if (distance > best_distance) continue;
    if (distance < best_distance) {
      best_distance = distance;
      best.clear();
    }
    if (same_prefix == i) {
      best.insert(best.begin(), kWords[i]);
    } else {
      best.push_back(kWords[i]);
    }
  }
  if (best.empty() && same_prefix) best.push_back(kWords[*same_prefix]);
  if (best.size() > kMaxSuggestions) best.resize(kMaxSuggestions);
  return best;
}

}  // namespace kindred::pairing
