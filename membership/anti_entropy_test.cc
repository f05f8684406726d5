// Anti-entropy on its own: the digest exchange between two tables, its
// bounds on unsolicited and malformed input, state pages, and the reply
// budgets (per requester, all requesters, and the bounded requester list).
#include "membership/anti_entropy.h"

#include <gtest/gtest.h>

#include <iostream>

#include <set>

#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::parse;
using testing::test_addr;

const time_point t0 = time_point{} + std::chrono::hours(1);

// One node's table and anti-entropy, fed by hand.
struct node {
  config cfg;
  core_stats stats;
  std::mt19937_64 rng;
  member_table table;
  outbox ob;
  anti_entropy ae;
  outbound_list out;

  node(const std::string& name, uint64_t seed, config c = config::lan())
    : cfg(c), rng(seed), table(make_self(name), cfg.max_members, cfg.gossip_to_dead),
      ob(cfg, name, stats, 1, [] { return 3; }), ae(cfg, table, ob, rng, stats) {}

  static member make_self(const std::string& name) {
    member m;
    m.name = name;
    m.addr = test_addr(name);
    return m;
  }

  void add(const std::string& name, uint64_t inc = 1,
           member_state st = member_state::alive) {
    std::string addr = test_addr(name);
    claim c;
    c.name = name;
    c.addr = addr;
    c.incarnation = inc;
    c.state = st;
    table.apply(c, name, true, t0);
  }

  void add_many(int n, const std::string& prefix = "m") {
    for (int i = 0; i < n; ++i) add(prefix + std::to_string(i));
  }

  // Applies the state pages in `in` to this table, as the core does.
  void apply_pages(const outbound_list& in) {
    for (auto& o : in) {
      auto p = parse(o);
      for (auto& u : p.state().members())
        if (u.name() != table.self().name) table.apply(to_claim(u), p.sender(), false, t0);
    }
  }

  std::size_t count(const address& to, Packet::BodyCase body) const {
    std::size_t n = 0;
    for (auto& o : out) n += o.to == to && parse(o).body_case() == body;
    return n;
  }
};

// a and b know each other and the same 50 members.
struct pair_fixture {
  node a{"a", 1}, b{"b", 2};
  pair_fixture() {
    for (auto* n : {&a, &b}) n->add_many(50);
    a.add("b", 0);
    b.add("a", 0);
  }
  /// Makes a's anti-entropy round due and runs it: its digest is in a.out.
  void a_syncs() {
    a.ae.schedule(t0);
    a.ae.tick(t0 + seconds(100), a.out);
  }
};

// Churn syncs (config::churn_syncs): joins learnt from gossip arm one
// extra exchange once joins have been quiet for join_sync_interval
// (jittered to [1x, 2x)), at the latest churn_sync_max_wait after the first
// join it covers, never two within join_sync_interval; off, none.
TEST(AntiEntropy, ChurnSyncAfterJoinsGoQuiet) {
  pair_fixture f;
  auto& c = f.a.cfg;
  f.a.ae.schedule(t0); // periodic sync far away (>= half a sync period)
  auto digests = [&] { return f.a.stats.syncs_started; };
  // Nothing armed: no exchange.
  f.a.ae.tick(t0 + c.join_sync_interval * 3, f.a.out);
  EXPECT_EQ(digests(), 0u);
  // One join: one exchange within [1x, 2x) of the interval, then none.
  auto t1 = t0 + seconds(1);
  f.a.ae.note_join(t1);
  EXPECT_GE(f.a.ae.next_wakeup(), t1 + c.join_sync_interval);
  EXPECT_LT(f.a.ae.next_wakeup(), t1 + c.join_sync_interval * 2);
  f.a.ae.tick(t1 + c.join_sync_interval - milliseconds(1), f.a.out);
  EXPECT_EQ(digests(), 0u);
  f.a.ae.tick(t1 + c.join_sync_interval * 2, f.a.out);
  EXPECT_EQ(digests(), 1u);
  EXPECT_EQ(f.a.stats.churn_syncs, 1u);
  ASSERT_EQ(f.a.out.size(), 1u);
  EXPECT_TRUE(parse(f.a.out[0]).has_digest());
  f.a.ae.tick(t1 + c.join_sync_interval * 10, f.a.out);
  EXPECT_EQ(digests(), 1u);
  // A join every 100 ms (never quiet): one exchange per max wait.
  auto t2 = t1 + seconds(10);
  auto t = t2;
  for (; t < t2 + c.churn_sync_max_wait * 3; t += milliseconds(100)) {
    f.a.ae.note_join(t);
    f.a.ae.tick(t, f.a.out);
  }
  EXPECT_EQ(digests(), 1u + 3u);
  // Off: nothing.
  node off{"z", 3, [] {
             auto k = config::lan();
             k.churn_syncs = false;
             return k;
           }()};
  off.add_many(5);
  off.ae.schedule(t0);
  off.ae.note_join(t1);
  off.ae.tick(t1 + seconds(5), off.out);
  EXPECT_EQ(off.stats.syncs_started, 0u);
}

