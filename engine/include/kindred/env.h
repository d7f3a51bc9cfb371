// The operating system, behind small interfaces, so tests can be
// deterministic: a clock, a source of randomness and a few file operations.
// After LevelDB's Env.
#ifndef KINDRED_ENV_H_
#define KINDRED_ENV_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred {

// Wall-clock time. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch. May jump backwards (NTP, user).
  virtual int64_t NowMicros() = 0;
};

// Cryptographically secure random bytes. Implementations must be thread-safe.
class Random {
 public:
  virtual ~Random() = default;
  // Fills `out[0, n)` with random bytes.
  virtual void Fill(uint8_t* out, size_t n) = 0;
};

// The few file operations Kindred does outside RocksDB (the key file).
// Implementations must be thread-safe.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual bool Exists(const std::string& path) = 0;
  // Creates `path` and missing parents with mode 0700.
  virtual Status CreateDirs(const std::string& path) = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Writes `data` to `path` atomically (temp file, fsync, rename) with the given mode.
  virtual Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) = 0;
};

// The three together. Does not own its parts unless made by Env::System().
class Env {
 public:
  virtual ~Env() = default;
  virtual Clock& clock() = 0;
  virtual Random& random() = 0;
  virtual FileSystem& fs() = 0;

  // The real operating system. The returned object is immutable and lives
  // for the whole process; it is stateless, so sharing it is safe.
  static Env& System();
};

}  // namespace kindred

#endif  // KINDRED_ENV_H_
