// Whole nodes — the real timer, membership and metadata actors — on
// simulated transports under CAF's deterministic test scheduler, in virtual
// time: the timer actor is every node's only source of wake-ups.

#include "node/node.h"

#include <gtest/gtest.h>

#include <memory>

#include "node/cluster_keyring.h"
#include "node/init.h"
#include "transport/keyring_ops.h"
#include "transport/sim_transport.h"

namespace pekonode::node {
namespace {

using namespace std::chrono_literals;

class NodeSim : public testing::Test {
protected:
  NodeSim() {
    pekonode::init(cfg_);
    compat::use_test_scheduler(cfg_);
    compat::quiet_caf_logger(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &compat::test_scheduler(*sys_);
  }

  ~NodeSim() override {
    for (size_t i = 0; i < nodes_.size(); ++i)
      crash(i);
    caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  void start(size_t n, uint64_t seed,
             std::function<tag_map(size_t)> tags_of = nullptr,
             const transport::keyring* keys = nullptr) {
    std::cout << "seed " << seed << std::endl;
    transport::sim_hub_config hc;
    hc.seed = seed;
    hc.delay_min = 1ms;
    hc.delay_max = 5ms;
    hub_ = transport::make_sim_hub(*sys_, hc);
    for (size_t i = 0; i < n; ++i)
      add_node(seed, tags_of ? tags_of(i) : tag_map{}, keys);
    sched_->run();
  }

  /// Spawns node n<index> joining through n0 (not run yet).
  void add_node(uint64_t seed, tag_map tags,
                const transport::keyring* keys = nullptr) {
    size_t i = nodes_.size();
    auto addr = "127.0.1." + std::to_string(i + 1) + ":7946";
    node_config cfg;
    cfg.name = "n" + std::to_string(i);
    cfg.membership = membership::config::local();
    cfg.metadata = metadata::config::local();
    cfg.seed = seed * 1000 + i + 1;
    if (i > 0)
      cfg.seeds = {"127.0.1.1:7946"};
    cfg.user_events = userevents::config::local();
    cfg.tags = std::move(tags);
    transport::sim_transport_config tc;
    if (keys)
      tc.keys = *keys;
    auto tx = transport::make_sim_transport(*sys_, hub_, addr, cfg.name,
                                            std::move(tc));
    nodes_.push_back(spawn_node(*sys_, cfg, tx, addr));
  }

  /// Advances virtual time in 5 ms steps, running every due message.
  void run_for(duration d) {
    for (duration t{}; t < d; t += 5ms) {
      sched_->advance_time(5ms);
      sched_->run();
    }
  }

  template <class T, class Handle, class... Ts>
  T ask(Handle dest, Ts... xs) {
    auto out = std::make_shared<T>();
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...).then([=](T& x) { *out = x; });
    });
    sched_->run();
    return *out;
  }

  /// Sends a request whose reply carries no value; true once answered.
  template <class Handle, class... Ts>
  bool ask_done(Handle dest, Ts... xs) {
    auto out = std::make_shared<bool>(false);
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...).then([=]() { *out = true; });
    });
    sched_->run();
    return *out;
  }

  uint64_t probes(size_t i) {
    auto out = std::make_shared<uint64_t>(0);
    auto dest = nodes_[i].membership;
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, membership::m_stats_atom_v)
        .then([=](membership::core_stats& st, int32_t) { *out = st.probes; });
    });
    sched_->run();
    return *out;
  }

  std::string state_of(size_t observer, const std::string& name) {
    auto ms = ask<std::vector<membership::member>>(
      nodes_[observer].membership, membership::m_members_atom_v);
    for (auto& m : ms)
      if (m.name == name)
        return membership::to_string(m.state);
    return "absent";
  }

  /// A crash: the node's actors are linked, so killing one kills them all.
  void crash(size_t i) {
    caf::anon_send_exit(nodes_[i].membership, caf::exit_reason::kill);
    sched_->run();
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  transport::sim_hub_actor hub_;
  std::vector<node_handle> nodes_;
};