TEST(AntiEntropy, AgreeingViewsCostOneDigest) {
  pair_fixture f;
  ASSERT_EQ(f.a.table.digest().hash, f.b.table.digest().hash);
  ASSERT_EQ(f.a.table.digest().count, 52u);
  f.a_syncs();
  ASSERT_EQ(f.a.out.size(), 1u);
  auto d = parse(f.a.out[0]);
  ASSERT_TRUE(d.has_digest());
  // Padded, so that the bucket list answering it is at most 3x its size.
  EXPECT_GE(f.a.out[0].payload.size(), anti_entropy::min_digest_bytes);
  EXPECT_LT(f.a.out[0].payload.size(), anti_entropy::min_digest_bytes + 8);
  EXPECT_EQ(f.a.stats.syncs_started, 1u);
  // Not due again before the next period.
  f.a.ae.tick(t0 + seconds(100), f.a.out);
  EXPECT_EQ(f.a.out.size(), 1u);
  // Whichever peer it went to, b's view agrees: no answer.
  f.b.ae.on_digest(test_addr("a"), d.digest(), true, t0, f.b.out);
  EXPECT_TRUE(f.b.out.empty());
}

TEST(AntiEntropy, DifferingViewsMoveOnlyTheDifferingBuckets) {
  pair_fixture f;
  f.b.add("extra", 0);
  f.a.add("m7", 2); // a knows a newer m7
  Packet digest;
  digest.set_sender("a");
  auto mine = f.a.table.digest();
  digest.mutable_digest()->set_hash(mine.hash);
  digest.mutable_digest()->set_count(mine.count);
  // a must have asked b for the bucket list to accept it: drive a's tick
  // until its digest goes to b.
  f.b.ae.on_digest(test_addr("a"), digest.digest(), true, t0, f.b.out);
  ASSERT_EQ(f.b.out.size(), 1u);
  auto buckets = parse(f.b.out[0]);
  ASSERT_EQ(buckets.buckets().hashes_size(), 32);
  f.b.out.clear();
  // Unsolicited: a never sent b a digest.
  f.a.ae.on_buckets(test_addr("b"), buckets.buckets(), t0, f.a.out);
  EXPECT_EQ(f.a.stats.bad_packets.at("unsolicited_sync"), 1u);
  EXPECT_TRUE(f.a.out.empty());

  // Now the real exchange, a's digest to whichever peer it picks; the
  // fixture answers as b (b's table is what a compares with).
  f.a_syncs();
  ASSERT_EQ(f.a.out.size(), 1u);
  auto asked = f.a.out[0].to;
  f.b.ae.on_digest(test_addr("a"), parse(f.a.out[0]).digest(), true, t0, f.b.out);
  f.a.out.clear();
  f.a.ae.on_buckets(asked, parse(f.b.out[0]).buckets(), t0, f.a.out);
  f.b.out.clear();
  EXPECT_EQ(f.a.stats.syncs_differed, 1u);
  // a sends its side of the differing buckets, then a want for b's side.
  std::set<uint32_t> wanted;
  std::set<std::string> a_sent;
  for (auto& o : f.a.out) {
    auto p = parse(o);
    for (auto b : p.want().buckets()) wanted.insert(b);
    for (auto& u : p.state().members()) a_sent.insert(u.name());
  }
  std::set<uint32_t> expect = {static_cast<uint32_t>(member_table::bucket_of("extra")),
                               static_cast<uint32_t>(member_table::bucket_of("m7"))};
  EXPECT_EQ(wanted, expect);
  EXPECT_EQ(a_sent.count("m7"), 1u);
  for (auto& n : a_sent)
    EXPECT_TRUE(expect.count(static_cast<uint32_t>(member_table::bucket_of(n)))) << n;
  EXPECT_LT(a_sent.size(), 20u); // a few buckets, not the table
  // b applies a's pages and answers the want; a applies b's.
  f.b.apply_pages(f.a.out);
  Packet want;
  for (auto& o : f.a.out)
    if (parse(o).has_want()) want = parse(o);
  f.b.ae.on_want(test_addr("a"), want.want(), true, t0, f.b.out);
  f.a.apply_pages(f.b.out);
  EXPECT_NE(f.a.table.find("extra"), nullptr);
  EXPECT_EQ(f.b.table.find("m7")->incarnation, 2u);
  EXPECT_EQ(f.a.table.bucket_hashes(), f.b.table.bucket_hashes());
  // The pending digest was consumed: a second bucket list is unsolicited.
  f.a.ae.on_buckets(asked, buckets.buckets(), t0, f.a.out);
  EXPECT_EQ(f.a.stats.bad_packets.at("unsolicited_sync"), 2u);
}

