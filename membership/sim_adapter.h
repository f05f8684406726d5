#pragma once
// Test/bench helper: runs membership cores on //chaos:simnet and offers
// cluster-wide checks (who sees whom in which state). Test-only; the real
// node drives the core from a CAF actor shell instead.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/simnet.h"
#include "membership/core.h"

namespace pekonode::membership::testing {

/// One simulated node: a core plus a log of its events with timestamps.
class sim_member : public sim::sim_node {
public:
  sim_member(config cfg, std::string name, address addr, uint64_t seed,
             std::map<std::string, std::string> tags = {})
    : core_(std::move(cfg), std::move(name), addr, std::move(tags), seed),
      addr_(std::move(addr)) {}

  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point now,
                   outbound_list& out) override {
    if (chan == channel::metadata && from == "ctl:0") {
      auto acts = std::move(actions);
      actions.clear();
      for (auto& a : acts) a(core_, now, out);
    } else if (chan == channel::membership) {
      core_.handle(from, payload, now, out);
    }
    collect(now);
  }

  void poll(time_point now, outbound_list& out) override {
    core_.poll(now, out);
    collect(now);
  }

  time_point next_wakeup() const override { return core_.next_wakeup(); }

  core& c() { return core_; }
  const address& addr() const { return addr_; }

  /// API calls queued by sim_cluster::act, run on the next control datagram.
  std::vector<std::function<void(core&, time_point, outbound_list&)>> actions;

  struct logged {
    time_point at;
    event ev;
  };
  std::vector<logged> log;

  /// State of `name` in this node's view, or nullopt-like false.
  bool view(const std::string& name, member_state& st, uint64_t* inc = nullptr) const {
    auto* m = core_.find(name);
    if (!m) return false;
    st = m->state;
    if (inc) *inc = m->incarnation;
    return true;
  }

  bool sees(const std::string& name, member_state want) const {
    member_state st;
    return view(name, st) && st == want;
  }

  /// Which event kinds go to `log` (bit 1 << event::kind_t); all by default.
  /// Large benches keep only what they assert on to save memory.
  uint32_t log_mask = ~0u;

  void collect(time_point now) {
    for (auto& e : core_.drain_events())
      if (log_mask & (1u << e.kind)) log.push_back({now, std::move(e)});
  }

private:
  core core_;
  address addr_;
};

inline std::string node_name(std::size_t i) { return "n" + std::to_string(i); }
inline address node_addr(std::size_t i) {
  return "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":7946";
}

/// Address of the cluster's control node (drives API calls into members).
inline const address control_addr = "ctl:0";

/// A cluster of N sim_members on one simnet. API calls on a member (join,
/// leave, set_tags, ...) run inside a simnet callback: a loss-free control
/// datagram wakes the member, which then runs its queued actions.
class sim_cluster {
public:
  using action = std::function<void(core&, time_point, outbound_list&)>;

  sim_cluster(std::size_t n, config cfg, uint64_t seed)
    : net(seed), cfg_(cfg), seed_(seed) {
    ctl_.owner = this;
    for (std::size_t i = 0; i < n; ++i) add_node(i);
  }

  /// Creates (or re-creates, for a restart) node i, not yet attached.
  sim_member& add_node(std::size_t i) {
    if (nodes.size() <= i) nodes.resize(i + 1);
    nodes[i] = std::make_unique<sim_member>(
      cfg_, node_name(i), node_addr(i), seed_ * 7919 + i * 104729 + 31 * restarts_++);
    return *nodes[i];
  }

  /// Runs `fn` on node i's core at the current virtual time.
  void act(std::size_t i, action fn) {
    nodes[i]->actions.push_back(std::move(fn));
    ctl_.pending.push_back(i);
    net.set_link_faults(control_addr, node_addr(i), sim::link_faults{});
    net.attach(control_addr, &ctl_);
  }

  /// Attaches node i and joins it through `seeds` (node indices).
  void start(std::size_t i, const std::vector<std::size_t>& seeds) {
    std::vector<address> s;
    for (auto j : seeds) s.push_back(node_addr(j));
    net.attach(node_addr(i), nodes[i].get());
    act(i, [s](core& c, time_point now, outbound_list& out) { c.join(s, now, out); });
  }

  /// Crash: detach node i (its core is kept for inspection).
  void crash(std::size_t i) { net.detach(node_addr(i)); }

  /// Every node in `who` sees `name` in state `st`.
  bool all_see(const std::vector<std::size_t>& who, const std::string& name,
               member_state st) const {
    for (auto i : who)
      if (!nodes[i]->sees(name, st)) return false;
    return true;
  }

  /// Number of members that node i sees alive (self included).
  std::size_t alive_count(std::size_t i) const {
    return nodes[i]->c().count(member_state::alive);
  }

  /// Runs in steps of `step` until pred() or `limit` elapsed; returns the
  /// elapsed time, or duration::max() on timeout.
  template <class Pred>
  duration run_until(Pred pred, duration limit,
                     duration step = std::chrono::milliseconds(10)) {
    auto start = net.now();
    while (net.now() - start <= limit) {
      if (pred()) return net.now() - start;
      net.run_for(step);
    }
    return duration::max();
  }

  static std::vector<std::size_t> range(std::size_t a, std::size_t b) {
    std::vector<std::size_t> r;
    for (auto i = a; i < b; ++i) r.push_back(i);
    return r;
  }

  sim::simnet net;
  std::vector<std::unique_ptr<sim_member>> nodes;

private:
  struct control : sim::sim_node {
    void on_datagram(const address&, channel, const std::string&, time_point,
                     outbound_list&) override {}
    void poll(time_point, outbound_list& out) override {
      for (auto i : pending)
        out.push_back(outbound{node_addr(i), channel::metadata, "ctl"});
      pending.clear();
    }
    time_point next_wakeup() const override {
      return pending.empty() ? time_point::max() : owner->net.now();
    }
    sim_cluster* owner = nullptr;
    std::vector<std::size_t> pending;
  };

  control ctl_;
  config cfg_;
  uint64_t seed_;
  uint64_t restarts_ = 0;
};

} // namespace pekonode::membership::testing
