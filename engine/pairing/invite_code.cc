#include "engine/pairing/invite_code.h"

#include <cassert>
#include <cmath>
#include <vector>

#include "engine/pairing/wordlist.h"

namespace kindred::pairing {
namespace {

static_assert(InviteCode::CodeCount() ==
              uint64_t{InviteCode::kMaxNumber - InviteCode::kMinNumber + 1} * kWordListSize *
                  kWordListSize * kWordListSize);

constexpr std::string_view kExample = "47-orbit-maple-lantern";

bool IsSeparator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-' || c == '_' || c == '.' ||
         c == ',';
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Lowercases ASCII letters and splits on separators.
std::vector<std::string> Tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  for (char c : text) {
    if (IsSeparator(c)) {
      if (!current.empty()) tokens.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

// 'text', with bytes outside printable ASCII shown as \xNN so that a message
// never carries raw binary to a terminal.
std::string Quoted(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : s) {
    auto b = static_cast<uint8_t>(c);
    if (b >= 0x20 && b < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  return out + "'";
}

}  // namespace

uint32_t UniformBelow(Random& random, uint32_t bound) {
  assert(bound > 0);
  // Accept only values below the largest multiple of `bound` that fits.
  const uint64_t range = uint64_t{1} << 32;
  const uint64_t limit = range - range % bound;
  for (;;) {
    uint8_t b[4];
    random.Fill(b, sizeof(b));
    uint64_t v = (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) | (uint64_t{b[2]} << 8) | b[3];
    if (v < limit) return static_cast<uint32_t>(v % bound);
  }
}

InviteCode InviteCode::Generate(Random& random) {
  int number = kMinNumber + static_cast<int>(UniformBelow(random, kMaxNumber - kMinNumber + 1));
  std::array<uint16_t, kWords> words;
  for (auto& w : words) w = static_cast<uint16_t>(UniformBelow(random, kWordListSize));
  return InviteCode(number, words);
}

Result<InviteCode> InviteCode::Parse(std::string_view text) {
  std::vector<std::string> tokens = Tokenize(text);
  if (tokens.empty()) {
    return Status::InvalidArgument("the invite code is empty; it looks like " +
                                   std::string(kExample));
  }
  if (!IsDigits(tokens[0])) {
    return Status::InvalidArgument("an invite code starts with its number, like " +
                                   std::string(kExample) + "; " + Quoted(tokens[0]) +
                                   " is not a number");
  }
  // Strip leading zeros, then range-check without overflowing.
  std::string_view digits = tokens[0];
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  int number = digits.size() <= 3 ? std::stoi(std::string(digits)) : kMaxNumber + 1;
  if (number < kMinNumber || number > kMaxNumber) {
    return Status::InvalidArgument(
        "the number in an invite code is between " + std::to_string(kMinNumber) + " and " +
        std::to_string(kMaxNumber) + "; " + Quoted(tokens[0]) + " is not");
  }
  const size_t word_count = tokens.size() - 1;
  if (word_count != kWords) {
    return Status::InvalidArgument("an invite code has a number and " + std::to_string(kWords) +
                                   " words, like " + std::string(kExample) + "; this one has " +
                                   std::to_string(word_count) +
                                   (word_count == 1 ? " word" : " words"));
  }
  std::array<uint16_t, kWords> words;
  std::string problems;
  for (size_t i = 0; i < kWords; ++i) {
    const std::string& token = tokens[i + 1];
    if (auto index = FindWord(token)) {
      words[i] = static_cast<uint16_t>(*index);
      continue;
    }
    if (!problems.empty()) problems += "; ";
    problems += Quoted(token) + " is not a word invite codes use";
    std::vector<std::string_view> suggestions = SuggestWords(token);
    if (!suggestions.empty()) {
      problems += " (did you mean ";
      for (size_t s = 0; s < suggestions.size(); ++s) {
        if (s > 0) problems += s + 1 == suggestions.size() ? " or " : ", ";
        problems += Quoted(suggestions[s]);
      }
      problems += "?)";
    }
  }
  if (!problems.empty()) return Status::InvalidArgument(problems);
  return InviteCode(number, words);
}

std::string InviteCode::ToString() const {
  std::string out = std::to_string(number_);
  for (uint16_t w : words_) {
    out += '-';
    out += WordAt(w);
  }
  return out;
}

crypto::SecretString InviteCode::Password() const {
  crypto::SecretString password;
  password.str().reserve(2 + kWords * 8);  // no reallocation, no stray copies
  password.str() += std::to_string(number_);
  for (uint16_t w : words_) {
    password.str() += '-';
    password.str() += WordAt(w);
  }
  return password;
}

double InviteCode::EntropyBits() { return std::log2(static_cast<double>(CodeCount())); }

}  // namespace kindred::pairing