TEST(AntiEntropy, MalformedBodiesAreCounted) {
  pair_fixture f;
  SyncWant w;
  w.add_buckets(3);
  w.add_buckets(32);
  f.a.ae.on_want(test_addr("b"), w, true, t0, f.a.out);
  EXPECT_EQ(f.a.stats.bad_packets.at("bad_body"), 1u);
  EXPECT_TRUE(f.a.out.empty());
  // A short bucket list from the peer we asked: dropped, pending consumed.
  f.a_syncs();
  auto asked = f.a.out[0].to;
  SyncBuckets short_list;
  short_list.add_hashes(1);
  f.a.ae.on_buckets(asked, short_list, t0, f.a.out);
  EXPECT_EQ(f.a.stats.bad_packets.at("bad_body"), 2u);
  SyncBuckets full;
  for (int i = 0; i < 32; ++i) full.add_hashes(0);
  f.a.ae.on_buckets(asked, full, t0, f.a.out);
  EXPECT_EQ(f.a.stats.bad_packets.at("unsolicited_sync"), 1u);
}

TEST(AntiEntropy, UnansweredDigestsExpireAfterASyncPeriod) {
  node a{"a", 1};
  a.add("b", 0);
  a.add("c", 0);
  a.ae.schedule(t0);
  auto t = t0 + seconds(100);
  a.ae.tick(t, a.out);
  ASSERT_EQ(a.out.size(), 1u);
  auto first = a.out[0].to;
  // Later exchanges (each more than a sync period, 15 s at N=3, apart)
  // until one goes to the other peer: the first peer's pending digest is
  // forgotten by then.
  for (int i = 0; i < 50 && a.out.back().to == first; ++i) {
    auto next = a.ae.next_wakeup();
    EXPECT_GE(next - t, seconds(15));
    EXPECT_LT(next - t, seconds(30));
    t = next;
    a.ae.tick(t, a.out);
  }
  ASSERT_NE(a.out.back().to, first);
  SyncBuckets full;
  for (int i = 0; i < 32; ++i) full.add_hashes(0);
  a.ae.on_buckets(first, full, t, a.out);
  EXPECT_EQ(a.stats.bad_packets.at("unsolicited_sync"), 1u);
  // The one just asked may answer.
  a.ae.on_buckets(a.out.back().to, full, t, a.out);
  EXPECT_EQ(a.stats.bad_packets.at("unsolicited_sync"), 1u);
  EXPECT_EQ(a.stats.syncs_differed, 1u);
}

TEST(AntiEntropy, QuickSyncsAfterAJoinThenTheNormalPeriod) {
  node a{"a", 3};
  a.add("b", 0);
  a.ae.schedule(t0);
  EXPECT_GE(a.ae.next_wakeup(), t0 + milliseconds(7500));
  a.ae.start_quick_syncs(t0);
  auto t = a.ae.next_wakeup();
  EXPECT_GE(t, t0 + milliseconds(200));
  EXPECT_LT(t, t0 + milliseconds(400));
  for (int i = 0; i < 3; ++i) {
    a.ae.tick(t, a.out);
    auto next = a.ae.next_wakeup();
    EXPECT_GE(next - t, milliseconds(400)) << i;
    EXPECT_LT(next - t, milliseconds(800)) << i;
    t = next;
  }
  a.ae.tick(t, a.out);
  EXPECT_GE(a.ae.next_wakeup() - t, seconds(15));
  EXPECT_EQ(a.out.size(), 4u);
}

