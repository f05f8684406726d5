#pragma once
// Time series of one chaos run, for the plotted report (chaos/report.h):
// member states per lane of nodes as the cluster sees them, agreement
// fractions, traffic per node, fault intervals and marks. The scenario
// harness fills one only when a report is asked for; runs without a trace
// do no extra work. Not a checker: verdicts stay in chaos/checkers.h.

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chaos/sim_node.h"

namespace pekonode::chaos {

/// "No node": a fault or mark about the whole network.
inline constexpr std::size_t no_node = std::numeric_limits<std::size_t>::max();

/// What up observers hold about a lane's subjects, in stacking order
/// (bottom first). `unknown`: the subject is not in the observer's table.
enum class view_band : uint8_t { alive, suspect, dead, left, unknown };
inline constexpr std::size_t view_bands = 5;

/// What the harness knows about a lane's nodes, in stacking order.
/// `absent`: not started yet; `down`: crashed (until restarted).
enum class truth_band : uint8_t { up, stalled, down, left, absent };
inline constexpr std::size_t truth_bands = 5;

/// "alive", ..., "unknown" / "up", ..., "absent".
const char* to_string(view_band b);
const char* to_string(truth_band b);

/// Shares of the bands of one lane at one sample as cumulative boundaries in
/// 1/255: band k covers [k ? cum[k-1] : 0, cum[k]). The last boundary is 255
/// when the lane has anything to show, 0 when not (e.g. no observer up).
/// Boundaries are rounded from exact cumulative sums, so the stack always
/// closes; 1/255 is finer than any lane is tall in pixels.
using lane_shares = std::array<uint8_t, 5>;

/// Cumulative shares of `counts` (see lane_shares).
lane_shares to_shares(const std::array<uint64_t, 5>& counts);

/// One fault interval of a run, as the script applied it.
struct fault_span {
  enum class kind : uint8_t {
    partition,   ///< k-way partition until heal()
    link_faults, ///< loss / duplication / delay on every link
    burst_loss,  ///< Gilbert-Elliott bursts on every link
    cut,         ///< one-way link cuts (block / unblock), merged while any is on
    crash,       ///< node down until restarted
    stall,       ///< node's CPU stalled
  };
  kind what = kind::partition;
  double start_s = 0;
  /// Seconds since the start; spans still open when the run ends close there.
  double end_s = 0;
  std::string label;
  /// The node concerned (crash, stall), or no_node for the whole network.
  std::size_t node = no_node;
};

/// "partition", "link faults", "burst loss", "link cuts", "crash", "stall".
const char* to_string(fault_span::kind k);

/// An instant worth a line on the plots (settle, a leave, a restart).
struct trace_mark {
  double t_s = 0;
  std::string label;
  std::size_t node = no_node; ///< the node concerned, or no_node
};

/// Everything a report plots about one run. Samples are taken at the
/// harness's agreement samples (every run_options::sample_interval).
struct run_trace {
  std::size_t nodes = 0;
  /// Nodes n[k*nodes_per_lane .. (k+1)*nodes_per_lane) share lane k.
  std::size_t nodes_per_lane = 1;
  std::size_t lanes = 0;
  /// Sample times, seconds since the start of the run, increasing.
  std::vector<double> t_s;
  /// Per sample, per lane (sample-major, t_s.size() * lanes): the views of
  /// every up observer about the lane's nodes (view_band), and the truth
  /// about them (truth_band).
  std::vector<lane_shares> views;
  std::vector<lane_shares> truth;
  /// Fraction of up nodes whose member view is exactly right.
  std::vector<double> mem_agree;
  /// Fraction of up nodes holding every acknowledged write at its newest
  /// acknowledged version.
  std::vector<double> md_agree;
  /// Bytes sent per second since the previous sample: the mean over up
  /// nodes and the busiest node, per layer (datagram overhead included).
  /// An extra sample soon after a regular one repeats the previous rates
  /// (a rate over a few milliseconds would be noise).
  std::vector<double> mem_bps_mean, mem_bps_max, md_bps_mean, md_bps_max;
  std::vector<fault_span> faults;
  std::vector<trace_mark> marks;
  /// Times of acknowledged writes.
  std::vector<double> writes_s;
  /// settle() mark, or negative when the script never settled.
  double settle_s = -1;
  /// Length of the run.
  double end_s = 0;

