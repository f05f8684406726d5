#pragma once
// Many pekonode nodes inside one process, each on its own real UDP socket on
// loopback, all in one caf::actor_system: a benchmark and demo harness.
// Not a simulator (real time, real sockets; see sim/simnet.h for virtual
// time) and not a multi-process launcher (see chaos/real/).

#include <caf/all.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chaos/inproc/view_table.h"
#include "common/types.h"
#include "membership/membership_actor.h"
#include "metadata/metadata_actor.h"
#include "node/node.h"
#include "transport/transport.h"
#include "userevents/userevents_actor.h"

namespace pekonode::chaos::inproc {

/// Settings of an in-process cluster.
struct cluster_config {
  /// Number of node slots started by `cluster::start`. Default 5.
  size_t nodes = 5;
  /// Node names are prefix + slot index ("node-0", "node-1", ...).
  std::string name_prefix = "node-";
  /// Interface every node binds (port 0: the kernel picks). Default loopback.
  std::string bind_ip = "127.0.0.1";
  /// Port slot i binds at its first start (`ports[i]`); 0 or beyond the
  /// vector: the kernel picks one. Restarts always take a fresh port.
  std::vector<uint16_t> ports;
  membership::config membership = membership::config::lan();
  metadata::config metadata = metadata::config::lan();
  /// Base of every node's randomness: node i draws from seed * 1000003 + i
  /// (+ a restart count), so a run is reproducible up to real-time effects.
  /// Default 1.
  uint64_t seed = 1;
  /// Bound on every request the harness makes to a node (stats, put, get,
  /// leave). Default 5 s.
  duration request_timeout = std::chrono::seconds(5);
  /// Cluster label of every node (udp_config::label): datagrams of another
  /// label are dropped and counted ("wrong_label"). Empty (default): four
  /// characters drawn per cluster object from the process id, a count and
  /// the clock (a label costs its length in every datagram). The
  /// node names repeat from one cluster to the next and between processes,
  /// and the kernel hands a port out again as soon as it is closed, so an
  /// unlabelled node could receive the datagrams of a node of an earlier
  /// cluster (or of another benchmark process) that still sends to the
  /// port's previous owner, and the two clusters would merge under the
  /// same names.
  std::string label;

  /// "lan" or "local" protocol profiles for both layers; false if unknown.
  bool set_profile(const std::string& name);
};

/// The actor-system settings the harness is meant for: pekonode's types and
/// error categories (pekonode::init), `threads` scheduler workers (2 on the
/// shared 2-core machines), CAF's own logger silent.
void configure_system(caf::actor_system_config& cfg, size_t threads = 2);

/// Outcome of a wait: whether the condition held before the deadline, and
/// the last reading (for partial figures on timeout).
struct wait_result {
  bool ok = false;
  reach last;
};

/// N nodes in one actor system. Each slot has a name that survives
/// restarts; a per-slot collector actor subscribes to the node's membership
/// and metadata events and records them, with their times, in a
/// `view_table`, so waiting for convergence costs no polling of the nodes.
///
/// Threading: every method is meant to be called from one thread outside
/// the actor system (a test or a benchmark's main); the view table is shared
/// with the collectors under a mutex (single writer per slot, readers only
/// take short snapshots), which avoids copying N member lists per poll.
class cluster {
public:
  cluster(caf::actor_system& sys, cluster_config cfg);
  ~cluster();

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Binds every node's socket, then spawns the nodes: node 0 with no
  /// seed, every other node joining through node 0; all at once, or `gap`
  /// apart (the calling thread sleeps in between). Returns the first error
  /// (bind failure) after stopping what was started.
  caf::error start(duration gap = duration::zero());

  /// The moment `start` spawned the first node (after all sockets bound).
  time_point started_at() const { return started_at_; }
  /// The moment `start` spawned the last node.
  time_point last_started_at() const { return last_started_at_; }

  size_t size() const { return slots_.size(); }
  const std::string& name(size_t i) const { return slots_.at(i).name; }
  /// The address slot i advertises (changes on restart).
  const address& addr(size_t i) const { return slots_.at(i).node.advertise; }
  /// True from start/restart until crash/stop.
  bool running(size_t i) const { return slots_.at(i).running; }
  const node::node_handle& handle(size_t i) const { return slots_.at(i).node; }
  /// The cluster label every node uses (see cluster_config::label).
  const std::string& label() const { return cfg_.label; }

  /// Kills slot i's three actors at once (no leave): its socket closes and
  /// it stops answering. Returns the time just before the kill.
  time_point crash(size_t i);

