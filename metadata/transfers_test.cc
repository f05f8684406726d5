// Chunked transfers alone, one side at a time: pull windows, timeouts with
// backoff, reassembly and the hash check, every chunk rejection, supersession,
// the announce queue, and the serving side's checks.

#include "metadata/transfers.h"

#include <algorithm>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/varint.h"
#include "metadata/bulk_sender.h"
#include "metadata/codec.h"

namespace pekonode::metadata {
namespace {

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{std::chrono::hours(1)};

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng());
  return s;
}

// A receiver (transfers over its own store) and a server store that holds
// the value the receiver pulls.
struct fixture : ::testing::Test {
  config cfg;
  store mine, theirs;
  stats st;
  outbound_list out;
  emitter tx{cfg.max_packet, st, out};
  transfers tr{cfg, mine, st};
  std::string value = random_bytes(20000, 3);
  version ver{make_hlc(wall, 0), "srv"};

  void SetUp() override {
    entry e;
    e.value = value;
    e.ver = ver;
    ASSERT_EQ(theirs.merge("big", std::move(e)), ec::ok);
  }

  const entry& served() { return *theirs.find("big"); }

  Announce announce(const std::string& key, const entry& e) {
    Announce a;
    a.set_key(key);
    set_version(a.mutable_version(), e.ver);
    a.set_size(static_cast<uint32_t>(e.value.size()));
    a.set_hash_lo(e.value_hash.lo);
    a.set_hash_hi(e.value_hash.hi);
    return a;
  }

  // Announces "big" from `from` and starts pulling at `now`.
  void start(const address& from = "s1", time_point now = t0) {
    tr.on_announce(from, announce("big", served()), false, wall);
    tr.start_pending(now);
    tr.pull(now, tx);
  }

  // Chunk indices requested since the last call, by destination.
  std::vector<std::pair<address, uint32_t>> requests() {
    std::vector<std::pair<address, uint32_t>> r;
    for (auto& o : out) {
      Message m;
      EXPECT_TRUE(m.ParseFromString(o.payload));
      if (m.has_chunk_request())
        for (auto i : m.chunk_request().indices())
          r.emplace_back(o.to, i);
    }
    out.clear();
    return r;
  }

  Chunk chunk(uint32_t i) {
    auto cs = chunk_size_for(cfg.max_packet, "big", ver);
    return make_chunk("big", served(), i, cs).chunk();
  }

  uint32_t chunks() {
    auto cs = chunk_size_for(cfg.max_packet, "big", ver);
    return static_cast<uint32_t>((value.size() + cs - 1) / cs);
  }

  uint64_t rejects(const char* why) { return st.rejects[why]; }
};

TEST_F(fixture, ReassemblesChunksInAnyOrderAndChecksTheHash) {
  start();
  ASSERT_EQ(tr.active(), 1u);
  auto n = chunks();
  ASSERT_GT(n, 10u);
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i)
    order[i] = n - 1 - i;
  std::optional<completed_value> done;
  for (auto i : order) {
    ASSERT_FALSE(done) << "completed early";
    done = tr.on_chunk(chunk(i), t0 + milliseconds(5), tx);
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(done->key, "big");
  EXPECT_EQ(done->value.value, value);
  EXPECT_EQ(done->value.ver, ver);
  EXPECT_FALSE(done->value.tombstone);
  EXPECT_EQ(tr.active(), 0u);
  EXPECT_EQ(tr.inflight(), 0u);
  EXPECT_EQ(st.transfers_completed, 1u);
  EXPECT_EQ(st.chunks_received, n);
}

TEST_F(fixture, PullWindowBoundsRequestsPerTransferAndOverall) {
  cfg.pull_window = 5;
  cfg.max_inflight_chunks = 7;
  entry e2;
  e2.value = random_bytes(20000, 4);
  e2.ver = ver;
  ASSERT_EQ(theirs.merge("big2", std::move(e2)), ec::ok);
  tr.on_announce("s1", announce("big", served()), false, wall);
  tr.on_announce("s1", announce("big2", *theirs.find("big2")), false, wall);
  tr.start_pending(t0);
  tr.pull(t0, tx);
  EXPECT_EQ(tr.active(), 2u);
  EXPECT_EQ(tr.inflight(), 7u);
  auto r = requests();
  EXPECT_EQ(r.size(), 7u);
  EXPECT_EQ(tr.find("big")->inflight, 5u);
  EXPECT_EQ(tr.find("big2")->inflight, 2u);
  // One arrives: exactly one more request goes out.
  EXPECT_FALSE(tr.on_chunk(chunk(0), t0, tx));
  EXPECT_EQ(requests().size(), 1u);
  EXPECT_EQ(tr.inflight(), 7u);
}

