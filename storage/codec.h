#pragma once
// Little-endian binary encoding of the storage package's own formats (meta
// values, the membership snapshot, snapshot files), and the vocabulary they
// carry: records, peers, membership snapshots. Pure; every read is bounded
// because the bytes come from a disk that may be corrupt.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pekonode::storage {

/// One metadata entry as stored: the key's value and version, its tombstone
/// flag and its GC state. The storage layer does not interpret versions.
struct record {
  std::string key;
  std::string value;        ///< empty for tombstones
  uint64_t hlc = 0;         ///< version: HLC timestamp (metadata/hlc.h layout)
  std::string origin;       ///< version: origin node id (tiebreak)
  bool tombstone = false;
  /// GC state as the metadata core defines it (e.g. the wall-clock ms after
  /// which a tombstone may be collected); 0 = none. Stored verbatim.
  uint64_t gc_after_ms = 0;

  friend bool operator==(const record& a, const record& b) {
    return a.key == b.key && a.value == b.value && a.hlc == b.hlc
           && a.origin == b.origin && a.tombstone == b.tombstone
           && a.gc_after_ms == b.gc_after_ms;
  }
};

/// A member this node knew, to rejoin after a restart.
struct peer {
  std::string name;
  std::string addr;        ///< "ip:port" / "[ip]:port" as membership keeps it
  uint64_t incarnation = 0;
  std::string state;       ///< "alive", "suspect", "dead", "left"

  friend bool operator==(const peer& a, const peer& b) {
    return a.name == b.name && a.addr == b.addr
           && a.incarnation == b.incarnation && a.state == b.state;
  }
};

/// What membership needs across a restart.
struct membership_snapshot {
  /// Ceiling of this node's own incarnation: at least every incarnation it
  /// has announced (see lease.h); the restarted node starts above it.
  uint64_t incarnation = 0;
  std::vector<peer> peers;

  friend bool operator==(const membership_snapshot& a,
                         const membership_snapshot& b) {
    return a.incarnation == b.incarnation && a.peers == b.peers;
  }
};

/// Bounds on decoded input (a corrupt length must not allocate gigabytes).
inline constexpr size_t max_peers = 1 << 16;
inline constexpr size_t max_peer_field_bytes = 1024;

/// Appends fixed-width little-endian integers and length-prefixed bytes.
class writer {
public:
  explicit writer(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  /// u32 length, then the bytes.
  void bytes(std::string_view b);

private:
  std::string& out_;
};

/// Reads what `writer` wrote; any overrun or oversized length fails the
/// reader for good (`ok()` false) and later reads return zero values.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  /// A length-prefixed field of at most `max` bytes.
  std::string_view bytes(size_t max);
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == in_.size(); }
  size_t pos() const { return pos_; }

private:
  bool need(size_t n);
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

/// Encoding of a record (snapshot files).
void encode_record(const record& r, std::string& out);
/// Decodes a record; false on malformed input or a field above its bound.
bool decode_record(std::string_view in, size_t max_key, size_t max_value,
                   record& r);

/// CRC-32C over a record's canonical fields, as stored beside each row.
uint32_t record_crc(const record& r);

/// Encoding of a membership snapshot.
std::string encode_membership(const membership_snapshot& m);
/// Decodes a membership snapshot; false on malformed input.
bool decode_membership(std::string_view in, membership_snapshot& m);

} // namespace pekonode::storage
