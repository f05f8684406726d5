// The anti-entropy steps alone, over plain stores: page bounds of ACK, ACK2
// and WANT, what a round decides to push and to want, and rejection of
// malformed ACK / ACK2 / WANT packets.

#include "metadata/anti_entropy.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "metadata/codec.h"

namespace pekonode::metadata {
namespace {

version ver(uint64_t ms, std::string origin = "n1") {
  return {make_hlc(ms, 0), std::move(origin)};
}

void write(store& s, const std::string& key, uint64_t ms) {
  entry e;
  e.value = "v";
  e.ver = ver(ms);
  ASSERT_EQ(s.merge(key, std::move(e)), ec::ok);
}

// The `n`-th key (with `prefix`) that falls in bucket `b`.
std::string key_in_bucket(size_t b, size_t n, const std::string& prefix = "k") {
  for (size_t i = 0;; ++i) {
    auto k = prefix + std::to_string(i);
    if (store::bucket_of(k) == b && n-- == 0)
      return k;
  }
}

// Runs one step and keeps what it sent.
struct wire {
  stats st;
  outbound_list out;
  emitter tx{1200, st, out};

  explicit wire(size_t max_packet = 1200) : tx{max_packet, st, out} {}

  std::vector<Message> take(size_t max_packet = 1200) {
    std::vector<Message> r;
    for (auto& o : out) {
      EXPECT_LE(o.payload.size(), max_packet);
      Message m;
      EXPECT_TRUE(m.ParseFromString(o.payload));
      r.push_back(std::move(m));
    }
    out.clear();
    return r;
  }
  uint64_t rejects(const char* why) { return st.rejects[why]; }
};

// An ACK claiming every bucket is empty (what an empty peer sends).
Ack empty_peer_ack() {
  Ack a;
  a.set_first_bucket(0);
  for (size_t b = 0; b < bucket_count; ++b)
    a.add_buckets(0);
  return a;
}

// A SYN must be able to draw a SynCookie (sent only when no larger than
// the SYN): an empty store's digest fields are zero and not encoded, so its
// SYN is padded; a store with keys needs no pad.
TEST(AntiEntropy, SynIsNeverSmallerThanTheCookieItMayDraw) {
  config cfg;
  store empty(cfg.limits), full(cfg.limits);
  write(full, "k", 1000);
  Message cookie;
  cookie.mutable_syn_cookie()->set_cookie(~uint64_t{0});
  cookie.mutable_syn_cookie()->set_nonce(~uint64_t{0});
  ASSERT_EQ(cookie.ByteSizeLong(), syn_cookie_bytes);
  for (auto* s : {&empty, &full}) {
    anti_entropy ae(cfg, *s);
    for (uint64_t c : {uint64_t{0}, uint64_t{12345}}) {
      wire w;
      auto n = ae.syn("p", 7, c, w.tx);
      auto sent = w.take();
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_GE(n, syn_cookie_bytes);
      EXPECT_EQ(n, ae.syn_size(c != 0));
      EXPECT_EQ(sent[0].syn().pad().empty(), s == &full || c != 0)
        << "padded only when smaller than a SynCookie";
      EXPECT_EQ(sent[0].syn().nonce(), 7u);
      EXPECT_EQ(sent[0].syn().cookie(), c);
    }
  }
}

TEST(AntiEntropy, EqualStoresAnswerSynWithSilence) {
  config cfg;
  store a, b;
  for (int i = 0; i < 50; ++i) {
    write(a, "k" + std::to_string(i), 10);
    write(b, "k" + std::to_string(i), 10);
  }
  wire w;
  anti_entropy(cfg, a).syn("b", 1, 0, w.tx);
  auto syn = w.take();
  ASSERT_EQ(syn.size(), 1u);
  ASSERT_TRUE(syn[0].has_syn());
  EXPECT_EQ(syn[0].syn().count(), 50u);
  anti_entropy(cfg, b).on_syn("a", syn[0].syn(), 2, w.tx);
  EXPECT_TRUE(w.out.empty());
}

TEST(AntiEntropy, AckPagesCoverEveryBucketOnceWithinAPacket) {
  for (size_t max_packet : {512, 1200}) {
    config cfg;
    cfg.max_packet = max_packet;
    store a, b;
    for (int i = 0; i < 300; ++i)
      write(b, "k" + std::to_string(i), 10);
    wire w(max_packet);
    anti_entropy(cfg, a).syn("b", 1, 0, w.tx);
    auto syn = w.take(max_packet);
    anti_entropy(cfg, b).on_syn("a", syn.at(0).syn(), 2, w.tx);
    auto acks = w.take(max_packet);
    size_t per_page = buckets_per_ack(max_packet);
    EXPECT_EQ(acks.size(), (bucket_count + per_page - 1) / per_page);
    std::vector<int> seen(bucket_count, 0);
    for (auto& m : acks) {
      ASSERT_TRUE(m.has_ack());
      for (int i = 0; i < m.ack().buckets_size(); ++i) {
        auto bucket = m.ack().first_bucket() + i;
        ASSERT_LT(bucket, bucket_count);
        ++seen[bucket];
        EXPECT_EQ(m.ack().buckets(i), b.bucket_digest(bucket));
      }
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1),
              static_cast<long>(bucket_count))
      << "max_packet " << max_packet;
  }
}

TEST(AntiEntropy, MalformedAckIsRejectedAndAnswersNothing) {
  config cfg;
  store a;
  write(a, "k", 10);
  anti_entropy ae(cfg, a);
  struct row {
    uint32_t first;
    int buckets;
    bool bad;
  };
  const row rows[] = {
    {256, 0, true},  {4000000000u, 1, true}, {250, 7, true},
    {0, 257, true},  {250, 6, false},        {0, 256, false},
  };
  for (auto& r : rows) {
    wire w;
    Ack ack;
    ack.set_first_bucket(r.first);
    for (int i = 0; i < r.buckets; ++i)
      ack.add_buckets(12345); // differs from every bucket
    ae.on_ack("b", ack, w.tx);
    EXPECT_EQ(w.rejects("bad_ack"), r.bad ? 1u : 0u)
      << "first " << r.first << " buckets " << r.buckets;
    if (r.bad) {
      EXPECT_TRUE(w.out.empty());
    }
  }
}

TEST(AntiEntropy, Ack2ListsEveryKeyOfDifferingBucketsByRange) {
  config cfg;
  store a;
  std::set<std::string> all;
  for (int i = 0; i < 600; ++i) {
    auto k = "key/" + std::to_string(i);
    write(a, k, 10 + i);
    all.insert(k);
  }
  wire w;
  anti_entropy(cfg, a).on_ack("b", empty_peer_ack(), w.tx);
  auto pages = w.take();
  ASSERT_GT(pages.size(), 1u);
  ASSERT_LE(pages.size(), cfg.max_ae_pages);
  // Ranges of one bucket chain: from the start, then strictly after the
  // last key listed, until one reaches the bucket's end.
  std::map<uint32_t, std::string> last;
  std::set<uint32_t> ended;
  std::set<std::string> listed;
  for (auto& m : pages) {
    ASSERT_TRUE(m.has_ack2());
    for (auto& r : m.ack2().ranges()) {
      EXPECT_EQ(ended.count(r.bucket()), 0u);
      if (r.from_start())
        EXPECT_EQ(last.count(r.bucket()), 0u);
      else
        EXPECT_EQ(r.after(), last.at(r.bucket()));
      for (auto& kv : r.keys()) {
        EXPECT_EQ(store::bucket_of(kv.key()), r.bucket());
        EXPECT_EQ(get_version(kv.version()), a.find(kv.key())->ver);
        listed.insert(kv.key());
        last[r.bucket()] = kv.key();
      }
      if (r.to_end())
        ended.insert(r.bucket());
    }
  }
  EXPECT_EQ(listed, all);
}

TEST(AntiEntropy, Ack2PagesStopAtMaxAePages) {
  config cfg;
  cfg.max_ae_pages = 3;
  store a;
  for (int i = 0; i < 2000; ++i)
    write(a, std::string(200, 'k') + std::to_string(i), 10);
  wire w;
  anti_entropy(cfg, a).on_ack("b", empty_peer_ack(), w.tx);
  auto pages = w.take();
  EXPECT_EQ(pages.size(), 3u);
  EXPECT_EQ(w.st.msgs_out["ack2"], 3u);
}

TEST(AntiEntropy, RoundPushesWhatThePeerLacksAndWantsWhatWeLack) {
  config cfg;
  store a, b;
  write(a, "only-a", 10);
  write(b, "only-b", 10);
  write(a, "newer-on-a", 20);
  write(b, "newer-on-a", 10);
  write(a, "newer-on-b", 10);
  write(b, "newer-on-b", 20);
  write(a, "same", 10);
  write(b, "same", 10);
  wire w;
  // B answered A's SYN with its bucket digests; A lists its differing
  // buckets; B compares.
  Ack ack;
  ack.set_first_bucket(0);
  for (size_t i = 0; i < bucket_count; ++i)
    ack.add_buckets(b.bucket_digest(i));
  anti_entropy(cfg, a).on_ack("b", ack, w.tx);
  auto ack2 = w.take();
  ASSERT_EQ(ack2.size(), 1u);
  auto pushes = anti_entropy(cfg, b).on_ack2("a", ack2[0].ack2(), w.tx);
  EXPECT_TRUE(pushes.well_formed);
  std::set<std::string> pushed(pushes.keys.begin(), pushes.keys.end());
  EXPECT_EQ(pushed, (std::set<std::string>{"only-b", "newer-on-b"}));
  auto wants = w.take();
  ASSERT_EQ(wants.size(), 1u);
  ASSERT_TRUE(wants[0].has_want());
  std::set<std::string> wanted(wants[0].want().keys().begin(),
                               wants[0].want().keys().end());
  EXPECT_EQ(wanted, (std::set<std::string>{"only-a", "newer-on-a"}));
  // A answers the WANT with the keys it holds.
  auto back = anti_entropy(cfg, a).on_want(wants[0].want(), w.tx);
  EXPECT_TRUE(back.well_formed);
  EXPECT_EQ(std::set<std::string>(back.keys.begin(), back.keys.end()), wanted);
}

TEST(AntiEntropy, WantPagesFromOneAck2StopAtMaxAePages) {
  config cfg;
  cfg.max_ae_pages = 5;
  store b; // lacks everything listed
  Ack2 a2;
  for (size_t bucket = 0; bucket < 40; ++bucket) {
    auto* r = a2.add_ranges();
    r->set_bucket(static_cast<uint32_t>(bucket));
    r->set_from_start(true);
    r->set_to_end(true);
    std::vector<std::string> keys;
    for (size_t n = 0; n < 25; ++n)
      keys.push_back(key_in_bucket(bucket, n, std::string(40, 'w')));
    std::sort(keys.begin(), keys.end());
    for (auto& k : keys) {
      auto* kv = r->add_keys();
      kv->set_key(k);
      set_version(kv->mutable_version(), ver(10));
    }
  }
  wire w;
  auto pushes = anti_entropy(cfg, b).on_ack2("a", a2, w.tx);
  EXPECT_TRUE(pushes.keys.empty());
  auto wants = w.take();
  EXPECT_EQ(wants.size(), 5u) << "1000 keys of ~45 bytes need ~40 pages";
  for (auto& m : wants)
    EXPECT_TRUE(m.has_want());
}

// A malformed range, placed after a well-formed one.
struct ack2_case {
  const char* name;
  std::function<void(Range&)> fill;
  bool ends_packet; // a bad bucket ends the packet: no WANT goes out
};

TEST(AntiEntropy, MalformedAck2RangesAreRejected) {
  config cfg;
  store b;
  write(b, "mine", 10);
  auto mine_bucket = static_cast<uint32_t>(store::bucket_of("mine"));
  uint32_t other = (mine_bucket + 1) % bucket_count;
  auto in_other = key_in_bucket(other, 0);
  auto in_other2 = key_in_bucket(other, 1);
  auto add_key = [](Range& r, const std::string& k) {
    auto* kv = r.add_keys();
    kv->set_key(k);
    kv->mutable_version()->set_hlc(make_hlc(10, 0));
    kv->mutable_version()->set_origin("n1");
  };
  const ack2_case cases[] = {
    {"bucket out of range",
     [&](Range& r) {
       r.set_bucket(bucket_count);
       r.set_from_start(true);
       r.set_to_end(true);
     },
     true},
    {"key from another bucket",
     [&](Range& r) {
       r.set_bucket((other + 1) % bucket_count);
       r.set_from_start(true);
       r.set_to_end(true);
       add_key(r, in_other);
     },
     false},
    {"key not after `after`",
     [&](Range& r) {
       r.set_bucket(other);
       r.set_from_start(false);
       r.set_after(std::max(in_other, in_other2));
       r.set_to_end(true);
       add_key(r, std::min(in_other, in_other2));
     },
     false},
    {"empty key",
     [&](Range& r) {
       r.set_bucket(other);
       r.set_from_start(true);
       r.set_to_end(true);
       add_key(r, "");
     },
     false},
    {"key above the limit",
     [&](Range& r) {
       r.set_bucket(other);
       r.set_from_start(true);
       r.set_to_end(true);
       add_key(r, std::string(cfg.limits.max_key_bytes + 1, 'k'));
     },
     false},
    {"origin that is not a node name",
     [&](Range& r) {
       r.set_bucket(other);
       r.set_from_start(true);
       r.set_to_end(true);
       add_key(r, in_other);
       r.mutable_keys(0)->mutable_version()->set_origin("n1\nforged");
     },
     false},
    {"open range without keys",
     [&](Range& r) {
       r.set_bucket(other);
       r.set_from_start(true);
       r.set_to_end(false);
     },
     false},
  };
  for (auto& c : cases) {
    Ack2 a2;
    // First range: the peer lists a key we lack in "mine"'s bucket, and
    // holds nothing else there: we push "mine" and want theirs.
    auto* good = a2.add_ranges();
    good->set_bucket(mine_bucket);
    good->set_from_start(true);
    good->set_to_end(true);
    add_key(*good, key_in_bucket(mine_bucket, 0, "theirs"));
    c.fill(*a2.add_ranges());
    wire w;
    auto pushes = anti_entropy(cfg, b).on_ack2("a", a2, w.tx);
    EXPECT_FALSE(pushes.well_formed) << c.name;
    EXPECT_EQ(w.rejects("bad_ack2"), 1u) << c.name;
    EXPECT_EQ(pushes.keys, std::vector<std::string>{"mine"}) << c.name;
    EXPECT_EQ(w.out.size(), c.ends_packet ? 0u : 1u) << c.name;
  }
}

TEST(AntiEntropy, BadWantKeyEndsTheListKeepingEarlierKeys) {
  config cfg;
  store a;
  write(a, "k1", 10);
  write(a, "k2", 10);
  Want want;
  want.add_keys("k1");
  want.add_keys("unknown");
  want.add_keys("");
  want.add_keys("k2");
  wire w;
  auto r = anti_entropy(cfg, a).on_want(want, w.tx);
  EXPECT_FALSE(r.well_formed);
  EXPECT_EQ(r.keys, std::vector<std::string>{"k1"});
  EXPECT_EQ(w.rejects("bad_want"), 1u);
  Want long_key;
  long_key.add_keys(std::string(cfg.limits.max_key_bytes + 1, 'k'));
  EXPECT_FALSE(anti_entropy(cfg, a).on_want(long_key, w.tx).well_formed);
  EXPECT_EQ(w.rejects("bad_want"), 2u);
}

} // namespace
} // namespace pekonode::metadata
