// The round-trip estimator against RFC 6298's formulas, table-style.
#include "membership/rtt.h"

#include <gtest/gtest.h>

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;

const duration floor_ = milliseconds(20), ceil_ = milliseconds(150),
               initial = milliseconds(100), gran = milliseconds(1);

TEST(RttEstimator, InitialTimeoutBeforeAnySample) {
  rtt_estimator e;
  EXPECT_EQ(e.samples(), 0u);
  EXPECT_EQ(e.timeout(initial, floor_, ceil_, gran), initial);
  // The initial value obeys the bounds too.
  EXPECT_EQ(e.timeout(milliseconds(500), floor_, ceil_, gran), ceil_);
}

TEST(RttEstimator, FollowsRfc6298) {
  struct step {
    int sample_ms;
    double srtt_ms, rttvar_ms, timeout_ms;
  };
  // srtt = 7/8 srtt + 1/8 r; rttvar = 3/4 rttvar + 1/4 |srtt - r| (old srtt);
  // timeout = clamp(srtt + max(1 ms, 4 rttvar), 20, 150).
  const step table[] = {
    {40, 40, 20, 120},       // first: srtt = r, rttvar = r/2
    {40, 40, 15, 100},
    {80, 45, 21.25, 130},    // |40-80| = 40
    {8, 40.375, 25.1875, 141.125},
    {200, 60.328125, 58.796875, 150}, // clamped to the ceiling
  };
  rtt_estimator e;
  for (auto& s : table) {
    e.sample(milliseconds(s.sample_ms));
    auto ms = [](duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    EXPECT_NEAR(ms(e.srtt()), s.srtt_ms, 1e-3) << s.sample_ms;
    EXPECT_NEAR(ms(e.rttvar()), s.rttvar_ms, 1e-3) << s.sample_ms;
    EXPECT_NEAR(ms(e.timeout(initial, floor_, ceil_, gran)), s.timeout_ms, 1e-3)
      << s.sample_ms;
  }
  EXPECT_EQ(e.samples(), 5u);
}

TEST(RttEstimator, SteadyRoundTripsFallToTheFloorOrGranularity) {
  rtt_estimator e;
  for (int i = 0; i < 100; ++i) e.sample(milliseconds(2));
  EXPECT_EQ(e.timeout(initial, floor_, ceil_, gran), floor_);
  // Without a floor: srtt + the granularity once rttvar has decayed.
  EXPECT_EQ(e.timeout(initial, duration{1}, ceil_, gran), milliseconds(3));
  // A negative sample (clock oddity) counts as zero, never underflows.
  rtt_estimator z;
  z.sample(-milliseconds(5));
  EXPECT_EQ(z.srtt(), duration::zero());
  EXPECT_EQ(z.timeout(initial, floor_, ceil_, gran), floor_);
}

} // namespace
} // namespace pekonode::membership
