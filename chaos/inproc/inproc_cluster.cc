#include "chaos/inproc/inproc_cluster.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>

#include "common/hash.h"
#include "node/init.h"
#include "transport/udp_transport.h"

namespace pekonode::chaos::inproc {

namespace {

using membership::member_state;

/// What a collector listens to: member events and key changes.
using collector_actor = membership::member_listener_actor::extend_with<
  metadata::key_listener_actor>;

/// Records one slot's events in the shared view table. One collector per
/// slot life; it ignores itself once the slot's generation moves on.
struct collector_state {
  collector_actor::stateful_pointer<collector_state> self;
  std::shared_ptr<void> keep_alive; // the cluster's shared state
  std::mutex* mtx = nullptr;
  view_table* views = nullptr;
  size_t slot = 0;
  uint64_t gen = 0;
  time_point opened{};

  explicit collector_state(collector_actor::stateful_pointer<collector_state> ptr)
    : self(ptr) {}

  collector_actor::behavior_type make_behavior() {
    return {
      [this](membership::m_event_atom, const membership::event& ev) {
        if (ev.kind == membership::event::name_conflict)
          return; // a claim, not a change of the view
        // The core stamps a change with the arrival time of the datagram
        // that caused it (or its own clock): exact, unlike our receipt time,
        // which trails by the scheduler's queueing. Clamp against anything
        // that predates this life (snapshot entries) or lies ahead.
        auto now = self->clock().now();
        auto at = std::min(now, std::max(ev.m.state_change, opened));
        std::lock_guard<std::mutex> guard{*mtx};
        views->on_member(slot, gen, ev.m.name, ev.m.state, ev.m.incarnation,
                         at);
      },
      [this](metadata::md_event_atom, const metadata::kv_change& ch) {
        auto now = self->clock().now();
        std::lock_guard<std::mutex> guard{*mtx};
        views->on_key(slot, gen, ch.key,
                      ch.deleted ? std::string{} : metadata::to_string(ch.ver),
                      now);
      },
    };
  }
};

/// Sends a request from a scoped actor and waits at most `timeout`.
template <class T, class Handle, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const Handle& dest,
                     duration timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> out{caf::make_error(caf::sec::request_timeout)};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& value) { out = std::move(value); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// The same for requests whose reply carries no value.
template <class Handle, class... Ts>
caf::error ask_done(caf::actor_system& sys, const Handle& dest,
                    duration timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::error out;
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([] {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace

bool cluster_config::set_profile(const std::string& name) {
  if (name == "lan") {
    membership = membership::config::lan();
    metadata = metadata::config::lan();
  } else if (name == "local") {
    membership = membership::config::local();
    metadata = metadata::config::local();
  } else if (name == "wan") {
    membership = membership::config::wan();
    metadata = metadata::config::wan();
  } else {
    return false;
  }
  return true;
}

void configure_system(caf::actor_system_config& cfg, size_t threads) {
  pekonode::init(cfg);
  compat::set_worker_threads(cfg, threads);
  compat::quiet_caf_logger(cfg);
  // The scheduler of the pekonode binary (node/main.cc): work-stealing
  // workers poll for work after every message, sleeping 50 us at a time,
  // which at N=200 made context switches most of the process's CPU.
  compat::use_sharing_scheduler(cfg);
}

cluster::cluster(caf::actor_system& sys, cluster_config cfg)
  : sys_(sys), cfg_(std::move(cfg)),
    shared_(std::make_shared<shared_state>(cfg_.nodes)),
    slots_(cfg_.nodes) {
  if (cfg_.label.empty()) {
    // Four characters (1.7 million labels) keep the cost at four bytes a
    // datagram; the process id, a count and the clock make two clusters
    // that run at the same time differ.
    static std::atomic<uint64_t> clusters{0};
    auto now = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
    auto h = mix64(static_cast<uint64_t>(::getpid()) * 1000003
                   + ++clusters * 7919 + now);
    constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int k = 0; k < 4; ++k, h /= 36)
      cfg_.label.push_back(digits[h % 36]);
  }
  for (size_t i = 0; i < slots_.size(); ++i)
    slots_[i].name = cfg_.name_prefix + std::to_string(i);
}

cluster::~cluster() {
  stop_all();
}

caf::error cluster::bind(size_t i) {
  auto& s = slots_[i];
  transport::udp_config tc;
  tc.wire.name = s.name;
  uint16_t port = s.lives == 0 && i < cfg_.ports.size() ? cfg_.ports[i] : 0;
  tc.bind = cfg_.bind_ip + ":" + std::to_string(port);
  tc.label = cfg_.label;
  // Hundreds of sockets in one process: 4 MiB each would pin a lot of
  // kernel memory under load; 1 MiB still absorbs a gossip burst.
  tc.recv_buffer = 1 << 20;
  tc.fault_seed = cfg_.seed * 1000003 + i + 7919 * s.lives + 1;
  tc.backlog = std::make_shared<transport::inbound_backlog>();
  s.backlog = tc.backlog;
  auto tx = transport::make_udp_transport(sys_, tc);
  if (!tx)
    return tx.error();
  auto adv = ask<address>(sys_, *tx, cfg_.request_timeout,
                          transport::tx_adv_atom_v);
  if (!adv) {
    caf::anon_send_exit(*tx, caf::exit_reason::user_shutdown);
    return adv.error();
  }
  s.node = node::node_handle{};
  s.node.transport = *tx;
  s.node.advertise = *adv;
  return caf::none;
}

void cluster::spawn(size_t i, std::vector<std::string> seeds) {
  auto& s = slots_[i];
  node::node_config nc;
  nc.name = s.name;
  nc.seeds = std::move(seeds);
  nc.membership = cfg_.membership;
  nc.metadata = cfg_.metadata;
  nc.seed = cfg_.seed * 1000003 + i + 7919 * s.lives + 1;
  nc.transport.wire.name = s.name;
  nc.transport.label = cfg_.label;
  nc.transport.backlog = s.backlog;
  s.node = node::spawn_node(sys_, nc, s.node.transport, s.node.advertise);
  uint64_t gen;
  {
    std::lock_guard<std::mutex> guard{shared_->mtx};
    gen = shared_->views.open(i);
  }
  auto shared = shared_;
  auto opened = std::chrono::steady_clock::now();
  collector_actor collector = sys_.spawn(
    [shared, i, gen, opened](
      collector_actor::stateful_pointer<collector_state> self) {
      auto& st = self->state;
      st.keep_alive = shared;
      st.mtx = &shared->mtx;
      st.views = &shared->views;
      st.slot = i;
      st.gen = gen;
      st.opened = opened;
      return st.make_behavior();
    });
  s.collector = caf::actor_cast<caf::actor>(collector);
  // Subscribing after the join was queued loses nothing: the snapshot is
  // taken when the subscription is handled, and events follow in order.
  caf::anon_send(s.node.membership, membership::m_sub_atom_v,
                 membership::member_listener_actor{collector});
  caf::anon_send(s.node.metadata, metadata::md_sub_atom_v,
                 metadata::key_listener_actor{collector});
  s.running = true;
  ++s.lives;
}

caf::error cluster::start(duration gap) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (auto err = bind(i)) {
      for (size_t j = 0; j < i; ++j)
        caf::anon_send_exit(slots_[j].node.transport,
                            caf::exit_reason::user_shutdown);
      return err;
    }
  }
  started_at_ = last_started_at_ = std::chrono::steady_clock::now();
  if (slots_.empty())
    return caf::none;
  spawn(0, {});
  std::vector<std::string> seeds{slots_[0].node.advertise};
  for (size_t i = 1; i < slots_.size(); ++i) {
    if (gap > duration::zero())
      std::this_thread::sleep_for(gap);
    last_started_at_ = std::chrono::steady_clock::now();
    spawn(i, seeds);
  }
  return caf::none;
}

void cluster::kill(size_t i, caf::exit_reason reason) {
  auto& s = slots_.at(i);
  {
    std::lock_guard<std::mutex> guard{shared_->mtx};
    shared_->views.close(i);
  }
  if (!s.running)
    return;
  // The node's actors are linked: stopping one stops them all.
  if (s.node.transport)
    caf::anon_send_exit(s.node.transport, reason);
  if (s.collector)
    caf::anon_send_exit(s.collector, reason);
  s.running = false;
}

time_point cluster::crash(size_t i) {
  auto t = std::chrono::steady_clock::now();
  kill(i, caf::exit_reason::kill);
  return t;
}

void cluster::stop(size_t i) {
  kill(i, caf::exit_reason::user_shutdown);
}

void cluster::stop_all() {
  for (size_t i = 0; i < slots_.size(); ++i)
    stop(i);
}

caf::error cluster::restart(size_t i) {
  if (slots_.at(i).running)
    return caf::make_error(caf::sec::runtime_error,
                           "slot " + std::to_string(i) + " is running");
  std::vector<std::string> seeds;
  for (size_t j = 0; j < slots_.size(); ++j) {
    if (j != i && slots_[j].running) {
      seeds.push_back(slots_[j].node.advertise);
      break;
    }
  }
  if (auto err = bind(i))
    return err;
  spawn(i, std::move(seeds));
  return caf::none;
}

caf::expected<time_point> cluster::leave(size_t i) {
  auto& s = slots_.at(i);
  if (!s.running)
    return caf::make_error(caf::sec::runtime_error, "slot not running");
  auto t = std::chrono::steady_clock::now();
  if (auto err = ask_done(sys_, s.node.membership, cfg_.request_timeout,
                          membership::m_leave_atom_v))
    return err;
  std::lock_guard<std::mutex> guard{shared_->mtx};
  shared_->views.close(i);
  return t;
}

caf::expected<std::string> cluster::put(size_t i, const std::string& key,
                                        const std::string& value) {
  auto ver = ask<metadata::version>(sys_, slots_.at(i).node.metadata,
                                    cfg_.request_timeout,
                                    metadata::md_put_atom_v, key, value);
  if (!ver)
    return ver.error();
  return metadata::to_string(*ver);
}

caf::expected<std::vector<std::string>> cluster::get(size_t i,
                                                     const std::string& key) {
  auto v = ask<std::string>(sys_, slots_.at(i).node.metadata,
                            cfg_.request_timeout, metadata::md_get_atom_v, key);
  if (v)
    return std::vector<std::string>{std::move(*v)};
  if (compat::error_code<metadata::ec>(v.error()) == metadata::ec::not_found)
    return std::vector<std::string>{};
  return v.error();
}

caf::expected<std::vector<membership::member>> cluster::members(size_t i) {
  return ask<std::vector<membership::member>>(
    sys_, slots_.at(i).node.membership, cfg_.request_timeout,
    membership::m_members_atom_v);
}

caf::error cluster::set_faults(size_t i, double drop_rate,
                               std::vector<address> blocked) {
  return ask_done(sys_, slots_.at(i).node.transport, cfg_.request_timeout,
                  transport::tx_fault_atom_v,
                  transport::faults{drop_rate, std::move(blocked)});
}

caf::expected<transport::stats> cluster::tx_stats(size_t i) {
  return ask<transport::stats>(sys_, slots_.at(i).node.transport,
                               cfg_.request_timeout,
                               transport::tx_stats_atom_v);
}

namespace {

/// Asks every actor in `targets` (slot index, handle) with `xs` at once (as
/// urgent messages, ahead of any backlog) and
/// collects the replies within one `timeout`; element i of the result stays
/// empty if slot i was not asked or did not answer in time. `Reply` is the
/// reply's first value; `Extra` are the types of its further values,
/// which are ignored.
template <class Reply, class... Extra, class Handle, class... Ts>
std::vector<std::optional<Reply>>
fan_out(caf::actor_system& sys, size_t slots,
        std::vector<std::pair<size_t, Handle>> targets, duration timeout,
        Ts... xs) {
  using result_vec = std::vector<std::optional<Reply>>;
  // Owned by the fan-out actor until `done` is fulfilled; read only after.
  struct acc_t {
    result_vec out;
    size_t pending = 0;
    std::promise<void> done;
  };
  auto acc = std::make_shared<acc_t>();
  acc->out.resize(slots);
  acc->pending = targets.size();
  auto fut = acc->done.get_future();
  if (targets.empty())
    return std::move(acc->out);
  sys.spawn([acc, targets, timeout, xs...](caf::event_based_actor* self) {
    auto one_done = [acc, self] {
      if (--acc->pending == 0) {
        acc->done.set_value();
        self->quit();
      }
    };
    for (auto& [i, dest] : targets) {
      auto idx = i;
      // Urgent: a node whose mailbox is backlogged still answers, so a
      // join that does not converge can be looked into.
      self->template request<caf::message_priority::high>(dest, timeout,
                                                          xs...)
        .then(
          [acc, idx, one_done](Reply& r, Extra...) {
            acc->out[idx] = std::move(r);
            one_done();
          },
          [one_done](caf::error&) { one_done(); });
    }
  });
  if (fut.wait_for(timeout + std::chrono::seconds(1))
      != std::future_status::ready)
    return result_vec(slots); // the actor still owns acc->out
  return std::move(acc->out);
}

} // namespace

template <class Handle, class Get>
std::vector<std::pair<size_t, Handle>> cluster::running_handles(Get get) const {
  std::vector<std::pair<size_t, Handle>> out;
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].running)
      out.emplace_back(i, get(slots_[i].node));
  return out;
}

