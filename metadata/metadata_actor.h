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
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/subscribers.h"
// For the type-ID chain only: this layer's block starts where the
// membership layer's ends (see common/caf_compat.h). The metadata actor
// itself knows nothing of membership; its peers come through md_peer.
#include "membership/membership_actor.h"
#include "metadata/core.h"
#include "metadata/peer.h"
#include "storage/group_commit.h"
#include "storage/lease.h"
#include "storage/store.h"
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

/// A write with options, `(md_write_atom, write_request) -> write_reply`:
/// compare-and-set and write concern (see the protocol list below).
struct write_request {
  std::string key;
  std::string value;  ///< ignored for a delete
  bool del = false;   ///< write a tombstone instead of `value`
  /// Compare-and-set: with `has_cas`, the write happens only if the key's
  /// live version is `cas`, or (`create_only`) only if it has no live
  /// value. Checked and written in one message, so nothing comes between.
  bool has_cas = false;
  bool create_only = false;
  version cas;
  /// Nodes that must hold the write before the reply, this one included:
  /// 1 (local) .. protocol.max_replicas.
  uint32_t replicas = 1;
  /// How long to wait for them, 1 ms .. protocol.max_write_timeout.
  uint64_t timeout_ms = 5000;
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, write_request& x) {
  return compat::inspect_object(
    f, x, "write_request",
    compat::field("key", x.key),
    compat::field("value", x.value),
    compat::field("del", x.del),
    compat::field("has_cas", x.has_cas),
    compat::field("create_only", x.create_only),
    compat::field("cas", x.cas),
    compat::field("replicas", x.replicas),
    compat::field("timeout_ms", x.timeout_ms));
}

/// The answer to a write_request that reached its replicas.
struct write_reply {
  version ver;         ///< the new version (the tombstone's for a delete)
  uint32_t acked = 1;  ///< nodes that held it when the reply was sent
  uint32_t wanted = 1; ///< the request's replicas
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, write_reply& x) {
  return compat::inspect_object(
    f, x, "write_reply",
    compat::field("ver", x.ver),
    compat::field("acked", x.acked),
    compat::field("wanted", x.wanted));
}

/// Parses the text form of `to_string(version)` ("physical.logical@origin")
/// back; false for anything else (origin: visible ASCII, at most 128 bytes).
bool parse_version(const std::string& text, version& out);

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
    compat::field("gc_collected", x.gc_collected),
    compat::field("clock_skew_lead_ms", x.clock_skew_lead_ms),
    compat::field("writes_replicated", x.writes_replicated),
    compat::field("writes_replica_timeouts", x.writes_replica_timeouts),
    compat::field("holds_acked", x.holds_acked),
    compat::field("keys_live", x.keys_live),
    compat::field("tombstones", x.tombstones),
    compat::field("store_bytes", x.store_bytes),
    compat::field("transfers_active", x.transfers_active),
    compat::field("rumour_queue", x.rumour_queue),
    compat::field("bulk_queue", x.bulk_queue));
}

