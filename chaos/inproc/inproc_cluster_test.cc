// Five real nodes on loopback UDP in one process (local profile). Waits are
// condition-based with generous deadlines; no fixed sleeps.

#include "chaos/inproc/inproc_cluster.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace pekonode::chaos::inproc {
namespace {

using membership::member_state;
using std::chrono::seconds;

constexpr size_t n_nodes = 5;

// Datagrams node `i` of `c` dropped for `reason`, polled until there is
// one or `timeout` passes (0 while its transport does not answer).
uint64_t wait_for_drops(cluster& c, size_t i, const std::string& reason,
                        std::chrono::steady_clock::duration timeout) {
  auto count = [&] {
    auto s = c.tx_stats(i);
    if (s)
      for (auto& [r, n] : s->drops)
        if (r == reason)
          return n;
    return uint64_t{0};
  };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto n = count();
  while (n == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    n = count();
  }
  return n;
}

class InprocCluster : public ::testing::Test {
protected:
  static caf::actor_system_config& sys_config() {
    static caf::actor_system_config cfg = [] {
      caf::actor_system_config c;
      configure_system(c, 2);
      return c;
    }();
    return cfg;
  }

  InprocCluster() : sys_(sys_config()) {
    cluster_config cfg;
    cfg.nodes = n_nodes;
    cfg.seed = 42;
    EXPECT_TRUE(cfg.set_profile("local"));
    cluster_ = std::make_unique<cluster>(sys_, cfg);
  }

  ~InprocCluster() override {
    cluster_.reset(); // stops the nodes before the system goes away
  }

  void start_and_converge() {
    ASSERT_FALSE(cluster_->start());
    auto res = cluster_->wait_all_alive(n_nodes, seconds(10));
    ASSERT_TRUE(res.ok) << res.last.times.size() << " of "
                        << res.last.observers << " nodes see all alive";
  }

