#pragma once
// Interface of a node's datagram transport: the message protocol that the UDP
// transport actor and the simulated transport both speak, so protocol actors
// cannot tell them apart. Plain structs and atoms only; no sockets here.

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/types.h"

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
  auto chan = static_cast<uint32_t>(x.chan);
  auto ticks = x.received.time_since_epoch().count();
  auto res = f(caf::meta::type_name("inbound"), x.from, x.sender, chan,
               x.payload, ticks);
  x.chan = static_cast<channel>(chan);
  x.received = time_point{duration{ticks}};
  return res;
}

} // namespace pekonode::transport

namespace pekonode {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound& x) {
  auto chan = static_cast<uint32_t>(x.chan);
  auto res = f(caf::meta::type_name("outbound"), x.to, chan, x.payload);
  x.chan = static_cast<channel>(chan);
  return res;
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
/// metrics. Drop reasons are the codec's and crypto's error names.
struct stats {
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t send_errors = 0;
  /// reason -> count, e.g. "too_large", "truncated", "auth_failed".
  std::vector<std::pair<std::string, uint64_t>> drops;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stats& x) {
  return f(caf::meta::type_name("tx_stats"), x.datagrams_in, x.datagrams_out,
           x.bytes_in, x.bytes_out, x.send_errors, x.drops);
}

/// The message protocol of every transport actor:
///
/// - `(tx_send_atom, outbound_list)`: encode, batch per destination (several
///   layer messages share one datagram while they fit), encrypt, send.
///   Fire-and-forget; failures are counted, never reported to the sender.
/// - `(tx_sub_atom, channel, caf::actor)`: deliver every future `inbound` of
///   that channel to the actor (one subscriber per channel; the last wins).
/// - `(tx_addr_atom) -> address`: the bound local address (port 0 resolved).
/// - `(tx_stats_atom) -> stats`: a copy of the counters.
/// - `(tx_close_atom)`: close the socket and quit.
///
/// Ordering: inbound messages of one datagram are delivered in envelope order;
/// datagrams are delivered in arrival order.
using actor = caf::actor;

} // namespace pekonode::transport