TEST_F(NodeSim, ActorsJoinDetectCrashAndSpreadKeys) {
  start(5, 42);
  run_for(2s);
  for (size_t i = 0; i < 5; ++i)
    for (size_t j = 0; j < 5; ++j)
      EXPECT_EQ(state_of(i, "n" + std::to_string(j)), "alive")
        << "n" << i << " about n" << j;

  auto ver = ask<metadata::version>(nodes_[2].metadata,
                                    metadata::md_put_atom_v,
                                    std::string{"cfg/x"}, std::string{"42"});
  EXPECT_EQ(ver.origin, "n2");
  run_for(500ms);
  for (size_t i = 0; i < 5; ++i) {
    auto v = ask<std::string>(nodes_[i].metadata, metadata::md_get_atom_v,
                              std::string{"cfg/x"});
    EXPECT_EQ(v, "42") << "n" << i;
    auto items = ask<std::vector<metadata::kv_item>>(nodes_[i].metadata,
                                                     metadata::md_list_atom_v);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].ver, ver) << "n" << i;
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
  EXPECT_TRUE(ask_done(nodes_[3].membership, membership::m_leave_atom_v));
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
  auto watcher = sys_->spawn(
    [seen]() -> membership::member_listener_actor::behavior_type {
      return {[seen](membership::m_event_atom, const membership::event& e) {
        seen->push_back(e);
      }};
    });
  caf::anon_send(nodes_[1].membership, membership::m_sub_atom_v, watcher);
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
  EXPECT_TRUE(ask_done(nodes_[1].membership, membership::m_tags_atom_v,
                       membership::tag_set{{{"role", "db"}}}));
  EXPECT_EQ(self_events(), std::vector<std::string>{"updated:alive"});
  EXPECT_TRUE(ask_done(nodes_[1].membership, membership::m_leave_atom_v));
  EXPECT_EQ(self_events(), std::vector<std::string>{"left:left"});
  run_for(2s);
  EXPECT_TRUE(ask_done(nodes_[1].membership, membership::m_rejoin_atom_v));
  EXPECT_EQ(self_events(), std::vector<std::string>{"alive:alive"});
  run_for(2s);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(state_of(i, "n1"), "alive") << "n" << i;
  caf::anon_send_exit(watcher, caf::exit_reason::kill);
}

// A stalled node, simulated by holding its timer: with no wake-ups it runs
// no protocol round of its own (no probes), though it still answers others;
// on release it resumes at once.
TEST_F(NodeSim, HoldingTheTimerStallsTheNodesOwnRounds) {
  start(3, 5);
  run_for(2s);
  caf::anon_send(nodes_[2].timer, transport::tm_hold_atom_v, true);
  sched_->run();
  auto before = probes(2);
  auto others = probes(0);
  run_for(3s);
  EXPECT_EQ(probes(2), before) << "a held node must not probe";
  EXPECT_GT(probes(0), others);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(state_of(i, "n2"), "alive") << "it still acks probes";
  auto st = ask<transport::timer_stats>(nodes_[2].timer,
                                        transport::tm_stats_atom_v);
  EXPECT_TRUE(st.held);
  EXPECT_GE(st.clients, 2u) << "membership and metadata are owed wake-ups";
  caf::anon_send(nodes_[2].timer, transport::tm_hold_atom_v, false);
  sched_->run();
  run_for(2s);
  EXPECT_GT(probes(2), before);
}