TEST_F(fixture, UnansweredChunksAreAskedAgainFromTheNextSourceThenBackOff) {
  cfg.pull_window = 1;
  start("s1");
  tr.on_announce("s2", announce("big", served()), false, wall);
  EXPECT_EQ(tr.find("big")->sources.size(), 2u);
  auto base = cfg.chunk_timeout;
  auto tick = milliseconds(1);
  auto retry_at = [&](time_point now) {
    tr.check_timeouts(now);
    tr.pull(now, tx);
    return requests();
  };
  using req = std::vector<std::pair<address, uint32_t>>;
  ASSERT_EQ(requests(), (req{{"s1", 0}}));
  EXPECT_EQ(tr.next_deadline(), t0 + base);
  EXPECT_TRUE(retry_at(t0 + base - tick).empty());
  EXPECT_EQ(retry_at(t0 + base), (req{{"s2", 0}}));
  // Not every source asked twice yet: one base timeout again.
  EXPECT_EQ(tr.next_deadline(), t0 + 2 * base);
  EXPECT_EQ(retry_at(t0 + 2 * base), (req{{"s1", 0}}));
  // Every source asked: the wait doubles, then doubles again, up to 8x.
  EXPECT_EQ(tr.next_deadline(), t0 + 4 * base);
  EXPECT_TRUE(retry_at(t0 + 4 * base - tick).empty());
  EXPECT_EQ(retry_at(t0 + 4 * base), (req{{"s2", 0}}));
  EXPECT_EQ(retry_at(t0 + 6 * base), (req{{"s1", 0}}));
  EXPECT_EQ(tr.next_deadline(), t0 + 10 * base);
  auto t = tr.find("big");
  for (uint8_t tries = 1; tries < 20; ++tries) {
    transfer copy = *t;
    copy.tries[0] = tries;
    auto rounds = (tries - 1u) / 2;
    EXPECT_EQ(tr.chunk_deadline(copy, 0), base * (1 << std::min(rounds, 3u)))
      << "tries " << int{tries};
  }
}

// Requests sent to the announcer of `a` (from "s1") until the transfer ends
// with no chunk ever answered: (requests, bytes); `first` gets the indices
// of the first request.
std::pair<size_t, size_t> pull_unanswered(fixture& f, const Announce& a,
                                          time_point* ended,
                                          int* first = nullptr) {
  f.tr.on_announce("s1", a, true, wall);
  f.tr.start_pending(t0);
  f.tr.pull(t0, f.tx);
  size_t asked = 0, bytes = 0;
  auto count = [&] {
    for (auto& o : f.out) {
      Message m;
      EXPECT_TRUE(m.ParseFromString(o.payload));
      if (m.has_chunk_request()) {
        EXPECT_EQ(o.to, "s1");
        if (first != nullptr && asked == 0)
          *first = m.chunk_request().indices_size();
        ++asked;
        bytes += o.payload.size();
      }
    }
    f.out.clear();
  };
  count();
  auto now = t0;
  while (f.tr.active() > 0 && now < t0 + 2 * f.cfg.transfer_timeout) {
    now += milliseconds(10);
    f.tr.check_timeouts(now);
    f.tr.pull(now, f.tx);
    count();
  }
  *ended = now;
  return {asked, bytes};
}

// An announce forged in a member's name, the member never answering (the
// forger does not, and the member holds no such value): one chunk is asked
// at a time, the member is sent at most 3x the announce's bytes in all,
// and the transfer is given up long before its timeout (its slot freed).
TEST_F(fixture, SilentAnnouncerIsAskedAtMostThreeTimesTheAnnounce) {
  Announce a; // what a forger sends: the fewest bytes (no hash, no pad)
  a.set_key("new");
  a.set_size(512 * 1024);
  a.mutable_version()->set_hlc(make_hlc(wall, 0));
  a.mutable_version()->set_origin("w");
  Message m;
  *m.mutable_rumour()->add_announces() = a;
  auto datagram = m.ByteSizeLong();
  time_point ended;
  int first = 0;
  auto [asked, bytes] = pull_unanswered(*this, a, &ended, &first);
  std::cout << "announce " << datagram << " B drew " << asked
            << " chunk requests, " << bytes << " B ("
            << static_cast<double>(bytes) / datagram << "x), given up after "
            << (ended - t0) / milliseconds(1) << " ms\n";
  EXPECT_EQ(tr.active(), 0u);
  EXPECT_EQ(rejects("announce_unanswered"), 1u);
  EXPECT_LT(ended, t0 + cfg.transfer_timeout);
  EXPECT_LE(bytes, 3 * datagram);
  EXPECT_GE(asked, 2u) << "a lost request is asked again";
}

