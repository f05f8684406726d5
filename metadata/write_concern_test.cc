// The write concern bookkeeping alone: who is asked, what counts as an
// acknowledgement, retries and replacements, deadlines, and the bounds of
// what a node owes its peers.

#include "metadata/write_concern.h"

#include <gtest/gtest.h>

namespace pekonode::metadata {
namespace {

const time_point t0{seconds(100)};
const version v1{make_hlc(1000, 0), "w"};
const version v2{make_hlc(2000, 0), "w"};

std::vector<interned> peers(size_t n) {
  std::vector<interned> r;
  for (size_t i = 0; i < n; ++i)
    r.push_back("10.0.0." + std::to_string(i) + ":1");
  std::sort(r.begin(), r.end());
  return r;
}

std::set<address> targets(const std::vector<hold_send>& s) {
  std::set<address> r;
  for (auto& h : s)
    r.insert(h.to);
  return r;
}

TEST(WriteConcern, AsksKMinusOneDistinctPeers) {
  config cfg;
  write_concern wc(cfg);
  std::mt19937_64 rng(1);
  std::vector<hold_send> out;
  wc.start(7, "k", v1, 3, t0 + seconds(5), t0, peers(5), rng, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(targets(out).size(), 2u);
  for (auto& h : out) {
    EXPECT_EQ(h.id, 7u);
    EXPECT_EQ(h.key, "k");
  }
  EXPECT_EQ(wc.pending(), 1u);
  EXPECT_LE(wc.next_wakeup(), t0 + cfg.hold_retry);
}

TEST(WriteConcern, CountsOnlyDistinctMatchingAcksFromAskedPeers) {
  config cfg;
  write_concern wc(cfg);
  std::mt19937_64 rng(2);
  std::vector<hold_send> out;
  auto ps = peers(5);
  wc.start(7, "k", v2, 3, t0 + seconds(5), t0, ps, rng, out);
  auto asked = targets(out);
  address stranger;
  for (auto& p : ps)
    if (!asked.count(p))
      stranger = p;
  auto a = *asked.begin();
  auto b = *asked.rbegin();
  EXPECT_STREQ(wc.on_ack(a, 8, "k", v2), "hold_ack_unknown");
  EXPECT_STREQ(wc.on_ack(stranger, 7, "k", v2), "hold_ack_unasked");
  EXPECT_STREQ(wc.on_ack(a, 7, "other", v2), "hold_ack_mismatch");
  EXPECT_STREQ(wc.on_ack(a, 7, "k", v1), "hold_ack_mismatch"); // older
  EXPECT_EQ(wc.on_ack(a, 7, "k", v2), nullptr);
  EXPECT_STREQ(wc.on_ack(a, 7, "k", v2), "hold_ack_duplicate");
  EXPECT_TRUE(wc.drain_done().empty());
  version newer{make_hlc(3000, 0), "x"};
  EXPECT_EQ(wc.on_ack(b, 7, "k", newer), nullptr); // superseded: held too
  auto done = wc.drain_done();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ok());
  EXPECT_EQ(done[0].acked, 3u);
  EXPECT_EQ(done[0].wanted, 3u);
  EXPECT_EQ(done[0].ver, v2);
  EXPECT_EQ(wc.pending(), 0u);
  EXPECT_STREQ(wc.on_ack(b, 7, "k", v2), "hold_ack_unknown"); // late
}

TEST(WriteConcern, RetriesSilentTargetsThenAsksReplacements) {
  config cfg;
  write_concern wc(cfg);
  std::mt19937_64 rng(3);
  std::vector<hold_send> out;
  auto ps = peers(4);
  wc.start(1, "k", v1, 2, t0 + seconds(5), t0, ps, rng, out);
  ASSERT_EQ(out.size(), 1u);
  auto first = out[0].to;
  out.clear();
  wc.poll(t0 + cfg.hold_retry, ps, rng, out);
  // Still fresh: asked again, nobody else yet.
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, first);
  out.clear();
  wc.poll(t0 + 2 * cfg.hold_retry, ps, rng, out);
  // A straggler now: asked again, and one more peer in its place.
  auto t = targets(out);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_TRUE(t.count(first));
  EXPECT_EQ(t.size(), 2u);
  // The straggler answering first is enough.
  EXPECT_EQ(wc.on_ack(first, 1, "k", v1), nullptr);
  EXPECT_EQ(wc.drain_done().size(), 1u);
}

TEST(WriteConcern, NeverAsksMoreThanThePeers) {
  config cfg;
  write_concern wc(cfg);
  std::mt19937_64 rng(4);
  std::vector<hold_send> out;
  auto ps = peers(2);
  wc.start(1, "k", v1, 3, t0 + seconds(60), t0, ps, rng, out);
  std::set<address> all = targets(out);
  for (int i = 1; i < 100; ++i) {
    out.clear();
    wc.poll(t0 + i * cfg.hold_retry, ps, rng, out);
    for (auto& h : out)
      all.insert(h.to);
    EXPECT_LE(out.size(), 2u);
  }
  EXPECT_EQ(all.size(), 2u);
}

TEST(WriteConcern, DeadTargetIsReplacedAtOnce) {
  config cfg;
  write_concern wc(cfg);
  std::mt19937_64 rng(5);
  std::vector<hold_send> out;
  auto ps = peers(3);
  wc.start(1, "k", v1, 2, t0 + seconds(5), t0, ps, rng, out);
  auto dead = out[0].to;
  out.clear();
  wc.peer_removed(dead, t0 + milliseconds(1));
  EXPECT_EQ(wc.next_wakeup(), t0 + milliseconds(1));
  ps.erase(std::find(ps.begin(), ps.end(), dead));
  wc.poll(t0 + milliseconds(1), ps, rng, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].to, dead);
}

