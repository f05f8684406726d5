#pragma once
// Hybrid logical clock and entry versions for the metadata store: orders
// writes without trusting wall clocks, and a 128-bit content hash. Pure: the
// wall-clock reading is a parameter; nothing here reads a clock.

#include <cstdint>
#include <string>
#include <string_view>

namespace pekonode::metadata {

/// A 64-bit HLC timestamp: 48-bit physical milliseconds | 16-bit logical.
using hlc_t = uint64_t;

constexpr int hlc_logical_bits = 16;
constexpr uint64_t hlc_logical_mask = (uint64_t{1} << hlc_logical_bits) - 1;
constexpr uint64_t hlc_max_physical = (uint64_t{1} << 48) - 1;

/// Packs a (physical ms, logical) pair; physical is clamped to 48 bits.
constexpr hlc_t make_hlc(uint64_t physical_ms, uint16_t logical) {
  return ((physical_ms > hlc_max_physical ? hlc_max_physical : physical_ms)
          << hlc_logical_bits)
         | logical;
}
/// The physical (wall-clock ms) part of a timestamp.
constexpr uint64_t hlc_physical(hlc_t t) { return t >> hlc_logical_bits; }
/// The logical counter of a timestamp.
constexpr uint16_t hlc_logical(hlc_t t) {
  return static_cast<uint16_t>(t & hlc_logical_mask);
}

/// A write's identity and order: HLC first, origin node id as tiebreak, so
/// every node picks the same winner whatever the arrival order.
struct version {
  hlc_t hlc = 0;
  std::string origin;

  friend bool operator<(const version& a, const version& b) {
    return a.hlc != b.hlc ? a.hlc < b.hlc : a.origin < b.origin;
  }
  friend bool operator>(const version& a, const version& b) { return b < a; }
  friend bool operator==(const version& a, const version& b) {
    return a.hlc == b.hlc && a.origin == b.origin;
  }
  friend bool operator!=(const version& a, const version& b) {
    return !(a == b);
  }
};

/// One node's hybrid logical clock. Not thread-safe (owned by one core).
class hlc_clock {
public:
  /// Timestamp for a local write (HLC send rule): strictly greater than every
  /// timestamp this clock issued or observed, and >= wall_ms when possible.
  hlc_t now(uint64_t wall_ms);

  /// Whether `remote` is acceptable: its physical part is at most
  /// `max_skew_ms` ahead of `wall_ms`. Forged far-future versions would
  /// otherwise win every future write and freeze the key.
  static bool within_skew(hlc_t remote, uint64_t wall_ms,
                          uint64_t max_skew_ms) {
    return hlc_physical(remote) <= wall_ms + max_skew_ms;
  }

  /// HLC receive rule: advance past `remote` (caller checked within_skew),
  /// so a node with a slow wall clock can still overwrite what it has seen.
  void observe(hlc_t remote, uint64_t wall_ms);

  /// The last timestamp issued or observed.
  hlc_t last() const { return last_; }

private:
  hlc_t last_ = 0;
};

/// A 128-bit non-cryptographic hash (two independent 64-bit lanes), stable
/// across platforms and runs; used for digests and value verification.
struct hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const hash128& a, const hash128& b) {
    return a.lo == b.lo && a.hi == b.hi;
  }
  friend bool operator!=(const hash128& a, const hash128& b) {
    return !(a == b);
  }
};

/// Seeded 64-bit hash of bytes (little-endian word reads, platform stable).
uint64_t hash64(std::string_view data, uint64_t seed);

/// 128-bit hash of bytes.
hash128 hash_value(std::string_view data);

} // namespace pekonode::metadata
