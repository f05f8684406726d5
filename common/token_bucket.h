#pragma once
// A token bucket in virtual time: `rate` tokens per second up to `burst`.
// Pure (time is a parameter), so cores and shells can bound work, bytes and
// log lines per peer or in total, and simulations stay deterministic.

#include <algorithm>
#include <chrono>

#include "common/types.h"

namespace pekonode {

class token_bucket {
public:
  token_bucket() = default;

  /// A bucket holding `initial` tokens at `now` (defaults to full).
  token_bucket(double rate_per_sec, double burst, time_point now)
    : token_bucket(rate_per_sec, burst, now, burst) {}
  token_bucket(double rate_per_sec, double burst, time_point now,
               double initial)
    : rate_(rate_per_sec), burst_(burst), tokens_(initial), last_(now) {}

  /// Adds the tokens earned since the last refill, up to burst.
  void refill(time_point now) {
    if (now <= last_)
      return;
    auto secs = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + secs * rate_);
    last_ = now;
  }

  /// Tokens available after refilling at `now`.
  double available(time_point now) {
    refill(now);
    return tokens_;
  }

  /// Takes `n` tokens if that many are available at `now`.
  bool try_take(double n, time_point now) {
    refill(now);
    if (tokens_ < n)
      return false;
    tokens_ -= n;
    return true;
  }

  /// Takes `n` tokens unconditionally; the balance may go negative (a debt
  /// that later refills pay off), but never below -burst.
  void spend(double n) { tokens_ = std::max(-burst_, tokens_ - n); }

  /// Earliest time at which `n` tokens are available (now if they are;
  /// time_point::max() if they never will be).
  time_point when_available(double n) const {
    if (tokens_ >= n)
      return last_;
    if (rate_ <= 0 || n > burst_)
      return time_point::max();
    auto secs = (n - tokens_) / rate_;
    return last_ + std::chrono::duration_cast<duration>(
                     std::chrono::duration<double>(secs))
           + duration{1};
  }

  /// Token balance at the last refill.
  double tokens() const { return tokens_; }
  double rate() const { return rate_; }
  double burst() const { return burst_; }

private:
  double rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  time_point last_{};
};

} // namespace pekonode
