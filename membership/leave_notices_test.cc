// Direct leave notices on their own: who is notified, how often, what an
// ack or a packet from a member does while leaving, and answering the
// notices of other leavers.
#include "membership/leave_notices.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

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

const time_point t0 = time_point{} + std::chrono::hours(1);

struct fixture {
  config cfg;
  core_stats stats;
  std::mt19937_64 rng{5};
  member_table table{self(), 1000, seconds(30)};
  outbox ob{cfg, "me", stats, 900, [] { return 3; }};
  leave_notices ln{cfg, table, ob, rng, stats};
  outbound_list out;

  static member self() {
    member m;
    m.name = "me";
    m.addr = test_addr("me");
    return m;
  }

  explicit fixture(int peers, config c = config::local()) : cfg(c) {
    for (int i = 0; i < peers; ++i) {
      auto name = "p" + std::to_string(i);
      auto addr = test_addr(name);
      claim cl;
      cl.name = name;
      cl.addr = addr;
      table.apply(cl, name, true, t0);
    }
    // This node has left: incarnation + 1.
    table.self().incarnation = 1;
    table.self().state = member_state::left;
  }

  std::vector<address> notified() const {
    std::vector<address> r;
    for (auto& o : out)
      if (parse(o).has_leave()) r.push_back(o.to);
    return r;
  }

  static std::string ack(const std::string& from, uint64_t seq) {
    Packet p;
    p.set_sender(from);
    p.mutable_leave_ack()->set_seq(seq);
    return p.SerializeAsString();
  }
};

TEST(LeaveNotices, EveryLiveMemberIsNotifiedWithTheLeftClaim) {
  fixture f(5);
  f.ln.start(t0);
  EXPECT_TRUE(f.ln.pending());
  f.ln.tick(t0, f.out);
  auto to = f.notified();
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, sorted_addrs({test_addr("p0"), test_addr("p1"), test_addr("p2"), test_addr("p3"), test_addr("p4")}));
  for (auto& o : f.out) {
    auto p = parse(o);
    EXPECT_EQ(p.leave().seq(), 900u);
    ASSERT_EQ(p.updates_size(), 1);
    EXPECT_EQ(p.updates(0).name(), "me");
    EXPECT_EQ(p.updates(0).state(), LEFT);
    EXPECT_EQ(p.updates(0).incarnation(), 1u);
  }
  EXPECT_EQ(f.stats.leave_notices_sent, 5u);
  // Again within the resend gap: nothing; after it: all again.
  f.out.clear();
  f.ln.tick(t0 + f.ln.resend_gap() - milliseconds(1), f.out);
  EXPECT_TRUE(f.out.empty());
  f.ln.tick(t0 + f.ln.resend_gap(), f.out);
  EXPECT_EQ(f.notified().size(), 5u);
}

TEST(LeaveNotices, DeadMembersAreNotNotified) {
  fixture f(3);
  claim dead;
  dead.name = "p1";
  dead.addr = test_addr("p1");
  dead.state = member_state::dead;
  f.table.apply(dead, "p0", true, t0);
  f.ln.start(t0);
  f.ln.tick(t0, f.out);
  auto to = f.notified();
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, sorted_addrs({test_addr("p0"), test_addr("p2")}));
}

TEST(LeaveNotices, PerTickBudgetAndTheDrainCap) {
  // local: 16 per 50 ms tick, 300 ms drain: at most 96 members notified.
  fixture f(200);
  f.ln.start(t0);
  std::set<address> all;
  for (int tick = 0; tick < 6; ++tick) {
    f.out.clear();
    f.ln.tick(t0 + milliseconds(50) * tick, f.out);
    EXPECT_EQ(f.notified().size(), 16u) << tick;
    for (auto& a : f.notified()) all.insert(a);
  }
  EXPECT_EQ(all.size(), 96u);
  // The next round resends only once the gap has passed.
  f.out.clear();
  f.ln.tick(t0 + milliseconds(300), f.out);
  EXPECT_EQ(f.notified().size(), 16u);
}

TEST(LeaveNotices, AcksRemoveMembersAndOtherSequencesAreIgnored) {
  fixture f(3);
  f.ln.start(t0);
  f.ln.tick(t0, f.out);
  f.out.clear();
  f.ln.handle(f.ack("p0", 899), t0, f.out); // another leave's ack
  f.ln.handle(f.ack("zz", 900), t0, f.out); // not pending
  EXPECT_EQ(f.stats.leave_acks_received, 0u);
  f.ln.handle(f.ack("p0", 900), t0, f.out);
  f.ln.handle(f.ack("p0", 900), t0, f.out); // duplicate
  f.ln.handle(f.ack("p2", 900), t0, f.out);
  EXPECT_EQ(f.stats.leave_acks_received, 2u);
  EXPECT_TRUE(f.out.empty()); // acks are never answered
  f.ln.tick(t0 + seconds(1), f.out);
  EXPECT_EQ(f.notified(), std::vector<address>{test_addr("p1")});
  f.ln.handle(f.ack("p1", 900), t0, f.out);
  EXPECT_FALSE(f.ln.pending());
}

