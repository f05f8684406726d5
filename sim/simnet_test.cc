#include "sim/simnet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace pekonode::sim {
namespace {

using std::chrono::milliseconds;

/// Toy node: sends scripted datagrams at scripted times, records everything it
/// is handed and every poll, optionally echoes datagrams back.
class script_node : public sim_node {
public:
  struct rx {
    address from;
    channel chan;
    std::string payload;
    time_point at;
  };

  bool echo = false;
  simnet* net = nullptr; // if set, send_at wakes `self` on it
  address self;
  std::vector<rx> received;
  std::vector<time_point> polls;
  std::vector<std::string> log; // "rx:<payload>" and "poll" in call order

  /// Queues `payload` to `to` for sending at `at`.
  void send_at(time_point at, address to, std::string payload,
               channel chan = channel::membership, bool notify = true) {
    script_.emplace(at, outbound{std::move(to), chan, std::move(payload)});
    if (net != nullptr && notify)
      net->wake(self);
  }

  /// Attaches this node to `n` at `addr` and remembers both for send_at.
  void join(simnet& n, address addr) {
    net = &n;
    self = addr;
    n.attach(self, this);
  }

  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point now,
                   outbound_list& out) override {
    received.push_back(rx{from, chan, payload, now});
    log.push_back("rx:" + payload);
    if (echo)
      out.push_back(outbound{from, chan, "echo:" + payload});
  }

  void poll(time_point now, outbound_list& out) override {
    polls.push_back(now);
    log.push_back("poll");
    while (!script_.empty() && script_.begin()->first <= now) {
      out.push_back(std::move(script_.begin()->second));
      script_.erase(script_.begin());
    }
  }

  time_point next_wakeup() const override {
    return script_.empty() ? time_point::max() : script_.begin()->first;
  }

private:
  std::multimap<time_point, outbound> script_;
};

/// Toy gossip node: every `period` (with jitter) sends a counter to `fanout`
/// random peers and forwards every datagram it receives to one random peer
/// with probability 1/4. All randomness comes from its own seeded engine.
class flood_node : public sim_node {
public:
  flood_node(std::vector<address>* peers, uint64_t seed, time_point start,
             duration period, int fanout)
    : peers_(peers), rng_(seed), next_(start), period_(period),
      fanout_(fanout) {
  }

  void on_datagram(const address&, channel chan, const std::string& payload,
                   time_point, outbound_list& out) override {
    ++received;
    if (rng_() % 4 == 0)
      out.push_back(outbound{pick(), chan, payload});
  }

  void poll(time_point now, outbound_list& out) override {
    if (now < next_)
      return;
    for (int i = 0; i < fanout_; ++i)
      out.push_back(
        outbound{pick(), channel::metadata, "tick" + std::to_string(count_++)});
    auto jitter = period_.count() / 10;
    next_ = now + period_
            + duration{static_cast<duration::rep>(rng_() % (2 * jitter + 1))
                       - jitter};
  }

  time_point next_wakeup() const override {
    return next_;
  }

  uint64_t received = 0;

private:
  const address& pick() {
    return (*peers_)[rng_() % peers_->size()];
  }

  std::vector<address>* peers_;
  std::mt19937_64 rng_;
  time_point next_;
  duration period_;
  int fanout_;
  uint64_t count_ = 0;
};

/// Node that (wrongly) always wants to be woken now.
class busy_node : public sim_node {
public:
  void on_datagram(const address&, channel, const std::string&, time_point,
                   outbound_list&) override {
  }
  void poll(time_point now, outbound_list&) override {
    ++polls;
    last_ = now;
  }
  time_point next_wakeup() const override {
    return last_;
  }
  uint64_t polls = 0;

private:
  time_point last_{};
};

link_faults fixed_delay(duration d) {
  link_faults f;
  f.delay_min = d;
  f.delay_max = d;
  return f;
}

