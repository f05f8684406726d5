#include "common/deadline_heap.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace pekonode {
namespace {

time_point at_ms(int64_t ms) {
  return time_point{} + std::chrono::milliseconds(ms);
}

TEST(DeadlineHeap, EmptyHasNoDeadline) {
  deadline_heap h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.earliest(), time_point::max());
  EXPECT_EQ(h.at(7), time_point::max());
  EXPECT_FALSE(h.erase(7));
  EXPECT_TRUE(h.valid());
}

TEST(DeadlineHeap, MovesTimersBothWays) {
  deadline_heap h;
  h.set(1, at_ms(30));
  h.set(2, at_ms(10));
  h.set(3, at_ms(20));
  EXPECT_EQ(h.top().key, 2u);
  h.set(2, at_ms(40)); // later: another takes the top
  EXPECT_EQ(h.top().key, 3u);
  EXPECT_EQ(h.earliest(), at_ms(20));
  h.set(1, at_ms(5)); // earlier
  EXPECT_EQ(h.top().key, 1u);
  EXPECT_EQ(h.at(2), at_ms(40));
  EXPECT_TRUE(h.erase(1));
  EXPECT_FALSE(h.contains(1));
  EXPECT_EQ(h.top().key, 3u);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_TRUE(h.valid());
}

TEST(DeadlineHeap, TiesComeOutBySmallerKey) {
  deadline_heap h;
  for (uint64_t k : {9, 3, 7, 1, 5})
    h.set(k, at_ms(100));
  std::vector<uint64_t> order;
  while (!h.empty()) {
    order.push_back(h.top().key);
    h.pop();
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 3, 5, 7, 9}));
}

// Random churn against a reference ordered set: after every operation the
// heap is a valid heap whose index agrees with it, its top is the
// reference's smallest (deadline, key), and draining it yields the
// reference order.
TEST(DeadlineHeap, MatchesReferenceUnderChurn) {
  std::mt19937_64 rng{42};
  deadline_heap h;
  std::set<std::pair<time_point, uint64_t>> ref;
  std::map<uint64_t, time_point> by_key;
  auto ref_set = [&](uint64_t k, time_point t) {
    if (auto it = by_key.find(k); it != by_key.end())
      ref.erase({it->second, k});
    by_key[k] = t;
    ref.insert({t, k});
  };
  auto ref_erase = [&](uint64_t k) {
    auto it = by_key.find(k);
    if (it == by_key.end()) return false;
    ref.erase({it->second, k});
    by_key.erase(it);
    return true;
  };
  for (int step = 0; step < 20000; ++step) {
    auto k = rng() % 200;
    // Few distinct deadlines, so ties are common.
    auto t = at_ms(static_cast<int64_t>(rng() % 50));
    switch (rng() % 4) {
      case 0:
      case 1:
        h.set(k, t);
        ref_set(k, t);
        break;
      case 2: EXPECT_EQ(h.erase(k), ref_erase(k)); break;
      case 3:
        if (!ref.empty()) {
          ASSERT_FALSE(h.empty());
          auto [rt, rk] = *ref.begin();
          EXPECT_EQ(h.top().key, rk);
          EXPECT_EQ(h.top().at, rt);
          h.pop();
          ref_erase(rk);
        }
        break;
    }
    ASSERT_TRUE(h.valid()) << "step " << step;
    ASSERT_EQ(h.size(), ref.size());
    EXPECT_EQ(h.earliest(),
              ref.empty() ? time_point::max() : ref.begin()->first);
    if (!ref.empty()) EXPECT_EQ(h.top().key, ref.begin()->second);
    EXPECT_EQ(h.at(k), by_key.count(k) ? by_key[k] : time_point::max());
  }
  std::vector<std::pair<time_point, uint64_t>> drained;
  while (!h.empty()) {
    drained.push_back({h.top().at, h.top().key});
    h.pop();
  }
  EXPECT_EQ(drained,
            (std::vector<std::pair<time_point, uint64_t>>(ref.begin(), ref.end())));
}

} // namespace
} // namespace pekonode