// A real announce is padded (add_to_updates) to twice a one-chunk request:
// its source is asked the whole window at once, and again several times
// before the transfer is given up, enough to ride out loss and the cookie
// round trip.
TEST_F(fixture, PaddedAnnounceAffordsTheWindowAndRetriesBeforeTheFirstChunk) {
  Updates u;
  add_to_updates(u, cfg, "big", served());
  ASSERT_EQ(u.announces_size(), 1);
  EXPECT_GE(u.announces(0).ByteSizeLong() + 2,
            announce_target_bytes(cfg, "big", ver.origin));
  time_point ended;
  int first = 0;
  auto [asked, bytes] = pull_unanswered(*this, u.announces(0), &ended, &first);
  auto window = std::min<size_t>(cfg.pull_window, chunks());
  EXPECT_EQ(static_cast<size_t>(first), window);
  EXPECT_GE(asked, 4u);
  std::cout << "padded announce (" << u.announces(0).ByteSizeLong()
            << " B): " << asked << " requests, " << bytes
            << " B, given up after " << (ended - t0) / milliseconds(1)
            << " ms\n";
  EXPECT_LE(bytes, 3 * delimited_field_size(u.announces(0).ByteSizeLong()));
  // One answered chunk ends the slow start: the window is refilled.
  tr.on_announce("s1", u.announces(0), true, wall);
  tr.start_pending(t0);
  tr.pull(t0, tx);
  EXPECT_EQ(tr.inflight(), window);
  out.clear();
  EXPECT_FALSE(tr.on_chunk(chunk(0), t0, tx));
  EXPECT_EQ(tr.inflight(), std::min<size_t>(cfg.pull_window, chunks() - 1));
}

TEST_F(fixture, TransferWithoutProgressIsAbandoned) {
  start();
  EXPECT_LE(tr.next_deadline(), t0 + cfg.transfer_timeout);
  EXPECT_FALSE(tr.on_chunk(chunk(0), t0, tx)); // past the slow start
  // Chunks keep timing out and being re-requested: no progress.
  auto now = t0;
  while (now < t0 + cfg.transfer_timeout - seconds(1)) {
    now += seconds(1);
    tr.check_timeouts(now);
    tr.pull(now, tx);
  }
  EXPECT_EQ(tr.active(), 1u);
  // A chunk is progress: the deadline moves.
  EXPECT_FALSE(tr.on_chunk(chunk(1), now, tx));
  tr.check_timeouts(t0 + cfg.transfer_timeout);
  EXPECT_EQ(tr.active(), 1u);
  tr.check_timeouts(now + cfg.transfer_timeout);
  EXPECT_EQ(tr.active(), 0u);
  EXPECT_EQ(tr.inflight(), 0u);
  EXPECT_EQ(rejects("transfer_timeout"), 1u);
  EXPECT_EQ(st.transfers_abandoned, 1u);
  EXPECT_EQ(tr.next_deadline(), time_point::max());
}

TEST_F(fixture, BadChunksAreRejectedByReasonAndChangeNothing) {
  start();
  auto inflight = tr.inflight();
  auto expect_reject = [&](Chunk c, const char* why) {
    auto before = rejects(why);
    EXPECT_FALSE(tr.on_chunk(c, t0, tx)) << why;
    EXPECT_EQ(rejects(why), before + 1) << why;
    EXPECT_EQ(tr.find("big")->received, 0u) << why;
    EXPECT_EQ(tr.inflight(), inflight) << why;
  };
  auto c = chunk(0);
  c.mutable_data()->append("x");
  expect_reject(c, "chunk_oversized");
  c = chunk(0);
  c.mutable_data()->pop_back();
  expect_reject(c, "chunk_truncated");
  c = chunk(0);
  c.set_total_size(12345);
  expect_reject(c, "chunk_wrong_total");
  c = chunk(0);
  c.set_hash_lo(c.hash_lo() ^ 1);
  expect_reject(c, "chunk_wrong_hash");
  c = chunk(0);
  c.set_index(100000);
  expect_reject(c, "chunk_bad_index");
  c = chunk(0);
  c.set_chunk_size(c.chunk_size() - 1);
  expect_reject(c, "chunk_bad_index");
  c = chunk(0);
  c.mutable_version()->set_hlc(ver.hlc + 1);
  expect_reject(c, "chunk_unknown_transfer");
  c = chunk(0);
  c.set_key("other");
  expect_reject(c, "chunk_unknown_transfer");
  // The last chunk is short: a full-size one is oversized.
  auto last = chunk(chunks() - 1);
  last.mutable_data()->resize(last.chunk_size(), 'x');
  expect_reject(last, "chunk_oversized");
}

