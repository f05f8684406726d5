// Graceful leave: direct leave notices with acks (hand-fed packets on one
// core) and how fast and how reliably 'left' reaches every member (clusters
// on the deterministic simulator, with and without loss).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <vector>

#include "membership/membership.pb.h"
#include "membership/sim_adapter.h"
#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::parse;
using testing::test_addr;

std::vector<address> sorted_addrs(std::vector<address> v) {
  std::sort(v.begin(), v.end());
  return v;
}
using testing::pkt;
using testing::upd;
using testing::node_name;
using testing::sim_cluster;

const time_point t0 = time_point{} + std::chrono::hours(1);

// -- one core, hand-fed packets ------------------------------------------------

// A node "me" that knows peers p0..p{n-1}, all alive at incarnation 0.
struct node {
  core c;
  outbound_list out;
  explicit node(int peers, config cfg = config::local()) : c(cfg, "me", test_addr("me"), {}, 7) {
    c.join({}, t0, out);
    Packet p;
    p.set_sender("p0");
    for (int i = 0; i < peers; ++i) *p.add_updates() = upd("p" + std::to_string(i), 0, ALIVE);
    c.handle(test_addr("p0"), p.SerializeAsString(), t0, out);
    out.clear();
    c.drain_events();
  }
  std::vector<Packet> notices() const {
    std::vector<Packet> r;
    for (auto& o : out) {
      auto p = parse(o);
      if (p.body_case() == Packet::kLeave) r.push_back(p);
    }
    return r;
  }
};

std::string ack_from(const std::string& sender, uint64_t seq) {
  Packet p;
  p.set_sender(sender);
  p.mutable_leave_ack()->set_seq(seq);
  return p.SerializeAsString();
}

TEST(LeaveNotice, LeaverNotifiesEveryMemberDirectlyWithItsLeftClaim) {
  node n(5);
  n.c.leave(t0, n.out);
  auto ns = n.notices();
  ASSERT_EQ(ns.size(), 5u);
  std::vector<address> to;
  for (auto& o : n.out)
    if (parse(o).body_case() == Packet::kLeave) to.push_back(o.to);
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, sorted_addrs({test_addr("p0"), test_addr("p1"), test_addr("p2"), test_addr("p3"), test_addr("p4")}));
  for (auto& p : ns) {
    EXPECT_EQ(p.sender(), "me");
    EXPECT_EQ(p.leave().seq(), ns[0].leave().seq());
    ASSERT_EQ(p.updates_size(), 1);
    EXPECT_EQ(p.updates(0).name(), "me");
    EXPECT_EQ(p.updates(0).state(), LEFT);
    EXPECT_EQ(p.updates(0).incarnation(), 1u);
  }
  EXPECT_EQ(n.c.stats().leave_notices_sent, 5u);
}

TEST(LeaveNotice, UnackedMembersAreRetriedAckedOnesAreNot) {
  node n(4);
  n.c.leave(t0, n.out);
  auto seq = n.notices().at(0).leave().seq();
  n.out.clear();
  n.c.handle(test_addr("p0"), ack_from("p0", seq), t0 + milliseconds(1), n.out);
  n.c.handle(test_addr("p1"), ack_from("p1", seq), t0 + milliseconds(1), n.out);
  n.c.handle(test_addr("p2"), ack_from("p2", seq + 1), t0 + milliseconds(1), n.out); // wrong leave
  EXPECT_TRUE(n.out.empty());
  EXPECT_EQ(n.c.stats().leave_acks_received, 2u);
  // Next gossip tick (local: 50 ms = the resend gap): p2 and p3 again.
  auto tick = t0 + config::local().gossip_interval;
  ASSERT_LE(n.c.next_wakeup(), tick);
  n.c.poll(tick, n.out);
  std::vector<address> to;
  for (auto& o : n.out)
    if (parse(o).body_case() == Packet::kLeave) to.push_back(o.to);
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, sorted_addrs({test_addr("p2"), test_addr("p3")}));
  n.out.clear();
  n.c.handle(test_addr("p2"), ack_from("p2", seq), tick, n.out);
  n.c.handle(test_addr("p3"), ack_from("p3", seq), tick, n.out);
  n.c.handle(test_addr("p3"), ack_from("p3", seq), tick, n.out); // duplicate
  EXPECT_EQ(n.c.stats().leave_acks_received, 4u);
  // All acked: no more notices for the rest of the drain, then silence.
  while (n.c.next_wakeup() != time_point::max()) n.c.poll(n.c.next_wakeup(), n.out);
  EXPECT_TRUE(n.notices().empty());
  EXPECT_EQ(n.c.stats().leave_notices_sent, 6u);
}

