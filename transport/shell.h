#pragma once
// Receive path, counters and log throttling shared by the UDP and simulated
// transport actors (internal to transport/). Not a public API: use the
// transport_actor protocol of transport.h. Holds no actor pointer: callers
// pass their clock reading and send what `receive` hands back.

#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport::detail {

/// Token bucket for warnings: `burst` lines at once, then one per `interval`.
/// Lines refused are counted and reported with the next allowed one.
class log_limiter {
public:
  log_limiter(size_t burst, duration interval)
    : burst_(burst), interval_(interval), tokens_(burst) {}

  /// True if a line may be written now; `suppressed` receives the number of
  /// lines refused since the last allowed one.
  bool allow(time_point now, uint64_t& suppressed);

private:
  size_t burst_;
  duration interval_;
  size_t tokens_;
  bool started_ = false;
  time_point last_refill_{};
  uint64_t suppressed_ = 0;
};

/// One layer message to hand to its channel's subscriber.
struct delivery {
  inbound_sink_actor sink;
  inbound msg;
};

/// Inbound datagrams held back by the delay fault (faults::delay_ms), each
/// until its due time. Bounded in count and bytes: a push that does not fit
/// is refused, so a flood cannot grow it.
class delay_queue {
public:
  struct held {
    address from;
    std::string bytes;
  };

  delay_queue(size_t max_count, size_t max_bytes)
    : max_count_(max_count), max_bytes_(max_bytes) {}

  /// Holds `bytes` from `from` until `due`; false (nothing held) if that
  /// would exceed the count or byte bound.
  bool push(time_point due, const address& from, std::string_view bytes);

  /// Earliest due time; empty when nothing is held.
  std::optional<time_point> next_due() const;

  /// Appends every datagram due at or before `now` to `out`, earliest due
  /// first (equal due times: in arrival order), and forgets them.
  void pop_due(time_point now, std::vector<held>& out);

  size_t size() const noexcept { return q_.size(); }
  size_t bytes() const noexcept { return bytes_; }

private:
  size_t max_count_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::multimap<time_point, held> q_;
};

/// What a shell asks its transport about the world.
struct shell_env {
  /// Wall clock in ms since 1970 (sender times of frames); empty: the
  /// system clock.
  std::function<uint64_t()> wall_ms;
  /// True if a frame's destination is an address of this node; empty:
  /// every destination is refused.
  std::function<bool(const address&)> is_local;
  /// Keyring file that keyring changes are written to and `reload` reads;
  /// empty: changes live in memory only, reload is refused.
  std::string keyring_file;
};

/// Wall clock reading of the system clock, ms since 1970.
uint64_t system_wall_ms();

/// State shared by every transport actor shell.
class shell {
public:
  /// `fault_seed` seeds the fault-injection RNG (drop_rate decisions).
  shell(wire w, uint64_t fault_seed, shell_env env = {});

  /// Replaces the fault-injection settings; addresses are canonicalised when
  /// they are IP literals.
  void set_faults(const faults& f);
  faults current_faults() const;

  /// The channel's subscriber from now on (one per channel; the last wins).
  void subscribe(channel chan, inbound_sink_actor who);

  /// Checks one received datagram: counts it, applies the faults, then
  /// unframes and decodes it, appends one delivery per message to `out`,
  /// and counts and logs (rate-limited) anything dropped. Under the delay
  /// fault the datagram is held instead (see `release` and `wake_to_arm`).
  /// `received`: when the datagram left the socket (`inbound::received` of
  /// its messages); default `now`. A held datagram is received when the
  /// delay fault releases it.
  void receive(time_point now, const address& from, std::string_view bytes,
               std::vector<delivery>& out, time_point received = {});

  /// Decodes the held datagrams due at `now` into `out` (as `receive`
  /// does, faults aside: they were applied on arrival).
  void release(time_point now, std::vector<delivery>& out);

