// Failure detection on its own: the probe round, direct and indirect
// probes with their timeouts, relays for others and their nacks, Lifeguard
// health, suspicion timers and the notices to suspects.
#include "membership/probing.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/hash.h"
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
  std::mt19937_64 rng{11};
  member_table table{self(), cfg.max_members, cfg.gossip_to_dead};
  outbox ob{cfg, "me", stats, 500, [] { return 3; }};
  probing pr{cfg, table, ob, rng, stats};
  outbound_list out;

  static member self() {
    member m;
    m.name = "me";
    m.addr = test_addr("me");
    return m;
  }

  explicit fixture(int peers) {
    for (int i = 0; i < peers; ++i) add("p" + std::to_string(i), 0, member_state::alive);
  }

  void add(const std::string& name, uint64_t inc, member_state st) {
    claim c;
    c.name = name;
    std::string addr = test_addr(name);
    c.addr = addr;
    c.incarnation = inc;
    c.state = st;
    c.from = "x";
    auto s = table.apply(c, "x", true, t0);
    if (s.became_live) pr.add_target(name);
  }

  std::vector<Packet> sent(Packet::BodyCase body) const {
    std::vector<Packet> r;
    for (auto& o : out)
      if (parse(o).body_case() == body) r.push_back(parse(o));
    return r;
  }

  // The probe started at `t` (the ping sent).
  Packet probe_at(time_point t) {
    pr.start_due_probe(t, out);
    auto pings = sent(Packet::kPing);
    EXPECT_EQ(pings.size(), 1u);
    return pings.empty() ? Packet{} : pings[0];
  }
};

TEST(Probing, FirstProbeWithinAJitteredInterval) {
  fixture f(3);
  f.pr.start(t0);
  auto w = f.pr.next_wakeup();
  EXPECT_GE(w, t0 + milliseconds(500));
  EXPECT_LT(w, t0 + milliseconds(1000));
  // Nothing to probe without another live member.
  fixture alone(0);
  alone.pr.start(t0);
  EXPECT_EQ(alone.pr.next_wakeup(), time_point::max());
}

TEST(Probing, AckEndsTheProbeWithoutVerdict) {
  fixture f(3);
  auto ping = f.probe_at(t0);
  EXPECT_EQ(f.stats.probes, 1u);
  EXPECT_EQ(ping.ping().seq(), 500u);
  EXPECT_EQ(f.out[0].to, test_addr(ping.ping().target()));
  // Direct deadline next.
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_timeout);
  Ack ack;
  ack.set_seq(ping.ping().seq());
  f.pr.on_ack(ack, t0, f.out);
  EXPECT_EQ(f.stats.acks, 1u);
  EXPECT_EQ(f.pr.check_probe(t0 + seconds(5), f.out), nullptr);
  EXPECT_EQ(f.stats.probe_failures, 0u);
  EXPECT_EQ(f.pr.health_score(), 0);
  // The next probe is due one probe_interval after the last one started.
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_interval);
}

TEST(Probing, TimeoutSendsPingReqsThenSuspects) {
  fixture f(5);
  auto ping = f.probe_at(t0);
  auto target = ping.ping().target();
  f.out.clear();
  // Not yet at the direct deadline: nothing.
  EXPECT_EQ(f.pr.check_probe(t0 + milliseconds(499), f.out), nullptr);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.pr.check_probe(t0 + milliseconds(500), f.out), nullptr);
  auto reqs = f.sent(Packet::kPingReq);
  ASSERT_EQ(reqs.size(), 3u);
  // The direct retry: the target once more, under a fresh seq that the
  // ping-reqs share (their acks are no round-trip samples).
  auto retries = f.sent(Packet::kPing);
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_EQ(retries[0].ping().target(), target);
  EXPECT_NE(retries[0].ping().seq(), ping.ping().seq());
  EXPECT_EQ(f.stats.probe_retries, 1u);
  std::set<address> helpers;
  for (auto& o : f.out)
    if (parse(o).body_case() == Packet::kPingReq) helpers.insert(o.to);
  EXPECT_EQ(helpers.size(), 3u);
  EXPECT_EQ(helpers.count(test_addr(target)), 0u);
  for (auto& r : reqs) {
    EXPECT_EQ(r.ping_req().seq(), retries[0].ping().seq());
    EXPECT_EQ(r.ping_req().target(), target);
    EXPECT_EQ(r.ping_req().target_addr(), test_addr(target));
  }
  EXPECT_EQ(f.stats.indirect_probes, 3u);
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_interval);
  // One nack: that helper is slow, not us. The other two count against us.
  Nack nack;
  nack.set_seq(reqs[0].ping_req().seq());
  f.pr.on_nack(nack);
  nack.set_seq(ping.ping().seq()); // not what the helpers were asked
  f.pr.on_nack(nack);
  nack.set_seq(12345); // not our probe
  f.pr.on_nack(nack);
  EXPECT_EQ(f.stats.nacks_received, 1u);
  auto* verdict = f.pr.check_probe(t0 + f.cfg.probe_interval, f.out);
  ASSERT_NE(verdict, nullptr);
  EXPECT_EQ(verdict->name, target);
  EXPECT_EQ(f.stats.probe_failures, 1u);
  EXPECT_EQ(f.stats.suspects_raised, 1u);
  EXPECT_EQ(f.pr.health_score(), 2);
  // Degraded health stretches the next probe's timing: (score+1) x.
  f.out.clear();
  auto next = f.probe_at(t0 + f.cfg.probe_interval);
  (void) next;
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_interval + f.cfg.probe_timeout * 3);
}

