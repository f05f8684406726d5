// Single- and two-node behaviour of the metadata core with hand-routed
// packets: local writes, anti-entropy steps, chunked transfer edge cases,
// hostile input.

#include "metadata/core.h"

#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "metadata/codec.h"
#include "metadata/metadata.pb.h"

namespace pekonode::metadata {
namespace {

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{seconds(100)};

config small_cfg() {
  auto c = config::lan();
  c.limits.max_value_bytes = 600 * 1024;
  return c;
}

std::string encode(const Message& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

Message decode(const outbound& o) {
  Message m;
  EXPECT_TRUE(m.ParseFromString(o.payload));
  EXPECT_EQ(o.chan, channel::metadata);
  return m;
}

TEST(MetadataCore, PutGetDelList) {
  core c(small_cfg(), "a", 1);
  outbound_list out;
  auto r = c.put("k1", "v1", wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_EQ(r.ver.origin, "a");
  EXPECT_EQ(hlc_physical(r.ver.hlc), wall);
  c.put("k2", "v2", wall, t0, out);
  ASSERT_NE(c.get("k1"), nullptr);
  EXPECT_EQ(c.get("k1")->value, "v1");
  EXPECT_EQ(c.list().size(), 2u);
  EXPECT_EQ(c.del("k1", wall, t0, out).code, ec::ok);
  EXPECT_EQ(c.get("k1"), nullptr);
  EXPECT_EQ(c.del("k1", wall, t0, out).code, ec::not_found);
  EXPECT_EQ(c.list().size(), 1u);
  EXPECT_TRUE(out.empty()); // no peers: nothing to send
  auto ev = c.drain_events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].key, "k1");
  EXPECT_TRUE(ev[2].value.tombstone);
  EXPECT_EQ(ev[2].origin, change_origin::local);
  EXPECT_TRUE(c.drain_events().empty());
}

TEST(MetadataCore, LocalLimitsAreEnforced) {
  core c(small_cfg(), "a", 1);
  outbound_list out;
  EXPECT_EQ(c.put(std::string(257, 'k'), "v", wall, t0, out).code,
            ec::key_too_large);
  EXPECT_EQ(c.put("k", std::string(600 * 1024 + 1, 'v'), wall, t0, out).code,
            ec::value_too_large);
  EXPECT_EQ(c.put("", "v", wall, t0, out).code, ec::empty_key);
  EXPECT_EQ(c.put("k", std::string(512 * 1024, 'v'), wall, t0, out).code,
            ec::ok);
}

TEST(MetadataCore, RumourGoesToFanoutPeersAndFitsPacket) {
  core c(small_cfg(), "a", 1);
  c.set_peers({"p1", "p2", "p3", "p4", "p5"});
  outbound_list out;
  c.put("k", std::string(1000, 'x'), wall, t0, out);
  ASSERT_EQ(out.size(), 3u);
  for (auto& o : out) {
    EXPECT_LE(o.payload.size(), c.cfg().max_packet);
    auto m = decode(o);
    ASSERT_TRUE(m.has_rumour());
    ASSERT_EQ(m.rumour().entries_size(), 1);
    EXPECT_EQ(m.rumour().entries(0).value().size(), 1000u);
  }
  // Retransmitted a limited number of times, then silent.
  size_t sends = 0;
  auto now = t0;
  for (int i = 0; i < 100; ++i) {
    out.clear();
    now += milliseconds(100);
    c.poll(wall, now, out);
    for (auto& o : out)
      sends += decode(o).has_rumour();
  }
  // limit = 4 * ceil(log10(7)) = 4 transmissions, 1 already done.
  EXPECT_EQ(sends, 3u * 3u);
}

// Peers followed one membership event at a time end up exactly like a bulk
// set_peers of the same live set: same seed, same rumour targets.
TEST(MetadataCore, PeersFollowedByEventsMatchBulkPeers) {
  core bulk(small_cfg(), "a", 7), inc(small_cfg(), "a", 7);
  bulk.set_peers({"p1", "p3", "p4", "p6"});
  EXPECT_TRUE(inc.member_changed("n6", "p6", true));
  EXPECT_TRUE(inc.member_changed("n2", "p2", true));
  EXPECT_TRUE(inc.member_changed("n1", "p1", true));
  EXPECT_FALSE(inc.member_changed("n1", "p1", true)); // alive -> suspect
  EXPECT_TRUE(inc.member_changed("n5", "p5", true));
  EXPECT_TRUE(inc.member_changed("n3", "p9", true));
  EXPECT_TRUE(inc.member_changed("n3", "p3", true)); // moved address
  EXPECT_TRUE(inc.member_changed("n4", "p4", true));
  EXPECT_FALSE(inc.member_changed("n2", "p2", false)); // dead
  EXPECT_FALSE(inc.member_changed("n5", "p5", false)); // left
  EXPECT_FALSE(inc.member_changed("n7", "p7", false)); // never live
  outbound_list a, b;
  bulk.put("k", "v", wall, t0, a);
  inc.put("k", "v", wall, t0, b);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to, b[i].to);
}

// A node that gets its first peer (fresh start, restart) pulls at once
// instead of waiting up to ae_interval; later peers do not force a round.
TEST(MetadataCore, FirstPeerStartsAntiEntropyAtOnce) {
  auto cfg = small_cfg();
  cfg.ae_interval = seconds(30);
  core c(cfg, "a", 7);
  outbound_list out;
  c.poll(wall, t0, out);
  EXPECT_TRUE(out.empty());
  EXPECT_GT(c.next_wakeup(), t0);
  EXPECT_TRUE(c.member_changed("n1", "p1", true));
  EXPECT_LE(c.next_wakeup(), t0);
  c.poll(wall, t0 + milliseconds(1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, "p1");
  EXPECT_TRUE(decode(out[0]).has_syn());
  out.clear();
  EXPECT_TRUE(c.member_changed("n2", "p2", true));
  EXPECT_GT(c.next_wakeup(), t0 + milliseconds(1));
  c.poll(wall, t0 + milliseconds(2), out);
  EXPECT_TRUE(out.empty());
}

// An address shared by two live names (a restart under a new name before
// the old one is declared dead) stays a peer until both are gone.
TEST(MetadataCore, SharedAddressStaysPeerWhileAnyNameLives) {
  core c(small_cfg(), "a", 7);
  EXPECT_TRUE(c.member_changed("old", "p1", true));
  EXPECT_FALSE(c.member_changed("new", "p1", true));
  c.member_changed("old", "p1", false);
  outbound_list out;
  c.put("k", "v", wall, t0, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, "p1");
  c.member_changed("new", "p1", false);
  out.clear();
  c.put("k2", "v", wall, t0, out);
  EXPECT_TRUE(out.empty()) << "no peers left, nobody to tell";
}

TEST(MetadataCore, OneKibValueRidesInline) {
  core c(small_cfg(), "node17", 1);
  c.set_peers({"p1", "p2", "p3", "p4"});
  outbound_list out;
  c.put("conf/service/a", std::string(1024, 'x'), wall, t0, out);
  ASSERT_FALSE(out.empty());
  for (auto& o : out) {
    EXPECT_LE(o.payload.size(), c.cfg().max_packet);
    auto m = decode(o);
    ASSERT_TRUE(m.has_rumour());
    EXPECT_EQ(m.rumour().entries_size(), 1);
    EXPECT_EQ(m.rumour().announces_size(), 0);
  }
}

// Around the inline/announce boundary every value is both sent within
// max_packet and retransmitted by the rumour ticks (an entry judged inline
// but too big for the tick's packing budget would be sent only once).
TEST(MetadataCore, RumoursNearPacketSizeAreRetransmitted) {
  for (size_t size = 1100; size <= 1200; ++size) {
    core c(small_cfg(), "a", 1);
    c.set_peers({"p1", "p2", "p3", "p4", "p5"});
    outbound_list out;
    c.put("k", std::string(size, 'x'), wall, t0, out);
    size_t tick_sends = 0;
    auto now = t0;
    for (int i = 0; i < 10; ++i) {
      now += milliseconds(100);
      c.poll(wall, now, out);
    }
    for (auto& o : out) {
      ASSERT_LE(o.payload.size(), c.cfg().max_packet) << "size " << size;
      tick_sends += decode(o).has_rumour();
    }
    // 3 initial sends + 3 per tick for the remaining transmissions.
    EXPECT_EQ(tick_sends, 3u * 4u) << "size " << size;
  }
}

TEST(MetadataCore, UndrainedEventsAreBoundedByBytes) {
  auto cfg = small_cfg();
  cfg.max_event_bytes = 100 * 1024;
  core c(cfg, "a", 1);
  outbound_list out;
  for (int i = 0; i < 20; ++i)
    c.put("k" + std::to_string(i), std::string(30 * 1024, 'x'), wall, t0,
          out);
  auto ev = c.drain_events();
  ASSERT_EQ(ev.size(), 3u); // 3 x 30 KiB fit in 100 KiB, 4 do not
  EXPECT_EQ(ev.back().key, "k19");
  EXPECT_EQ(c.get_stats().events_dropped, 17u);
  // One event larger than the bound is still delivered.
  c.put("huge", std::string(200 * 1024, 'y'), wall, t0, out);
  ev = c.drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].value.value.size(), 200u * 1024);
}

