#pragma once
// The interface the admin HTTP API calls into: plain view structs and an
// abstract, blocking backend the node implements on top of its actors. No CAF,
// no HTTP here; the server owns routing, JSON and status codes.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/types.h"

namespace pekonode::node {

/// How a backend call ended; the HTTP layer maps each code to a status.
enum class result_code {
  ok,           ///< 200
  invalid,      ///< 400: bad input (e.g. value too large); detail is the reason
  not_found,    ///< 404
  unavailable,  ///< 503: the node is stopping or did not answer in time
  timeout,      ///< 504: what the call waited for (e.g. a seed) did not happen in time
  insufficient_storage, ///< 507: the data dir's disk is full; the write was undone
  precondition_failed, ///< 412: a compare-and-set found another version
  too_large,    ///< 413: a size limit (e.g. user event name + payload); detail names it
  rate_limited, ///< 429: a rate limit (user events, queries); retry later
};

/// Outcome of a backend call: on success `detail` carries the payload the call
/// documents (e.g. the new version), otherwise a one-line human reason.
struct result {
  result_code code = result_code::ok;
  std::string detail;

  bool ok() const noexcept { return code == result_code::ok; }

  static result success(std::string payload = {}) {
    return {result_code::ok, std::move(payload)};
  }
  static result error(result_code code, std::string reason) {
    return {code, std::move(reason)};
  }
};

using tag_map = std::map<std::string, std::string>;

/// This node as it presents itself to the cluster.
struct self_view {
  std::string name;
  address addr;          ///< advertised "ip:port" / "[ip]:port"
  uint64_t incarnation = 0;
  tag_map tags;
};

/// One member as the local node sees it.
struct member_view {
  std::string name;
  address addr;
  std::string state;     ///< one of "alive", "suspect", "dead", "left"
  uint64_t incarnation = 0;
  tag_map tags;
};

/// One live key of the metadata store (tombstones are not listed).
struct kv_entry_view {
  std::string key;
  std::string version;   ///< opaque text form, e.g. "physical.logical@origin"
  std::string origin;    ///< name of the node that wrote this version
  uint64_t size = 0;     ///< value size in bytes
  /// Local wall time of the last update in Unix milliseconds (display only;
  /// never used for ordering). 0 when unknown.
  int64_t updated_unix_ms = 0;
};

/// One change of the metadata store as seen by this node, in local order.
struct watch_event {
  enum class change { put, del };
  uint64_t index = 0;    ///< strictly increasing per node, starts at 1
  std::string key;
  change kind = change::put;
  std::string version;
};

/// Answer of `kv_watch`.
struct watch_batch {
  /// Events with index > the requested one, ascending by index.
  std::vector<watch_event> events;
  /// The newest index the node has assigned (>= every event's index); a
  /// client passes it back as `after_index` to continue.
  uint64_t last_index = 0;
  /// True when events after the requested index were already discarded from
  /// the node's bounded history: the client must re-list to resynchronise.
  bool truncated = false;
};

/// A value read together with the version that wrote it (see kv_read).
struct kv_value_view {
  std::string value;
  std::string version;   ///< same text form as kv_entry_view::version
  std::string origin;
  /// The store's change index when the read was taken: every change up to
  /// it is reflected, none after it (a watch can start from here).
  uint64_t index = 0;
};

/// The live keys under a prefix as of one store index (see kv_scan).
struct kv_scan_view {
  uint64_t index = 0;                 ///< as kv_value_view::index
  std::vector<kv_entry_view> entries; ///< sorted by key
  /// With values: values[i] belongs to entries[i]; otherwise empty.
  std::vector<std::string> values;
};

/// How kv_write writes: compare-and-set and write concern.
struct kv_write_options {
  bool del = false; ///< delete (tombstone) instead of storing the value
  /// Compare-and-set when set: "0" = only if the key has no live value
  /// (create only), else only if the live version is exactly this text (as
  /// kv_value_view::version prints it). Empty: unconditional.
  std::string cas;
  /// Nodes that must hold the write before success, this one included.
  uint32_t replicas = 1;
  /// How long to wait for them.
  duration timeout = std::chrono::seconds(5);
};

/// What kv_write reports. On success: version, acked, wanted. On
/// `precondition_failed`: current. On `timeout` (replicas not reached; the
/// write stays applied): version, acked, wanted. On `unavailable` because
/// fewer nodes are live than `replicas` (nothing written): wanted.
struct kv_write_view {
  std::string version;  ///< the version written
  uint32_t acked = 0;   ///< nodes that held it, this one included
  uint32_t wanted = 0;  ///< the options' replicas
  std::string current;  ///< the key's live version ("" when it has none)
  bool applied = false; ///< the write was applied on this node
};

/// How this node stands in its cluster (health and readiness checks).
struct node_status {
  std::string state;      ///< this node's member state: alive, left, ...
  size_t alive_peers = 0; ///< other members currently alive
};

/// In-process fault injection settings (only with --fault_injection).
struct fault_settings {
  double drop_rate = 0.0;             ///< in [0, 1], applied to inbound datagrams
  std::vector<address> blocked;       ///< peers whose datagrams are dropped
  uint32_t delay_ms = 0;  ///< inbound datagrams held this long (ms) ...
  uint32_t jitter_ms = 0; ///< ... plus or minus a uniform draw up to this
};

/// What a snapshot restore did (see admin_backend::snapshot_restore).
struct restore_view {
  uint64_t records = 0;    ///< entries in the snapshot, tombstones included
  uint64_t applied = 0;    ///< newer than what the node held: now in its store
  uint64_t stale = 0;      ///< lost to a newer version the node holds (LWW)
  uint64_t tombstones = 0; ///< of the applied, deletes
  std::string source_node;
  std::string source_cluster;
};

/// A user event or query as this node raised it (see userevents/).
struct user_event_view {
  std::string kind;      ///< "user" or "query"
  std::string name;
  std::string payload;
  std::string origin;    ///< the node that raised it
  uint64_t ltime = 0;    ///< the origin's Lamport time
  std::string id;        ///< 16 hex digits, chosen by the origin
  bool coalesce = false;
};

/// A query to run (syntax already checked by the HTTP layer).
struct query_request {
  std::string name;
  std::string payload;
  std::string node_filter;  ///< RE2, full match on names; empty: any
  std::vector<std::pair<std::string, std::string>> tags; ///< key, RE2
  duration timeout = std::chrono::seconds(3);
};

/// What a query collected by its deadline.
struct query_outcome {
  std::string id;                               ///< 16 hex digits
  std::vector<std::string> acks;                ///< nodes that matched, sorted
  std::map<std::string, std::string> responses; ///< node -> payload
  /// Members that matched by this node's view but did not ack in time.
  std::vector<std::string> stragglers;
  uint64_t expected = 0;                        ///< members expected to match
};

/// A keyring command of the admin API (`/v1/keyring`).
enum class keyring_op {
  list,    ///< GET: the keys, nothing changes
  install, ///< POST {"install": KEY}: add a secondary key
  use,     ///< POST {"use": KEY-or-FINGERPRINT}: make an installed key primary
  remove,  ///< DELETE {"key": KEY-or-FINGERPRINT}: remove a non-primary key
  reload,  ///< SIGHUP: re-read the keyring file
};

/// One key of the node's keyring: its fingerprint, never its bytes.
struct keyring_key_view {
  std::string fingerprint;
  bool primary = false;
};

/// The node's keyring after a keyring command.
struct keyring_view {
  std::vector<keyring_key_view> keys; ///< primary first
  bool changed = false;   ///< the command changed the ring
  bool persisted = false; ///< the change was written to --keyring_file
};

/// A keyring command carried to every live member (`/v1/keyring` without
/// `?local`): what each node answered, tallied.
struct cluster_keyring_view {
  /// How many of the nodes that answered hold a key, and how many of them
  /// use it as their primary.
  struct key_count {
    std::string fingerprint;
    uint64_t nodes = 0;
    uint64_t primary = 0;
  };
  uint64_t expected = 0;  ///< live members when the command started (self too)
  uint64_t responded = 0; ///< nodes that answered, with keys or an error
  std::vector<key_count> keys;               ///< most widely held first
  std::map<std::string, std::string> errors; ///< node -> why it failed
  std::vector<std::string> missing; ///< expected nodes that did not answer
  uint64_t changed = 0;   ///< nodes whose ring the command changed
  uint64_t persisted = 0; ///< nodes that wrote the change to their file

