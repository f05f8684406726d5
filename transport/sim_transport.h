#pragma once
// A simulated datagram network for deterministic tests and the chaos harness:
// a hub actor routes framed datagrams between simulated transports with
// seeded loss, delay and partitions. Each simulated transport speaks exactly
// the transport.h protocol and uses the real codec and framing, so sizes and
// bytes are those of the UDP transport. No sockets, no threads: it runs under
// CAF's test coordinator, delays fire on `advance_time`.

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/types.h"
#include "transport/crypto.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport {

// Hub control atoms ("txs_" prefix). All are fire-and-forget except stats.
/// `(txs_loss_atom, double p)`: drop each datagram with probability p.
/// `(txs_loss_atom, address from, address to, double p)`: per-link override.
using txs_loss_atom = caf::atom_constant<caf::atom("txs_loss")>;
/// `(txs_dup_atom, double p)`: deliver a second copy (own random delay) with
/// probability p.
using txs_dup_atom = caf::atom_constant<caf::atom("txs_dup")>;
/// `(txs_delay_atom, caf::timespan min, caf::timespan max)`: uniform delay;
/// unequal delays reorder datagrams.
using txs_delay_atom = caf::atom_constant<caf::atom("txs_delay")>;
/// `(txs_block_atom, address from, address to)`: one-way cut from -> to.
using txs_block_atom = caf::atom_constant<caf::atom("txs_block")>;
/// `(txs_unblk_atom, address from, address to)`: undo one one-way cut.
using txs_unblk_atom = caf::atom_constant<caf::atom("txs_unblk")>;
/// `(txs_part_atom, std::vector<address> a, std::vector<address> b)`:
/// two-way cut between every member of a and every member of b.
using txs_part_atom = caf::atom_constant<caf::atom("txs_part")>;
/// `(txs_heal_atom)`: remove every cut (loss and delay stay).
using txs_heal_atom = caf::atom_constant<caf::atom("txs_heal")>;
/// `(txs_stats_atom) -> sim_stats`.
using txs_stats_atom = caf::atom_constant<caf::atom("txs_stats")>;
/// Between a simulated transport and its hub: `(txs_reg_atom, address,
/// caf::actor)` registers a transport, `(txs_dg_atom, address from, address
/// to, std::string bytes)` hands the hub one framed datagram, and the hub
/// delivers one with `(txs_rx_atom, address from, std::string bytes)`. Any
/// actor speaking these three messages can stand in for the hub (the chaos
/// harness bridges each node's transport to its own network simulator).
using txs_reg_atom = caf::atom_constant<caf::atom("txs_reg")>;
using txs_dg_atom = caf::atom_constant<caf::atom("txs_dg")>;
using txs_rx_atom = caf::atom_constant<caf::atom("tx_rx")>;

/// What the hub did with the datagrams it was given.
struct sim_stats {
  uint64_t routed = 0;   ///< datagrams handed to the hub
  uint64_t delivered = 0;
  uint64_t lost = 0;     ///< dropped by the loss model
  uint64_t blocked = 0;  ///< dropped by a cut
  uint64_t unknown = 0;  ///< no transport registered at the destination
  uint64_t duplicated = 0; ///< extra copies delivered
  uint64_t bytes = 0;    ///< bytes delivered
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sim_stats& x) {
  return f(caf::meta::type_name("sim_stats"), x.routed, x.delivered, x.lost,
           x.blocked, x.unknown, x.bytes, x.duplicated);
}

/// Initial network conditions of a hub.
struct sim_hub_config {
  /// Seed of the hub's loss and delay RNG; equal seeds give equal runs.
  uint64_t seed = 1;
  /// Probability in [0, 1] that a datagram is lost. Default 0.
  double loss = 0.0;
  /// Probability in [0, 1] that a delivered datagram is delivered twice.
  double duplicate = 0.0;
  /// Delivery delay, uniform in [delay_min, delay_max]. Default 0: delivered
  /// in the next scheduler step (still asynchronous).
  caf::timespan delay_min{0};
  caf::timespan delay_max{0};
};

/// Spawns the hub. It knows transports by address; transports that quit are
/// unregistered (monitored).
caf::actor make_sim_hub(caf::actor_system& sys, sim_hub_config cfg = {});

/// Settings of one simulated transport (the UDP transport's wire settings).
struct sim_transport_config {
  wire_config wire;   ///< `name` is overwritten by make_sim_transport's name
  keyring keys;       ///< empty: plaintext frames with `label`
  std::string label;
  /// Seed of the transport's own fault-injection RNG (tx_fault_atom).
  uint64_t fault_seed = 1;
};

/// Spawns a simulated transport at `addr` (any unique text; canonical
/// "ip:port" recommended) and registers it with `hub`.
caf::actor make_sim_transport(caf::actor_system& sys, caf::actor hub,
                              address addr, std::string name,
                              sim_transport_config cfg = {});

} // namespace pekonode::transport