  std::size_t samples() const { return t_s.size(); }
  const lane_shares& view_at(std::size_t sample, std::size_t lane) const {
    return views[sample * lanes + lane];
  }
  const lane_shares& truth_at(std::size_t sample, std::size_t lane) const {
    return truth[sample * lanes + lane];
  }
  /// "n5" for a lane of one node, "n17-n33" for a lane of several.
  std::string lane_label(std::size_t lane) const;
  /// The lane node i is drawn in.
  std::size_t lane_of(std::size_t i) const { return i / nodes_per_lane; }
};

/// One node at a sample, as the harness hands it to the recorder.
struct node_snapshot {
  const cluster_node* node = nullptr; ///< nullptr: never started
  /// Changes whenever the node is replaced by a fresh instance (restart).
  uint64_t instance = 0;
  bool up = false;      ///< attached and not left (stalled nodes are up)
  bool stalled = false;
  /// Bytes sent so far by this node across all its instances, per layer.
  uint64_t mem_bytes = 0;
  uint64_t md_bytes = 0;
};

/// Fills a run_trace from the harness's hooks. Observes nodes through
/// cluster_node only; consumes no randomness and drives no time, so a run
/// with a recorder takes exactly the course it takes without one.
class trace_recorder {
public:
  /// `nodes` in the cluster; at most `max_lanes` lanes (>= 1); the
  /// harness samples every `sample_interval_s` (plus extra samples at
  /// settle and at the end).
  trace_recorder(run_trace& out, std::size_t nodes, std::size_t max_lanes,
                 double sample_interval_s);

  // -- script actions (t: seconds since the start) ----------------------------
  void node_started(std::size_t i, double t);
  void node_crashed(std::size_t i, double t);
  void node_left(std::size_t i, double t);
  void stalled(std::size_t i, double t, double until);
  /// Link faults become `f` (described by `what`); benign faults (no loss,
  /// no duplication) end the current span.
  void faults_set(const link_faults& f, const std::string& what, double t);
  /// Burst loss on (enter > 0 and loss > 0, labelled `what`) or off.
  void burst_set(bool on, const std::string& what, double t);
  /// A partition into `groups` of node indices (labelled by group sizes).
  void partitioned(const std::vector<std::vector<std::size_t>>& groups,
                   double t);
  /// Ends the partition and every link cut.
  void healed(double t);
  void blocked(std::size_t from, std::size_t to, double t);
  void unblocked(std::size_t from, std::size_t to, double t);
  /// An acknowledged write (the truth metadata agreement is judged by).
  void acked(const std::string& key, const metadata::version& v, double t);
  void settled(double t);
  void mark(double t, std::string label, std::size_t node = no_node);

  /// One sample: `nodes[i]` is node i; `mem_fraction` the harness's own
  /// membership agreement at this instant. Samples at or before the last
  /// one are ignored.
  void sample(double t, const std::vector<node_snapshot>& nodes,
              double mem_fraction);
  /// Closes every open span at `t`.
  void finish(double t);

private:
  using counts = std::array<uint64_t, 5>;
  void open(fault_span::kind k, std::size_t node, std::string label, double t);
  void close(fault_span::kind k, std::size_t node, double t);
  void close_cut(double t);
  std::string cut_label() const;
  double md_fraction(const std::vector<node_snapshot>& nodes);
  void observe(std::size_t obs, const cluster_node& n);

  run_trace& out_;
  std::vector<truth_band> truth_;
  // Open spans: (kind, node) -> index in out_.faults.
  std::map<std::pair<fault_span::kind, std::size_t>, std::size_t> open_;
  std::set<std::pair<std::size_t, std::size_t>> blocks_, cut_links_;
  std::unordered_map<std::string, std::size_t> index_; // name -> node
  // Per observer: lane counts of its last observed view, and what it was
  // computed from (instance, view_changes).
  std::vector<std::vector<counts>> obs_lanes_;
  std::vector<std::pair<uint64_t, uint64_t>> obs_key_;
  std::vector<bool> obs_valid_;
  // Acknowledged writes: key -> newest version; verdicts per store digest
  // (valid until the ledger changes).
  std::map<std::string, metadata::version> ledger_;
  std::map<std::string, bool> digest_ok_;
  std::vector<uint64_t> prev_mem_, prev_md_;
  double prev_t_ = 0;
  double interval_s_;
};

} // namespace pekonode::chaos
