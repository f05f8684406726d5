// The wire codec on its own: member <-> Update, bounds on inbound packets,
// splicing of pre-encoded updates, and the outbox's piggybacking.
#include "membership/codec.h"

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <random>

#include "membership/test_packets.h"

namespace pekonode::membership {
namespace {

using testing::parse;
using testing::test_addr;
using testing::pkt;
using testing::upd;

member make_member(const std::string& name, member_state st, uint64_t inc = 3) {
  member m;
  m.name = name;
  m.addr = test_addr(name);
  m.incarnation = inc;
  m.state = st;
  m.tags = {{"role", "db"}, {"zone", "a"}};
  return m;
}

TEST(Codec, StatesRoundTrip) {
  for (auto s : {member_state::alive, member_state::suspect, member_state::dead,
                 member_state::left})
    EXPECT_EQ(from_pb(to_pb(s)), s) << to_string(s);
  EXPECT_EQ(to_pb(member_state::left), LEFT);
  EXPECT_EQ(from_pb(static_cast<MemberState>(42)), member_state::alive);
}

TEST(Codec, EncodeSendsTagsOnAliveAndTheAccuserOnOthers) {
  auto alive = encode(make_member("a", member_state::alive), "x");
  EXPECT_EQ(alive.name(), "a");
  EXPECT_EQ(alive.addr(), test_addr("a"));
  EXPECT_EQ(alive.incarnation(), 3u);
  EXPECT_EQ(alive.state(), ALIVE);
  EXPECT_EQ(alive.tags().size(), 2u);
  EXPECT_EQ(alive.tags().at("zone"), "a");
  EXPECT_EQ(alive.from(), "");
  for (auto st : {member_state::suspect, member_state::dead, member_state::left}) {
    auto u = encode(make_member("a", st), "x");
    EXPECT_EQ(u.state(), to_pb(st));
    EXPECT_TRUE(u.tags().empty()) << to_string(st);
    EXPECT_EQ(u.from(), "x") << to_string(st);
  }
}

TEST(Codec, UpdateBoundsTable) {
  auto cfg = config::lan();
  auto with = [](auto f) {
    auto u = upd("a", 1, ALIVE);
    f(u);
    return u;
  };
  struct row {
    const char* what;
    Update u;
    bool want;
  };
  const row rows[] = {
    {"plain", upd("a", 1, ALIVE), true},
    {"accusation", upd("a", 1, SUSPECT, "b"), true},
    {"empty name", with([](Update& u) { u.set_name(""); }), false},
    {"long name", with([&](Update& u) { u.set_name(std::string(cfg.max_name_bytes + 1, 'n')); }), false},
    {"name at limit", with([&](Update& u) { u.set_name(std::string(cfg.max_name_bytes, 'n')); }), true},
    {"empty addr", with([](Update& u) { u.set_addr(""); }), false},
    {"long addr", with([&](Update& u) { u.set_addr(std::string(cfg.max_addr_bytes + 1, 'a')); }), false},
    {"long from", with([&](Update& u) { u.set_from(std::string(cfg.max_name_bytes + 1, 'f')); }), false},
    {"unknown state", with([](Update& u) { u.set_state(static_cast<MemberState>(9)); }), false},
    {"empty tag key", with([](Update& u) { (*u.mutable_tags())[""] = "v"; }), false},
    {"tags at limit", with([&](Update& u) {
       (*u.mutable_tags())["k"] = std::string(max_tag_value_bytes - 1, 'v');
       (*u.mutable_tags())["l"] = std::string(cfg.max_tags_bytes - max_tag_value_bytes - 1, 'v');
     }), true},
    {"tags too large", with([&](Update& u) {
       (*u.mutable_tags())["k"] = std::string(max_tag_value_bytes, 'v');
       (*u.mutable_tags())["l"] = std::string(cfg.max_tags_bytes - max_tag_value_bytes - 1, 'v');
     }), false},
    {"tag value too long", with([](Update& u) { (*u.mutable_tags())["k"] = std::string(max_tag_value_bytes + 1, 'v'); }), false},
    {"tag key too long", with([](Update& u) { (*u.mutable_tags())[std::string(max_tag_key_bytes + 1, 'k')] = "v"; }), false},
    {"too many tags", with([](Update& u) {
       for (std::size_t i = 0; i <= max_tags; ++i) (*u.mutable_tags())["k" + std::to_string(i)] = "v";
     }), false},
    {"newline in a tag value", with([](Update& u) { (*u.mutable_tags())["k"] = "a\nE1130 FORGED"; }), false},
    {"newline in the name", with([](Update& u) { u.set_name("n2\nE1130 12:00:00 FORGED: disk corrupted"); }), false},
    {"space in the name", with([](Update& u) { u.set_name("n 2"); }), false},
    {"DEL in the name", with([](Update& u) { u.set_name("n\x7f"); }), false},
    {"newline in from", with([](Update& u) { u.set_from("b\nx"); }), false},
    {"host name address", with([](Update& u) { u.set_addr("nonexistent-host.invalid:7946"); }), false},
    {"localhost address", with([](Update& u) { u.set_addr("localhost:7946"); }), false},
    {"IPv6 address", with([](Update& u) { u.set_addr("[::1]:7946"); }), true},
    {"unbracketed IPv6", with([](Update& u) { u.set_addr("::1:7946"); }), false},
    {"non-canonical IPv4", with([](Update& u) { u.set_addr("010.0.0.1:7946"); }), false},
    {"non-canonical IPv6", with([](Update& u) { u.set_addr("[0:0::1]:7946"); }), false},
    {"port 0", with([](Update& u) { u.set_addr("10.0.0.1:0"); }), false},
    {"no port", with([](Update& u) { u.set_addr("10.0.0.1"); }), false},
    {"alive at the ceiling", with([](Update& u) { u.set_incarnation(max_incarnation); }), true},
    {"alive above the ceiling", with([](Update& u) { u.set_incarnation(max_incarnation + 1); }), false},
    {"suspect at the ceiling", with([](Update& u) { u.set_state(SUSPECT); u.set_incarnation(max_incarnation); }), false},
    {"left at the ceiling", with([](Update& u) { u.set_state(LEFT); u.set_incarnation(max_incarnation); }), false},
    {"left just below", with([](Update& u) { u.set_state(LEFT); u.set_incarnation(max_incarnation - 1); }), true},
    {"dead at 2^64-1", with([](Update& u) { u.set_state(DEAD); u.set_incarnation(~uint64_t{0}); }), false},
  };
  for (auto& r : rows) EXPECT_EQ(valid(r.u, cfg), r.want) << r.what;
}

TEST(Codec, BodyBounds) {
  auto cfg = config::lan();
  PingReq r;
  EXPECT_FALSE(valid(r, cfg));
  r.set_target("t");
  EXPECT_FALSE(valid(r, cfg));
  r.set_target_addr(test_addr("t"));
  EXPECT_TRUE(valid(r, cfg));
  r.set_target_addr(std::string(cfg.max_addr_bytes + 1, 'a'));
  EXPECT_FALSE(valid(r, cfg));
  r.set_target_addr(test_addr("t"));
  r.set_target(std::string(cfg.max_name_bytes + 1, 't'));
  EXPECT_FALSE(valid(r, cfg));

  SyncBuckets b;
  for (int i = 0; i < 31; ++i) b.add_hashes(i);
  EXPECT_FALSE(valid(b, 32));
  b.add_hashes(31);
  EXPECT_TRUE(valid(b, 32));
  b.add_hashes(32);
  EXPECT_FALSE(valid(b, 32));

  SyncWant w;
  EXPECT_TRUE(valid(w, 32));
  w.add_buckets(0);
  w.add_buckets(31);
  EXPECT_TRUE(valid(w, 32));
  w.add_buckets(32);
  EXPECT_FALSE(valid(w, 32));
  SyncWant many;
  for (int i = 0; i < 33; ++i) many.add_buckets(1);
  EXPECT_FALSE(valid(many, 32));
}

TEST(Codec, DecodeRejectsBadPacketsWithTheirReason) {
  auto cfg = config::lan();
  Packet p;
  EXPECT_EQ(decode(std::string(cfg.max_datagram + 1, 'a'), cfg, p), decode_error::too_large);
  EXPECT_EQ(decode("\xff\xff\xff", cfg, p), decode_error::parse);
  EXPECT_EQ(decode(pkt("", {upd("a", 0, ALIVE)}), cfg, p), decode_error::bad_sender);
  EXPECT_EQ(decode(pkt(std::string(cfg.max_name_bytes + 1, 's'), {upd("a", 0, ALIVE)}), cfg, p),
            decode_error::bad_sender);
  // Only an unknown field (14): no body, no updates.
  std::string unknown = pkt("x", {});
  unknown += std::string("\x72\x00", 2);
  EXPECT_EQ(decode(unknown, cfg, p), decode_error::empty);
  EXPECT_EQ(decode(pkt("x", {}), cfg, p), decode_error::empty);
  EXPECT_EQ(decode(pkt("x", {upd("a", 0, ALIVE)}), cfg, p), decode_error::none);
  EXPECT_EQ(p.sender(), "x");
  ASSERT_EQ(p.updates_size(), 1);
  auto ping = pkt("x", {}, [](Packet& q) { q.mutable_ping()->set_seq(4); });
  EXPECT_EQ(decode(ping, cfg, p), decode_error::none);
  EXPECT_EQ(p.ping().seq(), 4u);
  // The counters' names are part of stats().bad_packets.
  EXPECT_STREQ(to_string(decode_error::too_large), "too_large");
  EXPECT_STREQ(to_string(decode_error::parse), "parse");
  EXPECT_STREQ(to_string(decode_error::bad_sender), "bad_sender");
  EXPECT_STREQ(to_string(decode_error::empty), "unknown_type");
}

TEST(Codec, DecodeSurvivesMutatedPackets) {
  auto cfg = config::lan();
  uint64_t seed = 20240602;
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  std::string good = pkt("p0", {upd("p1", 4, SUSPECT, "p0")}, [](Packet& p) {
    p.mutable_ping_req()->set_seq(1);
    p.mutable_ping_req()->set_target("p2");
    p.mutable_ping_req()->set_target_addr(test_addr("p2"));
  });
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string s = good;
    for (int k = 0; k < 3; ++k) s[rng() % s.size()] = static_cast<char>(rng());
    if (i % 2) s.resize(rng() % (s.size() + 1));
    Packet p;
    auto err = decode(s, cfg, p);
    if (err != decode_error::none) continue;
    ++accepted;
    // Whatever passes has a bounded sender and something to act on.
    EXPECT_FALSE(p.sender().empty());
    EXPECT_LE(p.sender().size(), cfg.max_name_bytes);
    EXPECT_TRUE(p.body_case() != Packet::BODY_NOT_SET || p.updates_size() > 0);
  }
  EXPECT_GT(accepted, 0);
}

TEST(Codec, SplicedUpdatesParseAsPacketUpdates) {
  Packet p;
  p.set_sender("me");
  p.mutable_ack()->set_seq(99);
  std::string bytes = p.SerializeAsString();
  auto small = upd("a", 1, ALIVE);
  auto large = upd("b", 2, ALIVE);
  (*large.mutable_tags())["k"] = std::string(300, 'v'); // two-byte length
  std::size_t before = bytes.size();
  for (auto* u : {&small, &large}) splice_update(bytes, u->SerializeAsString());
  EXPECT_EQ(bytes.size(), before + spliced_size(small.ByteSizeLong())
                            + spliced_size(large.ByteSizeLong()));
  Packet q;
  ASSERT_TRUE(q.ParseFromString(bytes));
  EXPECT_EQ(q.sender(), "me");
  EXPECT_EQ(q.ack().seq(), 99u);
  ASSERT_EQ(q.updates_size(), 2);
  EXPECT_EQ(q.updates(0).name(), "a");
  EXPECT_EQ(q.updates(1).tags().at("k").size(), 300u);
  // The same bytes as protobuf's own encoding of the whole packet.
  *p.add_updates() = small;
  *p.add_updates() = large;
  EXPECT_EQ(bytes, p.SerializeAsString());
}

// The fields of two Updates, tags as an ordered map: protobuf writes map
// entries in an order of its own, which may differ from one call to the
// next.
std::string fields(const Update& u) {
  std::string s = u.name() + "|" + u.addr() + "|"
                  + std::to_string(u.incarnation()) + "|"
                  + std::to_string(u.state()) + "|" + u.from() + "|";
  for (auto& [k, v] : std::map<std::string, std::string>(u.tags().begin(),
                                                          u.tags().end()))
    s += k + "=" + v + ",";
  return s;
}

TEST(Codec, EncodeToWritesTheBytesProtobufWrites) {
  std::string out = "stale";
  for (auto st : {member_state::alive, member_state::suspect,
                  member_state::dead, member_state::left})
    for (uint64_t inc : {uint64_t{0}, uint64_t{1}, uint64_t{300},
                         ~uint64_t{0}})
      for (bool tags : {false, true})
        for (std::string from : {"", "accuser-7"}) {
          auto m = make_member("node-" + std::to_string(inc), st, inc);
          if (!tags)
            m.tags = interned_tags();
          encode_to(m, from, out);
          auto expected = encode(m, from);
          if (m.state == member_state::alive && tags) {
            Update back;
            ASSERT_TRUE(back.ParseFromString(out));
            EXPECT_EQ(fields(back), fields(expected));
            EXPECT_EQ(out.size(), expected.ByteSizeLong());
          } else {
            EXPECT_EQ(out, expected.SerializeAsString())
              << to_string(st) << " inc " << inc << " from '" << from << "'";
          }
        }
  // A name long enough for a two-byte length.
  auto m = make_member(std::string(200, 'n'), member_state::dead, 5);
  encode_to(m, "x", out);
  EXPECT_EQ(out, encode(m, "x").SerializeAsString());
}

struct outbox_fixture {
  config cfg = config::lan();
  core_stats stats;
  int limit = 2;
  outbox ob{cfg, "me", stats, 1000, [this] { return limit; }};
};

TEST(Outbox, SendCountsPacketsAndBytes) {
  outbox_fixture f;
  outbound_list out;
  auto p = f.ob.packet();
  EXPECT_EQ(p.sender(), "me");
  p.mutable_ack()->set_seq(1);
  f.ob.send(test_addr("a"), p, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, test_addr("a"));
  EXPECT_EQ(out[0].chan, channel::membership);
  EXPECT_EQ(f.stats.packets_out, 1u);
  EXPECT_EQ(f.stats.bytes_out, out[0].payload.size());
  EXPECT_EQ(parse(out[0]).ack().seq(), 1u);
}

TEST(Outbox, StatePageIsTheBytesProtobufWrites) {
  outbox_fixture f;
  std::vector<member> ms;
  for (int i = 0; i < 40; ++i) {
    // Tags (alive claims only) are in encode_to's test: protobuf orders
    // map entries its own way, so bytes are compared without them.
    auto m = make_member("m" + std::to_string(i),
                         static_cast<member_state>(i % 4), i * 37);
    m.tags = interned_tags();
    ms.push_back(m);
  }
  for (uint32_t index : {0u, 1u, 200u})
    for (uint32_t total : {1u, 3u, 201u})
      for (bool join_reply : {false, true})
        for (std::size_t count : {std::size_t{0}, std::size_t{1}, ms.size()}) {
          std::string members, u;
          auto p = f.ob.packet();
          auto* s = p.mutable_state();
          s->set_index(index);
          s->set_total(total);
          s->set_join_reply(join_reply);
          for (std::size_t i = 0; i < count; ++i) {
            encode_to(ms[i], "me", u);
            auto before = members.size();
            append_page_member(members, u);
            EXPECT_EQ(members.size() - before, spliced_size(u.size()));
            *s->add_members() = encode(ms[i], "me");
          }
          outbound_list out;
          f.ob.send_state_page(test_addr("a"), index, total, join_reply,
                               members, out);
          ASSERT_EQ(out.size(), 1u);
          EXPECT_EQ(out[0].payload, p.SerializeAsString())
            << "index " << index << " total " << total << " join_reply "
            << join_reply << " members " << count;
          EXPECT_EQ(out[0].to, test_addr("a"));
        }
}

TEST(Outbox, PiggybacksUpToMaxPacketAndTheTransmitLimit) {
  outbox_fixture f;
  outbound_list out;
  for (int i = 0; i < 200; ++i)
    f.ob.enqueue(make_member("m" + std::to_string(i), member_state::alive), {});
  // The same member twice: only the newer claim is queued.
  f.ob.enqueue(make_member("m0", member_state::suspect, 9), "x");
  // A plain send carries none of them.
  f.ob.send(test_addr("a"), f.ob.packet(), out);
  EXPECT_EQ(parse(out.back()).updates_size(), 0);
  std::size_t carried = 0, suspects = 0;
  while (!f.ob.idle()) {
    f.ob.send_piggybacked(test_addr("a"), f.ob.packet(), out);
    auto p = parse(out.back());
    ASSERT_GT(p.updates_size(), 0);
    EXPECT_LE(out.back().payload.size(), f.cfg.max_packet);
    carried += static_cast<std::size_t>(p.updates_size());
    for (auto& u : p.updates()) suspects += u.name() == "m0" && u.state() == SUSPECT;
    for (auto& u : p.updates()) EXPECT_FALSE(u.name() == "m0" && u.state() == ALIVE);
  }
  // Every update went out exactly `limit` times, then left the queue.
  EXPECT_EQ(carried, 200u * 2);
  EXPECT_EQ(suspects, 2u);
  EXPECT_EQ(f.stats.packets_out, out.size());
}

TEST(Outbox, OversizeUpdateTravelsAloneWithinMaxDatagram) {
  outbox_fixture f;
  outbound_list out;
  auto big = make_member("big", member_state::alive);
  big.tags = {{"k", std::string(2000, 'v')}};
  f.ob.enqueue(big, {});
  f.ob.enqueue(make_member("small", member_state::alive), {});
  // Too large to share a packet: piggybacking skips it.
  f.ob.send_piggybacked(test_addr("a"), f.ob.packet(), out);
  auto p = parse(out.back());
  ASSERT_EQ(p.updates_size(), 1);
  EXPECT_EQ(p.updates(0).name(), "small");
  f.ob.send_oversize(test_addr("a"), out);
  p = parse(out.back());
  ASSERT_EQ(p.updates_size(), 1);
  EXPECT_EQ(p.updates(0).name(), "big");
  EXPECT_GT(out.back().payload.size(), f.cfg.max_packet);
  EXPECT_EQ(p.body_case(), Packet::BODY_NOT_SET);
  // Above max_datagram: dropped, never sent, yet it still leaves the queue.
  outbox_fixture g;
  g.cfg.max_datagram = 1500;
  g.limit = 1;
  g.ob.enqueue(big, {});
  outbound_list none;
  g.ob.send_oversize(test_addr("a"), none);
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(g.ob.idle());
  // Nothing oversize queued: nothing sent.
  g.ob.enqueue(make_member("small", member_state::alive), {});
  g.ob.send_oversize(test_addr("a"), none);
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(g.ob.idle());
}

TEST(Outbox, SequenceNumbersAreFreshAndClearEmptiesTheQueue) {
  outbox_fixture f;
  EXPECT_EQ(f.ob.next_seq(), 1000u);
  EXPECT_EQ(f.ob.next_seq(), 1001u);
  f.ob.enqueue(make_member("a", member_state::alive), {});
  EXPECT_FALSE(f.ob.idle());
  f.ob.clear_queue();
  EXPECT_TRUE(f.ob.idle());
}

} // namespace
} // namespace pekonode::membership
