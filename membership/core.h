#pragma once
// Sans-IO membership core: SWIM failure detection with Lifeguard, piggyback
// dissemination, digest anti-entropy, join/leave/rejoin and partition healing.
// No CAF, no sockets, no clock reads: callers pass time, a seed, and carry
// the returned outbound datagrams; the actor shell lives elsewhere.
//
// The core is a thin coordinator over one module per concern (core.cc says
// which owns what): member_table.h (members, precedence, what a claim
// changed), codec.h (the wire, the outbox), probing.h (probes, relays,
// Lifeguard, suspicion timers), anti_entropy.h (digest exchange, state
// pages, reply budgets), leave_notices.h (direct leave notices and acks),
// join.h (join, rejoin, reconnect). It applies claims, decides what the
// modules' findings mean for the view, emits events, and runs the timers.
// No protobuf type appears in this header.
//
// Member state machine (per incarnation; a higher incarnation of 'alive'
// always wins, which is how members refute and rejoin):
//
//   alive --probe fails--> suspect --timeout--> dead
//     ^                       |                   |
//     +---- refuted (inc+1) --+-------------------+
//   any --graceful leave (inc+1)--> left  (terminal for that incarnation)

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "membership/awareness.h"       // kept for callers that rely on it
#include "membership/broadcast_queue.h" // kept for callers that rely on it
#include "membership/config.h"
#include "membership/member_table.h" // supersedes(), the precedence rules
#include "membership/suspicion.h"       // kept for callers that rely on it
#include "membership/types.h"

namespace pekonode::membership {

/// The membership protocol state machine of one node.
///
/// Threading: not thread-safe; one owner (an actor or a simulator) calls it.
/// Ordering: events come out of drain_events() in the order they happened.
/// Every call that may send takes an `outbound_list&` and appends to it;
/// after any call the owner should re-read next_wakeup().
///
/// Driving contract (shared with metadata::core): feed every datagram to
/// handle(from, bytes, now, out), call poll(now, out) when now reaches
/// next_wakeup(), and send what both appended to `out`. next_wakeup()
/// returns time_point::max() when nothing is due (not started, left, or an
/// invalid config). The same seed and the same calls give the same run.
class core {
public:
  /// Creates a running, not yet joined node whose self entry is alive at
  /// `incarnation` (0 for a new node; after a restart, one above every
  /// incarnation announced before, so it beats any claim from then). An
  /// invalid config leaves the node inert (config_error()).
  core(config cfg, std::string name, address advertise,
       std::map<std::string, std::string> tags, uint64_t seed,
       uint64_t incarnation = 0);

  ~core();
  core(const core&) = delete;
  core& operator=(const core&) = delete;

  /// Starts joining through `seeds`: join requests are retried with
  /// exponential backoff until one seed answers. Seeds are remembered and
  /// re-contacted later for partition healing. Empty seeds: a cluster of one.
  void join(const std::vector<address>& seeds, time_point now,
            outbound_list& out);

  /// Addresses a discovery source (DNS) reports now: each that is neither
  /// this node nor a live member gets one join request marked as a
  /// reconnect (its answer merges two clusters, as after a partition), at
  /// most config::max_discovery_joins per call. Nothing is remembered: the
  /// source reports again at its next refresh. Returns how many were
  /// contacted.
  std::size_t discover(const std::vector<address>& found, time_point now,
                       outbound_list& out);

  /// Graceful leave: broadcasts 'left' at incarnation+1 and, for
  /// config::leave_drain, gossips it and sends it directly to the members
  /// that have not acknowledged it yet (config::leave_notices_per_tick per
  /// gossip tick); then goes silent (no probes, no answers). While leaving,
  /// a packet from a member that has not acknowledged is answered with the
  /// notice; nothing else is answered.
  void leave(time_point now, outbound_list& out);

  /// After leave(): comes back alive at a higher incarnation and re-joins
  /// through the seeds (or members it still knows).
  ec rejoin(time_point now, outbound_list& out);