  caf::actor_system sys_;
  std::unique_ptr<cluster> cluster_;
};

TEST_F(InprocCluster, AllNodesSeeEachOtherAliveOnRealSockets) {
  start_and_converge();
  // The event-built views agree with what the nodes themselves report.
  for (size_t i = 0; i < n_nodes; ++i) {
    auto ms = cluster_->members(i);
    ASSERT_TRUE(ms) << caf::to_string(ms.error());
    ASSERT_EQ(ms->size(), n_nodes) << "node " << i;
    for (auto& m : *ms) {
      EXPECT_EQ(m.state, member_state::alive) << m.name << " at node " << i;
      EXPECT_NE(m.addr.str().find("127.0.0.1:"), std::string::npos);
    }
  }
  auto stats = cluster_->tx_stats(1);
  ASSERT_TRUE(stats);
  EXPECT_GT(stats->datagrams_in, 0u);
  EXPECT_GT(stats->bytes_out, 0u);
  cluster_->stop(0);
  auto all = cluster_->tx_stats_all(seconds(5));
  ASSERT_EQ(all.size(), n_nodes);
  EXPECT_FALSE(all[0].has_value()); // stopped: not asked
  for (size_t i = 1; i < n_nodes; ++i) {
    ASSERT_TRUE(all[i].has_value()) << "node " << i;
    EXPECT_GT(all[i]->datagrams_out, 0u);
  }
}

TEST_F(InprocCluster, CrashedNodeIsSeenDeadByEveryOther) {
  start_and_converge();
  auto t0 = cluster_->crash(3);
  EXPECT_FALSE(cluster_->running(3));
  auto res = cluster_->wait_seen_as(3, {member_state::dead}, seconds(20));
  ASSERT_TRUE(res.ok) << res.last.times.size() << " of "
                      << res.last.observers << " see node-3 dead";
  EXPECT_EQ(res.last.observers, n_nodes - 1);
  auto lat = res.last.latencies(t0);
  // Local profile: probe 200 ms, suspicion a few seconds at most.
  EXPECT_LT(lat.back(), seconds(15));
  auto ms = cluster_->members(0);
  ASSERT_TRUE(ms);
  auto it = std::find_if(ms->begin(), ms->end(), [](const membership::member& m) {
    return m.name == "node-3";
  });
  ASSERT_NE(it, ms->end());
  EXPECT_EQ(it->state, member_state::dead);
}

TEST_F(InprocCluster, PutOnOneNodeReachesEveryNode) {
  start_and_converge();
  auto version = cluster_->put(1, "config/answer", "42");
  ASSERT_TRUE(version) << caf::to_string(version.error());
  auto res = cluster_->wait_key("config/answer", *version, seconds(10));
  ASSERT_TRUE(res.ok) << res.last.times.size() << " of "
                      << res.last.observers << " hold the key";
  for (size_t i = 0; i < n_nodes; ++i) {
    auto v = cluster_->get(i, "config/answer");
    ASSERT_TRUE(v);
    ASSERT_EQ(v->size(), 1u) << "node " << i;
    EXPECT_EQ(v->front(), "42");
  }
}

TEST_F(InprocCluster, LeaveIsSeenAsLeftAndRestartRejoins) {
  start_and_converge();
  auto t0 = cluster_->leave(2);
  ASSERT_TRUE(t0);
  auto left = cluster_->wait_seen_as(2, {member_state::left}, seconds(10));
  ASSERT_TRUE(left.ok) << left.last.times.size() << " of "
                       << left.last.observers << " see node-2 left";
  cluster_->stop(2);
  auto old_addr = cluster_->addr(2);
  ASSERT_FALSE(cluster_->restart(2));
  EXPECT_NE(cluster_->addr(2), old_addr); // a fresh port
  auto back = cluster_->wait_all_alive(n_nodes, seconds(15));
  ASSERT_TRUE(back.ok) << back.last.times.size() << " of "
                       << back.last.observers << " see all alive again";
}

TEST_F(InprocCluster, InjectedDropsAreCountedByTheTransport) {
  start_and_converge();
  ASSERT_FALSE(cluster_->set_faults(4, 1.0));
  // Probes and gossip keep arriving at node 4; all of them are now dropped.
  EXPECT_GT(wait_for_drops(*cluster_, 4, "fault_injected", seconds(5)), 0u);
  ASSERT_FALSE(cluster_->set_faults(4, 0.0));
}

// The kernel gives a closed port out again at once. A crashed node's peers
// keep writing to its port (dead-member probes, reconnects), so a node of
// another cluster that binds it next receives their datagrams. Clusters in
// one process (or in two benchmark processes) reuse the same node names:
// unlabelled, the newcomer's cluster merged with the old one under those
// names (address conflicts, refutations, pages of foreign members), which
// inflated the traffic and join figures of whichever run came second. Each
// cluster now has its own label, so the foreign datagrams are dropped and
// counted.
TEST_F(InprocCluster, ClusterOnAReusedPortDoesNotMergeWithItsOldPeers) {
  start_and_converge();
  auto old_addr = cluster_->addr(3);
  auto port = static_cast<uint16_t>(
    std::stoul(old_addr.substr(old_addr.rfind(':') + 1)));
  cluster_->crash(3);
  auto dead = cluster_->wait_seen_as(3, {member_state::dead}, seconds(20));
  ASSERT_TRUE(dead.ok);
  // A second cluster under the same names whose node-3 takes the old port
  // (retried while the crashed socket closes).
  cluster_config cfg;
  cfg.nodes = n_nodes;
  cfg.seed = 43;
  EXPECT_TRUE(cfg.set_profile("local"));
  cfg.ports.assign(n_nodes, 0);
  cfg.ports[3] = port;
  std::unique_ptr<cluster> second;
  caf::error err;
  for (int attempt = 0; attempt < 50; ++attempt) {
    second = std::make_unique<cluster>(sys_, cfg);
    err = second->start();
    if (!err)
      break;
    second.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(err) << caf::to_string(err);
  ASSERT_EQ(second->addr(3), old_addr);
  EXPECT_NE(second->label(), cluster_->label());
  auto res = second->wait_all_alive(n_nodes, seconds(10));
  ASSERT_TRUE(res.ok);
  // The first cluster keeps probing its dead node-3 at that port (local
  // profile: every 500 ms): those datagrams are refused by label.
  EXPECT_GT(wait_for_drops(*second, 3, "wrong_label", seconds(10)), 0u);
  std::this_thread::sleep_for(seconds(1));
  // Neither cluster holds a member at an address of the other.
  std::vector<address> first_addrs, second_addrs;
  for (size_t i = 0; i < n_nodes; ++i) {
    second_addrs.push_back(second->addr(i));
    if (i != 3)
      first_addrs.push_back(cluster_->addr(i));
  }
  auto holds_any = [](const std::vector<membership::member>& ms,
                      const std::vector<address>& addrs) {
    for (auto& m : ms)
      if (std::find(addrs.begin(), addrs.end(), std::string(m.addr.str()))
          != addrs.end())
        return m.name + " at " + std::string(m.addr.str());
    return std::string{};
  };
  // Nor does any node see its name claimed from another address (the two
  // node-4s of a merged pair would refute each other for as long as both
  // run).
  uint64_t conflicts = 0;
  for (auto* c : {cluster_.get(), second.get()})
    for (auto& st : c->m_stats_all(seconds(5)))
      if (st)
        conflicts += st->name_conflicts;
  EXPECT_EQ(conflicts, 0u);
  for (size_t i = 0; i < n_nodes; ++i) {
    auto ms = second->members(i);
    ASSERT_TRUE(ms);
    EXPECT_EQ(ms->size(), n_nodes) << "second cluster, node " << i;
    EXPECT_EQ(holds_any(*ms, first_addrs), "") << "second cluster, node " << i;
    if (i == 3)
      continue;
    auto old = cluster_->members(i);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->size(), n_nodes) << "first cluster, node " << i;
    auto others = second_addrs;
    others.erase(others.begin() + 3); // node-3's old port, held dead
    EXPECT_EQ(holds_any(*old, others), "") << "first cluster, node " << i;
  }
  second.reset();
}

} // namespace
} // namespace pekonode::chaos::inproc
