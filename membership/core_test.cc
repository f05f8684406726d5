// Single-core behaviour with hand-fed packets, plus the precedence table.
#include "membership/core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <random>

#include "membership/membership.pb.h"
#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::parse;
using testing::test_addr;

// `ups` after the sender's own record: a sender the receiver then knows at
// its address, which vouches for the members it names.
std::vector<Update> with_self(const std::string& sender, std::vector<Update> ups) {
  ups.insert(ups.begin(), testing::upd(sender, 0, ALIVE));
  return ups;
}
using testing::pkt;
using testing::upd;

const time_point t0 = time_point{} + std::chrono::hours(1);

TEST(Precedence, Table) {
  using S = member_state;
  struct row { uint64_t ci; S cs; uint64_t i; S s; bool want; };
  const row rows[] = {
    {1, S::alive, 1, S::alive, false},   {1, S::alive, 2, S::alive, true},
    {1, S::suspect, 1, S::alive, false}, {1, S::suspect, 2, S::alive, true},
    {1, S::dead, 2, S::alive, true},     {1, S::left, 1, S::alive, false},
    {1, S::alive, 1, S::suspect, true},  {1, S::alive, 0, S::suspect, false},
    {1, S::suspect, 1, S::suspect, false}, {1, S::dead, 1, S::suspect, false},
    {1, S::alive, 1, S::dead, true},     {1, S::suspect, 1, S::dead, true},
    {1, S::dead, 1, S::dead, false},     {1, S::left, 1, S::dead, false},
    {1, S::dead, 1, S::left, true},      {1, S::left, 1, S::left, false},
    {1, S::left, 2, S::alive, true},     {3, S::alive, 2, S::dead, false},
  };
  for (auto& r : rows)
    EXPECT_EQ(supersedes(r.ci, r.cs, r.i, r.s), r.want)
      << r.ci << to_string(r.cs) << " <- " << r.i << to_string(r.s);
}

struct fixture {
  core c{config::lan(), "me", test_addr("me"), {}, 42};
  outbound_list out;
  fixture(int peers) {
    c.join({}, t0, out);
    std::vector<Update> ups;
    for (int i = 0; i < peers; ++i) ups.push_back(upd("p" + std::to_string(i), 0, ALIVE));
    c.handle(test_addr("p0"), pkt("p0", ups), t0, out);
    out.clear();
    c.drain_events();
  }
  // Polls at every wakeup up to t, collecting sends.
  void run_to(time_point t) {
    while (c.next_wakeup() <= t) c.poll(c.next_wakeup(), out);
  }
};

TEST(Core, LearnsMembersFromGossipAndEmitsJoined) {
  core c{config::lan(), "me", test_addr("me"), {}, 1};
  outbound_list out;
  c.join({}, t0, out);
  c.handle(test_addr("a"), pkt("a", {upd("a", 0, ALIVE), upd("b", 3, ALIVE)}), t0, out);
  auto ev = c.drain_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, event::joined);
  EXPECT_EQ(c.members().size(), 3u);
  EXPECT_EQ(c.live_count(), 3u);
  // The same news again is stale: not re-applied.
  c.handle(test_addr("a"), pkt("a", {upd("b", 3, ALIVE)}), t0, out);
  EXPECT_TRUE(c.drain_events().empty());
  EXPECT_EQ(c.stats().updates_stale, 1u);
}

TEST(Core, ProbeThenAck) {
  fixture f(1);
  f.run_to(t0 + seconds(1));
  ASSERT_EQ(f.c.stats().probes, 1u);
  const outbound* ping = nullptr;
  for (auto& o : f.out) if (parse(o).has_ping()) ping = &o;
  ASSERT_NE(ping, nullptr);
  EXPECT_EQ(ping->to, test_addr("p0"));
  auto p = parse(*ping);
  EXPECT_EQ(p.ping().target(), "p0");
  Packet ack;
  ack.set_sender("p0");
  ack.mutable_ack()->set_seq(p.ping().seq());
  f.c.handle(test_addr("p0"), ack.SerializeAsString(), t0 + seconds(1), f.out);
  EXPECT_EQ(f.c.stats().acks, 1u);
  f.run_to(t0 + milliseconds(1450)); // before the first probe's end
  EXPECT_EQ(f.c.stats().probe_failures, 0u);
  EXPECT_EQ(f.c.health_score(), 0);
}

TEST(Core, TimeoutSendsPingReqsThenSuspects) {
  fixture f(5);
  f.run_to(t0 + milliseconds(999));
  ASSERT_EQ(f.c.stats().probes, 1u);
  std::string target;
  for (auto& o : f.out) if (parse(o).has_ping()) target = parse(o).ping().target();
  f.out.clear();
  f.run_to(t0 + milliseconds(1600));
  int reqs = 0;
  for (auto& o : f.out) {
    auto p = parse(o);
    if (!p.has_ping_req()) continue;
    ++reqs;
    EXPECT_EQ(p.ping_req().target(), target);
    EXPECT_NE(o.to, test_addr(target));
  }
  EXPECT_EQ(reqs, 3);
  f.run_to(t0 + milliseconds(2600));
  auto ev = f.c.drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].kind, event::suspect);
  EXPECT_EQ(ev[0].m.name, target);
  // No nacks arrived although 3 were expected: we blame ourselves.
  EXPECT_EQ(f.c.health_score(), 3);
}