TEST(MetadataConfig, ProfilesOrderedAndWireCompatible) {
  auto l = config::local(), n = config::lan(), w = config::wan();
  EXPECT_LT(l.gossip_interval, n.gossip_interval);
  EXPECT_LT(n.gossip_interval, w.gossip_interval);
  EXPECT_LT(l.ae_interval, n.ae_interval);
  EXPECT_LT(n.ae_interval, w.ae_interval);
  EXPECT_LT(l.chunk_timeout, n.chunk_timeout);
  EXPECT_LT(n.chunk_timeout, w.chunk_timeout);
  // Chunk sizes derive from max_packet: profiles must agree on it.
  EXPECT_EQ(l.max_packet, n.max_packet);
  EXPECT_EQ(w.max_packet, n.max_packet);
  EXPECT_GE(w.retransmit_mult, n.retransmit_mult);
  for (auto& c : {l, n, w})
    EXPECT_NO_THROW(core(c, "a", 1));
}

// A lone peer pulling from an idle node draws the bulk sender's burst plus
// a pull window ahead of the refill: each profile's per-peer bulk budget
// holds that, so the pull is paced by the shared cap, never refused.
TEST(MetadataConfig, PeerBulkBudgetHoldsTheSendersBurstAndAWindow) {
  for (auto& c : {config::local(), config::lan(), config::wan()}) {
    EXPECT_GE(static_cast<double>(c.peer_bulk_burst_bytes),
              min_peer_bulk_burst(c));
    EXPECT_GE(c.peer_bulk_bytes_per_sec, c.max_bulk_bytes_per_sec);
  }
}

