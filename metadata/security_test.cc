// The metadata core under hostile input, each test replaying an attack:
// amplification (replies drawn by forged requests), wire input held to the
// rules of a local write, versions from the future.

#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "metadata/anti_entropy.h"
#include "metadata/codec.h"
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

// -- amplification ---------------------------------------------------------------

const address member = "10.0.0.9:7946";
const address outsider = "6.6.6.6:666";

/// Bytes and datagrams a node sent to one address in answer to what it
/// sent us (our own rumours and SYNs excluded: not drawn by the request).
struct drawn {
  uint64_t request = 0;
  uint64_t reply = 0;
  uint64_t datagrams = 0;
  double ratio() const {
    return request == 0 ? 0 : static_cast<double>(reply) / request;
  }
};

/// Whether a message we sent counts as drawn by the request: everything
/// sent while handling it (a SYN then is a SYN-back), and what a poll sends
/// except our own rumours and rounds.
bool is_reply(const std::string& payload, bool handling) {
  Message m;
  if (handling || !m.ParseFromString(payload))
    return true;
  return !m.has_rumour() && !m.has_syn();
}

uint64_t nonce_of(const std::string& payload) {
  Message m;
  if (!m.ParseFromString(payload))
    return 0;
  return m.has_syn() ? m.syn().nonce() : m.has_ack() ? m.ack().nonce() : 0;
}

/// The responder's nonce an ACK carries (what the round's ACK2 echoes).
uint64_t reply_nonce_of(const std::string& payload) {
  Message m;
  if (!m.ParseFromString(payload) || !m.has_ack())
    return 0;
  return m.ack().reply_nonce();
}

/// `req` (an ACK, ACK2, WANT or SynCookie) in round `nonce`; a chunk
/// request or a SYN with cookie `nonce`.
std::string with_nonce(const std::string& req, uint64_t nonce) {
  Message m;
  m.ParseFromString(req);
  if (m.has_chunk_request())
    m.mutable_chunk_request()->set_cookie(nonce);
  if (m.has_syn())
    m.mutable_syn()->set_cookie(nonce);
  if (m.has_syn_cookie())
    m.mutable_syn_cookie()->set_nonce(nonce);
  if (m.has_ack())
    m.mutable_ack()->set_nonce(nonce);
  if (m.has_ack2())
    m.mutable_ack2()->set_nonce(nonce);
  if (m.has_want())
    m.mutable_want()->set_nonce(nonce);
  return encode(m);
}

/// A node with live peers (`member` among them) holding 2000 values of
/// 1 KiB (they ride inline) and one of 512 KiB (pulled in chunks).
struct target {
  config cfg = config::lan();
  std::unique_ptr<core> c;
  time_point now = t0;

  explicit target(std::vector<address> peers = {member, "10.0.0.3:7946",
                                                "10.0.0.4:7946"}) {
    c = std::make_unique<core>(cfg, "target", 5);
    outbound_list out;
    // Filled by pushes (no rumours to wait for), then one local write.
    c->set_peers({"10.0.0.3:7946"});
    for (int i = 0; i < 2000; ++i) {
      auto m = rumour_entry("k" + std::to_string(i), std::string(1024, 'v'),
                            "w");
      Updates u = m.rumour();
      *m.mutable_push() = u;
      c->handle("10.0.0.3:7946", encode(m), wall, now, out);
    }
    c->put("big", std::string(512 * 1024, 'b'), wall, now, out);
    c->set_peers(std::move(peers));
    run(seconds(20), out); // the rumour and the first rounds are over
  }
  uint64_t wall_now() const {
    return wall + static_cast<uint64_t>((now - t0) / milliseconds(1));
  }
  std::map<address, time_point> last_syn; // our rounds, by peer

