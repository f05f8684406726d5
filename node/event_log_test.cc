#include "node/event_log.h"

#include <gtest/gtest.h>

#include <thread>

namespace pekonode::node {
namespace {

using nlohmann::json;

TEST(EventLog, IndexesStartAtOneAndIncrease) {
  event_log log{8, [] { return int64_t{42}; }};
  EXPECT_EQ(log.last_index(), 0u);
  EXPECT_EQ(log.append(event_types::member_join, "a", json{{"state", "alive"}}),
            1u);
  EXPECT_EQ(log.append(event_types::key_put, "k", json::object()), 2u);
  auto b = log.read(0, {}, 100);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].index, 1u);
  EXPECT_EQ(b.events[0].time_ms, 42);
  EXPECT_EQ(b.events[1].type, "key-put");
  EXPECT_EQ(b.last_index, 2u);
  EXPECT_FALSE(b.reset);
}

TEST(EventLog, RingKeepsTheNewestAndResumesAfterAnIndex) {
  event_log log{4, [] { return int64_t{0}; }};
  for (int i = 0; i < 10; ++i)
    log.append(event_types::key_put, "k" + std::to_string(i), json::object());
  EXPECT_EQ(log.size(), 4u);
  // 7..10 held: resuming after 8 gives 9 and 10, no reset.
  auto b = log.read(8, {}, 100);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].index, 9u);
  EXPECT_EQ(b.events[1].subject, "k9");
  EXPECT_FALSE(b.reset);
  EXPECT_EQ(b.oldest_index, 7u);
  // After 6 is still complete (7 is the oldest held).
  b = log.read(6, {}, 100);
  EXPECT_FALSE(b.reset);
  EXPECT_EQ(b.events.size(), 4u);
}

TEST(EventLog, IndexThatFellOutOfTheRingIsAReset) {
  event_log log{4, [] { return int64_t{0}; }};
  for (int i = 0; i < 10; ++i)
    log.append(event_types::key_put, "k", json::object());
  auto b = log.read(2, {}, 100);
  EXPECT_TRUE(b.reset);
  ASSERT_EQ(b.events.size(), 4u);
  EXPECT_EQ(b.events.front().index, 7u);
  EXPECT_EQ(b.oldest_index, 7u);
}

TEST(EventLog, IndexAheadOfTheLogIsAReset) {
  event_log log{4, [] { return int64_t{0}; }};
  log.append(event_types::key_put, "k", json::object());
  auto b = log.read(99, {}, 100);
  EXPECT_TRUE(b.reset);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].index, 1u);
  // An empty log: ahead of it is a reset too, with nothing to give.
  event_log empty{4, [] { return int64_t{0}; }};
  auto e = empty.read(5, {}, 100);
  EXPECT_TRUE(e.reset);
  EXPECT_TRUE(e.events.empty());
  EXPECT_FALSE(empty.read(0, {}, 100).reset);
}

TEST(EventLog, FiltersByTypeFamilyAndPrefix) {
  event_log log{16, [] { return int64_t{0}; }};
  log.append(event_types::member_join, "web-1", json::object());
  log.append(event_types::member_dead, "web-1", json::object());
  log.append(event_types::key_put, "config/a", json::object());
  log.append(event_types::key_delete, "other/b", json::object());
  log.append(event_types::user, "deploy", json::object());
  event_filter f;
  f.types = {"member"};
  auto b = log.read(0, f, 100);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.last_index, 5u);
  f.types = {"member-dead", "user"};
  b = log.read(0, f, 100);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].type, "member-dead");
  EXPECT_EQ(b.events[1].type, "user");
  f.types = {"key"};
  f.prefix = "config/";
  b = log.read(0, f, 100);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].subject, "config/a");
  // "member" must not match a type that merely starts with the letters.
  f.types = {"key"};
  f.prefix.clear();
  event_record odd;
  odd.type = "keyboard";
  EXPECT_FALSE(f.matches(odd));
}