TEST(LeaveNotice, NoticesPerTickAreBoundedAndResentUntilDrainEnds) {
  auto cfg = config::local();
  cfg.leave_notices_per_tick = 3;
  node n(7, cfg);
  n.c.leave(t0, n.out);
  EXPECT_EQ(n.notices().size(), 3u);
  // Nobody acks. Every tick sends at most 3, and the first pass reaches all
  // 7 members once before anyone gets a second notice.
  std::map<address, int> per_peer;
  auto count = [&] {
    for (auto& o : n.out)
      if (parse(o).body_case() == Packet::kLeave) ++per_peer[o.to];
  };
  count();
  n.out.clear();
  n.c.poll(t0 + cfg.gossip_interval, n.out);
  EXPECT_EQ(n.notices().size(), 3u);
  count();
  EXPECT_EQ(per_peer.size(), 6u);
  for (auto& [peer, k] : per_peer) EXPECT_EQ(k, 1) << peer;
  n.out.clear();
  n.c.poll(t0 + cfg.gossip_interval * 2, n.out);
  EXPECT_EQ(n.notices().size(), 3u);
  count();
  EXPECT_EQ(per_peer.size(), 7u);
  // Until the drain ends, unacked members keep being retried.
  n.out.clear();
  while (n.c.next_wakeup() != time_point::max()) n.c.poll(n.c.next_wakeup(), n.out);
  // Ticks at 0, 50, ..., 250 ms (the drain ends at 300): 6 x 3.
  EXPECT_EQ(n.c.stats().leave_notices_sent, 18u);
}

TEST(LeaveNotice, LeaverAnswersAProbeWithTheNoticeNotAnAck) {
  node n(3);
  n.c.leave(t0, n.out);
  n.out.clear();
  Packet ping;
  ping.set_sender("p1");
  ping.mutable_ping()->set_seq(9);
  ping.mutable_ping()->set_target("me");
  // Within the resend gap of the first notice: rate-limited.
  n.c.handle(test_addr("p1"), ping.SerializeAsString(), t0 + milliseconds(10), n.out);
  EXPECT_TRUE(n.out.empty());
  n.c.handle(test_addr("p1"), ping.SerializeAsString(), t0 + milliseconds(60), n.out);
  ASSERT_EQ(n.out.size(), 1u);
  EXPECT_EQ(n.out[0].to, test_addr("p1"));
  EXPECT_EQ(parse(n.out[0]).body_case(), Packet::kLeave);
  // Garbage while leaving is dropped quietly.
  n.out.clear();
  n.c.handle(test_addr("p1"), std::string("\xff\xff\xff", 3), t0 + milliseconds(200), n.out);
  n.c.handle(test_addr("zz"), std::string(), t0 + milliseconds(200), n.out);
  EXPECT_TRUE(n.out.empty());
}

TEST(LeaveNotice, ReceiverAcksOnlyWhenItHoldsTheSenderLeft) {
  node n(3);
  Packet p;
  p.set_sender("p1");
  p.mutable_leave()->set_seq(77);
  *p.add_updates() = upd("p1", 1, LEFT);
  n.c.handle(test_addr("p1"), p.SerializeAsString(), t0, n.out);
  EXPECT_EQ(n.c.find("p1")->state, member_state::left);
  ASSERT_EQ(n.out.size(), 1u);
  EXPECT_EQ(n.out[0].to, test_addr("p1"));
  auto a = parse(n.out[0]);
  ASSERT_EQ(a.body_case(), Packet::kLeaveAck);
  EXPECT_EQ(a.leave_ack().seq(), 77u);
  EXPECT_EQ(a.updates_size(), 0); // nothing piggybacked on the ack
  EXPECT_EQ(n.c.stats().leave_acks_sent, 1u);
  // A repeat (our ack was lost) is acked again.
  n.out.clear();
  n.c.handle(test_addr("p1"), p.SerializeAsString(), t0, n.out);
  ASSERT_EQ(n.out.size(), 1u);
  EXPECT_EQ(parse(n.out[0]).body_case(), Packet::kLeaveAck);
  // A notice whose claim we do not hold (p2 is alive at a newer
  // incarnation) is not acked.
  n.c.handle(test_addr("p2"), [] {
    Packet q;
    q.set_sender("p2");
    *q.add_updates() = upd("p2", 5, ALIVE);
    return q.SerializeAsString();
  }(), t0, n.out);
  n.out.clear();
  Packet old;
  old.set_sender("p2");
  old.mutable_leave()->set_seq(1);
  *old.add_updates() = upd("p2", 3, LEFT);
  n.c.handle(test_addr("p2"), old.SerializeAsString(), t0, n.out);
  EXPECT_EQ(n.c.find("p2")->state, member_state::alive);
  for (auto& o : n.out) EXPECT_NE(parse(o).body_case(), Packet::kLeaveAck);
}

