#pragma once
// Round-trip time estimator of the failure detector: TCP's retransmission
// timeout (RFC 6298) over the acks of direct probes, one estimate for the
// whole cluster. Pure maths on durations; it samples nothing itself (the
// prober feeds it only unambiguous round trips: Karn's rule).

#include <algorithm>

#include "common/types.h"

namespace pekonode::membership {

class rtt_estimator {
public:
  /// Adds one measured round trip `r` (negative values count as 0):
  /// the first sets srtt = r, rttvar = r/2; later ones
  ///   rttvar = 3/4 rttvar + 1/4 |srtt - r|,  srtt = 7/8 srtt + 1/8 r
  /// (RFC 6298 section 2, alpha = 1/8, beta = 1/4).
  void sample(duration r) {
    r = std::max(r, duration::zero());
    if (samples_ == 0) {
      srtt_ = r;
      rttvar_ = r / 2;
    } else {
      auto err = srtt_ > r ? srtt_ - r : r - srtt_;
      rttvar_ = (rttvar_ * 3 + err) / 4;
      srtt_ = (srtt_ * 7 + r) / 8;
    }
    ++samples_;
  }

  /// Samples taken so far.
  uint64_t samples() const { return samples_; }

  /// Smoothed round trip (0 before the first sample).
  duration srtt() const { return srtt_; }

  /// Round-trip variation (0 before the first sample).
  duration rttvar() const { return rttvar_; }

  /// srtt + max(granularity, 4 * rttvar), clamped to [floor, ceiling];
  /// `initial` (also clamped) before the first sample.
  duration timeout(duration initial, duration floor, duration ceiling,
                   duration granularity) const {
    auto t = samples_ == 0 ? initial
                           : srtt_ + std::max(granularity, rttvar_ * 4);
    return std::clamp(t, floor, std::max(floor, ceiling));
  }

private:
  duration srtt_{};
  duration rttvar_{};
  uint64_t samples_ = 0;
};

} // namespace pekonode::membership