TEST(MetadataCore, RemoteUpdateReGossipedOnceAndStaleIgnored) {
  core a(small_cfg(), "a", 1), b(small_cfg(), "b", 2);
  b.set_peers({"x", "y", "z"});
  outbound_list out;
  a.set_peers({"b"});
  a.put("k", "v", wall, t0, out);
  ASSERT_EQ(out.size(), 1u);
  auto pkt = out[0].payload;
  out.clear();
  b.handle("a", pkt, wall, t0, out);
  EXPECT_EQ(out.size(), 3u); // forwarded at once to fanout peers
  ASSERT_NE(b.get("k"), nullptr);
  auto ev = b.drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].origin, change_origin::remote);
  out.clear();
  b.handle("a", pkt, wall, t0, out); // duplicate: not forwarded again
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(b.get_stats().stale, 1u);
  EXPECT_EQ(a.digest(), b.digest());
}

TEST(MetadataCore, RejectsFarFutureVersions) {
  core b(small_cfg(), "b", 2);
  Message m;
  auto* e = m.mutable_rumour()->add_entries();
  e->set_key("k");
  e->set_value("forged");
  e->mutable_version()->set_hlc(make_hlc(wall + 2 * 3600 * 1000, 0));
  e->mutable_version()->set_origin("evil");
  outbound_list out;
  b.handle("evil", encode(m), wall, t0, out);
  EXPECT_EQ(b.get("k"), nullptr);
  EXPECT_EQ(b.get_stats().rejects.at("clock_skew"), 1u);
  // A later local write still works.
  EXPECT_EQ(b.put("k", "fine", wall, t0, out).code, ec::ok);
}

TEST(MetadataCore, HostileInputIsCountedNeverCrashes) {
  core b(small_cfg(), "b", 2);
  outbound_list out;
  std::mt19937_64 rng(7);
  std::cout << "seed 7\n";
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (auto& ch : junk)
      ch = static_cast<char>(rng());
    b.handle("x", junk, wall, t0, out);
  }
  b.handle("x", std::string(100000, 'a'), wall, t0, out);
  EXPECT_EQ(b.get_stats().rejects.at("payload_too_large"), 1u);
  EXPECT_GT(b.get_stats().rejects.at("malformed"), 0u);
  // Announce of an oversized value (even from a peer) is refused before any
  // allocation.
  b.set_peers({"x"});
  Message m;
  auto* a = m.mutable_push()->add_announces();
  a->set_key("k");
  a->set_size(4'000'000'000u);
  a->mutable_version()->set_hlc(make_hlc(wall, 0));
  a->mutable_version()->set_origin("x");
  b.handle("x", encode(m), wall, t0, out);
  EXPECT_EQ(b.active_transfers(), 0u);
  EXPECT_GE(b.get_stats().rejects.at("value_too_large"), 1u);
}

// Routes packets between two cores until quiet; returns packets moved.
size_t route(core& a, core& b, outbound_list& out, time_point now,
             size_t* syn_only = nullptr) {
  size_t moved = 0;
  while (!out.empty()) {
    outbound_list next;
    for (auto& o : out) {
      ++moved;
      EXPECT_LE(o.payload.size(), a.cfg().max_packet);
      if (syn_only && !decode(o).has_syn())
        ++*syn_only;
      if (o.to == "a")
        a.handle("b", o.payload, wall, now, next);
      else
        b.handle("a", o.payload, wall, now, next);
    }
    out = std::move(next);
  }
  return moved;
}

TEST(AntiEntropy, EqualStoresCostOneSyn) {
  core a(small_cfg(), "a", 1), b(small_cfg(), "b", 2);
  outbound_list out;
  for (int i = 0; i < 100; ++i) {
    a.put("k" + std::to_string(i), "v", wall, t0, out);
  }
  // Same writes reach b via one push each.
  route(a, b, out, t0); // nothing: no peers yet
  a.set_peers({"b"});
  b.set_peers({"a"});
  auto now = t0;
  for (int i = 0; i < 40 && a.digest() != b.digest(); ++i) {
    now += milliseconds(500);
    a.poll(wall, now, out);
    b.poll(wall, now, out);
    route(a, b, out, now);
  }
  ASSERT_EQ(a.digest(), b.digest());
  for (int i = 0; i < 20; ++i) { // let queued rumours run out
    now += milliseconds(500);
    a.poll(wall, now, out);
    b.poll(wall, now, out);
    route(a, b, out, now);
  }
  // In sync: a round is one SYN and nothing else.
  now += seconds(1);
  b.poll(wall, now, out);
  route(a, b, out, now);
  a.poll(wall, now, out);
  size_t non_syn = 0;
  size_t syns = 0;
  for (auto& o : out)
    syns += decode(o).has_syn();
  EXPECT_EQ(syns, 1u);
  EXPECT_LE(out[0].payload.size(), 40u) << "digest, nonce, b's cookie";
  route(a, b, out, now, &non_syn);
  EXPECT_EQ(non_syn, 0u);
}