uint64_t fnv1a(uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

class SimnetTest : public ::testing::Test {
protected:
  simnet net{42};
  time_point t0 = net.now();
  script_node a, b, c;

  void SetUp() override {
    a.join(net, "a");
    b.join(net, "b");
    c.join(net, "c");
  }
};

TEST_F(SimnetTest, DeliversAfterConfiguredDelayInVirtualTime) {
  net.set_default_faults(fixed_delay(milliseconds(10)));
  a.send_at(t0 + milliseconds(5), "b", "hello", channel::metadata);
  net.run_until(t0 + milliseconds(14));
  EXPECT_TRUE(b.received.empty());
  EXPECT_EQ(net.in_flight(), 1u);
  net.run_until(t0 + milliseconds(15));
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].from, "a");
  EXPECT_EQ(b.received[0].chan, channel::metadata);
  EXPECT_EQ(b.received[0].payload, "hello");
  EXPECT_EQ(b.received[0].at, t0 + milliseconds(15));
  EXPECT_EQ(net.now(), t0 + milliseconds(15));
  EXPECT_EQ(net.in_flight(), 0u);
  ASSERT_EQ(a.polls.size(), 1u);
  EXPECT_EQ(a.polls[0], t0 + milliseconds(5));
}

TEST_F(SimnetTest, EchoRoundTripTakesTwoDelays) {
  net.set_default_faults(fixed_delay(milliseconds(7)));
  b.echo = true;
  a.send_at(t0, "b", "ping");
  net.run_for(seconds(1));
  ASSERT_EQ(a.received.size(), 1u);
  EXPECT_EQ(a.received[0].payload, "echo:ping");
  EXPECT_EQ(a.received[0].at, t0 + milliseconds(14));
  EXPECT_EQ(net.now(), t0 + seconds(1));
}

TEST_F(SimnetTest, ZeroDelayKeepsSendOrder) {
  for (int i = 0; i < 100; ++i)
    a.send_at(t0, "b", std::to_string(i));
  net.run_for(milliseconds(1));
  ASSERT_EQ(b.received.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(b.received[i].payload, std::to_string(i));
}

TEST_F(SimnetTest, CountsBytesAndDatagrams) {
  a.send_at(t0, "b", std::string(100, 'x'));
  a.send_at(t0, "c", std::string(20, 'y'));
  b.send_at(t0, "a", "");
  net.run_for(seconds(1));
  const auto& sa = net.stats("a");
  EXPECT_EQ(sa.datagrams_out, 2u);
  EXPECT_EQ(sa.bytes_out, 120 + 2 * datagram_overhead_bytes);
  EXPECT_EQ(sa.datagrams_in, 1u);
  EXPECT_EQ(sa.bytes_in, datagram_overhead_bytes);
  EXPECT_EQ(net.stats("b").bytes_in, 100 + datagram_overhead_bytes);
  EXPECT_EQ(net.stats("c").datagrams_in, 1u);
  EXPECT_EQ(net.total_datagrams(), 3u);
  EXPECT_EQ(net.total_bytes(), 120 + 3 * datagram_overhead_bytes);
  EXPECT_EQ(sa.dropped, 0u);
  EXPECT_EQ(net.stats("nobody").datagrams_out, 0u);
}

TEST_F(SimnetTest, SendToUnknownAddressIsCountedAsDropped) {
  a.send_at(t0, "nowhere", "x");
  net.run_for(seconds(1));
  EXPECT_EQ(net.stats("a").datagrams_out, 1u);
  EXPECT_EQ(net.stats("a").dropped, 1u);
  EXPECT_FALSE(net.attached("nowhere"));
}

TEST_F(SimnetTest, IidLossRateIsNearConfigured) {
  constexpr uint64_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  simnet n(seed);
  script_node x, y;
  x.join(n, "x");
  y.join(n, "y");
  link_faults f;
  f.loss = 0.2;
  n.set_default_faults(f);
  constexpr int count = 20000;
  for (int i = 0; i < count; ++i)
    x.send_at(n.now() + milliseconds(i), "y", "m");
  n.run_for(seconds(30));
  double rate = 1.0 - static_cast<double>(y.received.size()) / count;
  EXPECT_NEAR(rate, 0.2, 0.015);
  EXPECT_EQ(n.stats("x").dropped, count - y.received.size());
  EXPECT_EQ(n.stats("x").datagrams_out, static_cast<uint64_t>(count));
}

TEST_F(SimnetTest, PerLinkFaultsOverrideDefault) {
  link_faults lossy;
  lossy.loss = 1.0;
  net.set_default_faults(lossy);
  net.set_link_faults("a", "b", fixed_delay(milliseconds(3)));
  a.send_at(t0, "b", "through");
  a.send_at(t0, "c", "lost");
  net.run_for(seconds(1));
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].at, t0 + milliseconds(3));
  EXPECT_TRUE(c.received.empty());
  net.clear_link_faults("a", "b");
  a.send_at(net.now(), "b", "now lost");
  net.run_for(seconds(1));
  EXPECT_EQ(b.received.size(), 1u);
}

