// The member table on its own: the SWIM precedence rules, what apply()
// reports for each kind of claim, and the indexes and digest it maintains.
#include "membership/member_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <random>
#include <set>

namespace pekonode::membership {
namespace {

using S = member_state;
using std::chrono::seconds;

const time_point t0 = time_point{} + std::chrono::hours(1);

member self_member() {
  member m;
  m.name = "me";
  m.addr = "me:1";
  return m;
}

claim make_claim(std::string_view name, uint64_t inc, S st,
                 std::string_view from = {}, std::string_view addr = {}) {
  claim c;
  c.name = name;
  c.addr = addr;
  c.incarnation = inc;
  c.state = st;
  c.from = from;
  return c;
}

// Names and addresses that outlive the claims viewing them.
struct names {
  std::deque<std::string> store; // stable across push_back
  std::string_view operator()(std::string s) {
    store.push_back(std::move(s));
    return store.back();
  }
};

TEST(Supersedes, EveryPairAtTheSameIncarnation) {
  // Rows: current state; columns: claimed state (alive, suspect, dead, left).
  const bool want[4][4] = {
    /* alive   */ {false, true, true, true},
    /* suspect */ {false, false, true, true},
    /* dead    */ {false, false, false, true},
    /* left    */ {false, false, false, false},
  };
  const S all[] = {S::alive, S::suspect, S::dead, S::left};
  for (int cur = 0; cur < 4; ++cur)
    for (int st = 0; st < 4; ++st) {
      EXPECT_EQ(supersedes(5, all[cur], 5, all[st]), want[cur][st])
        << to_string(all[cur]) << " <- " << to_string(all[st]);
      // A higher incarnation always wins, a lower one never.
      EXPECT_TRUE(supersedes(5, all[cur], 6, all[st]));
      EXPECT_FALSE(supersedes(5, all[cur], 4, all[st]));
    }
}

// One row: the table's record of "x" before (none if !known), a claim, and
// what apply() must report and leave behind.
struct apply_row {
  const char* what;
  bool known;
  S cur;
  uint64_t cur_inc;
  S st;
  uint64_t inc;
  const char* from;
  bool first_hand;
  apply_summary::outcome_t outcome;
  S applied;          // summary.state
  const char* accuser;
  bool became_live;
  S after;            // the record's state afterwards
  uint64_t after_inc;
};

TEST(MemberTableApply, SummaryTable) {
  using A = apply_summary;
  const apply_row rows[] = {
    // what                          known cur         ci  st          inc from  1st   outcome         applied     accuser live   after       ai
    {"unknown alive joins",          false, S::alive,   0, S::alive,   2, "",   true,  A::added,       S::alive,   "snd", true,  S::alive,   2},
    {"unknown suspect joins",        false, S::alive,   0, S::suspect, 2, "y",  true,  A::added,       S::suspect, "y",   true,  S::suspect, 2},
    {"unknown dead remembered",      false, S::alive,   0, S::dead,    2, "y",  true,  A::added,       S::dead,    "y",   false, S::dead,    2},
    {"unknown left remembered",      false, S::alive,   0, S::left,    2, "",   true,  A::added,       S::left,    "snd", false, S::left,    2},
    {"same alive is stale",          true,  S::alive,   3, S::alive,   3, "",   true,  A::stale,       S::alive,   "snd", false, S::alive,   3},
    {"newer alive refutes suspect",  true,  S::suspect, 3, S::alive,   4, "",   true,  A::changed,     S::alive,   "snd", false, S::alive,   4},
    {"alive after death rejoins",    true,  S::dead,    3, S::alive,   4, "",   true,  A::changed,     S::alive,   "snd", true,  S::alive,   4},
    {"suspect at same inc",          true,  S::alive,   3, S::suspect, 3, "y",  true,  A::changed,     S::suspect, "y",   false, S::suspect, 3},
    {"old suspect is stale",         true,  S::alive,   3, S::suspect, 2, "y",  true,  A::stale,       S::suspect, "y",   false, S::alive,   3},
    {"suspect confirmation stale",   true,  S::suspect, 3, S::suspect, 3, "z",  true,  A::stale,       S::suspect, "z",   false, S::suspect, 3},
    {"dead first-hand",              true,  S::suspect, 3, S::dead,    3, "y",  true,  A::changed,     S::dead,    "y",   false, S::dead,    3},
    {"dead from a page downgraded",  true,  S::alive,   3, S::dead,    3, "y",  false, A::changed,     S::suspect, "snd", false, S::suspect, 3},
    {"dead page on a suspect",       true,  S::suspect, 3, S::dead,    3, "y",  false, A::stale,       S::suspect, "snd", false, S::suspect, 3},
    {"newer dead page is first-hand",true,  S::alive,   3, S::dead,    4, "y",  false, A::changed,     S::dead,    "y",   false, S::dead,    4},
    {"dead page on dead",            true,  S::dead,    3, S::dead,    3, "y",  false, A::stale,       S::dead,    "y",   false, S::dead,    3},
    {"left beats dead",              true,  S::dead,    3, S::left,    3, "",   true,  A::changed,     S::left,    "snd", false, S::left,    3},
    {"dead after left is stale",     true,  S::left,    3, S::dead,    3, "y",  true,  A::stale,       S::dead,    "y",   false, S::left,    3},
    {"suspect revives the dead",     true,  S::dead,    3, S::suspect, 4, "y",  true,  A::changed,     S::suspect, "y",   true,  S::suspect, 4},
  };
  for (auto& r : rows) {
    member_table t(self_member(), 100, seconds(30));
    if (r.known) {
      auto seed = make_claim("x", r.cur_inc, S::alive, {}, "x:1");
      ASSERT_EQ(t.apply(seed, "snd", true, t0).outcome, A::added);
      if (r.cur != S::alive)
        ASSERT_TRUE(t.apply(make_claim("x", r.cur_inc, r.cur, "w", "x:1"),
                            "snd", true, t0).applied())
          << r.what;
      ASSERT_EQ(t.find("x")->state, r.cur) << r.what;
    }
    auto s = t.apply(make_claim("x", r.inc, r.st, r.from, "x:1"), "snd", r.first_hand,
                     t0 + seconds(1));
    EXPECT_EQ(s.outcome, r.outcome) << r.what;
    EXPECT_EQ(s.state, r.applied) << r.what;
    EXPECT_EQ(s.accuser, r.accuser) << r.what;
    EXPECT_EQ(s.became_live, r.became_live) << r.what;
    ASSERT_NE(s.m, nullptr) << r.what;
    EXPECT_EQ(s.m, t.find("x")) << r.what;
    EXPECT_EQ(s.m->state, r.after) << r.what;
    EXPECT_EQ(s.m->incarnation, r.after_inc) << r.what;
    if (r.known) EXPECT_EQ(s.old_state, r.cur) << r.what;
    if (s.applied()) EXPECT_EQ(s.m->state_change, t0 + seconds(1)) << r.what;
    else EXPECT_NE(s.m->state_change, t0 + seconds(1)) << r.what;
  }
}

TEST(MemberTableApply, OneLookupThroughASlot) {
  member_table t(self_member(), 100, seconds(30));
  auto where = t.locate("x");
  EXPECT_FALSE(where.found());
  EXPECT_EQ(t.get(where), nullptr);
  auto s = t.apply(make_claim("x", 1, S::alive, {}, "x:1"), where, "x", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::added);
  where = t.locate("x");
  ASSERT_TRUE(where.found());
  EXPECT_EQ(t.get(where), t.find("x"));
  // Through the same slot, a member moves between the live and the dead
  // sampling lists (which share one position field) and back.
  s = t.apply(make_claim("x", 1, S::dead, "y", "x:1"), where, "y", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::changed);
  EXPECT_EQ(t.get(where)->state, S::dead);
  std::mt19937_64 rng(1);
  EXPECT_EQ(t.pick(5, false, t0, {}, rng).size(), 0u);
  EXPECT_EQ(t.pick(5, true, t0, {}, rng).size(), 1u);
  s = t.apply(make_claim("x", 2, S::alive, {}, "x:1"), where, "x", true, t0);
  EXPECT_TRUE(s.became_live);
  EXPECT_EQ(t.pick(5, false, t0, {}, rng).size(), 1u);
  EXPECT_EQ(t.pick(5, true, t0, {}, rng).size(), 1u);
  EXPECT_EQ(t.count(S::alive), 2u);
  EXPECT_EQ(t.count(S::dead), 0u);
}

TEST(MemberTableApply, TagSetsAreSharedAndChargedToTheBudget) {
  member_table t(self_member(), 100, seconds(30));
  auto bare = t.bytes();
  auto c = make_claim("x", 1, S::alive, {}, "x:1");
  c.tags = {{"role", "db"}};
  t.apply(c, "x", true, t0);
  auto with_tags = t.bytes();
  EXPECT_EQ(with_tags - bare, member_table::entry_bytes(*t.find("x")));
  EXPECT_GE(with_tags - bare,
            member_table::entry_bytes(member{}) + c.tags.stored_bytes());
  // The entry holds the claim's set itself, not a copy.
  EXPECT_TRUE(t.find("x")->tags.same(c.tags));
  // Replaced by an empty set: its bytes are given back.
  c.incarnation = 2;
  c.tags = interned_tags();
  t.apply(c, "x", true, t0);
  EXPECT_LT(t.bytes(), with_tags);
  EXPECT_TRUE(t.find("x")->tags.empty());
}

TEST(MemberTableApply, AliveClaimsReportTagAndAddressChanges) {
  member_table t(self_member(), 100, seconds(30));
  auto c = make_claim("x", 1, S::alive, {}, "x:1");
  c.tags = {{"role", "db"}};
  t.apply(c, "x", true, t0);
  EXPECT_EQ(t.find("x")->tags.at("role"), "db");
  // Newer incarnation, same tags and address: nothing but the incarnation.
  c.incarnation = 2;
  auto s = t.apply(c, "x", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::changed);
  EXPECT_FALSE(s.tags_changed);
  EXPECT_FALSE(s.addr_changed);
  c.incarnation = 3;
  c.tags = {{"role", "web"}};
  s = t.apply(c, "x", true, t0);
  EXPECT_TRUE(s.tags_changed);
  EXPECT_FALSE(s.addr_changed);
  EXPECT_EQ(t.find("x")->tags.at("role"), "web");
  // Non-alive claims carry no tags and leave the last known ones.
  s = t.apply(make_claim("x", 3, S::suspect, "y", "x:1"), "y", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::changed);
  EXPECT_EQ(t.find("x")->tags.at("role"), "web");
}

TEST(MemberTableApply, AliveFromAnotherAddressConflictsOnlyWhileLive) {
  member_table t(self_member(), 100, seconds(30));
  t.apply(make_claim("x", 1, S::alive, {}, "x:1"), "x", true, t0);
  auto s = t.apply(make_claim("x", 2, S::alive, {}, "evil:1"), "evil", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::addr_conflict);
  EXPECT_EQ(t.find("x")->addr, "x:1");
  EXPECT_EQ(t.find("x")->incarnation, 1u);
  // Once dead, a newer alive claim from a new address is a move.
  t.apply(make_claim("x", 1, S::dead, "y", "x:1"), "y", true, t0);
  s = t.apply(make_claim("x", 2, S::alive, {}, "x:2"), "x", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::changed);
  EXPECT_TRUE(s.addr_changed);
  EXPECT_TRUE(s.became_live);
  EXPECT_EQ(t.find("x")->addr, "x:2");
}

TEST(MemberTable, FullTableDropsUnknownMembersOnly) {
  member_table t(self_member(), 3, seconds(30)); // self + 2
  EXPECT_EQ(t.apply(make_claim("a", 0, S::alive, {}, "a:1"), "a", true, t0).outcome,
            apply_summary::added);
  EXPECT_EQ(t.apply(make_claim("b", 0, S::alive, {}, "b:1"), "b", true, t0).outcome,
            apply_summary::added);
  auto s = t.apply(make_claim("c", 0, S::alive, {}, "c:1"), "c", true, t0);
  EXPECT_EQ(s.outcome, apply_summary::table_full);
  EXPECT_EQ(s.m, nullptr);
  EXPECT_EQ(t.size(), 3u);
  // Known members still change.
  EXPECT_EQ(t.apply(make_claim("a", 1, S::alive, {}, "a:1"), "a", true, t0).outcome,
            apply_summary::changed);
}

TEST(MemberTable, QueriesIncludeSelf) {
  member_table t(self_member(), 100, seconds(30));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.live_count(), 1u);
  EXPECT_EQ(t.count(S::alive), 1u);
  EXPECT_EQ(t.find("me"), &t.self());
  for (auto n : {"zed", "alf", "mo"}) {
    std::string addr = std::string(n) + ":1";
    t.apply(make_claim(n, 0, S::alive, {}, addr), n, true, t0);
  }
  t.apply(make_claim("mo", 0, S::dead, "alf", "mo:1"), "alf", true, t0);
  auto all = t.members();
  std::vector<std::string> got;
  for (auto& m : all) got.push_back(m.name);
  EXPECT_EQ(got, (std::vector<std::string>{"alf", "me", "mo", "zed"}));
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.count(S::alive), 3u);
  EXPECT_EQ(t.count(S::dead), 1u);
  EXPECT_EQ(t.live_count(), 3u);
  std::vector<std::string> order;
  t.for_each([&](const member& m) { order.push_back(m.name); });
  EXPECT_EQ(order, (std::vector<std::string>{"me", "alf", "mo", "zed"}));
  order.clear();
  t.for_each_live_other([&](const member& m) { order.push_back(m.name); });
  EXPECT_EQ(order, (std::vector<std::string>{"alf", "zed"}));
  // Self always counts in N, also once it has left.
  t.self().state = S::left;
  EXPECT_EQ(t.live_count(), 3u);
  EXPECT_EQ(t.count(S::left), 1u);
  EXPECT_EQ(t.count(S::alive), 2u);
}

