#include "chaos/trace.h"

#include <algorithm>
#include <cmath>

namespace pekonode::chaos {

using membership::member_state;

const char* to_string(view_band b) {
  switch (b) {
    case view_band::alive: return "alive";
    case view_band::suspect: return "suspect";
    case view_band::dead: return "dead";
    case view_band::left: return "left";
    case view_band::unknown: return "unknown";
  }
  return "?";
}

const char* to_string(truth_band b) {
  switch (b) {
    case truth_band::up: return "up";
    case truth_band::stalled: return "stalled";
    case truth_band::down: return "down";
    case truth_band::left: return "left";
    case truth_band::absent: return "absent";
  }
  return "?";
}

const char* to_string(fault_span::kind k) {
  switch (k) {
    case fault_span::kind::partition: return "partition";
    case fault_span::kind::link_faults: return "link faults";
    case fault_span::kind::burst_loss: return "burst loss";
    case fault_span::kind::cut: return "link cuts";
    case fault_span::kind::crash: return "crash";
    case fault_span::kind::stall: return "stall";
  }
  return "?";
}

lane_shares to_shares(const std::array<uint64_t, 5>& counts) {
  lane_shares s{};
  uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return s;
  uint64_t cum = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    cum += counts[k];
    // Round half up on exact integers: cum * 255 fits easily in 64 bits.
    s[k] = static_cast<uint8_t>((cum * 255 + total / 2) / total);
  }
  return s;
}

std::string run_trace::lane_label(std::size_t lane) const {
  auto first = lane * nodes_per_lane;
  auto last = std::min(nodes, first + nodes_per_lane) - 1;
  if (first >= last) return sim_node_name(first);
  return sim_node_name(first) + "-" + sim_node_name(last);
}

trace_recorder::trace_recorder(run_trace& out, std::size_t nodes,
                               std::size_t max_lanes, double sample_interval_s)
  : out_(out), interval_s_(sample_interval_s) {
  max_lanes = std::max<std::size_t>(1, max_lanes);
  out_ = run_trace{};
  out_.nodes = nodes;
  out_.nodes_per_lane = std::max<std::size_t>(1, (nodes + max_lanes - 1) / max_lanes);
  out_.lanes = (nodes + out_.nodes_per_lane - 1) / out_.nodes_per_lane;
  truth_.assign(nodes, truth_band::absent);
  obs_lanes_.assign(nodes, {});
  obs_key_.assign(nodes, {0, 0});
  obs_valid_.assign(nodes, false);
  prev_mem_.assign(nodes, 0);
  prev_md_.assign(nodes, 0);
  for (std::size_t i = 0; i < nodes; ++i) index_[sim_node_name(i)] = i;
}

// -- spans ----------------------------------------------------------------------

void trace_recorder::open(fault_span::kind k, std::size_t node,
                          std::string label, double t) {
  close(k, node, t);
  fault_span f;
  f.what = k;
  f.start_s = t;
  f.end_s = t;
  f.label = std::move(label);
  f.node = node;
  open_[{k, node}] = out_.faults.size();
  out_.faults.push_back(std::move(f));
}

void trace_recorder::close(fault_span::kind k, std::size_t node, double t) {
  auto it = open_.find({k, node});
  if (it == open_.end()) return;
  out_.faults[it->second].end_s = t;
  open_.erase(it);
}

void trace_recorder::node_started(std::size_t i, double t) {
  if (i >= truth_.size()) return;
  if (truth_[i] == truth_band::down) {
    close(fault_span::kind::crash, i, t);
    mark(t, "restart " + sim_node_name(i), i);
  }
  truth_[i] = truth_band::up;
}

void trace_recorder::node_crashed(std::size_t i, double t) {
  if (i >= truth_.size()) return;
  truth_[i] = truth_band::down;
  open(fault_span::kind::crash, i, "crash " + sim_node_name(i), t);
}

void trace_recorder::node_left(std::size_t i, double t) {
  if (i >= truth_.size()) return;
  truth_[i] = truth_band::left;
  mark(t, "leave " + sim_node_name(i), i);
}

void trace_recorder::stalled(std::size_t i, double t, double until) {
  if (i >= truth_.size()) return;
  fault_span f;
  f.what = fault_span::kind::stall;
  f.start_s = t;
  f.end_s = std::max(t, until);
  f.label = "stall " + sim_node_name(i);
  f.node = i;
  out_.faults.push_back(std::move(f));
}

void trace_recorder::faults_set(const link_faults& f, const std::string& what,
                                double t) {
  close(fault_span::kind::link_faults, no_node, t);
  if (f.loss > 0 || f.duplicate > 0)
    open(fault_span::kind::link_faults, no_node, what, t);
}

