#pragma once
// Per-peer byte budgets of the metadata layer: one token bucket per live
// peer bounding the bytes that peer can draw from us per second (replies to
// its SYN / ACK / ACK2 / chunk requests, pushes and chunks it asks for). It
// decides nothing about the protocol; the core asks it how many bytes a
// reply may take and tells it what was spent. Non-peers have no budget: the
// core does not answer them at all.

#include <cstddef>
#include <map>

#include "common/token_bucket.h"
#include "common/types.h"

namespace pekonode::metadata {

/// Token buckets by peer address, created full on first use. Not
/// thread-safe; owned by one core.
class peer_budget {
public:
  /// Each peer may draw `bytes_per_sec`, in bursts of up to `burst` bytes.
  peer_budget(double bytes_per_sec, double burst)
    : rate_(bytes_per_sec), burst_(burst) {}

  /// Bytes `peer` may still draw at `now` (never negative).
  double available(const address& peer, time_point now) {
    auto& b = bucket(peer, now);
    b.refill(now);
    return b.tokens() > 0 ? b.tokens() : 0;
  }

  /// Charges `bytes` drawn by `peer` (after available() at the same `now`).
  void spend(const address& peer, double bytes) {
    auto i = buckets_.find(peer);
    if (i != buckets_.end())
      i->second.spend(bytes);
  }

  /// Drops the bucket of a peer that left the live set.
  void forget(const address& peer) { buckets_.erase(peer); }

  /// Peers with a bucket (bounded by the live peers).
  size_t size() const { return buckets_.size(); }

  double rate() const { return rate_; }
  double burst() const { return burst_; }

private:
  token_bucket& bucket(const address& peer, time_point now) {
    auto i = buckets_.find(peer);
    if (i == buckets_.end())
      i = buckets_.emplace(peer, token_bucket(rate_, burst_, now)).first;
    return i->second;
  }

  double rate_;
  double burst_;
  std::map<address, token_bucket> buckets_;
};

} // namespace pekonode::metadata