// Catch-up: a node whose first peers do not answer (down, or as empty as
// it is) asks another peer every catchup_interval, never the same one
// twice, up to catchup_syncs more rounds; then once per ae_interval.
TEST(MetadataCore, CatchUpAsksOtherPeersQuicklyThenSettles) {
  auto cfg = small_cfg();
  cfg.ae_interval = seconds(5);
  cfg.catchup_interval = milliseconds(500);
  cfg.catchup_syncs = 4;
  core c(cfg, "a", 7);
  std::vector<address> peers;
  for (int i = 0; i < 10; ++i)
    peers.push_back("p" + std::to_string(i));
  c.set_peers(peers);
  outbound_list out;
  std::vector<std::pair<time_point, address>> syns;
  for (auto now = t0; now < t0 + seconds(16); now += milliseconds(50)) {
    c.poll(wall, now, out);
    for (auto& o : out)
      if (decode(o).has_syn()) syns.emplace_back(now, o.to);
    out.clear();
  }
  ASSERT_GE(syns.size(), 7u);
  std::set<address> asked;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(asked.insert(syns[i].second).second) << "asked twice: " << i;
    if (i > 0) EXPECT_EQ(syns[i].first - syns[i - 1].first, milliseconds(500));
  }
  // The first round and 4 catch-up rounds, then the ordinary period:
  // t0, +0.5 s, +1 s, +1.5 s, +2 s, +7 s, +12 s.
  EXPECT_EQ(syns[5].first - syns[4].first, seconds(5));
  EXPECT_EQ(syns[6].first - syns[5].first, seconds(5));
  EXPECT_EQ(syns.size(), 7u);
}

// A peer that answers with an ACK (its digest differs: we pull what we
// lack from it) ends the catch-up at once.
TEST(MetadataCore, CatchUpEndsWhenAPeerAnswers) {
  auto cfg = small_cfg();
  cfg.ae_interval = seconds(5);
  cfg.catchup_interval = milliseconds(500);
  core a(cfg, "a", 1), b(cfg, "b", 2);
  outbound_list out;
  b.put("k", "v", wall, t0, out);
  out.clear();
  b.set_peers({"a"});
  a.set_peers({"b"});
  auto now = t0;
  size_t syns_from_a = 0;
  for (; now < t0 + seconds(4); now += milliseconds(50)) {
    a.poll(wall, now, out);
    for (auto& o : out)
      syns_from_a += decode(o).has_syn();
    route(a, b, out, now);
  }
  EXPECT_EQ(a.digest(), b.digest());
  // The first SYN (no cookie), the same SYN with b's cookie, and at most
  // the one catch-up round already armed when b's ACK came.
  EXPECT_LE(syns_from_a, 3u);
}

TEST(AntiEntropy, SynAckAck2ConvergesBothWays) {
  core a(small_cfg(), "a", 1), b(small_cfg(), "b", 2);
  outbound_list out;
  for (int i = 0; i < 3000; ++i)
    a.put("a" + std::to_string(i), std::string(i % 7 == 0 ? 3000 : 20, 'a'),
          wall, t0, out);
  for (int i = 0; i < 500; ++i)
    b.put("b" + std::to_string(i), "bb", wall, t0, out);
  b.put("a5", "newer on b", wall + 10, t0, out);
  b.del("a6", wall + 10, t0, out); // absent on b: not_found, no effect
  a.set_peers({"b"});
  b.set_peers({"a"});
  auto now = t0;
  int rounds = 0;
  while (a.digest() != b.digest() && rounds < 200) {
    ++rounds;
    now += milliseconds(100);
    a.poll(wall, now, out);
    b.poll(wall, now, out);
    route(a, b, out, now);
  }
  std::cout << "converged after " << rounds << " polls\n";
  ASSERT_EQ(a.digest(), b.digest());
  EXPECT_EQ(a.get("a5")->value, "newer on b");
  EXPECT_EQ(a.list().size(), 3500u);
  EXPECT_GT(b.get_stats().transfers_completed, 0u);
}

