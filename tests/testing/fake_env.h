// Deterministic stand-ins for the OS, for tests: a settable clock and a
// seeded random source over the real file system.
#ifndef KINDRED_TESTS_TESTING_FAKE_ENV_H_
#define KINDRED_TESTS_TESTING_FAKE_ENV_H_

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "kindred/env.h"

namespace kindred::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t micros = 1'780'000'000'000'000) : now_(micros) {}
  int64_t NowMicros() override { return now_.load(); }
  void Set(int64_t micros) { now_ = micros; }
  void Advance(int64_t micros) { now_ += micros; }

 private:
  std::atomic<int64_t> now_;
};

// Not cryptographically secure: for tests only.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : rng_(seed) {}
  void Fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(rng_());
  }

 private:
  std::mt19937_64 rng_;
};

// The real file system with a fake clock and seeded randomness.
class TestEnv final : public Env {
 public:
  explicit TestEnv(uint64_t seed = 1) : random_(seed) {}
  Clock& clock() override { return clock_; }
  Random& random() override { return random_; }
  FileSystem& fs() override { return Env::System().fs(); }
  FakeClock& fake_clock() { return clock_; }

 private:
  FakeClock clock_;
  SeededRandom random_;
};

// A fresh directory, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kindred-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace kindred::testing

#endif  // KINDRED_TESTS_TESTING_FAKE_ENV_H_