// A node behind on its input by `lag` (set_local_lag) gives each probe
// that much longer: no ping-reqs at the direct deadline, no verdict at the
// probe's end, and an ack handled within the stretch answers the probe.
TEST(Probing, LocalLagStretchesTheProbe) {
  fixture f(5);
  auto lag = milliseconds(3000);
  f.pr.set_local_lag(lag);
  auto ping = f.probe_at(t0);
  f.out.clear();
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_timeout + lag);
  EXPECT_EQ(f.pr.check_probe(t0 + f.cfg.probe_timeout, f.out), nullptr);
  EXPECT_EQ(f.pr.check_probe(t0 + f.cfg.probe_interval, f.out), nullptr);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.stats.probe_failures, 0u);
  Ack ack;
  ack.set_seq(ping.ping().seq());
  f.pr.on_ack(ack, t0 + seconds(2), f.out);
  EXPECT_EQ(f.stats.acks, 1u);
  EXPECT_EQ(f.pr.check_probe(t0 + f.cfg.probe_interval + lag, f.out), nullptr);
  EXPECT_EQ(f.stats.probe_failures, 0u);
  // Back to no lag: the next probe has the usual (adaptive) deadline.
  f.pr.set_local_lag(milliseconds(0));
  f.out.clear();
  auto t1 = t0 + seconds(5);
  auto late = f.probe_at(t1);
  EXPECT_EQ(f.pr.next_wakeup(), t1 + f.pr.probe_timeout());
  // The node falls behind after the probe started: the probe is judged
  // by the lag at its judgment, so the ack held in the node's own queues
  // still answers it.
  f.pr.set_local_lag(lag);
  EXPECT_EQ(f.pr.next_wakeup(), t1 + f.pr.probe_timeout() + lag);
  f.out.clear();
  EXPECT_EQ(f.pr.check_probe(t1 + f.cfg.probe_interval, f.out), nullptr);
  EXPECT_TRUE(f.out.empty());
  ack.set_seq(late.ping().seq());
  f.pr.on_ack(ack, t1 + seconds(2), f.out);
  EXPECT_EQ(f.stats.acks, 2u);
  EXPECT_EQ(f.stats.probe_failures, 0u);
}

TEST(Probing, NoVerdictWhenTheTargetRefutedMeanwhile) {
  fixture f(2);
  auto target = f.probe_at(t0).ping().target();
  f.add(target, 1, member_state::alive); // refuted: newer incarnation
  f.pr.check_probe(t0 + f.cfg.probe_timeout, f.out);
  EXPECT_EQ(f.pr.check_probe(t0 + f.cfg.probe_interval, f.out), nullptr);
  EXPECT_EQ(f.stats.probe_failures, 1u);
  EXPECT_EQ(f.stats.suspects_raised, 0u);
}

TEST(Probing, EveryLiveMemberOncePerRound) {
  fixture f(7);
  std::map<std::string, int> probed;
  auto t = t0;
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 7; ++i) {
      f.out.clear();
      auto ping = f.probe_at(t);
      ++probed[ping.ping().target()];
      Ack ack;
      ack.set_seq(ping.ping().seq());
      f.pr.on_ack(ack, t0, f.out);
      t += f.cfg.probe_interval;
    }
  ASSERT_EQ(probed.size(), 7u);
  for (auto& [name, n] : probed) EXPECT_EQ(n, 3) << name;
  // A member that joins mid-round is probed within the same round.
  std::set<std::string> round;
  for (int i = 0; i < 8; ++i) {
    if (i == 3) f.add("late", 0, member_state::alive);
    f.out.clear();
    auto ping = f.probe_at(t);
    round.insert(ping.ping().target());
    Ack ack;
    ack.set_seq(ping.ping().seq());
    f.pr.on_ack(ack, t0, f.out);
    t += f.cfg.probe_interval;
  }
  EXPECT_EQ(round.size(), 8u);
  EXPECT_EQ(round.count("late"), 1u);
}

TEST(Probing, PingToASuspectCarriesTheSuspicion) {
  fixture f(1);
  f.add("p0", 0, member_state::suspect);
  auto ping = f.probe_at(t0);
  bool buddy = false;
  for (auto& u : ping.updates())
    buddy |= u.name() == "p0" && u.state() == SUSPECT && u.from() == "me";
  EXPECT_TRUE(buddy);
}

