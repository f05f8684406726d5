// join_bench: how fast a join storm reaches every node, on the deterministic
// simulator (cores engine). Two boot patterns:
//
//   staggered  node i starts at i * gap (default 100 ms), joining through
//              n0..n2 (the chaos scenarios' boot)
//   storm      every node starts at the same instant, joining through n0
//              (the join_storm scenario)
//
// From the last node's start, time is advanced one gossip interval at a
// time and each node's table is checked: a node is complete when it holds
// all N members live (alive or suspect, confirmed). Printed per run: the
// time from the last join until each node is complete (p50, p90, max over
// nodes; seconds and gossip rounds), how many (node, member) pairs were
// still missing 1, 2 and 5 s after the last join, membership bytes sent
// per node per second from the first start until every node was complete,
// the protocol counters that tell how the missing members were found, the
// wall time and the peak memory.
//
//   join_bench --nodes=1000 --profile=lan --pattern=both --seed=1
//   join_bench ... --churn_syncs=0        (without churn syncs: the "before")
//   join_bench ... --churn_wait_ms=2000   (config::churn_sync_max_wait)
//
// Exit 0 when every node became complete before the cap (last join + two
// anti-entropy periods + 10 s), 1 otherwise, 2 on bad arguments.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "chaos/huge_pages.h"
#include "chaos/scenario.h"
#include "chaos/sim_node.h"
#include "membership/config.h"

namespace {

using namespace pekonode;
using namespace pekonode::chaos;
using std::chrono::milliseconds;

double secs(duration d) { return std::chrono::duration<double>(d).count(); }

long peak_rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(k, v.size() - 1)];
}

struct args {
  std::size_t nodes = 1000;
  std::string profile = "lan";
  std::string pattern = "both";
  uint64_t seed = 1;
  uint64_t seeds = 1;
  int gap_ms = 100;
  bool churn_syncs = true;
  long churn_wait_ms = -1; // -1: the profile's
};

bool parse(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto eq = s.find('=');
    if (eq == std::string::npos) return false;
    auto k = s.substr(0, eq), v = s.substr(eq + 1);
    char* end = nullptr;
    if (k == "--nodes") {
      auto n = std::strtoull(v.c_str(), &end, 10);
      if (*end || n < 5 || n > 10000) return false;
      a.nodes = n;
    } else if (k == "--profile") {
      if (v != "lan" && v != "local" && v != "wan") return false;
      a.profile = v;
    } else if (k == "--pattern") {
      if (v != "staggered" && v != "storm" && v != "both") return false;
      a.pattern = v;
    } else if (k == "--seed") {
      a.seed = std::strtoull(v.c_str(), &end, 10);
      if (*end || v.empty()) return false;
    } else if (k == "--seeds") {
      a.seeds = std::strtoull(v.c_str(), &end, 10);
      if (*end || a.seeds < 1 || a.seeds > 100) return false;
    } else if (k == "--churn_syncs") {
      if (v != "0" && v != "1") return false;
      a.churn_syncs = v == "1";
    } else if (k == "--churn_wait_ms") {
      a.churn_wait_ms = std::strtol(v.c_str(), &end, 10);
      if (*end || v.empty() || a.churn_wait_ms < 1) return false;
    } else if (k == "--gap_ms") {
      auto g = std::strtol(v.c_str(), &end, 10);
      if (*end || g < 1 || g > 10000) return false;
      a.gap_ms = static_cast<int>(g);
    } else {
      return false;
    }
  }
  return true;
}

node_config profile_config(const std::string& p) {
  node_config c;
  if (p == "local") {
    c.membership = membership::config::local();
    c.metadata = metadata::config::local();
  } else if (p == "wan") {
    c.membership = membership::config::wan();
    c.metadata = metadata::config::wan();
  }
  return c;
}

const core_node& core_of(const harness& h, std::size_t i) {
  return static_cast<const core_node&>(h.node(i));
}

uint64_t missing_pairs(const harness& h) {
  uint64_t miss = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    auto live = core_of(h, i).mem().live_count();
    if (live < h.size()) miss += h.size() - live;
  }
  return miss;
}

// Who misses whom: the (observer, member) pairs still missing, summarised
// by how many distinct observers and members they involve and the start
// order of a few of them (indices are start order).
std::string who_misses(const harness& h) {
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  std::vector<bool> obs(h.size()), mem(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    auto& c = core_of(h, i).mem();
    if (c.live_count() == h.size()) continue;
    for (std::size_t j = 0; j < h.size(); ++j) {
      auto* m = c.find(sim_node_name(j));
      if (m && membership::is_live(m->state)) continue;
      pairs.emplace_back(i, j);
      obs[i] = mem[j] = true;
    }
  }
  if (pairs.empty()) return "none";
  std::string s = std::to_string(pairs.size()) + " pairs, "
                  + std::to_string(std::count(obs.begin(), obs.end(), true))
                  + " observers, "
                  + std::to_string(std::count(mem.begin(), mem.end(), true))
                  + " members; e.g.";
  for (std::size_t k = 0; k < pairs.size() && k < 12; ++k)
    s += " n" + std::to_string(pairs[k].first) + "!n"
         + std::to_string(pairs[k].second);
  return s;
}