  /// A time at which the transport must wake itself (`tm_wake_atom`) and
  /// call `release`, or nothing when a wake already armed covers the
  /// earliest held datagram. At most `max_wakes` wakes are outstanding
  /// (further ones wait for the earliest to fire).
  std::optional<time_point> wake_to_arm(time_point now);

  /// Most wakes outstanding at once.
  static constexpr size_t max_wakes = 64;

  const delay_queue& delayed() const noexcept { return delayed_; }

  /// Writes a rate-limited warning about `n` items dropped for `reason`.
  void warn(time_point now, bool inbound, const address& peer,
            std::string_view reason, uint64_t n, std::string_view detail);

  /// Packs `out` into datagrams (wire::prepare) and counts the messages
  /// too large for the codec as unsent.
  wire_batch prepare(time_point now, const outbound_list& out);

  /// Frames one envelope for the canonical address `dest`, giving it the
  /// next sequence number; counts it unsent (and returns nothing) when it
  /// cannot be sealed.
  std::optional<std::string> seal(time_point now, const address& dest,
                                  std::string_view envelope, size_t messages);

  /// Replaces the keys (run-time rotation); false (nothing changed) for an
  /// empty ring or a plaintext transport.
  bool set_keys(keyring keys);

  /// Runs a keyring command (transport.h `tx_keyring_atom`): a change is
  /// written to the keyring file first (when there is one) and applied
  /// only if that worked. Errors as documented there.
  result<keyring_reply> keyring_command(const keyring_request& req);

  /// Records outbound messages that could not be sent, and warns.
  void count_unsent(time_point now, const address& peer,
                    std::string_view reason, uint64_t n,
                    std::string_view detail);

  /// Records an inbound drop that happened outside `receive` (overload).
  void count_drop(time_point now, const address& peer, std::string_view reason,
                  uint64_t n = 1, std::string_view detail = {});

  const wire& pipeline() const noexcept { return wire_; }
  stats& counters() noexcept { return stats_; }
  drop_counts& drops() noexcept { return drops_; }

  /// A copy of the counters with the drop list filled in.
  stats snapshot() const;

private:
  wire wire_;
  stats stats_;
  drop_counts drops_;
  std::map<channel, inbound_sink_actor> subs_;
  shell_env env_;
  replay_guard replays_;
  uint64_t next_seq_ = 1;
  double drop_rate_ = 0.0;
  std::set<address> blocked_;
  std::mt19937_64 fault_rng_;
  uint32_t delay_ms_ = 0;
  uint32_t jitter_ms_ = 0;
  delay_queue delayed_{max_delayed, max_delayed_bytes};
  std::set<time_point> wakes_; // outstanding wake times
  log_limiter limiter_;

  void decode(time_point now, time_point received, const address& from,
              std::string_view bytes, std::vector<delivery>& out);
};

/// Arms the wake the delay fault needs, if any: `(tm_wake_atom)` to self.
template <class Self>
void arm_wake(Self* self, shell& sh, time_point now) {
  if (auto at = sh.wake_to_arm(now))
    self->delayed_send(self, *at - now, tm_wake_atom_v);
}

/// Runs `sh.receive` for one datagram and sends the deliveries from `self`.
/// `received`: when it left the socket (default: now).
template <class Self>
void deliver_datagram(Self* self, shell& sh, const address& from,
                      std::string_view bytes, time_point received = {}) {
  std::vector<delivery> out;
  auto now = self->clock().now();
  sh.receive(now, from, bytes, out, received);
  for (auto& d : out)
    self->send(d.sink, std::move(d.msg));
  arm_wake(self, sh, now);
}

/// Handles `(tm_wake_atom)`: delivers the held datagrams that are due.
template <class Self>
void release_delayed(Self* self, shell& sh) {
  std::vector<delivery> out;
  auto now = self->clock().now();
  sh.release(now, out);
  for (auto& d : out)
    self->send(d.sink, std::move(d.msg));
  arm_wake(self, sh, now);
}

} // namespace pekonode::transport::detail
