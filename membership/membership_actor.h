#pragma once
// The membership actor: a thin CAF shell around membership::core. It feeds
// the core datagrams from the transport and wake-ups from the timer actor,
// sends what the core emits, and publishes ordered member events to
// subscribers. Seed names are resolved by a resolver actor on its own
// thread. No protocol logic lives here.
//
// This header is the membership layer's public interface: message structs,
// atoms ("m_" prefix), the `pekonode_membership` type-ID block, the typed
// handle, and the behaviour function an embedder spawns as it likes.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/subscribers.h"
#include "membership/core.h"
#include "transport/backlog.h"
#include "transport/timer.h"
#include "transport/transport.h"

namespace pekonode::membership {

// -- messages -------------------------------------------------------------------

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, member& x) {
  return compat::inspect_object(
    f, x, "member",
    compat::field("name", x.name),
    compat::field("addr", x.addr),
    compat::field("incarnation", x.incarnation),
    compat::field("state", x.state),
    compat::field("tags", x.tags),
    compat::field("state_change", x.state_change));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, event& x) {
  return compat::inspect_object(
    f, x, "member_event",
    compat::field("kind", x.kind),
    compat::field("m", x.m));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, core_stats& x) {
  return compat::inspect_object(
    f, x, "membership_stats",
    compat::field("packets_in", x.packets_in),
    compat::field("packets_out", x.packets_out),
    compat::field("bytes_out", x.bytes_out),
    compat::field("probes", x.probes),
    compat::field("acks", x.acks),
    compat::field("probe_failures", x.probe_failures),
    compat::field("indirect_probes", x.indirect_probes),
    compat::field("probe_retries", x.probe_retries),
    compat::field("rtt_samples", x.rtt_samples),
    compat::field("suspicion_checks", x.suspicion_checks),
    compat::field("indirect_suspicion_checks", x.indirect_suspicion_checks),
    compat::field("relayed_probes", x.relayed_probes),
    compat::field("nacks_sent", x.nacks_sent),
    compat::field("nacks_received", x.nacks_received),
    compat::field("suspects_raised", x.suspects_raised),
    compat::field("confirmations", x.confirmations),
    compat::field("deaths_declared", x.deaths_declared),
    compat::field("refutations", x.refutations),
    compat::field("name_conflicts", x.name_conflicts),
    compat::field("updates_applied", x.updates_applied),
    compat::field("updates_stale", x.updates_stale),
    compat::field("join_attempts", x.join_attempts),
    compat::field("syncs_started", x.syncs_started),
    compat::field("syncs_differed", x.syncs_differed),
    compat::field("churn_syncs", x.churn_syncs),
    compat::field("reconnects", x.reconnects),
    compat::field("dead_probes", x.dead_probes),
    compat::field("dead_contacts", x.dead_contacts),
    compat::field("merge_syncs", x.merge_syncs),
    compat::field("heal_notices", x.heal_notices),
    compat::field("corrections_sent", x.corrections_sent),
    compat::field("suspect_notices", x.suspect_notices),
    compat::field("bad_packets", x.bad_packets),
    compat::field("leave_notices_sent", x.leave_notices_sent),
    compat::field("leave_acks_received", x.leave_acks_received),
    compat::field("leave_acks_sent", x.leave_acks_sent),
    compat::field("replies_limited", x.replies_limited),
    compat::field("broadcast_queue", x.broadcast_queue),
    compat::field("unconfirmed", x.unconfirmed),
    compat::field("rtt_srtt_us", x.rtt_srtt_us),
    compat::field("rtt_var_us", x.rtt_var_us),
    compat::field("probe_timeout_us", x.probe_timeout_us),
    compat::field("probe_miss_ppm", x.probe_miss_ppm),
    compat::field("suspicion_min_us", x.suspicion_min_us));
}

/// Seeds to join through: "host:port" texts, IP literals or DNS names.
struct seed_list {
  std::vector<std::string> seeds;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, seed_list& x) {
  return compat::inspect_object(
    f, x, "seed_list",
    compat::field("seeds", x.seeds));
}

/// What seed discovery by DNS last found: for each `dns:` seed ("host:port"),
/// how many addresses its last lookup returned (0: none, or it failed).
struct dns_report {
  std::vector<std::string> names;
  std::vector<uint64_t> addresses;
  std::vector<std::string> errors; ///< empty where the lookup succeeded
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, dns_report& x) {
  return compat::inspect_object(
    f, x, "dns_report",
    compat::field("names", x.names),
    compat::field("addresses", x.addresses),
    compat::field("errors", x.errors));
}

/// This node's tags, replaced as a whole.
struct tag_set {
  std::map<std::string, std::string> tags;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, tag_set& x) {
  return compat::inspect_object(
    f, x, "tag_set",
    compat::field("tags", x.tags));
}

} // namespace pekonode::membership

PEKONODE_ERROR_CODE_ENUM(pekonode::membership::ec, "membership")

