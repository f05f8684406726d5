#include "chaos/actor_node.h"

#include <algorithm>
#include <utility>

#include "node/init.h"
#include "transport/wire.h"

namespace pekonode::chaos {


/// What the node's helper actors hand back to the adapter. Shared because
/// the actors may outlive a destructor step; one thread touches it.
struct actor_node::bridge {
  outbound_list outbox;
  std::vector<std::pair<membership::event, time_point>> events;
  /// Decodes outgoing datagrams to split their bytes between the layers.
  std::unique_ptr<transport::wire> decoder;
};

actor_node::actor_node(const node_config& cfg, std::string name, address addr,
                       uint64_t seed, int64_t skew_ms, time_point now)
  : cluster_node(std::move(name), std::move(addr), skew_ms),
    bridge_(std::make_shared<bridge>()) {
  cfg_.name = name_;
  cfg_.membership = cfg.membership;
  cfg_.metadata = cfg.metadata;
  cfg_.seed = seed == 0 ? 1 : seed;
  pekonode::init(sys_cfg_);
  compat::use_test_scheduler(sys_cfg_);
  compat::quiet_caf_logger(sys_cfg_);
  sys_ = std::make_unique<caf::actor_system>(sys_cfg_);
  sched_ = &compat::test_scheduler(*sys_);
  sched_->clock().current_time = now;
  auto* clk = &sched_->clock();
  cfg_.wall_ms = [this, clk] { return wall_ms(clk->current_time); };

  transport::sim_transport_config tc;
  tc.fault_seed = cfg_.seed;
  tc.wire.name = name_;
  bridge_->decoder = std::make_unique<transport::wire>(
    tc.wire, transport::framer{tc.keys, tc.label});
  auto b = bridge_;
  gateway_ = sys_->spawn([b]() -> transport::sim_port_actor::behavior_type {
    return {
      [](transport::txs_reg_atom, const address&,
         const transport::datagram_sink_actor&) {},
      [b](transport::txs_dg_atom, const address&, address& to,
          std::string& bytes) {
        outbound o;
        o.to = std::move(to);
        o.payload = std::move(bytes);
        b->outbox.push_back(std::move(o));
      },
    };
  });
  observer_ = sys_->spawn(
    [b](membership::member_listener_actor::pointer self)
      -> membership::member_listener_actor::behavior_type {
      return {
        [b, self](membership::m_event_atom, const membership::event& e) {
          b->events.emplace_back(e, self->clock().now());
        },
      };
    });
  transport_ =
    transport::make_sim_transport(*sys_, gateway_, addr_, name_, std::move(tc));
  sched_->run();
}

actor_node::~actor_node() {
  // The node's actors are linked: killing the transport kills them all.
  if (transport_) caf::anon_send_exit(transport_, caf::exit_reason::kill);
  if (gateway_) caf::anon_send_exit(gateway_, caf::exit_reason::kill);
  if (observer_) caf::anon_send_exit(observer_, caf::exit_reason::kill);
  sched_->run();
  // Pending delayed messages would keep nothing alive; drop them unfired.
  node_ = node::node_handle{};
  transport_ = transport::datagram_transport_actor{};
  gateway_ = transport::sim_port_actor{};
  observer_ = membership::member_listener_actor{};
  sys_.reset();
}

void actor_node::advance(time_point t) {
  auto& clk = sched_->clock();
  sched_->run();
  while (!clk.schedule().empty() && clk.schedule().begin()->first <= t) {
    clk.trigger_timeout(); // moves the clock to the timeout's due time
    sched_->run();
  }
  if (clk.current_time < t) clk.current_time = t;
}

void actor_node::flush(outbound_list& out) {
  auto& b = *bridge_;
  for (auto& o : b.outbox) {
    // Attribute the datagram (IP/UDP headers included) to the layers in
    // proportion to their message bytes; a batch may carry both.
    // User-event messages (channel 3) count for neither layer.
    auto total = o.payload.size() + 28;
    auto env = b.decoder->receive(o.payload);
    uint64_t mem = 0, md = 0, ue = 0;
    if (env)
      for (auto& m : env->messages)
        (m.chan == channel::metadata     ? md
         : m.chan == channel::membership ? mem
                                         : ue) += m.body.size();
    if (mem + md == 0 && ue == 0) mem = 1;
    if (mem + md > 0) {
      auto counted = total * (mem + md) / (mem + md + ue);
      auto mem_share = counted * mem / (mem + md);
      mem_bytes_out_ += mem_share;
      md_bytes_out_ += counted - mem_share;
    }
    o.chan = mem + md == 0 ? channel::user_events
             : md > mem    ? channel::metadata
                           : channel::membership;
    out.push_back(std::move(o));
  }
  b.outbox.clear();
  if (!b.events.empty()) {
    auto events = std::move(b.events);
    b.events.clear();
    view_changes_ += events.size();
    for (auto& [e, at] : events) {
      if (e.kind != membership::event::name_conflict) mirror_[e.m.name] = e.m;
      if (on_event) on_event(e, at);
    }
  }
}

void actor_node::on_datagram(const address& from, channel,
                             const std::string& payload, time_point now,
                             outbound_list& out) {
  advance(now);
  caf::anon_send(transport_, transport::tx_rx_atom_v, from, payload);
  sched_->run();
  flush(out);
}

void actor_node::poll(time_point now, outbound_list& out) {
  advance(now);
  flush(out);
}

time_point actor_node::next_wakeup() const {
  auto& clk = sched_->clock();
  if (!bridge_->outbox.empty() || !bridge_->events.empty())
    return clk.current_time;
  if (clk.schedule().empty()) return time_point::max();
  return std::max(clk.schedule().begin()->first, clk.current_time);
}

template <class T, class Handle, class... Ts>
std::optional<T> actor_node::ask(const Handle& dest, caf::error* err,
                                 Ts... xs) const {
  auto value = std::make_shared<std::optional<T>>();
  auto failure = std::make_shared<caf::error>();
  sys_->spawn([=](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, xs...)
      .then([=](T& x) { *value = std::move(x); },
            [=](caf::error& e) { *failure = std::move(e); });
  });
  sched_->run();
  if (err) *err = *failure;
  return *value;
}

