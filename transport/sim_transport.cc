#include "transport/sim_transport.h"

#include <glog/logging.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "transport/shell.h"

namespace pekonode::transport {

namespace {

using link = std::pair<address, address>;

struct hub_state {
  caf::stateful_actor<hub_state>* self;
  sim_hub_config cfg;
  std::mt19937_64 rng;
  // Weak handles: the hub must not keep transports alive.
  std::unordered_map<address, caf::actor_addr> nodes;
  std::map<link, double> link_loss;
  std::set<link> cuts;
  sim_stats st;

  explicit hub_state(caf::stateful_actor<hub_state>* ptr) : self(ptr) {}

  void init(sim_hub_config config) {
    cfg = config;
    rng.seed(cfg.seed);
  }

  double loss_of(const address& from, const address& to) const {
    auto i = link_loss.find(link{from, to});
    return i == link_loss.end() ? cfg.loss : i->second;
  }

  void route(const address& from, const address& to, std::string& bytes) {
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
                  ? caf::actor{}
                  : caf::actor_cast<caf::actor>(dest_addr->second);
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

  void deliver(const caf::actor& dest, const address& from, std::string bytes) {
    auto lo = cfg.delay_min.count();
    auto hi = std::max(lo, cfg.delay_max.count());
    caf::timespan delay{lo == hi ? lo
                                 : std::uniform_int_distribution<int64_t>{lo, hi}(rng)};
    if (delay.count() == 0)
      self->send(dest, txs_rx_atom::value, from, std::move(bytes));
    else
      self->delayed_send(dest, delay, txs_rx_atom::value, from,
                         std::move(bytes));
  }

  caf::behavior make_behavior() {
    self->set_down_handler([this](const caf::down_msg& msg) {
      for (auto i = nodes.begin(); i != nodes.end();) {
        if (i->second == msg.source)
          i = nodes.erase(i);
        else
          ++i;
      }
    });
    return {
      [this](txs_reg_atom, const address& addr, caf::actor who) {
        self->monitor(who);
        nodes[addr] = who.address();
      },
      [this](txs_dg_atom, const address& from, const address& to,
             std::string& bytes) { route(from, to, bytes); },
      [this](txs_loss_atom, double p) { cfg.loss = std::clamp(p, 0.0, 1.0); },
      [this](txs_loss_atom, const address& from, const address& to, double p) {
        link_loss[link{from, to}] = std::clamp(p, 0.0, 1.0);
      },
      [this](txs_dup_atom, double p) { cfg.duplicate = std::clamp(p, 0.0, 1.0); },
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
      [this](txs_part_atom, const std::vector<address>& a,
             const std::vector<address>& b) {
        for (auto& x : a)
          for (auto& y : b) {
            cuts.emplace(x, y);
            cuts.emplace(y, x);
          }
      },
      [this](txs_heal_atom) { cuts.clear(); },
      [this](txs_stats_atom) -> sim_stats { return st; },
    };
  }
};

struct sim_state {
  caf::stateful_actor<sim_state>* self;
  std::unique_ptr<detail::shell> sh;
  caf::actor hub;
  address addr;

  explicit sim_state(caf::stateful_actor<sim_state>* ptr) : self(ptr) {}

  void init(caf::actor hub_hdl, address my_addr, sim_transport_config cfg) {
    hub = std::move(hub_hdl);
    addr = std::move(my_addr);
    sh = std::make_unique<detail::shell>(
      wire{cfg.wire, framer{std::move(cfg.keys), std::move(cfg.label)}},
      cfg.fault_seed);
  }

  void send(const outbound_list& out) {
    auto batch = sh->prepare(self, out);
    auto& st = sh->counters();
    for (auto& d : batch.datagrams) {
      ++st.datagrams_out;
      st.bytes_out += d.bytes.size();
      st.messages_out += d.messages;
      self->send(hub, txs_dg_atom::value, addr, std::move(d.to),
                 std::move(d.bytes));
    }
  }

  caf::behavior make_behavior() {
    return {
      [this](txs_rx_atom, const address& from, const std::string& bytes) {
        sh->on_datagram(self, from, bytes);
      },
      [this](tx_send_atom, const outbound_list& out) { send(out); },
      [this](tx_sub_atom, channel chan, caf::actor who) {
        sh->subscribe(chan, std::move(who));
      },
      [this](tx_addr_atom) -> address { return addr; },
      [this](tx_adv_atom) -> address { return addr; },
      [this](tx_stats_atom) -> stats { return sh->snapshot(); },
      [this](tx_fault_atom) -> caf::result<double, std::vector<address>> {
        return {sh->drop_rate(), sh->blocked()};
      },
      [this](tx_fault_atom, double rate, const std::vector<address>& blocked) {
        sh->set_faults(rate, blocked);
        return true;
      },
      [this](tx_close_atom) { self->quit(); },
    };
  }
};

} // namespace

caf::actor make_sim_hub(caf::actor_system& sys, sim_hub_config cfg) {
  return sys.spawn([cfg](caf::stateful_actor<hub_state>* self) {
    self->state.init(cfg);
    return self->state.make_behavior();
  });
}

caf::actor make_sim_transport(caf::actor_system& sys, caf::actor hub,
                              address addr, std::string name,
                              sim_transport_config cfg) {
  cfg.wire.name = std::move(name);
  auto hdl = sys.spawn([hub, addr, cfg](caf::stateful_actor<sim_state>* self) {
    self->state.init(hub, addr, cfg);
    return self->state.make_behavior();
  });
  caf::anon_send(hub, txs_reg_atom::value, addr, hdl);
  return hdl;
}

} // namespace pekonode::transport
