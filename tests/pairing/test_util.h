// Helpers shared by the pairing tests: deterministic randomness, hex, and
// locating the committed test vectors.
#ifndef KINDRED_TESTS_PAIRING_TEST_UTIL_H_
#define KINDRED_TESTS_PAIRING_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "kindred/env.h"
#include "kindred/ids.h"

namespace kindred::pairing::testing {

// A reproducible stream of bytes from a seed (ChaCha20 keyed by the seed, via
// randombytes_buf_deterministic, re-keyed per call). Not thread-safe.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : seed_(seed) {}
  void Fill(uint8_t* out, size_t n) override {
    uint8_t key[randombytes_SEEDBYTES];
    uint8_t input[16];
    for (int i = 0; i < 8; ++i) {
      input[i] = static_cast<uint8_t>(seed_ >> (8 * i));
      input[8 + i] = static_cast<uint8_t>(calls_ >> (8 * i));
    }
    ++calls_;
    crypto_generichash(key, sizeof(key), input, sizeof(input), nullptr, 0);
    randombytes_buf_deterministic(out, n, key);
  }

 private:
  uint64_t seed_;
  uint64_t calls_ = 0;
};

// Hands out exactly the given bytes, then zeros (and records the overrun).
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::string bytes) : bytes_(std::move(bytes)) {}
  void Fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      if (pos_ < bytes_.size()) {
        out[i] = static_cast<uint8_t>(bytes_[pos_++]);
      } else {
        out[i] = 0;
        overrun_ = true;
      }
    }
  }
  bool overrun() const { return overrun_; }
  size_t consumed() const { return pos_; }

 private:
  std::string bytes_;
  size_t pos_ = 0;
  bool overrun_ = false;
};

// Decodes hex that the test itself controls; fails the test on bad input.
inline std::string Unhex(std::string_view hex) {
  auto bytes = FromHex(hex);
  EXPECT_TRUE(bytes.ok()) << "bad hex in test: " << hex;
  return bytes.ok() ? *bytes : std::string();
}

// The path of a committed file in tests/pairing/: under $KINDRED_SOURCE_DIR
// (set by ctest), else relative to the working directory, else under the
// source directory recorded at build time.
inline std::string PairingTestDataPath(std::string_view name) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* dir = std::getenv("KINDRED_SOURCE_DIR"); dir && *dir) {
    candidates.push_back(fs::path(dir) / "tests" / "pairing" / name);
  }
  candidates.push_back(fs::path("tests") / "pairing" / name);
#ifdef KINDRED_PAIRING_TESTDATA_DIR
  candidates.push_back(fs::path(KINDRED_PAIRING_TESTDATA_DIR) / name);
#endif
  for (const auto& p : candidates) {
    std::error_code ec;
    if (fs::exists(p, ec)) return p.string();
  }
  return candidates.front().string();
}

inline std::string ReadFileOrFail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path
                         << " (set KINDRED_SOURCE_DIR or run from the source tree)";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kindred::pairing::testing

#endif  // KINDRED_TESTS_PAIRING_TEST_UTIL_H_
