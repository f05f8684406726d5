// The rumour queue alone: invalidation by newer versions, transmit order,
// packing around entries that do not fit, the retransmit limit and the bound.

#include "metadata/rumours.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pekonode::metadata {
namespace {

version ver(uint64_t ms, std::string origin = "n1") {
  return {make_hlc(ms, 0), std::move(origin)};
}

// Stores `value` under `key` at `v`; returns the version for push().
version write(store& s, const std::string& key, const version& v,
              std::string value = "v") {
  entry e;
  e.value = std::move(value);
  e.ver = v;
  EXPECT_EQ(s.merge(key, std::move(e)), ec::ok);
  return v;
}

std::vector<std::string> take_all(const rumour_queue& q, const store& s) {
  return q.pack(s, [](const std::string&, const entry&) { return true; });
}

TEST(RetransmitLimit, GrowsWithLogOfClusterSize) {
  struct row {
    unsigned mult;
    size_t peers;
    unsigned want;
  };
  // N = peers + 1; limit = mult * max(1, ceil(log10(N + 1))).
  const row rows[] = {
    {4, 0, 4},  {4, 6, 4},   {4, 8, 4},   {4, 9, 8},
    {4, 98, 8}, {4, 99, 12}, {5, 999, 20}, {1, 3, 1},
  };
  for (auto& r : rows)
    EXPECT_EQ(retransmit_limit(r.mult, r.peers), r.want)
      << "mult " << r.mult << " peers " << r.peers;
}

TEST(RumourQueue, NewerVersionReplacesTheRumourAndRestartsItsCount) {
  store s;
  rumour_queue q(16);
  q.push("k", write(s, "k", ver(10)));
  q.sent("k", 4);
  q.sent("k", 4);
  EXPECT_EQ(q.sends("k"), 2u);
  q.push("k", write(s, "k", ver(20)));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_TRUE(q.holds("k", ver(20)));
  EXPECT_FALSE(q.holds("k", ver(10)));
  EXPECT_EQ(q.sends("k"), 0u);
}

TEST(RumourQueue, StopsAtTheRetransmitLimit) {
  store s;
  rumour_queue q(16);
  q.push("k", write(s, "k", ver(10)));
  for (int i = 0; i < 3; ++i) {
    q.sent("k", 4);
    EXPECT_TRUE(q.holds("k", ver(10))) << "after " << i + 1 << " sends";
  }
  q.sent("k", 4);
  EXPECT_TRUE(q.empty());
  q.sent("k", 4); // unknown key: no effect
  EXPECT_TRUE(q.empty());
}

TEST(RumourQueue, PacksFewestSentFirstThenNewest) {
  store s;
  rumour_queue q(16);
  for (auto k : {"a", "b", "c", "d"})
    q.push(k, write(s, k, ver(10)));
  q.sent("a", 10);
  q.sent("b", 10);
  q.sent("a", 10);
  // d and c unsent (d newer), then b (once), then a (twice).
  EXPECT_EQ(take_all(q, s), (std::vector<std::string>{"d", "c", "b", "a"}));
  // pack() only offers: the counts change through sent().
  EXPECT_EQ(q.sends("d"), 0u);
}

TEST(RumourQueue, PackSkipsWhatDoesNotFitAndTriesTheRest) {
  store s;
  rumour_queue q(16);
  q.push("small1", write(s, "small1", ver(10), "x"));
  q.push("big", write(s, "big", ver(10), std::string(100, 'x')));
  q.push("small2", write(s, "small2", ver(10), "x"));
  size_t room = 10;
  std::vector<std::string> offered;
  auto taken = q.pack(s, [&](const std::string& k, const entry& e) {
    offered.push_back(k);
    if (e.value.size() > room)
      return false;
    room -= e.value.size();
    return true;
  });
  EXPECT_EQ(offered, (std::vector<std::string>{"small2", "big", "small1"}));
  EXPECT_EQ(taken, (std::vector<std::string>{"small2", "small1"}));
}

TEST(RumourQueue, SupersededAndCollectedRumoursAreDropped) {
  store s;
  rumour_queue q(16);
  q.push("k", write(s, "k", ver(10)));
  q.push("gone", ver(10)); // never in this store (collected meanwhile)
  q.push("kept", write(s, "kept", ver(10)));
  write(s, "k", ver(20)); // a newer write whose rumour is not queued here
  q.drop_superseded(s);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_TRUE(q.holds("kept", ver(10)));
  EXPECT_EQ(take_all(q, s), std::vector<std::string>{"kept"});
}

TEST(RumourQueue, BoundEvictsTheMostSentThenTheOldest) {
  store s;
  rumour_queue q(2);
  EXPECT_EQ(q.push("a", write(s, "a", ver(10))), 0u);
  EXPECT_EQ(q.push("b", write(s, "b", ver(10))), 0u);
  q.sent("b", 10);
  EXPECT_EQ(q.push("c", write(s, "c", ver(10))), 1u);
  EXPECT_FALSE(q.holds("b", ver(10))) << "most sent goes first";
  EXPECT_EQ(q.push("d", write(s, "d", ver(10))), 1u);
  EXPECT_FALSE(q.holds("a", ver(10))) << "then the oldest";
  EXPECT_TRUE(q.holds("c", ver(10)));
  EXPECT_TRUE(q.holds("d", ver(10)));
}

} // namespace
} // namespace pekonode::metadata