void trace_recorder::burst_set(bool on, const std::string& what, double t) {
  close(fault_span::kind::burst_loss, no_node, t);
  if (on) open(fault_span::kind::burst_loss, no_node, what, t);
}

void trace_recorder::partitioned(
  const std::vector<std::vector<std::size_t>>& groups, double t) {
  std::string label = std::to_string(groups.size()) + "-way partition (";
  for (std::size_t k = 0; k < groups.size(); ++k)
    label += (k ? " | " : "") + std::to_string(groups[k].size());
  open(fault_span::kind::partition, no_node, label + ")", t);
}

void trace_recorder::healed(double t) {
  close(fault_span::kind::partition, no_node, t);
  blocks_.clear();
  close_cut(t);
}

void trace_recorder::blocked(std::size_t from, std::size_t to, double t) {
  if (blocks_.empty()) {
    cut_links_.clear();
    open(fault_span::kind::cut, no_node, "link cuts", t);
  }
  blocks_.insert({from, to});
  cut_links_.insert({from, to});
}

void trace_recorder::unblocked(std::size_t from, std::size_t to, double t) {
  if (blocks_.erase({from, to}) == 0) return;
  if (blocks_.empty()) close_cut(t);
}

void trace_recorder::close_cut(double t) {
  auto it = open_.find({fault_span::kind::cut, no_node});
  if (it == open_.end()) return;
  out_.faults[it->second].label = cut_label();
  close(fault_span::kind::cut, no_node, t);
}

std::string trace_recorder::cut_label() const {
  if (cut_links_.empty()) return "link cuts";
  // One node on every cut link: "n7 -> 10 nodes" (one-way) or "n7 <-> 29
  // nodes"; otherwise the links themselves, a few of them.
  std::map<std::size_t, std::size_t> degree;
  for (auto& [a, b] : cut_links_) {
    ++degree[a];
    if (b != a) ++degree[b];
  }
  for (auto& [x, d] : degree) {
    if (d != cut_links_.size()) continue;
    std::set<std::size_t> out, in;
    for (auto& [a, b] : cut_links_) (a == x ? out : in).insert(a == x ? b : a);
    auto n = std::max(out.size(), in.size());
    if (n <= 1) break; // one peer: name the link itself
    std::string who = std::to_string(n) + (n == 1 ? " node" : " nodes");
    if (out == in) return sim_node_name(x) + " <-> " + who + " cut";
    if (in.empty()) return "one-way cut " + sim_node_name(x) + " -> " + who;
    if (out.empty()) return "one-way cut " + who + " -> " + sim_node_name(x);
    return sim_node_name(x) + " partly cut from " + who;
  }
  std::string s = "cut";
  std::size_t shown = 0;
  std::set<std::pair<std::size_t, std::size_t>> done;
  for (auto& [a, b] : cut_links_) {
    if (done.count({a, b})) continue;
    bool both = cut_links_.count({b, a}) > 0;
    done.insert({a, b});
    done.insert({b, a});
    if (shown++ < 3)
      s += (shown > 1 ? ", " : " ") + sim_node_name(a) + (both ? "<->" : "->")
           + sim_node_name(b);
  }
  if (shown > 3) s += " +" + std::to_string(shown - 3);
  return s;
}

void trace_recorder::acked(const std::string& key, const metadata::version& v,
                           double t) {
  auto it = ledger_.find(key);
  if (it == ledger_.end() || it->second < v) {
    ledger_[key] = v;
    digest_ok_.clear();
  }
  out_.writes_s.push_back(t);
}

void trace_recorder::settled(double t) {
  out_.settle_s = t;
  mark(t, "settle");
}

void trace_recorder::mark(double t, std::string label, std::size_t node) {
  out_.marks.push_back({t, std::move(label), node});
}

void trace_recorder::finish(double t) {
  out_.end_s = t;
  std::vector<std::pair<fault_span::kind, std::size_t>> keys;
  for (auto& [k, _] : open_) keys.push_back(k);
  for (auto& [kind, node] : keys) {
    if (kind == fault_span::kind::cut) close_cut(t);
    else close(kind, node, t);
  }
}

// -- samples --------------------------------------------------------------------

