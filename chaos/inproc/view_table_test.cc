#include "chaos/inproc/view_table.h"

#include <gtest/gtest.h>

namespace pekonode::chaos::inproc {
namespace {

using membership::member_state;
using std::chrono::milliseconds;

time_point at(int ms) {
  return time_point{} + milliseconds(ms);
}

TEST(ViewTable, AllAliveReportsWhenEachObserverReachedTheCount) {
  view_table t{2};
  auto g0 = t.open(0);
  auto g1 = t.open(1);
  t.on_member(0, g0, "a", member_state::alive, 0, at(1));
  t.on_member(0, g0, "b", member_state::alive, 0, at(5));
  t.on_member(1, g1, "b", member_state::alive, 0, at(2));
  auto r = t.all_alive(2);
  EXPECT_EQ(r.observers, 2u);
  ASSERT_EQ(r.times.size(), 1u);
  EXPECT_FALSE(r.all());
  EXPECT_EQ(r.times[0], at(5));
  t.on_member(1, g1, "a", member_state::alive, 0, at(9));
  r = t.all_alive(2);
  EXPECT_TRUE(r.all());
  EXPECT_EQ(r.last(), at(9));
}

TEST(ViewTable, RepeatedStateKeepsItsFirstTime) {
  view_table t{1};
  auto g = t.open(0);
  t.on_member(0, g, "a", member_state::alive, 0, at(1));
  t.on_member(0, g, "a", member_state::alive, 1, at(7)); // tags update
  EXPECT_EQ(t.all_alive(1).times.at(0), at(1));
  t.on_member(0, g, "a", member_state::suspect, 1, at(8));
  EXPECT_EQ(t.alive_count(0), 0u);
  t.on_member(0, g, "a", member_state::alive, 2, at(9));
  EXPECT_EQ(t.all_alive(1).times.at(0), at(9));
}

TEST(ViewTable, MemberInSkipsTheExceptedAndClosedObservers) {
  view_table t{3};
  std::vector<uint64_t> g;
  for (size_t i = 0; i < 3; ++i)
    g.push_back(t.open(i));
  t.on_member(1, g[1], "x", member_state::dead, 3, at(10));
  t.on_member(2, g[2], "x", member_state::suspect, 3, at(11));
  auto dead_or_left = std::vector<member_state>{member_state::dead,
                                                member_state::left};
  auto r = t.member_in("x", dead_or_left, 0);
  EXPECT_EQ(r.observers, 2u);
  EXPECT_EQ(r.times.size(), 1u);
  t.close(2);
  r = t.member_in("x", dead_or_left, 0);
  EXPECT_TRUE(r.all());
  EXPECT_EQ(r.latencies(at(4)).at(0), milliseconds(6));
}

TEST(ViewTable, EventsOfAnOlderLifeAreIgnored) {
  view_table t{1};
  auto old_gen = t.open(0);
  t.on_member(0, old_gen, "a", member_state::alive, 0, at(1));
  auto gen = t.open(0);
  EXPECT_NE(gen, old_gen);
  EXPECT_EQ(t.alive_count(0), 0u);
  EXPECT_FALSE(t.on_member(0, old_gen, "b", member_state::alive, 0, at(2)));
  EXPECT_FALSE(t.state_of(0, "b").has_value());
  t.close(0);
  EXPECT_FALSE(t.on_member(0, gen, "b", member_state::alive, 0, at(3)));
  EXPECT_EQ(t.ignored(), 2u);
  EXPECT_EQ(t.active_count(), 0u);
  EXPECT_FALSE(t.all_alive(0).all()); // no observers: never "all"
}

TEST(ViewTable, KeyAtMatchesTheExactVersion) {
  view_table t{2};
  auto g0 = t.open(0);
  auto g1 = t.open(1);
  t.on_key(0, g0, "k", "1.0@a", at(3));
  t.on_key(1, g1, "k", "0.9@b", at(2));
  EXPECT_EQ(t.key_at("k", "1.0@a").times.size(), 1u);
  t.on_key(1, g1, "k", "1.0@a", at(6));
  auto r = t.key_at("k", "1.0@a");
  EXPECT_TRUE(r.all());
  EXPECT_EQ(r.last(), at(6));
}

TEST(Quantile, NearestRank) {
  std::vector<duration> xs;
  for (int i = 1; i <= 100; ++i)
    xs.push_back(milliseconds(i));
  EXPECT_EQ(quantile(xs, 0.5), milliseconds(50));
  EXPECT_EQ(quantile(xs, 0.99), milliseconds(99));
  EXPECT_EQ(quantile(xs, 1.0), milliseconds(100));
  EXPECT_EQ(quantile({}, 0.5), duration::zero());
}

} // namespace
} // namespace pekonode::chaos::inproc
