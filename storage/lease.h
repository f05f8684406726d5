#pragma once
// Durable ceilings for counters that must never go backwards across a
// restart (the HLC, the node's own incarnation), persisted ahead in steps so
// that not every tick costs a write. Pure: the caller persists the ceiling
// through a write batch and reports it back once durable.
//
//   value:    ....v1....v2.........v3
//   ceiling:  ------------C1=v1+step---------C2=v3+step
//   a value <= the durable ceiling may be used (sent, acknowledged) at once;
//   above it, the caller persists extend_for(value) first (or in the same
//   batch as the write that uses it). After a restart the counter starts
//   above the durable ceiling, hence above every value used before.

#include <algorithm>
#include <cstdint>
#include <limits>

namespace pekonode::storage {

class lease {
public:
  /// `durable` is the ceiling read from the store at start; `step` how far
  /// ahead each extension reaches (a larger step means fewer writes and a
  /// larger jump after a restart).
  lease(uint64_t durable, uint64_t step)
    : durable_(durable), step_(std::max<uint64_t>(step, 1)) {
  }

  /// Whether `v` is covered by the durable ceiling (usable without a write).
  bool covers(uint64_t v) const { return v <= durable_; }

  /// Whether to extend now: `v` is in the last half-step below the ceiling
  /// (or beyond it), so an extension started now is usually durable before
  /// a value beyond the ceiling is needed.
  bool should_extend(uint64_t v) const {
    return v > durable_ || durable_ - v < step_ / 2;
  }

  /// The ceiling to persist so that `v` and the next `step` values are covered.
  uint64_t extend_for(uint64_t v) const {
    return v > std::numeric_limits<uint64_t>::max() - step_
             ? std::numeric_limits<uint64_t>::max()
             : v + step_;
  }

  /// Records that ceiling `c` is durable; ceilings never go backwards.
  void made_durable(uint64_t c) { durable_ = std::max(durable_, c); }

  uint64_t ceiling() const { return durable_; }
  uint64_t step() const { return step_; }

private:
  uint64_t durable_;
  uint64_t step_;
};

/// Lease step for HLC timestamps (48-bit ms | 16-bit logical, metadata/hlc.h):
/// `ms` of physical time.
constexpr uint64_t hlc_lease_step(uint64_t ms) { return ms << 16; }

/// The first incarnation a restarted node may use: above every incarnation
/// covered by the durable ceiling, so it beats any claim about the node made
/// before the restart (SWIM: the higher incarnation wins).
constexpr uint64_t incarnation_after_restart(uint64_t durable_ceiling) {
  return durable_ceiling == std::numeric_limits<uint64_t>::max()
           ? durable_ceiling
           : durable_ceiling + 1;
}

} // namespace pekonode::storage