template <class Handle, class... Ts>
bool actor_node::ask_done(const Handle& dest, Ts... xs) const {
  auto done = std::make_shared<bool>(false);
  sys_->spawn([=](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, xs...).then([=] { *done = true; });
  });
  sched_->run();
  return *done;
}

void actor_node::join(const std::vector<address>& seeds, time_point now) {
  advance(now);
  if (started_) {
    caf::anon_send(node_.membership, membership::m_join_atom_v,
                   membership::seed_list{{seeds.begin(), seeds.end()}});
  } else {
    started_ = true;
    cfg_.seeds.assign(seeds.begin(), seeds.end());
    node_ = node::spawn_node(*sys_, cfg_, transport_, addr_);
    caf::anon_send(node_.membership, membership::m_sub_atom_v, observer_);
  }
  sched_->run();
}

void actor_node::leave(time_point now) {
  advance(now);
  ask_done(node_.membership, membership::m_leave_atom_v);
}

void actor_node::set_tags(std::map<std::string, std::string> tags,
                          time_point now) {
  advance(now);
  ask_done(node_.membership, membership::m_tags_atom_v,
           membership::tag_set{std::move(tags)});
}

metadata::write_result actor_node::put(const std::string& key,
                                       std::string value, time_point now) {
  advance(now);
  caf::error err;
  auto ver = ask<metadata::version>(node_.metadata, &err,
                                    metadata::md_put_atom_v, key,
                                    std::move(value));
  metadata::write_result r;
  if (!ver) {
    // The node's answer is a metadata error, or it did not answer at all.
    r.code = compat::error_code<metadata::ec>(err).value_or(
      metadata::ec::store_full);
    return r;
  }
  r.ver = std::move(*ver);
  return r;
}

std::vector<membership::member> actor_node::members() const {
  auto ms = ask<std::vector<membership::member>>(
    node_.membership, nullptr, membership::m_members_atom_v);
  return ms ? std::move(*ms) : std::vector<membership::member>{};
}

membership::member actor_node::self() const {
  auto m = ask<membership::member>(node_.membership, nullptr,
                                   membership::m_self_atom_v);
  return m ? std::move(*m) : membership::member{};
}

std::vector<membership::member> actor_node::observed_members() const {
  std::vector<membership::member> r;
  r.reserve(mirror_.size());
  for (auto& [_, m] : mirror_) r.push_back(m);
  return r;
}

std::string actor_node::store_digest() const {
  auto d = ask<std::string>(node_.metadata, nullptr,
                            metadata::md_digest_atom_v);
  return d ? *d : std::string{"(no answer)"};
}

std::optional<metadata::version>
actor_node::version_of(const std::string& key) const {
  auto items = ask<std::vector<metadata::kv_item>>(
    node_.metadata, nullptr, metadata::md_list_atom_v);
  if (!items) return std::nullopt;
  for (auto& it : *items)
    if (it.key == key) return it.ver;
  return std::nullopt;
}

uint64_t actor_node::content_fingerprint() const {
  auto items = ask<std::vector<metadata::kv_item>>(
    node_.metadata, nullptr, metadata::md_list_atom_v);
  uint64_t h = fnv_basis;
  if (!items) return h;
  for (auto& it : *items) { // sorted by key
    auto value = ask<std::string>(node_.metadata, nullptr,
                                  metadata::md_get_atom_v, it.key);
    h = fold_entry(h, it.key, it.ver, value ? *value : std::string{});
  }
  return h;
}

} // namespace pekonode::chaos