// The node's actors fail together, in every direction: whichever of them
// terminates, the others follow (and tx_close, a normal request, stops the
// whole node too).
TEST_F(NodeSim, ActorsOfANodeFailTogether) {
  start(5, 3);
  run_for(1s);
  auto downs = std::make_shared<std::vector<size_t>>();
  std::vector<caf::actor> watchers;
  auto watch = [&](size_t i) {
    auto& n = nodes_[i];
    std::vector<caf::actor> all{caf::actor_cast<caf::actor>(n.transport),
                                caf::actor_cast<caf::actor>(n.timer),
                                caf::actor_cast<caf::actor>(n.membership),
                                caf::actor_cast<caf::actor>(n.metadata)};
    // Kept in `watchers`: an actor nobody refers to would be cleaned up.
    watchers.push_back(
      sys_->spawn([all, downs](caf::event_based_actor* self) -> caf::behavior {
        for (auto& a : all)
          self->monitor(a);
        self->set_down_handler(
          [downs](const caf::down_msg&) { downs->push_back(1); });
        return {[](int) {}};
      }));
    sched_->run();
  };
  auto kill_one = [&](size_t i, int which) {
    downs->clear();
    watch(i);
    auto& n = nodes_[i];
    switch (which) {
      case 0: caf::anon_send_exit(n.transport, caf::exit_reason::kill); break;
      case 1: caf::anon_send_exit(n.timer, caf::exit_reason::kill); break;
      case 2: caf::anon_send_exit(n.membership, caf::exit_reason::kill); break;
      case 3: caf::anon_send_exit(n.metadata, caf::exit_reason::kill); break;
      default: caf::anon_send(n.transport, transport::tx_close_atom_v);
    }
    sched_->run();
    return downs->size();
  };
  EXPECT_EQ(kill_one(0, 0), 4u) << "transport died";
  EXPECT_EQ(kill_one(1, 1), 4u) << "timer died";
  EXPECT_EQ(kill_one(2, 2), 4u) << "membership died";
  EXPECT_EQ(kill_one(3, 3), 4u) << "metadata died";
  EXPECT_EQ(kill_one(4, 4), 4u) << "transport closed";
  for (auto& w : watchers)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  sched_->run();
}

// -- user events and queries ----------------------------------------------------

TEST_F(NodeSim, UserEventsReachEveryNodeOnceAndQueriesCollectResponses) {
  start(5, 31, [](size_t i) {
    return tag_map{{"role", i % 2 == 0 ? "web" : "db"}};
  });
  run_for(3s);
  using namespace userevents;
  // A subscriber per node, and responders on n1 and n2.
  std::vector<std::shared_ptr<std::vector<std::string>>> seen;
  std::vector<caf::actor_addr> helpers;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto log = std::make_shared<std::vector<std::string>>();
    seen.push_back(log);
    auto l = sys_->spawn(
      [log](event_listener_actor::pointer)
        -> event_listener_actor::behavior_type {
        return {[log](ue_deliver_atom, const user_event& ev) {
          log->push_back(std::string{to_string(ev.kind)} + ":" + ev.name
                         + ":" + ev.payload);
        }};
      });
    caf::anon_send(nodes_[i].userevents, ue_sub_atom_v, l);
    if (i == 1 || i == 2) {
      auto name = "n" + std::to_string(i);
      auto r = sys_->spawn(
        [name](query_responder_actor::pointer)
          -> query_responder_actor::behavior_type {
          return {[name](ue_answer_atom, const user_event& ev) {
            return name + " says " + ev.payload;
          }};
        });
      caf::anon_send(nodes_[i].userevents, ue_resp_atom_v, r);
    }
  }
  sched_->run();
  auto ev = ask<user_event>(nodes_[3].userevents, ue_pub_atom_v,
                            std::string{"deploy"}, std::string{"v2"}, false);
  EXPECT_EQ(ev.origin, "n3");
  EXPECT_EQ(ev.name, "deploy");
  run_for(2s);
  for (size_t i = 0; i < nodes_.size(); ++i)
    EXPECT_EQ(*seen[i], std::vector<std::string>{"user:deploy:v2"})
      << "node " << i;
  // Typed errors for what breaks a limit.
  auto err = std::make_shared<caf::error>();
  sys_->spawn([=, dest = nodes_[0].userevents](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, ue_pub_atom_v, std::string{"x"},
                  std::string(600, 'p'), false)
      .then([](const user_event&) {}, [=](caf::error& e) { *err = e; });
  });
  sched_->run();
  EXPECT_EQ(result_code_of(*err), result_code::too_large);
  // A query for the web nodes: n0, n2, n4 ack; n2 also responds.
  query_params q;
  q.name = "ping";
  q.payload = "hi";
  q.tags = {{"role", "web"}};
  q.timeout = 1s;
  auto out = std::make_shared<query_result>();
  sys_->spawn([=, dest = nodes_[1].userevents](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, ue_query_atom_v, q)
      .then([=](query_result& r) { *out = r; });
  });
  run_for(2s);
  EXPECT_EQ(out->acks, (std::vector<std::string>{"n0", "n2", "n4"}));
  EXPECT_EQ(out->responses,
            (std::map<std::string, std::string>{{"n2", "n2 says hi"}}));
  EXPECT_TRUE(out->stragglers.empty());
  EXPECT_EQ(out->expected, 3u);
  // The queried nodes delivered it to their subscribers; the others did not.
  EXPECT_EQ(seen[0]->back(), "query:ping:hi");
  EXPECT_EQ(seen[1]->back(), "user:deploy:v2");
  // A crashed matching node is a straggler of the next query.
  crash(4);
  q.payload = "again";
  sys_->spawn([=, dest = nodes_[1].userevents](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, ue_query_atom_v, q)
      .then([=](query_result& r) { *out = r; });
  });
  run_for(2s);
  EXPECT_EQ(out->acks, (std::vector<std::string>{"n0", "n2"}));
  EXPECT_EQ(out->stragglers, std::vector<std::string>{"n4"});
}

