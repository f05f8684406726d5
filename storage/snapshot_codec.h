#pragma once
// Snapshot files in memory: the encoder and a fully validating decoder of
// the format store::export_snapshot writes (store.h), for callers that hold
// the entries themselves (the metadata actor's GET /v1/snapshot) or receive
// a file over the wire (PUT /v1/snapshot). Pure; no file system, no engine.
//
//   "PEKOSNAP"  u32 format version
//   u32 len, header: bytes cluster, bytes node, u64 boot_epoch,
//                    u64 hlc_high_water, u64 gc_horizon, bytes membership
//   u32 crc32c(header)
//   per entry:  'R', u32 len, record (codec.h encode_record), u32 crc32c(record)
//   end:        'E', u64 records, u32 crc32c(every byte before this field)

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/codec.h"
#include "storage/error.h"

namespace pekonode::storage {

/// What a snapshot says about where it came from.
struct snapshot_header {
  std::string cluster;          ///< cluster label of the source (may be empty)
  std::string node;             ///< node that took the snapshot
  uint64_t boot_epoch = 0;      ///< 0 when the source kept no data dir
  uint64_t hlc_high_water = 0;  ///< the source's HLC when the copy was taken
  uint64_t gc_horizon = 0;
  membership_snapshot membership;
};

/// Bytes one record adds to a snapshot: tag, length, record, checksum.
size_t snapshot_record_bytes(const record& r);
/// The same, from the record's field sizes.
size_t snapshot_record_bytes(size_t key, size_t value, size_t origin);

/// Fixed bytes around the records: magic, version, header framing, end.
size_t snapshot_overhead(const snapshot_header& h);

/// Builds a snapshot in memory, record by record.
class snapshot_encoder {
public:
  explicit snapshot_encoder(const snapshot_header& h);
  void add(const record& r);
  /// Reserves room for a snapshot of `bytes` in all.
  void reserve(size_t bytes) { out_.reserve(bytes); }
  /// Appends the end marker and the whole-file checksum; returns the bytes.
  std::string finish();
  size_t size() const { return out_.size(); }
  uint64_t records() const { return count_; }

private:
  std::string out_;
  std::string enc_;
  uint64_t count_ = 0;
};

/// Bounds a decoder holds a snapshot to; the bytes are untrusted.
struct snapshot_limits {
  size_t max_key_bytes = 64 * 1024;       ///< per key and per origin
  size_t max_value_bytes = 64 * 1024 * 1024;
  size_t max_records = 1 << 24;
  size_t max_header_bytes = 1 << 20;
};

/// A decoded snapshot.
struct snapshot_contents {
  snapshot_header header;
  std::vector<record> records;
};

/// Decodes and checks a whole snapshot before returning anything: magic
/// (else ec::foreign "not a pekonode snapshot"), format version (newer:
/// ec::unsupported_format), header and record checksums, bounds, the record
/// count, the whole-file checksum, no duplicate key, nothing after the end
/// (else ec::corrupt, the message naming the part: "truncated in record 3",
/// "record 5 fails its checksum", ...). Messages do not name the source;
/// callers prefix it.
result<snapshot_contents> decode_snapshot(std::string_view bytes,
                                          const snapshot_limits& lim = {});

} // namespace pekonode::storage
