#include "metadata/store.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

namespace pekonode::metadata {
namespace {

entry make(std::string value, uint64_t ms, std::string origin = "n1",
           bool tomb = false) {
  entry e;
  e.value = std::move(value);
  e.ver = {make_hlc(ms, 0), std::move(origin)};
  e.tombstone = tomb;
  return e;
}

TEST(Store, MergeKeepsNewestVersion) {
  store s;
  EXPECT_EQ(s.merge("k", make("v1", 10)), ec::ok);
  EXPECT_EQ(s.merge("k", make("v0", 5)), ec::stale);
  EXPECT_EQ(s.merge("k", make("v1", 10)), ec::stale);
  EXPECT_EQ(s.merge("k", make("v2", 10, "n2")), ec::ok); // origin tiebreak
  ASSERT_NE(s.find("k"), nullptr);
  EXPECT_EQ(s.find("k")->value, "v2");
  EXPECT_EQ(s.find("k")->value_hash, hash_value("v2"));
  EXPECT_EQ(s.size(), 1u);
}

TEST(Store, TombstoneShadowsOlderWrites) {
  store s;
  ASSERT_EQ(s.merge("k", make("v", 10)), ec::ok);
  ASSERT_EQ(s.merge("k", make("", 20, "n1", true)), ec::ok);
  EXPECT_EQ(s.merge("k", make("late", 15)), ec::stale);
  EXPECT_TRUE(s.find("k")->tombstone);
  EXPECT_EQ(s.merge("k", make("", 1, "n1", true)), ec::stale);
  EXPECT_EQ(s.merge("j", make("x", 30, "n1", true)), ec::bad_tombstone);
}

TEST(Store, GcCollectsOnlyOldTombstones) {
  store s;
  ASSERT_EQ(s.merge("old", make("", 100, "n1", true)), ec::ok);
  ASSERT_EQ(s.merge("new", make("", 300, "n1", true)), ec::ok);
  ASSERT_EQ(s.merge("live", make("v", 50)), ec::ok);
  std::vector<std::string> removed;
  EXPECT_EQ(s.gc(200, &removed), 1u);
  EXPECT_EQ(removed, std::vector<std::string>{"old"});
  EXPECT_EQ(s.find("old"), nullptr);
  EXPECT_NE(s.find("new"), nullptr);
  EXPECT_NE(s.find("live"), nullptr);
  EXPECT_EQ(s.size(), 2u);
}

TEST(Store, EnforcesLimits) {
  store_limits l;
  l.max_key_bytes = 8;
  l.max_value_bytes = 100;
  l.max_total_bytes = 3 * (100 + entry_overhead);
  l.max_keys = 10;
  store s(l);
  EXPECT_EQ(s.merge("", make("v", 1)), ec::empty_key);
  EXPECT_EQ(s.merge("123456789", make("v", 1)), ec::key_too_large);
  EXPECT_EQ(s.merge("k", make(std::string(101, 'x'), 1)),
            ec::value_too_large);
  EXPECT_EQ(s.merge("k", make("v", 1, "")), ec::origin_invalid);
  EXPECT_EQ(s.merge("a", make(std::string(90, 'x'), 1)), ec::ok);
  EXPECT_EQ(s.merge("b", make(std::string(90, 'x'), 1)), ec::ok);
  EXPECT_EQ(s.merge("c", make(std::string(90, 'x'), 1)), ec::ok);
  EXPECT_EQ(s.merge("d", make(std::string(90, 'x'), 1)), ec::store_full);
  // Replacing a value frees its old bytes first.
  EXPECT_EQ(s.merge("a", make(std::string(95, 'y'), 2)), ec::ok);
  EXPECT_EQ(s.size(), 3u);
}

TEST(Store, MaxKeysIsEnforced) {
  store_limits l;
  l.max_keys = 2;
  store s(l);
  EXPECT_EQ(s.merge("a", make("v", 1)), ec::ok);
  EXPECT_EQ(s.merge("b", make("v", 1)), ec::ok);
  EXPECT_EQ(s.merge("c", make("v", 1)), ec::too_many_keys);
  EXPECT_EQ(s.merge("a", make("w", 2)), ec::ok);
}

TEST(StoreDigest, IndependentOfInsertionOrder) {
  uint64_t seed = std::random_device{}();
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  std::vector<std::pair<std::string, entry>> writes;
  for (int i = 0; i < 500; ++i)
    writes.emplace_back("key" + std::to_string(rng() % 200),
                        make("v" + std::to_string(i), rng() % 1000,
                             "n" + std::to_string(rng() % 3), rng() % 5 == 0));
  for (auto& w : writes)
    if (w.second.tombstone)
      w.second.value.clear();
  store a, b;
  for (auto& w : writes)
    a.merge(w.first, w.second);
  std::shuffle(writes.begin(), writes.end(), rng);
  for (auto& w : writes)
    b.merge(w.first, w.second);
  EXPECT_EQ(a.digest(), b.digest());
  for (size_t i = 0; i < bucket_count; ++i)
    EXPECT_EQ(a.bucket_digest(i), b.bucket_digest(i));
  // One more write changes the digest and exactly one bucket.
  auto before = a.digest();
  ASSERT_EQ(a.merge("key7", make("z", 5000)), ec::ok);
  EXPECT_NE(a.digest(), before);
  size_t differing = 0;
  for (size_t i = 0; i < bucket_count; ++i)
    differing += a.bucket_digest(i) != b.bucket_digest(i);
  EXPECT_EQ(differing, 1u);
}

TEST(StoreDigest, CoversTombstoneFlagAndReturnsToEmpty) {
  store a, b;
  a.merge("k", make("", 10, "n1", true));
  b.merge("k", make("", 10, "n1", false));
  EXPECT_NE(a.digest(), b.digest());
  a.erase("k");
  b.erase("k");
  EXPECT_EQ(a.digest(), store{}.digest());
  EXPECT_EQ(a.total_bytes(), 0u);
}

TEST(Store, WellKnownKeyIsTheSeedBlob) {
  EXPECT_EQ(well_known_key, "pekonode/metadata");
  store s;
  EXPECT_EQ(s.merge(std::string{well_known_key}, make("blob", 1)), ec::ok);
}

} // namespace
} // namespace pekonode::metadata