TEST(MemberTable, PickIsDistinctSkipsAndHonoursTheDeadWindow) {
  names nm;
  member_table t(self_member(), 1000, seconds(30));
  for (int i = 0; i < 100; ++i) {
    auto n = nm("m" + std::to_string(i));
    t.apply(make_claim(n, 0, S::alive, {}, nm(std::string(n) + ":1")), n, true, t0);
  }
  for (int i = 0; i < 5; ++i) {
    auto n = nm("m" + std::to_string(i));
    t.apply(make_claim(n, 0, S::dead, "m9", nm(std::string(n) + ":1")), "m9", true, t0);
  }
  std::mt19937_64 rng(5);
  for (std::size_t k : {1u, 3u, 10u, 40u, 200u}) {
    auto r = t.pick(k, false, t0, "m50", rng);
    std::set<std::string> seen;
    for (auto* m : r) {
      EXPECT_TRUE(seen.insert(m->name).second) << "duplicate " << m->name;
      EXPECT_NE(m->name, "m50");
      EXPECT_TRUE(is_live(m->state));
    }
    EXPECT_EQ(r.size(), std::min<std::size_t>(k, 94)) << k;
  }
  // With dead members: recent deaths are sampled, old ones no longer.
  auto all = t.pick(1000, true, t0 + seconds(10), {}, rng);
  EXPECT_EQ(all.size(), 100u);
  all = t.pick(1000, true, t0 + seconds(30), {}, rng);
  EXPECT_EQ(all.size(), 95u);
  for (auto* m : all) EXPECT_TRUE(is_live(m->state));
  // The same seed draws the same sample.
  std::mt19937_64 a(9), b(9);
  auto pa = t.pick(5, false, t0, {}, a), pb = t.pick(5, false, t0, {}, b);
  EXPECT_EQ(pa, pb);
}

