#pragma once
// Deterministic discrete-event network simulator: runs N sans-IO protocol
// cores in one process in virtual time, with seeded link faults (loss, burst
// loss, delay/jitter, duplication, cuts, partitions, CPU stalls, crashes).
// It is not a transport actor and runs no CAF: one thread drives it.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/types.h"

namespace pekonode::sim {

/// Anything the simulator can run: a protocol core adapted to this shape.
///
/// The simulator calls these from the thread that runs `simnet::run_until`.
/// A node must not call `run_until`/`run_for` from inside a callback; it may
/// call the fault and attach/detach methods.
class sim_node {
public:
  virtual ~sim_node() = default;

  /// One datagram arrived from `from`; append any replies to `out`.
  virtual void on_datagram(const address& from, channel chan,
                           const std::string& payload, time_point now,
                           outbound_list& out) = 0;

  /// Fire every timer due at or before `now`; append resulting sends to `out`.
  virtual void poll(time_point now, outbound_list& out) = 0;

  /// Earliest time the node wants `poll` called; `time_point::max()` if none.
  virtual time_point next_wakeup() const = 0;
};

/// Per-directed-link fault model. Every datagram is judged independently.
struct link_faults {
  /// Probability in [0,1] that a datagram is lost (i.i.d.). Default 0.
  double loss = 0;
  /// One-way delay drawn uniformly from [delay_min, delay_max] per datagram.
  /// A range wider than the send interval reorders datagrams. Default 0 (the
  /// datagram arrives at the same virtual instant, after events already due).
  /// Negative values count as 0; delay_max below delay_min means delay_min.
  duration delay_min{};
  duration delay_max{};
  /// Probability in [0,1] that a delivered datagram arrives twice; the copy
  /// draws its own delay, so it may overtake the original. Default 0.
  double duplicate = 0;
};

/// Bytes added to every datagram on top of its payload for byte counters:
/// 28 B IPv4+UDP headers + a 48 B budget for the pekonode envelope and its
/// authenticated encryption (nonce, tag, channel, sender). Each `outbound` is
/// one datagram: the simulator does not batch, so byte counts overstate what
/// the batching UDP transport would put on the wire.
inline constexpr std::size_t datagram_overhead_bytes = 28 + 48;

/// If a node still reports `next_wakeup() <= now` right after being polled,
/// it is polled again this much later instead of at once, so a buggy core
/// cannot livelock virtual time. 1 ms: below any protocol period we run.
inline constexpr duration min_repoll_interval = std::chrono::milliseconds(1);

/// Why the network did not deliver a datagram (see `simnet::on_drop`).
enum class drop_reason : uint8_t {
  loss,       ///< i.i.d. loss of the link
  burst_loss, ///< Gilbert–Elliott bad state
  cut,        ///< block() or partition(), at send or while in flight
  no_route,   ///< destination unknown or not attached when sent
  crashed,    ///< destination detached while the datagram was in flight
};

/// Name of a drop reason, e.g. "burst_loss".
const char* to_string(drop_reason r);

/// The simulated network and its virtual clock.
///
/// Ordering: events (deliveries, timer wakeups, stall ends) run in order of
/// (virtual time, scheduling sequence number), so ties resolve in the order
/// they were scheduled and a run is a pure function of (scenario, seed). All
/// random fault decisions draw from one `std::mt19937_64` seeded by `seed`.
/// Not thread-safe: one thread drives a simnet.
///
/// Typical scenario (each `core_adapter` wraps one protocol core):
///
///     simnet net(seed);                       // print the seed in the test
///     net.set_default_faults({0.05, 1ms, 30ms, 0.01});
///     for (auto& n : nodes) net.attach(n.addr, &n);
///     net.run_for(10s);
///     net.partition({{a, b}, {c}});
///     net.run_for(30s);
///     net.heal();
///     net.run_for(30s);                       // then assert convergence
class simnet {
public:
  /// Creates an empty network whose clock starts at `start`.
  explicit simnet(uint64_t seed,
                  time_point start = time_point{} + std::chrono::hours(1));

