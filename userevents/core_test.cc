#include "userevents/core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "userevents/codec.h"
#include "userevents/test_net.h"

namespace pekonode::userevents {
namespace {

using testing::net;
using testing::node_addr;
using testing::node_name;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// How many times node i delivered the event (origin, name, payload).
size_t copies(const net& n, size_t i, const std::string& name,
              const std::string& payload) {
  size_t c = 0;
  for (auto& ev : n.delivered(i))
    if (ev.name == name && ev.payload == payload)
      ++c;
  return c;
}

class EventsUnderLoss : public ::testing::TestWithParam<std::tuple<uint64_t, double>> {};

TEST_P(EventsUnderLoss, EveryNodeDeliversEachEventExactlyOnce) {
  auto [seed, loss] = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed) + " loss " + std::to_string(loss));
  std::printf("seed=%llu loss=%.2f\n", static_cast<unsigned long long>(seed),
              loss);
  constexpr size_t n = 24;
  net cl(n, seed, loss);
  // 12 events from 4 origins, spread over a second.
  for (int k = 0; k < 12; ++k) {
    outbound_list out;
    size_t origin = (k * 7) % n;
    ASSERT_EQ(cl.at(origin).publish("deploy", "v" + std::to_string(k), false,
                                    cl.now(), out),
              ec::none);
    cl.send(origin, out);
    cl.run(milliseconds(100));
  }
  cl.run(seconds(20));
  uint64_t dups = 0;
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 12; ++k)
      EXPECT_EQ(copies(cl, i, "deploy", "v" + std::to_string(k)), 1u)
        << "node " << i << " event " << k;
    EXPECT_EQ(cl.delivered(i).size(), 12u);
    dups += cl.at(i).counters().duplicates;
  }
  // Copies did arrive more than once: dedup is what kept them single.
  EXPECT_GT(dups, 0u);
  // Long after the offer window nothing is re-delivered.
  cl.run(seconds(60));
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(cl.delivered(i).size(), 12u);
}

INSTANTIATE_TEST_SUITE_P(
  Seeds, EventsUnderLoss,
  ::testing::Combine(::testing::Values(1, 2, 3, 4, 5),
                     ::testing::Values(0.10, 0.20)));

TEST(UserEvents, AntiEntropyReachesANodeThatMissedEveryRumour) {
  net cl(20, 7, 0.0);
  cl.isolate(5, true);
  outbound_list out;
  ASSERT_EQ(cl.at(0).publish("e", "x", false, cl.now(), out), ec::none);
  cl.send(0, out);
  cl.run(seconds(3)); // every rumour transmit is spent meanwhile
  EXPECT_EQ(copies(cl, 5, "e", "x"), 0u);
  cl.isolate(5, false);
  cl.run(seconds(5));
  EXPECT_EQ(copies(cl, 5, "e", "x"), 1u);
  EXPECT_GT(cl.at(5).counters().syncs, 0u);
}

TEST(UserEvents, EventsOlderThanTheOfferWindowAreNotAccepted) {
  net cl(3, 1, 0.0);
  cl.isolate(2, true);
  outbound_list out;
  ASSERT_EQ(cl.at(0).publish("e", "x", false, cl.now(), out), ec::none);
  cl.send(0, out);
  cl.run(config{}.offer_window + seconds(1));
  cl.isolate(2, false);
  cl.run(seconds(10));
  EXPECT_EQ(copies(cl, 2, "e", "x"), 0u);
  // And a copy dated inside the window but already delivered is a duplicate.
  wire_event w;
  w.ev = cl.delivered(1).at(0);
  w.age_ms = 10;
  cl.inject(1, node_addr(0), node_name(0), encode_gossip({w}));
  EXPECT_EQ(copies(cl, 1, "e", "x"), 1u);
}

TEST(UserEvents, ReplayedGossipIsDeliveredOnce) {
  net cl(3, 2, 0.0);
  outbound_list out;
  user_event raised;
  ASSERT_EQ(cl.at(0).publish("e", "x", false, cl.now(), out, &raised),
            ec::none);
  cl.send(0, out);
  cl.run(seconds(1));
  auto before = cl.at(1).counters().duplicates;
  for (int k = 0; k < 5; ++k)
    cl.inject(1, node_addr(0), node_name(0),
              encode_gossip({wire_event{raised, 100}}));
  EXPECT_EQ(copies(cl, 1, "e", "x"), 1u);
  EXPECT_EQ(cl.at(1).counters().duplicates, before + 5);
}