// A joiner's store is empty, so its SYN carries no digest; it must still
// draw the member's SynCookie, or the joiner waits until another node
// happens to start a round with it. Here the member never starts one (its
// ae_interval is 30 s and its first round went to another peer): the
// joiner's own first SYN, answered at once or held until membership makes
// the joiner a peer, brings it up to date, a 100 KiB value included,
// within milliseconds.
TEST(AntiEntropy, EmptyJoinersOwnSynCatchesItUp) {
  for (bool held : {false, true}) {
    SCOPED_TRACE(held ? "held until the joiner is a peer" : "a peer at once");
    auto cfg = small_cfg();
    cfg.ae_interval = seconds(30);
    core j(cfg, "j", 1), m(cfg, "m", 2);
    outbound_list out;
    m.set_peers({"other"});
    for (int i = 0; i < 50; ++i)
      m.put("k" + std::to_string(i), "v", wall, t0, out);
    m.put("big", std::string(100 * 1024, 'x'), wall, t0, out);
    auto now = t0;
    // The member's rumours and its first round go to "other" (dropped).
    while (m.rumours_queued() > 0 && now < t0 + seconds(10)) {
      out.clear();
      now += milliseconds(10);
      m.poll(wall, now, out);
    }
    out.clear();
    ASSERT_EQ(m.rumours_queued(), 0u);
    if (!held)
      m.set_peers({"j", "other"});
    j.set_peers({"m"});
    auto start = now;
    // Routes until quiet; what goes to "other" is dropped.
    auto route_jm = [&](outbound_list& o) {
      while (!o.empty()) {
        outbound_list next;
        for (auto& x : o) {
          if (x.to == "j")
            j.handle("m", x.payload, wall, now, next);
          else if (x.to == "m")
            m.handle("j", x.payload, wall, now, next);
        }
        o = std::move(next);
      }
    };
    j.poll(wall, now, out);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(decode(out[0]).has_syn()) << "the joiner's first round";
    route_jm(out);
    if (held) {
      EXPECT_GT(m.get_stats().rejects.count("not_a_peer"), 0u);
      m.set_peers({"j", "other"});
    }
    while (j.digest() != m.digest() && now < start + seconds(1)) {
      now += milliseconds(1);
      j.poll(wall, now, out);
      m.poll(wall, now, out);
      route_jm(out);
    }
    EXPECT_EQ(j.digest(), m.digest());
    EXPECT_LE(now - start, milliseconds(50));
    EXPECT_EQ(m.get_stats().rejects.count("syn_too_small"), 0u);
    ASSERT_NE(j.get("big"), nullptr);
    EXPECT_EQ(j.get("big")->value.size(), 100u * 1024);
  }
}

// Key lists near the key size limit: every ACK2 / WANT page still fits one
// packet (none dropped as oversized), so the stores converge.
TEST(AntiEntropy, LongKeyPagesFitOnePacket) {
  core a(small_cfg(), "a", 1), b(small_cfg(), "b", 2);
  outbound_list out;
  for (int i = 0; i < 400; ++i) {
    auto key = std::string(240, 'k') + std::to_string(i);
    (i % 2 ? a : b).put(key, "v", wall, t0, out);
  }
  out.clear();
  a.set_peers({"b"});
  b.set_peers({"a"});
  auto now = t0;
  int rounds = 0;
  size_t largest = 0;
  while (a.digest() != b.digest() && rounds < 300) {
    ++rounds;
    now += milliseconds(100);
    a.poll(wall, now, out);
    b.poll(wall, now, out);
    for (auto& o : out)
      largest = std::max(largest, o.payload.size());
    route(a, b, out, now);
  }
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_LE(largest, small_cfg().max_packet);
  EXPECT_EQ(a.get_stats().rejects.count("oversized_outbound"), 0u);
  EXPECT_EQ(b.get_stats().rejects.count("oversized_outbound"), 0u);
}

// Chunked transfer driven by hand: b serves, a pulls.
struct chunk_fixture : ::testing::Test {
  core a{small_cfg(), "a", 1};
  core b{small_cfg(), "b", 2};
  std::string value;
  outbound_list out;
  std::vector<Message> requests;

  void SetUp() override {
    a.set_peers({"b"});
    b.set_peers({"a"});
    value.resize(20000);
    std::mt19937_64 rng(3);
    for (auto& c : value)
      c = static_cast<char>(rng());
    b.put("big", value, wall, t0, out);
    out.clear();
    Message m;
    auto* an = m.mutable_push()->add_announces();
    auto* e = b.data().find("big");
    an->set_key("big");
    an->mutable_version()->set_hlc(e->ver.hlc);
    an->mutable_version()->set_origin(e->ver.origin);
    an->set_size(static_cast<uint32_t>(value.size()));
    an->set_hash_lo(e->value_hash.lo);
    an->set_hash_hi(e->value_hash.hi);
    a.handle("b", encode(m), wall, t0, out);
    // The first requests draw b's cookie; a asks again with it.
    outbound_list cookies;
    for (auto& o : out)
      b.handle("a", o.payload, wall, t0, cookies);
    out.clear();
    for (auto& c : cookies)
      if (decode(c).has_chunk_cookie())
        a.handle("b", c.payload, wall, t0, out);
    for (auto& o : out)
      requests.push_back(decode(o));
    out.clear();
    ASSERT_FALSE(requests.empty());
    cookie = requests[0].chunk_request().cookie();
    ASSERT_NE(cookie, 0u);
    // Slow start: one request in flight until a chunk arrives, then the
    // window. (The first chunk is cut from b's store: b's own sending, and
    // its clock, stay untouched; the request stays to be served.)
    ASSERT_EQ(requests.size(), 1u);
    auto& q = requests[0].chunk_request();
    auto first = make_chunk("big", *b.data().find("big"), q.indices(0),
                            q.chunk_size());
    deliver(first, t0);
    ASSERT_EQ(requests.size(), 2u) << "the rest of the window";
  }
  uint64_t cookie = 0; // b's for a

  // b's chunk answers to all current requests.
  // b's clock moves one second per call so its bandwidth budget refills.
  time_point bt = t0;
  std::vector<Message> serve(time_point) {
    std::vector<Message> chunks;
    bt += seconds(1);
    outbound_list o;
    for (auto& r : requests)
      b.handle("a", encode(r), wall, bt, o);
    b.poll(wall, bt, o);
    for (auto& x : o)
      if (decode(x).has_chunk())
        chunks.push_back(decode(x));
    requests.clear();
    return chunks;
  }
  void deliver(const Message& m, time_point now) {
    outbound_list o;
    a.handle("b", encode(m), wall, now, o);
    for (auto& x : o)
      if (decode(x).has_chunk_request())
        requests.push_back(decode(x));
  }
  uint64_t rejects(const char* r) {
    auto& m = a.get_stats().rejects;
    auto i = m.find(r);
    return i == m.end() ? 0 : i->second;
  }
};

