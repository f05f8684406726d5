#include "chaos/sweep.h"

#include <gtest/gtest.h>

namespace pekonode::chaos {
namespace {

report run(const std::string& sc, uint64_t seed, uint64_t fp,
           std::optional<double> conv) {
  report r;
  r.scenario = sc;
  r.seed = seed;
  r.false_positives = fp;
  r.mem_converge_s = conv;
  r.md_converge_s = 0.0;
  r.mem_final_ok = conv.has_value();
  r.md_final_ok = true;
  r.expect.converge_within = std::chrono::seconds(1000);
  return r;
}

TEST(SweepSummary, GroupsByScenarioAndCountsFailuresAndFalseDeaths) {
  std::vector<report> rs = {run("a", 1, 0, 1.0), run("b", 1, 2, 3.0),
                            run("a", 2, 1, 2.0), run("a", 3, 0, std::nullopt),
                            run("b", 2, 0, 5.0)};
  auto rows = summarise_sweep(rs);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].scenario, "a");
  EXPECT_EQ(rows[0].runs, 3u);
  EXPECT_EQ(rows[0].passes, 1u);
  EXPECT_EQ(rows[0].false_deaths, 1u);
  EXPECT_EQ(rows[0].runs_with_false_deaths, 1u);
  EXPECT_EQ(rows[0].failing_seeds, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(rows[0].never_converged, 1u);
  EXPECT_DOUBLE_EQ(rows[0].mem_conv_p50, 1.0);
  EXPECT_DOUBLE_EQ(rows[0].mem_conv_max, 2.0);
  EXPECT_EQ(rows[1].false_deaths, 2u);
  EXPECT_EQ(rows[1].failing_seeds, (std::vector<uint64_t>{1}));
  EXPECT_DOUBLE_EQ(rows[1].mem_conv_p99, 5.0);
}

TEST(SweepSummary, PercentilesAreNearestRank) {
  std::vector<report> rs;
  for (int i = 1; i <= 100; ++i) rs.push_back(run("a", i, 0, double(i)));
  auto rows = summarise_sweep(rs);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].mem_conv_p50, 50.0);
  EXPECT_DOUBLE_EQ(rows[0].mem_conv_p99, 99.0);
  EXPECT_DOUBLE_EQ(rows[0].mem_conv_max, 100.0);
  EXPECT_EQ(rows[0].passes, 100u);
}

TEST(SweepFormat, ListsFailingSeedsAndTotals) {
  std::vector<report> rs = {run("loss_10", 7, 1, 1.0), run("loss_10", 8, 0, 1.0)};
  auto text = format_sweep(summarise_sweep(rs));
  EXPECT_NE(text.find("failing seeds of loss_10: 7\n"), std::string::npos);
  EXPECT_NE(text.find("total"), std::string::npos);
  auto none = format_sweep(summarise_sweep({run("x", 1, 0, 1.0)}));
  EXPECT_EQ(none.find("failing seeds"), std::string::npos);
}

} // namespace
} // namespace pekonode::chaos