std::string join_reply_first(const outbound_list& out) {
  auto p = parse(out.front());
  return p.state().members(0).name();
}

TEST(ReplyBudget, FloodFromOneSourceIsBoundedThenRefills) {
  node seed{"seed", 1};
  seed.add_many(1000);
  seed.ae.send_table(test_addr("probe"), t0, seed.out);
  auto full = seed.out.size(); // pages of a whole table
  ASSERT_GE(full, 10u);
  ASSERT_EQ(seed.stats.replies_limited, 0u);
  seed.out.clear();
  for (int i = 0; i < 100; ++i) seed.ae.send_table(test_addr("evil"), t0, seed.out);
  auto pages = seed.count(test_addr("evil"), Packet::kState);
  EXPECT_EQ(pages, seed.cfg.reply_pages_burst);
  // Whole replies while the burst lasts, then cut or refused ones.
  EXPECT_EQ(seed.stats.replies_limited, 100u - seed.cfg.reply_pages_burst / full);
  for (auto& o : seed.out) {
    auto p = parse(o);
    EXPECT_TRUE(p.state().join_reply());
    EXPECT_LE(o.payload.size(), seed.cfg.max_packet);
  }
  EXPECT_EQ(join_reply_first(seed.out), "seed");
  // One second later: reply_pages_per_second more pages, no more.
  seed.out.clear();
  for (int i = 0; i < 10; ++i) seed.ae.send_table(test_addr("evil"), t0 + seconds(1), seed.out);
  EXPECT_EQ(seed.count(test_addr("evil"), Packet::kState),
            static_cast<std::size_t>(seed.cfg.reply_pages_per_second));
  // A cut reply is a random subset, self first: two cut replies differ.
  auto names = [](const outbound_list& out) {
    std::set<std::string> r;
    for (auto& o : out) {
      auto p = parse(o);
      for (auto& u : p.state().members()) r.insert(u.name());
    }
    return r;
  };
  auto first = seed.out;
  EXPECT_EQ(join_reply_first(first), "seed");
  seed.out.clear();
  seed.ae.send_table(test_addr("evil"), t0 + seconds(2), seed.out);
  ASSERT_FALSE(seed.out.empty());
  EXPECT_EQ(join_reply_first(seed.out), "seed");
  EXPECT_NE(names(first), names(seed.out));
  // Another source is unaffected.
  seed.out.clear();
  seed.ae.send_table(test_addr("good"), t0 + seconds(2), seed.out);
  EXPECT_EQ(seed.count(test_addr("good"), Packet::kState), full);
}

TEST(ReplyBudget, ManySourcesShareTheGlobalBudget) {
  auto cfg = config::lan();
  cfg.reply_pages_global_per_second = 100;
  node seed{"seed", 1, cfg};
  seed.add_many(1000);
  std::size_t total = 0, answered = 0;
  for (int i = 0; i < 50; ++i) {
    auto to = test_addr("j" + std::to_string(i));
    seed.out.clear();
    seed.ae.send_table(to, t0, seed.out);
    auto n = seed.count(to, Packet::kState);
    total += n;
    answered += n >= 1;
  }
  EXPECT_EQ(answered, 50u);
  EXPECT_LE(total, 50u + 100u);
  EXPECT_GE(total, 50u + 90u); // the global burst is used, not wasted
}

TEST(ReplyBudget, DigestAnswersDrawOnTheBudget) {
  auto cfg = config::lan();
  cfg.reply_pages_burst = 2;
  node b{"b", 2, cfg};
  b.add("x");
  SyncDigest d; // differs from b's
  d.set_hash(1);
  d.set_count(1);
  for (int i = 0; i < 5; ++i) b.ae.on_digest(test_addr("a"), d, true, t0, b.out);
  EXPECT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.stats.replies_limited, 3u);
}

