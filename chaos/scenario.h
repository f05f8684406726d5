#pragma once
// Chaos scenario library: named scripts over virtual time (boot, faults,
// settle, checks) that run a whole simulated pekonode cluster on simnet —
// either the bare protocol cores or the real actors of every node — and
// return a report. Runs are pure functions of (scenario, options, seed). No
// real sockets, no wall-clock reads.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "chaos/checkers.h"
#include "chaos/sim_node.h"
#include "sim/simnet.h"

namespace pekonode::chaos {

// The simulator lives in sim/; the harness uses its names unqualified.
using sim::datagram_overhead_bytes;
using sim::drop_reason;
using sim::link_faults;
using sim::sim_node;
using sim::simnet;

class trace_recorder;
struct run_trace;

/// What each simulated node runs.
enum class engine {
  /// The membership and metadata cores wired directly (core_node): the
  /// fast engine, N = 10000 fits.
  cores,
  /// The real actors of each node on its own test scheduler (actor_node):
  /// transport framing, actor wiring and timers included; slower.
  actors,
};

/// "cores" or "actors".
const char* to_string(engine e);

/// How to run a scenario.
struct run_options {
  /// Default: cores.
  engine kind = engine::cores;
  /// Cluster size. Scenarios need at least 5 nodes; default 20.
  std::size_t nodes = 20;
  /// Seeds simnet, every core and the script's own choices.
  uint64_t seed = 1;
  /// Core configuration of every node (tests override knobs here to prove
  /// the checkers catch a broken protocol). Default: lan profiles.
  node_config cfg;
  /// Agreement is sampled this often (virtual). Finer: sharper convergence
  /// times, more CPU (each sample is O(N^2)). Default 500 ms.
  duration sample_interval = std::chrono::milliseconds(500);
  /// Multiplies every phase length of the script (soak runs use > 1).
  /// Default 1.
  double time_scale = 1.0;
  /// Upper bound on timeline lines kept (script actions always kept).
  std::size_t max_timeline = 120;
};

/// The script's handle on a running cluster: actions, faults, time and
/// protections. Node indices are 0..size()-1, named sim_node_name(i).
class harness {
public:
  harness(std::string scenario, const run_options& opts);
  ~harness();
  harness(const harness&) = delete;
  harness& operator=(const harness&) = delete;

  // -- cluster lifecycle ------------------------------------------------------
  /// Starts every node at once, all joining through n0.
  void boot_join_storm();
  /// Starts node i at i*gap, joining through n0..n2, waits `settle_for`,
  /// then on until every view is exact (at most two anti-entropy periods).
  void boot_staggered(duration gap, duration settle_for);
  /// Starts node i now, joining through `seeds` (no settling, no note):
  /// for measurements that script their own boot (chaos/join_bench.cc).
  void start_node(std::size_t i, const std::vector<std::size_t>& seeds) {
    start(i, seeds);
  }
  /// Crash: node i stops; deaths of it are no longer false positives.
  void crash(std::size_t i);
  /// Fresh process under the same name and address, rejoining via n0..n2.
  void restart(std::size_t i);
  /// Graceful leave of node i.
  void leave(std::size_t i);
  /// Re-publishes node i's tags, raising its incarnation.
  void bump_incarnation(std::size_t i);
  /// Offsets node i's metadata wall clock by `ms` from its next (re)start.
  /// Default: uniform in [-200, 200] ms per node.
  void set_clock_skew(std::size_t i, int64_t ms);

  // -- faults -----------------------------------------------------------------
  void set_faults(link_faults f, const std::string& what);
  void set_burst_loss(double enter, double leave, double loss);
  void partition(const std::vector<std::vector<std::size_t>>& groups);
  void heal();
  void block(std::size_t from, std::size_t to);
  void unblock(std::size_t from, std::size_t to);
  void stall(std::size_t i, duration d);

  // -- metadata ---------------------------------------------------------------
  /// Put on node i; acknowledged writes go to the durability ledger.
  bool put(std::size_t i, const std::string& key, const std::string& value);
  /// `count` puts of small values on random up nodes, keys prefix/0...
  void write_some(std::size_t count, const std::string& prefix);