  simnet(const simnet&) = delete;
  simnet& operator=(const simnet&) = delete;

  // -- membership of the network ---------------------------------------------

  /// Plugs `node` (not owned; must outlive its attachment) in at `addr` and
  /// schedules its first poll at `node->next_wakeup()`. Attaching an address
  /// that is attached already detaches the old node first (a restart).
  void attach(const address& addr, sim_node* node);

  /// Crash: the node is never called again; datagrams in flight to it or
  /// queued during a stall are lost (counted as dropped by their senders).
  /// Its own datagrams already in flight are still delivered. Stats are kept.
  void detach(const address& addr);

  /// Whether a node is currently attached at `addr`.
  bool attached(const address& addr) const;

  /// Re-reads the node's `next_wakeup()`. Call it after changing a node from
  /// outside the simulator (e.g. a test issues a client write or a join
  /// between two `run_for`s); changes made inside callbacks are seen anyway.
  void wake(const address& addr);

  // -- virtual time ----------------------------------------------------------

  /// Current virtual time.
  time_point now() const { return now_; }

  /// Runs every event due at or before `t`, then sets the clock to `t`
  /// (if `t` is in the past, nothing happens).
  void run_until(time_point t);

  /// `run_until(now() + d)`.
  void run_for(duration d);

  // -- faults (all changeable at any time) ------------------------------------

  /// Faults of every directed link without its own setting.
  void set_default_faults(link_faults f);

  /// Faults of the directed link from -> to; overrides the default.
  void set_link_faults(const address& from, const address& to, link_faults f);

  /// Reverts the link from -> to to the default faults.
  void clear_link_faults(const address& from, const address& to);

  /// Gilbert–Elliott burst loss on every directed link, on top of i.i.d. loss.
  /// Each link is a two-state chain stepped once per datagram: good -> bad
  /// with `p_enter_bad`, bad -> good with `p_leave_bad`; in the bad state a
  /// datagram is lost with `loss_in_bad`. Mean burst length 1/p_leave_bad
  /// datagrams; long-run bad fraction p_enter/(p_enter+p_leave). All zero
  /// (default) turns it off and resets every link to good.
  void set_burst_loss(double p_enter_bad, double p_leave_bad,
                      double loss_in_bad);

  /// One-way cut: datagrams from -> to are dropped, including those already
  /// in flight when they would arrive. to -> from is unaffected.
  void block(const address& from, const address& to);

  /// Removes a one-way cut set by `block`.
  void unblock(const address& from, const address& to);

  /// k-way partition: links between nodes in different groups are cut both
  /// ways; nodes not listed keep talking to everyone. Replaces any previous
  /// partition; an address listed in several groups belongs to the last.
  void partition(const std::vector<std::vector<address>>& groups);

  /// Removes all blocks and partitions (link faults and burst loss stay).
  void heal();

  /// CPU stall: for `d` the node is neither polled nor handed datagrams;
  /// arrivals queue up and are handed over in arrival order when the stall
  /// ends (those that arrived before the earliest due timer first, then one
  /// poll, then the rest). A stall on a stalled node extends it if longer.
  void stall(const address& node, duration d);

  /// Whether `node` is stalled right now.
  bool stalled(const address& node) const;

  // -- observation -----------------------------------------------------------

  /// Per-node counters. `datagrams_out`/`bytes_out`: offered to the network.
  /// `datagrams_in`/`bytes_in`: handed to the node (duplicates count twice).
  /// `dropped`: datagrams this node sent that never arrived (loss, cut,
  /// unknown or crashed destination). Bytes include datagram_overhead_bytes.
  struct node_stats {
    uint64_t datagrams_out = 0;
    uint64_t datagrams_in = 0;
    uint64_t bytes_out = 0;
    uint64_t bytes_in = 0;
    uint64_t dropped = 0;
  };

  /// Counters of `a`; all zero for an address the network never saw.
  const node_stats& stats(const address& a) const;

  /// Bytes offered to the network by all nodes (payload + overhead).
  uint64_t total_bytes() const { return total_bytes_; }

