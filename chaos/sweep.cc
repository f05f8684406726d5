#include "chaos/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace pekonode::chaos {

namespace {

// Nearest-rank percentile of sorted `v` (non-empty), p in (0, 100].
double percentile(const std::vector<double>& v, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

} // namespace

std::vector<sweep_row> summarise_sweep(const std::vector<report>& reports) {
  std::vector<sweep_row> rows;
  std::map<std::string, std::size_t> index;
  std::vector<std::vector<double>> conv;
  for (auto& r : reports) {
    auto [it, fresh] = index.emplace(r.scenario, rows.size());
    if (fresh) {
      rows.push_back(sweep_row{});
      rows.back().scenario = r.scenario;
      conv.emplace_back();
    }
    auto& row = rows[it->second];
    ++row.runs;
    if (r.pass())
      ++row.passes;
    else
      row.failing_seeds.push_back(r.seed);
    row.false_deaths += r.false_positives;
    row.runs_with_false_deaths += r.false_positives > 0;
    if (r.mem_converge_s)
      conv[it->second].push_back(*r.mem_converge_s);
    else
      ++row.never_converged;
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& v = conv[i];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    rows[i].mem_conv_p50 = percentile(v, 50);
    rows[i].mem_conv_p99 = percentile(v, 99);
    rows[i].mem_conv_max = v.back();
  }
  return rows;
}

std::string format_sweep(const std::vector<sweep_row>& rows) {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line, "%-22s %5s %6s %6s %8s %9s %9s %9s %6s\n",
                "scenario", "runs", "passes", "FP", "FP_runs", "conv_p50",
                "conv_p99", "conv_max", "noconv");
  s += line;
  sweep_row total;
  for (auto& r : rows) {
    std::snprintf(line, sizeof line,
                  "%-22s %5zu %6zu %6llu %8zu %8.1fs %8.1fs %8.1fs %6zu\n",
                  r.scenario.c_str(), r.runs, r.passes,
                  static_cast<unsigned long long>(r.false_deaths),
                  r.runs_with_false_deaths, r.mem_conv_p50, r.mem_conv_p99,
                  r.mem_conv_max, r.never_converged);
    s += line;
    total.runs += r.runs;
    total.passes += r.passes;
    total.false_deaths += r.false_deaths;
    total.runs_with_false_deaths += r.runs_with_false_deaths;
    total.never_converged += r.never_converged;
  }
  std::snprintf(line, sizeof line, "%-22s %5zu %6zu %6llu %8zu %9s %9s %9s %6zu\n",
                "total", total.runs, total.passes,
                static_cast<unsigned long long>(total.false_deaths),
                total.runs_with_false_deaths, "", "", "", total.never_converged);
  s += line;
  for (auto& r : rows) {
    if (r.failing_seeds.empty()) continue;
    s += "failing seeds of " + r.scenario + ":";
    std::size_t shown = 0;
    for (auto seed : r.failing_seeds) {
      if (shown++ == 20) {
        s += " ... (" + std::to_string(r.failing_seeds.size() - 20) + " more)";
        break;
      }
      s += " " + std::to_string(seed);
    }
    s += "\n";
  }
  return s;
}

} // namespace pekonode::chaos
