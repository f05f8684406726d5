// Whole nodes — the real membership and metadata actors — on simulated
// transports under CAF's deterministic test scheduler, in virtual time.

#include "node/node.h"

#include <gtest/gtest.h>

#include <memory>

#include "transport/sim_transport.h"

namespace pekonode::node {
namespace {

using namespace std::chrono_literals;

class NodeSim : public testing::Test {
protected:
  NodeSim() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  }

  ~NodeSim() override {
    for (size_t i = 0; i < nodes_.size(); ++i)
      crash(i);
    caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  void start(size_t n, uint64_t seed) {
    std::cout << "seed " << seed << std::endl;
    transport::sim_hub_config hc;
    hc.seed = seed;
    hc.delay_min = 1ms;
    hc.delay_max = 5ms;
    hub_ = transport::make_sim_hub(*sys_, hc);
    for (size_t i = 0; i < n; ++i) {
      auto addr = "127.0.1." + std::to_string(i + 1) + ":7946";
      node_config cfg;
      cfg.name = "n" + std::to_string(i);
      cfg.membership = membership::config::local();
      cfg.metadata = metadata::config::local();
      cfg.seed = seed * 1000 + i + 1;
      if (i > 0)
        cfg.seeds = {"127.0.1.1:7946"};
      auto tx = transport::make_sim_transport(*sys_, hub_, addr, cfg.name);
      nodes_.push_back(spawn_node(*sys_, cfg, tx, addr));
    }
    sched_->run();
  }

  /// Advances virtual time in 5 ms steps, running every due message.
  void run_for(duration d) {
    for (duration t{}; t < d; t += 5ms) {
      sched_->advance_time(5ms);
      sched_->run();
    }
  }

  template <class T, class... Ts>
  T ask(caf::actor dest, Ts... xs) {
    auto out = std::make_shared<T>();
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...).then([=](T& x) { *out = x; });
    });
    sched_->run();
    return *out;
  }

  std::string state_of(size_t observer, const std::string& name) {
    auto ms = ask<std::vector<membership::member>>(
      nodes_[observer].membership, membership::m_members_atom::value);
    for (auto& m : ms)
      if (m.name == name)
        return membership::to_string(m.state);
    return "absent";
  }

  void crash(size_t i) {
    auto& n = nodes_[i];
    caf::anon_send_exit(n.membership, caf::exit_reason::kill);
    caf::anon_send_exit(n.metadata, caf::exit_reason::kill);
    caf::anon_send_exit(n.transport, caf::exit_reason::kill);
    sched_->run();
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  caf::actor hub_;
  std::vector<node_handle> nodes_;
};

TEST_F(NodeSim, ActorsJoinDetectCrashAndSpreadKeys) {
  start(5, 42);
  run_for(2s);
  for (size_t i = 0; i < 5; ++i)
    for (size_t j = 0; j < 5; ++j)
      EXPECT_EQ(state_of(i, "n" + std::to_string(j)), "alive")
        << "n" << i << " about n" << j;

  auto ver = ask<std::string>(nodes_[2].metadata, metadata::md_put_atom::value,
                              std::string{"cfg/x"}, std::string{"42"});
  EXPECT_NE(ver.find("@n2"), std::string::npos) << ver;
  run_for(500ms);
  for (size_t i = 0; i < 5; ++i) {
    auto v = ask<std::vector<std::string>>(
      nodes_[i].metadata, metadata::md_get_atom::value, std::string{"cfg/x"});
    ASSERT_EQ(v.size(), 1u) << "n" << i;
    EXPECT_EQ(v[0], "42");
  }

  crash(4);
  run_for(10s);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(state_of(i, "n4"), "dead") << "n" << i;
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 4; ++j)
      EXPECT_EQ(state_of(i, "n" + std::to_string(j)), "alive");
}

TEST_F(NodeSim, GracefulLeaveSeenAsLeft) {
  start(4, 7);
  run_for(2s);
  ask<bool>(nodes_[3].membership, membership::m_leave_atom::value);
  run_for(500ms);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(state_of(i, "n3"), "left") << "n" << i;
}

// Subscribers rebuild the member table from events, so the node's own
// changes are announced too: new tags as `updated`, a leave as `left`, a
// rejoin as `alive`; a refutation alone (incarnation only) is not.
TEST_F(NodeSim, SubscribersSeeTheNodesOwnChanges) {
  start(3, 11);
  run_for(2s);
  auto seen = std::make_shared<std::vector<membership::event>>();
  auto watcher = sys_->spawn([seen](caf::event_based_actor*) -> caf::behavior {
    return {[seen](membership::m_event_atom, const membership::event& e) {
      seen->push_back(e);
    }};
  });
  caf::anon_send(nodes_[1].membership, membership::m_sub_atom::value, watcher);
  sched_->run();
  ASSERT_EQ(seen->size(), 3u) << "snapshot: one joined event per member";
  seen->clear();
  auto self_events = [&] {
    std::vector<std::string> r;
    for (auto& e : *seen)
      if (e.m.name == "n1")
        r.push_back(std::string{membership::to_string(e.kind)} + ":"
                    + membership::to_string(e.m.state));
    seen->clear();
    return r;
  };
  EXPECT_TRUE(ask<bool>(nodes_[1].membership, membership::m_tags_atom::value,
                        std::map<std::string, std::string>{{"role", "db"}}));
  EXPECT_EQ(self_events(), std::vector<std::string>{"updated:alive"});
  EXPECT_TRUE(ask<bool>(nodes_[1].membership, membership::m_leave_atom::value));
  EXPECT_EQ(self_events(), std::vector<std::string>{"left:left"});
  run_for(2s);
  EXPECT_TRUE(ask<bool>(nodes_[1].membership, membership::m_rejoin_atom::value));
  EXPECT_EQ(self_events(), std::vector<std::string>{"alive:alive"});
  run_for(2s);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(state_of(i, "n1"), "alive") << "n" << i;
  caf::anon_send_exit(watcher, caf::exit_reason::kill);
}

} // namespace
} // namespace pekonode::node
