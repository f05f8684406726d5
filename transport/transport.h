#pragma once
// Interface of the transport package: the typed message protocols of a
// node's datagram transport (UDP or simulated: protocol actors cannot tell
// them apart), of the timer actor that wakes the protocol shells, of the
// resolver that runs blocking name lookups off the actor threads, and of
// the simulated network hub. Plain structs, atoms, typed handles and the
// `pekonode_transport` type-ID block; no sockets, no behaviour here.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/caf_compat.h"
#include "common/caf_types.h"
#include "common/types.h"
#include "transport/error.h"

namespace pekonode::transport {

// -- messages -------------------------------------------------------------------

/// A message for one layer, delivered to the actor subscribed to its channel.
/// `received` is when the datagram left the socket, on the transport's clock
/// (`self->clock().now()`): the UDP transport's reader thread stamps it
/// before the datagram waits for the transport actor; a simulated
/// transport stamps it when it handles the datagram.
struct inbound {
  address from;          ///< source address of the datagram ("ip:port")
  std::string sender;    ///< sender's node name from the envelope
  channel chan = channel::membership;
  std::string payload;   ///< the layer's own encoded message
  time_point received;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, inbound& x) {
  return compat::inspect_object(
    f, x, "inbound",
    compat::field("from", x.from),
    compat::field("sender", x.sender),
    compat::field("chan", x.chan),
    compat::field("payload", x.payload),
    compat::field("received", x.received));
}

/// Counters every transport keeps; exported by the admin API as Prometheus
/// metrics. `drops` counts inbound datagrams by reason: the names of
/// transport `ec` values ("too_large", "truncated", "malformed",
/// "bad_version", "too_many_messages", "field_too_large", "unknown_channel",
/// "auth_failed", "wrong_label", "encryption_mismatch", "replayed"), plus
/// "no_subscriber" (counts messages), "overload" (receive queue full),
/// "kernel_overflow" (dropped by the kernel: socket receive buffer full,
/// SO_RXQ_OVFL), "read_error", "fault_injected" and "delay_overflow" (the
/// delay fault's queue was full).
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
  /// Gauge: datagrams read from the socket and waiting for the transport
  /// actor (bounded by udp_config::max_pending; 0 for other transports).
  uint64_t inbound_pending = 0;
  /// Gauge: inbound datagrams held by the delay fault (faults::delay_ms),
  /// bounded by max_delayed.
  uint64_t inbound_delayed = 0;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, stats& x) {
  return compat::inspect_object(
    f, x, "tx_stats",
    compat::field("datagrams_in", x.datagrams_in),
    compat::field("datagrams_out", x.datagrams_out),
    compat::field("bytes_in", x.bytes_in),
    compat::field("bytes_out", x.bytes_out),
    compat::field("send_errors", x.send_errors),
    compat::field("drops", x.drops),
    compat::field("messages_in", x.messages_in),
    compat::field("messages_out", x.messages_out),
    compat::field("messages_unsent", x.messages_unsent),
    compat::field("inbound_pending", x.inbound_pending),
    compat::field("inbound_delayed", x.inbound_delayed));
}

/// In-process fault injection (the admin API's `/v1/faults`), applied to
/// inbound datagrams before any parsing and counted as "fault_injected".
struct faults {
  /// Each datagram is dropped with this probability (clamped to [0, 1]).
  double drop_rate = 0.0;
  /// Every datagram from these sources is dropped (IP literals compared in
  /// canonical form). Blocking on one node only gives a one-way cut.
  std::vector<address> blocked;
  /// Every datagram that is not dropped is held for `delay_ms` plus a
  /// uniform draw in [-jitter_ms, +jitter_ms] (at least 0) before it is
  /// parsed and delivered, as a network's one-way delay would; with jitter,
  /// datagrams overtake each other as they do under netem. Held datagrams
  /// are bounded by `max_delayed` and `max_delayed_bytes`; what does not
  /// fit is dropped and counted as "delay_overflow". Values above
  /// `max_fault_delay_ms` are clamped to it; jitter is clamped to the delay.
  uint32_t delay_ms = 0;
  uint32_t jitter_ms = 0;
};

/// Largest `faults::delay_ms` (and `jitter_ms`) a transport applies.
constexpr uint32_t max_fault_delay_ms = 10'000;
/// Most inbound datagrams held by the delay fault at once.
constexpr size_t max_delayed = 4096;
/// Most bytes of inbound datagrams held by the delay fault at once.
constexpr size_t max_delayed_bytes = size_t{4} << 20;

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, faults& x) {
  return compat::inspect_object(
    f, x, "tx_faults",
    compat::field("drop_rate", x.drop_rate),
    compat::field("blocked", x.blocked),
    compat::field("delay_ms", x.delay_ms),
    compat::field("jitter_ms", x.jitter_ms));
}