  // -- time and checks --------------------------------------------------------
  /// Advances virtual time by d * time_scale, sampling agreement.
  void run_for(duration d);
  /// Advances exactly d (not scaled), for precise fault timing.
  void run_exact(duration d);
  /// Marks the end of the faults: convergence is timed from here.
  void settle();
  /// Whether deaths of node i count as false positives (default true).
  void protect(std::size_t i, bool on);
  /// At the end, every up node must see node i in state `st`.
  void expect_final_state(std::size_t i, membership::member_state st);
  /// Adds a failure reason to the report.
  void fail(std::string why);
  /// Adds a line to the timeline.
  void note(const std::string& text);
  /// What the checkers judge by (edit before the run ends).
  expectations& expect() { return report_.expect; }

  /// Runs the end-of-run checks and returns the report.
  report finish();

  /// Records the run's time series into `out` (member states in at most
  /// `max_lanes` lanes, agreement, traffic, faults) for a plotted report.
  /// Call before the script starts. Without it the harness records nothing.
  void record(run_trace& out, std::size_t max_lanes = 60);

  // -- observation ------------------------------------------------------------
  std::size_t size() const { return nodes_.size(); }
  bool up(std::size_t i) const { return up_[i]; }
  const cluster_node& node(std::size_t i) const { return *nodes_[i]; }
  std::mt19937_64& rng() { return rng_; }
  simnet& net() { return net_; }
  const run_options& options() const { return opts_; }
  /// Minimum suspicion timeout of the membership config at this size.
  duration suspicion_min() const;
  /// Maximum (lone-suspecter) suspicion timeout at this size.
  duration suspicion_max() const;
  /// A random index in [lo, size()).
  std::size_t pick(std::size_t lo = 1);
  const std::vector<std::string>& timeline() const { return timeline_; }

private:
  void make_node(std::size_t i);
  void start(std::size_t i, const std::vector<std::size_t>& seeds);
  void sample();
  void on_member_event(std::size_t obs, const membership::event& e,
                       time_point at);
  bool connected(std::size_t a, std::size_t b) const;
  std::vector<node_view> views() const;
  double since_start(time_point t) const;
  void log_line(time_point t, const std::string& text, bool always);

  run_options opts_;
  simnet net_;
  std::mt19937_64 rng_;
  time_point start_;
  std::vector<std::unique_ptr<cluster_node>> nodes_;
  std::vector<bool> up_, protected_, started_;
  std::vector<uint64_t> epoch_;
  // Per node: view_changes() and up_gen_ at the last judged sample, and
  // the verdict then (views only change with member events).
  std::vector<uint64_t> judged_changes_, judged_up_gen_;
  std::vector<bool> judged_ok_;
  uint64_t up_gen_ = 1; // bumped whenever the set of up nodes changes
  // Names of the up nodes, as of up_names_gen_ (rebuilt when up_gen_ moves).
  std::set<std::string> up_names_;
  uint64_t up_names_gen_ = 0;
  std::vector<int64_t> skew_ms_;
  std::vector<uint64_t> bytes_mem_, bytes_md_; // of replaced instances
  std::map<std::string, std::size_t> index_;    // name -> index
  bool partitioned_ = false;
  bool last_mem_ok_ = false, last_md_ok_ = false;
  std::size_t suppressed_ = 0;
  std::vector<std::size_t> group_, last_group_;
  time_point grace_until_{};
  membership_checker mem_check_;
  metadata_checker md_check_;
  report report_;
  std::vector<std::string> timeline_;
  std::size_t observed_lines_ = 0;
  std::set<std::pair<std::string, uint64_t>> deaths_logged_;
  std::set<std::string> lefts_logged_;
  std::vector<std::pair<std::size_t, membership::member_state>> final_states_;
  // Convergence tracking after settle().
  bool settled_ = false;
  time_point settle_at_{};
  std::optional<time_point> mem_ok_since_, md_ok_since_;
  time_point last_sample_{};
  uint64_t suspicions_ = 0;
  std::unique_ptr<trace_recorder> trace_; // only when a report is asked for
};

/// A named scenario: what it does and the script that does it.
struct scenario {
  std::string name;
  std::string description;
  std::function<void(harness&)> script;
};

/// Every scenario, in a stable order.
const std::vector<scenario>& all_scenarios();

/// The scenario called `name`, or nullptr.
const scenario* find_scenario(const std::string& name);

/// Runs `sc` with `opts`; the timeline is copied to `timeline` when given,
/// and the time series of a plotted report recorded into `trace` when given.
report run_scenario(const scenario& sc, const run_options& opts,
                    std::vector<std::string>* timeline = nullptr,
                    run_trace* trace = nullptr);

} // namespace pekonode::chaos
