#pragma once
// Lifeguard local health awareness (LHA-probe): a score in [0, max-1] that
// grows when this node seems to be the slow one and scales its own probe
// timing. Not a detector of others' health.

#include <algorithm>

#include "common/types.h"

namespace pekonode::membership {

class awareness {
public:
  /// `max` is the multiplier bound (score stays in [0, max-1]).
  explicit awareness(int max) : max_(std::max(1, max)) {}

  /// Adds `delta` (negative to improve) and clamps to [0, max-1].
  void apply(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }

  /// Current score; 0 is healthy.
  int score() const { return score_; }

  /// `d * (score + 1)`: probe interval and timeout under degraded health.
  duration scale(duration d) const { return d * (score_ + 1); }

private:
  int max_;
  int score_ = 0;
};

} // namespace pekonode::membership