// A coalesced event waits for the end of its burst; a node that polls late
// (a stall longer than the dedup memory) delivers it then and must still
// take a copy that arrives next as a duplicate.
TEST(UserEvents, ACoalescedEventDeliveredLateIsStillDeliveredOnce) {
  config cfg;
  core origin{cfg, "n0", node_addr(0), 1};
  core c{cfg, "n1", node_addr(1), 2};
  c.set_member("n0", node_addr(0), true, {});
  auto t = time_point{} + seconds(100);
  outbound_list out;
  user_event raised;
  ASSERT_EQ(origin.publish("e", "x", true, t, out, &raised), ec::none);
  auto copy = encode_gossip({wire_event{raised, 0}});
  c.handle(node_addr(0), "n0", copy, t, out);
  EXPECT_TRUE(c.drain_deliveries().empty()); // waiting for its burst to end
  t += cfg.offer_window + cfg.dedup_margin + seconds(20);
  c.poll(t, out);
  EXPECT_EQ(c.drain_deliveries().size(), 1u);
  // A copy right after the late delivery (replayed with a fresh age).
  c.handle(node_addr(0), "n0", copy, t + milliseconds(1), out);
  c.poll(t + seconds(5), out);
  EXPECT_TRUE(c.drain_deliveries().empty());
  // Forgotten only a whole dedup period after the delivery.
  c.poll(t + cfg.offer_window + cfg.dedup_margin, out);
  EXPECT_EQ(c.buffered(), 0u);
}

TEST(UserEvents, CoalescingDeliversOnlyTheNewestOfABurst) {
  net cl(10, 3, 0.1);
  for (int k = 0; k < 5; ++k) {
    outbound_list out;
    ASSERT_EQ(cl.at(k % 2).publish("cfg", "v" + std::to_string(k), true,
                                   cl.now(), out),
              ec::none);
    cl.send(k % 2, out);
    cl.run(milliseconds(20));
  }
  // Not coalesced: every one of these is delivered.
  for (int k = 0; k < 3; ++k) {
    outbound_list out;
    ASSERT_EQ(cl.at(3).publish("cfg", "plain" + std::to_string(k), false,
                               cl.now(), out),
              ec::none);
    cl.send(3, out);
  }
  cl.run(seconds(10));
  for (size_t i = 0; i < cl.size(); ++i) {
    size_t coalesced = 0;
    std::string last;
    for (auto& ev : cl.delivered(i))
      if (ev.coalesce) {
        ++coalesced;
        last = ev.payload;
      }
    // Under loss a node may see the burst in two parts, but it never gets
    // more than the burst, and the newest is always what it ends with.
    EXPECT_GE(coalesced, 1u) << "node " << i;
    EXPECT_LE(coalesced, 2u) << "node " << i;
    EXPECT_EQ(last, "v4") << "node " << i;
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(copies(cl, i, "cfg", "plain" + std::to_string(k)), 1u);
  }
  EXPECT_GT(cl.at(0).counters().coalesced, 0u);
}

TEST(UserEvents, CoalescingWithoutLossDeliversExactlyOne) {
  net cl(5, 4, 0.0);
  for (int k = 0; k < 5; ++k) {
    outbound_list out;
    ASSERT_EQ(cl.at(0).publish("cfg", "v" + std::to_string(k), true,
                               cl.now(), out),
              ec::none);
    cl.send(0, out);
    cl.run(milliseconds(10));
  }
  cl.run(seconds(5));
  for (size_t i = 0; i < cl.size(); ++i) {
    ASSERT_EQ(cl.delivered(i).size(), 1u) << "node " << i;
    EXPECT_EQ(cl.delivered(i)[0].payload, "v4");
  }
}

TEST(UserEvents, LocalRateLimit) {
  net cl(2, 5, 0.0);
  config c;
  int ok = 0, limited = 0;
  for (int k = 0; k < 100; ++k) {
    outbound_list out;
    auto e = cl.at(0).publish("e", std::to_string(k), false, cl.now(), out);
    if (e == ec::none) {
      ++ok;
    } else {
      ++limited;
      EXPECT_EQ(e, ec::rate_limited);
    }
  }
  EXPECT_EQ(ok, static_cast<int>(c.local_events_burst));
  EXPECT_EQ(limited, 100 - ok);
  cl.run(seconds(1));
  outbound_list out;
  EXPECT_EQ(cl.at(0).publish("e", "later", false, cl.now(), out), ec::none);
}