  /// Operator's force-leave (Serf's `force-leave`): marks the failed
  /// member `name` (dead or suspect here) as left at the incarnation we
  /// hold, and gossips that claim with this node as its accuser. Peers
  /// accept it by the usual precedence (left overrides dead and suspect at
  /// >=, and also alive: a member that is in fact alive refutes it with a
  /// higher incarnation, as it refutes any accusation). A member left by
  /// another's claim (not its own leave) is never re-contacted for
  /// healing, here or on the peers that learn it; it is forgotten after
  /// dead_retention. Errors: unknown_member (no confirmed member of that
  /// name), not_failed (alive, or left already), is_self, not_running.
  ec force_leave(const std::string& name, time_point now, outbound_list& out);

  /// Replaces this node's tags; broadcast as 'alive' at incarnation+1.
  ec set_tags(std::map<std::string, std::string> tags, time_point now,
              outbound_list& out);

  /// Processes one datagram payload `bytes` from `from`. Bad input is
  /// counted in stats().bad_packets and dropped; never throws.
  void handle(const address& from, std::string_view bytes, time_point now,
              outbound_list& out);

  /// Runs every timer due at or before `now`.
  void poll(time_point now, outbound_list& out);

  /// Earliest time poll() has work; time_point::max() when nothing is due
  /// (before the first join/handle/poll, after the leave drain, or with an
  /// invalid config).
  time_point next_wakeup() const;

  /// All known members, self included, sorted by name. Copies the table:
  /// O(N); prefer find()/count() for point queries.
  std::vector<member> members() const;

  /// The member called `name` (self included), or nullptr; O(1) average. The
  /// pointer is valid until the next non-const call.
  const member* find(const std::string& name) const;

  /// Members (self included) currently in state `s`; O(1).
  std::size_t count(member_state s) const;

  /// Members known (self included, any state); O(1).
  std::size_t size() const;

  /// This node's own entry.
  const member& self() const;

  /// Events since the last call, oldest first.
  std::vector<event> drain_events();

  /// Protocol counters, monotonic.
  const core_stats& stats() const;

  /// Lifeguard local health score, 0 (healthy) .. awareness_max-1.
  int health_score() const;

  /// Lifeguard's local health from queue delay: the shell says how far
  /// behind on its input this node is (0 by default; simulators never set
  /// it). Each probe started from now on waits that much longer for its
  /// ack, so a node that is behind accuses no one for its own slowness.
  void set_local_lag(duration lag);

  /// The cluster's round-trip estimate from direct probes: smoothed round
  /// trip and its variation (zero before the first sample).
  duration rtt_srtt() const;
  duration rtt_var() const;

  /// Direct probe timeout the next probe uses: the adaptive (or fixed)
  /// timeout times Lifeguard's multiplier (config::adaptive_probe_timeout).
  duration probe_timeout() const;

  /// Smoothed share of first direct pings not answered within the direct
  /// timeout, and the minimum suspicion timeout a suspicion started now
  /// gets (config::loss_aware_suspicion).
  double probe_miss_rate() const;
  duration suspicion_min() const;

  /// Whether some seed answered a join (or no seeds were given).
  bool joined() const;

  /// Non-empty if the config was rejected.
  const std::string& config_error() const;

  /// Members counted for the protocol's log(N) formulas (alive + suspect,
  /// self included).
  std::size_t live_count() const;

  /// Members learnt second-hand and not yet confirmed (config::
  /// max_unconfirmed). They appear in no other query: members(), find(),
  /// count(), size() and the events show confirmed members only.
  std::size_t unconfirmed_count() const;

  /// Updates queued for piggybacking (the broadcast queue's length).
  std::size_t broadcast_queue() const;

  /// Estimated bytes of the member table (config::max_table_bytes).
  std::size_t table_bytes() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace pekonode::membership
