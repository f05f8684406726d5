// chaos: runs pekonode chaos scenarios on the deterministic simulator and
// prints a timeline, an agreement plot and a verdict table; --report=FILE
// also writes a plotted, self-contained HTML or SVG report of the runs.
// Exit 0 when every run passes, 1 on FAIL, 2 on bad arguments, 3 when the
// report cannot be written.
//
//   chaos --list
//   chaos --scenario=partition_2way_heal --nodes=30 --seed=7
//   chaos --all --nodes=50 --seed=1 [--seeds=3] [--quiet]
//   chaos --all --soak            (N=100, 3 seeds, phases x3)
//   chaos --all --engine=actors --nodes=12   (the real actors of every node)
//   chaos --scenario=partition_2way_heal --nodes=30 --report=run.html
//   chaos --sweep --seeds=100 --profile=local --nodes=30 [--scenarios=a,b]

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "chaos/huge_pages.h"
#include "chaos/report.h"
#include "chaos/scenario.h"
#include "chaos/sweep.h"
#include "chaos/trace.h"

namespace {

using namespace pekonode::chaos;

struct args {
  std::string scenario;
  std::size_t nodes = 20;
  uint64_t seed = 1;
  uint64_t seeds = 1;
  bool all = false;
  bool list = false;
  bool soak = false;
  bool sweep = false;
  std::vector<std::string> scenarios; // --scenarios=a,b (sweep or --all)
  bool quiet = false;
  bool plot = true;
  double time_scale = 1.0;
  std::string profile = "lan";
  std::string report; // --report=FILE (.html or .svg); empty: none
  engine kind = engine::cores;
  bool nodes_set = false, seeds_set = false, scale_set = false;
};

void usage(std::ostream& os) {
  os << "usage: chaos --scenario=NAME [--nodes=N] [--seed=S] [--seeds=K]\n"
        "       chaos --all [--nodes=N] [--seed=S] [--seeds=K] [--soak]\n"
        "       chaos --sweep [--scenarios=A,B,...] [--seeds=K] [--nodes=N]\n"
        "       chaos --list\n"
        "  --nodes=N       cluster size, 5..10000 (default 20; --soak: 100);\n"
        "                  memory grows with N^2: ~0.26 GB at 1000, ~2.8 GB at 3000\n"
        "  --seed=S        first seed (default 1); runs use S, S+1, ...\n"
        "  --seeds=K       seeds per scenario (default 1; --soak: 3)\n"
        "  --time_scale=X  stretch every scenario phase (default 1; --soak: 3)\n"
        "  --profile=P     timing profile of every node: lan (default), local, wan\n"
        "  --engine=E      cores (default): the protocol cores wired directly,\n"
        "                  fast; actors: every node's real CAF actors on its\n"
        "                  own test scheduler (slower; same verdicts expected)\n"
        "  --soak          larger, longer runs: N=100, 3 seeds, phases x3\n"
        "  --sweep         many seeds per scenario, one summary line each:\n"
        "                  runs, passes, false deaths, convergence p50/p99/max,\n"
        "                  failing seeds (implies --quiet; default 100 seeds)\n"
        "  --scenarios=L   comma-separated scenarios for --sweep or --all\n"
        "  --quiet         verdict table only (no timeline or plot)\n"
        "  --noplot        no agreement plot\n"
        "  --report=FILE   also write a plotted report of every run: FILE.html\n"
        "                  (self-contained page) or FILE.svg (one image)\n";
}

bool parse_u64(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  char* end = nullptr;
  errno = 0;
  auto v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  out = v;
  return true;
}

bool parse(int argc, char** argv, args& a, std::string& err) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    std::string key = arg.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : arg.substr(eq + 1);
    uint64_t u = 0;
    if (key == "--scenario" && !val.empty()) {
      a.scenario = val;
    } else if (key == "--nodes") {
      if (!parse_u64(val, u) || u < 5 || u > 10000) {
        err = "--nodes must be an integer in [5, 10000]";
        return false;
      }
      a.nodes = u;
      a.nodes_set = true;
    } else if (key == "--seed") {
      if (!parse_u64(val, u)) {
        err = "--seed must be an unsigned integer";
        return false;
      }
      a.seed = u;
    } else if (key == "--seeds") {
      if (!parse_u64(val, u) || u < 1 || u > 1000) {
        err = "--seeds must be an integer in [1, 1000]";
        return false;
      }
      a.seeds = u;
      a.seeds_set = true;
    } else if (key == "--time_scale") {
      char* end = nullptr;
      double d = std::strtod(val.c_str(), &end);
      if (val.empty() || *end != '\0' || !(d >= 0.1 && d <= 100)) {
        err = "--time_scale must be a number in [0.1, 100]";
        return false;
      }
      a.time_scale = d;
      a.scale_set = true;
    } else if (key == "--profile") {
      if (val != "lan" && val != "local" && val != "wan") {
        err = "--profile must be lan, local or wan";
        return false;
      }
      a.profile = val;
    } else if (key == "--engine") {
      if (val != "cores" && val != "actors") {
        err = "--engine must be cores or actors";
        return false;
      }
      a.kind = val == "actors" ? engine::actors : engine::cores;
    } else if (key == "--report") {
      if (!report_format_for(val)) {
        err = "--report must name a .html or .svg file";
        return false;
      }
      a.report = val;
    } else if (key == "--scenarios" && !val.empty()) {
      std::size_t start = 0;
      while (start <= val.size()) {
        auto comma = val.find(',', start);
        if (comma == std::string::npos) comma = val.size();
        auto name = val.substr(start, comma - start);
        if (find_scenario(name) == nullptr) {
          err = "unknown scenario '" + name + "' in --scenarios (see --list)";
          return false;
        }
        a.scenarios.push_back(name);
        start = comma + 1;
      }
    } else if (arg == "--sweep") {
      a.sweep = true;
    } else if (arg == "--all") {
      a.all = true;
    } else if (arg == "--list") {
      a.list = true;
    } else if (arg == "--soak") {
      a.soak = true;
    } else if (arg == "--quiet") {
      a.quiet = true;
    } else if (arg == "--noplot") {
      a.plot = false;
    } else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      std::exit(0);
    } else {
      err = "unknown or malformed argument: " + arg;
      return false;
    }
  }
  if (a.soak) {
    if (!a.nodes_set) a.nodes = 100;
    if (!a.seeds_set) a.seeds = 3;
    if (!a.scale_set) a.time_scale = 3.0;
  }
  if (a.sweep) {
    a.quiet = true;
    if (!a.seeds_set) a.seeds = 100;
    if (!a.report.empty()) {
      err = "--report does not go with --sweep (reproduce a seed instead)";
      return false;
    }
  }
  if (!a.list && !a.all && !a.sweep && a.scenario.empty()) {
    err = "one of --scenario=NAME, --all, --sweep or --list is required";
    return false;
  }
  if (!a.scenario.empty() && find_scenario(a.scenario) == nullptr) {
    err = "unknown scenario '" + a.scenario + "' (see --list)";
    return false;
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  pekonode::chaos::reexec_with_huge_pages(argv);
  args a;
  std::string err;
  if (!parse(argc, argv, a, err)) {
    std::cerr << "chaos: " << err << "\n";
    usage(std::cerr);
    return 2;
  }
  if (a.list) {
    for (auto& s : all_scenarios())
      std::cout << s.name << "\n    " << s.description << "\n";
    return 0;
  }
  std::vector<const scenario*> todo;
  if (!a.scenarios.empty())
    for (auto& name : a.scenarios) todo.push_back(find_scenario(name));
  else if (a.all || (a.sweep && a.scenario.empty()))
    for (auto& s : all_scenarios()) todo.push_back(&s);
  else
    todo.push_back(find_scenario(a.scenario));

  // Opened now, so that a bad path fails before hours of runs, not after.
  std::ofstream report_file;
  if (!a.report.empty()) {
    report_file.open(a.report, std::ios::binary | std::ios::trunc);
    if (!report_file) {
      std::cerr << "chaos: cannot write the report to " << a.report << "\n";
      return 2;
    }
  }
  std::vector<report_run> plotted;

  std::vector<report> reports;
  for (auto* sc : todo) {
    for (uint64_t k = 0; k < a.seeds; ++k) {
      run_options opts;
      opts.nodes = a.nodes;
      opts.seed = a.seed + k;
      opts.time_scale = a.time_scale;
      opts.kind = a.kind;
      if (a.profile == "local") {
        opts.cfg.membership = pekonode::membership::config::local();
        opts.cfg.metadata = pekonode::metadata::config::local();
      } else if (a.profile == "wan") {
        opts.cfg.membership = pekonode::membership::config::wan();
        opts.cfg.metadata = pekonode::metadata::config::wan();
      }
      auto wall0 = std::chrono::steady_clock::now();
      std::vector<std::string> timeline;
      run_trace trace;
      auto r = run_scenario(*sc, opts, &timeline,
                            a.report.empty() ? nullptr : &trace);
      auto wall = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - wall0).count();
      if (a.sweep && r.pass()) {
        reports.push_back(std::move(r));
        continue;
      }
      std::cout << "=== " << sc->name << "  seed=" << opts.seed
                << "  nodes=" << opts.nodes << "  engine=" << to_string(a.kind)
                << "  ("
                << (r.pass() ? "PASS" : "FAIL") << ", " << r.duration_s
                << " s virtual in " << wall << " s wall)\n";
      if (!a.quiet) {
        std::cout << sc->description << "\n";
        for (auto& line : timeline) std::cout << "  " << line << "\n";
        if (a.plot) std::cout << format_plot(r.curve);
      }
      for (auto& why : r.reasons()) std::cout << "  FAIL: " << why << "\n";
      std::ostringstream repro;
      repro << "chaos --scenario=" << sc->name << " --nodes=" << opts.nodes
            << " --seed=" << opts.seed;
      if (a.time_scale != 1.0) repro << " --time_scale=" << a.time_scale;
      if (a.profile != "lan") repro << " --profile=" << a.profile;
      if (a.kind != engine::cores) repro << " --engine=" << to_string(a.kind);
      std::cout << "  reproduce: " << repro.str() << "\n\n" << std::flush;
      if (!a.report.empty()) {
        report_run p;
        p.verdict = r;
        p.trace = std::move(trace);
        p.description = sc->description;
        p.engine = to_string(a.kind);
        p.reproduce = repro.str();
        p.timeline = std::move(timeline);
        plotted.push_back(std::move(p));
      }
      reports.push_back(std::move(r));
    }
  }
  if (a.sweep)
    std::cout << "sweep: profile " << a.profile << ", " << a.nodes
              << " nodes, engine " << to_string(a.kind) << ", seeds " << a.seed
              << ".." << a.seed + a.seeds - 1 << "\n"
              << format_sweep(summarise_sweep(reports));
  else
    std::cout << format_table(reports);
  std::size_t failed = 0;
  for (auto& r : reports) failed += !r.pass();
  std::cout << reports.size() - failed << " passed, " << failed << " failed\n";
  if (!a.report.empty()) {
    std::string title = "pekonode chaos: "
                        + (a.all ? std::string("all scenarios") : a.scenario)
                        + ", " + std::to_string(a.nodes) + " nodes, engine "
                        + to_string(a.kind) + ", profile " + a.profile;
    auto doc = render_report(*report_format_for(a.report), plotted, title);
    report_file << doc;
    report_file.close();
    if (!report_file) {
      std::cerr << "chaos: writing the report to " << a.report << " failed\n";
      return 3;
    }
    std::cerr << "chaos: report written to " << a.report << " ("
              << (doc.size() + 1023) / 1024 << " KiB)\n";
  }
  return failed == 0 ? 0 : 1;
}