  void note_syns(const outbound_list& out) {
    for (auto& o : out) {
      Message m;
      if (m.ParseFromString(o.payload) && m.has_syn())
        last_syn[o.to] = now;
    }
  }
  /// Polls at every wake-up until `now + d`.
  void run(duration d, outbound_list& out) {
    auto end = now + d;
    while (true) {
      auto next = std::max(c->next_wakeup(), now + duration{1});
      if (next > end)
        break;
      now = next;
      c->poll(wall_now(), now, out);
      note_syns(out);
      out.clear();
    }
    now = end;
  }
  /// Runs until no round of ours with `peer` is open (our last SYN to it is
  /// older than ae_step_timeout): what it sends now is unsolicited.
  void await_closed(const address& peer) {
    outbound_list out;
    while (last_syn.count(peer) > 0
           && now - last_syn[peer] <= cfg.ae_step_timeout)
      run(milliseconds(10), out);
  }
  /// Delivers `requests` from `src` evenly over `spread`, polling at every
  /// wake-up, and returns what went back to `src` within `window`.
  drawn drive(const address& src, const std::vector<std::string>& requests,
              duration spread, duration window) {
    drawn d;
    outbound_list out;
    auto start = now;
    auto end = start + window;
    auto count = [&](bool handling) {
      note_syns(out);
      for (auto& o : out)
        if (o.to == src && is_reply(o.payload, handling)) {
          d.reply += o.payload.size();
          ++d.datagrams;
        }
      out.clear();
    };
    size_t next = 0;
    auto polled = now - duration{1};
    while (true) {
      auto t_req = next < requests.size()
                     ? start + spread * static_cast<int64_t>(next)
                                 / static_cast<int64_t>(requests.size())
                     : time_point::max();
      auto t_poll = std::max(c->next_wakeup(), polled + duration{1});
      auto t = std::min(t_req, t_poll);
      if (t > end)
        break;
      now = std::max(now, t);
      if (t_req <= t_poll) {
        c->handle(src, requests[next], wall_now(), now, out);
        d.request += requests[next].size();
        ++next;
        count(true);
      } else {
        c->poll(wall_now(), now, out);
        polled = now;
        count(false);
      }
    }
    now = end;
    return d;
  }
  /// Makes the node send `src` a round step: a SYN (we start a round with
  /// it), an ACK (it started one with us) or an ACK2 (both). Returns the
  /// round's nonce as `src` reads it from that step: what it must echo to
  /// take the next step.
  uint64_t solicit(Message::BodyCase step, const address& src) {
    outbound_list out;
    uint64_t nonce = 0;
    if (step == Message::kChunkCookie) { // a chunk request without it
      auto* big = c->data().find("big");
      Message m;
      auto* q = m.mutable_chunk_request();
      q->set_key("big");
      q->mutable_version()->set_hlc(big->ver.hlc);
      q->mutable_version()->set_origin(big->ver.origin);
      q->set_chunk_size(chunk_size_for(cfg.max_packet, "big", big->ver));
      q->add_indices(0);
      c->handle(src, encode(m), wall_now(), now, out);
      for (auto& o : out) {
        Message r;
        if (o.to == src && r.ParseFromString(o.payload) && r.has_chunk_cookie())
          nonce = r.chunk_cookie().cookie();
      }
      return nonce;
    }
    if (step == Message::kSynCookie) { // a SYN without it, digest differing
      Message syn;
      syn.mutable_syn()->set_digest_lo(1);
      syn.mutable_syn()->set_count(1);
      syn.mutable_syn()->set_nonce(78);
      c->handle(src, encode(syn), wall_now(), now, out);
      for (auto& o : out) {
        Message r;
        if (o.to == src && r.ParseFromString(o.payload) && r.has_syn_cookie())
          nonce = r.syn_cookie().cookie();
      }
      return nonce;
    }
    if (step == Message::kSyn || step == Message::kAck2) {
      c->set_peers({src});
      while (nonce == 0) { // our next round goes to our only peer
        now = std::max(c->next_wakeup(), now + duration{1});
        c->poll(wall_now(), now, out);
        note_syns(out);
        for (auto& o : out)
          if (o.to == src && nonce_of(o.payload) != 0)
            nonce = nonce_of(o.payload);
        out.clear();
      }
    }
    if (step == Message::kAck) { // a SYN with our cookie for src
      Message syn;
      syn.mutable_syn()->set_digest_lo(1);
      syn.mutable_syn()->set_count(1);
      syn.mutable_syn()->set_nonce(77);
      syn.mutable_syn()->set_cookie(solicit(Message::kSynCookie, src));
      c->handle(src, encode(syn), wall_now(), now, out);
      for (auto& o : out)
        if (o.to == src && reply_nonce_of(o.payload) != 0)
          nonce = reply_nonce_of(o.payload);
    }
    if (step == Message::kAck2) {
      Message ack;
      ack.mutable_ack()->set_first_bucket(0);
      for (int b = 0; b < 4; ++b)
        ack.mutable_ack()->add_buckets(1);
      ack.mutable_ack()->set_nonce(nonce);
      ack.mutable_ack()->set_reply_nonce(nonce = 99); // the WANT echoes it
      c->handle(src, encode(ack), wall_now(), now, out);
    }
    return nonce;
  }
};

