// The membership actor on simulated transports under CAF's test scheduler:
// its wake-ups come from the timer actor, and seed names are resolved by a
// resolver actor, so a lookup that hangs or fails never blocks the shell.

#include "membership/membership_actor.h"

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <vector>

#include "node/init.h"
#include "transport/resolver.h"
#include "transport/sim_transport.h"

namespace pekonode::membership {
namespace {

using namespace std::chrono_literals;

/// A resolver that answers only when the test says so: it keeps every
/// request's promise, so a lookup can hang for as long as a test wants.
/// `(caf::ok_atom, index, answer)` makes it answer request `index`.
struct fake_resolver {
  struct pending {
    caf::response_promise promise;
    transport::resolutions names;
  };
  std::vector<pending> requests;
};

caf::behavior fake_resolver_behavior(caf::event_based_actor* self,
                                     std::shared_ptr<fake_resolver> fr) {
  return {
    [self, fr](transport::tx_resolve_atom, transport::resolutions& names) {
      auto rp = self->make_response_promise();
      fr->requests.push_back({rp, std::move(names)});
      return rp;
    },
    [fr](caf::ok_atom, uint64_t i, transport::resolutions& answer) {
      fr->requests.at(i).promise.deliver(std::move(answer));
    },
  };
}

class MembershipActor : public testing::Test {
protected:
  MembershipActor() {
    pekonode::init(cfg_);
    compat::use_test_scheduler(cfg_);
    compat::quiet_caf_logger(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &compat::test_scheduler(*sys_);
    hub_ = transport::make_sim_hub(*sys_);
  }

  ~MembershipActor() override {
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  /// A node at 10.0.0.<i>:7946 with its own transport and timer.
  membership_actor node(int i, transport::resolver_actor resolver = {},
                        std::shared_ptr<transport::inbound_backlog> backlog = {}) {
    auto addr = "10.0.0." + std::to_string(i) + ":7946";
    auto name = "n" + std::to_string(i);
    auto tx = transport::make_sim_transport(*sys_, hub_, addr, name);
    auto timer = transport::make_timer(*sys_);
    actor_config cfg;
    cfg.protocol = config::local();
    cfg.name = name;
    cfg.advertise = addr;
    cfg.seed = 100 + i;
    cfg.resolver = std::move(resolver);
    cfg.dns_refresh = dns_refresh_;
    cfg.backlog = std::move(backlog);
    auto m = spawn_membership(*sys_, cfg, tx, timer);
    transports_[i] = tx;
    for (auto a : {caf::actor_cast<caf::actor>(m), caf::actor_cast<caf::actor>(tx),
                   caf::actor_cast<caf::actor>(timer)})
      actors_.push_back(a);
    sched_->run();
    return m;
  }

  void run_for(duration d) {
    for (duration t{}; t < d; t += 5ms) {
      sched_->advance_time(5ms);
      sched_->run();
    }
  }

  /// `who` joins through node 1 (10.0.0.1:7946); two seconds pass.
  void join_node_1(const membership_actor& who) {
    caf::anon_send(who, m_join_atom_v, seed_list{{"10.0.0.1:7946"}});
    sched_->run();
    run_for(2s);
  }

  /// Members as `who` sees them, asked through a helper actor; nullopt if
  /// the request was not answered within one scheduler run (a blocked actor).
  std::optional<std::vector<member>> members(const membership_actor& who) {
    auto out = std::make_shared<std::optional<std::vector<member>>>();
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(who, caf::infinite, m_members_atom_v)
        .then([=](std::vector<member>& ms) { *out = std::move(ms); });
    });
    sched_->run();
    return *out;
  }

  size_t alive(const membership_actor& who) {
    auto ms = members(who);
    size_t n = 0;
    for (auto& m : ms ? *ms : std::vector<member>{})
      n += m.state == member_state::alive;
    return n;
  }

