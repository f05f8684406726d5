// The metadata core's hooks for a durable shell (no I/O in the core): the
// keys it reports changed, rumours held until released, a local write
// undone, entries loaded at start, the HLC advanced past a high-water mark.

#include <gtest/gtest.h>

#include "metadata/core.h"

namespace pekonode::metadata {
namespace {

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{seconds(100)};

std::vector<std::string> keys(std::initializer_list<const char*> ks) {
  return {ks.begin(), ks.end()};
}

TEST(DurabilityHooks, ReportsEveryChangedKeyOnceOnlyWhenTracking) {
  core c(config::lan(), "a", 1);
  outbound_list out;
  c.put("x", "1", wall, t0, out);
  EXPECT_TRUE(c.drain_changed().empty()) << "not tracking";
  c.track_changes(true);
  c.put("k", "1", wall, t0, out);
  c.put("k", "2", wall, t0, out);
  c.put("j", "1", wall, t0, out);
  c.del("x", wall, t0, out);
  EXPECT_EQ(c.drain_changed(), keys({"j", "k", "x"}));
  EXPECT_TRUE(c.drain_changed().empty());
  // Tombstones collected by GC are changes too (erased on disk).
  auto cfg = config::lan();
  core g(cfg, "a", 1);
  g.track_changes(true);
  g.put("t", "1", wall, t0, out);
  g.del("t", wall, t0, out);
  g.drain_changed();
  g.poll(wall + cfg.tombstone_ttl_ms + 1000, t0 + cfg.gc_interval, out);
  EXPECT_EQ(g.data().find("t"), nullptr);
  EXPECT_EQ(g.drain_changed(), keys({"t"}));
  EXPECT_EQ(g.gc_horizon(), wall + 1000);
}

TEST(DurabilityHooks, HeldRumourLeavesOnlyWhenReleased) {
  core c(config::lan(), "a", 1);
  c.hold_local_rumours(true);
  c.member_changed("b", "10.0.0.2:7946", true);
  outbound_list out;
  auto r = c.put("k", "v", wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_TRUE(out.empty()) << "a held write was gossiped";
  c.release_local("k", r.ver, t0, out);
  EXPECT_FALSE(out.empty()) << "a released write was not gossiped";
  // A release of a superseded version sends nothing.
  outbound_list later;
  auto r2 = c.put("k", "w", wall, t0, later);
  c.release_local("k", r.ver, t0, later);
  EXPECT_TRUE(later.empty());
  c.release_local("k", r2.ver, t0, later);
  EXPECT_FALSE(later.empty());
}

TEST(DurabilityHooks, RevertPutsBackWhatTheWriteReplacedIfStillCurrent) {
  core c(config::lan(), "a", 1);
  c.track_changes(true);
  outbound_list out;
  auto r1 = c.put("k", "old", wall, t0, out);
  entry prev = *c.data().find("k");
  auto r2 = c.put("k", "new", wall, t0, out);
  c.drain_changed();
  c.drain_events();
  EXPECT_FALSE(c.revert_local("k", r1.ver, nullptr)) << "not the current one";
  ASSERT_TRUE(c.revert_local("k", r2.ver, &prev));
  ASSERT_NE(c.get("k"), nullptr);
  EXPECT_EQ(c.get("k")->value, "old");
  EXPECT_EQ(c.get("k")->ver, r1.ver);
  EXPECT_TRUE(c.drain_changed().empty()) << "a revert is no new change";
  auto ev = c.drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].value.value, "old");
  // Undoing a write of a new key removes it.
  auto r3 = c.put("n", "v", wall, t0, out);
  ASSERT_TRUE(c.revert_local("n", r3.ver, nullptr));
  EXPECT_EQ(c.data().find("n"), nullptr);
  EXPECT_EQ(c.digest().count, 1u);
}

TEST(DurabilityHooks, RestoredEntriesAreServedAndLaterVersionsAreHigher) {
  core c(config::lan(), "a", 1);
  c.track_changes(true);
  entry e;
  e.value = "v";
  e.ver = version{make_hlc(wall + 5000, 3), "b"};
  ASSERT_EQ(c.restore("k", e), ec::ok);
  entry t;
  t.tombstone = true;
  t.ver = version{make_hlc(wall, 0), "a"};
  ASSERT_EQ(c.restore("gone", t), ec::ok);
  entry bad;
  bad.ver = version{1, ""};
  EXPECT_EQ(c.restore("x", bad), ec::origin_invalid);
  EXPECT_TRUE(c.drain_changed().empty());
  EXPECT_TRUE(c.drain_events().empty());
  ASSERT_NE(c.get("k"), nullptr);
  EXPECT_EQ(c.get("gone"), nullptr);
  EXPECT_NE(c.data().find("gone"), nullptr) << "the tombstone is kept";
  c.observe_hlc(make_hlc(wall + 9000, 0));
  outbound_list out;
  auto r = c.put("k2", "v", wall, t0, out); // the wall clock went back
  EXPECT_GT(r.ver.hlc, make_hlc(wall + 9000, 0));
}

} // namespace
} // namespace pekonode::metadata