TEST(Core, RelaysPingReqAndNacksOnTimeout) {
  fixture f(2);
  Packet req;
  req.set_sender("p0");
  req.mutable_ping_req()->set_seq(77);
  req.mutable_ping_req()->set_target("p1");
  req.mutable_ping_req()->set_target_addr(test_addr("p1"));
  f.c.handle(test_addr("p0"), req.SerializeAsString(), t0, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p1"));
  auto ping = parse(f.out[0]);
  ASSERT_TRUE(ping.has_ping());
  f.out.clear();
  f.run_to(t0 + milliseconds(450));
  bool nacked = false;
  for (auto& o : f.out) {
    auto p = parse(o);
    if (p.has_nack()) {
      nacked = true;
      EXPECT_EQ(o.to, test_addr("p0"));
      EXPECT_EQ(p.nack().seq(), 77u);
    }
  }
  EXPECT_TRUE(nacked);
}

TEST(Core, AnswersPingForItsNameOnly) {
  fixture f(1);
  Packet ping;
  ping.set_sender("p0");
  ping.mutable_ping()->set_seq(5);
  ping.mutable_ping()->set_target("me");
  f.c.handle(test_addr("p0"), ping.SerializeAsString(), t0, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(parse(f.out[0]).ack().seq(), 5u);
  ping.mutable_ping()->set_target("someone-else");
  f.c.handle(test_addr("p0"), ping.SerializeAsString(), t0, f.out);
  EXPECT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.c.stats().bad_packets.at("wrong_target"), 1u);
}

TEST(Core, RefutesSuspicionWithHigherIncarnation) {
  fixture f(1);
  f.c.handle(test_addr("p0"), pkt("p0", {[] { auto u = upd("me", 0, SUSPECT, "p0"); u.set_addr(test_addr("me")); return u; }()}),
             t0, f.out);
  EXPECT_EQ(f.c.self().incarnation, 1u);
  EXPECT_EQ(f.c.stats().refutations, 1u);
  EXPECT_EQ(f.c.health_score(), 1);
  bool told = false;
  for (auto& o : f.out) {
    auto p = parse(o);
    for (auto& u : p.updates())
      if (u.name() == "me" && u.state() == ALIVE && u.incarnation() == 1 && o.to == test_addr("p0"))
        told = true;
  }
  EXPECT_TRUE(told);
  // A restarted node hearing itself at a higher incarnation jumps above it.
  auto u = upd("me", 9, ALIVE);
  u.set_addr(test_addr("me"));
  f.c.handle(test_addr("p0"), pkt("p0", {u}), t0, f.out);
  EXPECT_EQ(f.c.self().incarnation, 10u);
}

TEST(Core, BuddyPingCarriesSuspicion) {
  fixture f(1);
  f.c.handle(test_addr("p9"), pkt("p9", {upd("p0", 0, SUSPECT, "p9")}), t0, f.out);
  f.out.clear();
  f.run_to(t0 + seconds(1));
  bool buddy = false;
  for (auto& o : f.out) {
    auto p = parse(o);
    if (p.has_ping())
      for (auto& u : p.updates()) buddy |= u.name() == "p0" && u.state() == SUSPECT;
  }
  EXPECT_TRUE(buddy);
}

TEST(Core, StaleAccusationGetsNewerRecordBack) {
  fixture f(3);
  // p1 refuted (alive at 2); p2 still gossips the old accusation at 1.
  f.c.handle(test_addr("p1"), pkt("p1", {upd("p1", 2, ALIVE)}), t0, f.out);
  f.out.clear();
  f.c.handle(test_addr("p2"), pkt("p2", {upd("p1", 1, SUSPECT, "p0")}), t0, f.out);
  EXPECT_EQ(f.c.find("p1")->state, member_state::alive);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p2"));
  auto p = parse(f.out[0]);
  ASSERT_EQ(p.updates_size(), 1);
  EXPECT_EQ(p.updates(0).name(), "p1");
  EXPECT_EQ(p.updates(0).incarnation(), 2u);
  EXPECT_EQ(p.updates(0).state(), ALIVE);
  EXPECT_EQ(f.c.stats().corrections_sent, 1u);
  // A current accusation is news, not stale: no correction.
  f.out.clear();
  f.c.handle(test_addr("p2"), pkt("p2", {upd("p1", 2, SUSPECT, "p0")}), t0, f.out);
  EXPECT_EQ(f.c.find("p1")->state, member_state::suspect);
  EXPECT_EQ(f.c.stats().corrections_sent, 1u);
}

TEST(Core, PacketFromSuspectGetsSuspicionNotice) {
  fixture f(3);
  f.c.handle(test_addr("p0"), pkt("p0", {upd("p1", 0, SUSPECT, "p0")}), t0, f.out);
  ASSERT_EQ(f.c.find("p1")->state, member_state::suspect);
  f.out.clear();
  // p1 talks to us (its refutation is not in this packet): tell it.
  f.c.handle(test_addr("p1"), pkt("p1", {upd("p2", 0, ALIVE)}), t0, f.out);
  auto notices = [&] {
    std::size_t n = 0;
    for (auto& o : f.out) {
      auto p = parse(o);
      for (auto& u : p.updates())
        n += o.to == test_addr("p1") && u.name() == "p1" && u.state() == SUSPECT
             && u.from() == "me";
    }
    return n;
  };
  EXPECT_EQ(notices(), 1u);
  // Rate-limited per suspect.
  f.out.clear();
  f.c.handle(test_addr("p1"), pkt("p1", {upd("p2", 0, ALIVE)}), t0 + milliseconds(1), f.out);
  EXPECT_EQ(notices(), 0u);
  // From another address (spoofed or moved): nothing is sent there.
  f.c.handle(test_addr("evil"), pkt("p1", {upd("p2", 0, ALIVE)}), t0 + seconds(1), f.out);
  for (auto& o : f.out) EXPECT_NE(o.to, test_addr("evil"));
  // Its refutation clears the suspicion: no more notices.
  f.out.clear();
  f.c.handle(test_addr("p1"), pkt("p1", {upd("p1", 1, ALIVE)}), t0 + seconds(2), f.out);
  EXPECT_EQ(f.c.find("p1")->state, member_state::alive);
  EXPECT_EQ(notices(), 0u);
  EXPECT_EQ(f.c.stats().suspect_notices, 1u);
}

TEST(Core, SuspectAnswersNoticeWithCurrentRecord) {
  core c{config::lan(), "me", test_addr("me"), {}, 7};
  outbound_list out;
  c.join({}, t0, out);
  // First accusation: refute to incarnation 1.
  c.handle(test_addr("a"), pkt("a", {upd("me", 0, SUSPECT, "a")}), t0, out);
  ASSERT_EQ(c.self().incarnation, 1u);
  out.clear();
  // b missed the refutation and notices us with the old claim: we answer
  // b directly with our current record, without another refutation.
  c.handle(test_addr("b"), pkt("b", {upd("me", 0, SUSPECT, "b")}), t0, out);
  EXPECT_EQ(c.self().incarnation, 1u);
  bool answered = false;
  for (auto& o : out) {
    auto p = parse(o);
    for (auto& u : p.updates())
      answered |= o.to == test_addr("b") && u.name() == "me" && u.state() == ALIVE
                  && u.incarnation() == 1u;
  }
  EXPECT_TRUE(answered);
}

TEST(Core, SuspicionExpiresToDead) {
  fixture f(1);
  f.c.handle(test_addr("p9"), pkt("p9", {upd("p0", 0, SUSPECT, "p9")}), t0, f.out);
  f.c.drain_events();
  // N=3 (me, p0, p9): k=0, so the timeout is min = 4 s.
  f.run_to(t0 + seconds(3));
  EXPECT_TRUE(f.c.drain_events().empty());
  f.run_to(t0 + seconds(5));
  auto ev = f.c.drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().kind, event::dead);
  EXPECT_EQ(f.c.stats().deaths_declared, 1u);
}