  core_stats stats(const membership_actor& who) {
    auto out = std::make_shared<core_stats>();
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(who, caf::infinite, m_stats_atom_v)
        .then([=](core_stats& s, int32_t) { *out = std::move(s); });
    });
    sched_->run();
    return *out;
  }

  dns_report dns(const membership_actor& who) {
    auto out = std::make_shared<dns_report>();
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(who, caf::infinite, m_dns_atom_v)
        .then([=](dns_report& r) { *out = std::move(r); });
    });
    sched_->run();
    return *out;
  }

  duration dns_refresh_ = std::chrono::seconds(30);
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  transport::sim_hub_actor hub_;
  std::vector<caf::actor> actors_;
  std::map<int, transport::datagram_transport_actor> transports_;
};

TEST_F(MembershipActor, TimerWakeupsDriveProbingAndJoin) {
  auto a = node(1);
  auto b = node(2);
  join_node_1(b);
  EXPECT_EQ(alive(a), 2u);
  EXPECT_EQ(alive(b), 2u);
}

// A seed name whose lookup hangs: the actor answers requests meanwhile,
// literal seeds are contacted at once, and when the lookup finally answers
// the node joins through it.
TEST_F(MembershipActor, ASlowSeedLookupNeverBlocksTheActor) {
  auto fr = std::make_shared<fake_resolver>();
  auto fake = sys_->spawn(fake_resolver_behavior, fr);
  actors_.push_back(fake);
  auto a = node(1);
  auto b = node(2, caf::actor_cast<transport::resolver_actor>(fake));
  caf::anon_send(b, m_join_atom_v, seed_list{{"seed.test:7946"}});
  sched_->run();
  ASSERT_EQ(fr->requests.size(), 1u);
  EXPECT_EQ(fr->requests[0].names.front().name, "seed.test:7946");
  run_for(3s);
  auto ms = members(b);
  ASSERT_TRUE(ms) << "the actor did not answer while its lookup hangs";
  EXPECT_EQ(ms->size(), 1u); // only itself so far
  // The lookup answers: the node joins through the address.
  auto answer = fr->requests[0].names;
  answer.front().addrs = {"10.0.0.1:7946"};
  caf::anon_send(fake, caf::ok_atom_v, uint64_t{0}, answer);
  sched_->run();
  run_for(2s);
  EXPECT_EQ(alive(a), 2u);
  EXPECT_EQ(alive(b), 2u);
}

// A name that never resolves: the request times out (resolve_timeout), the
// name is retried every reconnect interval, and the actor stays responsive.
TEST_F(MembershipActor, ANameThatNeverResolvesIsRetried) {
  auto fr = std::make_shared<fake_resolver>();
  auto fake = sys_->spawn(fake_resolver_behavior, fr);
  actors_.push_back(fake);
  auto b = node(2, caf::actor_cast<transport::resolver_actor>(fake));
  caf::anon_send(b, m_join_atom_v, seed_list{{"never.test:1", "not a seed"}});
  sched_->run();
  ASSERT_EQ(fr->requests.size(), 1u);
  ASSERT_EQ(fr->requests[0].names.size(), 1u) << "the malformed seed is dropped";
  // 10 s lookup timeout + the local profile's reconnect interval.
  run_for(10s + config::local().reconnect_interval + 1s);
  EXPECT_EQ(fr->requests.size(), 2u);
  ASSERT_TRUE(members(b));
  // An answer without addresses keeps the name pending for the next round.
  auto answer = fr->requests[1].names;
  answer.front().error = "no such host";
  caf::anon_send(fake, caf::ok_atom_v, uint64_t{1}, answer);
  sched_->run();
  run_for(config::local().reconnect_interval + 1s);
  EXPECT_EQ(fr->requests.size(), 3u);
}