TEST(UserEvents, InboundBudgetPerOrigin) {
  net cl(3, 6, 0.0);
  config c;
  // A member relays 300 events of one origin at once: the origin's budget
  // admits its burst, the rest is dropped and counted.
  size_t accepted = 0;
  for (int k = 0; k < 300; ++k) {
    wire_event w;
    w.ev.name = "flood";
    w.ev.payload = std::to_string(k);
    w.ev.origin = "n2";
    w.ev.id = 1000 + k;
    w.ev.ltime = k + 1;
    cl.inject(0, node_addr(1), node_name(1), encode_gossip({w}));
  }
  accepted = cl.delivered(0).size();
  EXPECT_EQ(accepted, static_cast<size_t>(c.origin_events_burst));
  EXPECT_EQ(cl.at(0).counters().rate_limited, 300 - accepted);
}

TEST(UserEvents, LimitsOnLocalCalls) {
  net cl(1, 7, 0.0);
  outbound_list out;
  EXPECT_EQ(cl.at(0).publish("", "", false, cl.now(), out), ec::bad_name);
  EXPECT_EQ(cl.at(0).publish("a b", "", false, cl.now(), out), ec::bad_name);
  EXPECT_EQ(cl.at(0).publish(std::string(129, 'n'), "", false, cl.now(), out),
            ec::bad_name);
  EXPECT_EQ(cl.at(0).publish("n", std::string(512, 'p'), false, cl.now(), out),
            ec::too_large);
  EXPECT_EQ(cl.at(0).publish("n", std::string(511, 'p'), false, cl.now(), out),
            ec::none);
  query_params q;
  q.name = "q";
  uint64_t id = 0;
  std::string why;
  q.node_filter = "(unclosed";
  EXPECT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why), ec::bad_filter);
  EXPECT_NE(why.find("node pattern"), std::string::npos) << why;
  q.node_filter = std::string(300, 'a');
  EXPECT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why), ec::bad_filter);
  q.node_filter.clear();
  q.timeout = seconds(61);
  EXPECT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why), ec::bad_timeout);
  q.timeout = duration::zero();
  EXPECT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why), ec::bad_timeout);
}

// -- queries --------------------------------------------------------------------------

net::tags web_on_even(size_t i) {
  return {{"role", i % 2 == 0 ? "web" : "db"}, {"dc", "eu-" + std::to_string(i % 3)}};
}

query_result run_query(net& cl, size_t from, query_params q,
                       duration extra = seconds(1)) {
  outbound_list out;
  uint64_t id = 0;
  std::string why;
  EXPECT_EQ(cl.at(from).start_query(q, cl.now(), out, id, why), ec::none)
    << why;
  cl.send(from, out);
  cl.run(q.timeout + extra);
  auto& f = cl.finished(from);
  auto it = std::find_if(f.begin(), f.end(),
                         [&](auto& r) { return r.id == id; });
  EXPECT_NE(it, f.end());
  return it == f.end() ? query_result{} : *it;
}

TEST(Queries, TagFilterReachesOnlyMatchingNodes) {
  net cl(12, 11, 0.0, config::lan(), web_on_even);
  query_params q;
  q.name = "uptime";
  q.tags = {{"role", "web"}};
  auto r = run_query(cl, 1, q);
  std::vector<std::string> want;
  for (size_t i = 0; i < 12; i += 2)
    want.push_back(node_name(i));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(r.acks, want);
  EXPECT_TRUE(r.stragglers.empty());
  EXPECT_EQ(r.expected, 6u);
  EXPECT_TRUE(r.responses.empty()); // no responder anywhere
  // Non-matching nodes did not deliver it.
  EXPECT_EQ(cl.delivered(3).size(), 0u);
  EXPECT_EQ(cl.delivered(4).size(), 1u);
  EXPECT_GT(cl.at(3).counters().filtered_out, 0u);
}

TEST(Queries, NodeAndTagFiltersTogether) {
  net cl(12, 12, 0.0, config::lan(), web_on_even);
  query_params q;
  q.name = "uptime";
  q.node_filter = "n1?[0-9]";
  q.tags = {{"role", "web"}, {"dc", "eu-(0|1)"}};
  auto r = run_query(cl, 0, q);
  // even and i%3 in {0,1}: 0, 4, 6, 10
  EXPECT_EQ(r.acks, (std::vector<std::string>{"n0", "n10", "n4", "n6"}));
}

