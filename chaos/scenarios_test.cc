// Every chaos scenario at CI size over several seeds must PASS on both
// engines (the bare cores and every node's real actors), and the checkers
// must report FAIL when the protocol is deliberately crippled.
#include <glog/logging.h>
#include <gtest/gtest.h>

#include <iostream>

#include "chaos/scenario.h"

namespace pekonode::chaos {
namespace {

// The actors log member joins at INFO; keep the test log readable.
const bool quiet_logs = [] {
  FLAGS_minloglevel = 1;
  return true;
}();

class Scenarios : public testing::TestWithParam<engine> {
protected:
  report run(const std::string& name, std::size_t nodes, uint64_t seed,
             const node_config& cfg = {}) {
    auto* sc = find_scenario(name);
    EXPECT_NE(sc, nullptr) << name;
    if (sc == nullptr) return {};
    run_options opts;
    opts.kind = GetParam();
    opts.nodes = nodes;
    opts.seed = seed;
    opts.cfg = cfg;
    std::vector<std::string> timeline;
    auto r = run_scenario(*sc, opts, &timeline);
    std::cout << "scenario " << name << " seed " << seed << " nodes " << nodes
              << " engine " << to_string(opts.kind) << "\n";
    if (!r.pass())
      for (auto& line : timeline) std::cout << "  " << line << "\n";
    std::cout << format_table({r});
    return r;
  }