TEST_F(chunk_fixture, ReorderedDuplicateAndMissingChunksStillComplete) {
  ASSERT_EQ(a.active_transfers(), 1u);
  ASSERT_FALSE(requests.empty());
  auto now = t0;
  int guard = 0;
  std::mt19937_64 rng(5);
  while (!a.get("big") && guard++ < 50) {
    auto chunks = serve(now);
    std::shuffle(chunks.begin(), chunks.end(), rng); // reordered
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (guard < 3 && i % 5 == 0)
        continue; // missing: a must re-request after the timeout
      deliver(chunks[i], now);
      if (i % 3 == 0)
        deliver(chunks[i], now); // duplicate
    }
    now += seconds(2);
    outbound_list o;
    a.poll(wall, now, o);
    for (auto& x : o)
      if (decode(x).has_chunk_request())
        requests.push_back(decode(x));
  }
  ASSERT_NE(a.get("big"), nullptr);
  EXPECT_EQ(a.get("big")->value, value);
  EXPECT_GT(rejects("chunk_duplicate"), 0u);
  EXPECT_EQ(a.digest(), b.digest());
}

TEST_F(chunk_fixture, BadChunksAreRejectedByReason) {
  auto chunks = serve(t0);
  ASSERT_GE(chunks.size(), 2u);
  auto oversized = chunks[0];
  oversized.mutable_chunk()->mutable_data()->append("x");
  deliver(oversized, t0);
  EXPECT_EQ(rejects("chunk_oversized"), 1u);
  auto total = chunks[0];
  total.mutable_chunk()->set_total_size(12345);
  deliver(total, t0);
  EXPECT_EQ(rejects("chunk_wrong_total"), 1u);
  auto hash = chunks[0];
  hash.mutable_chunk()->set_hash_lo(1);
  deliver(hash, t0);
  EXPECT_EQ(rejects("chunk_wrong_hash"), 1u);
  auto index = chunks[0];
  index.mutable_chunk()->set_index(100000);
  deliver(index, t0);
  EXPECT_EQ(rejects("chunk_bad_index"), 1u);
  EXPECT_EQ(a.get("big"), nullptr);
}

TEST_F(chunk_fixture, CorruptDataFailsWholeValueHash) {
  auto chunks = serve(t0);
  ASSERT_FALSE(chunks.empty());
  // (The last: a chunk a does not hold yet, see SetUp.)
  (*chunks.back().mutable_chunk()->mutable_data())[0] ^= 1;
  auto now = t0;
  for (int round = 0; round < 20 && a.active_transfers() > 0; ++round) {
    for (auto& c : chunks)
      deliver(c, now);
    chunks = serve(now);
  }
  EXPECT_EQ(a.get("big"), nullptr);
  EXPECT_EQ(a.active_transfers(), 0u);
  EXPECT_EQ(rejects("value_hash_mismatch"), 1u);
}

TEST_F(chunk_fixture, NewerVersionAbandonsTransferAndServerRefusesOld) {
  auto chunks = serve(t0);
  outbound_list o;
  // b overwrites: its old version is gone.
  b.set_peers({"a"});
  b.put("big", "small now", wall + 5, t0, o);
  for (auto& x : o)
    a.handle("b", x.payload, wall, t0, out);
  EXPECT_EQ(a.active_transfers(), 0u);
  EXPECT_EQ(a.get("big")->value, "small now");
  // Late chunks of the old version are ignored.
  deliver(chunks[0], t0);
  EXPECT_EQ(rejects("chunk_unknown_transfer"), 1u);
  // Server answers a request for a version it no longer holds with "gone".
  Message req;
  auto* r = req.mutable_chunk_request();
  r->set_key("big");
  r->mutable_version()->set_hlc(1);
  r->mutable_version()->set_origin("b");
  r->set_chunk_size(500);
  r->add_indices(0);
  r->set_cookie(cookie);
  outbound_list g;
  b.handle("a", encode(req), wall, t0, g);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_TRUE(decode(g[0]).has_chunk_gone());
}

TEST_F(chunk_fixture, ServerIgnoresRequestsForChunksStillQueued) {
  ASSERT_FALSE(requests.empty());
  // The same requests twice at once: b's bandwidth budget admits only a few
  // chunks right away, the rest queue; the repeat must not queue them again.
  outbound_list o;
  for (auto& r : requests)
    b.handle("a", encode(r), wall, t0, o);
  // Chunks already sent may legitimately be sent again on a retry.
  size_t sent_at_once = o.size();
  ASSERT_GT(sent_at_once, 0u);
  std::set<uint32_t> at_once;
  for (auto& x : o)
    if (auto m = decode(x); m.has_chunk())
      at_once.insert(m.chunk().index());
  for (auto& r : requests)
    b.handle("a", encode(r), wall, t0, o);
  std::map<uint32_t, int> sent;
  auto now = t0;
  for (int i = 0; i < 20; ++i) {
    now += milliseconds(100);
    b.poll(wall, now, o);
  }
  for (auto& x : o)
    if (auto m = decode(x); m.has_chunk())
      ++sent[m.chunk().index()];
  size_t requested = 0;
  for (auto& r : requests)
    requested += static_cast<size_t>(r.chunk_request().indices_size());
  ASSERT_GT(requested, sent_at_once);
  EXPECT_EQ(sent.size(), requested);
  for (auto& [index, n] : sent)
    EXPECT_EQ(n, at_once.count(index) > 0 ? 2 : 1) << "chunk " << index;
}