// Worst-case requests of every kind, against `t`'s store.
std::map<std::string, std::string> forged_requests(const target& t) {
  std::map<std::string, std::string> r;
  std::mt19937_64 rng(3);
  Message syn;
  syn.mutable_syn()->set_digest_lo(rng());
  syn.mutable_syn()->set_digest_hi(rng());
  syn.mutable_syn()->set_count(1);
  syn.mutable_syn()->set_nonce(rng());
  r["syn"] = encode(syn);

  Message syn_cookie; // "here is my cookie, send your SYN again"
  syn_cookie.mutable_syn_cookie()->set_cookie(rng() | 1);
  syn_cookie.mutable_syn_cookie()->set_nonce(rng());
  r["syn_cookie"] = encode(syn_cookie);

  Message ack; // every bucket of the first page differs
  ack.mutable_ack()->set_first_bucket(0);
  for (size_t b = 0; b < buckets_per_ack(1200); ++b)
    ack.mutable_ack()->add_buckets(rng());
  r["ack"] = encode(ack);

  Message ack2; // "I hold nothing in these buckets": push me all of them
  for (uint32_t b = 0; b < 200; ++b) {
    auto* range = ack2.mutable_ack2()->add_ranges();
    range->set_bucket(b);
    range->set_from_start(true);
    range->set_to_end(true);
  }
  r["ack2"] = encode(ack2);

  Message want; // as many held keys as fit one packet
  for (int i = 0; want.ByteSizeLong() < 1100; ++i)
    want.mutable_want()->add_keys("k" + std::to_string(i));
  r["want"] = encode(want);

  auto* big = t.c->data().find("big");
  auto chunk_request = [&](uint32_t n) {
    Message m;
    auto* q = m.mutable_chunk_request();
    q->set_key("big");
    q->mutable_version()->set_hlc(big->ver.hlc);
    q->mutable_version()->set_origin(big->ver.origin);
    q->set_chunk_size(chunk_size_for(t.cfg.max_packet, "big", big->ver));
    for (uint32_t i = 0; i < n; ++i)
      q->add_indices(200 + i);
    return encode(m);
  };
  r["chunk_request"] = chunk_request(64);
  // The measured attack: a request of ~550 bytes asking 256 chunks.
  r["chunk_request_256"] = chunk_request(256);

  Message announce;
  auto* a = announce.mutable_rumour()->add_announces();
  a->set_key("new");
  a->set_size(512 * 1024);
  a->mutable_version()->set_hlc(make_hlc(wall, 0));
  a->mutable_version()->set_origin("w");
  r["rumour_announce"] = encode(announce);

  Message entry = rumour_entry("fresh", std::string(1000, 'x'), "w");
  r["rumour_entry"] = encode(entry);

  Message chunk;
  chunk.mutable_chunk()->set_key("big");
  chunk.mutable_chunk()->set_data(std::string(1000, 'x'));
  r["chunk"] = encode(chunk);

  Message gone;
  gone.mutable_chunk_gone()->set_key("big");
  r["chunk_gone"] = encode(gone);
  return r;
}

Message::BodyCase step_before(const std::string& kind) {
  if (kind == "syn")
    return Message::kSynCookie;
  if (kind == "syn_cookie")
    return Message::kSyn;
  if (kind == "ack")
    return Message::kSyn;
  if (kind == "ack2")
    return Message::kAck;
  if (kind == "want")
    return Message::kAck2;
  if (kind == "chunk_request" || kind == "chunk_request_256")
    return Message::kChunkCookie;
  return Message::BODY_NOT_SET;
}

