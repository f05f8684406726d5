// Soak: every scenario at 100 nodes, phases three times longer, 3 seeds.
// Tagged manual: `bazel test //chaos:soak_test` runs it on demand
// (or `bazel run //chaos:chaos -- --all --soak`).
#include <gtest/gtest.h>

#include <iostream>

#include "chaos/scenario.h"

namespace pekonode::chaos {
namespace {

TEST(Soak, EveryScenarioAtHundredNodes) {
  std::vector<report> reports;
  for (auto& sc : all_scenarios()) {
    for (uint64_t seed : {101, 102, 103}) {
      run_options opts;
      opts.nodes = 100;
      opts.seed = seed;
      opts.time_scale = 3.0;
      auto r = run_scenario(sc, opts);
      EXPECT_TRUE(r.pass()) << sc.name << " seed " << seed << ": "
                            << (r.reasons().empty() ? "" : r.reasons().front());
      reports.push_back(std::move(r));
    }
  }
  std::cout << format_table(reports);
}

} // namespace
} // namespace pekonode::chaos
