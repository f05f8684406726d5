// Registration of pekonode's types and error categories, the one mapping of
// every layer's error codes to admin result codes, and the facade on a real
// UDP node: typed errors end to end and watches that wait on pushed changes.

#include "node/node.h"

#include <gtest/gtest.h>

#include "node/exposition_lint.h"
#include "node/version.h"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "node/init.h"

namespace pekonode::node {
namespace {

using namespace std::chrono_literals;

TEST(Init, RegistersEveryBlockAndErrorCategory) {
  caf::actor_system_config plain_cfg;
  compat::set_worker_threads(plain_cfg, 1);
  caf::actor_system plain{plain_cfg};
  EXPECT_FALSE(pekonode::initialized(plain));

  caf::actor_system_config cfg;
  pekonode::init(cfg);
  compat::set_worker_threads(cfg, 1);
  caf::actor_system sys{cfg};
  EXPECT_TRUE(pekonode::initialized(sys));
  for (auto name : {"pekonode::outbound", "pekonode::transport::inbound",
                    "pekonode::membership::member",
                    "pekonode::metadata::kv_change", "pekonode::node::ec"})
    EXPECT_TRUE(compat::has_message_type(sys, name)) << name;
  EXPECT_EQ(sys.render(caf::make_error(metadata::ec::not_found,
                                       std::string{"k"})),
            "metadata: not_found (key 'k')");
  EXPECT_EQ(sys.render(caf::make_error(membership::ec::not_running)),
            "membership: not_running");
  EXPECT_EQ(sys.render(transport::make_error(transport::ec::io_error, "boom")),
            "transport: io_error (boom)");
  EXPECT_EQ(sys.render(caf::make_error(ec::stopped)), "node: stopped");
  // The blocks form one dense chain after CAF's reserved IDs.
  EXPECT_EQ(caf::id_block::pekonode_membership::begin,
            caf::id_block::pekonode_transport::end);
  EXPECT_EQ(caf::id_block::pekonode_metadata::begin,
            caf::id_block::pekonode_membership::end);
  EXPECT_EQ(caf::id_block::pekonode_userevents::begin,
            caf::id_block::pekonode_metadata::end);
  EXPECT_EQ(caf::id_block::pekonode_node::begin,
            caf::id_block::pekonode_userevents::end);
  EXPECT_EQ(sys.render(caf::make_error(userevents::ec::rate_limited)),
            "userevents: rate_limited");
}

// Every code of every layer maps to an admin result code by category and
// value alone.
TEST(ResultCodes, EachLayersCodesMapWithoutText) {
  struct row {
    caf::error err;
    result_code want;
  };
  const row rows[] = {
    {caf::make_error(metadata::ec::not_found), result_code::not_found},
    {caf::make_error(metadata::ec::value_too_large, std::string{"k"},
                     uint64_t{9}, uint64_t{1}),
     result_code::invalid},
    {caf::make_error(metadata::ec::key_too_large), result_code::invalid},
    {caf::make_error(metadata::ec::empty_key), result_code::invalid},
    {caf::make_error(metadata::ec::store_full), result_code::invalid},
    {caf::make_error(membership::ec::bad_tag), result_code::invalid},
    {caf::make_error(membership::ec::tags_too_large), result_code::invalid},
    {caf::make_error(membership::ec::not_running), result_code::invalid},
    {caf::make_error(membership::ec::bad_config), result_code::unavailable},
    {transport::make_error(transport::ec::bad_address, "x"),
     result_code::invalid},
    {transport::make_error(transport::ec::io_error, "x"),
     result_code::unavailable},
    {caf::make_error(ec::bad_config), result_code::invalid},
    {caf::make_error(ec::not_answering), result_code::unavailable},
    {caf::make_error(ec::stopped), result_code::unavailable},
    {caf::make_error(caf::sec::request_timeout), result_code::unavailable},
    {caf::make_error(caf::sec::request_receiver_down),
     result_code::unavailable},
    {caf::make_error(userevents::ec::rate_limited), result_code::rate_limited},
    {caf::make_error(userevents::ec::too_many_queries),
     result_code::rate_limited},
    {caf::make_error(userevents::ec::too_large), result_code::too_large},
    {caf::make_error(userevents::ec::bad_filter, std::string{"x"}),
     result_code::invalid},
    {caf::make_error(userevents::ec::bad_name), result_code::invalid},
    {caf::make_error(userevents::ec::bad_timeout), result_code::invalid},
    {caf::make_error(userevents::ec::not_running), result_code::unavailable},
    {caf::error{}, result_code::ok},
  };
  for (auto& r : rows)
    EXPECT_EQ(result_code_of(r.err), r.want) << caf::to_string(r.err);
  // A metadata not_found whose text looks like anything else still maps by
  // code (and a misleading text in another category does not match it).
  EXPECT_EQ(result_code_of(caf::make_error(metadata::ec::not_found,
                                           std::string{"value_too_large"})),
            result_code::not_found);
  EXPECT_EQ(result_code_of(transport::make_error(transport::ec::io_error,
                                                 "not_found")),
            result_code::unavailable);
  EXPECT_EQ(describe(caf::make_error(caf::sec::request_timeout)),
            "node did not answer in time");
}

class Facade : public testing::Test {
protected:
  Facade() : sys_(config()) {
    node_config nc;
    nc.name = "solo";
    nc.membership = membership::config::local();
    nc.metadata = metadata::config::local();
    auto started = start_udp_node(sys_, nc);
    EXPECT_TRUE(started) << describe(started.error());
    if (started)
      node_ = *started;
    api_ = std::make_unique<facade>(sys_, node_, "solo", 5s);
  }