void trace_recorder::observe(std::size_t obs, const cluster_node& n) {
  auto& lanes = obs_lanes_[obs];
  lanes.assign(out_.lanes, counts{});
  std::vector<std::size_t> known(out_.lanes, 0);
  for (auto& m : n.observed_members()) {
    auto it = index_.find(m.name);
    if (it == index_.end()) continue;
    auto lane = out_.lane_of(it->second);
    view_band b = view_band::alive;
    switch (m.state) {
      case member_state::alive: b = view_band::alive; break;
      case member_state::suspect: b = view_band::suspect; break;
      case member_state::dead: b = view_band::dead; break;
      case member_state::left: b = view_band::left; break;
    }
    ++lanes[lane][static_cast<std::size_t>(b)];
    ++known[lane];
  }
  for (std::size_t l = 0; l < out_.lanes; ++l) {
    auto first = l * out_.nodes_per_lane;
    auto size = std::min(out_.nodes, first + out_.nodes_per_lane) - first;
    lanes[l][static_cast<std::size_t>(view_band::unknown)] =
      size > known[l] ? size - known[l] : 0;
  }
}

double trace_recorder::md_fraction(const std::vector<node_snapshot>& nodes) {
  std::size_t up = 0, good = 0;
  for (auto& s : nodes) {
    if (!s.up || s.node == nullptr) continue;
    ++up;
    auto d = s.node->store_digest();
    auto it = digest_ok_.find(d);
    if (it == digest_ok_.end()) {
      // Equal digests mean equal key/version sets: judge one holder.
      bool ok = true;
      for (auto& [key, ver] : ledger_) {
        auto held = s.node->version_of(key);
        if (!held || *held < ver) {
          ok = false;
          break;
        }
      }
      it = digest_ok_.emplace(d, ok).first;
    }
    good += it->second;
  }
  return up ? static_cast<double>(good) / static_cast<double>(up) : 0.0;
}

void trace_recorder::sample(double t, const std::vector<node_snapshot>& nodes,
                            double mem_fraction) {
  if (!out_.t_s.empty() && t <= out_.t_s.back()) return;
  auto n = std::min(nodes.size(), out_.nodes);
  std::vector<counts> view(out_.lanes, counts{}), truth(out_.lanes, counts{});
  for (std::size_t i = 0; i < n; ++i) {
    auto& s = nodes[i];
    auto tb = truth_[i];
    if (tb == truth_band::up && s.stalled) tb = truth_band::stalled;
    ++truth[out_.lane_of(i)][static_cast<std::size_t>(tb)];
    if (!s.up || s.node == nullptr) continue;
    std::pair<uint64_t, uint64_t> key{s.instance, s.node->view_changes()};
    if (!obs_valid_[i] || obs_key_[i] != key) {
      observe(i, *s.node);
      obs_key_[i] = key;
      obs_valid_[i] = true;
    }
    for (std::size_t l = 0; l < out_.lanes; ++l)
      for (std::size_t b = 0; b < view_bands; ++b)
        view[l][b] += obs_lanes_[i][l][b];
  }
  out_.t_s.push_back(t);
  for (std::size_t l = 0; l < out_.lanes; ++l) {
    out_.views.push_back(to_shares(view[l]));
    out_.truth.push_back(to_shares(truth[l]));
  }
  out_.mem_agree.push_back(mem_fraction);
  out_.md_agree.push_back(md_fraction(nodes));
  // Traffic since the previous rate sample.
  double dt = t - prev_t_;
  if (dt < interval_s_ / 2 && !out_.mem_bps_mean.empty()) {
    out_.mem_bps_mean.push_back(out_.mem_bps_mean.back());
    out_.md_bps_mean.push_back(out_.md_bps_mean.back());
    out_.mem_bps_max.push_back(out_.mem_bps_max.back());
    out_.md_bps_max.push_back(out_.md_bps_max.back());
    out_.end_s = t;
    return;
  }
  double mem_sum = 0, md_sum = 0, mem_max = 0, md_max = 0;
  std::size_t up = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto& s = nodes[i];
    double dm = s.mem_bytes >= prev_mem_[i] ? double(s.mem_bytes - prev_mem_[i]) : 0;
    double dd = s.md_bytes >= prev_md_[i] ? double(s.md_bytes - prev_md_[i]) : 0;
    prev_mem_[i] = s.mem_bytes;
    prev_md_[i] = s.md_bytes;
    mem_sum += dm;
    md_sum += dd;
    mem_max = std::max(mem_max, dm);
    md_max = std::max(md_max, dd);
    up += s.up;
  }
  prev_t_ = t;
  double per = dt > 0 ? 1.0 / dt : 0.0;
  double nup = static_cast<double>(std::max<std::size_t>(1, up));
  out_.mem_bps_mean.push_back(mem_sum * per / nup);
  out_.md_bps_mean.push_back(md_sum * per / nup);
  out_.mem_bps_max.push_back(mem_max * per);
  out_.md_bps_max.push_back(md_max * per);
  out_.end_s = t;
}

} // namespace pekonode::chaos