/// One name to resolve ("host:port", the host a DNS name or an IP literal)
/// and, in a reply, what it resolved to.
struct resolution {
  std::string name;
  std::vector<address> addrs; ///< canonical "ip:port", IPv4 first; empty: failed
  std::string error;          ///< why it failed (for people); empty on success
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, resolution& x) {
  return compat::inspect_object(
    f, x, "resolution",
    compat::field("name", x.name),
    compat::field("addrs", x.addrs),
    compat::field("error", x.error));
}

using resolutions = std::vector<resolution>;

/// What a timer actor is doing (tests, metrics).
struct timer_stats {
  uint64_t clients = 0; ///< clients with a deadline or a wake-up owed
  uint64_t armed = 0;   ///< clients with a pending CAF-clock timeout
  uint64_t wakes = 0;   ///< wake-ups delivered so far
  bool held = false;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, timer_stats& x) {
  return compat::inspect_object(
    f, x, "timer_stats",
    compat::field("clients", x.clients),
    compat::field("armed", x.armed),
    compat::field("wakes", x.wakes),
    compat::field("held", x.held));
}

/// One key of a node's keyring as the keyring API shows it: its
/// fingerprint (transport/keyring_ops.h key_fingerprint), never its bytes.
struct key_info {
  std::string fingerprint;
  bool primary = false;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, key_info& x) {
  return compat::inspect_object(
    f, x, "key_info",
    compat::field("fingerprint", x.fingerprint),
    compat::field("primary", x.primary));
}

/// A keyring command for one node's transport (`tx_keyring_atom`); what a
/// cluster-wide keyring query runs on every node. `action` is a
/// transport::keyring_action (keyring_ops.h): 0 list, 1 install, 2 use,
/// 3 remove, 4 reload. `key`: the key for install (base64 or hex, as in a
/// keyring file), the key or its fingerprint for use and remove.
struct keyring_request {
  uint8_t action = 0;
  std::string key;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, keyring_request& x) {
  return compat::inspect_object(
    f, x, "keyring_request",
    compat::field("action", x.action),
    compat::field("key", x.key));
}

/// What a node holds after a keyring command: every key by fingerprint,
/// primary first (a querier counts nodes per fingerprint), whether the
/// command changed the ring, and whether the change was written to the
/// keyring file (false without one).
struct keyring_reply {
  std::vector<key_info> keys;
  bool changed = false;
  bool persisted = false;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, keyring_reply& x) {
  return compat::inspect_object(
    f, x, "keyring_reply",
    compat::field("keys", x.keys),
    compat::field("changed", x.changed),
    compat::field("persisted", x.persisted));
}

/// A two-way cut of the simulated network: every member of `a` against every
/// member of `b`.
struct sim_partition {
  std::vector<address> a;
  std::vector<address> b;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, sim_partition& x) {
  return compat::inspect_object(
    f, x, "sim_partition",
    compat::field("a", x.a),
    compat::field("b", x.b));
}

/// What the simulated network hub did with the datagrams it was given.
struct sim_stats {
  uint64_t routed = 0;   ///< datagrams handed to the hub
  uint64_t delivered = 0;
  uint64_t lost = 0;     ///< dropped by the loss model
  uint64_t blocked = 0;  ///< dropped by a cut
  uint64_t unknown = 0;  ///< no transport registered at the destination
  uint64_t duplicated = 0; ///< extra copies delivered
  uint64_t bytes = 0;    ///< bytes delivered
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, sim_stats& x) {
  return compat::inspect_object(
    f, x, "sim_stats",
    compat::field("routed", x.routed),
    compat::field("delivered", x.delivered),
    compat::field("lost", x.lost),
    compat::field("blocked", x.blocked),
    compat::field("unknown", x.unknown),
    compat::field("bytes", x.bytes),
    compat::field("duplicated", x.duplicated));
}

} // namespace pekonode::transport

PEKONODE_ERROR_CODE_ENUM(pekonode::transport::ec, "transport")

namespace pekonode::transport {

/// A transport error with a reason for people as its context (e.g. the
/// address and errno text of a failed bind). Decide on the code, never on
/// the reason.
inline caf::error make_error(ec code, std::string reason) {
  return caf::make_error(code, std::move(reason));
}

/// The reason stored in a transport error ("" for other errors).
inline std::string reason_of(const caf::error& err) {
  return compat::is_category<ec>(err) ? compat::render_context(err.context())
                                      : std::string{};
}

} // namespace pekonode::transport

// -- atoms and type IDs ---------------------------------------------------------
// Atom names: "tx_" transport, "tm_" timer, "txs_" simulated network.

