#pragma once
// Seed sweeps of chaos scenarios: many seeds per scenario, summarised per
// scenario (runs, passes, false deaths, failing seeds, convergence times).
// Pure aggregation and formatting of reports; runs nothing itself.

#include <cstdint>
#include <string>
#include <vector>

#include "chaos/checkers.h"

namespace pekonode::chaos {

/// One scenario's figures over a sweep.
struct sweep_row {
  std::string scenario;
  std::size_t runs = 0;
  std::size_t passes = 0;
  /// Sum of report::false_positives over the runs.
  uint64_t false_deaths = 0;
  /// Runs with at least one false death.
  std::size_t runs_with_false_deaths = 0;
  /// Seeds of the failed runs, in the order they ran.
  std::vector<uint64_t> failing_seeds;
  /// Membership convergence after the settle mark, over the runs that
  /// converged (seconds): median, 99th percentile (nearest rank), max.
  /// All 0 when none converged.
  double mem_conv_p50 = 0, mem_conv_p99 = 0, mem_conv_max = 0;
  /// Runs whose membership never converged.
  std::size_t never_converged = 0;
};

/// Groups `reports` by scenario, in order of first appearance.
std::vector<sweep_row> summarise_sweep(const std::vector<report>& reports);

/// A fixed-width table of `rows`, one line per scenario, then a totals
/// line; failing seeds listed under the table (at most 20 per scenario).
std::string format_sweep(const std::vector<sweep_row>& rows);

} // namespace pekonode::chaos
