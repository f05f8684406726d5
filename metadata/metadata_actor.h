#pragma once
// The metadata actor: a thin CAF shell around metadata::core. It feeds the
// core datagrams, wake-ups from the timer actor and the live peer set (from
// whatever source the node wires to its peer interface), answers local
// reads and writes, and keeps an ordered, bounded change log for watchers.
// No protocol logic lives here.
//
// This header is the metadata layer's public interface: message structs,
// atoms ("md_" prefix), the `pekonode_metadata` type-ID block, the typed
// handles, and the behaviour function an embedder spawns as it likes.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/subscribers.h"
// For the type-ID chain only: this layer's block starts where the
// membership layer's ends (see common/caf_compat.h). The metadata actor
// itself knows nothing of membership; its peers come through md_peer.
#include "membership/membership_actor.h"
#include "metadata/core.h"
#include "metadata/peer.h"
#include "transport/timer.h"
#include "transport/transport.h"

namespace pekonode::metadata {

// -- messages -------------------------------------------------------------------

/// A write's version: (HLC, origin). Compare versions with `<`; print them
/// with `to_string` ("physical_ms.logical@origin").
template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, version& x) {
  return compat::inspect_object(
    f, x, "version",
    compat::field("hlc", x.hlc),
    compat::field("origin", x.origin));
}

/// "physical_ms.logical@origin", e.g. "1732800000123.0@node-1".
std::string to_string(const version& v);

/// A key as listed by `md_list_atom` (no value bytes).
struct kv_item {
  std::string key;
  version ver;
  uint64_t size = 0;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, kv_item& x) {
  return compat::inspect_object(
    f, x, "kv_item",
    compat::field("key", x.key),
    compat::field("ver", x.ver),
    compat::field("size", x.size));
}

/// One change in the watch log. Indexes start at 1 and increase by one per
/// change; a watcher that fell more than the log's capacity behind sees a
/// gap (first index > its last + 1) and should re-list.
struct kv_change {
  uint64_t index = 0;
  std::string key;
  bool deleted = false;
  version ver;
  bool local = false; ///< written through this node
  uint64_t size = 0;  ///< value size in bytes (0 for a delete)
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, kv_change& x) {
  return compat::inspect_object(
    f, x, "kv_change",
    compat::field("index", x.index),
    compat::field("key", x.key),
    compat::field("deleted", x.deleted),
    compat::field("ver", x.ver),
    compat::field("local", x.local),
    compat::field("size", x.size));
}

/// Changes with index > the requested one (at most 1024, oldest first) and
/// the newest index assigned so far (0: none yet).
struct change_batch {
  std::vector<kv_change> changes;
  uint64_t head = 0;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, change_batch& x) {
  return compat::inspect_object(
    f, x, "change_batch",
    compat::field("changes", x.changes),
    compat::field("head", x.head));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, peer_change& x) {
  return compat::inspect_object(
    f, x, "peer_change",
    compat::field("name", x.name),
    compat::field("addr", x.addr),
    compat::field("live", x.live));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, stats& x) {
  return compat::inspect_object(
    f, x, "metadata_stats",
    compat::field("bytes_out", x.bytes_out),
    compat::field("msgs_out", x.msgs_out),
    compat::field("bytes_in", x.bytes_in),
    compat::field("rejects", x.rejects),
    compat::field("applied_local", x.applied_local),
    compat::field("applied_remote", x.applied_remote),
    compat::field("stale", x.stale),
    compat::field("chunks_sent", x.chunks_sent),
    compat::field("chunks_received", x.chunks_received),
    compat::field("transfers_started", x.transfers_started),
    compat::field("transfers_completed", x.transfers_completed),
    compat::field("transfers_abandoned", x.transfers_abandoned),
    compat::field("ae_rounds", x.ae_rounds),
    compat::field("events_dropped", x.events_dropped),
    compat::field("gc_collected", x.gc_collected));
}

} // namespace pekonode::metadata

PEKONODE_ERROR_CODE_ENUM(pekonode::metadata::ec, "metadata")

CAF_BEGIN_TYPE_ID_BLOCK(pekonode_metadata,
                        caf::id_block::pekonode_membership::end)

  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::ec))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::version))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::kv_item))
  CAF_ADD_TYPE_ID(pekonode_metadata, (std::vector<pekonode::metadata::kv_item>))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::kv_change))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::change_batch))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::peer_change))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::stats))

  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_put_atom, "md_put")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_get_atom, "md_get")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_del_atom, "md_del")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_list_atom, "md_list")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_changes_atom,
               "md_changes")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_sub_atom, "md_sub")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_event_atom, "md_event")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_stats_atom, "md_stats")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_digest_atom,
               "md_digest")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_peer_atom, "md_peer")