/// A fresh random key, as `pekoctl keygen` prints it.
std::string fresh_key() {
  return transport::key_to_base64(transport::random_key());
}

TEST_F(NodeSim, KeyringCommandsReachEveryNodeWithoutASuspicion) {
  using namespace userevents;
  const std::string k1 = fresh_key();
  const std::string k2 = fresh_key();
  auto ring = transport::parse_keyring_text(k1);
  ASSERT_TRUE(ring) << ring.message;
  start(5, 41, nullptr, &*ring);
  run_for(3s);
  ASSERT_EQ(state_of(0, "n4"), "alive");
  // Internal queries never reach subscribers (their payload may hold a key).
  auto seen = std::make_shared<std::vector<std::string>>();
  for (auto& n : nodes_) {
    auto l = sys_->spawn(
      [seen](event_listener_actor::pointer) -> event_listener_actor::behavior_type {
        return {[seen](ue_deliver_atom, const user_event& ev) {
          seen->push_back(ev.name);
        }};
      });
    caf::anon_send(n.userevents, ue_sub_atom_v, l);
  }
  auto suspicions = [&] {
    uint64_t total = 0;
    for (auto& n : nodes_) {
      auto out = std::make_shared<uint64_t>(0);
      sys_->spawn([=, dest = n.membership](caf::event_based_actor* self) {
        self->request(dest, caf::infinite, membership::m_stats_atom_v)
          .then([=](membership::core_stats& st, int32_t) {
            *out = st.suspects_raised;
          });
      });
      sched_->run();
      total += *out;
    }
    return total;
  };
  const uint64_t suspicions_before = suspicions();
  // Runs a keyring command from node `from`; the tally, and the virtual
  // time it took (it ends when every member answered, not at the deadline).
  auto command = [&](size_t from, keyring_op op, const std::string& key,
                     duration& took) {
    query_params q;
    q.name = std::string{keyring_query};
    q.payload = encode_keyring_command(op, key);
    q.timeout = 5s;
    q.internal = true;
    auto out = std::make_shared<std::optional<query_result>>();
    sys_->spawn([=, dest = nodes_[from].userevents](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, ue_query_atom_v, q)
        .then([=](query_result& r) { *out = r; });
    });
    sched_->run();
    took = duration::zero();
    while (!out->has_value() && took < 6s) {
      run_for(5ms);
      took += 5ms;
    }
    EXPECT_TRUE(out->has_value());
    return out->has_value() ? tally_keyring_query(**out) : cluster_keyring_view{};
  };
  auto fp1 = transport::key_fingerprint(ring->materials().at(0));
  duration took{};
  auto v = command(2, keyring_op::list, "", took);
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.expected, 5u);
  EXPECT_EQ(v.responded, 5u);
  ASSERT_EQ(v.keys.size(), 1u);
  EXPECT_EQ(v.keys[0].fingerprint, fp1);
  EXPECT_EQ(v.keys[0].nodes, 5u);
  EXPECT_EQ(v.keys[0].primary, 5u);
  EXPECT_LT(took, 500ms) << "a command waits for its answers, not its deadline";
  // install, use, remove: every node changes; the primary moves on all.
  v = command(1, keyring_op::install, k2, took);
  EXPECT_TRUE(v.complete()) << (v.errors.empty() ? "" : v.errors.begin()->second);
  EXPECT_EQ(v.changed, 5u);
  ASSERT_EQ(v.keys.size(), 2u);
  EXPECT_EQ(v.keys[0].nodes, 5u);
  EXPECT_EQ(v.keys[1].nodes, 5u);
  run_for(1s);
  v = command(3, keyring_op::install, k2, took); // idempotent
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.changed, 0u);
  run_for(1s);
  v = command(4, keyring_op::use, k2, took);
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.changed, 5u);
  for (auto& k : v.keys)
    EXPECT_EQ(k.primary, k.fingerprint == fp1 ? 0u : 5u) << k.fingerprint;
  run_for(1s);
  // Removing a key no node holds fails on every node, and says why.
  v = command(0, keyring_op::remove, fresh_key(), took);
  EXPECT_FALSE(v.complete());
  EXPECT_EQ(v.errors.size(), 5u);
  EXPECT_NE(v.errors["n3"].find("not"), std::string::npos) << v.errors["n3"];
  run_for(1s);
  v = command(0, keyring_op::remove, fp1, took);
  EXPECT_TRUE(v.complete());
  EXPECT_EQ(v.changed, 5u);
  ASSERT_EQ(v.keys.size(), 1u);
  EXPECT_NE(v.keys[0].fingerprint, fp1);
  EXPECT_EQ(v.keys[0].primary, 5u);
  run_for(3s);
  EXPECT_EQ(suspicions(), suspicions_before) << "the rotation raised suspicions";
  for (size_t i = 0; i < 5; ++i)
    for (size_t j = 0; j < 5; ++j)
      EXPECT_EQ(state_of(i, "n" + std::to_string(j)), "alive") << i << " " << j;
  EXPECT_TRUE(seen->empty()) << seen->front();
  // A node holding only the removed key cannot join; one with the new can.
  add_node(41, {}, &*ring);
  run_for(3s);
  EXPECT_EQ(state_of(0, "n5"), "absent");
  auto ring2 = transport::parse_keyring_text(k2);
  ASSERT_TRUE(ring2);
  add_node(41, {}, &*ring2);
  run_for(3s);
  EXPECT_EQ(state_of(0, "n6"), "alive");
}