TEST(MetadataCore, ChunkRetriesRotateSourcesThenBackOff) {
  auto cfg = small_cfg();
  cfg.ae_interval = seconds(100); // only chunk requests in the window
  core a(cfg, "a", 1);
  a.set_peers({"b", "c"});
  outbound_list out;
  Message m;
  auto* an = m.mutable_rumour()->add_announces();
  an->set_key("k");
  an->mutable_version()->set_hlc(make_hlc(wall, 0));
  an->mutable_version()->set_origin("w");
  an->set_size(900); // one chunk
  an->set_hash_lo(1);
  an->set_hash_hi(2);
  a.handle("b", encode(m), wall, t0, out);
  a.handle("c", encode(m), wall, t0, out);
  auto requests_to = [&](time_point now) {
    std::vector<address> to;
    outbound_list o;
    a.poll(wall, now, o);
    for (auto& x : o)
      if (decode(x).has_chunk_request())
        to.push_back(x.to);
    return to;
  };
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, "b");
  auto base = small_cfg().chunk_timeout;
  auto tick = milliseconds(1);
  // Lost: the retry goes to the other source after one base timeout ...
  EXPECT_TRUE(requests_to(t0 + base - tick).empty());
  EXPECT_EQ(requests_to(t0 + base), std::vector<address>{"c"});
  // ... and again after one base timeout (not every source tried yet) ...
  EXPECT_TRUE(requests_to(t0 + 2 * base - tick).empty());
  EXPECT_EQ(requests_to(t0 + 2 * base), std::vector<address>{"b"});
  // ... then, both sources asked, the wait doubles.
  EXPECT_TRUE(requests_to(t0 + 4 * base - tick).empty());
  EXPECT_EQ(requests_to(t0 + 4 * base), std::vector<address>{"c"});
}

TEST(MetadataCore, ExpiredTombstonesAreCollectedAndNotResurrected) {
  auto cfg = small_cfg();
  cfg.tombstone_ttl_ms = 1000;
  core a(cfg, "a", 1);
  outbound_list out;
  a.put("k", "v", wall, t0, out);
  auto old_ver = a.data().find("k")->ver;
  a.del("k", wall + 1, t0, out);
  a.poll(wall + 5000, t0 + seconds(120), out);
  EXPECT_EQ(a.data().find("k"), nullptr);
  EXPECT_EQ(a.get_stats().gc_collected, 1u);
  // An old expired tombstone from a peer is not stored again.
  Message m;
  auto* e = m.mutable_push()->add_entries();
  e->set_key("k");
  e->set_tombstone(true);
  e->mutable_version()->set_hlc(old_ver.hlc + 1);
  e->mutable_version()->set_origin("a");
  a.handle("b", encode(m), wall + 5000, t0 + seconds(121), out);
  EXPECT_EQ(a.data().find("k"), nullptr);
}

