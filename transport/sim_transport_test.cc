#include "transport/sim_transport.h"

#include <gtest/gtest.h>

#include <iostream>
#include <memory>

namespace pekonode::transport {
namespace {

using namespace std::chrono_literals;

// N simulated transports on one hub, all under CAF's deterministic scheduler.
class SimNet : public testing::Test {
protected:
  SimNet() {
    compat::use_test_scheduler(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &compat::test_scheduler(*sys_);
  }

  ~SimNet() override {
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  void start(sim_hub_config hc, size_t n) {
    hub_ = make_sim_hub(*sys_, hc);
    for (size_t i = 0; i < n; ++i) {
      auto addr = "10.0.0." + std::to_string(i + 1) + ":7946";
      auto node = make_sim_transport(*sys_, hub_, addr, "n" + std::to_string(i));
      auto box = std::make_shared<std::vector<inbound>>();
      auto sink = spawn_sink(box);
      caf::anon_send(node, tx_sub_atom_v, channel::membership, sink);
      addrs_.push_back(addr);
      nodes_.push_back(node);
      boxes_.push_back(box);
      actors_.push_back(caf::actor_cast<caf::actor>(node));
      actors_.push_back(caf::actor_cast<caf::actor>(sink));
    }
    sched_->run();
  }

  inbound_sink_actor spawn_sink(std::shared_ptr<std::vector<inbound>> box) {
    return sys_->spawn([box]() -> inbound_sink_actor::behavior_type {
      return {[box](inbound& in) { box->push_back(std::move(in)); }};
    });
  }

  void send(size_t from, size_t to, std::string payload) {
    caf::anon_send(nodes_[from], tx_send_atom_v,
                   outbound_list{{addrs_[to], channel::membership, std::move(payload)}});
    sched_->run();
  }

  template <class T, class Handle, class... Ts>
  T ask(Handle dest, Ts... xs) {
    auto out = std::make_shared<T>();
    auto asker = sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...).then([=](T& x) { *out = x; });
    });
    sched_->run();
    return *out;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  sim_hub_actor hub_;
  std::vector<address> addrs_;
  std::vector<datagram_transport_actor> nodes_;
  std::vector<caf::actor> actors_;
  std::vector<std::shared_ptr<std::vector<inbound>>> boxes_;
};

TEST_F(SimNet, DeliversWithSenderAndSourceAddress) {
  start({}, 2);
  send(0, 1, "hello");
  ASSERT_EQ(boxes_[1]->size(), 1u);
  auto& in = boxes_[1]->front();
  EXPECT_EQ(in.payload, "hello");
  EXPECT_EQ(in.sender, "n0");
  EXPECT_EQ(in.from, addrs_[0]);
  EXPECT_EQ(in.chan, channel::membership);
  EXPECT_TRUE(boxes_[0]->empty());
  auto st = ask<stats>(nodes_[0], tx_stats_atom_v);
  EXPECT_EQ(st.datagrams_out, 1u);
  EXPECT_GT(st.bytes_out, 5u);
  EXPECT_EQ(ask<address>(nodes_[1], tx_addr_atom_v), addrs_[1]);
}

TEST_F(SimNet, BatchesMessagesForOnePeerIntoOneDatagram) {
  start({}, 2);
  outbound_list out;
  for (int i = 0; i < 5; ++i)
    out.push_back({addrs_[1], channel::membership, "m" + std::to_string(i)});
  caf::anon_send(nodes_[0], tx_send_atom_v, out);
  sched_->run();
  ASSERT_EQ(boxes_[1]->size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ((*boxes_[1])[i].payload, "m" + std::to_string(i));
  EXPECT_EQ(ask<stats>(nodes_[1], tx_stats_atom_v).datagrams_in, 1u);
}

TEST_F(SimNet, LossRateIsNearConfiguredValue) {
  const uint64_t seed = 42;
  std::cout << "seed " << seed << std::endl;
  sim_hub_config hc;
  hc.seed = seed;
  hc.loss = 0.3;
  start(hc, 2);
  const int n = 2000;
  for (int i = 0; i < n; ++i)
    send(0, 1, "x");
  auto got = static_cast<double>(boxes_[1]->size());
  // 3 sigma of a binomial(2000, 0.7): +-61.
  EXPECT_NEAR(got, 0.7 * n, 61.0);
  auto hs = ask<sim_stats>(hub_, txs_stats_atom_v);
  EXPECT_EQ(hs.lost + hs.delivered, static_cast<uint64_t>(n));
}

TEST_F(SimNet, PartitionBlocksBothWaysUntilHealed) {
  start({}, 3);
  caf::anon_send(hub_, txs_part_atom_v,
                 sim_partition{{addrs_[0]}, {addrs_[1]}});
  sched_->run();
  send(0, 1, "a->b");
  send(1, 0, "b->a");
  send(0, 2, "a->c");
  EXPECT_TRUE(boxes_[1]->empty());
  EXPECT_TRUE(boxes_[0]->empty());
  EXPECT_EQ(boxes_[2]->size(), 1u);
  EXPECT_EQ(ask<sim_stats>(hub_, txs_stats_atom_v).blocked, 2u);
  caf::anon_send(hub_, txs_heal_atom_v);
  sched_->run();
  send(0, 1, "again");
  EXPECT_EQ(boxes_[1]->size(), 1u);
}

TEST_F(SimNet, OneWayBlockLetsReverseDirectionThrough) {
  start({}, 2);
  caf::anon_send(hub_, txs_block_atom_v, addrs_[0], addrs_[1]);
  sched_->run();
  send(0, 1, "blocked");
  send(1, 0, "passes");
  EXPECT_TRUE(boxes_[1]->empty());
  ASSERT_EQ(boxes_[0]->size(), 1u);
  EXPECT_EQ(boxes_[0]->front().payload, "passes");
  caf::anon_send(hub_, txs_unblk_atom_v, addrs_[0], addrs_[1]);
  sched_->run();
  send(0, 1, "now passes");
  EXPECT_EQ(boxes_[1]->size(), 1u);
}

TEST_F(SimNet, DelayIsHonouredInVirtualTime) {
  sim_hub_config hc;
  hc.delay_min = hc.delay_max = caf::timespan{100ms};
  start(hc, 2);
  auto t0 = sched_->clock().now();
  send(0, 1, "late");
  EXPECT_TRUE(boxes_[1]->empty());
  sched_->advance_time(99ms);
  sched_->run();
  EXPECT_TRUE(boxes_[1]->empty());
  sched_->advance_time(1ms);
  sched_->run();
  ASSERT_EQ(boxes_[1]->size(), 1u);
  EXPECT_EQ(boxes_[1]->front().received - t0, 100ms);
}

TEST_F(SimNet, RandomDelaysReorderAndDuplicatesAreDelivered) {
  const uint64_t seed = 3;
  std::cout << "seed " << seed << std::endl;
  sim_hub_config hc;
  hc.seed = seed;
  hc.delay_min = caf::timespan{1ms};
  hc.delay_max = caf::timespan{50ms};
  start(hc, 2);
  caf::anon_send(hub_, txs_dup_atom_v, 0.5);
  sched_->run();
  for (int i = 0; i < 40; ++i)
    send(0, 1, std::to_string(i));
  sched_->advance_time(50ms);
  sched_->run();
  auto hs = ask<sim_stats>(hub_, txs_stats_atom_v);
  EXPECT_GT(hs.duplicated, 5u);
  EXPECT_EQ(boxes_[1]->size(), 40u + hs.duplicated);
  bool reordered = false;
  for (size_t i = 1; i < boxes_[1]->size(); ++i)
    if (std::stoi((*boxes_[1])[i].payload) < std::stoi((*boxes_[1])[i - 1].payload))
      reordered = true;
  EXPECT_TRUE(reordered);
}

TEST_F(SimNet, FaultInjectionDropRateIsApplied) {
  start({}, 2);
  caf::anon_send(nodes_[1], tx_fault_atom_v, faults{1.0, {}});
  sched_->run();
  send(0, 1, "lost");
  EXPECT_TRUE(boxes_[1]->empty());
  caf::anon_send(nodes_[1], tx_fault_atom_v, faults{0.0, {}});
  sched_->run();
  send(0, 1, "kept");
  ASSERT_EQ(boxes_[1]->size(), 1u);
  auto st = ask<stats>(nodes_[1], tx_stats_atom_v);
  std::map<std::string, uint64_t> drops(st.drops.begin(), st.drops.end());
  EXPECT_EQ(drops["fault_injected"], 1u);
}

TEST_F(SimNet, FaultInjectionDelayHoldsInboundDatagramsInVirtualTime) {
  start({}, 2);
  caf::anon_send(nodes_[1], tx_fault_atom_v, faults{0.0, {}, 30, 0});
  sched_->run();
  EXPECT_EQ(ask<faults>(nodes_[1], tx_fault_atom_v).delay_ms, 30u);
  send(0, 1, "slow");
  send(1, 0, "fast"); // only node 1's inbound is delayed
  EXPECT_EQ(boxes_[0]->size(), 1u);
  EXPECT_TRUE(boxes_[1]->empty());
  EXPECT_EQ(ask<stats>(nodes_[1], tx_stats_atom_v).inbound_delayed, 1u);
  sched_->advance_time(29ms);
  sched_->run();
  EXPECT_TRUE(boxes_[1]->empty());
  sched_->advance_time(1ms);
  sched_->run();
  ASSERT_EQ(boxes_[1]->size(), 1u);
  EXPECT_EQ((*boxes_[1])[0].payload, "slow");
  EXPECT_EQ(ask<stats>(nodes_[1], tx_stats_atom_v).inbound_delayed, 0u);
}

TEST_F(SimNet, FaultInjectionJitterAddsToTheHubsDelay) {
  sim_hub_config hc;
  hc.delay_min = 10ms;
  hc.delay_max = 10ms;
  start(hc, 2);
  caf::anon_send(nodes_[1], tx_fault_atom_v, faults{0.0, {}, 20, 15});
  sched_->run();
  for (int i = 0; i < 200; ++i)
    send(0, 1, std::to_string(i));
  // Hub 10 ms, then 20 +/- 15 ms: every datagram between 15 and 45 ms,
  // spread over that range (virtual time in 1 ms steps).
  std::vector<size_t> seen;
  for (int ms = 1; ms <= 50; ++ms) {
    sched_->advance_time(1ms);
    sched_->run();
    seen.push_back(boxes_[1]->size());
  }
  EXPECT_EQ(seen[13], 0u);   // 14 ms
  EXPECT_EQ(seen[44], 200u); // 45 ms
  EXPECT_GT(seen[29], 50u);  // 30 ms: about half
  EXPECT_LT(seen[29], 150u);
}

TEST_F(SimNet, LabelMismatchAndGarbageAreCountedNotDelivered) {
  start({}, 1);
  sim_transport_config other;
  other.label = "other-cluster";
  auto stranger = make_sim_transport(*sys_, hub_, "10.0.0.9:7946", "x", other);
  actors_.push_back(caf::actor_cast<caf::actor>(stranger));
  sched_->run();
  caf::anon_send(stranger, tx_send_atom_v,
                 outbound_list{{addrs_[0], channel::membership, "hi"}});
  caf::anon_send(hub_, txs_dg_atom_v, address{"10.0.0.8:1"}, addrs_[0],
                 std::string{"\x01\x00garbage", 9});
  sched_->run();
  EXPECT_TRUE(boxes_[0]->empty());
  auto st = ask<stats>(nodes_[0], tx_stats_atom_v);
  EXPECT_EQ(st.datagrams_in, 2u);
  std::map<std::string, uint64_t> drops(st.drops.begin(), st.drops.end());
  EXPECT_EQ(drops["wrong_label"], 1u);
  EXPECT_EQ(drops["malformed"] + drops["truncated"], 1u) << drops.size();
}

TEST_F(SimNet, EncryptedTransportsTalkAndStrangersFailAuth) {
  start({}, 0);
  sim_transport_config enc;
  enc.keys = *keyring::from_secrets({"s3cret"});
  enc.label = "prod";
  auto a = make_sim_transport(*sys_, hub_, "a:1", "a", enc);
  auto b = make_sim_transport(*sys_, hub_, "b:1", "b", enc);
  enc.keys = *keyring::from_secrets({"wrong"});
  auto c = make_sim_transport(*sys_, hub_, "c:1", "c", enc);
  auto box = std::make_shared<std::vector<inbound>>();
  auto sink = spawn_sink(box);
  for (auto& x : {a, b, c})
    actors_.push_back(caf::actor_cast<caf::actor>(x));
  actors_.push_back(caf::actor_cast<caf::actor>(sink));
  caf::anon_send(b, tx_sub_atom_v, channel::metadata, sink);
  sched_->run();
  caf::anon_send(a, tx_send_atom_v, outbound_list{{"b:1", channel::metadata, "kv"}});
  caf::anon_send(c, tx_send_atom_v, outbound_list{{"b:1", channel::metadata, "evil"}});
  sched_->run();
  ASSERT_EQ(box->size(), 1u);
  EXPECT_EQ(box->front().payload, "kv");
  // Every datagram is now duplicated: the copy is dropped as a replay.
  caf::anon_send(hub_, txs_dup_atom_v, 1.0);
  sched_->run();
  caf::anon_send(a, tx_send_atom_v, outbound_list{{"b:1", channel::metadata, "once"}});
  sched_->run();
  ASSERT_EQ(box->size(), 2u);
  EXPECT_EQ(box->back().payload, "once");
  auto st = ask<stats>(b, tx_stats_atom_v);
  std::map<std::string, uint64_t> drops(st.drops.begin(), st.drops.end());
  EXPECT_EQ(drops["auth_failed"], 1u);
  EXPECT_EQ(drops["replayed"], 1u);
}

} // namespace
} // namespace pekonode::transport
