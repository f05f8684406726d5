// core::restore: restored entries win or lose by last-writer-wins, every
// check runs before anything is applied, the bounds hold after the whole
// restore, and what wins spreads to peers.

#include "metadata/core.h"

#include <gtest/gtest.h>

#include "metadata/metadata.pb.h"

namespace pekonode::metadata {
namespace {

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{seconds(100)};

restore_item item(std::string key, std::string value, hlc_t hlc,
                  std::string origin = "old", bool tombstone = false) {
  restore_item it;
  it.key = std::move(key);
  it.value.value = std::move(value);
  it.value.ver = version{hlc, std::move(origin)};
  it.value.tombstone = tombstone;
  return it;
}

TEST(MetadataRestore, NewerWinsOlderLosesByLww) {
  core c(config::lan(), "a", 1);
  outbound_list out;
  c.put("old", "written before the snapshot", wall - 10'000, t0, out);
  auto fresh = c.put("fresh", "written after the snapshot", wall, t0, out);
  ASSERT_EQ(fresh.code, ec::ok);
  std::vector<restore_item> items;
  items.push_back(item("fresh", "restored", make_hlc(wall - 60'000, 0)));
  items.push_back(item("old", "restored", make_hlc(wall - 5'000, 0)));
  items.push_back(item("new", "restored", make_hlc(wall - 60'000, 0)));
  auto r = c.restore(std::move(items), wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_EQ(r.applied, 2u);
  EXPECT_EQ(r.stale, 1u);
  EXPECT_EQ(c.get("fresh")->value, "written after the snapshot");
  EXPECT_EQ(c.get("old")->value, "restored");
  EXPECT_EQ(c.get("new")->value, "restored");
}

TEST(MetadataRestore, TombstonesDeleteAndLaterWritesBeatRestoredVersions) {
  core c(config::lan(), "a", 1);
  outbound_list out;
  c.put("k", "v", wall - 20'000, t0, out);
  std::vector<restore_item> items;
  items.push_back(item("k", "", make_hlc(wall + 10'000, 5), "old", true));
  auto r = c.restore(std::move(items), wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_EQ(r.tombstones, 1u);
  EXPECT_EQ(c.get("k"), nullptr);
  // The clock observed the restored version: a write now (wall clock behind
  // it) still wins.
  auto w = c.put("k", "again", wall, t0, out);
  ASSERT_EQ(w.code, ec::ok);
  EXPECT_GT(w.ver.hlc, make_hlc(wall + 10'000, 5));
  EXPECT_EQ(c.get("k")->value, "again");
}

TEST(MetadataRestore, AnyFailedCheckAppliesNothing) {
  auto cases = std::vector<std::pair<restore_item, ec>>{
    {item("", "v", make_hlc(wall, 0)), ec::empty_key},
    {item(std::string(300, 'k'), "v", make_hlc(wall, 0)), ec::key_too_large},
    {item("big", std::string(513 * 1024, 'v'), make_hlc(wall, 0)),
     ec::value_too_large},
    {item("o", "v", make_hlc(wall, 0), "bad origin"), ec::origin_invalid},
    {item("t", "v", make_hlc(wall, 0), "old", true), ec::bad_tombstone},
    {item("f", "v", make_hlc(wall + 3'600'000, 0)), ec::clock_skew},
    {item("good", "dup", make_hlc(wall, 1)), ec::duplicate_key},
  };
  for (auto& [bad, code] : cases) {
    core c(config::lan(), "a", 1);
    outbound_list out;
    std::vector<restore_item> items;
    items.push_back(item("good", "v", make_hlc(wall, 0)));
    items.push_back(bad);
    auto r = c.restore(std::move(items), wall, t0, out);
    EXPECT_EQ(r.code, code) << to_string(code);
    EXPECT_EQ(r.key, bad.key);
    EXPECT_EQ(r.applied, 0u);
    EXPECT_EQ(c.get("good"), nullptr) << to_string(code);
    EXPECT_EQ(c.data().size(), 0u);
    EXPECT_TRUE(c.drain_events().empty());
  }
}

TEST(MetadataRestore, StoreBoundsHoldForTheWholeRestore) {
  auto cfg = config::lan();
  cfg.limits.max_keys = 3;
  cfg.limits.max_total_bytes = 64 * 1024;
  {
    core c(cfg, "a", 1);
    outbound_list out;
    std::vector<restore_item> items;
    for (int i = 0; i < 4; ++i)
      items.push_back(item("k" + std::to_string(i), "v", make_hlc(wall, 0)));
    auto r = c.restore(std::move(items), wall, t0, out);
    EXPECT_EQ(r.code, ec::too_many_keys);
    EXPECT_EQ(c.data().size(), 0u);
  }
  {
    core c(cfg, "a", 1);
    outbound_list out;
    std::vector<restore_item> items;
    items.push_back(item("a", std::string(40 * 1024, 'v'), make_hlc(wall, 0)));
    items.push_back(item("b", std::string(40 * 1024, 'v'), make_hlc(wall, 0)));
    auto r = c.restore(std::move(items), wall, t0, out);
    EXPECT_EQ(r.code, ec::store_full);
    EXPECT_EQ(c.data().size(), 0u);
  }
  {
    // A big value replaced by a small one makes room for a new one: the
    // restore fits as a whole even though the new key alone would not.
    core c(cfg, "a", 1);
    outbound_list out;
    ASSERT_EQ(c.put("a", std::string(40 * 1024, 'v'), wall - 1000, t0, out).code,
              ec::ok);
    std::vector<restore_item> items;
    items.push_back(item("b", std::string(40 * 1024, 'v'), make_hlc(wall, 0)));
    items.push_back(item("a", "small", make_hlc(wall, 0)));
    auto r = c.restore(std::move(items), wall, t0, out);
    ASSERT_EQ(r.code, ec::ok);
    EXPECT_EQ(r.applied, 2u);
    EXPECT_EQ(c.get("a")->value, "small");
    EXPECT_EQ(c.get("b")->value.size(), 40u * 1024);
  }
}

TEST(MetadataRestore, WinnersSpreadToPeers) {
  core c(config::lan(), "a", 1);
  c.set_peers({"p1", "p2"});
  outbound_list out;
  c.poll(wall, t0, out);
  out.clear();
  std::vector<restore_item> items;
  items.push_back(item("k", "v", make_hlc(wall, 0)));
  auto r = c.restore(std::move(items), wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_EQ(r.rumoured, 1u);
  // Queued, then sent by the next gossip tick.
  auto tick = t0 + config::lan().gossip_interval;
  ASSERT_LE(c.next_wakeup(), tick);
  c.poll(wall, tick, out);
  bool rumour = false;
  for (auto& o : out) {
    Message m;
    ASSERT_TRUE(m.ParseFromString(o.payload));
    if (m.has_rumour())
      for (auto& e : m.rumour().entries())
        rumour |= e.key() == "k" && e.value() == "v";
  }
  EXPECT_TRUE(rumour);
  auto ev = c.drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].key, "k");
}

} // namespace
} // namespace pekonode::metadata
