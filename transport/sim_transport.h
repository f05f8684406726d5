#pragma once
// Simulated network for deterministic tests and the chaos harness: a hub
// actor routes framed datagrams between simulated transports with seeded
// loss, delay and partitions (sim_hub_actor in transport.h). Each simulated
// transport speaks exactly the transport_actor protocol and uses the real
// codec and framing, so sizes and bytes are those of the UDP transport. No
// sockets, no threads: it runs under CAF's test coordinator, delays fire on
// `advance_time`.

#include <map>
#include <memory>
#include <random>
#include <set>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/types.h"
#include "transport/crypto.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport {

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

/// State of a hub (internal; use the sim_hub_actor protocol).
struct sim_hub_state {
  using link = std::pair<address, address>;

  explicit sim_hub_state(sim_hub_actor::stateful_pointer<sim_hub_state> ptr)
    : self(ptr) {}

  void init(sim_hub_config config);
  sim_hub_actor::behavior_type make_behavior();
  double loss_of(const address& from, const address& to) const;
  void route(const address& from, const address& to, std::string& bytes);
  void deliver(const datagram_sink_actor& dest, const address& from,
               std::string bytes);

  sim_hub_actor::stateful_pointer<sim_hub_state> self;
  sim_hub_config cfg;
  std::mt19937_64 rng;
  // Weak handles: the hub must not keep transports alive.
  std::unordered_map<address, caf::actor_addr> nodes;
  std::map<link, double> link_loss;
  std::set<link> cuts;
  sim_stats st;
};

/// Behaviour of the hub.
sim_hub_actor::behavior_type
sim_hub_behavior(sim_hub_actor::stateful_pointer<sim_hub_state> self,
                 sim_hub_config cfg);

/// Spawns the hub. It knows transports by address; transports that quit are
/// unregistered (monitored).
sim_hub_actor make_sim_hub(caf::actor_system& sys, sim_hub_config cfg = {});

/// Settings of one simulated transport (the UDP transport's wire settings).
struct sim_transport_config {
  wire_config wire;   ///< `name` is overwritten by make_sim_transport's name
  keyring keys;       ///< empty: plaintext frames with `label`
  std::string label;
  /// Seed of the transport's own fault-injection RNG (tx_fault_atom).
  uint64_t fault_seed = 1;
  /// Wall clock for frame times (ms since 1970); empty: the system clock.
  /// Simulations under virtual time pass one derived from it, so frames
  /// age as the simulated time passes.
  std::function<uint64_t()> wall_ms;
};

namespace detail {
class shell;
} // namespace detail

/// State of a simulated transport (internal; use the transport_actor
/// protocol).
struct sim_transport_state {
  explicit sim_transport_state(
    datagram_transport_actor::stateful_pointer<sim_transport_state> ptr);
  ~sim_transport_state();

  void init(sim_port_actor port, address my_addr, sim_transport_config cfg);
  datagram_transport_actor::behavior_type make_behavior();
  void send(const outbound_list& out);

  datagram_transport_actor::stateful_pointer<sim_transport_state> self;
  std::unique_ptr<detail::shell> sh;
  sim_port_actor port;
  address addr;
};

/// Behaviour of a simulated transport at `addr` (any unique text; canonical
/// "ip:port" recommended) that sends through `port` and registers with it.
datagram_transport_actor::behavior_type sim_transport_behavior(
  datagram_transport_actor::stateful_pointer<sim_transport_state> self,
  sim_port_actor port, address addr, sim_transport_config cfg);

/// Spawns a simulated transport named `name` at `addr` on `port` (a hub or
/// a stand-in). Returned with the datagram interface, which the network
/// uses to deliver.
datagram_transport_actor make_sim_transport(caf::actor_system& sys,
                                            sim_port_actor port, address addr,
                                            std::string name,
                                            sim_transport_config cfg = {});

} // namespace pekonode::transport