  /// Every expected node answered and none failed.
  bool complete() const { return errors.empty() && missing.empty(); }
};

/// What the admin API needs from a node. Every call blocks until the node
/// answers (implementations bound that with their own timeout and report
/// `unavailable` past it). Calls arrive concurrently from the server's
/// worker threads and its watch thread; implementations must be
/// thread-safe.
class admin_backend {
 public:
  virtual ~admin_backend() = default;

  /// Fills `out` with this node's identity.
  virtual result self(self_view& out) = 0;

  /// Fills `out` with every known member, including dead and left ones.
  virtual result members(std::vector<member_view>& out) = 0;

  /// Fills `out` with all live keys.
  virtual result kv_list(std::vector<kv_entry_view>& out) = 0;

  /// Reads a value; `not_found` when absent or deleted.
  virtual result kv_get(const std::string& key, std::string& value) = 0;

  /// Writes a value; on success `detail` is the new version.
  virtual result kv_put(const std::string& key, std::string value) = 0;

  /// Deletes a key (writes a tombstone); on success `detail` is the
  /// tombstone's version. Deleting an absent key is `not_found`.
  virtual result kv_del(const std::string& key) = 0;

  /// Waits up to `timeout` for changes with index > `after_index`; returns
  /// early as soon as there is at least one. An empty batch is not an error.
  /// `after_index` beyond the newest index with a zero timeout must return at
  /// once with just `last_index` set: GET /v1/kv uses it to report the index
  /// a watch can start from. Must honour `timeout` (the server calls it in
  /// slices of <= 0.5 s to notice shutdown).
  virtual result kv_watch(uint64_t after_index, duration timeout,
                          watch_batch& out) = 0;

