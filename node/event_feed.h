#pragma once
// Feeds a node's event log (node/event_log.h) from its actors: an actor
// subscribed to the membership actor's member events and the metadata
// actor's key changes, appending one event per change. Linked to the node,
// so it ends with it. The log must outlive the node's actors.

#include <string>

#include <caf/fwd.hpp>

#include "membership/membership_actor.h"
#include "metadata/metadata_actor.h"
#include "node/event_handler.h"
#include "node/event_log.h"
#include "node/node.h"

namespace pekonode::node {

/// The event type a member event maps to (event_types::member_*).
const char* event_type_of(membership::event::kind_t kind);

/// The event payload of a member event: {"name", "addr", "state",
/// "incarnation", "tags"}.
nlohmann::json member_payload(const membership::member& m);

/// The event payload of a key change: {"key", "version", "origin", "size",
/// "local"} ("size" is 0 for a delete).
nlohmann::json key_payload(const metadata::kv_change& c);

/// Spawns the feed for `node`, subscribes it to both actors and links it
/// to the membership actor. The membership actor first replays one
/// member-join per known member, so the log starts with the current view.
void attach_event_feed(caf::actor_system& sys, const node_handle& node,
                       event_log& log);

/// The event payload of a user event or query: {"name", "payload",
/// "origin", "id" (16 hex digits), "ltime", "coalesce"}.
nlohmann::json user_event_payload(const userevents::user_event& ev);

/// Most answers of queries this node computes at once (each holds one
/// thread while its handlers run); more get no response (still acked).
inline constexpr int max_query_answers = 16;

/// Feeds user events and queries of `node` into `log` (types `user` and
/// `query`), and registers a query responder that runs the `query`
/// handlers of `runner` and answers with the stdout of the first that
/// succeeds (cut to userevents::max_response_bytes). Query events are for
/// the responder only: the runner's log listener must skip them, so that a
/// query's handlers run once. Both actors are linked to the node.
void attach_user_events(caf::actor_system& sys, const node_handle& node,
                        event_log& log, handler_runner& runner);

} // namespace pekonode::node