TEST(MemberTable, SweepForgetsOldDeadAndListsAddresses) {
  member_table t(self_member(), 100, seconds(30));
  t.apply(make_claim("a", 0, S::alive, {}, "a:1"), "a", true, t0);
  t.apply(make_claim("b", 0, S::dead, "a", "b:1"), "a", true, t0);
  t.apply(make_claim("c", 0, S::left, {}, "c:1"), "c", true, t0 + seconds(50));
  auto r = t.sweep(t0 + seconds(59), seconds(60));
  EXPECT_EQ(r.live, (std::set<address>{"a:1"}));
  EXPECT_EQ(r.remembered, (std::vector<address>{"b:1", "c:1"}));
  EXPECT_EQ(t.size(), 4u);
  r = t.sweep(t0 + seconds(60), seconds(60));
  EXPECT_EQ(r.remembered, (std::vector<address>{"c:1"}));
  EXPECT_EQ(t.find("b"), nullptr);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.count(S::dead), 0u);
}

// The incremental digest equals one computed from scratch after any
// sequence of claims, and differs when the live views differ.
TEST(MemberTable, DigestTracksEveryChange) {
  uint64_t seed = 77031;
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  names nm;
  member_table t(self_member(), 10000, seconds(30));
  auto from_scratch = [&] {
    table_digest d;
    std::vector<uint64_t> b(member_table::digest_buckets, 0);
    for (auto& m : t.members())
      if (is_live(m.state)) {
        auto h = member_table::entry_hash(m);
        d.hash += h;
        ++d.count;
        b[member_table::bucket_of(m.name)] += h;
      }
    return std::make_pair(d, b);
  };
  const S all[] = {S::alive, S::suspect, S::dead, S::left};
  for (int i = 0; i < 3000; ++i) {
    auto n = nm("m" + std::to_string(rng() % 200));
    auto st = all[rng() % 4];
    auto c = make_claim(n, rng() % 6, st, "q", nm(std::string(n) + ":1"));
    t.apply(c, "q", rng() % 2 == 0, t0 + seconds(i));
    if (i % 500 == 499) t.sweep(t0 + seconds(i), seconds(200));
    if (i % 100 == 0) t.self().incarnation = rng() % 4;
    auto [d, b] = from_scratch();
    ASSERT_EQ(t.digest().hash, d.hash) << i;
    ASSERT_EQ(t.digest().count, d.count) << i;
    ASSERT_EQ(t.bucket_hashes(), b) << i;
    std::size_t live = 0;
    for (auto& m : t.members()) live += m.name != "me" && is_live(m.state);
    ASSERT_EQ(t.live_count(), live + 1) << i;
  }
  // Two tables that differ in one incarnation differ in that bucket only.
  member_table x(self_member(), 100, seconds(30)), y(self_member(), 100, seconds(30));
  x.apply(make_claim("a", 1, S::alive, {}, "a:1"), "a", true, t0);
  y.apply(make_claim("a", 2, S::alive, {}, "a:1"), "a", true, t0);
  EXPECT_NE(x.digest().hash, y.digest().hash);
  EXPECT_EQ(x.digest().count, y.digest().count);
  auto bx = x.bucket_hashes(), by = y.bucket_hashes();
  for (std::size_t i = 0; i < member_table::digest_buckets; ++i)
    EXPECT_EQ(bx[i] != by[i], i == member_table::bucket_of("a")) << i;
}