// Discovery by DNS: a name with no records leaves the node alone; the next
// lookup, one refresh later, finds two nodes and joins both; the report
// follows every answer.
TEST_F(MembershipActor, DnsDiscoveryJoinsEveryAddressAndLooksAgain) {
  dns_refresh_ = 5s;
  auto fr = std::make_shared<fake_resolver>();
  auto fake = sys_->spawn(fake_resolver_behavior, fr);
  actors_.push_back(fake);
  auto a = node(1);
  auto c = node(3);
  auto b = node(2, caf::actor_cast<transport::resolver_actor>(fake));
  caf::anon_send(b, m_join_atom_v, seed_list{{"dns:svc.test:7946"}});
  sched_->run();
  run_for(10ms);
  ASSERT_EQ(fr->requests.size(), 1u);
  EXPECT_EQ(fr->requests[0].names.front().name, "svc.test:7946");
  auto none = fr->requests[0].names;
  none.front().error = "no such name";
  caf::anon_send(fake, caf::ok_atom_v, uint64_t{0}, none);
  sched_->run();
  run_for(2s);
  EXPECT_EQ(alive(b), 1u) << "joined something without any record";
  auto r = dns(b);
  ASSERT_EQ(r.names, std::vector<std::string>{"svc.test:7946"});
  EXPECT_EQ(r.addresses, std::vector<uint64_t>{0});
  EXPECT_EQ(r.errors, std::vector<std::string>{"no such name"});
  EXPECT_EQ(fr->requests.size(), 1u) << "looked up again before the refresh";
  run_for(4s);
  ASSERT_EQ(fr->requests.size(), 2u) << "no lookup one refresh later";
  auto two = fr->requests[1].names;
  two.front().addrs = {"10.0.0.1:7946", "10.0.0.3:7946"};
  caf::anon_send(fake, caf::ok_atom_v, uint64_t{1}, two);
  sched_->run();
  run_for(2s);
  EXPECT_EQ(alive(a), 3u);
  EXPECT_EQ(alive(b), 3u);
  EXPECT_EQ(alive(c), 3u);
  r = dns(b);
  EXPECT_EQ(r.addresses, std::vector<uint64_t>{2});
  EXPECT_EQ(r.errors, std::vector<std::string>{""});
}

