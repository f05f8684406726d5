#include "membership/broadcast_queue.h"

#include <gtest/gtest.h>

namespace pekonode::membership {
namespace {

auto unit_cost = [](std::size_t n) { return n; };

TEST(BroadcastQueue, NewestFirstAmongEqualTransmits) {
  broadcast_queue q;
  q.push("a", "A1");
  q.push("b", "B1");
  q.push("c", "C1");
  auto got = q.take(100, 10, unit_cost);
  EXPECT_EQ(got, (std::vector<std::string>{"C1", "B1", "A1"}));
}

TEST(BroadcastQueue, FewestTransmitsFirst) {
  broadcast_queue q;
  q.push("a", "A1");
  EXPECT_EQ(q.take(100, 10, unit_cost).size(), 1u); // a sent once
  q.push("b", "B1");
  auto got = q.take(2, 10, unit_cost); // room for one
  EXPECT_EQ(got, (std::vector<std::string>{"B1"}));
  got = q.take(2, 10, unit_cost); // both sent once now: newest (b) first
  EXPECT_EQ(got, (std::vector<std::string>{"B1"}));
}

TEST(BroadcastQueue, DroppedAfterLimit) {
  broadcast_queue q;
  q.push("a", "A1");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(q.take(100, 3, unit_cost).size(), 1u);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.take(100, 3, unit_cost).empty());
}

TEST(BroadcastQueue, NewerUpdateInvalidatesOlderAboutSameMember) {
  broadcast_queue q;
  q.push("a", "A1");
  q.take(100, 10, unit_cost);
  q.push("a", "A2");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.take(100, 10, unit_cost), (std::vector<std::string>{"A2"}));
}

TEST(BroadcastQueue, LargeEntrySkippedNotBlocking) {
  broadcast_queue q;
  q.push("small", "s");
  q.push("big", std::string(50, 'x'));
  auto got = q.take(10, 10, unit_cost);
  EXPECT_EQ(got, (std::vector<std::string>{"s"}));
  std::string big;
  EXPECT_TRUE(q.take_oversize(40, 10, big));
  EXPECT_EQ(big.size(), 50u);
  EXPECT_FALSE(q.take_oversize(60, 10, big));
}

TEST(BroadcastQueue, BudgetRespected) {
  broadcast_queue q;
  for (int i = 0; i < 100; ++i) q.push("m" + std::to_string(i), std::string(10, 'x'));
  auto got = q.take(95, 10, [](std::size_t n) { return n + 2; });
  EXPECT_EQ(got.size(), 7u);
}

TEST(BroadcastQueue, ScanStopsOnceNothingCanFit) {
  // A full packet must not walk the whole queue: with the budget below the
  // smallest update, take() stops, and every update keeps its transmits.
  broadcast_queue q;
  for (int i = 0; i < 1000; ++i) q.push("m" + std::to_string(i), std::string(10, 'x'));
  EXPECT_TRUE(q.take(9, 10, unit_cost).empty());
  EXPECT_EQ(q.size(), 1000u);
  // One small update behind many large ones is still found within the skip
  // bound; past it, the packet goes out with what it has.
  broadcast_queue r;
  r.push("small", "s");
  for (int i = 0; i < 8; ++i) r.push("big" + std::to_string(i), std::string(50, 'x'));
  EXPECT_EQ(r.take(10, 10, unit_cost), (std::vector<std::string>{"s"}));
}

TEST(BroadcastQueue, OversizePicksLargestAndCountsTransmits) {
  broadcast_queue q;
  q.push("a", std::string(60, 'a'));
  q.push("b", std::string(80, 'b'));
  q.push("c", "c");
  std::string out;
  ASSERT_TRUE(q.take_oversize(50, 2, out));
  EXPECT_EQ(out, std::string(80, 'b'));
  ASSERT_TRUE(q.take_oversize(50, 2, out));
  EXPECT_EQ(out, std::string(80, 'b'));
  ASSERT_TRUE(q.take_oversize(50, 2, out)); // b hit its limit: a is next
  EXPECT_EQ(out, std::string(60, 'a'));
  EXPECT_EQ(q.size(), 2u);
  q.erase("a");
  EXPECT_FALSE(q.take_oversize(50, 2, out));
  EXPECT_EQ(q.take(100, 2, unit_cost), (std::vector<std::string>{"c"}));
}

} // namespace
} // namespace pekonode::membership