  /// Datagrams offered to the network by all nodes.
  uint64_t total_datagrams() const { return total_datagrams_; }

  /// Events processed so far (deliveries, polls, stall ends, stale wakeups).
  uint64_t events_processed() const { return events_processed_; }

  /// Datagrams on the wire right now (not counting stall queues).
  std::size_t in_flight() const { return in_flight_count_; }

  /// Optional tap, called right before each datagram is handed to its node.
  std::function<void(const address& from, const address& to, channel,
                     const std::string&, time_point)>
    on_deliver;

  /// Optional tap, called for every datagram the network drops (once per
  /// datagram; a lost datagram is never duplicated).
  std::function<void(const address& from, const address& to, channel,
                     const std::string&, drop_reason, time_point)>
    on_drop;

private:
  using slot_id = uint32_t;

  struct slot {
    address addr;
    sim_node* node = nullptr;
    uint32_t epoch = 0;            // bumped on detach/attach: in-flight check
    uint32_t group = 0;            // partition group, 0 = not partitioned
    uint64_t wakeup_seq = 0;       // seq of the live wakeup event, 0 = none
    time_point wakeup_at = time_point::max();
    time_point stalled_until = time_point::min();
    std::vector<uint32_t> stall_queue; // packet indices, arrival order
    node_stats stats;
  };

  enum class event_kind : uint8_t { deliver, wakeup, stall_end };

  struct event {
    time_point at;
    uint64_t seq;
    slot_id target;
    event_kind kind;
    uint32_t packet; // deliver: index into packets_
  };

  struct event_after {
    bool operator()(const event& a, const event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  struct packet {
    slot_id from = 0;
    slot_id to = 0;
    uint32_t to_epoch = 0;
    channel chan = channel::membership;
    time_point arrived{};
    std::string payload;
  };

  static uint64_t link_key(slot_id from, slot_id to) {
    return (uint64_t{from} << 32) | to;
  }

  slot_id intern(const address& addr);
  const slot_id* find(const address& addr) const;
  void push(time_point at, slot_id target, event_kind kind, uint32_t pkt);
  void reschedule(slot_id s, bool just_polled);
  void flush_outbox(slot_id from);
  void send(slot_id from, outbound& msg);
  bool cut(slot_id from, slot_id to) const;
  const link_faults& faults_of(slot_id from, slot_id to) const;
  bool burst_drop(slot_id from, slot_id to);
  uint32_t alloc_packet();
  void free_packet(uint32_t idx);
  void drop_packet(uint32_t idx, drop_reason why);
  void dropped(slot_id from, const address& to, channel chan,
               const std::string& payload, drop_reason why);
  time_point later(duration d) const;
  void hand_over(slot_id s, uint32_t idx);
  void poll_node(slot_id s);
  void on_deliver_event(const event& ev);
  void on_wakeup_event(const event& ev);
  void on_stall_end_event(const event& ev);
  double uniform01();
  duration draw_delay(const link_faults& f);

  std::mt19937_64 rng_;
  time_point now_;
  uint64_t next_seq_ = 1;
  std::vector<event> queue_; // binary heap under event_after
  std::deque<slot> slots_;   // stable references; index = slot_id
  std::unordered_map<address, slot_id> index_;
  std::vector<packet> packets_;
  std::vector<uint32_t> free_packets_;
  outbound_list outbox_; // reused scratch buffer for node callbacks

  link_faults default_faults_;
  std::unordered_map<uint64_t, link_faults> link_faults_;
  std::unordered_set<uint64_t> blocked_;
  bool partitioned_ = false;
  double ge_enter_ = 0, ge_leave_ = 0, ge_loss_ = 0;
  std::unordered_set<uint64_t> bad_links_; // Gilbert–Elliott: links in "bad"

  uint64_t total_bytes_ = 0;
  uint64_t total_datagrams_ = 0;
  uint64_t events_processed_ = 0;
  std::size_t in_flight_count_ = 0;
};

} // namespace pekonode::sim
