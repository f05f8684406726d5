#include "membership/suspicion.h"

#include <gtest/gtest.h>

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SuspicionTimeout, MinScalesWithLog10OfN) {
  struct row { std::size_t n; duration want; };
  for (auto r : {row{5, seconds(4)}, row{10, seconds(4)}, row{100, seconds(8)},
                 row{1000, seconds(12)}}) {
    auto got = suspicion_min_timeout(4, r.n, seconds(1));
    EXPECT_NEAR(std::chrono::duration<double>(got).count(),
                std::chrono::duration<double>(r.want).count(), 1e-6) << r.n;
  }
}

TEST(SuspicionTimeout, ShrinksWithConfirmations) {
  // memberlist's table: n=6, k=3, min 500 ms, max 1000 ms.
  struct row { std::size_t c; int want_ms; };
  for (auto r : {row{0, 1000}, row{1, 750}, row{2, 604}, row{3, 500}, row{4, 500}}) {
    auto got = suspicion_timeout(r.c, 3, milliseconds(500), milliseconds(1000));
    double got_ms = std::chrono::duration<double, std::milli>(got).count();
    EXPECT_NEAR(got_ms, r.want_ms, 1.0) << r.c;
  }
}

TEST(SuspicionTimeout, NoExpectedConfirmationsMeansMin) {
  EXPECT_EQ(suspicion_timeout(0, 0, seconds(2), seconds(12)), seconds(2));
  EXPECT_EQ(suspicion_expected_confirmations(4, 3), 0u);
  EXPECT_EQ(suspicion_expected_confirmations(4, 4), 2u);
  EXPECT_EQ(suspicion_expected_confirmations(2, 100), 0u);
}

TEST(Suspicion, ConfirmationsCountOncePerSuspecterAndMoveDeadline) {
  time_point t0{seconds(100)};
  suspicion s("a", 2, seconds(4), seconds(24), t0);
  EXPECT_EQ(s.deadline(), t0 + seconds(24));
  EXPECT_FALSE(s.confirm("a"));
  EXPECT_TRUE(s.confirm("b"));
  EXPECT_FALSE(s.confirm("b"));
  auto after_one = s.deadline();
  EXPECT_LT(after_one, t0 + seconds(24));
  EXPECT_TRUE(s.confirm("c"));
  EXPECT_EQ(s.deadline(), t0 + seconds(4));
  EXPECT_FALSE(s.confirm("d")); // already at k: no news, nothing to re-gossip
}

} // namespace
} // namespace pekonode::membership