TEST(Queries, RespondersAnswerAndTheQuerierCollects) {
  net cl(8, 13, 0.0);
  for (size_t i = 0; i < 8; ++i)
    cl.at(i).set_responder(i != 3);
  cl.on_delivery = [&](size_t i, const delivery& d, outbound_list& out) {
    if (d.ask_responder)
      cl.at(i).respond(d.ev.origin, d.ev.id, "pong from " + node_name(i) + ":" + d.ev.payload,
                       cl.now(), out);
  };
  query_params q;
  q.name = "ping";
  q.payload = "p";
  q.timeout = seconds(3);
  auto r = run_query(cl, 2, q);
  EXPECT_EQ(r.acks.size(), 8u);
  EXPECT_TRUE(r.stragglers.empty());
  for (auto& [node, payload] : r.responses) {
    EXPECT_NE(node, "n3"); // acked without a responder
    EXPECT_EQ(payload, "pong from " + node + ":p");
  }
  EXPECT_EQ(r.responses.size(), 7u);
  EXPECT_EQ(r.responses.count("n2"), 1u); // the querier answers itself
}

TEST(Queries, TimeoutListsTheStragglers) {
  net cl(6, 14, 0.0, config::lan(), web_on_even);
  cl.isolate(4, true); // matches by our view, but cannot answer
  cl.isolate(3, true); // does not match: not a straggler
  query_params q;
  q.name = "q";
  q.tags = {{"role", "web"}};
  q.timeout = seconds(2);
  auto r = run_query(cl, 0, q);
  EXPECT_EQ(r.acks, (std::vector<std::string>{"n0", "n2"}));
  EXPECT_EQ(r.stragglers, (std::vector<std::string>{"n4"}));
  EXPECT_EQ(r.expected, 3u);
}

TEST(Queries, ForgedAndLateResponsesAreDroppedAndCounted) {
  net cl(4, 15, 0.0);
  outbound_list out;
  uint64_t id = 0;
  std::string why;
  query_params q;
  q.name = "q";
  q.timeout = seconds(2);
  ASSERT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why), ec::none);
  cl.send(0, out);
  cl.run(milliseconds(200));
  auto base = cl.at(0).counters().responses_rejected;
  // From an address that is not the named member's.
  cl.inject(0, "10.9.9.9:7946", "n1", encode_response(id, "forged"));
  EXPECT_EQ(cl.at(0).counters().unverified, 1u);
  // For a query id that is not live.
  cl.inject(0, node_addr(1), node_name(1), encode_response(id + 1, "stray"));
  // A second response from the same node.
  cl.inject(0, node_addr(1), node_name(1), encode_response(id, "first"));
  cl.inject(0, node_addr(1), node_name(1), encode_response(id, "second"));
  // Too large to decode.
  cl.inject(0, node_addr(1), node_name(1),
            encode_response(id, std::string(max_response_bytes + 1, 'x')));
  EXPECT_EQ(cl.at(0).counters().malformed, 1u);
  cl.run(seconds(3));
  auto& f = cl.finished(0);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].responses.size(), 1u);
  EXPECT_EQ(f[0].responses.at("n1"), "first");
  EXPECT_EQ(cl.at(0).counters().responses_rejected, base + 2);
  // After the deadline the id is dead: a response is rejected.
  cl.inject(0, node_addr(2), node_name(2), encode_response(id, "late"));
  EXPECT_EQ(cl.at(0).counters().responses_rejected, base + 3);
}

TEST(Queries, AForgedQueryCannotAimAcksAtAnotherAddress) {
  net cl(4, 16, 0.0);
  wire_event w;
  w.ev.kind = event_kind::query;
  w.ev.name = "q";
  w.ev.origin = "n0";
  w.ev.id = 42;
  w.ev.origin_addr = "10.0.0.200:53"; // not n0's address: a victim
  w.ev.timeout_ms = 2000;
  cl.inject(1, node_addr(2), node_name(2), encode_gossip({w}));
  EXPECT_EQ(cl.at(1).counters().acks_sent, 0u);
  EXPECT_EQ(cl.at(1).counters().unverified, 1u);
  // Delivered to local subscribers all the same: it reached us.
  EXPECT_EQ(cl.delivered(1).size(), 1u);
}

