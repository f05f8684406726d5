// The metadata core under hostile input, each test replaying an attack:
// wire input held to the rules of a local write, versions from the future.

#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "metadata/core.h"
#include "metadata/metadata.pb.h"
#include "metadata/test_net.h"

namespace pekonode::metadata {
namespace {

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{seconds(100)};
const address peer = "10.0.0.2:7946";

std::string encode(const Message& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

uint64_t count(const core& c, const std::string& reason) {
  auto& r = c.get_stats().rejects;
  auto i = r.find(reason);
  return i == r.end() ? 0 : i->second;
}

Message rumour_entry(const std::string& key, const std::string& value,
                     const std::string& origin, bool tombstone = false,
                     uint64_t hlc = make_hlc(wall, 0)) {
  Message m;
  auto* e = m.mutable_rumour()->add_entries();
  e->set_key(key);
  e->set_value(value);
  e->set_tombstone(tombstone);
  e->mutable_version()->set_hlc(hlc);
  e->mutable_version()->set_origin(origin);
  return m;
}

// -- wire input meets local rules ---------------------------------------------

// The same function judges a local write and a remote entry: each case is
// refused locally (put, or the node id of a core) and remotely with the
// same reason, and nothing is stored.
TEST(WireInput, EntriesAreHeldToTheRulesOfALocalWrite) {
  auto cfg = config::lan();
  cfg.limits.max_value_bytes = 1000;
  struct bad {
    std::string key, value, origin;
    bool tombstone;
    const char* reason;
  };
  std::vector<bad> cases = {
    {"", "v", "w", false, "empty_key"},
    {std::string(257, 'k'), "v", "w", false, "key_too_large"},
    {"k", std::string(1001, 'v'), "w", false, "value_too_large"},
    {"k", "v", "w", true, "bad_tombstone"},
    {"k", "v", "", false, "origin_invalid"},
    {"k", "v", std::string(129, 'o'), false, "origin_invalid"},
    {"k", "v", "evil node", false, "origin_invalid"},
    {"k", "v", "evil\nWARNING forged log line", false, "origin_invalid"},
    {"k", "v", "evil\x1b[31m", false, "origin_invalid"},
    {"k", "v", "\xc3\xa9t\xc3\xa9", false, "origin_invalid"},
    {"k", "v", "del\x7f", false, "origin_invalid"},
  };
  for (auto& c : cases) {
    // Locally: a put under the same key/value, or a core under that name.
    if (c.origin == "w" && !c.tombstone) {
      core local(cfg, "w", 1);
      outbound_list out;
      EXPECT_EQ(to_string(local.put(c.key, c.value, wall, t0, out).code),
                std::string{c.reason});
    } else if (c.origin != "w") {
      EXPECT_THROW(core(cfg, c.origin, 1), std::invalid_argument)
        << c.reason;
    }
    // Remotely: rumour and push alike.
    for (bool via_rumour : {true, false}) {
      core b(cfg, "b", 2);
      b.set_peers({peer});
      auto m = rumour_entry(c.key, c.value, c.origin, c.tombstone);
      if (!via_rumour) {
        Updates u = m.rumour();
        *m.mutable_push() = u;
      }
      outbound_list out;
      b.handle(peer, encode(m), wall, t0, out);
      EXPECT_EQ(count(b, c.reason), 1u) << c.reason;
      EXPECT_EQ(b.data().size(), 0u) << c.reason;
      EXPECT_TRUE(out.empty()) << c.reason;
      EXPECT_EQ(b.get_stats().applied_remote, 0u);
    }
  }
  // The boundary cases are accepted on both sides.
  core b(cfg, "b", 2);
  outbound_list out;
  std::string name(128, '~');
  EXPECT_NO_THROW(core(cfg, name, 1));
  b.handle(peer, encode(rumour_entry(std::string(256, '\n'),
                                     std::string(1000, 'v'), name)),
           wall, t0, out);
  EXPECT_EQ(b.get_stats().applied_remote, 1u)
    << "keys are data: any bytes, escaped by whoever prints them";
}

// Announces (large values pulled in chunks) pass the same check before any
// transfer starts or any buffer is allocated.
TEST(WireInput, AnnouncesAreHeldToTheSameRules) {
  auto cfg = config::lan();
  struct bad {
    std::string key, origin;
    uint32_t size;
    const char* reason;
  };
  std::vector<bad> cases = {
    {"", "w", 5000, "empty_key"},
    {std::string(300, 'k'), "w", 5000, "key_too_large"},
    {"k", "w", 512 * 1024 + 1, "value_too_large"},
    {"k", "bad origin", 5000, "origin_invalid"},
    {"k", std::string(200, 'o'), 5000, "origin_invalid"},
  };
  for (auto& c : cases) {
    core b(cfg, "b", 2);
    b.set_peers({peer});
    Message m;
    auto* a = m.mutable_rumour()->add_announces();
    a->set_key(c.key);
    a->set_size(c.size);
    a->mutable_version()->set_hlc(make_hlc(wall, 0));
    a->mutable_version()->set_origin(c.origin);
    outbound_list out;
    b.handle(peer, encode(m), wall, t0, out);
    EXPECT_EQ(count(b, c.reason), 1u) << c.reason;
    EXPECT_EQ(b.active_transfers(), 0u);
    EXPECT_TRUE(out.empty()) << "no chunk request for " << c.reason;
  }
}

// A chunk request names a key and a version: both are checked by the
// store's rules before the store is even looked up (a bad origin would
// otherwise be echoed back in a chunk_gone).
TEST(WireInput, ChunkRequestsUseTheSameRules) {
  auto cfg = config::lan();
  core b(cfg, "b", 2);
  b.set_peers({peer});
  outbound_list out;
  b.put("held", std::string(5000, 'x'), wall, t0, out);
  out.clear();
  for (auto [key, origin] : {std::pair<std::string, std::string>{"held", "b\r\n"},
                             {"", "b"},
                             {std::string(257, 'k'), "b"}}) {
    Message req;
    auto* r = req.mutable_chunk_request();
    r->set_key(key);
    r->mutable_version()->set_hlc(b.data().find("held")->ver.hlc);
    r->mutable_version()->set_origin(origin);
    r->set_chunk_size(1000);
    r->add_indices(0);
    b.handle(peer, encode(req), wall, t0, out);
  }
  EXPECT_EQ(count(b, "bad_chunk_request"), 3u);
  EXPECT_TRUE(out.empty()) << "not even chunk_gone";
}

// -- time ----------------------------------------------------------------------

using testing::test_net;

uint64_t print_seed(uint64_t seed) {
  std::cout << "seed " << seed << "\n";
  return seed;
}

bool all_have(test_net& net, const std::string& key, const std::string& v) {
  for (size_t i = 0; i < net.size(); ++i) {
    auto e = net.node(i).get(key);
    if (!e || e->value != v)
      return false;
  }
  return true;
}

// The clock-push attack: a version 58 minutes ahead, by rumour, push and
// announce, to every node of a cluster. It is rejected and counted, no
// node's HLC moves (the next local write on each node is stamped with its
// own wall clock), and a node whose clock is a few seconds behind still
// takes the cluster's next writes at once.
TEST(Time, ForgedFutureVersionIsRejectedAndMovesNoClock) {
  test_net net(3, config::lan(), print_seed(11));
  net.set_skew(2, -5000); // a few seconds behind
  net.run_for(seconds(2));
  auto forged_hlc = make_hlc(net.wall(0) + 58 * 60 * 1000, 0);
  for (size_t i = 0; i < net.size(); ++i) {
    auto from = net.addr((i + 1) % net.size()); // even from a member
    outbound_list out;
    net.node(i).handle(from, encode(rumour_entry("k", "forged", "evil", false,
                                                 forged_hlc)),
                       net.wall(i), net.now(), out);
    auto push = rumour_entry("k2", "forged", "evil", false, forged_hlc);
    Updates u = push.rumour();
    *push.mutable_push() = u;
    net.node(i).handle(from, encode(push), net.wall(i), net.now(), out);
    Message an;
    auto* a = an.mutable_rumour()->add_announces();
    a->set_key("k3");
    a->set_size(100000);
    a->mutable_version()->set_hlc(forged_hlc);
    a->mutable_version()->set_origin("evil");
    net.node(i).handle(from, encode(an), net.wall(i), net.now(), out);
    EXPECT_TRUE(out.empty()) << "nothing forwarded, nothing pulled";
    EXPECT_EQ(count(net.node(i), "clock_skew"), 3u);
    EXPECT_NEAR(static_cast<double>(net.node(i).get_stats().clock_skew_lead_ms),
                58 * 60 * 1000.0 - static_cast<double>(i == 2 ? -5000 : 0),
                1.0);
    EXPECT_EQ(net.node(i).data().size(), 0u);
  }
  net.run_for(seconds(1));
  for (size_t i = 0; i < net.size(); ++i) {
    outbound_list out;
    auto r = net.node(i).put("own" + std::to_string(i), "v", net.wall(i),
                             net.now(), out);
    ASSERT_EQ(r.code, ec::ok);
    EXPECT_EQ(hlc_physical(r.ver.hlc), net.wall(i)) << "node " << i;
    net.send(i, out);
  }
  // The cluster's writes reach the node 5 s behind at once.
  net.put(0, "after", "x");
  net.run_for(milliseconds(500));
  EXPECT_TRUE(all_have(net, "after", "x"));
  EXPECT_EQ(count(net.node(2), "clock_skew"), 3u) << "nothing honest refused";
  EXPECT_TRUE(net.converged());
}

// Within the bound: a node 20 s behind, writers on correct clocks, writes
// everywhere, some under loss. Every write is accepted (no clock_skew
// reject) and every node ends with the same store; the slow node's own
// later writes win over what it has seen (HLC), not lose to it.
TEST(Time, NodeTwentySecondsBehindAcceptsAndConvergesEveryWrite) {
  test_net net(5, config::lan(), print_seed(12));
  net.set_skew(4, -20'000);
  net.net_faults.loss = 0.05;
  net.run_for(seconds(2));
  std::mt19937_64 rng(12);
  for (int i = 0; i < 200; ++i) {
    auto w = static_cast<size_t>(rng() % 5);
    auto key = "k" + std::to_string(rng() % 20);
    net.put(w, key, "v" + std::to_string(i) + "@" + std::to_string(w));
    net.run_for(milliseconds(rng() % 50));
  }
  // The slow node writes last: it must win even though its wall clock is
  // 20 s behind the writes it overwrites.
  net.put(4, "k1", "slow node last");
  net.run_until_true([&] { return net.converged(); }, seconds(30));
  EXPECT_TRUE(net.converged());
  EXPECT_TRUE(all_have(net, "k1", "slow node last"));
  for (size_t i = 0; i < net.size(); ++i)
    EXPECT_EQ(count(net.node(i), "clock_skew"), 0u) << "node " << i;
}

// Beyond the bound (documented failure mode): a node 2 minutes behind
// refuses the cluster's writes as clock skew (counted, and the lead shows
// how far behind it is) until its own clock is within the bound of them,
// then anti-entropy brings them in: 120 s - 30 s = 90 s late, not never.
TEST(Time, NodeTwoMinutesBehindGetsWritesLagMinusBoundLate) {
  auto cfg = config::lan();
  test_net net(3, cfg, print_seed(13));
  net.set_skew(2, -120'000);
  net.run_for(seconds(2));
  net.put(0, "k", "v");
  auto written = net.now();
  net.run_for(seconds(60));
  EXPECT_EQ(net.node(2).get("k"), nullptr);
  EXPECT_TRUE(net.node(1).get("k"));
  EXPECT_GT(count(net.node(2), "clock_skew"), 0u);
  EXPECT_NEAR(static_cast<double>(net.node(2).get_stats().clock_skew_lead_ms),
              120'000.0 - 60'000.0, 1'500.0)
    << "the latest refusal: the version was this far ahead then";
  auto took = net.run_until_true([&] { return net.node(2).get("k") != nullptr; },
                                 seconds(120), milliseconds(100));
  auto late = std::chrono::duration_cast<milliseconds>(net.now() - written);
  std::cout << "applied " << late.count() << " ms after the write\n";
  EXPECT_LT(took, seconds(120));
  EXPECT_GE(late, milliseconds(90'000));
  EXPECT_LE(late, milliseconds(90'000) + 2 * cfg.ae_interval);
  EXPECT_TRUE(net.converged());
}

} // namespace
} // namespace pekonode::metadata