TEST(Probing, AnswersPingsForItsOwnNameOnly) {
  fixture f(1);
  Ping ping;
  ping.set_seq(5);
  ping.set_target("me");
  f.pr.on_ping(test_addr("p0"), ping, true, false, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p0"));
  EXPECT_EQ(parse(f.out[0]).ack().seq(), 5u);
  EXPECT_FALSE(parse(f.out[0]).ack().stranger());
  ping.set_target("someone-else");
  f.pr.on_ping(test_addr("p0"), ping, true, false, f.out);
  EXPECT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.stats.bad_packets.at("wrong_target"), 1u);
}

// Gossip rides on acks to members only: a non-member's ping draws an ack
// no larger than itself, however much gossip is queued; a pinger we do
// not know at all is told so (Ack.stranger).
TEST(Probing, AcksToNonMembersCarryNoGossipAndFitThePing) {
  fixture f(3);
  for (int i = 0; i < 40; ++i) {
    member m;
    m.name = "gossip" + std::to_string(i);
    m.addr = test_addr(m.name);
    m.incarnation = 1;
    f.ob.enqueue(m, {});
  }
  Packet req = f.ob.packet();
  req.set_sender("x");
  req.mutable_ping()->set_seq(1);
  req.mutable_ping()->set_target("me");
  auto req_bytes = req.SerializeAsString().size();
  f.pr.on_ping(test_addr("x"), req.ping(), false, true, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_TRUE(parse(f.out[0]).ack().stranger());
  EXPECT_EQ(parse(f.out[0]).updates_size(), 0);
  EXPECT_LE(f.out[0].payload.size(), req_bytes);
  f.out.clear();
  f.pr.on_ping(test_addr("p0"), req.ping(), true, false, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_GT(parse(f.out[0]).updates_size(), 0) << "members get gossip";
}

TEST(ProbingRelay, ForwardsTheAckOrNacksInTime) {
  fixture f(2);
  f.pr.resume(t0 + seconds(99)); // no probe in the way
  PingReq req;
  req.set_seq(77);
  req.set_target("p1");
  req.set_target_addr(test_addr("p1"));
  f.pr.on_ping_req(test_addr("p0"), req, t0, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p1"));
  auto ping = parse(f.out[0]);
  EXPECT_EQ(ping.ping().target(), "p1");
  EXPECT_NE(ping.ping().seq(), 77u); // our own sequence number
  EXPECT_EQ(f.stats.relayed_probes, 1u);
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_timeout * 4 / 5);
  // The target answers: the origin gets the ack under its own seq.
  Ack ack;
  ack.set_seq(ping.ping().seq());
  f.pr.on_ack(ack, t0, f.out);
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].to, test_addr("p0"));
  EXPECT_EQ(parse(f.out[1]).ack().seq(), 77u);
  // A duplicate ack is dropped; no nack follows an answered relay.
  f.pr.on_ack(ack, t0, f.out);
  f.pr.relay_tick(t0 + seconds(1), f.out);
  EXPECT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.stats.nacks_sent, 0u);

  // Unanswered: a nack at 4/5 of probe_timeout, not before.
  f.out.clear();
  req.set_seq(78);
  f.pr.on_ping_req(test_addr("p0"), req, t0, f.out);
  auto seq = parse(f.out[0]).ping().seq();
  f.pr.relay_tick(t0 + f.cfg.probe_timeout * 4 / 5 - milliseconds(1), f.out);
  EXPECT_EQ(f.out.size(), 1u);
  f.pr.relay_tick(t0 + f.cfg.probe_timeout * 4 / 5, f.out);
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].to, test_addr("p0"));
  EXPECT_EQ(parse(f.out[1]).nack().seq(), 78u);
  EXPECT_EQ(f.stats.nacks_sent, 1u);
  // A late ack after the nack is still forwarded (a slow path is not a
  // dead target) ...
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_interval * probing::max_probe_stretch);
  ack.set_seq(seq);
  f.pr.on_ack(ack, t0 + f.cfg.probe_timeout, f.out);
  ASSERT_EQ(f.out.size(), 3u);
  EXPECT_EQ(parse(f.out[2]).ack().seq(), 78u);
  EXPECT_EQ(f.stats.nacks_sent, 1u); // one nack per relay
  // ... until the relay expires; then it is dropped.
  f.out.clear();
  req.set_seq(79);
  f.pr.on_ping_req(test_addr("p0"), req, t0, f.out);
  seq = parse(f.out[0]).ping().seq();
  f.pr.relay_tick(t0 + f.cfg.probe_timeout, f.out);
  EXPECT_EQ(f.stats.nacks_sent, 2u);
  f.pr.relay_tick(t0 + f.cfg.probe_interval * probing::max_probe_stretch, f.out);
  auto before = f.out.size();
  ack.set_seq(seq);
  f.pr.on_ack(ack, t0 + f.cfg.probe_interval * probing::max_probe_stretch, f.out);
  EXPECT_EQ(f.out.size(), before);
  EXPECT_EQ(f.stats.nacks_sent, 2u);
}

