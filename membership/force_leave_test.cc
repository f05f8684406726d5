// Force-leave (the operator marks a failed member left): what it refuses,
// how 'left' spreads, that nobody retries the member afterwards, and that
// a force-leave of a member that is in fact alive is refuted like any
// other accusation (deterministic simulator; seeds printed).
#include <gtest/gtest.h>

#include <iostream>

#include "membership/membership.pb.h"
#include "membership/sim_adapter.h"
#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::node_name;
using testing::sim_cluster;
using testing::test_addr;
using testing::upd;

const time_point t0 = time_point{} + std::chrono::hours(1);

TEST(ForceLeave, RefusesAliveLeftUnknownAndSelf) {
  core c(config::local(), "me", test_addr("me"), {}, 7);
  outbound_list out;
  c.join({}, t0, out);
  Packet p;
  p.set_sender("p0");
  *p.add_updates() = upd("p0", 0, ALIVE);
  *p.add_updates() = upd("p1", 4, DEAD, "p0");
  *p.add_updates() = upd("p2", 2, LEFT);
  *p.add_updates() = upd("p3", 1, SUSPECT, "p0");
  c.handle(test_addr("p0"), p.SerializeAsString(), t0, out);
  ASSERT_NE(c.find("p1"), nullptr);
  out.clear();
  c.drain_events();
  EXPECT_EQ(c.force_leave("p0", t0, out), ec::not_failed);
  EXPECT_EQ(c.force_leave("ghost", t0, out), ec::unknown_member);
  EXPECT_EQ(c.force_leave("me", t0, out), ec::is_self);
  if (auto* p2 = c.find("p2"))
    EXPECT_EQ(c.force_leave("p2", t0, out), ec::not_failed);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(c.drain_events().empty());

  // A dead member: left at the incarnation held, an event, and gossip
  // naming this node as the accuser.
  ASSERT_EQ(c.force_leave("p1", t0, out), ec::none);
  auto* p1 = c.find("p1");
  ASSERT_NE(p1, nullptr);
  EXPECT_EQ(p1->state, member_state::left);
  EXPECT_EQ(p1->incarnation, 4u);
  auto ev = c.drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, event::left);
  bool gossiped = false;
  for (auto& o : out) {
    auto pk = testing::parse(o);
    for (auto& u : pk.updates())
      if (u.name() == "p1" && u.state() == LEFT && u.incarnation() == 4
          && u.from() == "me")
        gossiped = true;
  }
  EXPECT_TRUE(gossiped);
  // A suspect member too.
  EXPECT_EQ(c.force_leave("p3", t0, out), ec::none);
  EXPECT_EQ(c.find("p3")->state, member_state::left);
  // Once left, a second force-leave is refused.
  EXPECT_EQ(c.force_leave("p1", t0, out), ec::not_failed);
}

bool boot(sim_cluster& cl, std::size_t n) {
  sim::link_faults f;
  f.delay_max = milliseconds(1);
  cl.net.set_default_faults(f);
  cl.start(0, {});
  for (std::size_t i = 1; i < n; ++i) cl.start(i, {0});
  return cl.run_until([&] {
    for (std::size_t i = 0; i < n; ++i)
      if (cl.alive_count(i) != n) return false;
    return true;
  }, seconds(30), milliseconds(5)) != duration::max();
}

uint64_t reconnects(sim_cluster& cl, std::size_t n) {
  uint64_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += cl.nodes[i]->c().stats().reconnects;
  return sum;
}

// Runs the scenario: 4 nodes, n3 crashes and is seen dead; with `force`,
// n0 forces it out. Returns the reconnect requests the others sent in the
// following 30 s (their seed, n0, is live: a dead n3 is the only target).
uint64_t after_crash(uint64_t seed, bool force) {
  sim_cluster cl(4, config::local(), seed);
  EXPECT_TRUE(boot(cl, 4)) << "seed " << seed;
  cl.crash(3);
  auto rest = sim_cluster::range(0, 3);
  EXPECT_NE(cl.run_until([&] { return cl.all_see(rest, "n3", member_state::dead); },
                         seconds(30)),
            duration::max())
    << "seed " << seed;
  if (force) {
    ec result = ec::bad_config;
    cl.act(0, [&](core& c, time_point now, outbound_list& out) {
      result = c.force_leave("n3", now, out);
    });
    auto t = cl.run_until([&] { return cl.all_see(rest, "n3", member_state::left); },
                          seconds(5), milliseconds(1));
    EXPECT_EQ(result, ec::none);
    EXPECT_LE(t, milliseconds(500)) << "seed " << seed;
  }
  auto before = reconnects(cl, 3);
  cl.net.run_for(seconds(30));
  if (force) // still left everywhere, never retried
    EXPECT_TRUE(cl.all_see(rest, "n3", member_state::left)) << "seed " << seed;
  return reconnects(cl, 3) - before;
}

TEST(ForceLeaveCluster, SpreadsAndTheMemberIsNotRetried) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::cout << "seed " << seed << "\n";
    EXPECT_GT(after_crash(seed, false), 0u) << "seed " << seed
                                            << ": a dead member is retried";
    EXPECT_EQ(after_crash(seed, true), 0u) << "seed " << seed;
  }
}

// A member forced out while it was cut off (a partition, not a crash) is
// alive after all: once it can talk again it learns it was declared left,
// refutes with a higher incarnation like any accusation, and everyone sees
// it alive again. A force-leave cannot banish a live member.
TEST(ForceLeaveCluster, ALiveMemberRefutesAForceLeave) {
  for (uint64_t seed = 11; seed <= 15; ++seed) {
    std::cout << "seed " << seed << "\n";
    sim_cluster cl(4, config::local(), seed);
    ASSERT_TRUE(boot(cl, 4)) << "seed " << seed;
    uint64_t inc_before = 0;
    member_state st;
    ASSERT_TRUE(cl.nodes[0]->view("n2", st, &inc_before));
    cl.crash(2);
    auto others = std::vector<std::size_t>{0, 1, 3};
    ASSERT_NE(cl.run_until([&] { return cl.all_see(others, "n2", member_state::dead); },
                           seconds(30)),
              duration::max());
    ec result = ec::bad_config;
    cl.act(0, [&](core& c, time_point now, outbound_list& out) {
      result = c.force_leave("n2", now, out);
    });
    ASSERT_NE(cl.run_until([&] { return cl.all_see(others, "n2", member_state::left); },
                           seconds(5), milliseconds(1)),
              duration::max());
    EXPECT_EQ(result, ec::none) << "seed " << seed;
    cl.net.attach(testing::node_addr(2), cl.nodes[2].get());
    auto t = cl.run_until([&] { return cl.all_see(others, "n2", member_state::alive); },
                          seconds(60), milliseconds(5));
    ASSERT_NE(t, duration::max()) << "seed " << seed << ": n2 stays banished";
    uint64_t inc_after = 0;
    ASSERT_TRUE(cl.nodes[1]->view("n2", st, &inc_after));
    EXPECT_GT(inc_after, inc_before);
    std::cout << "  n2 alive everywhere again "
              << std::chrono::duration_cast<milliseconds>(t).count()
              << " ms after it could talk again\n";
  }
}

} // namespace
} // namespace pekonode::membership