TEST(ReplyBudget, TrackedRequestersAreBounded) {
  node seed{"seed", 1};
  seed.add_many(5); // one page per reply
  for (std::size_t i = 0; i < anti_entropy::max_reply_peers; ++i)
    seed.ae.send_table(test_addr("r" + std::to_string(i)), t0, seed.out);
  EXPECT_EQ(seed.out.size(), anti_entropy::max_reply_peers);
  // Every tracked requester has spent a page: none is idle, so a new one
  // is refused rather than tracked.
  seed.out.clear();
  seed.ae.send_table(test_addr("new"), t0, seed.out);
  EXPECT_TRUE(seed.out.empty());
  EXPECT_EQ(seed.stats.replies_limited, 1u);
  // Once they have refilled, idle ones are forgotten and new ones served.
  seed.ae.send_table(test_addr("new"), t0 + seconds(1), seed.out);
  EXPECT_EQ(seed.out.size(), 1u);
}

// Sync replies go to members only; the bucket list answering a digest is
// at most three times the digest's size.
TEST(AntiEntropy, SyncRepliesAreForMembersOnlyAndAtMostThreeTimesTheDigest) {
  pair_fixture f;
  f.b.add("extra", 0);
  f.a_syncs();
  ASSERT_EQ(f.a.out.size(), 1u);
  auto digest = parse(f.a.out[0]).digest();
  f.b.ae.on_digest(test_addr("evil"), digest, false, t0, f.b.out);
  f.b.ae.on_want(test_addr("evil"), SyncWant{}, false, t0, f.b.out);
  EXPECT_TRUE(f.b.out.empty());
  EXPECT_EQ(f.b.stats.bad_packets.at("unverified"), 2u);
  f.b.ae.on_digest(test_addr("a"), digest, true, t0, f.b.out);
  ASSERT_EQ(f.b.out.size(), 1u);
  double ratio = double(f.b.out[0].payload.size()) / f.a.out[0].payload.size();
  std::cout << "figure: bucket list " << f.b.out[0].payload.size() << " B for a "
            << f.a.out[0].payload.size() << " B digest: " << ratio << "x\n";
  EXPECT_LE(ratio, 3.0);
}

// A member's want draws state pages only when it echoes the nonce of the
// buckets we sent to its address, once: a stranger that announced itself
// from a forged address (a member by its own claim) never received them,
// so it draws no pages to that address.
TEST(AntiEntropy, WantMustEchoTheNonceOfOurBuckets) {
  pair_fixture f;
  f.b.add("extra", 0);
  f.a_syncs();
  ASSERT_EQ(f.a.out.size(), 1u);
  auto digest = parse(f.a.out[0]).digest();
  SyncWant all;
  for (uint32_t b = 0; b < member_table::digest_buckets; ++b) all.add_buckets(b);
  f.b.ae.on_want(test_addr("a"), all, true, t0, f.b.out);
  EXPECT_TRUE(f.b.out.empty()) << "no buckets sent: nothing to echo";
  f.b.ae.on_digest(test_addr("a"), digest, true, t0, f.b.out);
  ASSERT_EQ(f.b.out.size(), 1u);
  auto nonce = parse(f.b.out[0]).buckets().nonce();
  ASSERT_NE(nonce, 0u);
  f.b.out.clear();
  all.set_nonce(nonce ^ 1);
  f.b.ae.on_want(test_addr("a"), all, true, t0, f.b.out);
  f.b.ae.on_want(test_addr("c"), all, true, t0, f.b.out);
  EXPECT_TRUE(f.b.out.empty()) << "a wrong nonce, or another address";
  EXPECT_EQ(f.b.stats.bad_packets.at("unsolicited_want"), 3u);
  all.set_nonce(nonce);
  f.b.ae.on_want(test_addr("a"), all, true, t0, f.b.out);
  EXPECT_FALSE(f.b.out.empty()) << "the echo: our side of the buckets";
  f.b.out.clear();
  f.b.ae.on_want(test_addr("a"), all, true, t0, f.b.out);
  EXPECT_TRUE(f.b.out.empty()) << "once";
  // The initiator echoes the nonce by itself.
  auto asked = f.a.out[0].to; // the digest's addressee
  f.a.out.clear();
  SyncBuckets bk;
  for (uint32_t i = 0; i < member_table::digest_buckets; ++i) bk.add_hashes(i);
  bk.set_nonce(77);
  f.a.ae.on_buckets(asked, bk, t0 + seconds(100), f.a.out);
  bool echoed = false;
  for (auto& o : f.a.out)
    if (auto p = parse(o); p.has_want()) echoed = p.want().nonce() == 77;
  EXPECT_TRUE(echoed);
}

} // namespace
} // namespace pekonode::membership
