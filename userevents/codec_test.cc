#include "userevents/codec.h"

#include <gtest/gtest.h>

#include "userevents/filter.h"

namespace pekonode::userevents {
namespace {

wire_event query() {
  wire_event w;
  w.ev.kind = event_kind::query;
  w.ev.name = "uptime";
  w.ev.payload = "x";
  w.ev.origin = "n1";
  w.ev.id = 7;
  w.ev.ltime = 3;
  w.ev.origin_addr = "10.0.0.1:7946";
  w.ev.timeout_ms = 3000;
  w.ev.node_filter = "web-.*";
  w.ev.tags = {{"role", "web"}};
  w.age_ms = 12;
  return w;
}

TEST(Codec, RoundTripsEveryPacket) {
  packet p;
  std::string why;
  ASSERT_TRUE(decode(encode_gossip({query()}), p, why)) << why;
  ASSERT_EQ(p.kind, packet::type::gossip);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].ev.node_filter, "web-.*");
  EXPECT_EQ(p.events[0].ev.tags, (tag_filters{{"role", "web"}}));
  EXPECT_EQ(p.events[0].age_ms, 12u);
  EXPECT_EQ(p.events[0].ev.timeout_ms, 3000u);
  ASSERT_TRUE(decode(encode_sync({1, 2, 3}), p, why));
  EXPECT_EQ(p.kind, packet::type::sync);
  EXPECT_EQ(p.ids, (std::vector<uint64_t>{1, 2, 3}));
  ASSERT_TRUE(decode(encode_sync({}), p, why));
  ASSERT_TRUE(decode(encode_want({9}), p, why));
  EXPECT_EQ(p.kind, packet::type::want);
  ASSERT_TRUE(decode(encode_ack(5, true), p, why));
  EXPECT_EQ(p.kind, packet::type::ack);
  EXPECT_TRUE(p.responding);
  ASSERT_TRUE(decode(encode_response(5, "ok"), p, why));
  EXPECT_EQ(p.payload, "ok");
  EXPECT_EQ(wire_size(query()) + 2, encode_gossip({query()}).size());
}

TEST(Codec, RejectsWhatBreaksABound) {
  packet p;
  std::string why;
  auto bad = [&](wire_event w) { return !decode(encode_gossip({w}), p, why); };
  auto w = query();
  w.ev.name = "";
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.payload = std::string(max_event_bytes, 'x');
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.origin = "has space";
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.timeout_ms = 0;
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.timeout_ms = 60001;
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.origin_addr = "";
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.node_filter = std::string(max_filter_bytes + 1, 'a');
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.coalesce = true;
  EXPECT_TRUE(bad(w));
  w = query();
  w.ev.kind = event_kind::user; // with query fields
  EXPECT_FALSE(valid_event(w.ev, why));
  EXPECT_FALSE(decode(std::string(max_wire_bytes + 1, '\0'), p, why));
  EXPECT_FALSE(decode("", p, why)); // no body
  EXPECT_FALSE(decode(encode_want({}), p, why));
  std::vector<uint64_t> many(max_wire_ids + 1, 1);
  EXPECT_FALSE(decode(encode_sync(many), p, why));
  EXPECT_FALSE(decode(encode_gossip({}), p, why));
  std::vector<wire_event> lots(max_wire_events + 1, wire_event{});
  for (auto& l : lots) {
    l.ev.name = "e";
    l.ev.origin = "o";
  }
  EXPECT_FALSE(decode(encode_gossip(lots), p, why));
}

TEST(Filter, MatchesWholeNamesAndTagValues) {
  filter f;
  std::string why;
  ASSERT_TRUE(f.compile("web-[0-9]+", {{"role", "front|edge"}}, why)) << why;
  EXPECT_TRUE(f.matches("web-12", {{"role", "edge"}}));
  EXPECT_FALSE(f.matches("web-12x", {{"role", "edge"}})); // anchored
  EXPECT_FALSE(f.matches("web-12", {{"role", "edges"}}));
  EXPECT_FALSE(f.matches("web-12", {})); // the tag must exist
  filter any;
  ASSERT_TRUE(any.compile("", {}, why));
  EXPECT_TRUE(any.matches("whatever", {}));
}

TEST(Filter, HostilePatternsFailOrRunInLinearTime) {
  filter f;
  std::string why;
  EXPECT_FALSE(f.compile("(a", {}, why));
  EXPECT_FALSE(f.compile("a{1000}{1000}", {}, why)); // too big a program
  // Catastrophic for a backtracking engine; RE2 answers at once.
  ASSERT_TRUE(f.compile("(a*)*b", {{"k", "(x+x+)+y"}}, why)) << why;
  EXPECT_FALSE(f.matches(std::string(128, 'a'),
                         {{"k", std::string(2048, 'x')}}));
}

} // namespace
} // namespace pekonode::userevents