std::vector<std::optional<transport::stats>>
cluster::tx_stats_all(duration timeout) {
  return fan_out<transport::stats>(
    sys_, slots_.size(),
    running_handles<transport::transport_actor>(
      [](const node::node_handle& h) { return h.transport; }),
    timeout, transport::tx_stats_atom_v);
}

std::vector<std::optional<membership::core_stats>>
cluster::m_stats_all(duration timeout) {
  return fan_out<membership::core_stats, int32_t>(
    sys_, slots_.size(),
    running_handles<membership::membership_actor>(
      [](const node::node_handle& h) { return h.membership; }),
    timeout, membership::m_stats_atom_v);
}

std::vector<std::optional<metadata::stats>>
cluster::md_stats_all(duration timeout) {
  return fan_out<metadata::stats>(
    sys_, slots_.size(),
    running_handles<metadata::metadata_actor>(
      [](const node::node_handle& h) { return h.metadata; }),
    timeout, metadata::md_stats_atom_v);
}

std::vector<std::optional<userevents::stats>>
cluster::ue_stats_all(duration timeout) {
  return fan_out<userevents::stats>(
    sys_, slots_.size(),
    running_handles<userevents::userevents_actor>(
      [](const node::node_handle& h) { return h.userevents; }),
    timeout, userevents::ue_stats_atom_v);
}

size_t cluster::running_count() const {
  return static_cast<size_t>(std::count_if(
    slots_.begin(), slots_.end(), [](const slot& s) { return s.running; }));
}

wait_result
cluster::wait_for(const std::function<reach(const view_table&)>& probe,
                  duration timeout, duration poll) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  wait_result res;
  for (;;) {
    res.last = with_views(probe);
    if (res.last.all()) {
      res.ok = true;
      return res;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return res;
    std::this_thread::sleep_for(std::min(poll, deadline - now));
  }
}

wait_result cluster::wait_all_alive(size_t n, duration timeout) const {
  return wait_for([n](const view_table& v) { return v.all_alive(n); },
                  timeout);
}

wait_result cluster::wait_seen_as(size_t i, std::vector<member_state> states,
                                  duration timeout) const {
  return wait_for(
    [name = slots_.at(i).name, states = std::move(states),
     i](const view_table& v) { return v.member_in(name, states, i); },
    timeout);
}

wait_result cluster::wait_key(const std::string& key,
                              const std::string& version,
                              duration timeout) const {
  return wait_for(
    [&key, &version](const view_table& v) { return v.key_at(key, version); },
    timeout);
}

} // namespace pekonode::chaos::inproc
