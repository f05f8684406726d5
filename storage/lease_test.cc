#include "storage/lease.h"

#include <optional>
#include <random>

#include <gtest/gtest.h>

namespace pekonode::storage {
namespace {

TEST(Lease, CoversUpToTheDurableCeilingOnly) {
  lease l(100, 10);
  EXPECT_TRUE(l.covers(100));
  EXPECT_FALSE(l.covers(101));
  EXPECT_EQ(l.extend_for(101), 111u);
  l.made_durable(111);
  EXPECT_TRUE(l.covers(111));
  l.made_durable(50); // never backwards
  EXPECT_EQ(l.ceiling(), 111u);
}

TEST(Lease, AsksToExtendInTheLastHalfStep) {
  lease l(100, 10);
  EXPECT_FALSE(l.should_extend(90));
  EXPECT_FALSE(l.should_extend(95));
  EXPECT_TRUE(l.should_extend(96));
  EXPECT_TRUE(l.should_extend(100));
  EXPECT_TRUE(l.should_extend(200));
}

TEST(Lease, SaturatesAtTheTopAndHasAPositiveStep) {
  lease l(0, 0);
  EXPECT_EQ(l.step(), 1u);
  lease top(0, 10);
  EXPECT_EQ(top.extend_for(UINT64_MAX - 3), UINT64_MAX);
  EXPECT_EQ(incarnation_after_restart(UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(incarnation_after_restart(41), 42u);
}

TEST(Lease, HlcStepIsMillisecondsInThePhysicalPart) {
  EXPECT_EQ(hlc_lease_step(1), uint64_t{1} << 16);
  EXPECT_EQ(hlc_lease_step(10000) >> 16, 10000u);
}

// A counter used under the lease rule, with crashes at random moments
// (a pending extension is lost); after each restart the counter starts above
// the durable ceiling and is never at or below any value used before.
TEST(Lease, RestartedCounterBeatsEveryValueUsedBefore) {
  uint64_t seed = std::random_device{}();
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  uint64_t durable = 0;  // what the store holds
  uint64_t max_used = 0; // largest value ever used (sent, acknowledged)
  for (int run = 0; run < 200; ++run) {
    lease l(durable, 1 + rng() % 50);
    uint64_t v = incarnation_after_restart(l.ceiling());
    ASSERT_GT(v, max_used) << "run " << run;
    std::optional<uint64_t> pending;
    int steps = static_cast<int>(rng() % 300);
    for (int i = 0; i < steps; ++i) {
      if (pending && rng() % 3 == 0) { // the extension commits
        durable = std::max(durable, *pending);
        l.made_durable(*pending);
        pending.reset();
      }
      if (l.should_extend(v) && !pending)
        pending = l.extend_for(v);
      if (l.covers(v)) { // only covered values are used
        max_used = std::max(max_used, v);
        v += 1 + rng() % 5;
      }
    }
    // crash: `pending` is lost
  }
}

} // namespace
} // namespace pekonode::storage
