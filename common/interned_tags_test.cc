#include "common/interned_tags.h"

#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pekonode {
namespace {

using tag_map = std::map<std::string, std::string>;

TEST(InternedTags, DefaultIsTheEmptySetAndIsNotPooled) {
  auto before = interned_tags::pool_size();
  interned_tags a, b(tag_map{});
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.begin(), a.end());
  EXPECT_TRUE(a.same(b));
  EXPECT_EQ(a.stored_bytes(), 0u);
  EXPECT_EQ(sizeof(interned_tags), sizeof(void*));
  EXPECT_EQ(interned_tags::pool_size(), before);
}

TEST(InternedTags, EqualSetsShareOneNode) {
  auto before = interned_tags::pool_size();
  tag_map m = {{"role", "db"}, {"zone", "eu-1"}};
  interned_tags a(m), b(tag_map{{"zone", "eu-1"}, {"role", "db"}});
  interned_tags c({{"role", "db"}});
  interned_tags d({{"role", "db"}, {"zone", "eu-2"}});
  EXPECT_TRUE(a.same(b));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  EXPECT_EQ(a, m);
  EXPECT_EQ(m, a);
  EXPECT_NE(c, m);
  EXPECT_EQ(interned_tags::pool_size(), before + 3);
  EXPECT_GT(a.stored_bytes(), c.stored_bytes());
}

TEST(InternedTags, PairsAreNotConfusedAcrossKeysAndValues) {
  // "ab"="c" and "a"="bc" hold the same characters in the same order.
  interned_tags a({{"ab", "c"}}), b({{"a", "bc"}});
  EXPECT_NE(a, b);
  EXPECT_EQ(a.at("ab"), "c");
  EXPECT_EQ(b.at("a"), "bc");
}

TEST(InternedTags, ReadsLikeAConstMapInKeyOrder) {
  tag_map m = {{"c", "3"}, {"a", "1"}, {"b", ""}};
  interned_tags t(m);
  std::vector<std::string> keys;
  for (auto& [k, v] : t) keys.push_back(k + "=" + v);
  EXPECT_EQ(keys, (std::vector<std::string>{"a=1", "b=", "c=3"}));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.count("b"), 1u);
  EXPECT_EQ(t.count("d"), 0u);
  EXPECT_EQ(t.find("d"), t.end());
  EXPECT_EQ(t.find("0"), t.end());
  ASSERT_NE(t.find("c"), t.end());
  EXPECT_EQ(t.find("c")->second, "3");
  EXPECT_EQ(t.at("a"), "1");
  EXPECT_THROW(t.at("z"), std::out_of_range);
  EXPECT_EQ(t.to_map(), m);
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), "{a=1, b=, c=3}");
}

TEST(InternedTags, ASetLivesAsLongAsItsHandles) {
  auto before = interned_tags::pool_size();
  {
    interned_tags a({{"k", "lives-while-held"}});
    interned_tags b = a;
    interned_tags c;
    c = b;
    EXPECT_EQ(interned_tags::pool_size(), before + 1);
    a = interned_tags();
    b = tag_map{{"k", "something-else"}};
    EXPECT_EQ(interned_tags::pool_size(), before + 2);
    EXPECT_EQ(c.at("k"), "lives-while-held");
    interned_tags d(std::move(c));
    EXPECT_TRUE(c.empty());
    EXPECT_EQ(interned_tags::pool_size(), before + 2);
    c = std::move(d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(c.at("k"), "lives-while-held");
  }
  EXPECT_EQ(interned_tags::pool_size(), before);
}

TEST(InternedTags, AFloodOfDistinctSetsIsFreedWithItsHandles) {
  auto before = interned_tags::pool_size();
  std::vector<interned_tags> kept;
  for (int i = 0; i < 5000; ++i) {
    interned_tags h({{"flood", std::to_string(i)}});
    if (i % 100 == 0) kept.push_back(h);
  }
  EXPECT_EQ(interned_tags::pool_size(), before + kept.size());
  kept.clear();
  EXPECT_EQ(interned_tags::pool_size(), before);
}

TEST(InternedTags, ThreadsShareThePool) {
  auto before = interned_tags::pool_size();
  auto work = [] {
    for (int round = 0; round < 200; ++round) {
      std::vector<interned_tags> v;
      for (int i = 0; i < 20; ++i)
        v.emplace_back(tag_map{{"t", std::to_string(i)}, {"u", "x"}});
      std::vector<interned_tags> copies = v;
      for (int i = 0; i < 20; ++i) {
        ASSERT_EQ(copies[i].at("t"), std::to_string(i));
        ASSERT_TRUE(copies[i].same(interned_tags(
          tag_map{{"t", std::to_string(i)}, {"u", "x"}})));
      }
    }
  };
  std::thread t1(work), t2(work), t3(work);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(interned_tags::pool_size(), before);
}

} // namespace
} // namespace pekonode