TEST(ProbingRelay, BoundedAndValidated) {
  fixture f(1);
  PingReq bad;
  bad.set_seq(1);
  bad.set_target("p1");
  f.pr.on_ping_req(test_addr("p0"), bad, t0, f.out); // no target address
  EXPECT_EQ(f.stats.bad_packets.at("bad_body"), 1u);
  EXPECT_TRUE(f.out.empty());
  PingReq req;
  req.set_target("p1");
  req.set_target_addr(test_addr("p1"));
  for (std::size_t i = 0; i < probing::max_relays + 10; ++i) {
    req.set_seq(i);
    f.pr.on_ping_req(test_addr("p0"), req, t0, f.out);
  }
  EXPECT_EQ(f.out.size(), probing::max_relays);
  EXPECT_EQ(f.stats.bad_packets.at("relay_full"), 10u);
  // Once they are nacked, a new ping-req takes the place of the one that
  // expires first: a relay kept only to forward a late ack never blocks a
  // new one, so the table holds un-nacked relays for as long as before.
  f.pr.relay_tick(t0 + seconds(1), f.out);
  f.out.clear();
  f.pr.on_ping_req(test_addr("p0"), req, t0 + seconds(1), f.out);
  EXPECT_EQ(f.out.size(), 1u);
}

TEST(ProbingSuspicion, ExpiresAfterLifeguardTimeoutUnlessCleared) {
  fixture f(9); // N = 10: min = 4 s, max = 24 s, k = 2 expected confirmations
  f.pr.resume(t0 + seconds(99)); // no probe in the way
  f.cfg.suspicion_checks = false; // the timers alone (checks: below)
  f.pr.suspect("p0", "p1", t0);
  f.pr.suspect("p2", "p1", t0);
  EXPECT_EQ(f.pr.next_wakeup(), t0 + seconds(24));
  EXPECT_TRUE(f.pr.expired(t0 + seconds(23)).empty());
  // Confirmations shorten the timer; a repeated confirmer counts once.
  EXPECT_TRUE(f.pr.confirm("p0", "p3"));
  EXPECT_FALSE(f.pr.confirm("p0", "p3"));
  EXPECT_FALSE(f.pr.confirm("p0", "p1")); // the first suspecter
  EXPECT_FALSE(f.pr.confirm("nobody", "p3"));
  EXPECT_LT(f.pr.next_wakeup(), t0 + seconds(24));
  EXPECT_TRUE(f.pr.confirm("p0", "p4"));
  EXPECT_FALSE(f.pr.confirm("p0", "p5")); // k reached
  EXPECT_EQ(f.pr.next_wakeup(), t0 + seconds(4));
  f.pr.clear("p2");
  auto due = f.pr.expired(t0 + seconds(4));
  EXPECT_EQ(due, std::vector<std::string>{"p0"});
  // Forgotten once reported.
  EXPECT_TRUE(f.pr.expired(t0 + seconds(100)).empty());
  EXPECT_EQ(f.pr.next_wakeup(), t0 + seconds(100));
}

TEST(ProbingSuspicion, ARestartedSuspicionStartsOver) {
  fixture f(9);
  f.pr.suspect("p0", "p1", t0);
  f.pr.confirm("p0", "p2");
  f.pr.confirm("p0", "p3");
  f.pr.suspect("p0", "p4", t0 + seconds(10)); // a newer incarnation suspected
  EXPECT_TRUE(f.pr.expired(t0 + seconds(30)).empty());
  EXPECT_EQ(f.pr.expired(t0 + seconds(34)), std::vector<std::string>{"p0"});
}

// Runs `n` probes, every `every`-th one unanswered (the others acked well
// within the direct timeout), each probe 10 s after the last.
void probes_missing(fixture& f, time_point& t, int n, int every) {
  for (int i = 0; i < n; ++i) {
    f.out.clear();
    auto ping = f.probe_at(t);
    if (every > 0 && i % every == 0) {
      // Past the direct timeout and the end (Lifeguard stretches the
      // interval to at most 8 s).
      f.pr.check_probe(t + milliseconds(9500), f.out);
    } else {
      Ack ack;
      ack.set_seq(ping.ping().seq());
      f.pr.on_ack(ack, t + milliseconds(10), f.out);
    }
    t += seconds(10);
  }
}