  /// Reads the single cluster metadata blob (`not_found` if never published).
  virtual result metadata_get(std::string& value) = 0;

  /// Publishes the single metadata blob; on success `detail` is the version.
  virtual result metadata_put(std::string value) = 0;

  /// Contacts the given seeds ("host:port", syntax already checked); on
  /// success `detail` is a human summary (e.g. "contacted 2 seeds").
  virtual result join(const std::vector<std::string>& seeds) = 0;

  /// Leaves the cluster gracefully; the process keeps running.
  virtual result leave() = 0;

  /// Comes back after `leave` with a higher incarnation.
  virtual result rejoin() = 0;

  /// Replaces this node's tags (syntax already checked) and gossips them.
  virtual result set_tags(const tag_map& tags) = 0;

  /// Current fault injection settings.
  virtual result faults(fault_settings& out) = 0;

  /// Replaces the fault injection settings (already range-checked).
  virtual result set_faults(const fault_settings& settings) = 0;

  /// Appends Prometheus text exposition (see node/metrics.h) to `out`.
  virtual result metrics(std::string& out) = 0;

  /// True while the node runs and is not shutting down.
  virtual bool healthy() = 0;

  /// Raises a user event for every node (name and payload sizes already
  /// checked); `out` is the event as raised. `rate_limited` past the local
  /// rate, `invalid` for a bad name.
  virtual result send_event(const std::string& name, const std::string& payload,
                            bool coalesce, user_event_view& out) = 0;

  /// Runs a query and blocks until its deadline (`q.timeout`). `invalid`
  /// for a bad name or filter (detail names it), `rate_limited` past the
  /// local rate or with too many queries running.
  virtual result run_query(const query_request& q, query_outcome& out) = 0;

  // -- Calls with a default built from the ones above (admin_backend.cc). A
  // backend that can answer one directly (atomically, or cheaper) overrides
  // it; the defaults need nothing but the pure virtual calls.

