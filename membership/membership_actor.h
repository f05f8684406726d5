#pragma once
// The membership actor: a thin CAF shell around membership::core. It feeds
// the core datagrams from the transport and CAF-clock wake-ups, sends what the
// core emits, and publishes ordered member events to subscribers. No
// protocol logic lives here.

#include <caf/all.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "membership/core.h"

namespace pekonode::membership {

// Atoms ("m_" prefix, at most 10 characters).
using m_join_atom = caf::atom_constant<caf::atom("m_join")>;
using m_leave_atom = caf::atom_constant<caf::atom("m_leave")>;
using m_rejoin_atom = caf::atom_constant<caf::atom("m_rejoin")>;
using m_tags_atom = caf::atom_constant<caf::atom("m_tags")>;
using m_members_atom = caf::atom_constant<caf::atom("m_members")>;
using m_self_atom = caf::atom_constant<caf::atom("m_self")>;
using m_sub_atom = caf::atom_constant<caf::atom("m_sub")>;
using m_event_atom = caf::atom_constant<caf::atom("m_event")>;
using m_stats_atom = caf::atom_constant<caf::atom("m_stats")>;
using m_wake_atom = caf::atom_constant<caf::atom("m_wake")>;

// Inspectors so CAF can carry and print the core's plain structs.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  auto state = static_cast<uint8_t>(x.state);
  auto ticks = static_cast<int64_t>(x.state_change.time_since_epoch().count());
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.state = static_cast<member_state>(state);
    x.state_change = time_point{duration{ticks}};
    return caf::none;
  });
  return f(caf::meta::type_name("member"), x.name, x.addr, x.incarnation,
           state, x.tags, ticks, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  auto kind = static_cast<uint8_t>(x.kind);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.kind = static_cast<event::kind_t>(kind);
    return caf::none;
  });
  return f(caf::meta::type_name("member_event"), kind, x.m, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, core_stats& x) {
  return f(caf::meta::type_name("membership_stats"), x.packets_in,
           x.packets_out, x.bytes_out, x.probes, x.acks, x.probe_failures,
           x.indirect_probes, x.relayed_probes, x.nacks_sent,
           x.nacks_received, x.suspects_raised, x.confirmations,
           x.deaths_declared, x.refutations, x.name_conflicts,
           x.updates_applied, x.updates_stale, x.join_attempts,
           x.syncs_started, x.syncs_differed, x.reconnects, x.heal_notices,
           x.bad_packets, x.leave_notices_sent, x.leave_acks_received,
           x.leave_acks_sent);
}

/// Everything the membership actor needs to start.
struct actor_config {
  config protocol = config::lan();
  std::string name;
  address advertise;  ///< "ip:port" peers use to reach this node
  std::map<std::string, std::string> tags;
  uint64_t seed = 0;  ///< randomness of the core (probe order, jitter)
};

/// Message protocol of the membership actor:
///
/// - `(m_join_atom, std::vector<std::string> seeds) -> bool`: join through
///   seeds ("host:port"; DNS names are resolved here, names that do not
///   resolve yet are retried every reconnect interval). Replies at once; the
///   join itself is retried with backoff by the core.
/// - `(m_leave_atom) -> bool`: graceful leave.
/// - `(m_rejoin_atom) -> bool` or error: come back after a leave.
/// - `(m_tags_atom, std::map<std::string, std::string>) -> bool` or error.
/// - `(m_members_atom) -> std::vector<member>` (self included, by name).
/// - `(m_self_atom) -> member`.
/// - `(m_stats_atom) -> core_stats` plus `(int health_score)`.
/// - `(m_sub_atom, caf::actor who)`: `who` receives `(m_event_atom, event)`
///   for every change, in order, starting with a `joined` event for each
///   member currently known (a snapshot), so it never misses one. A change
///   is one of state, address or tags (an incarnation bump alone, e.g. a
///   refutation, is not announced); this node's own entry is included
///   (`updated` for new tags, `left`, `alive` after a rejoin). Members
///   forgotten after `dead_retention` are dropped without an event.
///
/// Errors carry category atom "membership" and the core's `ec`.
caf::actor spawn_membership(caf::actor_system& sys, actor_config cfg,
                            caf::actor transport);

} // namespace pekonode::membership