// next_wakeup() is always a real due time: the clock's epoch before the
// timers start, the latest `now` once a first peer makes anti-entropy due,
// never time_point::min().
TEST(MetadataCore, NextWakeupIsARealDueTime) {
  auto cfg = small_cfg();
  cfg.ae_interval = seconds(30);
  cfg.catchup_syncs = 0;
  core c(cfg, "a", 7);
  EXPECT_EQ(c.next_wakeup(), time_point{});
  EXPECT_TRUE(c.member_changed("n1", "p1", true)); // before any call
  EXPECT_EQ(c.next_wakeup(), time_point{});
  outbound_list out;
  c.poll(wall, t0, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(decode(out[0]).has_syn()) << "the early peer still counts";
  EXPECT_EQ(c.next_wakeup(), t0 + cfg.ae_interval) << "nothing else due";
  c.member_changed("n1", "p1", false);
  c.handle("x", "junk", wall, t0 + milliseconds(7), out); // any call: a `now`
  EXPECT_TRUE(c.member_changed("n2", "p2", true));
  EXPECT_EQ(c.next_wakeup(), t0 + milliseconds(7));
}

// The bulk sender asks for payloads when the bucket admits them: a queued
// chunk of a version overwritten meanwhile is never sent.
TEST_F(chunk_fixture, QueuedChunksOfAnOverwrittenVersionAreDropped) {
  ASSERT_FALSE(requests.empty());
  outbound_list o;
  for (auto& r : requests)
    b.handle("a", encode(r), wall, t0, o);
  size_t sent_at_once = o.size();
  ASSERT_GT(sent_at_once, 0u);
  std::set<uint32_t> at_once;
  for (auto& x : o)
    if (auto m = decode(x); m.has_chunk())
      at_once.insert(m.chunk().index());
  // The rest wait for tokens; b overwrites the value before they go.
  b.put("big", "small now", wall + 5, t0, o);
  auto sent_before = b.get_stats().chunks_sent;
  for (int i = 1; i <= 20; ++i)
    b.poll(wall, t0 + milliseconds(100 * i), o);
  EXPECT_EQ(b.get_stats().chunks_sent, sent_before);
  EXPECT_GT(b.next_wakeup(), t0 + seconds(2)) << "queue drained";
}

// Wake-ups per second of a core driven exactly at next_wakeup(), with
// `peers` and nothing to do but what happens in `seconds_idle`.
double wakeups_per_sec(const config& cfg, int seconds_idle) {
  core c(cfg, "a", 7);
  c.set_peers({"p1", "p2", "p3"});
  outbound_list out;
  auto now = t0;
  c.poll(wall, now, out);
  // Past the first peer's catch-up rounds (config::catchup_syncs), which
  // no one answers here.
  while (c.next_wakeup() < t0 + seconds(30)) {
    now = std::max(c.next_wakeup(), now + duration{1});
    c.poll(wall, now, out);
  }
  auto end = now + seconds(seconds_idle);
  int polls = 0;
  while (true) {
    auto next = std::max(c.next_wakeup(), now + duration{1});
    if (next > end)
      break;
    now = next;
    c.poll(wall + static_cast<uint64_t>((now - t0) / milliseconds(1)), now,
           out);
    ++polls;
  }
  return static_cast<double>(polls) / seconds_idle;
}

// Nothing due, nothing done: with no rumour, transfer or bulk item queued,
// only anti-entropy (and GC, once a minute) wakes an idle core.
TEST(MetadataCore, IdleCoreWakesOnlyForAntiEntropyAndGc) {
  for (auto [name, cfg] : {std::pair{"lan", config::lan()},
                           std::pair{"local", config::local()},
                           std::pair{"wan", config::wan()}}) {
    double rate = wakeups_per_sec(cfg, 600);
    double expected = 1.0 / std::chrono::duration<double>(cfg.ae_interval).count()
                      + 1.0 / std::chrono::duration<double>(cfg.gc_interval).count();
    std::cout << name << ": " << rate << " wake-ups/s idle (anti-entropy + GC: "
              << expected << ")\n";
    // GC may share a wake-up with an anti-entropy round.
    EXPECT_LE(rate, expected + 0.01) << name;
    EXPECT_GE(rate, 1.0 / std::chrono::duration<double>(cfg.ae_interval).count()
                      - 0.01) << name;
  }
}

// A node alone has no one to run anti-entropy with: only GC wakes it, and
// the first peer makes a round due at once.
TEST(MetadataCore, LoneCoreWakesOnlyForGcAndSyncsWithItsFirstPeer) {
  for (auto cfg : {config::lan(), config::local(), config::wan()}) {
    core c(cfg, "a", 7);
    outbound_list out;
    c.poll(wall, t0, out);
    EXPECT_EQ(c.next_wakeup(), t0 + cfg.gc_interval);
    auto now = t0 + cfg.gc_interval;
    c.poll(wall, now, out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(c.next_wakeup(), now + cfg.gc_interval);
    now += milliseconds(3);
    c.handle("x", "junk", wall, now, out); // any call: a `now`
    EXPECT_TRUE(c.member_changed("n1", "p1", true));
    EXPECT_LE(c.next_wakeup(), now);
    c.poll(wall, now, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(decode(out[0]).has_syn());
    // Unanswered so far: the next round is a catch-up one.
    EXPECT_EQ(c.next_wakeup(),
              now + std::min(cfg.catchup_interval, cfg.ae_interval));
  }
}

// A rumour still goes out on the gossip tick's original phase after a long
// idle stretch: retransmissions are exactly one interval apart, on the grid
// an always-running tick would have kept.
TEST(MetadataCore, GossipTickKeepsItsPhaseAcrossIdleStretches) {
  auto cfg = small_cfg();
  cfg.ae_interval = seconds(100); // no SYN in the window
  cfg.catchup_syncs = 0;
  core c(cfg, "a", 7);
  c.set_peers({"p1", "p2", "p3", "p4", "p5"});
  outbound_list out;
  c.poll(wall, t0, out); // timers start: ticks at t0 + k * 100 ms
  out.clear();
  auto write_at = t0 + seconds(7) + milliseconds(30);
  c.put("k", "v", wall, write_at, out);
  ASSERT_EQ(out.size(), 3u);
  out.clear();
  EXPECT_EQ(c.next_wakeup(), t0 + seconds(7) + milliseconds(100));
  std::vector<time_point> ticks;
  auto now = write_at;
  for (int i = 0; i < 10 && c.next_wakeup() < t0 + seconds(50); ++i) {
    now = c.next_wakeup();
    c.poll(wall, now, out);
    for (auto& o : out)
      EXPECT_TRUE(decode(o).has_rumour());
    if (!out.empty())
      ticks.push_back(now);
    out.clear();
  }
  EXPECT_EQ(c.next_wakeup(), t0 + cfg.gc_interval) << "rumour done: idle again";
  ASSERT_EQ(ticks.size(), 3u); // 4 transmissions, 1 at the write
  for (size_t i = 0; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i], t0 + seconds(7) + milliseconds(100 * (i + 1)));
}

} // namespace
} // namespace pekonode::metadata
