#pragma once
// The user-event actor: a thin CAF shell around userevents::core. It feeds
// the core datagrams of the user-events channel, wake-ups from the timer
// actor and member events (addresses, liveness, this node's tags), raises
// events and queries for local callers, publishes delivered events to
// subscribers and asks the local responder to answer queries. No protocol
// logic lives here.
//
// This header is the layer's public interface: message structs, atoms
// ("ue_" prefix), the `pekonode_userevents` type-ID block, the typed handles
// and the behaviour function an embedder spawns as it likes.

#include <map>
#include <memory>
#include <string>

#include "common/subscribers.h"
#include "membership/membership_actor.h"
// For the type-ID chain only: this block starts where metadata's ends.
#include "metadata/metadata_actor.h"
#include "transport/timer.h"
#include "transport/transport.h"
#include "userevents/core.h"

namespace pekonode::userevents {

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, user_event& x) {
  return compat::inspect_object(
    f, x, "user_event",
    compat::field("kind", x.kind),
    compat::field("name", x.name),
    compat::field("payload", x.payload),
    compat::field("origin", x.origin),
    compat::field("ltime", x.ltime),
    compat::field("id", x.id),
    compat::field("coalesce", x.coalesce),
    compat::field("origin_addr", x.origin_addr),
    compat::field("timeout_ms", x.timeout_ms),
    compat::field("node_filter", x.node_filter),
    compat::field("tags", x.tags));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, query_params& x) {
  return compat::inspect_object(
    f, x, "query_params",
    compat::field("name", x.name),
    compat::field("payload", x.payload),
    compat::field("node_filter", x.node_filter),
    compat::field("tags", x.tags),
    compat::field("timeout", x.timeout),
    compat::field("internal", x.internal));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, query_result& x) {
  return compat::inspect_object(
    f, x, "query_result",
    compat::field("id", x.id),
    compat::field("name", x.name),
    compat::field("acks", x.acks),
    compat::field("responses", x.responses),
    compat::field("stragglers", x.stragglers),
    compat::field("expected", x.expected));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, stats& x) {
  return compat::inspect_object(
    f, x, "userevents_stats",
    compat::field("events_sent", x.events_sent),
    compat::field("queries_sent", x.queries_sent),
    compat::field("delivered", x.delivered),
    compat::field("coalesced", x.coalesced),
    compat::field("duplicates", x.duplicates),
    compat::field("too_old", x.too_old),
    compat::field("rate_limited", x.rate_limited),
    compat::field("buffer_full", x.buffer_full),
    compat::field("malformed", x.malformed),
    compat::field("unverified", x.unverified),
    compat::field("acks_sent", x.acks_sent),
    compat::field("responses_sent", x.responses_sent),
    compat::field("acks_received", x.acks_received),
    compat::field("responses_received", x.responses_received),
    compat::field("responses_rejected", x.responses_rejected),
    compat::field("filtered_out", x.filtered_out),
    compat::field("packets_out", x.packets_out),
    compat::field("bytes_out", x.bytes_out),
    compat::field("syncs", x.syncs),
    compat::field("replies_limited", x.replies_limited));
}

} // namespace pekonode::userevents

PEKONODE_ERROR_CODE_ENUM(pekonode::userevents::ec, "userevents")

CAF_BEGIN_TYPE_ID_BLOCK(pekonode_userevents,
                        caf::id_block::pekonode_metadata::end)

  CAF_ADD_TYPE_ID(pekonode_userevents, (pekonode::userevents::ec))
  CAF_ADD_TYPE_ID(pekonode_userevents, (pekonode::userevents::user_event))
  CAF_ADD_TYPE_ID(pekonode_userevents, (pekonode::userevents::query_params))
  CAF_ADD_TYPE_ID(pekonode_userevents, (pekonode::userevents::query_result))
  CAF_ADD_TYPE_ID(pekonode_userevents, (pekonode::userevents::stats))

  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_pub_atom, "ue_pub")
  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_query_atom,
               "ue_query")
  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_sub_atom, "ue_sub")
  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_resp_atom,
               "ue_resp")
  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_stats_atom,
               "ue_stats")
  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_deliver_atom,
               "ue_deliver")
  CAF_ADD_ATOM(pekonode_userevents, pekonode::userevents, ue_answer_atom,
               "ue_answer")