TEST(ProbingSuspicion, MissedPingsStretchTheTimeoutAndAddChecks) {
  // N = 10 with lan: min 4 s, max 24 s unstretched.
  fixture quiet(9);
  auto t = t0;
  probes_missing(quiet, t, 64, 0);
  EXPECT_EQ(quiet.pr.miss_rate(), 0.0);
  EXPECT_EQ(quiet.pr.suspicion_stretch(), 1.0);
  EXPECT_EQ(quiet.pr.suspicion_min(), seconds(4));

  // Every fourth first ping unanswered: the smoothed share settles near
  // 1/4 and a suspicion waits 1 / (1 - m)^2, about 1.8 times as long.
  fixture lossy(9);
  t = t0;
  probes_missing(lossy, t, 200, 4);
  auto m = lossy.pr.miss_rate();
  EXPECT_NEAR(m, 0.25, 0.06);
  EXPECT_NEAR(lossy.pr.suspicion_stretch(), 1 / ((1 - m) * (1 - m)), 1e-9);
  auto min = lossy.pr.suspicion_min();
  EXPECT_GT(min, milliseconds(6000));
  EXPECT_LT(min, milliseconds(9000));
  lossy.pr.resume(t + seconds(999)); // no probe in the way
  lossy.out.clear();
  lossy.add("p0", 1, member_state::suspect);
  lossy.pr.suspect("p0", "p1", t);
  lossy.pr.confirm("p0", "p2");
  lossy.pr.confirm("p0", "p3"); // k = 2: the stretched minimum is left
  EXPECT_EQ(lossy.pr.next_wakeup(), t + seconds(1)); // first check, as before
  // Checks keep the unstretched period (1 s): twice as many fit.
  int checks = 0;
  for (auto at = t; at < t + min; at += milliseconds(100)) {
    EXPECT_TRUE(lossy.pr.expired(at).empty());
    lossy.out.clear();
    lossy.pr.check_suspects(at, lossy.out);
    for (auto& p : lossy.sent(Packet::kPing))
      if (p.ping().target() == "p0") ++checks;
  }
  EXPECT_GE(checks, 6); // 4 without the stretch
  EXPECT_EQ(lossy.pr.expired(t + min), std::vector<std::string>{"p0"});

  // Every first ping lost: bounded by max_loss_stretch.
  fixture cut(9);
  t = t0;
  probes_missing(cut, t, 200, 1);
  EXPECT_GT(cut.pr.miss_rate(), 0.99);
  EXPECT_EQ(cut.pr.suspicion_stretch(), probing::max_loss_stretch);
  EXPECT_EQ(cut.pr.suspicion_min(), seconds(16));

  // Off: plain Lifeguard.
  fixture off(9);
  off.cfg.loss_aware_suspicion = false;
  t = t0;
  probes_missing(off, t, 200, 1);
  EXPECT_EQ(off.pr.suspicion_stretch(), 1.0);
  EXPECT_EQ(off.pr.suspicion_min(), seconds(4));
}

TEST(ProbingSuspicion, AFailedProbeIsNotStretchedByItsOwnMiss) {
  fixture f(9);
  auto t = t0;
  f.out.clear();
  f.probe_at(t);
  // Past the direct timeout: the ping-reqs go out, no sample yet.
  f.pr.check_probe(t + f.cfg.probe_timeout, f.out);
  EXPECT_EQ(f.pr.miss_rate(), 0.0);
  // The verdict: the suspicion it starts has the unstretched minimum.
  auto* target = f.pr.check_probe(t + milliseconds(9500), f.out);
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(f.pr.miss_rate(), 0.0);
  EXPECT_EQ(f.pr.suspicion_min(), seconds(4));
  // The miss counts from the next probe's start on.
  f.out.clear();
  f.probe_at(t + seconds(10));
  EXPECT_DOUBLE_EQ(f.pr.miss_rate(), 1.0 / 16);
  EXPECT_GT(f.pr.suspicion_min(), seconds(4));
  // A first ping answered only after its direct timeout is a miss too,
  // counted when the ack ends the probe.
  fixture g(9);
  auto ping = g.probe_at(t0);
  g.pr.check_probe(t0 + g.cfg.probe_timeout, g.out);
  EXPECT_EQ(g.pr.miss_rate(), 0.0);
  Ack ack;
  ack.set_seq(ping.ping().seq());
  g.pr.on_ack(ack, t0 + g.cfg.probe_timeout + milliseconds(5), g.out);
  EXPECT_DOUBLE_EQ(g.pr.miss_rate(), 1.0 / 16);
}