TEST(LeaveNotice, StaleAccusationOfALeftMemberGetsTheLeftRecordBack) {
  node n(3);
  Packet l;
  l.set_sender("p1");
  *l.add_updates() = upd("p1", 1, LEFT);
  n.c.handle(test_addr("p1"), l.SerializeAsString(), t0, n.out);
  n.out.clear();
  // p2 missed the leave, probed the silent leaver and now accuses it.
  Packet s;
  s.set_sender("p2");
  *s.add_updates() = upd("p1", 0, SUSPECT, "p2");
  n.c.handle(test_addr("p2"), s.SerializeAsString(), t0, n.out);
  EXPECT_EQ(n.c.find("p1")->state, member_state::left);
  ASSERT_EQ(n.out.size(), 1u);
  EXPECT_EQ(n.out[0].to, test_addr("p2"));
  auto p = parse(n.out[0]);
  ASSERT_EQ(p.updates_size(), 1);
  EXPECT_EQ(p.updates(0).name(), "p1");
  EXPECT_EQ(p.updates(0).state(), LEFT);
  EXPECT_EQ(p.updates(0).incarnation(), 1u);
}

TEST(LeaveNotice, ZeroDisablesNotices) {
  auto cfg = config::local();
  cfg.leave_notices_per_tick = 0;
  node n(5, cfg);
  n.c.leave(t0, n.out);
  while (n.c.next_wakeup() != time_point::max()) n.c.poll(n.c.next_wakeup(), n.out);
  EXPECT_TRUE(n.notices().empty());
  cfg.leave_notices_per_tick = -1;
  EXPECT_FALSE(cfg.validate().empty());
}

// -- clusters on the simulator ---------------------------------------------------

// Boots n nodes through node 0 on links with 0-1 ms delay and waits for
// every node to see every other alive.
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

// Node `leaver` leaves; returns how long until every other node of the n
// sees it as left (duration::max() if not within `limit`).
duration leave_time(sim_cluster& cl, std::size_t n, std::size_t leaver,
                    duration limit) {
  cl.act(leaver, [](core& c, time_point now, outbound_list& out) { c.leave(now, out); });
  auto rest = sim_cluster::range(0, n);
  rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(leaver));
  return cl.run_until([&] { return cl.all_see(rest, node_name(leaver), member_state::left); },
                      limit, milliseconds(1));
}

double ms(duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The bench's case: 10 nodes, local profile, loss-free. With gossip alone,
// seeds 18, 44 and 55 of these left one member unaware for 0.2-0.9 s (it
// learnt 'left' only from an anti-entropy page); notices reach all at once.
TEST(LeaveCluster, TenNodesAllSeeLeftWithin200msEverySeed) {
  std::vector<double> times;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    sim_cluster cl(10, config::local(), seed);
    ASSERT_TRUE(boot(cl, 10)) << "seed " << seed;
    auto t = leave_time(cl, 10, 8, seconds(30));
    EXPECT_LE(t, milliseconds(200)) << "seed " << seed << ": " << ms(t) << " ms";
    times.push_back(ms(t));
  }
  std::sort(times.begin(), times.end());
  std::cout << "leave ms over 60 seeds: median " << times[30] << " max " << times.back() << "\n";
}

// 20 % loss on every link (each notice and each ack may be lost): the
// retries within the drain still reach every member within it.
TEST(LeaveCluster, LeaveReachesEveryoneUnderLoss) {
  const auto cfg = config::local();
  std::vector<double> times;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    sim_cluster cl(10, cfg, 1000 + seed);
    ASSERT_TRUE(boot(cl, 10)) << "seed " << 1000 + seed;
    sim::link_faults f;
    f.delay_max = milliseconds(1);
    f.loss = 0.2;
    cl.net.set_default_faults(f);
    auto t = leave_time(cl, 10, 3, seconds(30));
    EXPECT_LE(t, cfg.leave_drain) << "seed " << 1000 + seed << ": " << ms(t) << " ms";
    times.push_back(ms(t));
    EXPECT_GE(cl.nodes[3]->c().stats().leave_notices_sent, 9u);
  }
  std::sort(times.begin(), times.end());
  std::cout << "leave ms at 20% loss over 30 seeds: median " << times[15] << " max "
            << times.back() << "\n";
}

// More members than the drain can notify directly (16 per tick x 6 ticks =
// 96 < 149): the notices stay bounded and gossip relays reach the rest.
TEST(LeaveCluster, LargeClusterNoticesBoundedGossipDoesTheRest) {
  const std::size_t n = 150;
  const auto cfg = config::local();
  sim_cluster cl(n, cfg, 4242);
  std::cout << "seed 4242\n";
  ASSERT_TRUE(boot(cl, n));
  auto t = leave_time(cl, n, 17, seconds(10));
  ASSERT_NE(t, duration::max());
  EXPECT_LE(t, milliseconds(500)) << ms(t) << " ms";
  cl.net.run_for(seconds(1)); // the rest of the drain
  auto& st = cl.nodes[17]->c().stats();
  EXPECT_LE(st.leave_notices_sent, 96u);
  EXPECT_GE(st.leave_notices_sent, 90u);
  EXPECT_GE(st.leave_acks_received, 90u);
  std::cout << "N=150: all see left after " << ms(t) << " ms, notices "
            << st.leave_notices_sent << ", acks " << st.leave_acks_received << "\n";
}

} // namespace
} // namespace pekonode::membership
