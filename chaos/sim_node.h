#pragma once
// One simulated pekonode node for the chaos harness: the interface the
// harness drives and observes, and its fast implementation over the bare
// membership and metadata cores on //chaos:simnet. Not a fault injector:
// faults belong to simnet, verdicts to chaos/checkers.h.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/simnet.h"
#include "membership/core.h"
#include "metadata/core.h"

namespace pekonode::chaos {

// The simulator lives in sim/; the harness uses its names unqualified.
using sim::datagram_overhead_bytes;
using sim::drop_reason;
using sim::link_faults;
using sim::sim_node;
using sim::simnet;

/// Configuration shared by every node of a simulated cluster.
struct node_config {
  membership::config membership = membership::config::lan();
  metadata::config metadata = metadata::config::lan();
};

/// One whole pekonode node as the chaos harness drives and observes it, on
/// //chaos:simnet. Two implementations run the same protocol code:
/// `core_node` (below: the two cores wired directly, fast enough for
/// N = 10000) and `actor_node` (chaos/actor_node.h: the real CAF actors of
/// a node on its own deterministic test scheduler).
///
/// Calls made from outside simnet callbacks (join, put, leave, ...) take
/// effect at once; the owner must call `simnet::wake(addr())` afterwards so
/// that the datagrams they produce leave at the same virtual instant.
/// The metadata wall clock is virtual time in ms + a fixed base + `skew_ms`.
class cluster_node : public sim_node {
public:
  /// Observer of membership events, called in the order they happen.
  using event_hook =
    std::function<void(const membership::event& e, time_point at)>;

  cluster_node(std::string name, address addr, int64_t skew_ms)
    : name_(std::move(name)), addr_(std::move(addr)), skew_ms_(skew_ms) {}

  // -- API calls from the scenario script (then call simnet::wake) -----------

  /// Starts the node, joining through `seeds` (empty: founds a cluster of
  /// one). Called once, right after construction.
  virtual void join(const std::vector<address>& seeds, time_point now) = 0;
  /// Graceful leave of the membership layer.
  virtual void leave(time_point now) = 0;
  /// Replaces this node's tags, which raises its incarnation.
  virtual void set_tags(std::map<std::string, std::string> tags,
                        time_point now) = 0;
  /// Local metadata write; the result carries the version when accepted.
  virtual metadata::write_result put(const std::string& key, std::string value,
                                     time_point now) = 0;

  // -- observation (the checkers' omniscient view) ----------------------------

  /// The member table, self included.
  virtual std::vector<membership::member> members() const = 0;
  /// This node's own entry.
  virtual membership::member self() const = 0;
  /// The member table as a subscriber to the node's ordered member events
  /// rebuilds it (members the node forgot after dead_retention may linger
  /// as dead/left). Cheaper than `members()` where that is a request; the
  /// harness samples agreement with it and checks it against `members()`
  /// at the end. Default: `members()`.
  virtual std::vector<membership::member> observed_members() const {
    return members();
  }
  /// Whether the member table (as observed_members() gives it) matches
  /// `up_names` exactly: every up node alive, every other known node dead
  /// or left. Default: view_matches() over observed_members().
  virtual bool view_correct(const std::set<std::string>& up_names) const;
  /// The store digest as text (equal digests: equal key/version sets).
  virtual std::string store_digest() const = 0;
  /// Version held for `key` (live entries), nullopt when absent.
  virtual std::optional<metadata::version>
  version_of(const std::string& key) const = 0;
  /// FNV-1a over (key, version, value) of every live entry in key order:
  /// equal digests but different fingerprints means different value bytes.
  virtual uint64_t content_fingerprint() const = 0;

  const std::string& name() const { return name_; }
  const address& addr() const { return addr_; }
  /// Wall-clock ms this node's metadata layer sees at virtual time `now`.
  uint64_t wall_ms(time_point now) const;
  /// Bytes this node emitted per layer (payload + datagram overhead).
  uint64_t membership_bytes_out() const { return mem_bytes_out_; }
  uint64_t metadata_bytes_out() const { return md_bytes_out_; }
  /// Member events this node has emitted so far: the member table can only
  /// have changed in a way the checkers see when this moved.
  uint64_t view_changes() const { return view_changes_; }

  /// Set by the harness; may be empty.
  event_hook on_event;

protected:
  std::string name_;
  address addr_;
  int64_t skew_ms_;
  uint64_t mem_bytes_out_ = 0;
  uint64_t md_bytes_out_ = 0;
  uint64_t view_changes_ = 0;
};

/// Folds (key, version, value) into an FNV-1a fingerprint (see
/// cluster_node::content_fingerprint); start from `fnv_basis`.
inline constexpr uint64_t fnv_basis = 1469598103934665603ULL;
uint64_t fold_entry(uint64_t h, const std::string& key,
                    const metadata::version& v, const std::string& value);

/// Membership core + metadata core behind one simulated address, wired like
/// the real node (membership changes feed metadata peers) but without actor
/// shells: the engine for large N. Datagrams are dispatched by `channel`;
/// each layer message is one datagram (no batching).
class core_node final : public cluster_node {
public:
  /// `seed` drives both cores (derived streams); `skew_ms` offsets the
  /// node's metadata wall clock (may be negative).
  core_node(const node_config& cfg, std::string name, address addr,
            uint64_t seed, int64_t skew_ms = 0);

  // -- sim_node ----------------------------------------------------------------
  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point now,
                   outbound_list& out) override;
  void poll(time_point now, outbound_list& out) override;
  time_point next_wakeup() const override;

  // -- cluster_node ------------------------------------------------------------
  void join(const std::vector<address>& seeds, time_point now) override;
  void leave(time_point now) override;
  void set_tags(std::map<std::string, std::string> tags,
                time_point now) override;
  metadata::write_result put(const std::string& key, std::string value,
                             time_point now) override;
  std::vector<membership::member> members() const override;
  membership::member self() const override;
  /// From the table's state counts and one lookup per up node: no copy.
  bool view_correct(const std::set<std::string>& up_names) const override;
  std::string store_digest() const override;
  std::optional<metadata::version>
  version_of(const std::string& key) const override;
  uint64_t content_fingerprint() const override;

  const membership::core& mem() const { return *mem_; }
  const metadata::core& md() const { return *md_; }

private:
  void after(time_point now, std::size_t first_out, outbound_list& out);

  std::unique_ptr<membership::core> mem_;
  std::unique_ptr<metadata::core> md_;
  outbound_list pending_;
  bool has_pending_ = false;
  time_point pending_at_{};
};

/// Whether `view` holds every name of `up_names` alive, and every other
/// member it holds dead or left.
bool view_matches(const std::vector<membership::member>& view,
                  const std::set<std::string>& up_names);

/// Name of node i in simulated clusters: "n0", "n1", ...
std::string sim_node_name(std::size_t i);
/// Address of node i: "10.0.<i/250>.<i%250+1>:7946".
address sim_node_addr(std::size_t i);

} // namespace pekonode::chaos