/// What `md_restore_atom` did: the snapshot's entries, how many won (are
/// in the store now), lost to newer versions held here, or were deletes,
/// and where the snapshot came from.
struct restore_summary {
  uint64_t records = 0;
  uint64_t applied = 0;
  uint64_t stale = 0;
  uint64_t tombstones = 0;
  std::string source_node;    ///< the node that took the snapshot
  std::string source_cluster; ///< its cluster label (may be empty)
};

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, restore_summary& x) {
  return compat::inspect_object(
    f, x, "restore_summary",
    compat::field("records", x.records),
    compat::field("applied", x.applied),
    compat::field("stale", x.stale),
    compat::field("tombstones", x.tombstones),
    compat::field("source_node", x.source_node),
    compat::field("source_cluster", x.source_cluster));
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
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_durable_atom,
               "md_durable")
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::write_request))
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::write_reply))
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_write_atom,
               "md_write")

  // Snapshot save / restore.
  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::restore_summary))
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_snap_atom, "md_snap")
  CAF_ADD_ATOM(pekonode_metadata, pekonode::metadata, md_restore_atom,
               "md_restore")

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
/// - `(md_write_atom, write_request) -> write_reply`: put or delete with
///   compare-and-set and write concern, checked and applied in this one
///   message. Errors before anything is written: those of md_put / md_del,
///   cas_mismatch (context: key, the live version's text or "" when none),
///   too_few_members (key, replicas, live nodes), too_many_writes (key,
///   limit), bad_option (reason). After the write is applied here:
///   replicas_timeout (key, version text, acked, wanted) when fewer than
///   `replicas` nodes held it within the timeout. The write stays applied
///   and spreads as any other.
/// - `(md_digest_atom) -> std::string`: hex store digest ("count:hash").
/// - `(md_stats_atom) -> stats`.
/// - `(md_snap_atom, uint64_t max_bytes) -> std::string`: a snapshot file
///   (storage/snapshot_codec.h) of the whole store, tombstones included,
///   taken within this one message, so no write lands half inside it; or
///   snapshot_too_large (context: its size and max_bytes, as uint64_t).
///   Its size is at most total_bytes() of the store plus a small header
///   (each record's framing is below the 64 bytes a store entry is charged).
/// - `(md_restore_atom, std::string file) -> restore_summary`: checks the
///   whole file (bad_snapshot, context: "why" and the reason) and every
///   entry (as remote entries, plus duplicate_key, store_full,
///   too_many_keys) before applying any; then applies them as if from a
///   peer, by last-writer-wins (see core::restore), so they spread.
///
/// - `(md_durable_atom, uint64_t batch, uint64_t code, std::string reason)`:
///   internal, from the durable store's committer: batch `batch` is on disk
///   (code 0) or failed (a `storage::ec`, with its one-line reason).
///
/// With a durable store (actor_config::durable) a put or delete is answered
/// once its batch is on disk, and only then gossiped; a write the disk
/// refuses is undone and answered with disk_full or not_durable.
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
  caf::replies_to<md_stats_atom>::with<stats>,
  caf::reacts_to<md_durable_atom, uint64_t, uint64_t, std::string>,
  caf::replies_to<md_snap_atom, uint64_t>::with<std::string>,
  caf::replies_to<md_restore_atom, std::string>::with<restore_summary>>
  ::extend_with<caf::typed_actor<
    caf::replies_to<md_write_atom, write_request>::with<write_reply>>>
  ::extend_with<peer_sink_actor>
  ::extend_with<transport::inbound_sink_actor>
  ::extend_with<transport::timer_client_actor>;

} // namespace pekonode::metadata

  CAF_ADD_TYPE_ID(pekonode_metadata, (pekonode::metadata::key_listener_actor))

CAF_END_TYPE_ID_BLOCK(pekonode_metadata)

namespace pekonode::metadata {

/// A node's durable store (--data_dir) and its group committer, shared by
/// whoever writes through it (the metadata actor, the membership snapshot).
/// The committer is destroyed first, so everything submitted is committed
/// before the store closes.
struct durable_store {
  std::unique_ptr<storage::store> store;
  std::unique_ptr<storage::group_commit> commit;