CAF_BEGIN_TYPE_ID_BLOCK(pekonode_transport,
                        caf::id_block::pekonode_common::end)

  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::ec))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::inbound))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::stats))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::faults))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::resolution))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::resolutions))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::timer_stats))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::sim_partition))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::sim_stats))

  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_send_atom, "tx_send")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_sub_atom, "tx_sub")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_addr_atom, "tx_addr")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_adv_atom, "tx_adv")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_stats_atom, "tx_stats")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_fault_atom, "tx_fault")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_close_atom, "tx_close")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_rx_atom, "tx_rx")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_resolve_atom,
               "tx_resolve")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tx_keyring_atom,
               "tx_keyring")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tm_due_atom, "tm_due")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tm_wake_atom, "tm_wake")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tm_hold_atom, "tm_hold")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tm_stats_atom,
               "tm_stats")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, tm_fire_atom, "tm_fire")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_reg_atom, "txs_reg")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_dg_atom, "txs_dg")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_loss_atom,
               "txs_loss")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_dup_atom, "txs_dup")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_delay_atom,
               "txs_delay")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_block_atom,
               "txs_block")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_unblk_atom,
               "txs_unblk")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_part_atom,
               "txs_part")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_heal_atom,
               "txs_heal")
  CAF_ADD_ATOM(pekonode_transport, pekonode::transport, txs_stats_atom,
               "txs_stats")

// The typed interfaces below refer to these atoms; the handles and structs
// sent as top-level message elements get their IDs at the end of the block.

namespace pekonode::transport {

// -- typed interfaces -------------------------------------------------------------

/// A layer's side of the transport: receives every `inbound` message of the
/// channel it subscribed to, in arrival order (messages of one datagram in
/// envelope order).
using inbound_sink_actor = caf::typed_actor<caf::reacts_to<inbound>>;

/// The message protocol of every transport actor (UDP and simulated):
///
/// - `(tx_send_atom, outbound_list)`: encode, batch per destination (several
///   layer messages share one datagram while they fit), encrypt, send.
///   Fire-and-forget; failures are counted, never reported to the sender.
/// - `(tx_sub_atom, channel, inbound_sink_actor)`: deliver every future
///   `inbound` of that channel to the sink (one per channel; the last wins).
/// - `(tx_addr_atom) -> address`: the bound local address (port 0 resolved).
/// - `(tx_adv_atom) -> address`: the address peers should use for this node:
///   the configured advertise address (a port 0 there is replaced by the
///   bound port), else the bound address.
/// - `(tx_stats_atom) -> stats`: a copy of the counters.
/// - `(tx_fault_atom) -> faults`: the fault-injection settings.
/// - `(tx_fault_atom, faults)`: replaces them (replies once applied).
/// - `(tx_keyring_atom, keyring_request) -> keyring_reply`: lists or
///   changes the keyring at run time (install, use, remove, reload from the
///   keyring file); a change is written to the keyring file first, when
///   the transport has one, and applied only if that succeeded. Errors:
///   bad_keyring, key_not_found, primary_key, keyring_full, io_error,
///   encryption_mismatch (a plaintext transport has no keyring).
/// - `(tx_close_atom)`: close the socket and quit with
///   `exit_reason::user_shutdown` (so actors linked to it stop as well).
///
/// Errors carry the category "transport" and a transport `ec`.
using transport_actor = caf::typed_actor<
  caf::reacts_to<tx_send_atom, outbound_list>,
  caf::reacts_to<tx_sub_atom, channel, inbound_sink_actor>,
  caf::replies_to<tx_addr_atom>::with<address>,
  caf::replies_to<tx_adv_atom>::with<address>,
  caf::replies_to<tx_stats_atom>::with<stats>,
  caf::replies_to<tx_fault_atom>::with<faults>,
  caf::reacts_to<tx_fault_atom, faults>,
  caf::replies_to<tx_keyring_atom, keyring_request>::with<keyring_reply>,
  caf::reacts_to<tx_close_atom>>;

/// Takes raw datagrams: `(tx_rx_atom, address from, std::string bytes)`.
/// The UDP transport's reader thread and the simulated network deliver
/// datagrams to a transport this way.
using datagram_sink_actor =
  caf::typed_actor<caf::reacts_to<tx_rx_atom, address, std::string>>;

/// A transport that also takes raw datagrams (what the UDP and simulated
/// transports are; their spawn functions hand out the narrower
/// `transport_actor`, except the simulated one, which a network feeds).
///
/// `(tm_wake_atom)` releases the inbound datagrams the delay fault holds
/// whose time has come (each transport sends it to itself; a stray one
/// releases nothing early).
using datagram_transport_actor = transport_actor::extend_with<
  datagram_sink_actor>::extend<caf::reacts_to<tm_wake_atom>>;

/// A client of the timer actor: receives `(tm_wake_atom)` when the deadline
/// it last reported has come.
using timer_client_actor = caf::typed_actor<caf::reacts_to<tm_wake_atom>>;

/// A client's next deadline, as a shell reports its core's `next_wakeup()`.
/// `time_point::max()` means "nothing due" and clears the deadline; a time
/// at or before now means "at once".
struct deadline {
  timer_client_actor client;
  time_point at = time_point::max();
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, deadline& x) {
  return compat::inspect_object(
    f, x, "deadline",
    compat::field("client", x.client),
    compat::field("at", x.at));
}

} // namespace pekonode::transport