// The default resolver (getaddrinfo on its own thread) on a real scheduler:
// while a lookup blocks, the membership actor keeps answering.
TEST(MembershipActorThreads, BlockingLookupRunsOffTheActorThreads) {
  caf::actor_system_config cfg;
  pekonode::init(cfg);
  compat::set_worker_threads(cfg, 2);
  compat::quiet_caf_logger(cfg);
  caf::actor_system sys{cfg};
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  auto resolver = transport::spawn_resolver(
    sys, [opened](std::string_view) {
      opened.wait();
      return transport::result<std::vector<transport::endpoint>>::failure(
        transport::ec::resolve_failed, "released by the test");
    });
  auto hub = transport::make_sim_hub(sys);
  auto tx = transport::make_sim_transport(sys, hub, "10.0.0.9:7946", "n9");
  auto timer = transport::make_timer(sys);
  actor_config mc;
  mc.protocol = config::local();
  mc.name = "n9";
  mc.advertise = "10.0.0.9:7946";
  mc.resolver = resolver;
  auto m = spawn_membership(sys, mc, tx, timer);
  caf::scoped_actor self{sys};
  self->send(m, m_join_atom_v, seed_list{{"blocked.test:7946"}});
  bool answered = false;
  self->request(m, 5s, m_self_atom_v)
    .receive([&](member& me) { answered = me.name == "n9"; },
             [](caf::error&) {});
  EXPECT_TRUE(answered);
  gate.set_value();
  for (auto a : {caf::actor_cast<caf::actor>(m), caf::actor_cast<caf::actor>(tx),
                 caf::actor_cast<caf::actor>(timer),
                 caf::actor_cast<caf::actor>(hub),
                 caf::actor_cast<caf::actor>(resolver)})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// Node 1's inbound datagrams are held 400 ms in its transport (the delay
// fault, longer than a whole probe: local's interval is 200 ms) while its
// backlog says datagrams that arrived at the start of that time still wait
// for the transport actor, as a reader thread's queue would. What `run`
// returns: node 1's counters over that time and the 500 ms after it.
struct held_run {
  core_stats before, after;
};

held_run hold_inbound(transport::datagram_transport_actor tx,
                      transport::inbound_backlog* backlog,
                      caf::scheduler::test_coordinator& sched,
                      std::function<core_stats()> stats) {
  held_run r;
  r.before = stats();
  transport::faults f;
  f.delay_ms = 400;
  caf::anon_send(tx, transport::tx_fault_atom_v, f);
  sched.run();
  if (backlog)
    backlog->push(sched.clock().now(), false);
  for (int i = 0; i < 90; ++i) { // 450 ms: every held datagram is released
    sched.advance_time(5ms);
    sched.run();
  }
  caf::anon_send(tx, transport::tx_fault_atom_v, transport::faults{});
  sched.run();
  if (backlog)
    backlog->pop(false); // handled: its messages went on to node 1
  for (int i = 0; i < 100; ++i) {
    sched.advance_time(5ms);
    sched.run();
  }
  r.after = stats();
  return r;
}

// Without a backlog to look at, node 1 judges its probes while their acks
// wait in its transport: it accuses its healthy peer.
TEST_F(MembershipActor, AcksHeldInTheTransportFailProbesWithoutTheBacklog) {
  auto a = node(1);
  auto b = node(2);
  join_node_1(b);
  ASSERT_EQ(alive(a), 2u);
  auto r = hold_inbound(transports_[1], nullptr, *sched_,
                        [&] { return stats(a); });
  EXPECT_GT(r.after.probe_failures, r.before.probe_failures);
  EXPECT_GT(r.after.suspects_raised, r.before.suspects_raised);
}

// With it, no deadline is judged while datagrams that arrived before it
// wait: the acks, once handled, answer their probes; nobody is accused;
// probing goes on once the backlog is handled.
TEST_F(MembershipActor, AcksHeldInTheTransportAnswerTheirProbes) {
  auto backlog = std::make_shared<transport::inbound_backlog>();
  auto a = node(1, {}, backlog);
  auto b = node(2);
  join_node_1(b);
  ASSERT_EQ(alive(a), 2u);
  auto r = hold_inbound(transports_[1], backlog.get(), *sched_,
                        [&] { return stats(a); });
  EXPECT_EQ(r.after.probe_failures, r.before.probe_failures);
  EXPECT_EQ(r.after.suspects_raised, r.before.suspects_raised);
  EXPECT_GT(r.after.acks, r.before.acks); // probing resumed
  EXPECT_EQ(alive(a), 2u);
}

// A datagram that never leaves the backlog holds the timers for max_hold
// only: the node probes again after it.
TEST_F(MembershipActor, ABacklogThatNeverDrainsHoldsTimersForMaxHoldOnly) {
  auto backlog = std::make_shared<transport::inbound_backlog>();
  auto a = node(1, {}, backlog);
  auto b = node(2);
  join_node_1(b);
  ASSERT_EQ(alive(a), 2u);
  backlog->push(sched_->clock().now(), false); // never popped
  auto before = stats(a);
  run_for(1s);
  EXPECT_EQ(stats(a).probes, before.probes); // held
  run_for(5s);                               // past max_hold (5 s)
  EXPECT_GT(stats(a).probes, before.probes + 3);
}

TEST_F(MembershipActor, TypedErrorsCarryTheCategoryAndCode) {
  auto a = node(1);
  auto out = std::make_shared<caf::error>();
  sys_->spawn([=](caf::event_based_actor* self) {
    self->request(a, caf::infinite, m_tags_atom_v,
                  tag_set{{{"", "empty key"}}})
      .then([] {}, [=](caf::error& e) { *out = std::move(e); });
  });
  sched_->run();
  EXPECT_EQ(compat::error_code<ec>(*out), ec::bad_tag);
  EXPECT_EQ(sys_->render(*out), "membership: bad_tag");
}

} // namespace
} // namespace pekonode::membership
