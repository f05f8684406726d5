#pragma once
// The durable store of one node, inside its data dir: metadata entries
// (values, versions, tombstones, GC state), the HLC high-water mark, the
// membership snapshot, the GC horizon and the boot epoch, written in atomic,
// fsynced batches; a full scan to load the in-memory store at start; and a
// consistent point-in-time export/import (snapshot save/restore). The engine
// (SQLite, see docs/ARCHITECTURE.md "Durable state") stays behind this header.
// It is not the metadata store (metadata/store.h) and holds no protocol logic.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/codec.h"
#include "storage/data_dir.h"
#include "storage/error.h"

namespace pekonode::storage {

/// Knobs of the durable store.
struct store_options {
  /// Bound on the database file, bytes; beyond it writes fail with
  /// ec::full (reads keep working). 0 = no bound but the disk's. The file
  /// grows as needed up to it. Default 0.
  uint64_t max_bytes = 0;
  /// Longest key / origin accepted by a write and by the load scan. A
  /// longer one found on disk is corruption; the bound also caps what a
  /// corrupt length can make the scan allocate. Default 64 KiB.
  size_t max_key_bytes = 64 * 1024;
  /// Largest value accepted by a write and by the load scan. Default 64 MiB
  /// (metadata's own bound, 512 KiB by default, is stricter).
  size_t max_value_bytes = 64 * 1024 * 1024;
  /// Run the engine's structural check at open (O(size): 125-210 ms for
  /// 10 MiB of 100 B rows on a loaded 2-core machine), so a damaged file is
  /// refused at start rather than met later. Default on.
  bool verify_on_open = true;
};

/// Writes committed together: all or none survive a crash. Meta setters
/// keep the last value given; the HLC high-water and the GC horizon never
/// go backwards (the store keeps the maximum of the held and given values).
class write_batch {
public:
  /// Insert or replace the entry of r.key (a tombstone is a put with
  /// tombstone = true and an empty value).
  void put(record r);
  /// Remove a key outright (tombstone GC).
  void erase(std::string key);
  void set_hlc_high_water(uint64_t hlc);
  void set_membership(membership_snapshot m);
  void set_gc_horizon(uint64_t ms);

  bool empty() const {
    return ops_.empty() && !hlc_ && !membership_ && !gc_horizon_;
  }
  size_t ops() const { return ops_.size(); }
  /// Approximate payload bytes (keys, values, origins, meta).
  size_t bytes() const { return bytes_; }

private:
  friend class store;
  struct op {
    bool erase = false;
    record r; ///< for an erase only r.key is set
  };
  std::vector<op> ops_;
  std::optional<uint64_t> hlc_;
  std::optional<membership_snapshot> membership_;
  std::optional<uint64_t> gc_horizon_;
  size_t bytes_ = 0;
};

/// What an export or import moved.
struct snapshot_info {
  uint64_t records = 0;
  uint64_t bytes = 0; ///< size of the snapshot file
};

/// Counters for metrics; monotonic.
struct store_stats {
  uint64_t commits = 0;         ///< transactions committed (one fsync'd WAL append each)
  uint64_t batches = 0;         ///< write batches inside them
  uint64_t commit_failures = 0;
  uint64_t full_failures = 0;   ///< of which disk full / size limit
};

/// An open durable store. Not thread-safe: one owner (the group committer
/// while one runs) calls everything, except export_snapshot, which may run
/// on any thread at the same time (it reads through its own connection).
class store {
public:
  /// Opens (creating on first use) the store in `dir`, checks that it is a
  /// pekonode store of dir's identity and of a format this build reads,
  /// runs the structural check, and increments the boot epoch durably. On
  /// failure, one line "data_dir PATH: ..." and a code: foreign,
  /// unsupported_format, corrupt, full, permission, io_error.
  static result<std::unique_ptr<store>> open(std::unique_ptr<data_dir> dir,
                                             store_options opts = {});

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Checks a batch against the bounds without writing (the committer uses
  /// it so that one bad batch never fails the others of its group).
  status validate(const write_batch& b) const;

  /// Commits `b` in one transaction and returns once it is durable (the
  /// write-ahead log is fsynced). On failure nothing of `b` is applied;
  /// ec::full means disk full or max_bytes reached: later writes may
  /// succeed once space is freed, reads are unaffected.
  status commit(const write_batch& b);

  /// Commits several batches in one transaction, one fsync (group commit).
  status commit(const std::vector<const write_batch*>& batches);

  /// Calls f for every stored entry (tombstones included), in no particular
  /// order; f may move from the record. Every row is checked (types,
  /// bounds, CRC-32C); the first bad one stops the scan with ec::corrupt.
  status load(const std::function<void(record&)>& f) const;

  /// The number of this start: 1 on the first open, +1 (durably) on each.
  uint64_t boot_epoch() const { return boot_epoch_; }
  /// The largest HLC high-water mark committed (0 on a new store).
  uint64_t hlc_high_water() const { return hlc_; }
  /// The largest GC horizon committed.
  uint64_t gc_horizon() const { return gc_horizon_; }
  /// The last membership snapshot committed.
  const membership_snapshot& membership() const { return membership_; }

  /// Writes a consistent point-in-time copy of the store (entries and meta,
  /// as of one instant between commits) to `file` (temp file, fsync,
  /// rename): a header, CRC-32C-framed records and a CRC-32C over the whole
  /// file. Thread-safe with respect to commits. Errors name "snapshot FILE:".
  result<snapshot_info> export_snapshot(const std::string& file) const;

  /// Replaces the entries and the GC horizon with those of a snapshot file
  /// of the same cluster, in one transaction, after checking every record
  /// and the whole-file checksum (nothing changes if any check fails). The
  /// HLC high-water and the own incarnation ceiling become at least the
  /// snapshot's; the boot epoch is kept; peers are taken from the snapshot
  /// only when the store has none. The caller reloads its in-memory store.
  result<snapshot_info> import_snapshot(const std::string& file);

  const data_dir& dir() const { return *dir_; }
  const store_options& options() const { return opts_; }
  const store_stats& stats() const { return stats_; }

  /// Bytes the database file takes (pages in use and free).
  uint64_t file_bytes() const;

private:
  struct impl;
  store(std::unique_ptr<data_dir> dir, store_options opts);

  std::unique_ptr<data_dir> dir_;
  store_options opts_;
  std::unique_ptr<impl> impl_;
  uint64_t boot_epoch_ = 0;
  uint64_t hlc_ = 0;
  uint64_t gc_horizon_ = 0;
  membership_snapshot membership_;
  store_stats stats_;
};

/// Magic of snapshot files (first 8 bytes).
inline constexpr std::string_view snapshot_magic = "PEKOSNAP";

} // namespace pekonode::storage