// Healing a partition: a member held dead gets a ping carrying our 'dead'
// record every [1x, 2x) dead_probe_interval; any packet from a member held
// dead (not one refuting it) is answered with that record and a reconnect
// request, at most one reconnect per probe interval.
TEST(Core, DeadMembersAreProbedAndTheirPacketsStartAReconnect) {
  for (bool on : {true, false}) {
    auto cfg = config::lan();
    if (!on) cfg.dead_probe_interval = {};
    core c{cfg, "me", test_addr("me"), {}, 7};
    outbound_list out;
    c.join({}, t0, out);
    c.handle(test_addr("p0"),
             pkt("p0", {upd("p0", 0, ALIVE), upd("p1", 0, ALIVE), upd("p2", 0, ALIVE)}),
             t0, out);
    c.handle(test_addr("p0"), pkt("p0", {upd("p1", 0, DEAD, "p0")}), t0, out);
    ASSERT_NE(c.find("p1"), nullptr);
    ASSERT_EQ(c.find("p1")->state, member_state::dead);
    out.clear();
    auto now = t0;
    while (c.next_wakeup() <= t0 + 2 * cfg.dead_probe_interval + milliseconds(1)
           && now < t0 + seconds(10)) {
      now = c.next_wakeup();
      c.poll(now, out);
    }
    std::size_t probes = 0;
    for (auto& o : out) {
      auto p = parse(o);
      if (o.to != test_addr("p1") || !p.has_ping()) continue;
      ++probes;
      EXPECT_EQ(p.ping().target(), "p1");
      ASSERT_EQ(p.updates_size(), 1);
      EXPECT_EQ(p.updates(0).state(), DEAD);
      EXPECT_EQ(p.updates(0).from(), "me");
    }
    EXPECT_EQ(probes, on ? 1u : 0u);
    EXPECT_EQ(c.stats().dead_probes, on ? 1u : 0u);
    // p1 answers (an ack, not refuting): our record and a reconnect.
    auto ack = [](Packet& p) { p.mutable_ack()->set_seq(1); };
    out.clear();
    auto t = t0 + seconds(5);
    c.handle(test_addr("p1"), pkt("p1", {}, ack), t, out);
    bool notice = false, reconnect = false;
    for (auto& o : out) {
      if (o.to != test_addr("p1")) continue;
      auto p = parse(o);
      if (p.has_join() && p.join().reconnect()) reconnect = true;
      for (auto& u : p.updates())
        if (u.name() == "p1" && u.state() == DEAD) notice = true;
    }
    EXPECT_EQ(reconnect, on);
    EXPECT_EQ(notice, on);
    EXPECT_EQ(c.stats().dead_contacts, on ? 1u : 0u);
    // Another packet within the probe interval: no second reconnect.
    out.clear();
    c.handle(test_addr("p1"), pkt("p1", {}, ack), t + milliseconds(10), out);
    for (auto& o : out) EXPECT_FALSE(parse(o).has_join());
    // A refutation from p1 makes it alive: no notice, but still a reconnect
    // (after a partition it knows members we hold dead).
    out.clear();
    c.handle(test_addr("p1"), pkt("p1", {upd("p1", 1, ALIVE)}, ack),
             t + seconds(2), out);
    ASSERT_NE(c.find("p1"), nullptr);
    EXPECT_EQ(c.find("p1")->state, member_state::alive);
    for (auto& o : out) {
      auto p = parse(o);
      for (auto& u : p.updates()) EXPECT_NE(u.state(), DEAD);
    }
    EXPECT_EQ(c.stats().dead_contacts, on ? 2u : 0u);
    // Alive now: its packets start nothing.
    c.handle(test_addr("p1"), pkt("p1", {}, ack), t + seconds(4), out);
    EXPECT_EQ(c.stats().dead_contacts, on ? 2u : 0u);
  }
}

