#pragma once
// Convergence and safety checkers of the chaos harness, plus the report they
// fill: membership agreement, metadata agreement, false deaths, incarnation
// monotonicity, acknowledged-write durability. They observe nodes through
// chaos::cluster_node only; they inject no faults and drive no time.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "chaos/sim_node.h"
#include "common/types.h"
#include "membership/core.h"
#include "metadata/core.h"

namespace pekonode::chaos {

/// What a scenario promises about its outcome; the checkers judge by it.
struct expectations {
  /// Both layers must agree within this long after the scenario's last
  /// fault ends (the "settle" mark). Default 60 s.
  duration converge_within = std::chrono::seconds(60);
  /// Deaths of protected nodes tolerated (SWIM under heavy loss may declare
  /// a healthy node dead; such scenarios say how many). Default 0.
  uint64_t max_false_positives = 0;
  /// Whether metadata agreement and durability are judged. Default true.
  bool check_metadata = true;
};

/// One node as the checkers see it at a sample.
struct node_view {
  const std::string* name = nullptr;
  bool up = false; ///< attached and not left (stalled nodes are up)
  const cluster_node* node = nullptr;
};

/// One point of the convergence curve.
struct sample_point {
  double t_s = 0;          ///< seconds since the run started
  double mem_fraction = 0; ///< up nodes whose member view is exactly right
  bool md_agree = false;   ///< all up nodes hold the same store digest
};

/// Everything a run reports; `pass()` is the verdict.
struct report {
  std::string scenario;
  uint64_t seed = 0;
  std::size_t nodes = 0;
  double duration_s = 0;       ///< virtual run length
  double probe_interval_s = 1; ///< one SWIM round, for "rounds" figures
  /// Seconds from the settle mark to full agreement; nullopt: never.
  std::optional<double> mem_converge_s;
  std::optional<double> md_converge_s;
  bool mem_final_ok = false;   ///< agreement holds at the end of the run
  bool md_final_ok = false;
  uint64_t false_positives = 0;
  uint64_t incarnation_regressions = 0;
  uint64_t lost_writes = 0;    ///< acked writes missing or older somewhere
  uint64_t acked_writes = 0;
  double mem_bytes_per_node_s = 0;
  double md_bytes_per_node_s = 0;
  /// Extra scenario-specific failures (e.g. "n3 not seen as left").
  std::vector<std::string> failures;
  expectations expect;
  std::vector<sample_point> curve;

  /// Whether every expectation held.
  bool pass() const;
  /// All reasons for FAIL, one per line (empty when passing).
  std::vector<std::string> reasons() const;
};

/// Tracks membership agreement over samples and safety over events.
class membership_checker {
public:
  /// Called for every membership event an observer emits, in order.
  /// `wrongful` tells whether a death claim about this subject, if it were
  /// born at this observer now, would be wrong (subject healthy and
  /// reachable). A false positive is one wrongful death claim (name,
  /// incarnation): it is judged where it first appears; the same claim
  /// relayed to others (or a claim born across a partition and relayed
  /// after the heal) is not counted again. Returns true when this event
  /// starts a new false positive.
  bool on_event(const std::string& observer, uint64_t observer_epoch,
                const membership::event& e, bool wrongful);

  /// Whether a member table matches `up_names` exactly: every up node
  /// alive, every other known node not alive/suspect.
  static bool view_correct(const std::vector<membership::member>& view,
                           const std::set<std::string>& up_names);

  uint64_t false_positives() const { return false_positives_; }
  uint64_t incarnation_regressions() const { return regressions_; }

private:
  // Highest incarnation an observer has seen of each subject. Simulated
  // node names ("n<i>") index a flat array (8 bytes per pair instead of a
  // map node: the harness holds N^2 of these); other names use the map.
  struct subject_incarnations {
    static constexpr uint64_t none = ~uint64_t{0};
    std::vector<uint64_t> by_index; // none: not seen
    std::map<std::string, uint64_t> other;
    /// The slot of `name`, created (as `none`) when absent.
    uint64_t& slot(const std::string& name);
  };
  // (observer, epoch) -> subject -> highest incarnation seen.
  std::map<std::pair<std::string, uint64_t>, subject_incarnations> seen_;
  // (subject, incarnation) of each death claim -> born wrongful?
  std::map<std::pair<std::string, uint64_t>, bool> death_claims_;
  uint64_t false_positives_ = 0;
  uint64_t regressions_ = 0;
};

/// Ledger of acknowledged writes and end-of-run durability check.
class metadata_checker {
public:
  /// Records a put that its node accepted (ec::ok) at version `v`.
  void acked(const std::string& key, const metadata::version& v);

  /// Forgets every acknowledged write (after a scenario deliberately
  /// destroys all copies, e.g. a whole-cluster cold restart).
  void forget_all() { ledger_.clear(); }

  /// Whether every up node holds the same store digest.
  static bool digests_agree(const std::vector<node_view>& nodes);

  /// Acked writes that some up node lacks or holds at an older version.
  uint64_t lost_writes(const std::vector<node_view>& nodes,
                       std::vector<std::string>* detail = nullptr) const;

  /// Number of acknowledged puts recorded (all keys).
  std::size_t acked_count() const { return total_acked_; }

private:
  // key -> newest acked version.
  std::map<std::string, metadata::version> ledger_;
  std::size_t total_acked_ = 0;
};

/// The verdict table: one line per report, fixed-width columns.
std::string format_table(const std::vector<report>& reports);

/// ASCII plot of the membership agreement fraction over time
/// (`width` columns, `height` rows); empty for fewer than two points.
std::string format_plot(const std::vector<sample_point>& curve,
                        std::size_t width = 64, std::size_t height = 8);

} // namespace pekonode::chaos
