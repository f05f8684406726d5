#include "membership/awareness.h"

#include <gtest/gtest.h>

namespace pekonode::membership {
namespace {

TEST(Awareness, ClampsToRange) {
  awareness a(8);
  a.apply(-3);
  EXPECT_EQ(a.score(), 0);
  a.apply(5);
  EXPECT_EQ(a.score(), 5);
  a.apply(10);
  EXPECT_EQ(a.score(), 7);
  a.apply(-1);
  EXPECT_EQ(a.score(), 6);
}

TEST(Awareness, ScalesDurations) {
  awareness a(8);
  EXPECT_EQ(a.scale(std::chrono::seconds(1)), std::chrono::seconds(1));
  a.apply(2);
  EXPECT_EQ(a.scale(std::chrono::seconds(1)), std::chrono::seconds(3));
  a.apply(100);
  EXPECT_EQ(a.scale(std::chrono::milliseconds(500)), std::chrono::seconds(4));
}

} // namespace
} // namespace pekonode::membership