TEST_F(NodeSim, ReservedNamesAreForInternalQueriesOnly) {
  using namespace userevents;
  start(2, 43);
  run_for(2s);
  const auto bad_name = static_cast<uint8_t>(userevents::ec::bad_name);
  auto err = std::make_shared<caf::error>();
  sys_->spawn([=, dest = nodes_[0].userevents](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, ue_pub_atom_v,
                  std::string{"_pekonode-keyring"}, std::string{"list"}, false)
      .then([](const user_event&) {}, [=](caf::error& e) { *err = e; });
  });
  sched_->run();
  EXPECT_EQ(err->code(), bad_name) << "an event";
  auto query_error = [&](const query_params& q) {
    *err = caf::error{};
    sys_->spawn([=, dest = nodes_[0].userevents](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, ue_query_atom_v, q)
        .then([](const query_result&) {}, [=](caf::error& e) { *err = e; });
    });
    sched_->run();
    return err->code();
  };
  query_params q;
  q.name = "_pekonode-keyring";
  q.payload = "list";
  q.timeout = 1s;
  EXPECT_EQ(query_error(q), bad_name) << "not internal";
  q.name = "ordinary";
  q.internal = true;
  EXPECT_EQ(query_error(q), bad_name) << "not reserved";
  // A plaintext node answers a keyring command with the reason it cannot.
  q.name = std::string{keyring_query};
  auto out = std::make_shared<query_result>();
  sys_->spawn([=, dest = nodes_[1].userevents](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, ue_query_atom_v, q)
      .then([=](query_result& r) { *out = r; });
  });
  run_for(1500ms);
  auto v = tally_keyring_query(*out);
  EXPECT_EQ(v.responded, 2u);
  ASSERT_EQ(v.errors.size(), 2u);
  EXPECT_NE(v.errors["n0"].find("plaintext"), std::string::npos) << v.errors["n0"];
}

} // namespace
} // namespace pekonode::node