  /// Reads a value with its version and the store index it reflects;
  /// `not_found` when absent. The default reads the head index, the value,
  /// the key list and the head index again, and retries (a few times, then
  /// `unavailable`) when the store changed in between.
  virtual result kv_read(const std::string& key, kv_value_view& out);

  /// Lists the live keys starting with `prefix` (all keys for ""), with
  /// their values when `with_values`; a listing whose values would exceed
  /// `max_value_bytes` in total fails with `invalid` naming that limit.
  /// Consistency as kv_read; without values `index` is taken before the
  /// listing, so a watch from it may repeat a change but never miss one.
  virtual result kv_scan(const std::string& prefix, bool with_values,
                         uint64_t max_value_bytes, kv_scan_view& out);

  /// A put or delete with compare-and-set and write concern, checked and
  /// applied in one step (see kv_write_options / kv_write_view). Bad
  /// option values (replicas out of range, a cas that is no version) are
  /// `invalid` naming the rule. The default handles unconditional writes
  /// with replicas 1 through kv_put / kv_del and refuses the rest as
  /// `invalid` (a backend that cannot do them atomically must not pretend).
  virtual result kv_write(const std::string& key, std::string value,
                          const kv_write_options& opts, kv_write_view& out);

  /// This node's state and its count of alive peers. The default reads
  /// self() and members().
  virtual result status(node_status& out);

  /// Joins through `seeds` like join() and waits up to `timeout` until one
  /// answered: a seed's address is an alive member, or a member alive now
  /// was not before the call. On success `detail` names the member that
  /// proves it; past `timeout` the result is `timeout` naming the seeds (the
  /// node keeps retrying them in the background, as after join()). The
  /// default polls members() every 50 ms.
  virtual result join_wait(const std::vector<std::string>& seeds,
                           duration timeout);

  // -- Backup and restore, force-leave. The defaults answer `unavailable`
  // ("not supported by this node"): a backend without a metadata store or a
  // membership layer has nothing to offer.

  /// A consistent point-in-time copy of the metadata store, tombstones
  /// included, as a snapshot file (storage/snapshot_codec.h); `invalid`
  /// naming the limit when it would exceed `max_bytes`.
  virtual result snapshot_save(uint64_t max_bytes, std::string& out);

  /// Checks a whole snapshot file and, only if every check passes, applies
  /// its entries by last-writer-wins; `invalid` naming what is wrong.
  virtual result snapshot_restore(std::string file, restore_view& out);

  /// Marks the failed member `name` (dead or suspect) as left, so it is
  /// reaped and not retried; `not_found` for an unknown name, `invalid`
  /// for this node or an alive or already-left member. On success `detail`
  /// says what changed.
  virtual result force_leave(const std::string& name);

  /// Runs a keyring command on this node's transport (`key` as the op
  /// documents; empty for list and reload). Errors: invalid (not a key, a
  /// weak key, the primary to remove, a full ring, a plaintext node),
  /// not_found (no such key installed), unavailable (the keyring file
  /// could not be written: nothing changed). The default answers
  /// `unavailable`: a backend without a keyring.
  virtual result keyring(keyring_op op, const std::string& key,
                         keyring_view& out);

  /// Runs a keyring command (list, install, use, remove) on every live
  /// member and tallies the answers (it returns once every member
  /// answered, or after `timeout`). ok whenever the command went out,
  /// even if some nodes failed or did not answer (see
  /// cluster_keyring_view::complete). Errors: invalid (reload, which is
  /// per node), rate_limited, unavailable (no user-event layer; the node
  /// left). Default: unavailable.
  virtual result cluster_keyring(keyring_op op, const std::string& key,
                                 duration timeout, cluster_keyring_view& out);
};

/// The member (by name) that shows a join through `seed_addrs` succeeded,
/// or an empty string: an alive member other than `self_name` whose address
/// is one of `seed_addrs`, else one alive now that was not alive `before`.
std::string join_evidence(const std::string& self_name,
                          const std::vector<member_view>& before,
                          const std::vector<member_view>& now,
                          const std::vector<address>& seed_addrs);

} // namespace pekonode::node
