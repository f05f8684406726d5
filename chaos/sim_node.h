#pragma once
// One simulated pekonode node for the chaos harness: a membership core and a
// metadata core sharing one address on //chaos:simnet, wired like the real
// node (membership changes feed metadata peers). Not an actor shell and not
// a fault injector: faults belong to simnet, verdicts to chaos/checkers.h.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chaos/simnet.h"
#include "membership/core.h"
#include "metadata/core.h"

namespace pekonode::chaos {

/// Configuration shared by every node of a simulated cluster.
struct node_config {
  membership::config membership = membership::config::lan();
  metadata::config metadata = metadata::config::lan();
};

/// Membership core + metadata core behind one simulated address.
///
/// Datagrams are dispatched by `channel`. Calls made from outside simnet
/// callbacks (join, put, leave, ...) queue their datagrams and report a due
/// wakeup; the owner must call `simnet::wake(addr())` afterwards, and the
/// queued datagrams leave at the next poll, at the same virtual instant.
/// The metadata wall clock is virtual time in ms + a fixed base + `skew_ms`.
class sim_cluster_node : public sim_node {
public:
  /// Observer of membership events, called in the order they happen.
  using event_hook = std::function<void(const sim_cluster_node& observer,
                                        const membership::event& e,
                                        time_point at)>;

  /// `seed` drives both cores (derived streams); `skew_ms` offsets the
  /// node's metadata wall clock (may be negative).
  sim_cluster_node(const node_config& cfg, std::string name, address addr,
                   uint64_t seed, int64_t skew_ms = 0);

  // -- sim_node ----------------------------------------------------------------
  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point now,
                   outbound_list& out) override;
  void poll(time_point now, outbound_list& out) override;
  time_point next_wakeup() const override;

  // -- API calls from the scenario script (then call simnet::wake) -----------

  /// Joins through `seeds` (empty: founds a cluster of one).
  void join(const std::vector<address>& seeds, time_point now);
  /// Graceful leave of the membership layer.
  void leave(time_point now);
  /// Bumps this node's incarnation by re-publishing its tags.
  void set_tags(std::map<std::string, std::string> tags, time_point now);
  /// Local metadata write; the result carries the version when accepted.
  metadata::write_result put(const std::string& key, std::string value,
                             time_point now);

  // -- observation ------------------------------------------------------------
  const std::string& name() const { return name_; }
  const address& addr() const { return addr_; }
  const membership::core& mem() const { return *mem_; }
  const metadata::core& md() const { return *md_; }
  /// Wall-clock ms this node's metadata core sees at virtual time `now`.
  uint64_t wall_ms(time_point now) const;
  /// Payload + datagram overhead bytes this node emitted, per channel.
  uint64_t membership_bytes_out() const { return mem_bytes_out_; }
  uint64_t metadata_bytes_out() const { return md_bytes_out_; }

  /// Set by the harness; may be empty.
  event_hook on_event;

private:
  void after(time_point now, std::size_t first_out, outbound_list& out);
  void refresh_peers();

  std::string name_;
  address addr_;
  int64_t skew_ms_;
  std::unique_ptr<membership::core> mem_;
  std::unique_ptr<metadata::core> md_;
  outbound_list pending_;
  bool has_pending_ = false;
  time_point pending_at_{};
  uint64_t mem_bytes_out_ = 0;
  uint64_t md_bytes_out_ = 0;
};

/// Name of node i in simulated clusters: "n0", "n1", ...
std::string sim_node_name(std::size_t i);
/// Address of node i: "10.0.<i/250>.<i%250+1>:7946".
address sim_node_addr(std::size_t i);

} // namespace pekonode::chaos
