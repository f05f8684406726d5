#pragma once
// SWIM failure detection with Lifeguard, as one module: the round-robin
// probe list, the probe in flight (direct ping, then k indirect ping-reqs),
// ping-reqs relayed for others with their nacks, Lifeguard local health
// awareness, and the suspicion timers of suspected members. It returns
// verdicts (a member to suspect, suspicions that expired); the core
// applies them to the member table and decides what follows.
//
// One probe, from start to verdict (times scaled by health score + 1):
//
//   ping --direct timeout--> retry ping + ping-req x k --probe_interval--> suspect
//     \-- ack: done, RTT sample   \-- ack (retry or relayed): done, no sample
//
// The direct timeout adapts to the cluster's measured round trips
// (rtt_estimator, config::adaptive_probe_timeout): only acks of the first
// ping are samples; the retry and the ping-reqs carry another sequence
// number, so a sample is never ambiguous (Karn's rule).
//
// Suspicion of one member: started by a suspect claim, shortened by
// independent confirmations, ended by a refutation, a death or a leave
// (clear()), or by expiry (expired()), after which the core declares it
// dead.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "membership/awareness.h"
#include "membership/codec.h"
#include "membership/config.h"
#include "membership/member_table.h"
#include "membership/rtt.h"
#include "membership/suspicion.h"
#include "membership/types.h"

namespace pekonode::membership {

class probing {
public:
  /// Ping-reqs served for others at once; more are dropped ("relay_full").
  static constexpr std::size_t max_relays = 256;

  probing(const config& cfg, member_table& table, outbox& ob,
          std::mt19937_64& rng, core_stats& stats);

  // -- schedule ------------------------------------------------------------------

  /// First probe within a jittered probe_interval (one draw from rng).
  void start(time_point now);

  /// Next probe one probe_interval from now (after a rejoin).
  void resume(time_point now);

  /// Forgets the probe in flight, relays, suspicions and notices (leave).
  void stop();

  /// Earliest deadline: the probe's next step (or the next probe, when
  /// there is another live member), relay nacks, suspicion expiries;
  /// time_point::max() if none.
  time_point next_wakeup() const;

  // -- the probe round -----------------------------------------------------------

  /// Adds a member that became live at a random place of the rest of the
  /// current round (one draw from rng), as SWIM's round-robin wants. O(1).
  void add_target(const interned& name);

  /// Sends the ping-reqs once the direct timeout has passed, and ends a
  /// probe whose time is up. Returns the member to suspect after a failed
  /// probe (also when already suspect: our failure is an independent
  /// confirmation, Lifeguard's dogpile), or nullptr.
  const member* check_probe(time_point now, outbound_list& out);

  /// Starts the next probe if none runs and one is due: the next live
  /// member of the round; a finished round is reshuffled (rng).
  void start_due_probe(time_point now, outbound_list& out);

  /// Sends a nack to the origin of every relayed probe that stayed
  /// unanswered for 4/5 of probe_timeout.
  void relay_tick(time_point now, outbound_list& out);

  // -- inbound ---------------------------------------------------------------------

  /// Answers a ping addressed to this node's name with an ack. Gossip
  /// rides on it only for a `member` (one we know at `from`): a stranger's
  /// ping draws an ack no larger than itself. `stranger`: we do not know
  /// the pinger at all (Ack.stranger).
  void on_ping(const address& from, const Ping& m, bool member,
               bool stranger, outbound_list& out);

  /// Ends our probe (an ack of its first ping is also a round-trip
  /// sample), or forwards the ack of a probe relayed for another.
  void on_ack(const Ack& m, time_point now, outbound_list& out);

  /// Counts a nack for our probe (Lifeguard: the helper is slow, not the
  /// target).
  void on_nack(const Nack& m);

  /// Probes `target` on behalf of `from`.
  void on_ping_req(const address& from, const PingReq& m, time_point now,
                   outbound_list& out);

  // -- suspicions ------------------------------------------------------------------

  /// (Re)starts the suspicion of `name`: Lifeguard's timeout bounds for
  /// the current N, first suspecter `accuser`.
  void suspect(const std::string& name, const std::string& accuser,
               time_point now);

  /// Pings every member we hold suspect whose check is due, carrying the
  /// suspicion (config::suspicion_checks): a live suspect refutes straight
  /// to us. The next check of each one period later.
  void check_suspects(time_point now, outbound_list& out);

  /// Records a confirmation of the running suspicion of `name`; true if
  /// it was new (worth gossiping on).
  bool confirm(const std::string& name, const std::string& accuser);

  /// Ends the suspicion of `name`, if any.
  void clear(const std::string& name);

  /// Suspicions that expired by `now`, by name; they are forgotten here.
  std::vector<std::string> expired(time_point now);

  /// Refutation assist: `sender`, which we hold as suspect, just sent us a
  /// packet from the address we know for it: tell it it is suspected (at
  /// most once per probe_timeout per suspect), so it refutes or re-sends
  /// its refutation. Off with config::refute_assist.
  void notice_suspect_sender(const std::string& sender, const address& from,
                             time_point now, outbound_list& out);