TEST(WriteConcern, DeadlineReportsHowManyHeldIt) {
  config cfg;
  write_concern wc(cfg);
  std::mt19937_64 rng(6);
  std::vector<hold_send> out;
  auto ps = peers(4);
  wc.start(9, "k", v1, 4, t0 + seconds(2), t0, ps, rng, out);
  EXPECT_EQ(wc.on_ack(out[0].to, 9, "k", v1), nullptr);
  out.clear();
  wc.poll(t0 + seconds(2), ps, rng, out);
  EXPECT_TRUE(out.empty());
  auto done = wc.drain_done();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_FALSE(done[0].ok());
  EXPECT_EQ(done[0].acked, 2u); // the writer and one peer
  EXPECT_EQ(done[0].wanted, 4u);
  EXPECT_EQ(wc.pending(), 0u);
  EXPECT_EQ(wc.next_wakeup(), time_point::max());
}

TEST(WriteConcern, OwedHoldsAreAnsweredOnceDurableAndBounded) {
  config cfg;
  cfg.max_owed_holds = 10;
  cfg.max_owed_holds_per_peer = 4;
  write_concern wc(cfg);
  // A hostile peer can make us keep at most its share.
  for (uint64_t id = 1; id <= 6; ++id) {
    auto why = wc.owe("evil", id, "k" + std::to_string(id), v1, t0);
    if (id <= 4)
      EXPECT_EQ(why, nullptr);
    else
      EXPECT_STREQ(why, "holds_owed_peer_full");
  }
  // A retry of the same request is not a second one.
  EXPECT_EQ(wc.owe("evil", 1, "k1", v1, t0), nullptr);
  EXPECT_EQ(wc.owed(), 4u);
  for (int p = 0; p < 3; ++p)
    for (uint64_t id = 1; id <= 4; ++id)
      wc.owe("p" + std::to_string(p), id, "x", v2, t0);
  EXPECT_EQ(wc.owed(), 10u); // the total bound
  EXPECT_STREQ(wc.owe("q", 1, "y", v1, t0), "holds_owed_full");
  std::vector<hold_ack_send> acks;
  wc.durable(held_entry{"x", v1}, acks); // older than asked: not yet
  EXPECT_TRUE(acks.empty());
  wc.durable(held_entry{"x", v2}, acks);
  EXPECT_EQ(acks.size(), 6u); // p0 x4, p1 x2
  for (auto& a : acks) {
    EXPECT_EQ(a.key, "x");
    EXPECT_EQ(a.ver, v2);
  }
  acks.clear();
  wc.durable(held_entry{"x", v2}, acks); // answered once only
  EXPECT_TRUE(acks.empty());
  // A peer that leaves is owed nothing; old requests expire.
  wc.peer_removed("evil", t0);
  EXPECT_EQ(wc.owed(), 0u);
  wc.owe("p0", 1, "z", v1, t0);
  std::mt19937_64 rng(7);
  std::vector<hold_send> out;
  wc.poll(t0 + cfg.hold_ttl, {}, rng, out);
  EXPECT_EQ(wc.owed(), 1u);
  wc.poll(t0 + cfg.hold_ttl + milliseconds(1), {}, rng, out);
  EXPECT_EQ(wc.owed(), 0u);
}

} // namespace
} // namespace pekonode::metadata
