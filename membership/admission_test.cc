// Confirmation of members learnt second-hand: the ping budget, attempts,
// expiry, and that next_wakeup() is exactly when tick() has work, under
// random churn (the timers are kept in heaps, not found by a scan).
#include "membership/admission.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using testing::parse;
using testing::test_addr;

const time_point t0 = time_point{} + std::chrono::hours(1);

struct fixture {
  config cfg = config::lan();
  core_stats stats;
  member_table table{self(), cfg.max_members, cfg.gossip_to_dead};
  outbox ob{cfg, "me", stats, 500, [] { return 3; }};
  admission adm{cfg, table, ob, stats};
  outbound_list out;
  std::map<std::string, uint64_t> inc; // incarnation last claimed

  static member self() {
    member m;
    m.name = "me";
    m.addr = test_addr("me");
    return m;
  }

  // A claim about `name` as a second-hand source would make it (the
  // member stays unconfirmed), and the core's call that follows it.
  void learn(const std::string& name, member_state st, time_point now) {
    claim c;
    c.name = name;
    std::string addr = test_addr(name);
    c.addr = addr;
    c.incarnation = inc.count(name) ? ++inc[name] : (inc[name] = 0);
    c.state = st;
    c.from = "x";
    auto s = table.apply(c, "x", true, now, false);
    ASSERT_TRUE(s.applied());
    if (!s.confirmed) adm.learnt(name, now);
  }

  void confirm(const std::string& name) {
    adm.confirmed(name);
    table.confirm(name);
  }

  // Targets of the confirmation pings sent since the last call.
  std::vector<Packet> take_pings() {
    std::vector<Packet> r;
    for (auto& o : out) {
      auto p = parse(o);
      EXPECT_EQ(p.body_case(), Packet::kPing);
      EXPECT_EQ(p.updates_size(), 0); // bare: nothing piggybacked
      r.push_back(p);
    }
    out.clear();
    return r;
  }
};

TEST(Admission, PingsWithinBudgetThenForgetsTheSilent) {
  fixture f;
  for (int i = 0; i < 100; ++i) f.learn("u" + std::to_string(i), member_state::alive, t0);
  EXPECT_EQ(f.adm.tracked(), 100u);
  EXPECT_EQ(f.adm.next_wakeup(), t0);
  f.adm.tick(t0, f.out);
  auto pings = f.take_pings();
  ASSERT_EQ(pings.size(), static_cast<size_t>(f.cfg.confirm_burst));
  // The earliest learnt first: equal due times come out in learnt order.
  EXPECT_EQ(pings[0].ping().target(), "u0");
  EXPECT_EQ(f.adm.on_ack(pings[0].ping().seq()) != nullptr, true);
  EXPECT_EQ(*f.adm.on_ack(pings[0].ping().seq()), "u0");
  // Budget spent: the next wakeup is when a token is back, not now.
  auto w = f.adm.next_wakeup();
  EXPECT_GT(w, t0);
  EXPECT_LE(w, t0 + f.cfg.probe_interval / f.cfg.confirm_per_probe + milliseconds(1));
  // Nobody answers: each is pinged confirm_attempts times at most, and
  // all are forgotten by the TTL.
  std::map<std::string, int> count;
  for (auto& p : pings) ++count[p.ping().target()];
  auto now = t0;
  while (f.adm.tracked() > 0) {
    now = f.adm.next_wakeup();
    ASSERT_LE(now, t0 + f.cfg.unconfirmed_ttl);
    f.adm.tick(now, f.out);
    for (auto& p : f.take_pings()) ++count[p.ping().target()];
  }
  for (auto& [name, n] : count) EXPECT_LE(n, f.cfg.confirm_attempts) << name;
  EXPECT_EQ(f.stats.unconfirmed_expired, 100u);
  EXPECT_EQ(f.table.unconfirmed_count(), 0u);
  EXPECT_EQ(f.adm.next_wakeup(), time_point::max());
}

TEST(Admission, NotLiveIsNotPingedUntilItIs) {
  fixture f;
  f.learn("d", member_state::dead, t0);
  // Only its expiry is due.
  EXPECT_EQ(f.adm.next_wakeup(), t0 + f.cfg.unconfirmed_ttl);
  f.adm.tick(t0 + milliseconds(10), f.out);
  EXPECT_TRUE(f.take_pings().empty());
  // Claimed alive later: due at once, its first deadline kept.
  auto t1 = t0 + milliseconds(500);
  f.learn("d", member_state::alive, t1);
  EXPECT_LE(f.adm.next_wakeup(), t1); // due: its first ping time has passed
  f.adm.tick(t1, f.out);
  ASSERT_EQ(f.take_pings().size(), 1u);
  // Dead again: only the expiry remains.
  f.learn("d", member_state::dead, t1);
  EXPECT_EQ(f.adm.next_wakeup(), t0 + f.cfg.unconfirmed_ttl);
}

