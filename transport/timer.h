#pragma once
// The timer actor: the only source of protocol wake-ups of a node. Each
// protocol shell (a "client") reports its core's next deadline; the timer
// keeps one pending CAF-clock timeout per client for the earliest of them,
// wakes the client when it comes, and costs nothing while no deadline is
// set. Holding it simulates a stalled node. Runs on CAF's clock, so the
// deterministic test scheduler drives it in virtual time. Not a general
// scheduler: no periodic schedules (each core computes its own periods and
// jitter), no wall-clock alarms.
//
// Per client:
//
//   idle --due(t > now)--> armed --t comes--> wake sent --> idle
//     |                      |  due(t' < t): re-armed at t'
//     |                      |  due(t' > t): re-armed when t comes
//     +--due(t <= now)-------+--> wake sent at once (held: owed until release)

#include <optional>
#include <unordered_map>

#include "transport/transport.h"

namespace pekonode::transport {

/// The timer's own interface plus its internal CAF-clock message
/// `(tm_fire_atom, uint64_t client, uint64_t generation)`. Spawn functions
/// hand out the narrower `timer_actor`.
using timer_impl_actor =
  timer_actor::extend<caf::reacts_to<tm_fire_atom, uint64_t, uint64_t>>;

/// State of a timer actor (internal; use the timer_actor protocol).
struct timer_state {
  struct client {
    caf::actor_addr addr;  ///< weak: the timer keeps no client alive
    uint64_t id = 0;
    time_point due = time_point::max();   ///< wanted wake-up, max: none
    time_point armed = time_point::max(); ///< pending timeout, max: none
    uint64_t generation = 0;              ///< of the pending timeout
    bool owed = false;                    ///< came due while held
  };

  explicit timer_state(timer_impl_actor::stateful_pointer<timer_state> ptr)
    : self(ptr) {}

  timer_impl_actor::behavior_type make_behavior();

  void set_deadline(const deadline& d);
  void fire(uint64_t id, uint64_t generation);
  void hold(bool on);
  void wake(client& c);
  void arm(client& c, time_point at);
  void forget(const caf::actor_addr& who);
  timer_stats snapshot() const;

  timer_impl_actor::stateful_pointer<timer_state> self;
  std::unordered_map<caf::actor_addr, client> clients;
  std::unordered_map<uint64_t, caf::actor_addr> by_id;
  uint64_t next_id = 1;
  uint64_t wakes = 0;
  bool held = false;
};

/// Behaviour of a timer actor (see timer_actor in transport.h).
timer_impl_actor::behavior_type
timer_behavior(timer_impl_actor::stateful_pointer<timer_state> self);

/// Spawns a timer actor.
timer_actor make_timer(caf::actor_system& sys);

/// The shell side of the timer protocol: reports a core's next deadline to
/// the timer only when it is earlier than the one the timer already holds
/// for this client. A later deadline is not sent: the pending wake-up comes
/// first, the shell polls its core then (polling early is harmless) and
/// reports the deadline it has by then. So a shell sends a message only when
/// its deadline moves earlier, or after a wake-up, which clears the client's
/// deadline at the timer.
class deadline_reporter {
public:
  deadline_reporter() = default;
  deadline_reporter(timer_actor timer, timer_client_actor me)
    : timer_(std::move(timer)), me_(std::move(me)) {}

  /// Reports `due` unless the timer holds this deadline or an earlier one.
  /// `time_point::max()` ("nothing due") is never reported: the timer holds
  /// no deadline for a client until it reports one.
  template <class Self>
  void report(Self* self, time_point due) {
    if (due == time_point::max() || (last_ && *last_ <= due))
      return;
    last_ = due;
    self->send(timer_, tm_due_atom_v, deadline{me_, due});
  }

  /// The timer woke us: it holds no deadline for us any more.
  void woken() { last_.reset(); }

  const timer_actor& timer() const noexcept { return timer_; }

private:
  timer_actor timer_;
  timer_client_actor me_;
  std::optional<time_point> last_;
};

} // namespace pekonode::transport
