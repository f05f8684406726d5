#include "transport/sim_transport.h"

#include <glog/logging.h>

#include <algorithm>

#include "transport/shell.h"

namespace pekonode::transport {

// -- hub ---------------------------------------------------------------------------

void sim_hub_state::init(sim_hub_config config) {
  cfg = config;
  rng.seed(cfg.seed);
}

double sim_hub_state::loss_of(const address& from, const address& to) const {
  auto i = link_loss.find(link{from, to});
  return i == link_loss.end() ? cfg.loss : i->second;
}

void sim_hub_state::route(const address& from, const address& to,
                          std::string& bytes) {
  ++st.routed;
  // Draw before checking cuts: the loss pattern of the other links then
  // does not depend on which links are cut.
  double u = std::uniform_real_distribution<double>{0.0, 1.0}(rng);
  if (cuts.count(link{from, to}) > 0) {
    ++st.blocked;
    return;
  }
  if (u < loss_of(from, to)) {
    ++st.lost;
    return;
  }
  auto dest_addr = nodes.find(to);
  auto dest = dest_addr == nodes.end()
                ? datagram_sink_actor{}
                : caf::actor_cast<datagram_sink_actor>(dest_addr->second);
  if (!dest) {
    ++st.unknown;
    return;
  }
  ++st.delivered;
  st.bytes += bytes.size();
  if (cfg.duplicate > 0.0
      && std::uniform_real_distribution<double>{0.0, 1.0}(rng) < cfg.duplicate) {
    ++st.duplicated;
    deliver(dest, from, bytes);
  }
  deliver(dest, from, std::move(bytes));
}

void sim_hub_state::deliver(const datagram_sink_actor& dest,
                            const address& from, std::string bytes) {
  auto lo = cfg.delay_min.count();
  auto hi = std::max(lo, cfg.delay_max.count());
  caf::timespan delay{
    lo == hi ? lo : std::uniform_int_distribution<int64_t>{lo, hi}(rng)};
  if (delay.count() == 0)
    self->send(dest, tx_rx_atom_v, from, std::move(bytes));
  else
    self->delayed_send(dest, delay, tx_rx_atom_v, from, std::move(bytes));
}

sim_hub_actor::behavior_type sim_hub_state::make_behavior() {
  self->set_down_handler([this](const caf::down_msg& msg) {
    for (auto i = nodes.begin(); i != nodes.end();) {
      if (i->second == msg.source)
        i = nodes.erase(i);
      else
        ++i;
    }
  });
  auto clamp01 = [](double p) { return p > 0.0 ? std::min(p, 1.0) : 0.0; };
  return {
    [this](txs_reg_atom, const address& addr, const datagram_sink_actor& who) {
      self->monitor(who);
      nodes[addr] = who.address();
    },
    [this](txs_dg_atom, const address& from, const address& to,
           std::string& bytes) { route(from, to, bytes); },
    [this, clamp01](txs_loss_atom, double p) { cfg.loss = clamp01(p); },
    [this, clamp01](txs_loss_atom, const address& from, const address& to,
                    double p) { link_loss[link{from, to}] = clamp01(p); },
    [this, clamp01](txs_dup_atom, double p) { cfg.duplicate = clamp01(p); },
    [this](txs_delay_atom, caf::timespan lo, caf::timespan hi) {
      cfg.delay_min = std::max(caf::timespan{0}, lo);
      cfg.delay_max = std::max(cfg.delay_min, hi);
    },
    [this](txs_block_atom, const address& from, const address& to) {
      cuts.emplace(from, to);
    },
    [this](txs_unblk_atom, const address& from, const address& to) {
      cuts.erase(link{from, to});
    },
    [this](txs_part_atom, const sim_partition& p) {
      for (auto& x : p.a)
        for (auto& y : p.b) {
          cuts.emplace(x, y);
          cuts.emplace(y, x);
        }
    },
    [this](txs_heal_atom) { cuts.clear(); },
    [this](txs_stats_atom) { return st; },
  };
}

sim_hub_actor::behavior_type
sim_hub_behavior(sim_hub_actor::stateful_pointer<sim_hub_state> self,
                 sim_hub_config cfg) {
  self->state.init(cfg);
  return self->state.make_behavior();
}

sim_hub_actor make_sim_hub(caf::actor_system& sys, sim_hub_config cfg) {
  return sys.spawn(sim_hub_behavior, cfg);
}

// -- simulated transport -----------------------------------------------------------

sim_transport_state::sim_transport_state(
  datagram_transport_actor::stateful_pointer<sim_transport_state> ptr)
  : self(ptr) {
}

sim_transport_state::~sim_transport_state() = default;

void sim_transport_state::init(sim_port_actor port_hdl, address my_addr,
                               sim_transport_config cfg) {
  port = std::move(port_hdl);
  addr = std::move(my_addr);
  if (cfg.wire.epoch == 0)
    cfg.wire.epoch = random_epoch();
  detail::shell_env env;
  env.wall_ms = std::move(cfg.wall_ms);
  env.is_local = [this](const address& dest) { return dest == addr; };
  sh = std::make_unique<detail::shell>(
    wire{cfg.wire, framer{std::move(cfg.keys), std::move(cfg.label)}},
    cfg.fault_seed, std::move(env));
  self->send(port, txs_reg_atom_v, addr,
             caf::actor_cast<datagram_sink_actor>(self));
}

void sim_transport_state::send(const outbound_list& out) {
  auto batch = sh->prepare(self->clock().now(), out);
  auto& st = sh->counters();
  for (auto& d : batch.datagrams) {
    auto sealed = sh->seal(self->clock().now(), d.to, d.bytes, d.messages);
    if (!sealed)
      continue;
    ++st.datagrams_out;
    st.bytes_out += sealed->size();
    st.messages_out += d.messages;
    self->send(port, txs_dg_atom_v, addr, std::move(d.to), std::move(*sealed));
  }
}

datagram_transport_actor::behavior_type sim_transport_state::make_behavior() {
  return {
    [this](tx_rx_atom, const address& from, const std::string& bytes) {
      detail::deliver_datagram(self, *sh, from, bytes);
    },
    [this](tm_wake_atom) { detail::release_delayed(self, *sh); },
    [this](tx_send_atom, const outbound_list& out) { send(out); },
    [this](tx_sub_atom, channel chan, inbound_sink_actor who) {
      sh->subscribe(chan, std::move(who));
    },
    [this](tx_addr_atom) { return addr; },
    [this](tx_adv_atom) { return addr; },
    [this](tx_stats_atom) { return sh->snapshot(); },
    [this](tx_fault_atom) { return sh->current_faults(); },
    [this](tx_fault_atom, const faults& f) { sh->set_faults(f); },
    [this](tx_keyring_atom,
           const keyring_request& req) -> caf::result<keyring_reply> {
      auto r = sh->keyring_command(req);
      if (!r)
        return make_error(r.code, r.message);
      return std::move(*r);
    },
    [this](tx_close_atom) { self->quit(caf::exit_reason::user_shutdown); },
  };
}

datagram_transport_actor::behavior_type sim_transport_behavior(
  datagram_transport_actor::stateful_pointer<sim_transport_state> self,
  sim_port_actor port, address addr, sim_transport_config cfg) {
  self->state.init(std::move(port), std::move(addr), std::move(cfg));
  return self->state.make_behavior();
}

datagram_transport_actor make_sim_transport(caf::actor_system& sys,
                                            sim_port_actor port, address addr,
                                            std::string name,
                                            sim_transport_config cfg) {
  cfg.wire.name = std::move(name);
  return sys.spawn(sim_transport_behavior, std::move(port), std::move(addr),
                   std::move(cfg));
}

} // namespace pekonode::transport