// The measured attack, replayed: a forged chunk request for 256 chunks from
// an address that is not a peer brought back 256 datagrams (~274 KB). Now
// it brings back nothing, and is counted. In a member's name it brings the
// member our cookie alone (11 bytes); only with that cookie, which an
// off-path forger never sees, are chunks served.
TEST(Amplification, ForgedChunkRequestDrawsNoChunks) {
  target t;
  auto reqs = forged_requests(t);
  auto& forged = reqs.at("chunk_request_256");
  std::cout << "forged request: " << forged.size() << " bytes\n";
  auto d = t.drive(outsider, {forged}, milliseconds(1), seconds(5));
  EXPECT_EQ(d.reply, 0u);
  EXPECT_EQ(count(*t.c, "not_a_peer"), 1u);
  for (auto* kind : {"chunk_request", "chunk_request_256"}) {
    d = t.drive(member, std::vector<std::string>(100, reqs.at(kind)),
                seconds(1), seconds(5));
    std::cout << kind << " x100 in a member's name: " << d.request
              << " bytes drew " << d.reply << " bytes (" << d.ratio()
              << "x)\n";
    EXPECT_LE(d.reply, d.request) << kind;
    EXPECT_EQ(d.datagrams, 100u) << "the cookie, once per request";
    EXPECT_EQ(t.c->get_stats().chunks_sent, 0u);
  }
  // With the cookie (the member itself), a request may ask 64 chunks at
  // most.
  auto cookie = t.solicit(Message::kChunkCookie, member);
  ASSERT_NE(cookie, 0u);
  d = t.drive(member, {with_nonce(forged, cookie)}, milliseconds(1),
              seconds(5));
  EXPECT_EQ(d.reply, 0u);
  EXPECT_EQ(count(*t.c, "too_many_indices"), 1u);
  d = t.drive(member, {with_nonce(reqs.at("chunk_request"), cookie)},
              milliseconds(1), seconds(5));
  EXPECT_GT(t.c->get_stats().chunks_sent, 0u);
}

/// What `src` draws from a fresh target with `n` copies of `req` over one
/// second (`n` = 1: the whole reply, over 20 s).
drawn unverified(const std::string& kind, const std::string& req, int n) {
  target t;
  auto r = req;
  // Even mid-round (a SYN cookie goes to members only: none to solicit).
  if (auto step = step_before(kind);
      step != Message::BODY_NOT_SET && step != Message::kSynCookie)
    r = with_nonce(req, t.solicit(step, outsider));
  t.c->set_peers({member});
  return t.drive(outsider, std::vector<std::string>(n, r), seconds(1),
                 n == 1 ? seconds(20) : seconds(1));
}

// No message from an address outside the live peers is answered with more
// bytes than it carried, whatever the kind, alone or in a flood, and even
// in a round it really was in (it knows the nonce): only a SYN is answered,
// by a SYN no larger than itself, at most once per ae_step_timeout.
TEST(Amplification, NothingAnswersAnUnverifiedSourceWithMoreThanItSent) {
  target t;
  for (auto& [kind, req] : forged_requests(t)) {
    for (int n : {1, 1000}) {
      auto d = unverified(kind, req, n);
      EXPECT_LE(d.reply, d.request) << kind << " x" << n;
      if (kind != "syn") {
        EXPECT_EQ(d.reply, 0u) << kind << " x" << n;
      } else {
        EXPECT_LE(d.datagrams, n == 1 ? 1u : 2u) << "one SYN-back per 1 s";
      }
    }
  }
}

// An off-path forger of a member's address cannot start a round in its
// name: a SYN without our cookie for the member draws the cookie alone (to
// the member, never more bytes than the SYN). Even with the cookie (as the
// member itself has it) it cannot take the step after the ACK: the ACK2
// must echo the responder's own nonce, which only the member received. So
// a forged ACK2 ("push me everything") draws no pushes to the member.
TEST(Amplification, ForgedRoundInAMembersNameDrawsNoPushes) {
  target t;
  t.await_closed(member);
  auto reqs = forged_requests(t);
  Message syn;
  syn.mutable_syn()->set_digest_lo(1);
  syn.mutable_syn()->set_count(1);
  syn.mutable_syn()->set_nonce(77);
  auto d = t.drive(member, {encode(syn)}, milliseconds(1), milliseconds(5));
  EXPECT_EQ(d.datagrams, 1u) << "the cookie, to the member";
  EXPECT_LE(d.reply, encode(syn).size());
  auto cookie = t.solicit(Message::kSynCookie, member);
  ASSERT_NE(cookie, 0u);
  syn.mutable_syn()->set_cookie(cookie);
  d = t.drive(member, {encode(syn)}, milliseconds(1), milliseconds(5));
  EXPECT_GT(d.reply, 2000u) << "the ACK pages, to the member";
  auto unsolicited = count(*t.c, "unsolicited");
  d = t.drive(member, {with_nonce(reqs.at("ack2"), 77)}, milliseconds(1),
              seconds(5));
  EXPECT_EQ(d.reply, 0u);
  EXPECT_EQ(count(*t.c, "unsolicited"), unsolicited + 1);
}