TEST(LeaveNotices, AMemberThatTalksGetsTheNoticeAtOnce) {
  fixture f(3, [] {
    auto c = config::local();
    c.leave_notices_per_tick = 1;
    return c;
  }());
  f.ln.start(t0);
  // Not notified yet: a probe from p2 gets the notice, sent to the
  // address we know.
  Packet ping;
  ping.set_sender("p2");
  ping.mutable_ping()->set_seq(1);
  ping.mutable_ping()->set_target("me");
  f.ln.handle(ping.SerializeAsString(), t0, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p2"));
  EXPECT_TRUE(parse(f.out[0]).has_leave());
  // Within the resend gap: nothing more.
  f.ln.handle(ping.SerializeAsString(), t0 + milliseconds(10), f.out);
  EXPECT_EQ(f.out.size(), 1u);
  // A packet with no body and no updates counts too.
  f.ln.handle(pkt("p0", {}), t0, f.out);
  EXPECT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].to, test_addr("p0"));
  // Unknown senders and garbage: nothing, and nothing counted.
  f.ln.handle(pkt("stranger", {upd("x", 0, ALIVE)}), t0, f.out);
  f.ln.handle("\xff\xff", t0, f.out);
  f.ln.handle(std::string(f.cfg.max_datagram + 1, 'x'), t0, f.out);
  f.ln.handle(pkt("", {upd("x", 0, ALIVE)}), t0, f.out);
  EXPECT_EQ(f.out.size(), 2u);
  EXPECT_TRUE(f.stats.bad_packets.empty());
  // Nothing pending: nothing parsed at all.
  f.ln.stop();
  f.ln.handle(ping.SerializeAsString(), t0 + seconds(5), f.out);
  EXPECT_EQ(f.out.size(), 2u);
}

// Acks in the middle of a round never make a member wait a second round:
// within one round, nobody gets a second notice while an unacked member
// has had none.
TEST(LeaveNotices, AcksMidRoundKeepTheRestOfTheRound) {
  uint64_t seed = 4242;
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 pick(seed);
  auto cfg = config::local();
  cfg.leave_notices_per_tick = 3;
  cfg.leave_drain = seconds(1); // 20 ticks x 3: every member is pending
  fixture f(40, cfg);
  f.ln.start(t0);
  std::set<std::string> acked;
  std::map<std::string, int> notices;
  std::map<address, std::string> name_at;
  for (int i = 0; i < 40; ++i) name_at[test_addr("p" + std::to_string(i))] = "p" + std::to_string(i);
  auto t = t0;
  for (int tick = 0; tick < 60 && f.ln.pending(); ++tick, t += milliseconds(50)) {
    f.out.clear();
    f.ln.tick(t, f.out);
    for (auto& o : f.out) {
      auto name = name_at.at(o.to);
      EXPECT_EQ(acked.count(name), 0u) << name << " notified after its ack";
      ++notices[name];
      for (int i = 0; i < 40; ++i) {
        auto other = "p" + std::to_string(i);
        if (!acked.count(other)) {
          EXPECT_GE(notices[other], notices[name] - 1) << other << " skipped";
        }
      }
    }
    // Ack a random notified member now and then.
    if (!f.out.empty() && pick() % 2 == 0) {
      auto& o = f.out[pick() % f.out.size()];
      auto name = name_at.at(o.to);
      f.ln.handle(f.ack(name, 900), t, f.out);
      acked.insert(name);
    }
  }
  EXPECT_EQ(f.stats.leave_acks_received, acked.size());
  EXPECT_GT(acked.size(), 5u);
}

TEST(LeaveNotices, NoNoticesWhenDisabled) {
  auto cfg = config::local();
  cfg.leave_notices_per_tick = 0;
  fixture f(3, cfg);
  f.ln.start(t0);
  f.ln.tick(t0, f.out);
  EXPECT_FALSE(f.ln.pending());
  EXPECT_TRUE(f.out.empty());
}

TEST(LeaveNotices, OtherLeaversAreAckedOnlyWhenHeldAsLeft) {
  fixture f(2);
  f.table.self().state = member_state::alive; // we stay
  LeaveNotice n;
  n.set_seq(7);
  f.ln.on_notice("p0", test_addr("p0"), n, f.out); // p0 still alive to us
  EXPECT_TRUE(f.out.empty());
  claim left;
  left.name = "p0";
  left.addr = test_addr("p0");
  left.incarnation = 1;
  left.state = member_state::left;
  f.table.apply(left, "p0", true, t0);
  f.ln.on_notice("p0", test_addr("p0", 2), n, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p0", 2)); // the notice's source
  EXPECT_EQ(parse(f.out[0]).leave_ack().seq(), 7u);
  EXPECT_EQ(f.stats.leave_acks_sent, 1u);
  f.ln.on_notice("nobody", test_addr("x"), n, f.out);
  EXPECT_EQ(f.out.size(), 1u);
}

} // namespace
} // namespace pekonode::membership