  void expect_pass(const std::string& name, std::size_t nodes,
                   std::initializer_list<uint64_t> seeds) {
    for (auto seed : seeds) {
      auto r = run(name, nodes, seed);
      EXPECT_TRUE(r.pass()) << name << " seed " << seed << ": "
                            << (r.reasons().empty() ? "" : r.reasons().front());
      EXPECT_EQ(r.incarnation_regressions, 0u) << name << " seed " << seed;
    }
  }
};

TEST(ScenarioRegistry, HasTheRequiredScenarios) {
  for (auto* n : {"steady_state", "join_storm", "crash", "graceful_leave",
                  "loss_10", "loss_10_delay_50", "loss_30", "asymmetric_partition",
                  "partition_2way_heal", "partition_3way_heal",
                  "flapping_link", "cpu_stall", "mass_restart",
                  "concurrent_writers", "burst_loss", "flapping_node"})
    EXPECT_NE(find_scenario(n), nullptr) << n;
}

TEST_P(Scenarios, SameSeedSameReport) {
  run_options opts;
  opts.kind = GetParam();
  opts.nodes = 8;
  opts.seed = 42;
  std::vector<std::string> ta, tb;
  auto a = run_scenario(*find_scenario("crash"), opts, &ta);
  auto b = run_scenario(*find_scenario("crash"), opts, &tb);
  EXPECT_EQ(a.mem_converge_s, b.mem_converge_s);
  EXPECT_EQ(a.mem_bytes_per_node_s, b.mem_bytes_per_node_s);
  EXPECT_EQ(a.md_bytes_per_node_s, b.md_bytes_per_node_s);
  EXPECT_EQ(a.curve.size(), b.curve.size());
  EXPECT_EQ(ta, tb);
}

// CI sizes: 20 nodes (join_storm 30, partition_3way_heal 21, mass_restart
// and concurrent_writers 16), 3 seeds, a few simulated minutes each.
constexpr std::size_t ci_nodes = 20;

TEST_P(Scenarios, SteadyState) { expect_pass("steady_state", ci_nodes, {1, 2, 3}); }
TEST_P(Scenarios, JoinStorm) { expect_pass("join_storm", 30, {1, 2, 3}); }
TEST_P(Scenarios, Crash) { expect_pass("crash", ci_nodes, {1, 2, 3}); }
TEST_P(Scenarios, GracefulLeave) {
  expect_pass("graceful_leave", ci_nodes, {1, 2, 3});
}
TEST_P(Scenarios, Loss10) { expect_pass("loss_10", ci_nodes, {1, 2, 3}); }
TEST_P(Scenarios, Loss30) { expect_pass("loss_30", ci_nodes, {1, 2, 3}); }
TEST_P(Scenarios, BurstLoss) { expect_pass("burst_loss", ci_nodes, {1, 2, 3}); }
TEST_P(Scenarios, AsymmetricPartition) {
  expect_pass("asymmetric_partition", ci_nodes, {1, 2, 3});
}
TEST_P(Scenarios, Partition2WayHeal) {
  expect_pass("partition_2way_heal", ci_nodes, {1, 2, 3});
}
TEST_P(Scenarios, Partition3WayHeal) {
  expect_pass("partition_3way_heal", 21, {1, 2, 3});
}
TEST_P(Scenarios, FlappingLink) {
  expect_pass("flapping_link", ci_nodes, {1, 2, 3});
}
TEST_P(Scenarios, FlappingNode) {
  expect_pass("flapping_node", ci_nodes, {1, 2, 3});
}
TEST_P(Scenarios, CpuStall) { expect_pass("cpu_stall", ci_nodes, {1, 2, 3}); }
TEST_P(Scenarios, MassRestart) { expect_pass("mass_restart", 16, {1, 2, 3}); }
TEST_P(Scenarios, ConcurrentWriters) {
  expect_pass("concurrent_writers", 16, {1, 2, 3});
}

// Broken on purpose: no reconnects and no dead-member probes, so after a partition that outlives
// gossip_to_dead neither side ever contacts the other again (anti-entropy
// only talks to live members). The membership checker must say FAIL.
TEST_P(Scenarios, BrokenPartitionWithoutReconnectNeverHeals) {
  node_config cfg;
  cfg.membership.reconnect_interval = std::chrono::hours(100);
  cfg.membership.dead_probe_interval = {};
  auto r = run("partition_2way_heal", 12, 1, cfg);
  EXPECT_FALSE(r.pass());
  EXPECT_FALSE(r.mem_final_ok);
  EXPECT_FALSE(r.mem_converge_s.has_value());
}

// Broken on purpose: metadata anti-entropy effectively off; rumours that
// die in the partition or in 10% loss are never repaired. The metadata
// checker must report divergence.
TEST_P(Scenarios, BrokenWritersWithoutAntiEntropyDiverge) {
  node_config cfg;
  cfg.metadata.ae_interval = std::chrono::hours(100);
  cfg.metadata.retransmit_mult = 1;
  auto r = run("concurrent_writers", 12, 1, cfg);
  EXPECT_FALSE(r.pass());
  EXPECT_FALSE(r.md_final_ok);
}

// Broken on purpose: with no indirect probes, no direct retry, no Lifeguard,
// no refutation help, no suspicion checks and a one-round suspicion timeout
// that ignores loss, 30% loss makes SWIM kill healthy nodes, which loss_30
// does not allow: the safety checker must FAIL it.
TEST_P(Scenarios, BrokenHairTriggerSuspicionCountsFalsePositives) {
  node_config cfg;
  cfg.membership.indirect_checks = 0;
  cfg.membership.awareness_max = 1;
  cfg.membership.suspicion_mult = 1;
  cfg.membership.suspicion_max_timeout_mult = 1;
  cfg.membership.refute_assist = false;
  cfg.membership.probe_retry = false;
  cfg.membership.suspicion_checks = false;
  cfg.membership.loss_aware_suspicion = false;
  auto r = run("loss_30", 12, 1, cfg);
  EXPECT_GT(r.false_positives, 12u / 5);
  EXPECT_FALSE(r.pass());
}

INSTANTIATE_TEST_SUITE_P(Engines, Scenarios,
                         testing::Values(engine::cores, engine::actors),
                         [](const testing::TestParamInfo<engine>& info) {
                           return std::string{to_string(info.param)};
                         });

} // namespace
} // namespace pekonode::chaos