TEST(ProbingSuspicion, NoticeToATalkingSuspectIsRateLimited) {
  fixture f(2);
  f.add("p0", 0, member_state::suspect);
  f.pr.suspect("p0", "x", t0);
  f.pr.notice_suspect_sender("p0", test_addr("p0"), t0, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p0"));
  auto p = parse(f.out[0]);
  ASSERT_EQ(p.updates_size(), 1);
  EXPECT_EQ(p.updates(0).state(), SUSPECT);
  EXPECT_EQ(p.updates(0).from(), "me");
  // Again within probe_timeout: nothing; from another address: nothing; a
  // live member: nothing.
  f.pr.notice_suspect_sender("p0", test_addr("p0"), t0 + milliseconds(499), f.out);
  f.pr.notice_suspect_sender("p0", test_addr("evil"), t0 + seconds(1), f.out);
  f.pr.notice_suspect_sender("p1", test_addr("p1"), t0 + seconds(1), f.out);
  EXPECT_EQ(f.out.size(), 1u);
  f.pr.notice_suspect_sender("p0", test_addr("p0"), t0 + milliseconds(500), f.out);
  EXPECT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.stats.suspect_notices, 2u);
  // Off without refutation assist.
  f.cfg.refute_assist = false;
  f.pr.notice_suspect_sender("p0", test_addr("p0"), t0 + seconds(5), f.out);
  EXPECT_EQ(f.out.size(), 2u);
}

TEST(Probing, StopForgetsEverythingInFlight) {
  fixture f(4);
  f.probe_at(t0);
  PingReq req;
  req.set_seq(1);
  req.set_target("p1");
  req.set_target_addr(test_addr("p1"));
  f.pr.on_ping_req(test_addr("p0"), req, t0, f.out);
  f.pr.suspect("p2", "x", t0);
  f.pr.stop();
  f.out.clear();
  EXPECT_EQ(f.pr.check_probe(t0 + seconds(10), f.out), nullptr);
  f.pr.relay_tick(t0 + seconds(10), f.out);
  EXPECT_TRUE(f.out.empty());
  EXPECT_TRUE(f.pr.expired(t0 + seconds(100)).empty());
  // resume(): the next probe one interval later.
  f.pr.resume(t0 + seconds(20));
  EXPECT_EQ(f.pr.next_wakeup(), t0 + seconds(21));
}

TEST(ProbingRtt, AcksOfFirstPingsSetTheDirectTimeout) {
  fixture f(3);
  // No sample yet: the configured timeout.
  EXPECT_EQ(f.pr.base_probe_timeout(), f.cfg.probe_timeout);
  auto t = t0;
  // Acks after 100 ms: srtt -> 100 ms, rttvar decays from 50 ms to ~0, so
  // the timeout falls from 300 ms to the floor of 100 ms + 1 ms granularity
  // (lan's floor, 50 ms, is below).
  for (int i = 0; i < 40; ++i) {
    f.out.clear();
    auto ping = f.probe_at(t);
    if (i == 0) EXPECT_EQ(f.pr.next_wakeup(), t + f.cfg.probe_timeout);
    Ack ack;
    ack.set_seq(ping.ping().seq());
    f.pr.on_ack(ack, t + milliseconds(100), f.out);
    if (i == 0) EXPECT_EQ(f.pr.base_probe_timeout(), milliseconds(300));
    t += f.cfg.probe_interval;
  }
  EXPECT_EQ(f.stats.rtt_samples, 40u);
  EXPECT_EQ(f.pr.rtt().srtt(), milliseconds(100));
  EXPECT_LT(f.pr.base_probe_timeout(), milliseconds(102));
  EXPECT_GE(f.pr.base_probe_timeout(), milliseconds(101));
  f.out.clear();
  f.probe_at(t);
  EXPECT_EQ(f.pr.next_wakeup(), t + f.pr.base_probe_timeout());
  // Lifeguard's multiplier applies on top.
  f.pr.self_accused();
  EXPECT_EQ(f.pr.probe_timeout(), f.pr.base_probe_timeout() * 2);
}

TEST(ProbingRtt, BoundedByTheProfilesFloorAndCeiling) {
  fixture f(3);
  auto t = t0;
  auto probe = [&](duration rtt) {
    f.out.clear();
    auto ping = f.probe_at(t);
    Ack ack;
    ack.set_seq(ping.ping().seq());
    f.pr.on_ack(ack, t + rtt, f.out);
    t += f.cfg.probe_interval;
  };
  for (int i = 0; i < 30; ++i) probe(milliseconds(1));
  EXPECT_EQ(f.pr.base_probe_timeout(), f.cfg.probe_timeout_min);
  // A peer that holds its acks back moves us up to the ceiling, no further.
  for (int i = 0; i < 30; ++i) probe(milliseconds(900));
  EXPECT_EQ(f.pr.base_probe_timeout(), f.cfg.probe_timeout_max);
  // Off: the fixed timeout, whatever was measured.
  f.cfg.adaptive_probe_timeout = false;
  EXPECT_EQ(f.pr.base_probe_timeout(), f.cfg.probe_timeout);
}