  ~Facade() override {
    caf::anon_send_exit(node_.membership, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg = [] {
      caf::actor_system_config c;
      pekonode::init(c);
      compat::set_worker_threads(c, 2);
      compat::quiet_caf_logger(c);
      return c;
    }();
    return cfg;
  }

  caf::actor_system sys_;
  node_handle node_;
  std::unique_ptr<facade> api_;
};

TEST_F(Facade, ErrorsReachTheAdminCodesTyped) {
  std::string value;
  auto r = api_->kv_get("absent", value);
  EXPECT_EQ(r.code, result_code::not_found);
  EXPECT_EQ(api_->kv_del("absent").code, result_code::not_found);
  auto big = api_->kv_put(
    "big", std::string(metadata::config::local().limits.max_value_bytes + 1,
                       'x'));
  EXPECT_EQ(big.code, result_code::invalid);
  EXPECT_NE(big.detail.find("value_too_large"), std::string::npos)
    << big.detail;
  EXPECT_EQ(api_->set_tags({{"", "x"}}).code, result_code::invalid);
  auto put = api_->kv_put("k", "v");
  ASSERT_TRUE(put.ok()) << put.detail;
  EXPECT_NE(put.detail.find("@solo"), std::string::npos) << put.detail;
  ASSERT_TRUE(api_->kv_get("k", value).ok());
  EXPECT_EQ(value, "v");
}

// A watch with nothing new waits on the subscription and returns as soon as
// a change is pushed; with nothing pushed it honours its timeout. The
// metadata actor here is a stand-in that counts the log reads: a watch reads
// the log once and never polls.
TEST(FacadeWatch, WaitsOnPushedChangesWithoutPolling) {
  caf::actor_system_config cfg;
  pekonode::init(cfg);
  compat::set_worker_threads(cfg, 2);
  caf::actor_system sys{cfg};
  struct probe {
    std::atomic<int> log_reads{0};
    std::promise<metadata::key_listener_actor> subscribed;
  };
  auto p = std::make_shared<probe>();
  auto fake = sys.spawn([p](caf::event_based_actor*) -> caf::behavior {
    return {
      [p](metadata::md_sub_atom, metadata::key_listener_actor who) {
        p->subscribed.set_value(who);
      },
      [p](metadata::md_changes_atom, uint64_t) {
        ++p->log_reads;
        return metadata::change_batch{{}, 5};
      },
    };
  });
  node_handle h;
  h.metadata = caf::actor_cast<metadata::metadata_actor>(fake);
  facade api{sys, h, "fake", 5s};

  watch_batch quiet;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(api.kv_watch(5, 300ms, quiet).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_TRUE(quiet.events.empty());
  EXPECT_EQ(quiet.last_index, 5u);
  EXPECT_EQ(p->log_reads.load(), 1);

  p->subscribed = {};
  auto listener = p->subscribed.get_future();
  watch_batch got;
  std::thread watcher([&] { api.kv_watch(5, 30s, got); });
  // Push a change once the watch has subscribed (no timing assumption).
  auto who = listener.get();
  metadata::kv_change c;
  c.index = 6;
  c.key = "pushed";
  c.ver.origin = "elsewhere";
  t0 = std::chrono::steady_clock::now();
  caf::anon_send(who, metadata::md_event_atom_v, c);
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].key, "pushed");
  EXPECT_EQ(got.events[0].version, "0.0@elsewhere");
  EXPECT_EQ(got.last_index, 6u);
  EXPECT_EQ(p->log_reads.load(), 2) << "one log read per watch: no polling";
  caf::anon_send_exit(fake, caf::exit_reason::user_shutdown);
}

// On a real node: a write is seen by a watch from the index before it.
TEST_F(Facade, WatchSeesAWrite) {
  watch_batch head;
  ASSERT_TRUE(api_->kv_watch(UINT64_MAX, duration::zero(), head).ok());
  ASSERT_TRUE(api_->kv_put("w", "1").ok());
  watch_batch got;
  ASSERT_TRUE(api_->kv_watch(head.last_index, 5s, got).ok());
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].key, "w");
  EXPECT_EQ(got.events[0].index, head.last_index + 1);
}

