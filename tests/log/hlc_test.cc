#include "engine/log/hlc.h"

#include <gtest/gtest.h>

#include "tests/testing/fake_env.h"

namespace kindred::log {
namespace {

TEST(HybridClockTest, FollowsTheWallClockWhenItMovesForward) {
  testing::FakeClock clock(1'000'000'000);
  HybridClock hlc(clock);
  uint64_t a = hlc.Now();
  EXPECT_EQ(HlcMillis(a), 1'000'000);
  clock.Advance(5'000);
  uint64_t b = hlc.Now();
  EXPECT_EQ(HlcMillis(b), 1'000'005);
  EXPECT_GT(b, a);
}

TEST(HybridClockTest, NeverGoesBackwardsWhenTheWallClockDoes) {
  testing::FakeClock clock(2'000'000'000);
  HybridClock hlc(clock);
  uint64_t last = hlc.Now();
  // The clock jumps back an hour, then stalls, then crawls: values keep rising.
  clock.Advance(-3'600'000'000LL);
  for (int i = 0; i < 100'000; ++i) {
    if (i % 1000 == 0) clock.Advance(1);
    uint64_t now = hlc.Now();
    ASSERT_GT(now, last) << "at step " << i;
    last = now;
  }
  // The physical part stays at the latest time ever seen.
  EXPECT_GE(HlcMillis(last), 2'000'000);
}

TEST(HybridClockTest, MovesPastAClockValueSeenFromAPeer) {
  testing::FakeClock clock(1'000'000'000);
  HybridClock hlc(clock);
  uint64_t peer = HlcFromMillis(5'000'000, 7);  // a peer whose clock runs ahead
  hlc.Observe(peer);
  EXPECT_GT(hlc.Now(), peer);
  hlc.Observe(HlcFromMillis(1, 0));  // an old value changes nothing
  EXPECT_GT(hlc.Now(), peer);
}

TEST(HybridClockTest, CountsWithinOneMillisecond) {
  testing::FakeClock clock(1'000'000'000);
  HybridClock hlc(clock);
  uint64_t a = hlc.Now(), b = hlc.Now(), c = hlc.Now();
  EXPECT_EQ(HlcMillis(a), HlcMillis(c));
  EXPECT_EQ(b, a + 1);
  EXPECT_EQ(c, b + 1);
}

}  // namespace
}  // namespace kindred::log
