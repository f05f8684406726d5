#include "membership/suspicion.h"

#include <algorithm>
#include <cmath>

namespace pekonode::membership {

duration suspicion_min_timeout(int mult, std::size_t n,
                               duration probe_interval) {
  double scale = std::max(1.0, std::log10(static_cast<double>(std::max<std::size_t>(n, 1))));
  auto ms = std::chrono::duration<double>(probe_interval).count() * mult * scale;
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(ms));
}

duration suspicion_timeout(std::size_t confirmations, std::size_t expected,
                           duration min, duration max) {
  if (expected == 0 || max <= min) return min;
  double frac = std::log(static_cast<double>(confirmations) + 1.0)
                / std::log(static_cast<double>(expected) + 1.0);
  frac = std::clamp(frac, 0.0, 1.0);
  auto span = std::chrono::duration<double>(max - min).count();
  auto t = max - std::chrono::duration_cast<duration>(
             std::chrono::duration<double>(frac * span));
  return std::max(t, min);
}

std::size_t suspicion_expected_confirmations(int mult, std::size_t n) {
  if (mult <= 2) return 0;
  std::size_t k = static_cast<std::size_t>(mult - 2);
  if (n < 2 || n - 2 < k) return 0;
  return k;
}

suspicion::suspicion(std::string first, std::size_t expected, duration min,
                     duration max, time_point start)
  : expected_(expected), min_(min), max_(max), start_(start) {
  confirmers_.insert(std::move(first));
  deadline_ = start_ + suspicion_timeout(confirmations(), expected_, min_, max_);
}

bool suspicion::confirm(const std::string& from) {
  if (confirmers_.size() - 1 >= expected_) return false;
  if (!confirmers_.insert(from).second) return false;
  deadline_ = start_ + suspicion_timeout(confirmations(), expected_, min_, max_);
  return true;
}

} // namespace pekonode::membership