TEST_F(fixture, DuplicateChunksAreCountedOnce) {
  start();
  EXPECT_FALSE(tr.on_chunk(chunk(1), t0, tx));
  EXPECT_FALSE(tr.on_chunk(chunk(1), t0, tx));
  EXPECT_EQ(rejects("chunk_duplicate"), 1u);
  EXPECT_EQ(tr.find("big")->received, 1u);
  EXPECT_EQ(st.chunks_received, 1u);
}

TEST_F(fixture, CorruptDataFailsTheWholeValueHash) {
  start();
  std::optional<completed_value> done;
  for (uint32_t i = 0; i < chunks(); ++i) {
    auto c = chunk(i);
    if (i == 2)
      (*c.mutable_data())[0] ^= 1; // same sizes and headers, wrong bytes
    done = tr.on_chunk(c, t0, tx);
  }
  EXPECT_FALSE(done);
  EXPECT_EQ(tr.active(), 0u);
  EXPECT_EQ(tr.inflight(), 0u);
  EXPECT_EQ(rejects("value_hash_mismatch"), 1u);
}

TEST_F(fixture, NewerVersionsSupersedeAndOlderAnnouncesAreStale) {
  start();
  // An older announce than the transfer in progress: stale.
  entry older = served();
  older.ver.hlc -= 1;
  tr.on_announce("s2", announce("big", older), false, wall);
  EXPECT_EQ(st.stale, 1u);
  EXPECT_EQ(tr.find("big")->ver, ver);
  // A newer one: the transfer gives way to a pending announce.
  entry newer = served();
  newer.ver.hlc += 1;
  tr.on_announce("s2", announce("big", newer), true, wall);
  EXPECT_EQ(tr.active(), 0u);
  EXPECT_EQ(tr.pending(), 1u);
  EXPECT_EQ(tr.inflight(), 0u);
  EXPECT_EQ(st.transfers_abandoned, 1u);
  EXPECT_EQ(rejects("superseded"), 0u) << "supersession is not a fault";
  // The store takes that version by another path (e.g. a push): dropped.
  tr.drop_older("big", newer.ver);
  EXPECT_EQ(tr.pending(), 0u);
  // What the store already holds is never pulled.
  entry held = served();
  ASSERT_EQ(mine.merge("big", held), ec::ok);
  tr.on_announce("s3", announce("big", held), false, wall);
  EXPECT_EQ(tr.pending(), 0u);
  EXPECT_EQ(st.stale, 2u);
}

TEST_F(fixture, AnnouncesWaitForASlotAndTheirQueueIsBounded) {
  cfg.max_transfers = 1;
  cfg.max_pending_announces = 2;
  for (auto k : {"a", "b", "c", "d"}) {
    entry e;
    e.value = random_bytes(3000, 9);
    e.ver = ver;
    ASSERT_EQ(theirs.merge(k, std::move(e)), ec::ok);
  }
  tr.on_announce("s1", announce("c", *theirs.find("c")), false, wall);
  tr.on_announce("s1", announce("a", *theirs.find("a")), false, wall);
  tr.on_announce("s1", announce("b", *theirs.find("b")), false, wall);
  EXPECT_EQ(rejects("announce_queue_full"), 1u);
  tr.start_pending(t0);
  EXPECT_EQ(tr.active(), 1u);
  EXPECT_NE(tr.find("a"), nullptr) << "smallest key first";
  EXPECT_EQ(tr.pending(), 1u);
}

