#pragma once
// One pekonode node: the timer, transport, membership and metadata actors
// (plus the peer feed that gives the metadata actor its peers from the
// membership actor's events), composed and linked so that they live and die
// together; and `facade`, a blocking API for code outside the actor system
// (the seed's NodeList API, generalised; the admin HTTP API runs on it).
// Embedders inside a CAF system use the typed handles of `node_handle`
// directly, or compose the behaviour functions of each layer themselves.
//
// Fail together: the node's actors are linked, so when any of them
// terminates with a non-normal reason (a crash, an exit message, the
// transport's tx_close) the others terminate with the same reason. Monitor
// any one of them to learn that the node stopped.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "membership/membership_actor.h"
#include "metadata/metadata_actor.h"
#include "node/admin_backend.h"
#include "node/durable.h"
#include "node/metrics.h"
#include "transport/timer.h"
#include "transport/udp_transport.h"
#include "userevents/userevents_actor.h"

namespace pekonode::node {

/// Node-level failures (the layers' own errors keep their categories).
enum class ec : uint8_t {
  none = 0,
  bad_config,    ///< node_config rejected (e.g. an empty name)
  not_answering, ///< an actor of the node did not answer in time
  stopped,       ///< the node's actors have terminated
};

/// "bad_config", "not_answering", "stopped".
const char* to_string(ec x) noexcept;

} // namespace pekonode::node

PEKONODE_ERROR_CODE_ENUM(pekonode::node::ec, "node")

CAF_BEGIN_TYPE_ID_BLOCK(pekonode_node, caf::id_block::pekonode_userevents::end)

  CAF_ADD_TYPE_ID(pekonode_node, (pekonode::node::ec))

  CAF_ADD_ATOM(pekonode_node, pekonode::node, nd_tick_atom, "nd_tick")
  CAF_ADD_ATOM(pekonode_node, pekonode::node, nd_snap_atom, "nd_snap")

CAF_END_TYPE_ID_BLOCK(pekonode_node)

namespace pekonode::node {

/// Everything a node needs. `transport` holds the bind/advertise addresses,
/// keyring and label; `transport.wire.name` is set from `name`.
struct node_config {
  std::string name;
  std::vector<std::string> seeds; ///< "host:port"; DNS names allowed
  tag_map tags;
  membership::config membership = membership::config::lan();
  metadata::config metadata = metadata::config::lan();
  /// User events and queries (userevents/types.h).
  userevents::config user_events = userevents::config::lan();
  transport::udp_config transport;
  uint64_t seed = 0; ///< randomness; 0 picks one from std::random_device
  /// How often "dns:" seeds are looked up again.
  duration dns_refresh = std::chrono::seconds(30);
  /// Wall clock in ms for metadata versions (the HLC's physical part).
  /// Default (empty): the system clock. Simulations pass virtual time.
  std::function<uint64_t()> wall_ms;
  /// What --data_dir gave (open_data_dir, node/durable.h): the store the
  /// metadata actor writes through, what it loaded, the boot epoch (replay
  /// protection: larger at every start), the incarnation to start at and the
  /// peers to rejoin. Default: memory only.
  durable_state durable;
  /// How often the membership snapshot is written when it changed.
  duration snapshot_interval = std::chrono::seconds(2);
};

/// The actors of one node, all linked (see the top of this header).
struct node_handle {
  transport::transport_actor transport;
  transport::timer_actor timer;
  membership::membership_actor membership;
  metadata::metadata_actor metadata;
  address advertise; ///< the address peers reach this node at
  /// User events and queries: raise, query, subscribe, register a responder.
  userevents::userevents_actor userevents;
  /// With a data dir: the actor keeping the membership snapshot, which
  /// answers `(nd_snap_atom) -> bool` once a current one is durable.
  caf::actor snapshots;
  uint64_t boot_epoch = 0; ///< from the data dir (0 without one)
};

/// Behaviour of the peer feed: forwards each member event as the peer
/// change it means (node/peer_map.h) to `sink`, skipping `self_name`.
membership::member_listener_actor::behavior_type
peer_feed_behavior(membership::member_listener_actor::pointer self,
                   metadata::peer_sink_actor sink, std::string self_name);

/// Spawns the timer, membership and metadata actors and the peer feed on an
/// existing transport actor (UDP or simulated) that advertises `advertise`,
/// links them all (the transport too), and starts joining `cfg.seeds`.
node_handle spawn_node(caf::actor_system& sys, const node_config& cfg,
                       transport::transport_actor transport,
                       address advertise);

/// Binds a UDP transport per `cfg.transport` and spawns the node on it.
/// Does not block. Errors: node::ec::bad_config (empty name) or the
/// transport's (e.g. io_error when the address cannot be bound).
caf::expected<node_handle> start_udp_node(caf::actor_system& sys,
                                          node_config cfg);

/// How the admin API reports an error of any pekonode layer: a decision on
/// the error's category and code, never on its text.
result_code result_code_of(const caf::error& err);

/// A one-line reason for people, from the error's code and context.
std::string describe(const caf::error& err);

/// Blocking access to a running node, thread-safe; every call waits at most
/// `timeout` for the node to answer. Implements the admin API's backend and
/// the seed's API: Join (join), Get (members), Stop (leave), Start (rejoin),
/// Publish (metadata_put), Read (metadata_get), plus Put/Get/Delete/Watch.
/// Watches wait on a subscription to the metadata actor's change events.
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
  result kv_write(const std::string& key, std::string value,
                  const kv_write_options& opts, kv_write_view& out) override;
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
  result snapshot_save(uint64_t max_bytes, std::string& out) override;
  result snapshot_restore(std::string file, restore_view& out) override;
  result force_leave(const std::string& name) override;
  result send_event(const std::string& name, const std::string& payload,
                    bool coalesce, user_event_view& out) override;
  result run_query(const query_request& q, query_outcome& out) override;
  result keyring(keyring_op op, const std::string& key,
                 keyring_view& out) override;
  result cluster_keyring(keyring_op op, const std::string& key,
                         duration timeout, cluster_keyring_view& out) override;

  /// Marks the node as stopping: healthy() turns false.
  void shutting_down() { stopping_ = true; }

  const node_handle& handle() const { return node_; }

private:
  /// Gauges of /metrics beside the counters (see node.cc).
  static void add_metadata_gauges(metrics_registry& reg,
                                  const metadata::stats& s);
  result add_gauges(metrics_registry& reg);
  result user_event_metrics(metrics_registry& reg);

  caf::actor_system& sys_;
  node_handle node_;
  std::string name_;
  duration timeout_;
  std::atomic<bool> stopping_{false};
};

} // namespace pekonode::node