CAF_BEGIN_TYPE_ID_BLOCK(pekonode_membership,
                        caf::id_block::pekonode_transport::end)

  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::ec))
  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::member))
  CAF_ADD_TYPE_ID(pekonode_membership,
                  (std::vector<pekonode::membership::member>))
  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::event))
  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::core_stats))
  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::seed_list))
  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::tag_set))
  CAF_ADD_TYPE_ID(pekonode_membership, (pekonode::membership::dns_report))

  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_join_atom, "m_join")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_leave_atom,
               "m_leave")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_rejoin_atom,
               "m_rejoin")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_tags_atom, "m_tags")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_members_atom,
               "m_members")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_self_atom, "m_self")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_stats_atom,
               "m_stats")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_sub_atom, "m_sub")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_dns_atom, "m_dns")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_event_atom,
               "m_event")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_fleave_atom,
               "m_fleave")
  CAF_ADD_ATOM(pekonode_membership, pekonode::membership, m_poll_atom, "m_poll")

namespace pekonode::membership {

// -- typed interfaces -------------------------------------------------------------

/// A subscriber to member events: receives `(m_event_atom, event)`.
using member_listener_actor =
  caf::typed_actor<caf::reacts_to<m_event_atom, event>>;

/// The message protocol of the membership actor (beside `inbound` from the
/// transport and `tm_wake` from the timer):
///
/// - `(m_join_atom, seed_list)`: join through the seeds. IP literals are
///   contacted at once; DNS names are resolved on the resolver's thread and
///   those that do not resolve are retried every reconnect interval.
///   Replies at once; the join itself is retried with backoff by the core.
///   A seed "dns:host:port" is discovery: every address the name resolves
///   to (all A/AAAA records) is contacted unless already a live member, and
///   the name is looked up again every `dns_refresh`, so records added
///   later (a scaled-up set, a restarted pod) are found.
/// - `(m_dns_atom) -> dns_report`: what the last lookups found.
/// - `(m_leave_atom)`: graceful leave.
/// - `(m_rejoin_atom)`: come back after a leave; `ec::not_running` unless
///   left.
/// - `(m_tags_atom, tag_set)`: replace this node's tags; `ec::bad_tag`,
///   `ec::tags_too_large`, `ec::not_running`.
/// - `(m_fleave_atom, std::string name)`: force-leave of a failed member
///   (core::force_leave); `ec::unknown_member`, `ec::not_failed`,
///   `ec::is_self`, `ec::not_running`.
/// - `(m_members_atom) -> std::vector<member>`: self included, by name.
/// - `(m_self_atom) -> member`.
/// - `(m_stats_atom) -> (core_stats, int health_score)`.
/// - `(m_poll_atom)`: runs the timers that are due (what a wake-up from the
///   timer becomes once it is no longer held; see actor_config::backlog).
/// - `(m_sub_atom, member_listener_actor)`: the listener receives
///   `(m_event_atom, event)` for every change, in order, starting with a
///   `joined` event for each member currently known (a snapshot), so it
///   never misses one. A change is one of state, address or tags (an
///   incarnation bump alone, e.g. a refutation, is not announced); this
///   node's own entry is included (`updated` for new tags, `left`, `alive`
///   after a rejoin). Members forgotten after `dead_retention` are dropped
///   without an event. Listeners are monitored and dropped when they end.
///
/// Errors carry the category "membership" and a `membership::ec`.
using membership_actor = caf::typed_actor<
  caf::reacts_to<m_join_atom, seed_list>,
  caf::reacts_to<m_leave_atom>,
  caf::reacts_to<m_rejoin_atom>,
  caf::reacts_to<m_tags_atom, tag_set>,
  caf::replies_to<m_members_atom>::with<std::vector<member>>,
  caf::replies_to<m_self_atom>::with<member>,
  caf::replies_to<m_stats_atom>::with<core_stats, int32_t>,
  caf::replies_to<m_dns_atom>::with<dns_report>,
  caf::reacts_to<m_sub_atom, member_listener_actor>,
  caf::reacts_to<m_fleave_atom, std::string>,
  caf::reacts_to<m_poll_atom>>
  ::extend_with<transport::inbound_sink_actor>
  ::extend_with<transport::timer_client_actor>;

} // namespace pekonode::membership

  CAF_ADD_TYPE_ID(pekonode_membership,
                  (pekonode::membership::member_listener_actor))

CAF_END_TYPE_ID_BLOCK(pekonode_membership)