// Two views that lost each other one way (a restart wave: the nodes that
// restarted last know only each other, while the rest still hold them
// alive): a ping from a sender we do not know is acked with
// Ack.stranger, and the pinger, which holds us as a member, introduces
// itself with a reconnect request (at most one per probe interval).
TEST(Core, AStrangersAckStartsAReconnect) {
  core c{config::lan(), "me", test_addr("me"), {}, 7};
  outbound_list out;
  c.join({}, t0, out);
  c.handle(test_addr("p0"), pkt("p0", {upd("p0", 0, ALIVE)}), t0, out);
  ASSERT_NE(c.find("p0"), nullptr);
  // A ping from "q", unknown here: an ack that says so.
  out.clear();
  auto ping = [](Packet& p) {
    p.mutable_ping()->set_seq(9);
    p.mutable_ping()->set_target("me");
  };
  c.handle(test_addr("q"), pkt("q", {}, ping), t0, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(parse(out[0]).ack().stranger());
  // A ping from p0, a member: a plain ack.
  out.clear();
  c.handle(test_addr("p0"), pkt("p0", {}, ping), t0, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(parse(out[0]).ack().stranger());
  // p0 acks as if it did not know us: a reconnect request to p0.
  auto stranger_ack = [](Packet& p) {
    p.mutable_ack()->set_seq(1);
    p.mutable_ack()->set_stranger(true);
  };
  auto reconnects = [&out] {
    std::size_t n = 0;
    for (auto& o : out)
      n += parse(o).has_join() && parse(o).join().reconnect();
    return n;
  };
  out.clear();
  c.handle(test_addr("p0"), pkt("p0", {}, stranger_ack), t0 + seconds(1), out);
  EXPECT_EQ(reconnects(), 1u);
  EXPECT_EQ(out.back().to, test_addr("p0"));
  // Again within the probe interval: nothing more.
  out.clear();
  c.handle(test_addr("p0"), pkt("p0", {}, stranger_ack),
           t0 + seconds(1) + milliseconds(10), out);
  EXPECT_EQ(reconnects(), 0u);
  // The same flag from a non-member's address: nothing (no reconnect
  // request aimed at an address an attacker chose).
  out.clear();
  c.handle(test_addr("q"), pkt("q", {}, stranger_ack), t0 + seconds(5), out);
  EXPECT_EQ(reconnects(), 0u);
}

TEST(Core, LeaveBroadcastsLeftThenGoesSilent) {
  fixture f(4);
  f.c.leave(t0, f.out);
  bool left = false;
  for (auto& o : f.out) {
    auto p = parse(o);
    for (auto& u : p.updates())
      left |= u.name() == "me" && u.state() == LEFT && u.incarnation() == 1;
  }
  EXPECT_TRUE(left);
  f.run_to(t0 + seconds(2));
  EXPECT_EQ(f.c.next_wakeup(), time_point::max());
  f.out.clear();
  Packet ping;
  ping.set_sender("p0");
  ping.mutable_ping()->set_seq(5);
  ping.mutable_ping()->set_target("me");
  f.c.handle(test_addr("p0"), ping.SerializeAsString(), t0 + seconds(3), f.out);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.c.rejoin(t0 + seconds(4), f.out), ec::none);
  EXPECT_EQ(f.c.self().incarnation, 2u);
  EXPECT_EQ(f.c.self().state, member_state::alive);
}

TEST(Core, SetTagsEnforcesLimit) {
  fixture f(1);
  EXPECT_EQ(f.c.set_tags({{"k", std::string(5000, 'v')}}, t0, f.out), ec::tags_too_large);
  EXPECT_EQ(f.c.set_tags({{"", "v"}}, t0, f.out), ec::bad_tag);
  EXPECT_EQ(f.c.self().incarnation, 0u);
  EXPECT_EQ(f.c.set_tags({{"k", "v"}}, t0, f.out), ec::none);
  EXPECT_EQ(f.c.self().incarnation, 1u);
  EXPECT_EQ(f.c.self().tags.at("k"), "v");
}

TEST(Core, PacketsRespectMaxPacket) {
  fixture f(300); // plenty of queued news
  f.run_to(t0 + seconds(2));
  ASSERT_FALSE(f.out.empty());
  for (auto& o : f.out) EXPECT_LE(o.payload.size(), config::lan().max_packet);
}

TEST(Core, JoinReplyPaginatesLargeTables) {
  core seed{config::lan(), "seed", test_addr("seed"), {}, 1};
  outbound_list out;
  seed.join({}, t0, out);
  for (int batch = 0; batch < 50; ++batch) {
    std::vector<Update> ups;
    for (int i = 0; i < 20; ++i) ups.push_back(upd("m" + std::to_string(batch * 20 + i), 1, ALIVE));
    seed.handle(test_addr("x"), pkt("x", with_self("x", ups)), t0, out);
  }
  out.clear();
  core joiner{config::lan(), "new", test_addr("new"), {}, 2};
  outbound_list jout;
  joiner.join({test_addr("seed")}, t0, jout);
  ASSERT_EQ(jout.size(), 1u);
  // Unverified: a challenge no larger than the request, then the request
  // again with its cookie, then the table.
  seed.handle(test_addr("new"), jout[0].payload, t0, out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(parse(out[0]).has_challenge());
  EXPECT_LE(out[0].payload.size(), jout[0].payload.size());
  outbound_list again;
  joiner.handle(test_addr("seed"), out[0].payload, t0, again);
  ASSERT_EQ(again.size(), 1u);
  out.clear();
  seed.handle(test_addr("new"), again[0].payload, t0, out);
  ASSERT_GT(out.size(), 10u);
  for (auto& o : out) {
    EXPECT_EQ(o.to, test_addr("new"));
    EXPECT_LE(o.payload.size(), 1200u);
    joiner.handle(test_addr("seed"), o.payload, t0, jout);
  }
  EXPECT_TRUE(joiner.joined());
  EXPECT_EQ(joiner.members().size(), 1003u); // m0..m999, x, seed, new
}

TEST(Core, BadInputIsCountedNeverFatal) {
  fixture f(3);
  f.c.handle(test_addr("x"), std::string(70000, 'a'), t0, f.out);
  EXPECT_EQ(f.c.stats().bad_packets.at("too_large"), 1u);
  f.c.handle(test_addr("x"), "\xff\xff\xff", t0, f.out);
  EXPECT_EQ(f.c.stats().bad_packets.at("parse"), 1u);
  f.c.handle(test_addr("x"), pkt("", {}), t0, f.out);
  EXPECT_EQ(f.c.stats().bad_packets.at("bad_sender"), 1u);
  // Unknown body field (number 14, unused) and nothing else: unknown type.
  std::string unknown = pkt("x", {});
  unknown += std::string("\x72\x00", 2);
  f.c.handle(test_addr("x"), unknown, t0, f.out);
  EXPECT_EQ(f.c.stats().bad_packets.at("unknown_type"), 1u);
  auto big = upd("z", 0, ALIVE);
  (*big.mutable_tags())["k"] = std::string(5000, 'v');
  f.c.handle(test_addr("x"), pkt("x", {big, upd("", 0, ALIVE)}), t0, f.out);
  EXPECT_EQ(f.c.stats().bad_packets.at("bad_update"), 2u);
  Packet b;
  b.set_sender("x");
  b.mutable_buckets()->add_hashes(1);
  f.c.handle(test_addr("x"), b.SerializeAsString(), t0, f.out);
  EXPECT_EQ(f.c.stats().bad_packets.at("unsolicited_sync"), 1u);
  // Random garbage and random mutations of a valid packet.
  uint64_t seed = 20240601;
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  std::string valid = pkt("p0", {upd("p1", 4, SUSPECT, "p0")}, [](Packet& p) {
    p.mutable_ping_req()->set_seq(1);
    p.mutable_ping_req()->set_target("p2");
    p.mutable_ping_req()->set_target_addr(test_addr("p2"));
  });
  for (int i = 0; i < 5000; ++i) {
    std::string s = valid;
    for (int k = 0; k < 3; ++k) s[rng() % s.size()] = static_cast<char>(rng());
    if (i % 2) s.resize(rng() % (s.size() + 1));
    f.c.handle(test_addr("x"), s, t0 + milliseconds(i), f.out);
    f.out.clear();
  }
  EXPECT_EQ(f.c.self().name, "me");
}

TEST(Core, AntiEntropyIsConstantWhenViewsAgree) {
  // Two cores with the same table exchange one digest and nothing else.
  auto cfg = config::lan();
  core a{cfg, "a", test_addr("a"), {}, 1}, b{cfg, "b", test_addr("b"), {}, 2};
  outbound_list out;
  a.join({}, t0, out);
  b.join({}, t0, out);
  std::vector<Update> ups;
  for (int i = 0; i < 50; ++i) ups.push_back(upd("m" + std::to_string(i), 1, ALIVE));
  auto ua = upd("a", 0, ALIVE); ua.set_addr(test_addr("a"));
  auto ub = upd("b", 0, ALIVE); ub.set_addr(test_addr("b"));
  auto with_a = ups; with_a.push_back(ua);
  auto with_b = ups; with_b.push_back(ub);
  b.handle(test_addr("a"), pkt("a", with_a), t0, out);
  a.handle(test_addr("b"), pkt("b", with_b), t0, out);
  // Drive only a's sync: find its digest.
  out.clear();
  a.poll(t0 + seconds(31), out);
  const outbound* digest = nullptr;
  for (auto& o : out) if (parse(o).has_digest()) digest = &o;
  ASSERT_NE(digest, nullptr);
  EXPECT_LT(digest->payload.size(), 100u); // padded to 96 B (amplification)
  outbound_list reply;
  b.handle(test_addr("a"), digest->payload, t0 + seconds(31), reply);
  for (auto& o : reply) EXPECT_FALSE(parse(o).has_buckets());
  // Now b learns something a lacks: the digest differs and only that entry moves.
  b.handle(test_addr("c"), pkt("c", with_self("c", {upd("extra", 0, ALIVE)})), t0 + seconds(31), reply);
  reply.clear();
  b.handle(test_addr("a"), digest->payload, t0 + seconds(31), reply);
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_TRUE(parse(reply[0]).has_buckets());
  // a sent its digest to a random peer: b answers as that peer, since a only
  // accepts bucket lists from the peer it asked.
  const address asked = digest->to;
  outbound_list step3;
  a.handle(asked, reply[0].payload, t0 + seconds(31), step3);
  ASSERT_FALSE(step3.empty());
  outbound_list step4;
  for (auto& o : step3) b.handle(test_addr("a"), o.payload, t0 + seconds(31), step4);
  for (auto& o : step4) a.handle(asked, o.payload, t0 + seconds(31), step3);
  bool has_extra = false;
  for (auto& m : a.members()) has_extra |= m.name == "extra";
  EXPECT_TRUE(has_extra);
}

// A seed holding `n` members (m0..), fed by gossip.
void feed(core& seed, int n) {
  outbound_list out;
  seed.join({}, t0, out);
  for (int batch = 0; batch * 20 < n; ++batch) {
    std::vector<Update> ups;
    for (int i = batch * 20; i < std::min(n, batch * 20 + 20); ++i)
      ups.push_back(upd("m" + std::to_string(i), 1, ALIVE));
    seed.handle(test_addr("x"), pkt("x", with_self("x", ups)), t0, out);
  }
}

std::size_t state_pages(const outbound_list& out, const address& to) {
  std::size_t n = 0;
  for (auto& o : out) n += o.to == to && parse(o).has_state();
  return n;
}

std::string join_request(const std::string& name, const std::string& cookie = {}) {
  Packet p;
  p.set_sender(name);
  p.mutable_join()->set_cookie(cookie);
  p.mutable_join()->set_pad(std::string(200, '\0'));
  *p.add_updates() = upd(name, 0, ALIVE);
  return p.SerializeAsString();
}

// A join request from `name` carrying the cookie `seed` hands out for its
// address (one challenge round trip).
std::string join_request(core& seed, const std::string& name, time_point t) {
  outbound_list out;
  seed.handle(test_addr(name), join_request(name), t, out);
  for (auto& o : out)
    if (parse(o).has_challenge()) return join_request(name, parse(o).challenge().cookie());
  ADD_FAILURE() << "no challenge";
  return {};
}

TEST(ReplyBudget, JoinFloodFromOneSourceIsBounded) {
  auto cfg = config::lan();
  core seed{cfg, "seed", test_addr("seed"), {}, 1};
  feed(seed, 1000); // ~50 pages per full reply
  outbound_list out;
  for (int i = 0; i < 100; ++i) seed.handle(test_addr("evil"), join_request(seed, "evil", t0), t0, out);
  auto pages = state_pages(out, test_addr("evil"));
  // The first request is answered in full; the flood adds nothing.
  EXPECT_GE(pages, 40u);
  EXPECT_LE(pages, cfg.reply_pages_burst);
  EXPECT_GE(seed.stats().replies_limited, 90u);
  // One second later the source has earned reply_pages_per_second pages.
  out.clear();
  for (int i = 0; i < 10; ++i)
    seed.handle(test_addr("evil"), join_request(seed, "evil", t0 + seconds(1)), t0 + seconds(1), out);
  EXPECT_LE(state_pages(out, test_addr("evil")),
            static_cast<std::size_t>(cfg.reply_pages_per_second));
  EXPECT_GE(state_pages(out, test_addr("evil")), 1u);
}

TEST(ReplyBudget, OtherSourcesAreStillServed) {
  auto cfg = config::lan();
  core seed{cfg, "seed", test_addr("seed"), {}, 1};
  feed(seed, 100);
  outbound_list out;
  for (int i = 0; i < 200; ++i) seed.handle(test_addr("evil"), join_request(seed, "evil", t0), t0, out);
  out.clear();
  seed.handle(test_addr("good"), join_request(seed, "good", t0), t0, out);
  // 102 members fit a few pages: the full table, nothing cut.
  EXPECT_GE(state_pages(out, test_addr("good")), 2u);
  core joiner{cfg, "good", test_addr("good"), {}, 2};
  outbound_list jout;
  joiner.join({test_addr("seed")}, t0, jout);
  for (auto& o : out) joiner.handle(test_addr("seed"), o.payload, t0, jout);
  EXPECT_TRUE(joiner.joined());
  EXPECT_EQ(joiner.size(), 104u); // m0..m99, x, evil, seed, good
}

TEST(ReplyBudget, ManySourcesShareTheGlobalBudget) {
  auto cfg = config::lan();
  cfg.reply_pages_global_per_second = 100;
  core seed{cfg, "seed", test_addr("seed"), {}, 1};
  feed(seed, 1000);
  outbound_list out;
  std::size_t total = 0, answered = 0;
  for (int i = 0; i < 50; ++i) {
    auto name = "j" + std::to_string(i);
    out.clear();
    seed.handle(test_addr(name), join_request(seed, name, t0), t0, out);
    auto n = state_pages(out, test_addr(name));
    total += n;
    answered += n >= 1;
  }
  // Everyone gets at least the first page (so its join completes); pages
  // beyond the first stay within the global burst.
  EXPECT_EQ(answered, 50u);
  EXPECT_LE(total, 50u + 100u);
}

TEST(ReplyBudget, WantFloodIsBounded) {
  auto cfg = config::lan();
  core seed{cfg, "seed", test_addr("seed"), {}, 1};
  feed(seed, 1000);
  outbound_list out;
  auto want_all = [](const std::string& from) {
    return pkt(from, {}, [](Packet& p) {
      for (uint32_t b = 0; b < 32; ++b) p.mutable_want()->add_buckets(b);
    });
  };
  // From a non-member: nothing at all.
  for (int i = 0; i < 50; ++i) seed.handle(test_addr("evil"), want_all("evil"), t0, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(seed.stats().bad_packets.at("unverified"), 50u);
  // From a member ("x", which fed the table), or whoever forges its
  // address, without the nonce of buckets we sent it: nothing either.
  for (int i = 0; i < 50; ++i) seed.handle(test_addr("x"), want_all("x"), t0, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(seed.stats().bad_packets.at("unsolicited_want"), 50u);
  // In rounds x started (its digest drew our buckets and their nonce): one
  // want per round is served, all of them within the reply budget.
  auto digest = pkt("x", {}, [](Packet& p) {
    p.mutable_digest()->set_hash(1);
    p.mutable_digest()->set_count(1);
  });
  std::size_t pages = 0;
  for (int i = 0; i < 50; ++i) {
    out.clear();
    seed.handle(test_addr("x"), digest, t0, out);
    uint64_t nonce = 0;
    for (auto& o : out)
      if (auto p = parse(o); p.has_buckets()) nonce = p.buckets().nonce();
    if (nonce == 0) continue; // the budget is spent: no buckets either
    auto want = want_all("x");
    Packet p;
    ASSERT_TRUE(p.ParseFromString(want));
    p.mutable_want()->set_nonce(nonce);
    auto echo = p.SerializeAsString();
    for (int k = 0; k < 2; ++k) { // the second is refused: once per round
      out.clear();
      seed.handle(test_addr("x"), echo, t0, out);
      pages += state_pages(out, test_addr("x"));
      if (k == 0) EXPECT_GT(state_pages(out, test_addr("x")), 0u) << i;
      if (k == 1) EXPECT_TRUE(out.empty());
      if (state_pages(out, test_addr("x")) == 0) break;
    }
  }
  EXPECT_LE(pages, cfg.reply_pages_burst);
  EXPECT_GT(seed.stats().replies_limited, 0u);
}

TEST(Core, FindCountAndMembersAgree) {
  core c{config::lan(), "m50", test_addr("m50"), {}, 7};
  feed(c, 100); // m0..m99 at incarnation 1 (m50 is self: a conflict, ignored)
  auto all = c.members();
  ASSERT_EQ(all.size(), c.size());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                             [](const member& a, const member& b) { return a.name < b.name; }));
  EXPECT_EQ(c.count(member_state::alive), all.size());
  ASSERT_NE(c.find("m50"), nullptr);
  EXPECT_EQ(c.find("m50")->addr, test_addr("m50"));
  ASSERT_NE(c.find("m7"), nullptr);
  EXPECT_EQ(c.find("m7")->incarnation, 1u);
  EXPECT_EQ(c.find("nobody"), nullptr);
  outbound_list out;
  c.handle(test_addr("x"), pkt("x", {upd("m7", 1, DEAD, "x")}), t0, out);
  EXPECT_EQ(c.count(member_state::dead), 1u);
  EXPECT_EQ(c.count(member_state::alive), all.size() - 1);
  EXPECT_EQ(c.live_count(), all.size() - 1);
}

} // namespace
} // namespace pekonode::membership