TEST(EventLog, ReadStopsAtMaxAndReportsHowFarItGot) {
  event_log log{16, [] { return int64_t{0}; }};
  for (int i = 0; i < 6; ++i)
    log.append(event_types::key_put, "k", json::object());
  auto b = log.read(0, {}, 2);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.last_index, 2u);
  b = log.read(b.last_index, {}, 2);
  EXPECT_EQ(b.events.front().index, 3u);
}

TEST(EventLog, ParsesTypeLists) {
  std::vector<std::string> t;
  EXPECT_EQ(parse_event_types("", t), "");
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(parse_event_types("member,key-put,user,query,*", t), "");
  EXPECT_EQ(t.size(), 5u);
  EXPECT_NE(parse_event_types("member,bogus", t), "");
  EXPECT_NE(parse_event_types("member,", t), "");
  EXPECT_NE(parse_event_types("memb", t), "");
  std::string many;
  for (int i = 0; i < 40; ++i)
    many += "user,";
  many += "user";
  EXPECT_NE(parse_event_types(many, t), "");
}

TEST(EventLog, JsonCarriesPayloadButNotOverTheFixedFields) {
  event_log log{4, [] { return int64_t{7}; }};
  log.append(event_types::key_put, "k",
             json{{"key", "k"}, {"size", 3}, {"index", 999}});
  auto j = to_json(log.read(0, {}, 1).events.at(0));
  EXPECT_EQ(j["index"], 1);
  EXPECT_EQ(j["type"], "key-put");
  EXPECT_EQ(j["time"], 7);
  EXPECT_EQ(j["size"], 3);
  EXPECT_EQ(j["subject"], "k");
  // A non-object payload is kept under "payload".
  log.append(event_types::user, "u", json("raw"));
  auto u = to_json(log.read(1, {}, 1).events.at(0));
  EXPECT_EQ(u["payload"], "raw");
}

TEST(EventLog, LongSubjectsAreCut) {
  event_log log{4, [] { return int64_t{0}; }};
  log.append(event_types::key_put, std::string(5000, 'x'), json::object());
  EXPECT_EQ(log.read(0, {}, 1).events.at(0).subject.size(),
            event_log::max_subject_bytes);
}

TEST(EventLog, ListenersSeeEveryEventInOrderAndCanBeRemoved) {
  event_log log{2, [] { return int64_t{0}; }};
  std::vector<uint64_t> seen;
  auto id = log.add_listener(
    [&](const event_record& ev) { seen.push_back(ev.index); });
  for (int i = 0; i < 5; ++i)
    log.append(event_types::key_put, "k", json::object());
  log.remove_listener(id);
  log.append(event_types::key_put, "k", json::object());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

TEST(EventLog, WaitReturnsWhenAnEventArrivesOrTimesOut) {
  event_log log{4, [] { return int64_t{0}; }};
  EXPECT_FALSE(log.wait(0, std::chrono::milliseconds{0}));
  log.append(event_types::key_put, "k", json::object());
  EXPECT_TRUE(log.wait(0, std::chrono::milliseconds{0}));
  EXPECT_FALSE(log.wait(1, std::chrono::milliseconds{0}));
  std::thread producer{
    [&] { log.append(event_types::key_put, "k", json::object()); }};
  EXPECT_TRUE(log.wait(1, std::chrono::seconds{30}));
  producer.join();
}

TEST(EventLog, ConcurrentAppendsGetDistinctConsecutiveIndexes) {
  event_log log{100000, [] { return int64_t{0}; }};
  std::vector<uint64_t> seen;
  log.add_listener([&](const event_record& ev) { seen.push_back(ev.index); });
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        log.append(event_types::key_put, "k", json::object());
    });
  for (auto& t : ts)
    t.join();
  ASSERT_EQ(seen.size(), 4000u);
  for (size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], i + 1);
}

} // namespace
} // namespace pekonode::node