TEST_F(Facade, AStoppedNodeIsUnavailable) {
  caf::scoped_actor self{sys_};
  self->monitor(node_.metadata);
  caf::anon_send(node_.transport, transport::tx_close_atom_v);
  self->receive([](const caf::down_msg&) {}, caf::after(5s) >> [] {});
  std::vector<member_view> ms;
  EXPECT_EQ(api_->members(ms).code, result_code::unavailable);
  watch_batch w;
  EXPECT_EQ(api_->kv_watch(0, 1s, w).code, result_code::unavailable);
}

// /metrics of a real node: the gauges (members by state, keys and
// tombstones, store bytes, queues, build, process) are there with their
// values, and the whole text follows the exposition rules.
TEST_F(Facade, MetricsHaveGaugesAndFollowTheFormat) {
  ASSERT_TRUE(api_->kv_put("a", "12345").ok());
  ASSERT_TRUE(api_->kv_put("b", "x").ok());
  ASSERT_TRUE(api_->kv_del("b").ok());
  std::string text;
  ASSERT_TRUE(api_->metrics(text).ok());
  auto problems = exposition::lint_exposition(text);
  for (auto& p : problems)
    ADD_FAILURE() << p;
  for (auto* want : {
         "pekonode_members{state=\"alive\"} 1\n",
         "pekonode_members{state=\"dead\"} 0\n",
         "pekonode_members{state=\"suspect\"} 0\n",
         "pekonode_members{state=\"left\"} 0\n",
         "pekonode_metadata_keys{kind=\"live\"} 1\n",
         "pekonode_metadata_keys{kind=\"tombstone\"} 1\n",
         "pekonode_metadata_pending_transfers 0\n",
         "pekonode_queue_depth{queue=\"membership_broadcast\"} ",
         "pekonode_queue_depth{queue=\"metadata_rumours\"} ",
         "pekonode_queue_depth{queue=\"metadata_bulk\"} ",
         "pekonode_queue_depth{queue=\"transport_inbound\"} ",
         "pekonode_build_info{version=\"" PEKONODE_VERSION "\"} 1\n",
         "# TYPE process_cpu_seconds_total counter\n",
         "process_resident_memory_bytes ",
         "process_open_fds ",
         "process_max_fds ",
         "process_start_time_seconds ",
       })
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  // Store bytes: keys + values + origins + 64 per entry (tombstone included).
  auto at = text.find("\npekonode_metadata_store_bytes ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(std::stoul(text.substr(at + 31)), (1 + 5 + 4 + 64) + (1 + 0 + 4 + 64));
}

} // namespace
} // namespace pekonode::node