// Mean length of runs of consecutive losses in a numbered stream.
double mean_loss_run(const std::vector<bool>& got) {
  uint64_t runs = 0, lost = 0;
  bool in_run = false;
  for (bool g : got) {
    if (!g) {
      ++lost;
      if (!in_run)
        ++runs;
    }
    in_run = !g;
  }
  return runs == 0 ? 0 : static_cast<double>(lost) / runs;
}

std::vector<bool> stream_through(simnet& n, int count) {
  script_node x, y;
  x.join(n, "x");
  y.join(n, "y");
  for (int i = 0; i < count; ++i)
    x.send_at(n.now() + milliseconds(i), "y", std::to_string(i));
  n.run_for(milliseconds(count + 1000));
  std::vector<bool> got(count, false);
  for (const auto& r : y.received)
    got[std::stoi(r.payload)] = true;
  n.detach("x");
  n.detach("y");
  return got;
}

TEST_F(SimnetTest, BurstLossProducesLongRuns) {
  constexpr uint64_t seed = 11;
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int count = 20000;
  // Bad fraction 0.01/(0.01+0.1) ~ 9%, mean burst 10 datagrams.
  simnet bursty(seed);
  bursty.set_burst_loss(0.01, 0.1, 1.0);
  auto got = stream_through(bursty, count);
  auto lost = std::count(got.begin(), got.end(), false);
  EXPECT_NEAR(static_cast<double>(lost) / count, 0.01 / 0.11, 0.03);
  EXPECT_GT(mean_loss_run(got), 6.0);
  // The same average loss i.i.d. gives runs barely longer than 1.
  simnet iid(seed);
  link_faults f;
  f.loss = static_cast<double>(lost) / count;
  iid.set_default_faults(f);
  EXPECT_LT(mean_loss_run(stream_through(iid, count)), 1.3);
  // Turning burst loss off restores a clean link.
  bursty.set_burst_loss(0, 0, 0);
  auto clean = stream_through(bursty, 1000);
  EXPECT_EQ(std::count(clean.begin(), clean.end(), false), 0);
}

TEST_F(SimnetTest, DuplicationDeliversExtraCopies) {
  constexpr uint64_t seed = 3;
  SCOPED_TRACE("seed " + std::to_string(seed));
  simnet n(seed);
  script_node x, y;
  x.join(n, "x");
  y.join(n, "y");
  link_faults f;
  f.duplicate = 0.25;
  f.delay_max = milliseconds(5);
  n.set_default_faults(f);
  constexpr int count = 10000;
  for (int i = 0; i < count; ++i)
    x.send_at(n.now() + milliseconds(i), "y", std::to_string(i));
  n.run_for(seconds(20));
  EXPECT_NEAR(static_cast<double>(y.received.size()) / count, 1.25, 0.02);
  std::vector<int> copies(count, 0);
  for (const auto& r : y.received)
    ++copies[std::stoi(r.payload)];
  EXPECT_EQ(*std::min_element(copies.begin(), copies.end()), 1);
  EXPECT_EQ(*std::max_element(copies.begin(), copies.end()), 2);
  EXPECT_EQ(n.stats("y").datagrams_in, y.received.size());
  EXPECT_EQ(n.stats("x").datagrams_out, static_cast<uint64_t>(count));
}

