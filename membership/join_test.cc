// Joining on its own: join requests and their backoff, the catch-up window
// after the first reply, rejoin targets, and reconnects for healing.
#include "membership/join.h"

#include <gtest/gtest.h>

#include <set>

#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::parse;
using testing::test_addr;

const time_point t0 = time_point{} + std::chrono::hours(1);

struct fixture {
  config cfg = config::lan();
  core_stats stats;
  std::mt19937_64 rng{3};
  member_table table{self(), cfg.max_members, cfg.gossip_to_dead};
  outbox ob{cfg, "me", stats, 1, [] { return 3; }};
  joiner j{cfg, table, ob, rng, stats};
  outbound_list out;

  static member self() {
    member m;
    m.name = "me";
    m.addr = test_addr("me");
    m.incarnation = 4;
    return m;
  }

  void add(const std::string& name, member_state st, time_point at = t0) {
    std::string addr = test_addr(name);
    claim c;
    c.name = name;
    c.addr = addr;
    c.state = st;
    table.apply(c, name, true, at);
  }

  std::set<address> join_targets(bool reconnect) const {
    std::set<address> r;
    for (auto& o : out) {
      auto p = parse(o);
      if (p.has_join() && p.join().reconnect() == reconnect) r.insert(o.to);
    }
    return r;
  }
};

TEST(Join, RequestsGoToEverySeedThenBackOff) {
  fixture f; // no reconnect timer started: only join attempts are due
  f.j.join({test_addr("a"), test_addr("b"), test_addr("a"), test_addr("me"), "", std::string(200, 'x')}, t0, f.out);
  EXPECT_FALSE(f.j.joined());
  EXPECT_EQ(f.j.seeds(), (std::vector<address>{test_addr("a"), test_addr("b")}));
  EXPECT_EQ(f.join_targets(false), (std::set<address>{test_addr("a"), test_addr("b")}));
  for (auto& o : f.out) {
    auto p = parse(o);
    ASSERT_EQ(p.updates_size(), 1);
    EXPECT_EQ(p.updates(0).name(), "me");
    EXPECT_EQ(p.updates(0).state(), ALIVE);
    EXPECT_EQ(p.updates(0).incarnation(), 4u);
  }
  EXPECT_EQ(f.stats.join_attempts, 1u);
  // Attempt k comes after [1.25, 2.25) x backoff_k, the backoff doubling
  // from join_retry_initial up to join_retry_max.
  auto t = t0;
  auto backoff = f.cfg.join_retry_initial;
  for (int k = 1; k < 12; ++k) {
    auto next = f.j.next_wakeup();
    EXPECT_GE(next - t, backoff + backoff / 4) << k;
    EXPECT_LT(next - t, backoff * 2 + backoff / 4) << k;
    f.out.clear();
    f.j.tick(next - milliseconds(1), f.out);
    EXPECT_TRUE(f.out.empty()) << k;
    f.j.tick(next, f.out);
    EXPECT_EQ(f.join_targets(false).size(), 2u) << k;
    t = next;
    backoff = std::min(backoff * 2, f.cfg.join_retry_max);
  }
  EXPECT_EQ(backoff, f.cfg.join_retry_max);
  EXPECT_EQ(f.stats.join_attempts, 12u);
}

TEST(Join, NoSeedsIsAClusterOfOne) {
  fixture f;
  f.j.start(t0);
  f.j.join({}, t0, f.out);
  EXPECT_TRUE(f.j.joined());
  EXPECT_TRUE(f.out.empty());
  // Only the reconnect timer: within a jittered reconnect_interval.
  EXPECT_GE(f.j.next_wakeup(), t0 + f.cfg.reconnect_interval / 2);
  EXPECT_LT(f.j.next_wakeup(), t0 + f.cfg.reconnect_interval);
}

TEST(Join, FirstReplyJoinsAndOpensTheCatchUpWindow) {
  fixture f;
  f.j.start(t0);
  f.j.join({test_addr("a")}, t0, f.out);
  EXPECT_TRUE(f.j.catching_up(true, t0));   // the first join reply
  EXPECT_FALSE(f.j.catching_up(false, t0)); // an anti-entropy page
  auto t1 = t0 + milliseconds(100);
  EXPECT_TRUE(f.j.on_join_reply(t1));
  EXPECT_TRUE(f.j.joined());
  EXPECT_FALSE(f.j.on_join_reply(t1)); // only the first counts
  // join_sync_interval * (2 * join_syncs + 1) = 400 ms * 7.
  auto window = f.cfg.join_sync_interval * (2 * f.cfg.join_syncs + 1);
  EXPECT_TRUE(f.j.catching_up(false, t1 + window - milliseconds(1)));
  EXPECT_FALSE(f.j.catching_up(false, t1 + window));
  EXPECT_FALSE(f.j.catching_up(true, t1 + window)); // a reconnect reply
  // No more join requests once joined.
  f.out.clear();
  f.j.tick(t1 + seconds(100), f.out);
  EXPECT_TRUE(f.out.empty());
  EXPECT_LT(f.j.next_wakeup(), time_point::max()); // the reconnect timer
}