// The name index stays exact through growth and through deletions in the
// middle of probe runs (sweeps and forgotten unconfirmed members), with a
// small key space so that runs are long; members() stays name-ordered.
TEST(MemberTable, NameIndexSurvivesChurn) {
  member_table t(self_member(), 100000, seconds(30));
  t.set_index_key(1, 2);
  std::mt19937_64 rng(5);
  std::map<std::string, S> ref; // confirmed members and their states
  std::set<std::string> unconf;
  const S all[] = {S::alive, S::suspect, S::dead, S::left};
  // nth_dead() walks the dead members in for_each() order.
  auto check_dead = [&t] {
    std::vector<const member*> dead;
    t.for_each([&](const member& m) {
      if (m.state == S::dead) dead.push_back(&m);
    });
    ASSERT_EQ(dead.size(), t.count(S::dead));
    for (std::size_t i = 0; i < dead.size(); ++i)
      ASSERT_EQ(t.nth_dead(i), dead[i]) << i;
    ASSERT_EQ(t.nth_dead(dead.size()), nullptr);
  };
  for (int i = 0; i < 20000; ++i) {
    auto n = "k" + std::to_string(rng() % 3000);
    auto r = rng() % 10;
    auto now = t0 + seconds(i / 100);
    if (r == 0 && unconf.count(n)) {
      ASSERT_TRUE(t.forget_unconfirmed(n));
      unconf.erase(n);
    } else if (r == 1 && !ref.count(n) && !unconf.count(n)) {
      t.apply(make_claim(n, 1, S::alive, {}, n + ":1"), "q", true, now, false);
      unconf.insert(n);
    } else if (!unconf.count(n)) {
      auto st = all[rng() % 4];
      auto res = t.apply(make_claim(n, i, st, "q", n + ":1"), "q", true, now);
      if (res.applied()) ref[n] = res.m->state;
    }
    if (i % 997 == 0) {
      t.sweep(now, seconds(20));
      for (auto it = ref.begin(); it != ref.end();)
        it = t.find(it->first) ? std::next(it) : ref.erase(it);
      check_dead();
    }
  }
  check_dead();
  for (int k = 0; k < 3000; ++k) {
    auto n = "k" + std::to_string(k);
    auto* m = t.find(n);
    ASSERT_EQ(m != nullptr, ref.count(n) == 1) << n;
    if (m) EXPECT_EQ(m->state, ref[n]) << n;
    EXPECT_EQ(t.unconfirmed(n), unconf.count(n) == 1) << n;
    EXPECT_EQ(t.find_any(n) != nullptr, ref.count(n) + unconf.count(n) == 1) << n;
  }
  auto ms = t.members();
  ASSERT_EQ(ms.size(), ref.size() + 1);
  EXPECT_TRUE(std::is_sorted(ms.begin(), ms.end(),
                             [](auto& a, auto& b) { return a.name < b.name; }));
  EXPECT_EQ(t.unconfirmed_count(), unconf.size());
}