TEST_F(fixture, HostileAnnouncesAreRefusedBeforeAnyAllocation) {
  auto a = announce("big", served());
  a.set_size(4'000'000'000u);
  tr.on_announce("evil", a, false, wall);
  EXPECT_EQ(rejects("value_too_large"), 1u);
  a = announce("big", served());
  a.set_size(0);
  tr.on_announce("evil", a, false, wall);
  EXPECT_EQ(rejects("empty_announce"), 1u);
  a = announce("big", served());
  a.mutable_version()->set_hlc(make_hlc(wall + 2 * 3600 * 1000, 0));
  tr.on_announce("evil", a, false, wall);
  EXPECT_EQ(rejects("clock_skew"), 1u);
  EXPECT_EQ(tr.pending(), 0u);
}

TEST_F(fixture, SourceGoneDropsItAndTheLastOneEndsTheTransfer) {
  start("s1");
  tr.on_announce("s2", announce("big", served()), false, wall);
  ChunkGone g;
  g.set_key("big");
  set_version(g.mutable_version(), ver);
  tr.on_chunk_gone("s1", g);
  EXPECT_EQ(tr.find("big")->sources, std::vector<address>{"s2"});
  tr.on_chunk_gone("s2", g);
  EXPECT_EQ(tr.active(), 0u);
  EXPECT_EQ(rejects("source_gone"), 1u);
}

// -- serving ------------------------------------------------------------------

struct serving : fixture {
  bulk_sender bulk{cfg.max_bulk_bytes_per_sec, cfg.max_packet,
                   cfg.max_bulk_queue};
  transfers server{cfg, theirs, st};
  double room = 1e12; // the requester's budget: unlimited unless a test says
  uint64_t cookie = 0x77; // ours for the requester

  ChunkRequest request(std::vector<uint32_t> indices) {
    ChunkRequest r;
    r.set_cookie(cookie);
    r.set_key("big");
    set_version(r.mutable_version(), ver);
    r.set_chunk_size(chunk_size_for(cfg.max_packet, "big", ver));
    for (auto i : indices)
      r.add_indices(i);
    return r;
  }
};

TEST_F(serving, QueuesRequestedChunksOnceEach) {
  EXPECT_TRUE(server.serve("c", request({0, 1, 2}), cookie, tx, bulk, room));
  EXPECT_TRUE(server.serve("c", request({1, 2, 3}), cookie, tx, bulk, room));
  EXPECT_EQ(bulk.size(), 4u) << "1 and 2 were queued already";
  EXPECT_TRUE(out.empty());
}

TEST_F(serving, AnswersGoneForAVersionItDoesNotHold) {
  auto r = request({0});
  r.mutable_version()->set_hlc(ver.hlc - 1);
  EXPECT_FALSE(server.serve("c", r, cookie, tx, bulk, room));
  ASSERT_EQ(out.size(), 1u);
  Message m;
  ASSERT_TRUE(m.ParseFromString(out[0].payload));
  ASSERT_TRUE(m.has_chunk_gone());
  EXPECT_EQ(m.chunk_gone().key(), "big");
  EXPECT_EQ(bulk.size(), 0u);
}

TEST_F(serving, RejectsMalformedRequests) {
  auto r = request({0});
  r.set_chunk_size(min_chunk_size - 1);
  EXPECT_FALSE(server.serve("c", r, cookie, tx, bulk, room));
  r.set_chunk_size(chunk_size_for(cfg.max_packet, "big", ver) + 1);
  EXPECT_FALSE(server.serve("c", r, cookie, tx, bulk, room));
  EXPECT_EQ(rejects("bad_chunk_size"), 2u);
  std::vector<uint32_t> many(max_indices_per_request + 1, 0);
  EXPECT_FALSE(server.serve("c", request(many), cookie, tx, bulk, room));
  EXPECT_EQ(rejects("too_many_indices"), 1u);
  r = request({0});
  r.set_key(std::string(cfg.limits.max_key_bytes + 1, 'k'));
  EXPECT_FALSE(server.serve("c", r, cookie, tx, bulk, room));
  r = request({0});
  r.mutable_version()->set_origin(
    std::string(cfg.limits.max_origin_bytes + 1, 'o'));
  EXPECT_FALSE(server.serve("c", r, cookie, tx, bulk, room));
  EXPECT_EQ(rejects("bad_chunk_request"), 2u);
  // Out-of-range indices are skipped, the rest served.
  EXPECT_TRUE(server.serve("c", request({0, 100000, 1}), cookie, tx, bulk, room));
  EXPECT_EQ(rejects("bad_chunk_index"), 1u);
  EXPECT_EQ(bulk.size(), 2u);
  EXPECT_TRUE(out.empty());
}

TEST_F(serving, FullBulkQueueStopsQueueing) {
  bulk_sender tiny{cfg.max_bulk_bytes_per_sec, cfg.max_packet, 2};
  EXPECT_TRUE(server.serve("c", request({0, 1, 2, 3}), cookie, tx, tiny, room));
  EXPECT_EQ(tiny.size(), 2u);
  EXPECT_EQ(rejects("bulk_queue_full"), 1u);
}

// A source's cookie: requests carry it once it arrived; the first one frees
// the chunks in flight (asked again at once, with it), a changed one only
// replaces it (a forged cookie makes us send nothing), and one from an
// address that is no source is ignored.
TEST_F(fixture, SourceCookieIsCarriedByLaterRequests) {
  start("s1");
  auto first = requests();
  ASSERT_FALSE(first.empty());
  auto inflight = tr.inflight();
  ChunkCookie c;
  c.set_cookie(0x1234);
  tr.on_chunk_cookie("s9", c);
  EXPECT_EQ(rejects("chunk_cookie_unsolicited"), 1u);
  EXPECT_EQ(tr.cookie_of("s9"), 0u);
  tr.on_chunk_cookie("s1", c);
  EXPECT_EQ(tr.cookie_of("s1"), 0x1234u);
  EXPECT_TRUE(tr.has_work());
  EXPECT_EQ(tr.inflight(), 0u) << "refused requests are asked again";
  tr.pull(t0 + milliseconds(1), tx);
  // Asked again within what is left of the slow start's share: maybe fewer.
  EXPECT_GT(tr.inflight(), 0u);
  EXPECT_LE(tr.inflight(), inflight);
  inflight = tr.inflight();
  size_t with_cookie = 0;
  for (auto& o : out) {
    Message m;
    ASSERT_TRUE(m.ParseFromString(o.payload));
    ASSERT_TRUE(m.has_chunk_request());
    EXPECT_EQ(m.chunk_request().cookie(), 0x1234u);
    ++with_cookie;
  }
  EXPECT_GT(with_cookie, 0u);
  out.clear();
  c.set_cookie(0x5678);
  tr.on_chunk_cookie("s1", c);
  EXPECT_EQ(tr.cookie_of("s1"), 0x5678u);
  EXPECT_EQ(tr.inflight(), inflight) << "a changed cookie waits for timeouts";
  tr.pull(t0 + milliseconds(2), tx);
  EXPECT_TRUE(out.empty());
}

// Chunks go only to a requester that echoes our cookie: without it (or with
// a wrong one) a request draws the cookie alone, smaller than itself.
TEST_F(serving, RequestWithoutTheCookieDrawsOnlyTheCookie) {
  for (uint64_t wrong : {uint64_t{0}, uint64_t{0x78}}) {
    auto r = request({0, 1, 2});
    r.set_cookie(wrong);
    EXPECT_FALSE(server.serve("c", r, cookie, tx, bulk, room));
    EXPECT_EQ(bulk.size(), 0u);
    ASSERT_EQ(out.size(), 1u);
    Message m;
    ASSERT_TRUE(m.ParseFromString(out[0].payload));
    ASSERT_TRUE(m.has_chunk_cookie());
    EXPECT_EQ(m.chunk_cookie().cookie(), cookie);
    EXPECT_LE(out[0].payload.size(), r.ByteSizeLong());
    out.clear();
  }
  EXPECT_TRUE(server.serve("c", request({0, 1, 2}), cookie, tx, bulk, room));
  EXPECT_EQ(bulk.size(), 3u);
}

// What one request can draw is charged to the requester: chunks beyond its
// budget are not queued, and duplicates of queued chunks cost nothing.
TEST_F(serving, ChunksBeyondTheRequestersBudgetAreNotQueued) {
  auto cost = static_cast<double>(chunk_packet_bound(
    chunk_size_for(cfg.max_packet, "big", ver), "big", ver));
  room = 2.5 * cost;
  EXPECT_TRUE(server.serve("c", request({0, 1, 2, 3}), cookie, tx, bulk, room));
  EXPECT_EQ(bulk.size(), 2u);
  EXPECT_EQ(rejects("peer_bulk_budget"), 1u);
  EXPECT_DOUBLE_EQ(room, 0.5 * cost);
  EXPECT_TRUE(server.serve("c", request({0, 1}), cookie, tx, bulk, room));
  EXPECT_DOUBLE_EQ(room, 0.5 * cost) << "queued already: not charged again";
}

} // namespace
} // namespace pekonode::metadata