namespace pekonode::membership {
namespace {

// The driving contract shared with metadata::core: next_wakeup() is
// time_point::max() whenever nothing is due.
TEST(CoreContract, NextWakeupIsMaxWhenNothingIsDue) {
  core c{config::lan(), "me", test_addr("me"), {}, 3};
  EXPECT_EQ(c.next_wakeup(), time_point::max()); // not started
  outbound_list out;
  c.poll(t0, out); // the first call with a time starts the timers
  EXPECT_LT(c.next_wakeup(), time_point::max());
  EXPECT_GT(c.next_wakeup(), t0);
  // Every wake-up is honoured: polling at it moves it forward.
  for (int i = 0; i < 20; ++i) {
    auto w = c.next_wakeup();
    c.poll(w, out);
    EXPECT_GT(c.next_wakeup(), w);
  }
}

// A node alone (no member but itself) has no one to gossip to: its queued
// self-announcement does not wake it every gossip interval, only its own
// periodic duties (anti-entropy, which has no one to ask either) do.
TEST(CoreContract, ALoneNodeIsNotWokenToGossip) {
  for (auto cfg : {config::lan(), config::local()}) {
    core c{cfg, "me", test_addr("me"), {}, 3};
    outbound_list out;
    c.join({}, t0, out); // a first node: no seeds; announces itself
    auto now = t0;
    int polls = 0;
    while (c.next_wakeup() <= t0 + std::chrono::seconds(60) && polls < 10000) {
      now = std::max(c.next_wakeup(), now);
      c.poll(now, out);
      ++polls;
    }
    EXPECT_TRUE(out.empty());
    // Gossip would poll 60 s / gossip_interval times (1200 with local);
    // what is left (anti-entropy, reconnect attempts) is seconds apart.
    EXPECT_LE(polls * cfg.gossip_interval, std::chrono::seconds(6));
  }
}

TEST(CoreContract, InvalidIdentityLeavesTheNodeInert) {
  auto bad_cfg = config::lan();
  bad_cfg.probe_timeout = bad_cfg.probe_interval; // must be below it
  struct row {
    const char* what;
    config cfg;
    std::string name;
    address addr;
    std::map<std::string, std::string> tags;
  };
  const row rows[] = {
    {"config", bad_cfg, "me", test_addr("me"), {}},
    {"empty name", config::lan(), "", test_addr("me"), {}},
    {"long name", config::lan(), std::string(200, 'n'), test_addr("me"), {}},
    {"empty address", config::lan(), "me", "", {}},
    {"tags", config::lan(), "me", test_addr("me"), {{"k", std::string(5000, 'v')}}},
  };
  for (auto& r : rows) {
    core c{r.cfg, r.name, r.addr, r.tags, 1};
    EXPECT_FALSE(c.config_error().empty()) << r.what;
    outbound_list out;
    c.join({test_addr("seed")}, t0, out);
    c.handle(test_addr("x"), pkt("x", {upd("a", 0, ALIVE)}), t0, out);
    c.poll(t0 + seconds(5), out);
    EXPECT_TRUE(out.empty()) << r.what;
    EXPECT_EQ(c.size(), 1u) << r.what;
    EXPECT_EQ(c.next_wakeup(), time_point::max()) << r.what;
    EXPECT_EQ(c.set_tags({{"k", "v"}}, t0, out), ec::bad_config) << r.what;
    EXPECT_EQ(c.rejoin(t0, out), ec::bad_config) << r.what;
  }
  core ok{config::lan(), "me", test_addr("me"), {}, 1};
  EXPECT_TRUE(ok.config_error().empty());
}

TEST(Core, FullTableAndBadPageEntriesAreCounted) {
  auto cfg = config::lan();
  cfg.max_members = 4; // self + 3
  core c{cfg, "me", test_addr("me"), {}, 5};
  outbound_list out;
  c.join({}, t0, out);
  c.handle(test_addr("a"), pkt("a", {upd("a", 0, ALIVE), upd("b", 0, ALIVE), upd("c", 0, ALIVE),
                            upd("d", 0, ALIVE)}), t0, out);
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c.find("d"), nullptr);
  EXPECT_EQ(c.stats().bad_packets.at("table_full"), 1u);
  // A state page with a malformed entry: that entry is dropped, the rest
  // applied.
  auto page = pkt("a", {}, [](Packet& p) {
    auto* s = p.mutable_state();
    s->set_total(1);
    *s->add_members() = upd("", 0, ALIVE);
    *s->add_members() = upd("b", 3, ALIVE);
  });
  c.handle(test_addr("a"), page, t0, out);
  EXPECT_EQ(c.stats().bad_packets.at("bad_update"), 1u);
  EXPECT_EQ(c.find("b")->incarnation, 3u);
}

} // namespace
} // namespace pekonode::membership