namespace pekonode::membership {

/// Everything the membership actor needs to start.
struct actor_config {
  config protocol = config::lan();
  std::string name;
  address advertise;  ///< "ip:port" peers use to reach this node
  std::map<std::string, std::string> tags;
  uint64_t seed = 0;  ///< randomness of the core (probe order, jitter)
  /// Resolves seed names. Empty: the actor spawns its own, linked and
  /// detached, the first time a seed is a DNS name.
  transport::resolver_actor resolver;
  /// How long one round of seed lookups may take; unanswered names are
  /// retried after `protocol.reconnect_interval`. Default 10 s.
  duration resolve_timeout = std::chrono::seconds(10);
  /// How often "dns:" seeds are looked up again. Default 30 s.
  duration dns_refresh = std::chrono::seconds(30);
  /// A node that joined through seeds but still sees no other live member
  /// this long after says so in its log, with the likely causes, and again
  /// every 3 times as long while it stays alone. Default 10 s.
  duration alone_warning = std::chrono::seconds(10);
  /// Incarnation to start at: 0 for a new node; after a restart with a data
  /// dir, above the durable ceiling of those announced before.
  uint64_t incarnation = 0;
  /// The transport's record of the datagrams it has read but not yet
  /// handled (the UDP transport's `udp_config::backlog`). With it, a
  /// deadline is judged only after every datagram that left the socket
  /// before it has been handled: a wake-up from the timer is held while
  /// such datagrams still wait for the transport actor, then goes to the
  /// back of this actor's mailbox (`m_poll_atom`), behind the messages the
  /// transport has already passed on. So an ack that arrived in time but
  /// waited in a backlogged process still answers its probe, and a node
  /// that is behind on its input runs its timers at the pace it catches up:
  /// at most once per its lag (how long the oldest datagram has waited at
  /// the transport, or the poll through the mailbox), up to max_hold.
  /// Empty (simulated transports): timers run when the timer wakes us.
  std::shared_ptr<const transport::inbound_backlog> backlog;
  /// A datagram that has waited this long for the transport holds no
  /// wake-up any more: the timers run all the same (a transport that makes
  /// no progress must not stop this node's probes and gossip). Default 5 s.
  duration max_hold = std::chrono::seconds(5);
};

/// State of the membership actor (internal: use the membership_actor
/// protocol; the members may change without notice).
struct membership_state {
  explicit membership_state(
    membership_actor::stateful_pointer<membership_state> ptr)
    : self(ptr) {}

  void init(actor_config cfg, transport::transport_actor transport,
            transport::timer_actor timer);
  membership_actor::behavior_type make_behavior();

  time_point now() const { return self->clock().now(); }
  void flush(outbound_list& out);
  void publish_self();
  void report_deadline();
  /// The earliest timer: the core's, seed and DNS lookups, the alone check.
  time_point next_due() const;
  /// Handles a wake-up from the timer: holds it (see actor_config::backlog)
  /// or queues the poll behind the mailbox.
  void on_wake();
  /// Runs every timer due now (core, seed lookups, alone check).
  void run_timers();
  void join(const seed_list& seeds);
  /// Logs that no other member answered (see alone_warning) when it is so.
  void check_alone(time_point t);
  void start_lookup();
  void on_lookup(transport::resolutions& rs);
  void start_dns_lookup();
  void on_dns_lookup(transport::resolutions& rs);
  transport::resolver_actor resolver();

  membership_actor::stateful_pointer<membership_state> self;
  actor_config cfg_;
  std::unique_ptr<core> core_;
  transport::transport_actor transport_;
  transport::deadline_reporter timer_;
  subscribers<member_listener_actor> subscribers_;
  std::set<std::string> unresolved_; ///< seed names awaiting a lookup
  std::string seeds_text_;           ///< the seeds of the last join, for logs
  time_point alone_check_at_ = time_point::max(); ///< see alone_warning
  bool resolving_ = false;
  time_point resolve_at_ = time_point::max(); ///< next lookup of unresolved_
  member published_self_; ///< this node's entry as subscribers last saw it
  /// Discovery: "host:port" of every dns: seed, and its last answer.
  std::map<std::string, transport::resolution> dns_;
  bool dns_resolving_ = false;
  time_point dns_at_ = time_point::max(); ///< next lookup of dns_
  /// Wake-ups held for the transport's backlog (actor_config::backlog):
  /// an `m_poll_atom` is on its way through the mailbox; no deadline is
  /// reported before `hold_until_` (the next look at a held backlog).
  bool poll_queued_ = false;
  time_point hold_until_ = time_point::min();
  /// When the last m_poll was sent, and how far behind on its input this
  /// node was then (see run_timers).
  time_point poll_sent_{};
  duration lag_{};
};

/// Behaviour of the membership actor: subscribes to the transport's
/// membership channel and reports its deadlines to `timer`.
membership_actor::behavior_type
membership_behavior(membership_actor::stateful_pointer<membership_state> self,
                    actor_config cfg, transport::transport_actor transport,
                    transport::timer_actor timer);

/// Spawns the membership actor (unlinked; see node::spawn_node for a whole
/// node whose actors live and die together).
membership_actor spawn_membership(caf::actor_system& sys, actor_config cfg,
                                  transport::transport_actor transport,
                                  transport::timer_actor timer);

} // namespace pekonode::membership