  /// Restarts a crashed or stopped slot under the same name on a fresh port,
  /// joining through the lowest running slot. Its view starts empty.
  caf::error restart(size_t i);

  /// Graceful leave of slot i (m_leave_atom); waits for the node to accept.
  /// Its view stops counting (it has left); the node keeps running until
  /// `stop`. Returns the time just before the request.
  caf::expected<time_point> leave(size_t i);

  /// Stops slot i quietly (after a leave, or at the end of a run).
  void stop(size_t i);

  /// Stops every running slot.
  void stop_all();

  /// `md_put` on slot i: returns the new version.
  caf::expected<std::string> put(size_t i, const std::string& key,
                                 const std::string& value);

  /// `md_get` on slot i: empty if absent, else the value (one element).
  caf::expected<std::vector<std::string>> get(size_t i, const std::string& key);

  /// `m_members` on slot i: its full member list, straight from the node.
  caf::expected<std::vector<membership::member>> members(size_t i);

  /// In-process fault injection on slot i's inbound datagrams
  /// (`tx_fault_atom`): drop with probability `drop_rate`, and all from
  /// `blocked` addresses.
  caf::error set_faults(size_t i, double drop_rate,
                        std::vector<address> blocked = {});

  /// Slot i's transport counters (`tx_stats_atom`).
  caf::expected<transport::stats> tx_stats(size_t i);

  /// Every slot's transport counters, asked of all running slots at once
  /// and collected within one `timeout` (overloaded nodes do not add up):
  /// element i is empty if slot i is not running or did not answer in time.
  std::vector<std::optional<transport::stats>> tx_stats_all(duration timeout);

  /// The same for every slot's membership counters (`m_stats_atom`), ...
  std::vector<std::optional<membership::core_stats>>
  m_stats_all(duration timeout);
  /// ... metadata counters (`md_stats_atom`) ...
  std::vector<std::optional<metadata::stats>> md_stats_all(duration timeout);
  /// ... and user-event counters (`ue_stats_atom`).
  std::vector<std::optional<userevents::stats>> ue_stats_all(duration timeout);

  /// Runs `f` on the view table under the lock and returns its result.
  template <class F>
  auto with_views(F&& f) const {
    std::lock_guard<std::mutex> guard{shared_->mtx};
    return f(shared_->views);
  }

  /// Evaluates `probe` every `poll` until it reports `all()` or `timeout`
  /// passes. Times in the result come from the events, so they do not
  /// depend on `poll`; `poll` only bounds how late the caller notices.
  wait_result wait_for(const std::function<reach(const view_table&)>& probe,
                       duration timeout,
                       duration poll = std::chrono::milliseconds(25)) const;

  /// Waits until every running slot sees exactly `n` members alive.
  wait_result wait_all_alive(size_t n, duration timeout) const;

  /// Waits until every running slot other than i sees slot i's name in one
  /// of `states`.
  wait_result wait_seen_as(size_t i,
                           std::vector<membership::member_state> states,
                           duration timeout) const;

  /// Waits until every running slot holds `key` at `version`.
  wait_result wait_key(const std::string& key, const std::string& version,
                       duration timeout) const;

  /// Number of running slots.
  size_t running_count() const;

private:
  struct shared_state {
    std::mutex mtx;
    view_table views;
    explicit shared_state(size_t n) : views(n) {}
  };

  struct slot {
    std::string name;
    node::node_handle node;
    /// What its transport has read but not handled yet (shared with its
    /// membership actor).
    std::shared_ptr<transport::inbound_backlog> backlog;
    caf::actor collector; // a member and key listener
    bool running = false;
    uint64_t lives = 0;
  };

  /// Binds slot i's socket; fills in its transport and advertise address.
  caf::error bind(size_t i);
  /// Spawns slot i's node on its bound transport, joining `seeds`, and its
  /// collector.
  void spawn(size_t i, std::vector<std::string> seeds);
  /// (slot, get(handle)) for every running slot.
  template <class Handle, class Get>
  std::vector<std::pair<size_t, Handle>> running_handles(Get get) const;
  /// Kills slot i's actors with `reason`; closes its view.
  void kill(size_t i, caf::exit_reason reason);

  caf::actor_system& sys_;
  cluster_config cfg_;
  std::shared_ptr<shared_state> shared_;
  std::vector<slot> slots_;
  time_point started_at_{};
  time_point last_started_at_{};
};

} // namespace pekonode::chaos::inproc