namespace pekonode::userevents {

// -- typed interfaces -------------------------------------------------------------

/// A subscriber to user events and queries delivered on this node:
/// `(ue_deliver_atom, user_event)`, each event once, in delivery order
/// (queries only when this node matched their filters).
using event_listener_actor =
  caf::typed_actor<caf::reacts_to<ue_deliver_atom, user_event>>;

/// The local answerer of queries: `(ue_answer_atom, user_event) ->
/// std::string`, the response payload (at most max_response_bytes; larger
/// ones are not sent). An error reply sends no response (the ack went
/// already). Asked once per matching query, with the query's remaining
/// time as the request's timeout.
using query_responder_actor =
  caf::typed_actor<caf::replies_to<ue_answer_atom, user_event>::with<std::string>>;

/// The message protocol of the user-event actor (beside `inbound` from the
/// transport, `tm_wake` from the timer and member events):
///
/// - `(ue_pub_atom, std::string name, std::string payload, bool coalesce)
///   -> user_event`: raises a user event (delivered here too), or an error
///   (bad_name, too_large, rate_limited, not_running).
/// - `(ue_query_atom, query_params) -> query_result`: runs a query; the
///   reply comes at its deadline. Errors: bad_name, too_large, bad_filter
///   (context: the reason), bad_timeout, rate_limited, too_many_queries,
///   not_running.
/// - `(ue_sub_atom, event_listener_actor)`: subscribe (monitored).
/// - `(ue_resp_atom, query_responder_actor)`: the responder (the last one
///   registered; monitored, forgotten when it ends). Without one, matching
///   queries are acked with no response.
/// - `(ue_resp_atom, std::string name, query_responder_actor)`: the
///   internal responder for queries named `name`, a reserved name
///   (internal_prefix; others are ignored). Those queries go to it alone,
///   never to subscribers or the responder above.
/// - `(ue_stats_atom) -> stats`.
///
/// Errors carry the category "userevents" and a `userevents::ec`.
using userevents_actor = caf::typed_actor<
  caf::replies_to<ue_pub_atom, std::string, std::string, bool>::with<user_event>,
  caf::replies_to<ue_query_atom, query_params>::with<query_result>,
  caf::reacts_to<ue_sub_atom, event_listener_actor>,
  caf::reacts_to<ue_resp_atom, query_responder_actor>,
  caf::reacts_to<ue_resp_atom, std::string, query_responder_actor>,
  caf::replies_to<ue_stats_atom>::with<stats>>
  ::extend_with<membership::member_listener_actor>
  ::extend_with<transport::inbound_sink_actor>
  ::extend_with<transport::timer_client_actor>;

} // namespace pekonode::userevents

  CAF_ADD_TYPE_ID(pekonode_userevents,
                  (pekonode::userevents::event_listener_actor))
  CAF_ADD_TYPE_ID(pekonode_userevents,
                  (pekonode::userevents::query_responder_actor))

CAF_END_TYPE_ID_BLOCK(pekonode_userevents)

namespace pekonode::userevents {

/// Everything the user-event actor needs to start.
struct actor_config {
  config protocol = config::lan();
  std::string name;   ///< this node's name (as membership knows it)
  address advertise;  ///< where acks and responses to our queries come
  uint64_t seed = 0;
};

/// State of the user-event actor (internal: use the userevents_actor
/// protocol; the members may change without notice).
struct userevents_state {
  explicit userevents_state(
    userevents_actor::stateful_pointer<userevents_state> ptr)
    : self(ptr) {}

  void init(actor_config cfg, transport::transport_actor transport,
            transport::timer_actor timer);
  userevents_actor::behavior_type make_behavior();

  time_point now() const { return self->clock().now(); }
  void flush(outbound_list& out);
  void ask(const query_responder_actor& who, const user_event& ev,
           time_point answer_by);

  userevents_actor::stateful_pointer<userevents_state> self;
  actor_config cfg_;
  std::unique_ptr<core> core_;
  transport::transport_actor transport_;
  transport::deadline_reporter timer_;
  subscribers<event_listener_actor> subscribers_;
  query_responder_actor responder_;
  std::map<std::string, query_responder_actor> internal_; ///< by query name
  std::map<uint64_t, caf::typed_response_promise<query_result>> waiting_;
};

/// Behaviour of the user-event actor: subscribes to the transport's
/// user-events channel and reports its deadlines to `timer`. It learns
/// members from `(m_event_atom, event)`: subscribe it to the membership
/// actor (node::spawn_node does).
userevents_actor::behavior_type
userevents_behavior(userevents_actor::stateful_pointer<userevents_state> self,
                    actor_config cfg, transport::transport_actor transport,
                    transport::timer_actor timer);

/// Spawns the user-event actor (unlinked; see node::spawn_node).
userevents_actor spawn_userevents(caf::actor_system& sys, actor_config cfg,
                                  transport::transport_actor transport,
                                  transport::timer_actor timer);

} // namespace pekonode::userevents
