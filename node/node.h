#pragma once
// One pekonode node: the transport, membership and metadata actors composed
// and linked so they live and die together, plus `facade`, a blocking API for
// code outside the actor system (the seed's NodeList API, generalised; the
// admin HTTP API runs on it). Embedders inside a CAF system use the actor
// handles of `node_handle` directly.

#include <caf/all.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "membership/membership_actor.h"
#include "metadata/metadata_actor.h"
#include "node/admin_backend.h"
#include "transport/udp_transport.h"

namespace pekonode::node {

/// Everything a node needs. `transport` holds the bind/advertise addresses,
/// keyring and label; `transport.wire.name` is set from `name`.
struct node_config {
  std::string name;
  std::vector<std::string> seeds; ///< "host:port"; DNS names allowed
  tag_map tags;
  membership::config membership = membership::config::lan();
  metadata::config metadata = metadata::config::lan();
  transport::udp_config transport;
  uint64_t seed = 0; ///< randomness; 0 picks one from std::random_device
  /// Wall clock in ms for metadata versions (the HLC's physical part).
  /// Default (empty): the system clock. Simulations pass virtual time.
  std::function<uint64_t()> wall_ms;
};

/// The actors of one node. All three are linked: if one fails, all stop.
struct node_handle {
  caf::actor transport;
  caf::actor membership;
  caf::actor metadata;
  address advertise; ///< the address peers reach this node at
};

/// Spawns membership and metadata on an existing transport actor (UDP or
/// simulated) that advertises `advertise`, and starts joining `cfg.seeds`.
node_handle spawn_node(caf::actor_system& sys, const node_config& cfg,
                       caf::actor transport, address advertise);

/// Binds a UDP transport per `cfg.transport` and spawns the node on it.
/// Fails (with the transport's one-line reason) if the socket cannot be bound.
caf::expected<node_handle> start_udp_node(caf::actor_system& sys,
                                          node_config cfg);

/// Blocking access to a running node, thread-safe; every call waits at most
/// `timeout` for the node to answer. Implements the admin API's backend and
/// the seed's API: Join (join), Get (members), Stop (leave), Start (rejoin),
/// Publish (metadata_put), Read (metadata_get), plus Put/Get/Delete/Watch.
class facade : public admin_backend {
public:
  facade(caf::actor_system& sys, node_handle node, std::string name,
         duration timeout = std::chrono::seconds(5));

  result self(self_view& out) override;
  result members(std::vector<member_view>& out) override;
  result kv_list(std::vector<kv_entry_view>& out) override;
  result kv_get(const std::string& key, std::string& value) override;
  result kv_put(const std::string& key, std::string value) override;
  result kv_del(const std::string& key) override;
  result kv_watch(uint64_t after_index, duration timeout,
                  watch_batch& out) override;
  result metadata_get(std::string& value) override;
  result metadata_put(std::string value) override;
  result join(const std::vector<std::string>& seeds) override;
  result leave() override;
  result rejoin() override;
  result set_tags(const tag_map& tags) override;
  result faults(fault_settings& out) override;
  result set_faults(const fault_settings& settings) override;
  result metrics(std::string& out) override;
  bool healthy() override;

  /// Marks the node as stopping: healthy() turns false.
  void shutting_down() { stopping_ = true; }

  const node_handle& handle() const { return node_; }

private:
  caf::actor_system& sys_;
  node_handle node_;
  std::string name_;
  duration timeout_;
  std::atomic<bool> stopping_{false};
};

} // namespace pekonode::node