TEST_F(SimnetTest, JitterReordersAndFixedDelayDoesNot) {
  constexpr uint64_t seed = 5;
  SCOPED_TRACE("seed " + std::to_string(seed));
  auto inversions = [](const std::vector<script_node::rx>& rx) {
    int inv = 0;
    for (size_t i = 1; i < rx.size(); ++i)
      if (std::stoi(rx[i].payload) < std::stoi(rx[i - 1].payload))
        ++inv;
    return inv;
  };
  for (bool jitter : {true, false}) {
    simnet n(seed);
    script_node x, y;
    x.join(n, "x");
    y.join(n, "y");
    link_faults f = fixed_delay(milliseconds(20));
    if (jitter)
      f.delay_min = milliseconds(1);
    n.set_default_faults(f);
    for (int i = 0; i < 1000; ++i)
      x.send_at(n.now() + milliseconds(i), "y", std::to_string(i));
    n.run_for(seconds(5));
    ASSERT_EQ(y.received.size(), 1000u);
    if (jitter) {
      EXPECT_GT(inversions(y.received), 100);
      for (const auto& r : y.received) {
        auto sent = n.now() - seconds(5) + milliseconds(std::stoi(r.payload));
        EXPECT_GE(r.at - sent, milliseconds(1));
        EXPECT_LE(r.at - sent, milliseconds(20));
      }
    } else {
      EXPECT_EQ(inversions(y.received), 0);
    }
  }
}

TEST_F(SimnetTest, OneWayBlockDropsOnlyOneDirection) {
  net.block("a", "b");
  a.send_at(t0, "b", "a->b");
  b.send_at(t0, "a", "b->a");
  a.send_at(t0, "c", "a->c");
  net.run_for(seconds(1));
  EXPECT_TRUE(b.received.empty());
  ASSERT_EQ(a.received.size(), 1u);
  EXPECT_EQ(a.received[0].payload, "b->a");
  EXPECT_EQ(c.received.size(), 1u);
  EXPECT_EQ(net.stats("a").dropped, 1u);
  net.unblock("a", "b");
  a.send_at(net.now(), "b", "again");
  net.run_for(seconds(1));
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].payload, "again");
}

TEST_F(SimnetTest, BlockCutsDatagramsAlreadyInFlight) {
  net.set_default_faults(fixed_delay(milliseconds(50)));
  a.send_at(t0, "b", "x");
  net.run_for(milliseconds(10));
  net.block("a", "b");
  net.run_for(milliseconds(100));
  EXPECT_TRUE(b.received.empty());
  EXPECT_EQ(net.stats("a").dropped, 1u);
}

TEST(SimnetPartition, KWayPartitionCutsAcrossGroupsAndHealRestores) {
  simnet net(1);
  std::vector<address> names{"p1", "p2", "q1", "q2", "r1", "free"};
  std::map<address, script_node> nodes;
  for (const auto& n : names)
    nodes[n].join(net, n);
  net.partition({{"p1", "p2"}, {"q1", "q2"}, {"r1"}});
  auto all_to_all = [&](const std::string& tag) {
    for (const auto& from : names)
      for (const auto& to : names)
        if (from != to)
          nodes[from].send_at(net.now(), to, tag + ":" + from);
    net.run_for(seconds(1));
  };
  auto heard = [&](const address& at, const std::string& tag,
                   const address& from) {
    for (const auto& r : nodes[at].received)
      if (r.payload == tag + ":" + from)
        return true;
    return false;
  };
  all_to_all("cut");
  EXPECT_TRUE(heard("p1", "cut", "p2"));
  EXPECT_TRUE(heard("q2", "cut", "q1"));
  EXPECT_FALSE(heard("p1", "cut", "q1"));
  EXPECT_FALSE(heard("q1", "cut", "p1"));
  EXPECT_FALSE(heard("r1", "cut", "p2"));
  EXPECT_FALSE(heard("p2", "cut", "r1"));
  for (const auto& n : names) {
    EXPECT_TRUE(heard("free", "cut", n) || n == "free") << n;
    EXPECT_TRUE(heard(n, "cut", "free") || n == "free") << n;
  }
  // p1 talks to p2 and free: 3 of its 5 datagrams are cut.
  EXPECT_EQ(net.stats("p1").dropped, 3u);
  net.heal();
  all_to_all("healed");
  for (const auto& from : names) {
    for (const auto& to : names) {
      if (from != to) {
        EXPECT_TRUE(heard(to, "healed", from)) << from << "->" << to;
      }
    }
  }
}