TEST(Admission, ConfirmedStopsTracking) {
  fixture f;
  f.learn("a", member_state::alive, t0);
  f.adm.tick(t0, f.out);
  auto pings = f.take_pings();
  ASSERT_EQ(pings.size(), 1u);
  f.confirm("a");
  EXPECT_EQ(f.adm.tracked(), 0u);
  EXPECT_EQ(f.adm.on_ack(pings[0].ping().seq()), nullptr);
  EXPECT_EQ(f.adm.next_wakeup(), time_point::max());
  f.adm.tick(t0 + f.cfg.unconfirmed_ttl, f.out);
  EXPECT_EQ(f.stats.unconfirmed_expired, 0u);
  EXPECT_NE(f.table.find("a"), nullptr);
}

// Random churn: learn, flip liveness, confirm, answer pings. Ticking
// before next_wakeup() never has an effect, and ticking at it (or at once,
// when it has passed) always has;
// no one is pinged more than confirm_attempts times, nor while not live,
// nor kept unconfirmed past the TTL.
TEST(Admission, WakeupIsExactlyWhenTickHasWork) {
  fixture f;
  std::mt19937_64 rng{7};
  auto now = t0;
  std::map<std::string, time_point> learnt_at;
  std::map<std::string, int> pinged;
  int next_name = 0, wakeups = 0;
  for (int step = 0; step < 3000; ++step) {
    switch (rng() % 8) {
      case 0:
      case 1: {
        auto name = "m" + std::to_string(next_name++);
        f.learn(name, rng() % 4 ? member_state::alive : member_state::dead, now);
        learnt_at[name] = now;
        break;
      }
      case 2: { // a claim flips a tracked member's liveness
        if (learnt_at.empty()) break;
        auto it = std::next(learnt_at.begin(), rng() % learnt_at.size());
        if (!f.table.unconfirmed(it->first)) break;
        auto* m = f.table.find_any(it->first);
        f.learn(it->first,
                is_live(m->state) ? member_state::dead : member_state::alive, now);
        break;
      }
      case 3: { // confirmed (e.g. its own packet arrived)
        if (learnt_at.empty()) break;
        auto it = std::next(learnt_at.begin(), rng() % learnt_at.size());
        if (f.table.unconfirmed(it->first)) f.confirm(it->first);
        break;
      }
      default: { // time passes
        auto w = f.adm.next_wakeup();
        auto next = now + milliseconds(1 + rng() % 400);
        auto stats_before = f.stats.unconfirmed_expired + f.stats.confirm_probes;
        auto tracked_before = f.adm.tracked();
        if (next < w) {
          now = next;
          f.adm.tick(now, f.out);
          ASSERT_TRUE(f.out.empty()) << "step " << step;
          ASSERT_EQ(f.stats.unconfirmed_expired + f.stats.confirm_probes,
                    stats_before);
          ASSERT_EQ(f.adm.tracked(), tracked_before);
        } else {
          now = std::max(now, w); // a past wakeup: due at once
          f.adm.tick(now, f.out);
          ++wakeups;
          ASSERT_TRUE(f.stats.unconfirmed_expired + f.stats.confirm_probes
                        > stats_before
                      || f.adm.tracked() < tracked_before)
            << "woken for nothing at step " << step;
        }
        for (auto& p : f.take_pings()) {
          auto& name = p.ping().target();
          ASSERT_TRUE(f.table.unconfirmed(name));
          ASSERT_TRUE(is_live(f.table.find_any(name)->state));
          ASSERT_LE(++pinged[name], f.cfg.confirm_attempts);
          // Some answer: the ack confirms the member.
          if (rng() % 3 == 0) {
            auto* who = f.adm.on_ack(p.ping().seq());
            ASSERT_NE(who, nullptr);
            ASSERT_EQ(*who, name);
            f.confirm(std::string(*who));
          }
        }
        for (auto& [name, at] : learnt_at)
          if (now >= at + f.cfg.unconfirmed_ttl)
            ASSERT_FALSE(f.table.unconfirmed(name)) << name;
      }
    }
  }
  EXPECT_GT(wakeups, 100);
  EXPECT_GT(f.stats.unconfirmed_expired, 0u);
  EXPECT_GT(f.stats.confirm_probes, 0u);
}

} // namespace
} // namespace pekonode::membership
