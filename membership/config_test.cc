// The config's formulas (sync period, retransmit limit, jitter) and its
// validation, table-style.
#include "membership/config.h"

#include <gtest/gtest.h>

#include <iostream>

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ConfigFormulas, SyncPeriodGrowsPastThirtyTwoMembers) {
  auto c = config::lan(); // sync_interval 15 s
  struct row { std::size_t live; duration want; };
  for (auto r : {row{0, seconds(15)}, row{1, seconds(15)}, row{32, seconds(15)},
                 row{33, seconds(30)}, row{64, seconds(30)}, row{65, seconds(45)},
                 row{1000, seconds(90)}})
    EXPECT_EQ(sync_period(c, r.live), r.want) << r.live;
}

TEST(ConfigFormulas, RetransmitLimitIsMultTimesLog10) {
  auto c = config::lan(); // retransmit_mult 4
  struct row { std::size_t live; int want; };
  for (auto r : {row{0, 4}, row{1, 4}, row{9, 4}, row{10, 8}, row{99, 8},
                 row{100, 12}, row{10000, 20}})
    EXPECT_EQ(retransmit_limit(c, r.live), r.want) << r.live;
  c.retransmit_mult = 1;
  EXPECT_EQ(retransmit_limit(c, 5), 1);
}

TEST(ConfigFormulas, JitterStaysInTheUpperHalf) {
  uint64_t seed = 99;
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  duration lo = duration::max(), hi = duration::min();
  for (int i = 0; i < 10000; ++i) {
    auto j = jitter(seconds(1), rng);
    lo = std::min(lo, j);
    hi = std::max(hi, j);
  }
  EXPECT_GE(lo, milliseconds(500));
  EXPECT_LT(lo, milliseconds(510));
  EXPECT_LT(hi, seconds(1));
  EXPECT_GT(hi, milliseconds(990));
  // Too short to split: returned as is, and no draw is taken.
  std::mt19937_64 a(1), b(1);
  EXPECT_EQ(jitter(duration{1}, a), duration{1});
  EXPECT_EQ(a(), b());
}

TEST(ConfigValidate, ProfilesAreValidAndBadKnobsAreNamed) {
  for (auto c : {config::lan(), config::local(), config::wan()})
    EXPECT_EQ(c.validate(), "");
  struct row { const char* what; void (*bad)(config&); const char* says; };
  const row rows[] = {
    {"timeout", [](config& c) { c.probe_timeout = c.probe_interval; }, "probe_timeout"},
    {"floor", [](config& c) { c.probe_timeout_min = c.probe_timeout * 2; }, "probe_timeout_min"},
    {"no floor", [](config& c) { c.probe_timeout_min = duration::zero(); }, "probe_timeout_min"},
    {"ceiling", [](config& c) { c.probe_timeout_max = c.probe_interval; }, "probe_timeout_max"},
    {"below", [](config& c) { c.probe_timeout_max = c.probe_timeout / 2; }, "probe_timeout_max"},
    {"indirect", [](config& c) { c.indirect_checks = 17; }, "indirect_checks"},
    {"packet", [](config& c) { c.max_packet = 100; }, "max_packet"},
    {"datagram", [](config& c) { c.max_datagram = c.max_packet - 1; }, "max_datagram"},
    {"budget", [](config& c) { c.reply_pages_per_second = 0; }, "reply page budgets"},
    {"notices", [](config& c) { c.leave_notices_per_tick = -1; }, "leave_notices_per_tick"},
    {"limits", [](config& c) { c.max_members = 1; }, "limits"},
  };
  for (auto& r : rows) {
    auto c = config::lan();
    r.bad(c);
    EXPECT_NE(c.validate().find(r.says), std::string::npos) << r.what << ": " << c.validate();
  }
}

} // namespace
} // namespace pekonode::membership
