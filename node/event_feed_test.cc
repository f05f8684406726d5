// The event feed on a real UDP node: the log starts with the node's own
// member-join, and key writes, deletes and tag changes appear in order with
// their fields.

#include "node/event_feed.h"

#include <gtest/gtest.h>

#include <chrono>

#include "node/init.h"

namespace pekonode::node {
namespace {

using namespace std::chrono_literals;

TEST(EventFeed, MapsEveryMemberEventKind) {
  using k = membership::event;
  EXPECT_STREQ(event_type_of(k::joined), "member-join");
  EXPECT_STREQ(event_type_of(k::suspect), "member-suspect");
  EXPECT_STREQ(event_type_of(k::alive), "member-alive");
  EXPECT_STREQ(event_type_of(k::dead), "member-dead");
  EXPECT_STREQ(event_type_of(k::left), "member-left");
  EXPECT_STREQ(event_type_of(k::updated), "member-update");
  EXPECT_STREQ(event_type_of(k::name_conflict), "member-conflict");
  for (auto kind : {k::joined, k::suspect, k::alive, k::dead, k::left,
                    k::updated, k::name_conflict})
    EXPECT_TRUE(known_event_type(event_type_of(kind)));
}

/// Waits until the log holds an event of `type` on `subject` after index
/// `after`; returns it (index 0 if none came within 10 s).
event_record await_event(const event_log& log, uint64_t after,
                         const std::string& type, const std::string& subject) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  event_filter f;
  f.types = {type};
  f.prefix = subject;
  while (std::chrono::steady_clock::now() < deadline) {
    auto b = log.read(after, f, 1000);
    for (auto& ev : b.events)
      if (ev.subject == subject)
        return ev;
    log.wait(log.last_index(), 100ms);
  }
  return {};
}

TEST(EventFeed, RealNodeFeedsMembersKeysAndTags) {
  caf::actor_system_config cfg;
  pekonode::init(cfg);
  compat::set_worker_threads(cfg, 2);
  compat::quiet_caf_logger(cfg);
  caf::actor_system sys{cfg};
  event_log log{64};
  node_config nc;
  nc.name = "solo";
  nc.membership = membership::config::local();
  nc.metadata = metadata::config::local();
  nc.tags = {{"role", "a"}};
  auto started = start_udp_node(sys, nc);
  ASSERT_TRUE(started) << describe(started.error());
  attach_event_feed(sys, *started, log);
  facade api{sys, *started, "solo", 5s};

  auto join = await_event(log, 0, "member-join", "solo");
  ASSERT_NE(join.index, 0u);
  EXPECT_EQ(join.payload["state"], "alive");
  EXPECT_EQ(join.payload["tags"]["role"], "a");
  EXPECT_EQ(join.payload["addr"], started->advertise);

  ASSERT_TRUE(api.kv_put("cfg/x", "abc").ok());
  auto put = await_event(log, join.index, "key-put", "cfg/x");
  ASSERT_NE(put.index, 0u);
  EXPECT_EQ(put.payload["size"], 3);
  EXPECT_EQ(put.payload["origin"], "solo");
  EXPECT_EQ(put.payload["local"], true);
  EXPECT_FALSE(put.payload["version"].get<std::string>().empty());

  ASSERT_TRUE(api.kv_del("cfg/x").ok());
  auto del = await_event(log, put.index, "key-delete", "cfg/x");
  ASSERT_GT(del.index, put.index);
  EXPECT_EQ(del.payload["size"], 0);

  ASSERT_TRUE(api.set_tags({{"role", "b"}}).ok());
  auto upd = await_event(log, del.index, "member-update", "solo");
  ASSERT_GT(upd.index, del.index);
  EXPECT_EQ(upd.payload["tags"]["role"], "b");

  caf::anon_send_exit(started->membership, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace pekonode::node
