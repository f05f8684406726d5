// Multi-node convergence of metadata cores on the test network: rumour
// spread, large values, a joiner catching up, concurrent writers under
// loss, duplication, reordering and partitions.

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include <gtest/gtest.h>

#include "metadata/test_net.h"

namespace pekonode::metadata {
namespace {

using testing::test_net;

uint64_t print_seed(uint64_t seed) {
  std::cout << "seed " << seed << "\n";
  return seed;
}

bool all_have(test_net& net, const std::string& key, const std::string& v) {
  for (size_t i = 0; i < net.size(); ++i) {
    auto e = net.node(i).get(key);
    if (!e || e->value != v)
      return false;
  }
  return true;
}

// Writes a `size`-byte value on node 0 of `n` nodes and asserts every node
// reads it within `bound`.
void spread(size_t n, size_t size, double loss, uint64_t seed,
            duration bound) {
  test_net net(n, config::lan(), print_seed(seed));
  net.net_faults.loss = loss;
  net.run_for(seconds(2)); // settle timers
  std::string v(size, 'v');
  net.put(0, "conf/a", v);
  auto took = net.run_until_true([&] { return all_have(net, "conf/a", v); },
                                 seconds(10), milliseconds(10));
  std::cout << "n=" << n << " size=" << size << " loss=" << loss
            << " spread in "
            << std::chrono::duration_cast<milliseconds>(took).count()
            << " ms, packets " << net.delivered << "\n";
  EXPECT_TRUE(all_have(net, "conf/a", v));
  EXPECT_LT(took, bound);
  EXPECT_LE(net.largest_payload, config::lan().max_packet);
}

TEST(Convergence, OneKibUpdateReaches1000NodesWithin3s) {
  spread(1000, 1024, 0.0, 11, seconds(3));
}

TEST(Convergence, OneKibUpdateReaches1000NodesWithin3sAt10PercentLoss) {
  spread(1000, 1024, 0.10, 12, seconds(3));
}

// A value too large for one packet goes through announce + chunk pull at
// every hop; lost pulls are retried from other sources after chunk_timeout.
TEST(Convergence, ChunkedUpdateReaches1000NodesWithin3sAt10PercentLoss) {
  spread(1000, 4096, 0.10, 13, seconds(3));
}

// One node pulls the largest value from an idle one (its buckets full):
// the source's bulk sender sends its burst at once, then paces at its cap,
// and the puller's per-peer budget holds all of it, so no chunk is refused
// ("peer_bulk_budget") and the pull never waits a chunk_timeout. Links of
// zero delay make the pull as fast as the sender allows.
TEST(Convergence, LonePullOfTheLargestValueIsPacedNotRefused) {
  for (auto& [name, cfg] : {std::pair{"local", config::local()},
                            std::pair{"lan", config::lan()},
                            std::pair{"wan", config::wan()}}) {
    SCOPED_TRACE(name);
    test_net net(2, cfg, print_seed(31));
    net.net_faults.min_delay = net.net_faults.max_delay = milliseconds(0);
    net.run_for(seconds(2));
    std::string v(cfg.limits.max_value_bytes, '\0');
    std::mt19937_64 rng(31);
    for (auto& c : v)
      c = static_cast<char>(rng());
    net.put(0, "blob", v);
    auto took = net.run_until_true(
      [&] {
        auto e = net.node(1).get("blob");
        return e && e->value == v;
      },
      seconds(10), milliseconds(1));
    // What the shared cap alone allows: the burst at once, the rest (with
    // each chunk's framing) at the cap's rate.
    double bytes = 1.1 * static_cast<double>(v.size());
    double burst = bulk_burst_bytes(cfg.max_bulk_bytes_per_sec,
                                    cfg.max_packet);
    auto paced = std::chrono::duration<double>(
      std::max(0.0, bytes - burst)
      / static_cast<double>(cfg.max_bulk_bytes_per_sec));
    std::cout << name << ": "
              << std::chrono::duration_cast<milliseconds>(took).count()
              << " ms (cap alone: "
              << std::chrono::duration_cast<milliseconds>(paced).count()
              << " ms)\n";
    ASSERT_NE(net.node(1).get("blob"), nullptr);
    auto& rejects = net.node(0).get_stats().rejects;
    EXPECT_EQ(rejects.count("peer_bulk_budget"), 0u);
    EXPECT_LT(took, paced + milliseconds(10));
    EXPECT_LT(took, cfg.chunk_timeout);
  }
}

TEST(Convergence, LargeValueReachesFiveNodesWithin5s) {
  test_net net(5, config::lan(), print_seed(21));
  net.run_for(seconds(1));
  std::string v(512 * 1024, '\0');
  std::mt19937_64 rng(21);
  for (auto& c : v)
    c = static_cast<char>(rng());
  net.put(2, "blob", v);
  auto took = net.run_until_true([&] { return all_have(net, "blob", v); },
                                 seconds(20));
  std::cout << "512 KiB spread in "
            << std::chrono::duration_cast<milliseconds>(took).count()
            << " ms\n";
  EXPECT_LT(took, seconds(5));
  EXPECT_TRUE(net.converged());
  EXPECT_LE(net.largest_payload, config::lan().max_packet);
}

TEST(Convergence, JoinerCatchesUpOnTenMib) {
  auto seed = print_seed(31);
  test_net net(4, config::lan(), seed);
  // Node 3 is the joiner: cut off while the others fill 10 MiB.
  for (size_t i = 0; i < 3; ++i)
    net.cut(i, 3);
  std::mt19937_64 rng(seed);
  size_t total = 0;
  for (int i = 0; total < 10 * 1024 * 1024; ++i) {
    size_t sz = i % 50 == 0 ? 200 * 1024 : 100 + rng() % 4000;
    net.put(i % 3, "k" + std::to_string(i), std::string(sz, char('a' + i % 26)));
    total += sz;
    if (i % 100 == 0)
      net.run_for(milliseconds(100));
  }
  net.run_until_true(
    [&] {
      return net.node(0).digest() == net.node(1).digest()
             && net.node(1).digest() == net.node(2).digest();
    },
    seconds(60));
  ASSERT_EQ(net.node(0).digest(), net.node(2).digest());
  EXPECT_NE(net.node(3).digest(), net.node(0).digest());
  net.heal();
  auto took = net.run_until_true([&] { return net.converged(); }, seconds(90),
                                 milliseconds(200));
  std::cout << "joiner caught up on " << total << " bytes in "
            << std::chrono::duration_cast<milliseconds>(took).count()
            << " ms\n";
  EXPECT_TRUE(net.converged());
  EXPECT_LT(took, seconds(30));
  EXPECT_EQ(net.node(3).list().size(), net.node(0).list().size());
}

TEST(Convergence, ConcurrentWritersUnderFaultsEndIdentical) {
  for (uint64_t seed : {41, 42, 43}) {
    print_seed(seed);
    test_net net(8, config::lan(), seed);
    net.net_faults.loss = 0.2;
    net.net_faults.duplicate = 0.1;
    net.net_faults.max_delay = milliseconds(80); // reordering
    std::mt19937_64 rng(seed);
    net.cut(0, 5);
    net.cut(1, 6);
    for (int round = 0; round < 40; ++round) {
      size_t w = rng() % net.size();
      auto key = "shared" + std::to_string(rng() % 5);
      if (rng() % 4 == 0)
        net.del(w, key);
      else
        net.put(w, key,
                std::string(rng() % 3000, static_cast<char>('a' + round % 26)));
      net.run_for(milliseconds(rng() % 50));
    }
    net.heal();
    net.net_faults = {};
    net.run_until_true([&] { return net.converged(); }, seconds(30));
    ASSERT_TRUE(net.converged()) << "seed " << seed;
    for (size_t i = 1; i < net.size(); ++i)
      for (int k = 0; k < 5; ++k) {
        auto key = "shared" + std::to_string(k);
        auto a = net.node(0).get(key);
        auto b = net.node(i).get(key);
        ASSERT_EQ(a == nullptr, b == nullptr);
        if (a)
          EXPECT_EQ(a->value, b->value);
      }
  }
}

TEST(Convergence, SlowClockNodeCanOverwrite) {
  test_net net(3, config::lan(), print_seed(51));
  net.set_skew(1, -20'000); // 20 s behind: within max_clock_skew_ms
  net.run_for(seconds(1));
  net.put(0, "k", "fast");
  net.run_for(seconds(2));
  net.put(1, "k", "slow");
  net.run_for(seconds(3));
  EXPECT_TRUE(all_have(net, "k", "slow"));
}

} // namespace
} // namespace pekonode::metadata