// SYNs stripped of their fields (a forger's smallest datagrams) in a
// member's name: the SynCookie would be larger than they are, so they
// draw nothing (counted), while a real SYN (digest and nonce) draws the
// cookie, no larger than itself.
TEST(Amplification, StrippedSynInAMembersNameDrawsNothingLargerThanItself) {
  target t;
  t.await_closed(member);
  std::vector<std::string> stripped;
  Message m;
  m.mutable_syn();
  stripped.push_back(encode(m)); // 2 bytes
  m.mutable_syn()->set_count(1);
  stripped.push_back(encode(m));
  m.mutable_syn()->set_digest_lo(1);
  stripped.push_back(encode(m));
  for (auto& req : stripped) {
    auto d = t.drive(member, {req}, milliseconds(1), milliseconds(5));
    std::cout << "stripped SYN of " << req.size() << " B drew " << d.reply
              << " B\n";
    EXPECT_LE(d.reply, d.request) << req.size() << " bytes";
  }
  EXPECT_GE(count(*t.c, "syn_too_small"), 2u);
}

// A node whose membership view lacks a peer still catches up from it (a
// restarted node whose view is still incomplete while the others already
// see it alive): it answers the peer's SYN with its own SYN, and runs the
// round as initiator, every message it sends no larger than the one it
// answers, except its SYN sent again with the peer's cookie: the
// SynCookie that draws it echoes its SYN's nonce, so the peer proved it
// receives at its address.
TEST(Amplification, NodeWithoutTheSenderInItsViewCatchesUpBySynBack) {
  auto cfg = config::lan();
  core x(cfg, "x", 1), r(cfg, "r", 2);
  outbound_list out;
  const address xa = "10.0.0.1:7946", ra = "10.0.0.2:7946";
  x.set_peers({ra}); // x sees r alive; r's view has nobody yet
  for (int i = 0; i < 300; ++i)
    x.put("k" + std::to_string(i), std::string(200, 'v'), wall, t0, out);
  out.clear();
  auto now = t0;
  size_t largest_ratio_breach = 0, cookies = 0;
  for (int round = 0; round < 10 && x.digest() != r.digest(); ++round) {
    now += seconds(1);
    x.poll(wall, now, out);
    while (!out.empty()) {
      outbound_list next;
      for (auto& o : out) {
        if (o.to == ra) {
          outbound_list back;
          r.handle(xa, o.payload, wall, now, back);
          Message m;
          ASSERT_TRUE(m.ParseFromString(o.payload));
          cookies += m.has_syn_cookie();
          for (auto& b : back)
            if (b.payload.size() > o.payload.size() && !m.has_syn_cookie())
              ++largest_ratio_breach;
          for (auto& b : back)
            next.push_back(std::move(b));
        } else {
          x.handle(ra, o.payload, wall, now, next);
        }
      }
      out = std::move(next);
    }
  }
  EXPECT_EQ(x.digest(), r.digest());
  EXPECT_EQ(r.list().size(), 300u);
  EXPECT_EQ(largest_ratio_breach, 0u);
  EXPECT_EQ(cookies, 1u) << "x's cookie, once: r keeps it";
  EXPECT_GT(count(r, "not_a_peer"), 0u);
}