TEST_F(SimnetTest, HealRemovesBlocks) {
  net.block("a", "b");
  net.block("b", "a");
  net.heal();
  a.send_at(t0, "b", "x");
  b.send_at(t0, "a", "y");
  net.run_for(seconds(1));
  EXPECT_EQ(a.received.size(), 1u);
  EXPECT_EQ(b.received.size(), 1u);
}

TEST_F(SimnetTest, StallDefersPollsAndQueuedDeliveriesInOrder) {
  net.set_default_faults(fixed_delay(milliseconds(1)));
  b.send_at(t0 + milliseconds(5), "c", "timer");
  for (int i = 0; i < 3; ++i)
    a.send_at(t0 + milliseconds(10 * (i + 1)), "b", std::to_string(i));
  a.send_at(t0 + milliseconds(150), "b", "late");
  net.stall("b", milliseconds(100));
  EXPECT_TRUE(net.stalled("b"));
  net.run_until(t0 + milliseconds(99));
  EXPECT_TRUE(b.polls.empty());
  EXPECT_TRUE(b.received.empty());
  EXPECT_TRUE(c.received.empty());
  net.run_until(t0 + milliseconds(100));
  EXPECT_FALSE(net.stalled("b"));
  // The timer was due (5 ms) before the first arrival (11 ms): poll first.
  std::vector<std::string> want{"poll", "rx:0", "rx:1", "rx:2"};
  EXPECT_EQ(b.log, want);
  for (const auto& r : b.received)
    EXPECT_EQ(r.at, t0 + milliseconds(100));
  net.run_until(t0 + milliseconds(200));
  ASSERT_EQ(c.received.size(), 1u);
  EXPECT_EQ(c.received[0].at, t0 + milliseconds(101));
  ASSERT_EQ(b.received.size(), 4u);
  EXPECT_EQ(b.received[3].at, t0 + milliseconds(151));
}

TEST_F(SimnetTest, StallHandsOverArrivalsBeforeLaterTimer) {
  b.send_at(t0 + milliseconds(50), "c", "timer");
  a.send_at(t0 + milliseconds(10), "b", "early");
  a.send_at(t0 + milliseconds(70), "b", "later");
  net.stall("b", milliseconds(100));
  net.stall("b", milliseconds(30)); // shorter: no effect
  net.run_until(t0 + milliseconds(100));
  std::vector<std::string> want{"rx:early", "poll", "rx:later"};
  EXPECT_EQ(b.log, want);
}

TEST_F(SimnetTest, StallExtendedWhileStalled) {
  a.send_at(t0 + milliseconds(10), "b", "x");
  net.stall("b", milliseconds(50));
  net.run_until(t0 + milliseconds(40));
  net.stall("b", milliseconds(50)); // now until 90 ms
  net.run_until(t0 + milliseconds(89));
  EXPECT_TRUE(b.received.empty());
  net.run_until(t0 + milliseconds(90));
  ASSERT_EQ(b.received.size(), 1u);
  EXPECT_EQ(b.received[0].at, t0 + milliseconds(90));
}