TEST(ProbingRtt, SlowRoundTripsStretchTheProbeWithinABound) {
  auto probe_end = [](config cfg, duration rtt) {
    fixture f(3);
    f.cfg = cfg;
    auto t = t0;
    for (int i = 0; i < 40; ++i) {
      f.out.clear();
      auto ping = f.probe_at(t);
      Ack ack;
      ack.set_seq(ping.ping().seq());
      f.pr.on_ack(ack, t + rtt, f.out);
      t += f.cfg.probe_interval * probing::max_probe_stretch;
    }
    f.out.clear();
    f.probe_at(t);
    return std::make_pair(f.pr.probe_duration(), f.pr.probe_timeout());
  };
  // lan (1 s interval): 100 ms round trips leave room for the indirect
  // phase: the interval, unchanged.
  EXPECT_EQ(probe_end(config::lan(), milliseconds(100)).first, seconds(1));
  // local (200 ms): 5 ms round trips, unchanged too.
  EXPECT_EQ(probe_end(config::local(), milliseconds(5)).first, milliseconds(200));
  // local at steady 100 ms round trips: the direct timeout (srtt + 1 ms
  // granularity, rttvar having decayed to ~0) plus two round trips of
  // srtt + 4 rttvar each: 303 ms instead of the 200 ms interval.
  auto [d, direct] = probe_end(config::local(), milliseconds(100));
  EXPECT_GE(direct, milliseconds(101));
  EXPECT_LT(direct, milliseconds(102));
  EXPECT_EQ(d, direct + 2 * direct);
  // A peer holding acks back stretches the probe to 3 intervals, no more.
  EXPECT_EQ(probe_end(config::local(), milliseconds(900)).first,
            milliseconds(200) * probing::max_probe_stretch);
  // Off with the adaptive timeout.
  auto fixed = config::local();
  fixed.adaptive_probe_timeout = false;
  EXPECT_EQ(probe_end(fixed, milliseconds(100)).first, milliseconds(200));
}

TEST(ProbingRtt, RetriedAndRelayedAcksAreNoSamples) {
  fixture f(5);
  // Ambiguous: the ack of the retry (or of a relay) after the timeout.
  auto ping = f.probe_at(t0);
  f.out.clear();
  f.pr.check_probe(t0 + f.cfg.probe_timeout, f.out);
  auto retry = f.sent(Packet::kPing);
  ASSERT_EQ(retry.size(), 1u);
  Ack ack;
  ack.set_seq(retry[0].ping().seq());
  f.pr.on_ack(ack, t0 + f.cfg.probe_timeout + milliseconds(5), f.out);
  EXPECT_EQ(f.stats.acks, 1u);
  EXPECT_EQ(f.stats.rtt_samples, 0u);
  EXPECT_EQ(f.pr.rtt().samples(), 0u);
  EXPECT_EQ(f.pr.check_probe(t0 + f.cfg.probe_interval, f.out), nullptr);
  EXPECT_EQ(f.stats.probe_failures, 0u);
  // A late ack of the first ping is still one round trip: only the target
  // answers that seq. It raises the estimate (no Karn back-off needed).
  auto t1 = t0 + f.cfg.probe_interval;
  f.out.clear();
  ping = f.probe_at(t1);
  f.pr.check_probe(t1 + f.cfg.probe_timeout, f.out);
  ack.set_seq(ping.ping().seq());
  f.pr.on_ack(ack, t1 + milliseconds(600), f.out);
  EXPECT_EQ(f.stats.rtt_samples, 1u);
  EXPECT_EQ(f.pr.rtt().srtt(), milliseconds(600));
  // Without probe_retry only the ping-reqs go out at the timeout.
  fixture g(5);
  g.cfg.probe_retry = false;
  g.probe_at(t0);
  g.out.clear();
  g.pr.check_probe(t0 + g.cfg.probe_timeout, g.out);
  EXPECT_TRUE(g.sent(Packet::kPing).empty());
  EXPECT_EQ(g.sent(Packet::kPingReq).size(), 3u);
}

