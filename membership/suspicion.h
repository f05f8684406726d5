#pragma once
// Lifeguard suspicion timeout maths (LHA-suspicion / "dogpile") and the
// per-suspect timer state. Pure functions of their arguments; no clock reads.
// It does not decide who is suspect: the core does.

#include <cstddef>
#include <set>
#include <string>

#include "common/types.h"

namespace pekonode::membership {

/// min = mult * max(1, log10(n)) * probe_interval.
duration suspicion_min_timeout(int mult, std::size_t n,
                               duration probe_interval);

/// Remaining-total timeout after `confirmations` independent confirmations
/// out of `expected`: max - log(c+1)/log(k+1) * (max-min), never below min.
/// With expected == 0 the timeout is min.
duration suspicion_timeout(std::size_t confirmations, std::size_t expected,
                           duration min, duration max);

/// Expected confirmations k = mult - 2, or 0 when fewer than k other members
/// (n - 2) could confirm.
std::size_t suspicion_expected_confirmations(int mult, std::size_t n);

/// Timer of one suspected member at one incarnation.
class suspicion {
public:
  suspicion(std::string first_suspecter, std::size_t expected, duration min,
            duration max, time_point start);

  /// Records a confirmation from `from`; true if it was new (and thus
  /// shortened the timer and is worth re-gossiping).
  bool confirm(const std::string& from);

  /// When the member is declared dead unless refuted. O(1): kept from
  /// the last confirmation (the core reads it after every message).
  time_point deadline() const { return deadline_; }

  std::size_t confirmations() const { return confirmers_.size() - 1; }

private:
  std::set<std::string> confirmers_; // includes the first suspecter
  std::size_t expected_;
  duration min_, max_;
  time_point start_;
  time_point deadline_;
};

} // namespace pekonode::membership