TEST_F(SimnetTest, DetachDropsInFlightAndRestartDoesNotResurrectThem) {
  net.set_default_faults(fixed_delay(milliseconds(50)));
  a.send_at(t0, "b", "old");
  net.run_for(milliseconds(10));
  net.detach("b");
  EXPECT_FALSE(net.attached("b"));
  script_node b2;
  net.run_for(milliseconds(10));
  b2.join(net, "b");
  net.run_for(milliseconds(100));
  EXPECT_TRUE(b.received.empty());
  EXPECT_TRUE(b2.received.empty());
  EXPECT_EQ(net.stats("a").dropped, 1u);
  a.send_at(net.now(), "b", "new");
  net.run_for(milliseconds(100));
  ASSERT_EQ(b2.received.size(), 1u);
  EXPECT_EQ(b2.received[0].payload, "new");
}

TEST_F(SimnetTest, DetachedNodeIsNeverPolledAndStallQueueIsLost) {
  b.send_at(t0 + milliseconds(20), "c", "never");
  a.send_at(t0 + milliseconds(5), "b", "queued");
  net.stall("b", milliseconds(50));
  net.run_for(milliseconds(10));
  net.detach("b");
  net.run_for(seconds(1));
  EXPECT_TRUE(b.polls.empty());
  EXPECT_TRUE(b.received.empty());
  EXPECT_TRUE(c.received.empty());
  EXPECT_EQ(net.stats("a").dropped, 1u);
  EXPECT_EQ(net.in_flight(), 0u);
}

TEST_F(SimnetTest, DetachedNodesDatagramsInFlightStillArrive) {
  net.set_default_faults(fixed_delay(milliseconds(50)));
  a.send_at(t0, "b", "last words");
  net.run_for(milliseconds(10));
  net.detach("a");
  net.run_for(milliseconds(100));
  ASSERT_EQ(b.received.size(), 1u);
}

TEST_F(SimnetTest, PollsExactlyAtEachWakeupAndIgnoresSupersededOnes) {
  a.send_at(t0 + milliseconds(30), "b", "1");
  a.send_at(t0 + milliseconds(60), "b", "2");
  net.run_for(milliseconds(10));
  // An earlier timer appears behind the simulator's back; a delivery at
  // 15 ms makes the simulator re-read a's wakeup and poll it at 20 ms.
  a.send_at(t0 + milliseconds(20), "b", "0", channel::membership, false);
  c.send_at(t0 + milliseconds(15), "a", "kick");
  net.run_for(seconds(1));
  std::vector<time_point> want{t0 + milliseconds(20), t0 + milliseconds(30),
                               t0 + milliseconds(60)};
  EXPECT_EQ(a.polls, want);
  ASSERT_EQ(b.received.size(), 3u);
  EXPECT_EQ(b.received[0].payload, "0");
}

TEST(SimnetGuards, CoreThatAlwaysWantsNowCannotLivelock) {
  simnet net(1);
  busy_node n;
  net.attach("n", &n);
  net.run_for(seconds(1));
  EXPECT_GE(n.polls, 1000u);
  EXPECT_LE(n.polls, 1002u);
}

TEST_F(SimnetTest, DropTapNamesEveryReason) {
  std::map<std::string, int> reasons;
  net.on_drop = [&](const address& from, const address&, channel,
                    const std::string& payload, drop_reason why, time_point) {
    EXPECT_EQ(from, "a");
    ++reasons[std::string(to_string(why)) + ":" + payload];
  };
  link_faults lossy;
  lossy.loss = 1.0;
  net.set_link_faults("a", "c", lossy);
  net.block("a", "b");
  a.send_at(t0, "b", "1");
  a.send_at(t0, "c", "2");
  a.send_at(t0, "ghost", "3");
  net.run_for(milliseconds(10));
  net.unblock("a", "b");
  net.set_link_faults("a", "b", fixed_delay(milliseconds(50)));
  a.send_at(net.now(), "b", "4");
  net.run_for(milliseconds(10));
  net.detach("b");
  net.run_for(milliseconds(100));
  net.clear_link_faults("a", "c");
  net.set_burst_loss(1.0, 0.0, 1.0);
  a.send_at(net.now(), "c", "5");
  net.run_for(milliseconds(10));
  std::map<std::string, int> want{{"cut:1", 1},
                                  {"loss:2", 1},
                                  {"no_route:3", 1},
                                  {"crashed:4", 1},
                                  {"burst_loss:5", 1}};
  EXPECT_EQ(reasons, want);
  EXPECT_EQ(net.stats("a").dropped, 5u);
  EXPECT_TRUE(c.received.empty());
}