namespace pekonode::metadata {

// -- typed interfaces -------------------------------------------------------------

/// A subscriber to key changes: receives `(md_event_atom, kv_change)`.
using key_listener_actor =
  caf::typed_actor<caf::reacts_to<md_event_atom, kv_change>>;

/// The narrow interface through which the metadata actor learns its peers:
/// `(md_peer_atom, peer_change)`, in order. The node feeds it from the
/// membership actor's events (node/peer_feed.h); any other source works.
using peer_sink_actor =
  caf::typed_actor<caf::reacts_to<md_peer_atom, peer_change>>;

/// The message protocol of the metadata actor (beside `inbound` from the
/// transport, `tm_wake` from the timer and the peer interface):
///
/// - `(md_put_atom, std::string key, std::string value) -> version`, or an
///   error: empty_key, key_too_large, value_too_large, store_full,
///   too_many_keys (context: the key; for value_too_large also the value
///   size and the limit, as uint64_t).
/// - `(md_del_atom, std::string key) -> version` (the tombstone's), or
///   not_found.
/// - `(md_get_atom, std::string key) -> std::string` value bytes, or
///   not_found.
/// - `(md_list_atom) -> std::vector<kv_item>`: live keys, sorted.
/// - `(md_changes_atom, uint64_t after) -> change_batch`.
/// - `(md_sub_atom, key_listener_actor)`: the listener receives
///   `(md_event_atom, kv_change)` for every future change, in order.
///   Listeners are monitored and dropped when they end.
/// - `(md_digest_atom) -> std::string`: hex store digest ("count:hash").
/// - `(md_stats_atom) -> stats`.
///
/// Errors carry the category "metadata" and a `metadata::ec`.
using metadata_actor = caf::typed_actor<
  caf::replies_to<md_put_atom, std::string, std::string>::with<version>,
  caf::replies_to<md_del_atom, std::string>::with<version>,
  caf::replies_to<md_get_atom, std::string>::with<std::string>,
  caf::replies_to<md_list_atom>::with<std::vector<kv_item>>,
  caf::replies_to<md_changes_atom, uint64_t>::with<change_batch>,
  caf::reacts_to<md_sub_atom, key_listener_actor>,
  caf::replies_to<md_digest_atom>::with<std::string>,
  caf::replies_to<md_stats_atom>::with<stats>>
  ::extend_with<peer_sink_actor>
  ::extend_with<transport::inbound_sink_actor>
  ::extend_with<transport::timer_client_actor>;

} // namespace pekonode::metadata

  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::key_listener_actor))

CAF_END_TYPE_ID_BLOCK(pekonode_metadata)

namespace pekonode::metadata {

/// Everything the metadata actor needs to start.
struct actor_config {
  config protocol = config::lan();
  std::string node_id;    ///< this node's unique name (version tiebreak)
  uint64_t seed = 0;
  size_t change_log = 4096; ///< watch log capacity (entries)
  /// Wall clock in ms for the HLC's physical part. Default: system clock.
  std::function<uint64_t()> wall_ms;
};

/// The reason of a metadata error for people: "value_too_large: key 'k' is
/// 600000 bytes, limit 524288"; empty for errors of other categories.
std::string describe(const caf::error& err);

/// The context part of `describe` ("key 'k' is 600000 bytes, limit 524288").
std::string describe_context(const caf::message& ctx);

/// State of the metadata actor (internal: use the metadata_actor protocol;
/// the members may change without notice).
struct metadata_state {
  explicit metadata_state(metadata_actor::stateful_pointer<metadata_state> ptr)
    : self(ptr) {}

  void init(actor_config cfg, transport::transport_actor transport,
            transport::timer_actor timer);
  metadata_actor::behavior_type make_behavior();

  time_point now() const { return self->clock().now(); }
  uint64_t wall() const { return cfg_.wall_ms(); }
  void flush(outbound_list& out);
  caf::result<version> reply(const write_result& r, const std::string& key);

  metadata_actor::stateful_pointer<metadata_state> self;
  actor_config cfg_;
  std::unique_ptr<core> core_;
  transport::transport_actor transport_;
  transport::deadline_reporter timer_;
  std::deque<kv_change> log_;
  uint64_t next_index_ = 1;
  subscribers<key_listener_actor> subscribers_;
};

/// Behaviour of the metadata actor: subscribes to the transport's metadata
/// channel and reports its deadlines to `timer`. Its peers come through the
/// peer interface only; until some source feeds it, it has none.
metadata_actor::behavior_type
metadata_behavior(metadata_actor::stateful_pointer<metadata_state> self,
                  actor_config cfg, transport::transport_actor transport,
                  transport::timer_actor timer);

/// Spawns the metadata actor (unlinked; see node::spawn_node).
metadata_actor spawn_metadata(caf::actor_system& sys, actor_config cfg,
                              transport::transport_actor transport,
                              transport::timer_actor timer);

} // namespace pekonode::metadata
