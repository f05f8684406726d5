#pragma once
// The versioned key/value map every node holds: last-writer-wins by version,
// tombstones, limits, incremental order-independent digests by bucket.
// It is not the protocol (see metadata/core.h) and reads no clock.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metadata/hlc.h"

namespace pekonode::metadata {

/// The well-known key of the seed API's single blob (Publish / Read).
inline constexpr std::string_view well_known_key = "pekonode/metadata";

/// Error codes of the metadata layer (local writes and remote input).
enum class ec : uint8_t {
  ok = 0,
  empty_key,
  key_too_large,
  value_too_large,
  store_full,      ///< max_total_bytes would be exceeded
  too_many_keys,   ///< max_keys would be exceeded
  origin_invalid,  ///< not a node name: empty, longer than max_origin_bytes,
                   ///< or not all visible ASCII (0x21-0x7e)
  clock_skew,      ///< remote HLC too far ahead of our wall clock
  stale,           ///< not newer than what the store holds (not a fault)
  bad_tombstone,   ///< a tombstone carrying a value
  not_found,
  disk_full,       ///< the data dir's disk (or size bound) is full: the
                   ///< write is undone; reads and gossip go on
  not_durable,     ///< the data dir failed the write otherwise (I/O error,
                   ///< commit queue at its bound): the write is undone
  // Conditional writes and write concern (metadata/write_concern.h).
  cas_mismatch,    ///< the key's live version is not the one the write named
  replicas_timeout,///< applied here, but fewer nodes held it than asked
                   ///< before the deadline
  too_few_members, ///< more replicas asked than live nodes (nothing written)
  too_many_writes, ///< max_pending_writes writes already wait for replicas
                   ///< (nothing written)
  bad_option,      ///< replicas or timeout out of range (nothing written)
  duplicate_key,       ///< a restore names one key twice
  snapshot_too_large,  ///< a snapshot would exceed its byte limit
  bad_snapshot,        ///< a snapshot file fails a check (context: why)
};

/// Stable lower-case name of an error code (metrics label, log text).
const char* to_string(ec code);

/// Size limits; enforced on local writes and on remote input alike, by the
/// same functions (store::validate and the two below), so that nothing from
/// the wire is held to looser rules than a local write.
struct store_limits {
  /// Longest key in bytes. Keys ride in every rumour and key list, so long
  /// keys cost bandwidth everywhere. Default 256.
  size_t max_key_bytes = 256;
  /// Largest value in bytes; values above the inline threshold travel in
  /// chunks. Default 512 KiB (the design target).
  size_t max_value_bytes = 512 * 1024;
  /// Bound on sum(key + value + entry_overhead) over all entries, tombstones
  /// included: the memory every node commits. Default 64 MiB.
  size_t max_total_bytes = 64 * 1024 * 1024;
  /// Bound on entries (tombstones included). Default 1 Mi.
  size_t max_keys = 1 << 20;
  /// Longest origin node id accepted (a node name: also visible ASCII
  /// only, like the node's --name). Default 128.
  size_t max_origin_bytes = 128;
};

/// Per-entry bookkeeping charged against max_total_bytes.
constexpr size_t entry_overhead = 64;

/// One key's state. A tombstone keeps its version so that older writes
/// arriving later lose; its deletion time is the version's HLC physical part
/// (identical on every node, unlike local arrival time).
struct entry {
  std::string value;
  version ver;
  bool tombstone = false;
  hash128 value_hash; ///< hash_value(value), computed once on insert
};

/// Number of anti-entropy buckets (keys spread by hash).
constexpr size_t bucket_count = 256;

/// Order-independent hash of the whole store: equal iff (with overwhelming
/// probability) both stores hold the same (key, version, tombstone) set.
struct store_digest {
  hash128 hash;
  uint64_t count = 0;
  friend bool operator==(const store_digest& a, const store_digest& b) {
    return a.hash == b.hash && a.count == b.count;
  }
  friend bool operator!=(const store_digest& a, const store_digest& b) {
    return !(a == b);
  }
};

/// The map. Not thread-safe; owned by one core.
class store {
public:
  explicit store(store_limits limits = {}) : limits_(limits) {}

  /// Checks key/value/origin against the limits (not the totals): the one
  /// rule for local writes, remote entries and announces.
  ec validate(std::string_view key, size_t value_size, bool tombstone,
              std::string_view origin) const;

  /// Keys: non-empty, at most max_key_bytes. Any bytes otherwise (a key is
  /// data: whoever prints one escapes it, see common/text.h).
  ec validate_key(std::string_view key) const;

  /// Origins are node names: 1..max_origin_bytes bytes of visible ASCII
  /// (0x21-0x7e), the rule the node applies to its own --name.
  ec validate_origin(std::string_view origin) const;

  /// Last-writer-wins merge: stores `e` iff its version is newer than the
  /// held one. Returns ok, stale, or a limit error (nothing changed then).
  ec merge(const std::string& key, entry e);

  /// Removes a key outright (tombstone GC, expired remote tombstones).
  bool erase(const std::string& key);

  /// The entry for `key` (tombstones included), or nullptr.
  const entry* find(std::string_view key) const;

  /// Removes tombstones whose HLC physical time is below `horizon_ms`;
  /// appends removed keys to `removed` when given. Returns how many.
  size_t gc(uint64_t horizon_ms, std::vector<std::string>* removed = nullptr);

  /// Digest of the whole store, O(1).
  store_digest digest() const { return {digest_, count_}; }

  /// Digest of one bucket, O(1).
  uint64_t bucket_digest(size_t b) const { return bucket_digest_[b]; }

  /// The entries of one bucket, sorted by key.
  const std::map<std::string, entry, std::less<>>& bucket(size_t b) const {
    return buckets_[b];
  }

  /// Bucket of a key.
  static size_t bucket_of(std::string_view key);

  /// Entries, tombstones included.
  size_t size() const { return count_; }
  /// Bytes charged against max_total_bytes.
  size_t total_bytes() const { return total_bytes_; }
  const store_limits& limits() const { return limits_; }

  /// Calls f(key, entry) for every entry (tombstones included), by bucket.
  template <class F>
  void for_each(F&& f) const {
    for (auto& b : buckets_)
      for (auto& [k, e] : b)
        f(k, e);
  }

  /// Per-entry digest contribution of (key, version, tombstone).
  static hash128 entry_hash(std::string_view key, const entry& e);

private:
  void account(std::string_view key, const entry& e, bool add);

  store_limits limits_;
  std::array<std::map<std::string, entry, std::less<>>, bucket_count> buckets_;
  std::array<uint64_t, bucket_count> bucket_digest_{};
  hash128 digest_;
  size_t count_ = 0;
  size_t total_bytes_ = 0;
};

} // namespace pekonode::metadata
