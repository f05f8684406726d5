#include "common/intern.h"

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pekonode {
namespace {

TEST(Interned, EqualTextsShareOneCopy) {
  auto before = interned::pool_size();
  std::string text = "10.0.0.1:7946";
  interned a(text), b(std::string_view("10.0.0.1:7946")), c("other");
  EXPECT_TRUE(a.same(b));
  EXPECT_FALSE(a.same(c));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, text);
  EXPECT_EQ(a.str(), text);
  EXPECT_EQ(interned::pool_size(), before + 2);
}

TEST(Interned, TextLivesAsLongAsItsHandles) {
  auto before = interned::pool_size();
  {
    interned a("lives-while-held");
    interned b = a;
    interned c;
    c = b;
    EXPECT_EQ(interned::pool_size(), before + 1);
    a = interned();
    b = "something-else";
    EXPECT_EQ(interned::pool_size(), before + 2);
    EXPECT_EQ(c, "lives-while-held");
  }
  EXPECT_EQ(interned::pool_size(), before);
}

TEST(Interned, MovesTransferTheReference) {
  auto before = interned::pool_size();
  interned a("moved-text");
  interned b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b, "moved-text");
  // Move assignment swaps: the moved-from handle holds the old text until
  // it is dropped, and no reference is counted twice or lost.
  interned c("other-text");
  EXPECT_EQ(interned::pool_size(), before + 2);
  c = std::move(b);
  EXPECT_EQ(c, "moved-text");
  EXPECT_EQ(b, "other-text");
  EXPECT_EQ(interned::pool_size(), before + 2);
  b = interned();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(interned::pool_size(), before + 1);
  c = interned();
  EXPECT_EQ(interned::pool_size(), before);
}

TEST(Interned, OrdersAndHashesByText) {
  std::set<interned> s = {interned("b"), interned("a"), interned("c")};
  std::vector<std::string> got(s.begin(), s.end());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_LT(interned("a"), std::string("b"));
  EXPECT_LT(std::string_view("a"), interned("b"));
  EXPECT_EQ(std::hash<interned>()(interned("xyz")),
            std::hash<std::string_view>()("xyz"));
  EXPECT_EQ(interned("n1") + ":x", "n1:x");
  std::map<std::string, int> m = {{"k", 1}};
  EXPECT_EQ(m.count(interned("k")), 1u);
}

TEST(Interned, EmptyTextIsNotPooled) {
  auto before = interned::pool_size();
  interned a(""), b;
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(a.same(b));
  EXPECT_EQ(interned::pool_size(), before);
}

TEST(Interned, AFloodOfDistinctTextsIsFreedWithItsHandles) {
  // What a peer sending ever new names can do: the pool grows only with
  // the handles the receiver keeps.
  auto before = interned::pool_size();
  std::vector<interned> kept;
  for (int i = 0; i < 10000; ++i) {
    interned h("flood-" + std::to_string(i));
    if (i % 100 == 0) kept.push_back(h);
  }
  EXPECT_EQ(interned::pool_size(), before + kept.size());
  kept.clear();
  EXPECT_EQ(interned::pool_size(), before);
}

TEST(Interned, ThreadsShareThePool) {
  auto before = interned::pool_size();
  auto work = [] {
    for (int round = 0; round < 200; ++round) {
      std::vector<interned> v;
      for (int i = 0; i < 50; ++i) v.emplace_back("t-" + std::to_string(i));
      std::vector<interned> copies = v;
      for (int i = 0; i < 50; ++i)
        ASSERT_EQ(copies[i].str(), "t-" + std::to_string(i));
    }
  };
  std::thread t1(work), t2(work), t3(work);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(interned::pool_size(), before);
}

} // namespace
} // namespace pekonode