// Names and addresses are interned (common/intern.h) and held only by the
// tables that keep them: a flood of ever new names grows the shared pool no
// further than the table's budgets let the table grow, and the pool gives
// the texts back when the table forgets the members.
TEST(MemberTable, NameFloodGrowsThePoolOnlyWithTheTable) {
  auto before = interned::pool_size();
  {
    member_table t(self_member(), 100000, seconds(30));
    const std::size_t max_unconfirmed = 50;
    t.set_limits(max_unconfirmed, 200 * member_table::entry_bytes(member{}));
    std::size_t kept = 0;
    for (int i = 0; i < 20000; ++i) {
      auto name = "flood-" + std::to_string(i);
      auto addr = "10.9." + std::to_string(i / 250) + "." +
                  std::to_string(i % 250 + 1) + ":7946";
      bool confirmed = i % 2 == 0;
      auto s = t.apply(make_claim(name, 0, S::dead, "x", addr), "x", true, t0,
                       confirmed);
      if (s.applied()) ++kept;
    }
    // Refused claims left nothing behind: two texts per kept member (the
    // self entry's texts are held by the table too).
    EXPECT_LT(kept, 300u);
    EXPECT_LE(interned::pool_size(), before + 2 * kept + 2);
    EXPECT_EQ(t.unconfirmed_count(), max_unconfirmed);
    // Forgotten members give their texts back.
    t.sweep(t0 + seconds(60), seconds(60));
    for (int i = 1; i < 20000; i += 2)
      t.forget_unconfirmed("flood-" + std::to_string(i));
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.unconfirmed_count(), 0u);
    EXPECT_LE(interned::pool_size(), before + 2);
  }
  EXPECT_EQ(interned::pool_size(), before);
}

} // namespace
} // namespace pekonode::membership