// Per member: the time from its start until every started node holds it
// live, checked every `step` for the members not yet everywhere.
struct spread_tracker {
  std::vector<double> started_at, spread; // -1: not started / not yet
  std::vector<std::size_t> pending;       // started, not yet everywhere
  std::size_t started = 0;

  explicit spread_tracker(std::size_t n) : started_at(n, -1), spread(n, -1) {}

  void on_start(std::size_t j, double t) {
    started_at[j] = t;
    pending.push_back(j);
    ++started;
  }

  void check(const harness& h, double t) {
    std::vector<std::size_t> still;
    for (auto j : pending) {
      auto name = sim_node_name(j);
      bool all = true;
      for (std::size_t i = 0; i < h.size() && all; ++i) {
        if (started_at[i] < 0 || i == j) continue;
        auto* m = core_of(h, i).mem().find(name);
        all = m && membership::is_live(m->state);
      }
      if (all) spread[j] = t - started_at[j];
      else still.push_back(j);
    }
    pending.swap(still);
  }
};

bool run_one(const args& a, const std::string& pattern, uint64_t seed) {
  auto wall0 = std::chrono::steady_clock::now();
  run_options o;
  o.nodes = a.nodes;
  o.seed = seed;
  o.cfg = profile_config(a.profile);
  o.cfg.membership.churn_syncs = a.churn_syncs;
  if (a.churn_wait_ms > 0)
    o.cfg.membership.churn_sync_max_wait = milliseconds(a.churn_wait_ms);
  if (auto err = o.cfg.membership.validate(); !err.empty()) {
    std::fprintf(stderr, "join_bench: %s\n", err.c_str());
    std::exit(2);
  }
  // Agreement samples are the harness's own O(N^2) check; this bench
  // measures per node below, so sample rarely.
  o.sample_interval = std::chrono::seconds(5);
  harness h("join_bench_" + pattern, o);
  const auto& mc = o.cfg.membership;
  const auto n = h.size();
  auto t0 = h.net().now();
  spread_tracker spread(n);
  auto now_s = [&] { return secs(h.net().now() - t0); };
  const auto step = std::chrono::milliseconds(500);
  auto next_spread_check = t0 + step;
  if (pattern == "storm") {
    h.start_node(0, {});
    for (std::size_t i = 1; i < n; ++i) h.start_node(i, {0});
    for (std::size_t i = 0; i < n; ++i) spread.on_start(i, 0);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) h.run_exact(milliseconds(a.gap_ms));
      if (h.net().now() >= next_spread_check) {
        spread.check(h, now_s());
        next_spread_check += step;
      }
      h.start_node(i, {0, 1, 2});
      spread.on_start(i, now_s());
    }
  }
  auto last_join = h.net().now();
  auto cap = last_join + 2 * membership::sync_period(mc, n) + std::chrono::seconds(10);
  std::vector<double> done(n, -1.0);
  std::size_t complete = 0;
  uint64_t miss_at[3] = {0, 0, 0};
  const double marks[3] = {1.0, 2.0, 5.0};
  int next_mark = 0;
  std::string misses_1s;
  // Traffic is measured over the storm: first start to last join + 5 s.
  const double storm_tail_s = 5.0;
  bool window_done = false;
  uint64_t window_bytes = 0;
  auto window_end = cap;
  auto check = [&] {
    double t = secs(h.net().now() - last_join);
    for (std::size_t i = 0; i < n; ++i)
      if (done[i] < 0 && core_of(h, i).mem().live_count() == n) {
        done[i] = t;
        ++complete;
      }
    while (next_mark < 3 && t >= marks[next_mark] - 1e-9) {
      miss_at[next_mark] = missing_pairs(h);
      if (next_mark == 0) misses_1s = who_misses(h);
      ++next_mark;
    }
    if (!window_done && t >= storm_tail_s - 1e-9) {
      window_done = true;
      for (std::size_t i = 0; i < n; ++i)
        window_bytes += core_of(h, i).membership_bytes_out();
      window_end = h.net().now();
    }
  };
  check();
  while (h.net().now() < cap
         && (complete < n || next_mark < 3 || !spread.pending.empty())) {
    h.run_exact(mc.gossip_interval);
    check();
    if (h.net().now() >= next_spread_check) {
      spread.check(h, now_s());
      next_spread_check += step;
    }
  }
  std::vector<double> sp;
  std::size_t slow = 0;
  for (auto x : spread.spread)
    if (x >= 0) {
      sp.push_back(x);
      slow += x > 5.0;
    }
  membership::core_stats sum;
  uint64_t source_budget = 0, unsolicited = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto& c = core_of(h, i);
    auto& s = c.mem().stats();
    sum.syncs_started += s.syncs_started;
    sum.syncs_differed += s.syncs_differed;
    sum.churn_syncs += s.churn_syncs;
    sum.unconfirmed_added += s.unconfirmed_added;
    sum.members_confirmed += s.members_confirmed;
    sum.unconfirmed_expired += s.unconfirmed_expired;
    sum.confirm_probes += s.confirm_probes;
    sum.replies_limited += s.replies_limited;
    sum.updates_applied += s.updates_applied;
    for (auto& [k, v] : s.bad_packets) {
      if (k == "source_budget") source_budget += v;
      if (k.rfind("unsolicited", 0) == 0 || k == "unverified") unsolicited += v;
    }
  }
  std::vector<double> d;
  for (auto x : done)
    if (x >= 0) d.push_back(x);
  double window = std::max(1e-9, secs(window_end - t0));
  double gi = secs(mc.gossip_interval);
  double p50 = quantile(d, 0.5), p90 = quantile(d, 0.9),
         mx = d.empty() ? 0 : *std::max_element(d.begin(), d.end());
  auto wall = secs(std::chrono::steady_clock::now() - wall0);
  std::printf(
    "%-9s N=%zu %-5s seed=%llu: last join at %.1f s; complete %zu/%zu; "
    "after last join p50 %.2f s (%.0f rounds), p90 %.2f s (%.0f rounds), "
    "max %.2f s (%.0f rounds); missing pairs at +1/+2/+5 s: %llu/%llu/%llu; "
    "%.0f B/node/s (membership, first start to last join + 5 s: %.1f s); "
    "wall %.0f s, "
    "peak RSS %.2f GB\n",
    pattern.c_str(), n, a.profile.c_str(), static_cast<unsigned long long>(seed),
    secs(last_join - t0), complete, n, p50, p50 / gi, p90, p90 / gi, mx, mx / gi,
    static_cast<unsigned long long>(miss_at[0]),
    static_cast<unsigned long long>(miss_at[1]),
    static_cast<unsigned long long>(miss_at[2]),
    static_cast<double>(window_bytes) / window / static_cast<double>(n), window, wall,
    static_cast<double>(peak_rss_kb()) / 1e6);
  std::printf(
    "          counters (all nodes): updates applied %llu, syncs %llu "
    "(differed %llu, churn %llu), unconfirmed added %llu / confirmed %llu / expired %llu, "
    "confirm pings %llu, source_budget drops %llu, unsolicited/unverified "
    "%llu, replies limited %llu\n",
    static_cast<unsigned long long>(sum.updates_applied),
    static_cast<unsigned long long>(sum.syncs_started),
    static_cast<unsigned long long>(sum.syncs_differed),
    static_cast<unsigned long long>(sum.churn_syncs),
    static_cast<unsigned long long>(sum.unconfirmed_added),
    static_cast<unsigned long long>(sum.members_confirmed),
    static_cast<unsigned long long>(sum.unconfirmed_expired),
    static_cast<unsigned long long>(sum.confirm_probes),
    static_cast<unsigned long long>(source_budget),
    static_cast<unsigned long long>(unsolicited),
    static_cast<unsigned long long>(sum.replies_limited));
  std::printf("          missing 1 s after the last join: %s\n", misses_1s.c_str());
  std::printf("          each member's start until every node holds it "
              "(checked every 0.5 s): p50 %.1f s, p99 %.1f s, max %.1f s; "
              "%zu of %zu members over 5 s, %zu never\n",
              quantile(sp, 0.5), quantile(sp, 0.99),
              sp.empty() ? 0 : *std::max_element(sp.begin(), sp.end()), slow,
              sp.size(), spread.pending.size());
  std::fflush(stdout);
  return complete == n && spread.pending.empty();
}

} // namespace

int main(int argc, char** argv) {
  pekonode::chaos::reexec_with_huge_pages(argv);
  args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: join_bench [--nodes=N] [--profile=lan|local|wan] "
                 "[--pattern=staggered|storm|both] [--seed=S] [--seeds=K] "
                 "[--gap_ms=MS] [--churn_syncs=0|1] [--churn_wait_ms=MS]\n");
    return 2;
  }
  bool ok = true;
  for (uint64_t s = a.seed; s < a.seed + a.seeds; ++s) {
    if (a.pattern != "storm") ok &= run_one(a, "staggered", s);
    if (a.pattern != "staggered") ok &= run_one(a, "storm", s);
  }
  return ok ? 0 : 1;
}