  durable_store() = default;
  durable_store(const durable_store&) = delete;
  durable_store& operator=(const durable_store&) = delete;
  ~durable_store() { commit.reset(); }
};

/// What the metadata actor needs to persist its store.
struct durable_config {
  /// The store (opened, its committer running); the actor holds a reference.
  std::shared_ptr<durable_store> store;
  /// Entries loaded from it at start (moved into the core, then released).
  std::shared_ptr<std::vector<storage::record>> records;
  /// HLC high-water mark read at start: every version issued before.
  uint64_t hlc_high_water = 0;
  /// HLC ceiling already durable at start (>= hlc_high_water): local writes
  /// up to it need no new lease.
  uint64_t hlc_ceiling = 0;
  /// How far ahead each HLC lease reaches, in ms of physical time: a larger
  /// step writes the high-water less often and jumps further after a
  /// restart. Default 10 s (about one lease write per 10 s of writes).
  uint64_t hlc_lease_ms = 10000;
  /// After a failed commit, keys applied from peers are written again at
  /// most this often (a full disk is not retried at the rate of gossip).
  duration retry_interval = std::chrono::seconds(1);
};

/// Converts a durable record to a metadata entry and back.
entry entry_of(storage::record&& r);
storage::record record_of(const std::string& key, const entry& e,
                          uint64_t tombstone_ttl_ms);

/// Everything the metadata actor needs to start.
struct actor_config {
  config protocol = config::lan();
  std::string node_id;    ///< this node's unique name (version tiebreak)
  std::string cluster;    ///< cluster label, recorded in snapshots
  uint64_t seed = 0;
  size_t change_log = 4096; ///< watch log capacity (entries)
  /// Wall clock in ms for the HLC's physical part. Default: system clock.
  std::function<uint64_t()> wall_ms;
  /// Durable store (--data_dir); without one (store null) the metadata
  /// lives in memory only and a write is answered at once.
  durable_config durable;
};

/// A write this node accepted, waiting for its batch to be durable.
struct pending_write {
  std::string key;
  version ver;
  std::optional<entry> prev; ///< the entry it replaced (to undo it)
  caf::typed_response_promise<version> promise; ///< unset: nobody waits
  /// An md_write: its write_reply goes out once the batch is durable (and,
  /// with `concern`, once its replicas hold it too; see md_writes_).
  bool md_write = false;
  uint64_t concern = 0; ///< the write concern's id (0: none)
  caf::typed_response_promise<write_reply> write_promise;
};

/// One batch of changes handed to the durable store: what becomes durable
/// together. `remote` lists entries applied from peers (key, version).
struct durable_batch {
  std::vector<pending_write> local;
  std::vector<std::pair<std::string, version>> remote;
  std::vector<std::string> keys; ///< every key written or erased
  uint64_t hlc_ceiling = 0;      ///< the HLC lease it carries (0: none)
  /// Entries peers asked this node to hold, acknowledged once the batch
  /// (and so everything applied before it) is on disk.
  std::vector<held_entry> held;
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
  bool durable() const { return cfg_.durable.store != nullptr; }
  /// After every core call: sends `out`, publishes the core's events,
  /// persists its changes (with `local`, the write that caused them) and
  /// reports the next deadline.
  void flush(outbound_list& out, pending_write* local = nullptr);
  /// flush without persisting (nothing new to write).
  void publish(outbound_list& out);
  /// Answers a local write: at once without a durable store, else once its
  /// batch is on disk.
  caf::result<version> answer_write(const write_result& r,
                                   const std::string& key,
                                   std::optional<entry> prev,
                                   outbound_list& out);
  caf::result<version> reply(const write_result& r, const std::string& key);
  /// The write concern hook: every listed entry is durable on this node, so
  /// hold acknowledgements owed for them go out. Without a persistent
  /// store, flush() calls it right after the entries were applied; a
  /// persistent store calls it once its commit of them (and of everything
  /// applied before) finished.
  void on_durable(const std::vector<held_entry>& entries);
  caf::result<write_reply> write(write_request& req);
  /// Answers the md_write requests whose replicas were reached or whose
  /// deadline passed.
  void finish_writes();

  /// Persists the changes the core recorded since the last call (and keys
  /// to retry) as one batch; returns its id (0: nothing to write). Without
  /// a durable store the batch is durable at once: on_durable runs here.
  uint64_t persist(pending_write* local = nullptr);

  /// THE point where a batch is durable (on disk, or applied when there is
  /// no data dir): answers its local writes with their versions, starts
  /// their rumours. Whatever must wait for durability hooks in here.
  void on_durable(durable_batch& b);

  /// A batch the disk refused: undoes its local writes (answered with
  /// disk_full / not_durable) and queues its keys to be written again.
  void on_not_durable(durable_batch& b, storage::ec code,
                      const std::string& reason);
  /// The committer's answer for batch `id` (code: a storage::ec).
  void on_batch_done(uint64_t id, uint64_t code, const std::string& reason);
  caf::result<std::string> snapshot(uint64_t max_bytes);
  caf::result<restore_summary> restore(const std::string& file);

  metadata_actor::stateful_pointer<metadata_state> self;
  actor_config cfg_;
  std::unique_ptr<core> core_;
  transport::transport_actor transport_;
  transport::deadline_reporter timer_;
  std::deque<kv_change> log_;
  uint64_t next_index_ = 1;
  subscribers<key_listener_actor> subscribers_;
  // -- durability ------------------------------------------------------------
  std::optional<storage::lease> hlc_lease_; ///< set with a durable store
  uint64_t next_batch_ = 1;
  std::map<uint64_t, durable_batch> inflight_;
  std::set<std::string> retry_;   ///< keys of failed batches, to write again
  time_point next_retry_{};
  uint64_t gc_horizon_written_ = 0;
  /// Per key: local writes in flight, and those that failed with what they
  /// replaced, so undoing a chain of failed writes ends at a durable entry.
  struct key_writes {
    size_t inflight = 0;
    std::map<version, std::optional<entry>> failed;
  };
  std::map<std::string, key_writes> key_writes_;
  /// Held entries waiting for the next batch (with a durable store).
  std::vector<held_entry> held_waiting_;
  /// md_write requests waiting for their replicas, by concern id. With a
  /// durable store the answer also waits for the local batch: `durable`
  /// says it is on disk, `done` holds the answer reached before that.
  struct waiting_write {
    caf::typed_response_promise<write_reply> promise;
    bool durable = false;
    std::optional<caf::expected<write_reply>> done;
  };
  std::map<uint64_t, waiting_write> writes_;
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
