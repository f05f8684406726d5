#pragma once
// Receive path, counters and log throttling shared by the UDP and simulated
// transport actors (CAF glue, internal to transport/). Not a public API: use
// transport.h's message protocol.

#include <caf/all.hpp>

#include <map>
#include <random>
#include <set>
#include <vector>
#include <string>
#include <string_view>

#include "common/types.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport::detail {

/// Internal: a received datagram, (tx_rx_atom, address from, std::string).
using tx_rx_atom = caf::atom_constant<caf::atom("tx_rx")>;

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

/// State shared by every transport actor shell.
class shell {
public:
  /// `fault_seed` seeds the fault-injection RNG (drop_rate decisions).
  shell(wire w, uint64_t fault_seed);

  /// Replaces the fault-injection settings; addresses are canonicalised when
  /// they are IP literals.
  void set_faults(double drop_rate, const std::vector<address>& blocked);
  double drop_rate() const noexcept { return drop_rate_; }
  std::vector<address> blocked() const {
    return {blocked_.begin(), blocked_.end()};
  }

  /// Handles the transport.h messages common to all transports:
  /// subscriptions and stats.
  void subscribe(channel chan, caf::actor who);

  /// Checks and delivers one received datagram: counts it, unframes and
  /// decodes it, sends one `inbound` per message to the channel's
  /// subscriber, and counts and logs (rate-limited) anything dropped.
  void on_datagram(caf::event_based_actor* self, const address& from,
                   std::string_view bytes);

  /// Writes a rate-limited warning about `n` items dropped for `reason`.
  void warn(caf::event_based_actor* self, bool inbound, const address& peer,
            std::string_view reason, uint64_t n, std::string_view detail);

  /// Packs `out` into datagrams (wire::prepare) and counts the messages
  /// too large for the codec as unsent.
  wire_batch prepare(caf::event_based_actor* self, const outbound_list& out);

  /// Records outbound messages that could not be sent, and warns.
  void count_unsent(caf::event_based_actor* self, const address& peer,
                    std::string_view reason, uint64_t n, std::string_view detail);

  /// Records an inbound drop that happened outside `on_datagram` (overload).
  void count_drop(caf::event_based_actor* self, const address& peer, std::string_view reason,
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
  std::map<channel, caf::actor> subs_;
  replay_filter replays_;
  double drop_rate_ = 0.0;
  std::set<address> blocked_;
  std::mt19937_64 fault_rng_;
  log_limiter limiter_;
};

} // namespace pekonode::transport::detail