namespace pekonode::transport {

/// The timer actor (transport/timer.h): the only source of protocol wake-ups
/// of a node. Each client has at most one deadline; the timer keeps at most
/// one pending CAF-clock timeout per client and none when no deadline is set.
///
/// - `(tm_due_atom, deadline)`: sets (replaces) the client's deadline. Due at
///   or before now: the client is woken at once. `time_point::max()`:
///   cleared. A wake-up clears the deadline; the client reports its next one.
/// - `(tm_hold_atom, bool held)`: while held, no wake-up is delivered (a
///   stalled node); on release each client whose deadline passed meanwhile
///   is woken once, at once.
/// - `(tm_stats_atom) -> timer_stats`.
///
/// Clients are monitored and forgotten when they terminate; the timer holds
/// no strong reference to them.
using timer_actor = caf::typed_actor<
  caf::reacts_to<tm_due_atom, deadline>,
  caf::reacts_to<tm_hold_atom, bool>,
  caf::replies_to<tm_stats_atom>::with<timer_stats>>;

/// Runs blocking name lookups (getaddrinfo) on its own thread, so no actor
/// of the scheduler ever blocks on DNS:
///
/// - `(tx_resolve_atom, resolutions) -> resolutions`: resolves the `name` of
///   each element, filling `addrs` or `error`. One request at a time, in
///   order; a caller bounds its wait with the request's timeout.
using resolver_actor = caf::typed_actor<
  caf::replies_to<tx_resolve_atom, resolutions>::with<resolutions>>;

/// What a simulated transport talks to (the hub, or any stand-in such as the
/// chaos harness's bridge to its own network simulator):
///
/// - `(txs_reg_atom, address, datagram_sink_actor)`: a transport registers
///   the address it receives at.
/// - `(txs_dg_atom, address from, address to, std::string bytes)`: one framed
///   datagram to route; delivered as `(tx_rx_atom, from, bytes)`.
using sim_port_actor = caf::typed_actor<
  caf::reacts_to<txs_reg_atom, address, datagram_sink_actor>,
  caf::reacts_to<txs_dg_atom, address, address, std::string>>;

/// The simulated network hub (transport/sim_transport.h): routes datagrams
/// between registered transports with seeded faults. Controls are
/// fire-and-forget, applied in order:
///
/// - `(txs_loss_atom, double p)`: drop each datagram with probability p;
///   `(txs_loss_atom, address from, address to, double p)`: per-link override.
/// - `(txs_dup_atom, double p)`: deliver a second copy (own random delay)
///   with probability p.
/// - `(txs_delay_atom, caf::timespan min, caf::timespan max)`: uniform
///   delay; unequal delays reorder datagrams.
/// - `(txs_block_atom, address from, address to)`: one-way cut;
///   `(txs_unblk_atom, address from, address to)` undoes one.
/// - `(txs_part_atom, sim_partition)`: two-way cut between two groups.
/// - `(txs_heal_atom)`: remove every cut (loss and delay stay).
/// - `(txs_stats_atom) -> sim_stats`.
using sim_hub_actor = sim_port_actor::extend<
  caf::reacts_to<txs_loss_atom, double>,
  caf::reacts_to<txs_loss_atom, address, address, double>,
  caf::reacts_to<txs_dup_atom, double>,
  caf::reacts_to<txs_delay_atom, caf::timespan, caf::timespan>,
  caf::reacts_to<txs_block_atom, address, address>,
  caf::reacts_to<txs_unblk_atom, address, address>,
  caf::reacts_to<txs_part_atom, sim_partition>,
  caf::reacts_to<txs_heal_atom>,
  caf::replies_to<txs_stats_atom>::with<sim_stats>>;

} // namespace pekonode::transport

  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::deadline))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::inbound_sink_actor))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::datagram_sink_actor))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::key_info))
  CAF_ADD_TYPE_ID(pekonode_transport, (std::vector<pekonode::transport::key_info>))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::keyring_request))
  CAF_ADD_TYPE_ID(pekonode_transport, (pekonode::transport::keyring_reply))

CAF_END_TYPE_ID_BLOCK(pekonode_transport)