TEST(Join, ReconnectsGoToRememberedMembersAndSeedsNotLive) {
  fixture f;
  f.cfg.dead_probe_interval = {}; // reconnects alone (dead probes: core_test)
  f.add("a", member_state::alive);
  f.add("b", member_state::dead);
  f.add("c", member_state::left);
  f.j.join({test_addr("s"), test_addr("a")}, t0, f.out);
  f.j.on_join_reply(t0);
  f.j.start(t0);
  f.out.clear();
  auto t = t0;
  for (int i = 0; i < 40; ++i) {
    t = f.j.next_wakeup();
    f.j.reconnect_tick(t - milliseconds(1), f.out);
    f.j.reconnect_tick(t, f.out);
    ASSERT_EQ(f.out.size(), static_cast<std::size_t>(i + 1));
    auto next = f.j.next_wakeup() - t;
    EXPECT_GE(next, f.cfg.reconnect_interval);
    EXPECT_LT(next, f.cfg.reconnect_interval * 2);
  }
  EXPECT_EQ(f.join_targets(true), (std::set<address>{test_addr("b"), test_addr("c"), test_addr("s")}));
  EXPECT_EQ(f.stats.reconnects, 40u);
  // After dead_retention, dead and left members are forgotten: only the
  // seed is left to try.
  f.out.clear();
  auto late = t0 + f.cfg.dead_retention;
  f.j.reconnect_tick(std::max(late, f.j.next_wakeup()), f.out);
  EXPECT_EQ(f.table.find("b"), nullptr);
  EXPECT_EQ(f.table.find("c"), nullptr);
  EXPECT_NE(f.table.find("a"), nullptr);
  EXPECT_EQ(f.join_targets(true), std::set<address>{test_addr("s")});
}

TEST(Join, NothingToReconnectToSendsNothing) {
  fixture f;
  f.add("a", member_state::alive);
  f.j.join({test_addr("a")}, t0, f.out); // the only seed is live
  f.j.on_join_reply(t0);
  f.j.start(t0);
  f.out.clear();
  f.j.reconnect_tick(f.j.next_wakeup(), f.out);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.stats.reconnects, 0u);
}

TEST(Join, DiscoveryContactsOnlyAddressesThatAreNotLiveMembers) {
  fixture f;
  f.add("a", member_state::alive);
  f.add("b", member_state::dead);
  f.j.join({}, t0, f.out); // a cluster of one, as with an empty DNS answer
  ASSERT_TRUE(f.j.joined());
  f.out.clear();
  auto n = f.j.discover({test_addr("a"), test_addr("b"), test_addr("n"),
                         test_addr("me"), test_addr("n"), ""},
                        f.out);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(f.join_targets(true),
            (std::set<address>{test_addr("b"), test_addr("n")}));
  EXPECT_TRUE(f.join_targets(false).empty());
  EXPECT_TRUE(f.j.joined()) << "discovery must not restart the join";
  EXPECT_TRUE(f.j.seeds().empty()) << "discovered addresses are not remembered";
  EXPECT_EQ(f.stats.reconnects, 2u);
}

TEST(Join, DiscoveryIsBoundedPerCall) {
  fixture f;
  f.j.join({}, t0, f.out);
  std::vector<address> many;
  for (int i = 0; i < 1000; ++i) many.push_back(test_addr("h" + std::to_string(i)));
  EXPECT_EQ(f.j.discover(many, f.out), f.cfg.max_discovery_joins);
  EXPECT_EQ(f.out.size(), f.cfg.max_discovery_joins);
}

TEST(Join, RejoinTargetsSeedsElseKnownLiveMembers) {
  fixture f;
  for (auto n : {"a", "b", "c", "d", "e"}) f.add(n, member_state::alive);
  f.add("x", member_state::dead);
  // No seeds: up to 3 live members this node still knows.
  f.j.choose_rejoin_targets(t0);
  f.j.restart(t0, f.out);
  EXPECT_FALSE(f.j.joined());
  auto to = f.join_targets(false);
  EXPECT_EQ(to.size(), 3u);
  EXPECT_EQ(to.count(test_addr("x")), 0u);
  // With seeds: the seeds.
  fixture g;
  g.add("a", member_state::alive);
  g.j.join({test_addr("s")}, t0, g.out);
  g.j.on_join_reply(t0);
  g.out.clear();
  g.j.choose_rejoin_targets(t0);
  g.j.restart(t0 + seconds(1), g.out);
  EXPECT_FALSE(g.j.joined());
  EXPECT_EQ(g.join_targets(false), std::set<address>{test_addr("s")});
  // Nobody at all: joined at once, a cluster of one again.
  fixture h;
  h.j.choose_rejoin_targets(t0);
  h.j.restart(t0, h.out);
  EXPECT_TRUE(h.j.joined());
  EXPECT_TRUE(h.out.empty());
}

// A challenge is answered once, with the cookie, and only from an address
// a request of ours went to; requests are padded above any challenge.
TEST(Join, ChallengesAreAnsweredOnceAndOnlyFromAddressesAsked) {
  fixture f;
  f.j.join({test_addr("a")}, t0, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_GE(f.out[0].payload.size(), joiner::min_request_bytes);
  f.out.clear();
  f.j.on_challenge(test_addr("evil"), "cookie00", f.out);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.stats.bad_packets.at("unsolicited_challenge"), 1u);
  f.j.on_challenge(test_addr("a"), "cookie00", f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(parse(f.out[0]).join().cookie(), "cookie00");
  f.j.on_challenge(test_addr("a"), "cookie00", f.out); // a second one: ignored
  EXPECT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.stats.bad_packets.at("unsolicited_challenge"), 2u);
}

} // namespace
} // namespace pekonode::membership