  // -- Lifeguard local health ------------------------------------------------------

  /// Someone suspects or declared this node dead: likely our own slowness.
  void self_accused() { awareness_.apply(1); }

  /// Local health score, 0 (healthy) .. awareness_max - 1.
  int health_score() const { return awareness_.score(); }

  /// How far behind on its input this node is (core::set_local_lag): a
  /// probe waits this much longer for its ack before the indirect phase
  /// and before its verdict — the larger of the lag when it started and
  /// the lag when it is judged, so a probe started before the node fell
  /// behind is not judged in a hurry either. 0 by default.
  void set_local_lag(duration lag) { lag_ = std::max(lag, duration::zero()); }

  // -- round trips -----------------------------------------------------------------

  /// Smoothed share of first direct pings not answered within the direct
  /// timeout (config::loss_aware_suspicion), in [0, 1]. A probe's sample is
  /// taken when it ends; a failed probe's only after the suspicion it
  /// starts, so that suspicion is not stretched by its own miss.
  double miss_rate() const { return miss_; }

  /// Factor on the suspicion timeouts this node starts: 1 / (1 - miss_rate)^2
  /// within [1, max_loss_stretch]; 1 with config::loss_aware_suspicion off.
  double suspicion_stretch() const;
  static constexpr double max_loss_stretch = 4;

  /// Minimum suspicion timeout of a suspicion started now at the current N,
  /// stretched (config::suspicion_mult, loss_aware_suspicion).
  duration suspicion_min() const;

  /// The cluster's round-trip estimate (srtt, rttvar, samples).
  const rtt_estimator& rtt() const { return rtt_; }

  /// Direct timeout of the next probe before Lifeguard's multiplier: the
  /// clamped RTO with config::adaptive_probe_timeout, else probe_timeout.
  duration base_probe_timeout() const;

  /// How long a probe started now may run: the (scaled) probe interval, or
  /// when the measured round trips say the indirect phase cannot fit in it,
  /// the direct timeout plus two round trips (srtt + 4 rttvar each: the
  /// ping-req's path is two hops each way), at most
  /// `max_probe_stretch` intervals. On a network as fast as the profile
  /// expects this is the interval: detection time is unchanged.
  duration probe_duration() const;
  static constexpr int max_probe_stretch = 3;

  /// Direct timeout of the next probe: base_probe_timeout() * (score + 1).
  duration probe_timeout() const { return awareness_.scale(base_probe_timeout()); }

private:
  struct probe_state {
    bool active = false;
    std::string target;
    address addr;
    uint64_t incarnation = 0;
    uint64_t seq = 0;       // first ping: its acks are RTT samples
    uint64_t retry_seq = 0; // retry ping and ping-reqs (0: not yet sent)
    time_point sent{};
    time_point direct_deadline{};
    time_point end{};
    bool indirect_sent = false;
    duration lag{}; // the local lag when it started
    int expected_nacks = 0;
    int nacks = 0;
  };

  struct relay {
    address origin;
    uint64_t origin_seq = 0;
    time_point nack_at{};
    /// After the nack, a late ack is still forwarded until then (a slow
    /// path is not a dead target), then the relay is forgotten.
    time_point expires{};
    bool nacked = false;
  };

  void start_probe(time_point now, outbound_list& out);
  void send_ping(const member& target, uint64_t seq, outbound_list& out);

  const config& cfg_;
  member_table& table_;
  outbox& ob_;
  std::mt19937_64& rng_;
  core_stats& stats_;
  awareness awareness_;
  rtt_estimator rtt_;
  double miss_ = 0;
  bool miss_pending_ = false; // a failed probe's miss, after its verdict
  duration lag_{};
  duration probe_lag() const { return std::max(probe_.lag, lag_); }
  void miss_sample(bool missed) { miss_ += ((missed ? 1.0 : 0.0) - miss_) / 16; }
  std::vector<interned> probe_list_; // handles: one 8-byte slot per member
  std::size_t probe_idx_ = 0;
  probe_state probe_;
  time_point next_probe_{};
  std::map<uint64_t, relay> relays_; // by the seq of our ping
  std::map<std::string, suspicion> suspicions_;
  // Next check ping of each suspicion (config::suspicion_checks), the
  // period of checks at the N the suspicion started with, and how many
  // checks went out (the second and later also go through a helper).
  struct check {
    time_point next{};
    duration period{};
    int sent = 0;
  };
  std::map<std::string, check> checks_;
  // Suspects that we told "you are suspected" after hearing from them
  // directly, and when; at most one such notice per probe_timeout each.
  std::map<std::string, time_point> suspect_notices_;
  // Earliest timer of relays_, suspicions_ and checks_, recomputed by
  // next_wakeup() only after one of them changed (it is asked after every
  // message; they change far less often). Set timers_dirty_ on every change.
  mutable time_point timers_at_ = time_point::max();
  mutable bool timers_dirty_ = true;
};

} // namespace pekonode::membership
