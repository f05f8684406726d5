#include "chaos/actor_node.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "transport/sim_transport.h"
#include "transport/wire.h"

namespace pekonode::chaos {

namespace {

// Parses "physical_ms.logical@origin" (metadata::to_string(version)).
std::optional<metadata::version> parse_version(const std::string& s) {
  auto dot = s.find('.');
  auto at = s.find('@');
  if (dot == std::string::npos || at == std::string::npos || dot > at)
    return std::nullopt;
  char* end = nullptr;
  auto phys = std::strtoull(s.c_str(), &end, 10);
  if (end != s.c_str() + dot) return std::nullopt;
  auto logical = std::strtoul(s.c_str() + dot + 1, &end, 10);
  if (end != s.c_str() + at || logical > 0xffff) return std::nullopt;
  metadata::version v;
  v.hlc = metadata::make_hlc(phys, static_cast<uint16_t>(logical));
  v.origin = s.substr(at + 1);
  return v;
}

} // namespace

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
  sys_cfg_.set("scheduler.policy", caf::atom("testing"));
  sys_cfg_.set("logger.verbosity", caf::atom("quiet"));
  sys_ = std::make_unique<caf::actor_system>(sys_cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  sched_->clock().current_time = now;
  auto* clk = &sched_->clock();
  cfg_.wall_ms = [this, clk] { return wall_ms(clk->current_time); };

  transport::sim_transport_config tc;
  tc.fault_seed = cfg_.seed;
  tc.wire.name = name_;
  bridge_->decoder = std::make_unique<transport::wire>(
    tc.wire, transport::framer{tc.keys, tc.label});
  auto b = bridge_;
  gateway_ = sys_->spawn([b](caf::event_based_actor*) -> caf::behavior {
    return {
      [](transport::txs_reg_atom, const address&, const caf::actor&) {},
      [b](transport::txs_dg_atom, const address&, address& to,
          std::string& bytes) {
        outbound o;
        o.to = std::move(to);
        o.payload = std::move(bytes);
        b->outbox.push_back(std::move(o));
      },
    };
  });
  observer_ = sys_->spawn([b](caf::event_based_actor* self) -> caf::behavior {
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
  for (auto* a : {&node_.membership, &node_.metadata, &transport_, &gateway_,
                  &observer_})
    if (*a) caf::anon_send_exit(*a, caf::exit_reason::kill);
  sched_->run();
  // Pending delayed messages would keep nothing alive; drop them unfired.
  node_ = {};
  transport_ = gateway_ = observer_ = caf::actor{};
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
    auto total = o.payload.size() + 28;
    auto env = b.decoder->receive(o.payload);
    uint64_t mem = 0, md = 0;
    if (env)
      for (auto& m : env->messages)
        (m.chan == channel::metadata ? md : mem) += m.body.size();
    if (mem + md == 0) mem = 1;
    auto mem_share = total * mem / (mem + md);
    mem_bytes_out_ += mem_share;
    md_bytes_out_ += total - mem_share;
    o.chan = md > mem ? channel::metadata : channel::membership;
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
  caf::anon_send(transport_, transport::txs_rx_atom::value, from, payload);
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

template <class T, class... Ts>
std::optional<T> actor_node::ask(const caf::actor& dest, caf::error* err,
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

void actor_node::join(const std::vector<address>& seeds, time_point now) {
  advance(now);
  if (started_) {
    caf::anon_send(node_.membership, membership::m_join_atom::value,
                   std::vector<std::string>(seeds.begin(), seeds.end()));
  } else {
    started_ = true;
    cfg_.seeds.assign(seeds.begin(), seeds.end());
    node_ = node::spawn_node(*sys_, cfg_, transport_, addr_);
    caf::anon_send(node_.membership, membership::m_sub_atom::value, observer_);
  }
  sched_->run();
}

void actor_node::leave(time_point now) {
  advance(now);
  ask<bool>(node_.membership, nullptr, membership::m_leave_atom::value);
}

void actor_node::set_tags(std::map<std::string, std::string> tags,
                          time_point now) {
  advance(now);
  ask<bool>(node_.membership, nullptr, membership::m_tags_atom::value,
            std::move(tags));
}

metadata::write_result actor_node::put(const std::string& key,
                                       std::string value, time_point now) {
  advance(now);
  caf::error err;
  auto ver = ask<std::string>(node_.metadata, &err,
                              metadata::md_put_atom::value, key,
                              std::move(value));
  metadata::write_result r;
  if (!ver) {
    r.code = err && err.category() == caf::atom("metadata")
               ? static_cast<metadata::ec>(err.code())
               : metadata::ec::store_full;
    return r;
  }
  auto v = parse_version(*ver);
  if (!v) {
    r.code = metadata::ec::origin_invalid;
    return r;
  }
  r.ver = std::move(*v);
  return r;
}

std::vector<membership::member> actor_node::members() const {
  auto ms = ask<std::vector<membership::member>>(
    node_.membership, nullptr, membership::m_members_atom::value);
  return ms ? std::move(*ms) : std::vector<membership::member>{};
}

membership::member actor_node::self() const {
  auto m = ask<membership::member>(node_.membership, nullptr,
                                   membership::m_self_atom::value);
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
                            metadata::md_digest_atom::value);
  return d ? *d : std::string{"(no answer)"};
}

std::optional<metadata::version>
actor_node::version_of(const std::string& key) const {
  auto items = ask<std::vector<metadata::kv_item>>(
    node_.metadata, nullptr, metadata::md_list_atom::value);
  if (!items) return std::nullopt;
  for (auto& it : *items)
    if (it.key == key) return parse_version(it.version);
  return std::nullopt;
}

uint64_t actor_node::content_fingerprint() const {
  auto items = ask<std::vector<metadata::kv_item>>(
    node_.metadata, nullptr, metadata::md_list_atom::value);
  uint64_t h = fnv_basis;
  if (!items) return h;
  for (auto& it : *items) { // sorted by key
    auto v = parse_version(it.version);
    auto value = ask<std::vector<std::string>>(
      node_.metadata, nullptr, metadata::md_get_atom::value, it.key);
    h = fold_entry(h, it.key, v ? *v : metadata::version{},
                   value && !value->empty() ? value->front() : std::string{});
  }
  return h;
}

} // namespace pekonode::chaos