TEST(ProbingSuspicion, SuspectsArePingedWithTheSuspicionUntilCleared) {
  fixture f(5);
  f.pr.resume(t0 + seconds(99)); // no probe in the way
  f.add("p1", 0, member_state::suspect);
  f.pr.suspect("p1", "someone", t0);
  // lan, N=6: suspicion_min = 4 s, so one check per max(1 s, 1 s).
  f.pr.check_suspects(t0 + milliseconds(999), f.out);
  EXPECT_TRUE(f.out.empty());
  EXPECT_EQ(f.pr.next_wakeup(), t0 + seconds(1));
  f.pr.check_suspects(t0 + seconds(1), f.out);
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].to, test_addr("p1"));
  auto ping = parse(f.out[0]);
  EXPECT_EQ(ping.ping().target(), "p1");
  ASSERT_EQ(ping.updates_size(), 1);
  EXPECT_EQ(ping.updates(0).name(), "p1");
  EXPECT_EQ(ping.updates(0).state(), SUSPECT);
  EXPECT_EQ(ping.updates(0).from(), "me"); // we accuse: it answers us
  EXPECT_TRUE(f.sent(Packet::kPingReq).empty()); // the first check: direct only
  // Not refuted by the second check: the ping again, and a ping-req that
  // carries the suspicion to one other member, aimed at the suspect.
  f.pr.check_suspects(t0 + seconds(2), f.out);
  ASSERT_EQ(f.out.size(), 3u);
  EXPECT_EQ(f.stats.suspicion_checks, 2u);
  EXPECT_EQ(f.stats.indirect_suspicion_checks, 1u);
  EXPECT_EQ(f.out[1].to, test_addr("p1"));
  EXPECT_NE(f.out[2].to, test_addr("p1"));
  auto req = parse(f.out[2]);
  ASSERT_TRUE(req.has_ping_req());
  EXPECT_EQ(req.ping_req().target(), "p1");
  EXPECT_EQ(req.ping_req().target_addr(), test_addr("p1"));
  ASSERT_EQ(req.updates_size(), 1);
  EXPECT_EQ(req.updates(0).name(), "p1");
  EXPECT_EQ(req.updates(0).state(), SUSPECT);
  EXPECT_EQ(req.updates(0).from(), "me");
  // Refuted: no more checks.
  f.pr.clear("p1");
  f.pr.check_suspects(t0 + seconds(3), f.out);
  EXPECT_EQ(f.out.size(), 3u);
  // Off: none at all.
  fixture g(5);
  g.cfg.suspicion_checks = false;
  g.pr.resume(t0 + seconds(99));
  g.add("p1", 0, member_state::suspect);
  g.pr.suspect("p1", "someone", t0);
  g.pr.check_suspects(t0 + seconds(2), g.out);
  EXPECT_TRUE(g.out.empty());
}

TEST(Probing, HealthImprovesWithAcks) {
  fixture f(3);
  f.pr.self_accused();
  f.pr.self_accused();
  EXPECT_EQ(f.pr.health_score(), 2);
  auto ping = f.probe_at(t0);
  Ack ack;
  ack.set_seq(ping.ping().seq());
  f.pr.on_ack(ack, t0, f.out);
  EXPECT_EQ(f.pr.health_score(), 1);
  for (int i = 0; i < 20; ++i) f.pr.self_accused();
  EXPECT_EQ(f.pr.health_score(), f.cfg.awareness_max - 1);
}

// next_wakeup() keeps the earliest timer of relays, suspicions and checks
// between changes (it is asked after every message): each change moves it
// at once, earlier or later.
TEST(Probing, WakeupFollowsEveryTimerChange) {
  fixture f(10);
  f.cfg.suspicion_checks = false;
  f.pr.resume(t0 + seconds(99)); // no probe in the way
  auto far = f.pr.next_wakeup();
  EXPECT_EQ(far, t0 + seconds(99) + f.cfg.probe_interval);
  f.pr.suspect("p1", "x", t0);
  auto d1 = f.pr.next_wakeup();
  EXPECT_LT(d1, far);
  EXPECT_TRUE(f.pr.confirm("p1", "y")); // brings the deadline forward
  auto d2 = f.pr.next_wakeup();
  EXPECT_LT(d2, d1);
  EXPECT_FALSE(f.pr.confirm("p1", "y")); // not new: no change
  EXPECT_EQ(f.pr.next_wakeup(), d2);
  f.pr.suspect("p2", "x", t0 + seconds(1)); // later: no change
  EXPECT_EQ(f.pr.next_wakeup(), d2);
  f.pr.clear("p1");
  EXPECT_EQ(f.pr.next_wakeup(), d1 + seconds(1));
  f.pr.clear("nobody");
  EXPECT_EQ(f.pr.next_wakeup(), d1 + seconds(1));
  EXPECT_EQ(f.pr.expired(d1 + seconds(1)), std::vector<std::string>{"p2"});
  EXPECT_EQ(f.pr.next_wakeup(), far);
  // A check comes before the deadline; once sent, the next one is later.
  f.cfg.suspicion_checks = true;
  f.add("p3", 1, member_state::suspect);
  f.pr.suspect("p3", "x", t0);
  auto c = f.pr.next_wakeup();
  EXPECT_LT(c, far);
  f.pr.check_suspects(c, f.out);
  EXPECT_EQ(f.sent(Packet::kPing).size(), 1u);
  EXPECT_GT(f.pr.next_wakeup(), c);
  // A relay: due at its nack, then at its expiry, then gone.
  f.pr.clear("p3");
  PingReq req;
  req.set_seq(5);
  req.set_target("p4");
  req.set_target_addr(test_addr("p4"));
  f.pr.on_ping_req(test_addr("p0"), req, t0, f.out);
  EXPECT_EQ(f.pr.next_wakeup(), t0 + f.cfg.probe_timeout * 4 / 5);
  f.pr.relay_tick(t0 + f.cfg.probe_timeout, f.out);
  auto e = f.pr.next_wakeup();
  EXPECT_GT(e, t0 + f.cfg.probe_timeout);
  EXPECT_LT(e, far);
  f.pr.relay_tick(e, f.out);
  EXPECT_EQ(f.pr.next_wakeup(), far);
}

} // namespace
} // namespace pekonode::membership
