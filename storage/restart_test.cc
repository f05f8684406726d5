// The leases across real restarts: a node issues HLC timestamps for its
// writes and bumps its incarnation, persisting ceilings only as the leases
// ask, and restarts many times with a wall clock that may jump back by up
// to an hour. Every timestamp and incarnation issued after a restart must
// be above every one issued before (seeded; the seed is printed).

#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "metadata/hlc.h"
#include "storage/lease.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace pekonode::storage {
namespace {

using namespace testing;

TEST(Restart, HlcAndIncarnationNeverRepeatAcrossRestarts) {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("PEKONODE_SEED"))
    seed = std::strtoull(env, nullptr, 10);
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto path = fresh_data_dir();
  uint64_t wall = 1'700'000'000'000; // ms
  uint64_t max_hlc = 0, max_inc = 0, last_epoch = 0;
  size_t writes = 0, ceiling_writes = 0;
  for (int run = 0; run < 30; ++run) {
    auto d = data_dir::open(path, test_id());
    ASSERT_TRUE(d.ok()) << d.message();
    auto s = store::open(std::move(*d));
    ASSERT_TRUE(s.ok()) << s.message();
    auto& st = **s;
    ASSERT_GT(st.boot_epoch(), last_epoch);
    last_epoch = st.boot_epoch();

    metadata::hlc_clock clock;
    clock.observe(st.hlc_high_water(), wall);
    lease hlc_lease(st.hlc_high_water(), hlc_lease_step(10'000));
    lease inc_lease(st.membership().incarnation, 4);
    uint64_t inc = incarnation_after_restart(inc_lease.ceiling());
    ASSERT_GT(inc, max_inc) << "run " << run;

    int ops = static_cast<int>(rng() % 200);
    for (int i = 0; i < ops; ++i) {
      wall += rng() % 300; // ms between operations
      write_batch b;
      if (rng() % 10 == 0) // refute a suspicion: a new incarnation
        ++inc;
      // The first incarnation after a restart is above the ceiling, so the
      // first batch persists a new one before it is announced.
      if (inc_lease.should_extend(inc)) {
        auto m = st.membership();
        m.incarnation = inc_lease.extend_for(inc);
        b.set_membership(m);
      }
      metadata::hlc_t t = clock.now(wall);
      if (hlc_lease.should_extend(t)) {
        b.set_hlc_high_water(hlc_lease.extend_for(t));
        ++ceiling_writes;
      }
      record r;
      r.key = "k" + std::to_string(rng() % 50);
      r.value = "v";
      r.hlc = t;
      r.origin = "n1";
      b.put(r);
      auto cs = st.commit(b);
      ASSERT_TRUE(cs.ok()) << cs.message;
      ++writes;
      hlc_lease.made_durable(st.hlc_high_water());
      inc_lease.made_durable(st.membership().incarnation);
      // Only now, durable, are t and inc used (acknowledged, gossiped).
      ASSERT_TRUE(hlc_lease.covers(t));
      ASSERT_TRUE(inc_lease.covers(inc));
      ASSERT_GT(t, max_hlc) << "run " << run << " op " << i;
      max_hlc = t;
      max_inc = std::max(max_inc, inc);
    }
    // Restart: sometimes the wall clock comes back an hour behind.
    if (rng() % 3 == 0)
      wall -= 3'600'000;
  }
  std::printf("writes=%zu hlc-ceiling-writes=%zu\n", writes, ceiling_writes);
  EXPECT_GT(writes, 100u);
  EXPECT_LT(ceiling_writes, writes / 4); // the lease spares most writes
}

} // namespace
} // namespace pekonode::storage