TEST(Queries, PacketsFromNonMembersAreIgnored) {
  net cl(3, 17, 0.0);
  wire_event w;
  w.ev.name = "e";
  w.ev.origin = "stranger";
  w.ev.id = 1;
  cl.inject(0, "10.7.7.7:7946", "stranger", encode_gossip({w}));
  EXPECT_EQ(cl.delivered(0).size(), 0u);
  EXPECT_EQ(cl.at(0).counters().unverified, 1u);
  cl.inject(0, node_addr(1), node_name(1), std::string("\xff\xff\x01", 3));
  EXPECT_EQ(cl.at(0).counters().malformed, 1u);
}

TEST(Queries, AtMostMaxLiveQueriesAtOnce) {
  config c;
  c.local_queries_burst = 100;
  net cl(2, 18, 0.0, c);
  outbound_list out;
  uint64_t id;
  std::string why;
  query_params q;
  q.name = "q";
  for (size_t k = 0; k < c.max_live_queries; ++k)
    ASSERT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why), ec::none);
  EXPECT_EQ(cl.at(0).start_query(q, cl.now(), out, id, why),
            ec::too_many_queries);
}

TEST(UserEvents, IdleClusterCostsOneSmallSyncPerNodePerInterval) {
  net cl(10, 19, 0.0);
  cl.run(seconds(5));
  auto before = cl.bytes();
  cl.run(seconds(10));
  // 10 nodes, one empty Sync (2 bytes) per second each.
  EXPECT_LE(cl.bytes() - before, 10u * 11u * 4u);
  EXPECT_GT(cl.bytes() - before, 0u);
}

// Gossip and sync go to live peers only: a node alone is not woken for
// them, and its first peer makes a sync due at once.
TEST(UserEvents, LoneNodeIsNotWokenUntilItHasAPeer) {
  auto cfg = config::local();
  core c(cfg, "a", "10.0.0.1:7946", 5);
  const time_point t0 = time_point{} + std::chrono::hours(1);
  outbound_list out;
  c.poll(t0, out);
  EXPECT_EQ(c.next_wakeup(), time_point::max());
  ASSERT_EQ(c.publish("deploy", "v1", false, t0, out), ec::none);
  EXPECT_TRUE(out.empty()) << "no one to send it to";
  EXPECT_EQ(c.next_wakeup(), t0 + cfg.offer_window + cfg.dedup_margin)
    << "only the event's expiry, not gossip";
  auto now = t0 + seconds(3);
  c.set_member("b", "10.0.0.2:7946", true, {});
  EXPECT_LT(c.next_wakeup(), now) << "due at once";
  c.poll(now, out);
  ASSERT_FALSE(out.empty());
  for (auto& o : out)
    EXPECT_EQ(o.to, "10.0.0.2:7946");
  EXPECT_GT(c.next_wakeup(), now);
  EXPECT_LE(c.next_wakeup(), now + cfg.sync_interval);
  c.set_member("b", "10.0.0.2:7946", false, {});
  out.clear();
  c.poll(now + cfg.sync_interval, out);
  EXPECT_TRUE(out.empty());
}

// The live-peer count follows every kind of change: repeated updates of a
// live member, the node itself, deaths and returns.
TEST(UserEvents, LivePeerCountFollowsEveryChange) {
  auto cfg = config::local();
  core c(cfg, "a", "10.0.0.1:7946", 5);
  const time_point t0 = time_point{} + std::chrono::hours(1);
  auto has_peers = [&] { return c.next_wakeup() != time_point::max(); };
  outbound_list out;
  c.poll(t0, out);
  c.set_member("a", "10.0.0.1:7946", true, {});
  c.set_member("a", "10.0.0.1:7946", true, {{"role", "x"}});
  EXPECT_FALSE(has_peers()) << "the node itself is not a peer";
  c.set_member("b", "10.0.0.2:7946", true, {});
  c.set_member("b", "10.0.0.2:7946", true, {{"role", "y"}});
  c.set_member("c", "10.0.0.3:7946", true, {});
  c.set_member("b", "10.0.0.2:7946", false, {});
  c.set_member("b", "10.0.0.2:7946", false, {});
  EXPECT_TRUE(has_peers()) << "c is still live";
  c.set_member("c", "10.0.0.3:7946", false, {});
  EXPECT_FALSE(has_peers()) << "two updates of a live b count once";
  c.set_member("b", "10.0.0.2:7946", true, {});
  EXPECT_TRUE(has_peers());
}

} // namespace
} // namespace pekonode::userevents
