// Hybrid logical clock: physical milliseconds in the high 48 bits and a
// logical counter in the low 16. Never goes backwards, even when the wall
// clock does, and moves past any clock value observed from a peer.
#ifndef KINDRED_ENGINE_LOG_HLC_H_
#define KINDRED_ENGINE_LOG_HLC_H_

#include <cstdint>
#include <mutex>

#include "kindred/env.h"

namespace kindred::log {

inline constexpr int kHlcLogicalBits = 16;

// Milliseconds since the epoch encoded in an HLC value.
inline int64_t HlcMillis(uint64_t hlc) { return static_cast<int64_t>(hlc >> kHlcLogicalBits); }
inline uint64_t HlcFromMillis(int64_t ms, uint16_t logical = 0) {
  return (static_cast<uint64_t>(ms) << kHlcLogicalBits) | logical;
}

// Thread-safe. `clock` must outlive the HybridClock.
class HybridClock {
 public:
  explicit HybridClock(Clock& clock) : clock_(clock) {}
  // A value greater than every value returned or observed before.
  uint64_t Now();
  // Folds in a value seen in a peer's op, so later local values exceed it.
  void Observe(uint64_t remote);
  // The last value issued or observed.
  uint64_t Last() const;

 private:
  Clock& clock_;
  mutable std::mutex mu_;
  uint64_t last_ = 0;  // guarded by mu_
};

}  // namespace kindred::log

#endif  // KINDRED_ENGINE_LOG_HLC_H_