// A SYN from an address that is not a peer yet (a joiner whose membership
// has not reached us) is held and answered once membership makes it a
// peer, within ae_step_timeout; a later one is dropped.
TEST(Amplification, JoinerSynIsAnsweredOnceItBecomesAPeer) {
  target t;
  auto reqs = forged_requests(t);
  const address joiner = "10.0.0.50:7946";
  auto d = t.drive(joiner, {reqs.at("syn")}, milliseconds(1),
                   milliseconds(500));
  EXPECT_EQ(d.reply, 0u);
  EXPECT_TRUE(t.c->member_changed("joiner", joiner, true));
  EXPECT_LE(t.c->next_wakeup(), t.now) << "answer due at once";
  outbound_list out;
  t.c->poll(t.wall_now(), t.now, out);
  Message syn;
  ASSERT_TRUE(syn.ParseFromString(reqs.at("syn")));
  // It lacked our cookie: it draws the cookie alone, echoing its nonce (the
  // joiner's round is open: it sends its SYN again with the cookie).
  uint64_t cookie = 0;
  for (auto& o : out) {
    Message m;
    if (o.to == joiner && m.ParseFromString(o.payload)) {
      ASSERT_TRUE(m.has_syn_cookie()) << "nothing else";
      EXPECT_LE(o.payload.size(), reqs.at("syn").size());
      EXPECT_EQ(m.syn_cookie().nonce(), syn.syn().nonce());
      cookie = m.syn_cookie().cookie();
    }
  }
  ASSERT_NE(cookie, 0u);
  out.clear();
  syn.mutable_syn()->set_cookie(cookie);
  t.c->handle(joiner, encode(syn), t.wall_now(), t.now, out);
  size_t acks = 0, bytes = 0;
  for (auto& o : out) {
    Message m;
    if (o.to == joiner && m.ParseFromString(o.payload) && m.has_ack()) {
      ++acks;
      bytes += o.payload.size();
      EXPECT_EQ(m.ack().nonce(), syn.syn().nonce())
        << "echoes the SYN's nonce: the joiner takes it as its answer";
    }
  }
  EXPECT_EQ(acks, ack_pages(t.cfg.max_packet));
  EXPECT_GT(bytes, 2000u) << "the ACK pages";
  // Held past ae_step_timeout: dropped, not answered.
  const address late = "10.0.0.51:7946";
  t.drive(late, {reqs.at("syn")}, milliseconds(1), milliseconds(1));
  t.drive(late, {}, milliseconds(1), t.cfg.ae_step_timeout + seconds(2));
  t.c->member_changed("late", late, true);
  d = t.drive(late, {}, milliseconds(1), milliseconds(10));
  EXPECT_EQ(d.reply, 0u);
}

// What a member (or whoever forges its address) can draw: per request, and
// flooding for one second, for every kind, out of a round and within one.
// Bounded by the per-peer budgets in every case; printed as the table of
// docs/SECURITY.md.
TEST(Amplification, MemberDrawsWithinItsBudgets) {
  target probe;
  auto reqs = forged_requests(probe);
  auto cfg = probe.cfg;
  // At most: a burst and a second of each budget, plus the chunk_gone /
  // ACK pages a request may still fit into the last tokens.
  double cap = static_cast<double>(cfg.peer_reply_burst_bytes
                                   + cfg.peer_reply_bytes_per_sec
                                   + cfg.peer_bulk_burst_bytes
                                   + cfg.peer_bulk_bytes_per_sec);
  std::printf("%-26s %6s | %-18s | %-18s | %-22s | %-24s\n", "request",
              "bytes", "non-peer: one", "non-peer: 1000/s",
              "member: one request", "member: 1000/s for 1 s");
  for (auto& [kind, req] : reqs) {
    for (bool in_round : {false, true}) {
      auto step = step_before(kind);
      if (in_round && step == Message::BODY_NOT_SET)
        continue;
      drawn one, flood;
      for (int n : {1, 1000}) {
        target t;
        auto r = req;
        if (in_round) // an insider that knows the round's nonce
          r = with_nonce(req, t.solicit(step, member));
        else
          t.await_closed(member);
        auto d = t.drive(member, std::vector<std::string>(n, r), seconds(1),
                         n == 1 ? seconds(20) : seconds(1));
        (n == 1 ? one : flood) = d;
        EXPECT_LE(static_cast<double>(d.reply), cap) << kind;
      }
      // In a member's name without the round's nonce or the cookies
      // (what an off-path forger can send): one request, or a flood of
      // them, draws at most 3x what was sent. With them (the member
      // itself), bulk is bounded by the per-peer budgets only (see
      // docs/SECURITY.md).
      if (!in_round) {
        EXPECT_LE(flood.ratio(), 3.0) << kind;
        EXPECT_LE(one.ratio(), 3.0) << kind;
      }
      auto cell = [](const drawn& d) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%9llu B %6.2fx",
                      static_cast<unsigned long long>(d.reply), d.ratio());
        return std::string{buf};
      };
      std::string np1 = "", npn = "";
      if (!in_round) {
        np1 = cell(unverified(kind, req, 1));
        npn = cell(unverified(kind, req, 1000));
      }
      std::printf("%-26s %6zu | %-18s | %-18s | %-22s | %-24s\n",
                  (kind + (!in_round ? ""
                           : step == Message::kChunkCookie
                               || step == Message::kSynCookie
                             ? " (cookie)"
                             : " (round)"))
                    .c_str(),
                  static_cast<size_t>(one.request), // with nonce, cookie
                  np1.c_str(), npn.c_str(), cell(one).c_str(),
                  cell(flood).c_str());
    }
  }
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