TEST_F(SimnetTest, HugeDurationsSaturateInsteadOfOverflowing) {
  a.send_at(t0 + seconds(1), "b", "x");
  net.stall("b", duration::max());
  EXPECT_TRUE(net.stalled("b"));
  net.run_for(seconds(10));
  EXPECT_TRUE(b.received.empty());
  EXPECT_TRUE(net.stalled("b"));
  net.run_for(duration::max());
  EXPECT_EQ(net.now(), time_point::max());
  EXPECT_EQ(net.stats("b").dropped, 0u);
}

uint64_t flood_trace(uint64_t seed, int nodes, duration run) {
  simnet net(seed);
  std::vector<address> names;
  for (int i = 0; i < nodes; ++i)
    names.push_back("10.0.0." + std::to_string(i) + ":7946");
  std::vector<std::unique_ptr<flood_node>> ns;
  for (int i = 0; i < nodes; ++i) {
    ns.push_back(std::make_unique<flood_node>(
      &names, seed * 1000 + i, net.now() + milliseconds(i), milliseconds(200),
      2));
    net.attach(names[i], ns.back().get());
  }
  link_faults f;
  f.loss = 0.05;
  f.duplicate = 0.02;
  f.delay_min = milliseconds(1);
  f.delay_max = milliseconds(40);
  net.set_default_faults(f);
  net.set_burst_loss(0.01, 0.2, 0.8);
  net.stall(names[3], milliseconds(500));
  uint64_t h = 1469598103934665603ull;
  uint64_t deliveries = 0;
  net.on_deliver = [&](const address& from, const address& to, channel chan,
                       const std::string& payload, time_point at) {
    ++deliveries;
    h = fnv1a(h, from);
    h = fnv1a(h, to);
    h = fnv1a(h, payload);
    h = fnv1a(h, std::to_string(static_cast<int>(chan)) + "@"
                   + std::to_string(at.time_since_epoch().count()));
  };
  net.run_for(run / 2);
  net.partition({{names[0], names[1]}, {names[2]}});
  net.detach(names[4]);
  net.run_for(run / 2);
  EXPECT_GT(deliveries, 100u);
  return h;
}

TEST(SimnetDeterminism, SameSeedSameTraceDifferentSeedDifferentTrace) {
  for (uint64_t seed : {1u, 2u, 99u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    EXPECT_EQ(flood_trace(seed, 20, seconds(5)),
              flood_trace(seed, 20, seconds(5)));
    EXPECT_NE(flood_trace(seed, 20, seconds(5)),
              flood_trace(seed + 1, 20, seconds(5)));
  }
}

TEST(SimnetScale, ThousandNodesRunAMinute) {
  simnet net(8);
  std::vector<address> names;
  constexpr int n = 1000;
  for (int i = 0; i < n; ++i)
    names.push_back("n" + std::to_string(i));
  std::vector<std::unique_ptr<flood_node>> ns;
  for (int i = 0; i < n; ++i) {
    ns.push_back(std::make_unique<flood_node>(
      &names, i, net.now() + milliseconds(i % 200), milliseconds(200), 1));
    net.attach(names[i], ns.back().get());
  }
  net.run_for(seconds(60));
  uint64_t received = 0;
  for (auto& p : ns)
    received += p->received;
  // 1000 nodes * 5 sends/s * 60 s, plus ~1/3 forwarded.
  EXPECT_GT(net.total_datagrams(), 300000u);
  EXPECT_EQ(received, net.total_datagrams());
  EXPECT_EQ(net.in_flight(), 0u);
}

} // namespace
} // namespace pekonode::sim
