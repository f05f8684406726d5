#pragma once
// Interface of a node's datagram transport: the message protocol that the UDP
// transport actor and the simulated transport both speak, so protocol actors
// cannot tell them apart. Plain structs and atoms only; no sockets here.

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/types.h"
#include "transport/error.h"

namespace pekonode::transport {

/// A message for one layer, delivered to the actor subscribed to its channel.
/// `received` is the transport's clock (`self->clock().now()`) at arrival.
struct inbound {
  address from;          ///< source address of the datagram ("ip:port")
  std::string sender;    ///< sender's node name from the envelope
  channel chan = channel::membership;
  std::string payload;   ///< the layer's own encoded message
  time_point received;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbound& x) {
  // The wire form uses plain integers; the load callback converts back after
  // deserialising (a `void` result_type, e.g. stringification, is allowed).
  auto chan = static_cast<uint32_t>(x.chan);
  auto ticks = static_cast<int64_t>(x.received.time_since_epoch().count());
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.chan = static_cast<channel>(chan);
    x.received = time_point{duration{ticks}};
    return caf::none;
  });
  return f(caf::meta::type_name("inbound"), x.from, x.sender, chan, x.payload,
           ticks, load);
}

} // namespace pekonode::transport

namespace pekonode {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound& x) {
  auto chan = static_cast<uint32_t>(x.chan);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.chan = static_cast<channel>(chan);
    return caf::none;
  });
  return f(caf::meta::type_name("outbound"), x.to, chan, x.payload, load);
}
} // namespace pekonode

namespace pekonode::transport {

// Atoms (at most 10 characters, "tx_" prefix).
using tx_send_atom = caf::atom_constant<caf::atom("tx_send")>;
using tx_sub_atom = caf::atom_constant<caf::atom("tx_sub")>;
using tx_addr_atom = caf::atom_constant<caf::atom("tx_addr")>;
using tx_stats_atom = caf::atom_constant<caf::atom("tx_stats")>;
using tx_close_atom = caf::atom_constant<caf::atom("tx_close")>;

/// Counters every transport keeps; exported by the admin API as Prometheus
/// metrics. `drops` counts inbound datagrams by reason: the names of
/// transport `ec` values ("too_large", "truncated", "malformed",
/// "bad_version", "too_many_messages", "field_too_large", "unknown_channel",
/// "auth_failed", "wrong_label", "encryption_mismatch", "replayed"), plus
/// "no_subscriber" (counts messages), "overload" (receive queue full),
/// "read_error" and "fault_injected".
struct stats {
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t send_errors = 0;
  /// reason -> count, e.g. "too_large", "truncated", "auth_failed".
  std::vector<std::pair<std::string, uint64_t>> drops;
  uint64_t messages_in = 0;  ///< layer messages delivered to subscribers
  uint64_t messages_out = 0; ///< layer messages put into sent datagrams
  /// Outbound layer messages not sent: larger than the codec limit, no
  /// destination, unresolvable destination, or sendto() failed.
  uint64_t messages_unsent = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stats& x) {
  return f(caf::meta::type_name("tx_stats"), x.datagrams_in, x.datagrams_out,
           x.bytes_in, x.bytes_out, x.send_errors, x.drops, x.messages_in,
           x.messages_out, x.messages_unsent);
}

/// `(tx_adv_atom) -> address`: the address peers should use for this node:
/// the configured advertise address (a port 0 there is replaced by the bound
/// port), else the bound address. Added after the first protocol draft.
using tx_adv_atom = caf::atom_constant<caf::atom("tx_adv")>;

/// In-process fault injection (the admin API's `/v1/faults`), applied to
/// inbound datagrams before any parsing and counted as "fault_injected":
/// - `(tx_fault_atom) -> (double drop_rate, std::vector<address> blocked)`
/// - `(tx_fault_atom, double drop_rate, std::vector<address> blocked) -> bool`
///   drop each datagram with probability drop_rate (clamped to [0, 1]) and
///   every datagram whose source is in `blocked` (IP literals are compared in
///   canonical form). Blocking on one node only gives a one-way cut.
using tx_fault_atom = caf::atom_constant<caf::atom("tx_fault")>;

/// Wraps a transport `ec` and a human-readable reason into a `caf::error`
/// (category atom "transport"; the reason is the context's only element).
inline caf::error make_error(ec code, std::string what) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("transport"),
                    caf::make_message(std::move(what))};
}

/// The message protocol of every transport actor:
///
/// - `(tx_send_atom, outbound_list)`: encode, batch per destination (several
///   layer messages share one datagram while they fit), encrypt, send.
///   Fire-and-forget; failures are counted, never reported to the sender.
/// - `(tx_sub_atom, channel, caf::actor)`: deliver every future `inbound` of
///   that channel to the actor (one subscriber per channel; the last wins).
/// - `(tx_addr_atom) -> address`: the bound local address (port 0 resolved).
/// - `(tx_adv_atom) -> address`: the advertised address (see above).
/// - `(tx_stats_atom) -> stats`: a copy of the counters.
/// - `(tx_close_atom)`: close the socket and quit.
/// - `(tx_fault_atom, ...)`: fault injection, see above.
///
/// Ordering: inbound messages of one datagram are delivered in envelope order;
/// datagrams are delivered in arrival order.
using actor = caf::actor;

} // namespace pekonode::transport
