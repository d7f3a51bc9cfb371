#include "engine/log/hlc.h"

#include <algorithm>

namespace kindred::log {

uint64_t HybridClock::Now() {
  uint64_t physical = HlcFromMillis(clock_.NowMicros() / 1000);
  std::lock_guard<std::mutex> lock(mu_);
  // If the wall clock is ahead, jump to it with a zero counter; otherwise
  // (clock behind or equal) advance the counter, which may carry into the
  // millisecond part: the value stays strictly increasing either way.
  last_ = std::max(physical, last_ + 1);
  return last_;
}

void HybridClock::Observe(uint64_t remote) {
  std::lock_guard<std::mutex> lock(mu_);
  last_ = std::max(last_, remote);
}

uint64_t HybridClock::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

}  // namespace kindred::log
