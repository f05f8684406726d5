#pragma once
// The metadata actor: a thin CAF shell around metadata::core. It feeds the
// core datagrams, wake-ups and the live peer set (from the membership
// actor's events), answers local reads and writes, and keeps an ordered,
// bounded change log for watchers. No protocol logic lives here.

#include <caf/all.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "metadata/core.h"

namespace pekonode::metadata {

// Atoms ("md_" prefix, at most 10 characters).
using md_put_atom = caf::atom_constant<caf::atom("md_put")>;
using md_get_atom = caf::atom_constant<caf::atom("md_get")>;
using md_del_atom = caf::atom_constant<caf::atom("md_del")>;
using md_list_atom = caf::atom_constant<caf::atom("md_list")>;
using md_changes_atom = caf::atom_constant<caf::atom("md_changes")>;
using md_sub_atom = caf::atom_constant<caf::atom("md_sub")>;
using md_event_atom = caf::atom_constant<caf::atom("md_event")>;
using md_stats_atom = caf::atom_constant<caf::atom("md_stats")>;
using md_digest_atom = caf::atom_constant<caf::atom("md_digest")>;
using md_wake_atom = caf::atom_constant<caf::atom("md_wake")>;

/// A key as listed by `md_list_atom` (no value bytes).
struct kv_item {
  std::string key;
  std::string version; ///< "physical_ms.logical@origin"
  std::string origin;
  uint64_t size = 0;
  uint64_t updated_ms = 0; ///< physical part of the version's HLC
};

/// One change in the watch log. Indexes start at 1 and increase by one per
/// change; a watcher that fell more than the log's capacity behind sees a
/// gap (first index > its last + 1) and should re-list.
struct kv_change {
  uint64_t index = 0;
  std::string key;
  bool deleted = false;
  std::string version;
  std::string origin;
  bool local = false; ///< written through this node
};

/// "physical_ms.logical@origin", e.g. "1732800000123.0@node-1".
std::string to_string(const version& v);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_item& x) {
  return f(caf::meta::type_name("kv_item"), x.key, x.version, x.origin,
           x.size, x.updated_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_change& x) {
  return f(caf::meta::type_name("kv_change"), x.index, x.key, x.deleted,
           x.version, x.origin, x.local);
}

/// Everything the metadata actor needs to start.
struct actor_config {
  config protocol = config::lan();
  std::string node_id;    ///< this node's unique name (version tiebreak)
  address self_addr;      ///< excluded from the peer set
  uint64_t seed = 0;
  size_t change_log = 4096; ///< watch log capacity (entries)
  /// Wall clock in ms for the HLC's physical part. Default: system clock.
  std::function<uint64_t()> wall_ms;
};

/// Message protocol of the metadata actor:
///
/// - `(md_put_atom, std::string key, std::string value) -> std::string`
///   version, or an error (category "metadata", code = metadata::ec, the
///   context holds the reason): value_too_large, key_too_large, store_full...
/// - `(md_del_atom, std::string key) -> std::string` version, or not_found.
/// - `(md_get_atom, std::string key) -> std::vector<std::string>`: empty if
///   absent, else one element (the value bytes).
/// - `(md_list_atom) -> std::vector<kv_item>` sorted by key.
/// - `(md_changes_atom, uint64_t after) -> (std::vector<kv_change>,
///   uint64_t head)`: changes with index > after (at most 1024 per reply),
///   oldest first, and the newest index assigned so far (0: none yet).
/// - `(md_sub_atom, caf::actor who)`: `who` receives `(md_event_atom,
///   kv_change)` for every future change, in order.
/// - `(md_digest_atom) -> std::string` hex store digest (count:hash).
/// - `(md_stats_atom) -> metadata::stats`.
/// The actor subscribes itself to `membership` (any actor speaking the
/// membership actor's m_sub/m_event protocol) for the live peer set.
caf::actor spawn_metadata(caf::actor_system& sys, actor_config cfg,
                          caf::actor transport, caf::actor membership);

/// The error a metadata request failed with, as text ("value_too_large:
/// value is 600000 bytes, limit 524288").
std::string describe(const caf::error& err);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stats& x) {
  return f(caf::meta::type_name("metadata_stats"), x.bytes_out, x.msgs_out,
           x.bytes_in, x.rejects, x.applied_local, x.applied_remote, x.stale,
           x.chunks_sent, x.chunks_received, x.transfers_started,
           x.transfers_completed, x.transfers_abandoned, x.ae_rounds,
           x.events_dropped, x.gc_collected);
}

} // namespace pekonode::metadata
