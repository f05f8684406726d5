#pragma once
// Test-only simulated network for metadata cores: virtual time, per-packet
// latency, i.i.d. loss, duplication and reordering, partitions. Not the
// chaos harness (chaos/): just enough to route packets between cores.

#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "metadata/core.h"

namespace pekonode::metadata::testing {

struct faults {
  double loss = 0;
  double duplicate = 0;
  milliseconds min_delay{1};
  milliseconds max_delay{5};
};

class test_net {
public:
  test_net(size_t n, config cfg, uint64_t seed)
    : rng_(seed), skew_(n, 0) {
    for (size_t i = 0; i < n; ++i) {
      addrs_.push_back("10.0.0." + std::to_string(i) + ":7946");
      nodes_.push_back(std::make_unique<core>(cfg, "node" + std::to_string(i),
                                              seed * 1000 + i));
    }
    for (size_t i = 0; i < n; ++i) {
      std::vector<address> peers;
      for (size_t j = 0; j < n; ++j)
        if (j != i)
          peers.push_back(addrs_[j]);
      nodes_[i]->set_peers(peers);
      index_[addrs_[i]] = i;
    }
  }

  core& node(size_t i) { return *nodes_[i]; }
  const address& addr(size_t i) const { return addrs_[i]; }
  size_t size() const { return nodes_.size(); }
  time_point now() const { return now_; }
  /// Wall clock in ms, identical on all nodes unless skewed.
  uint64_t wall(size_t i) const {
    return wall0_ + skew_[i]
           + std::chrono::duration_cast<milliseconds>(now_.time_since_epoch())
               .count();
  }
  void set_skew(size_t i, int64_t ms) { skew_[i] = ms; }

  faults net_faults;
  /// Called after every call into node i (before its output is sent): a
  /// test can act as the shell there (e.g. report durable entries).
  std::function<void(size_t, outbound_list&)> after_call;
  uint64_t delivered = 0;
  uint64_t bytes = 0;
  size_t largest_payload = 0;

  void cut(size_t a, size_t b) {
    cuts_.insert({a, b});
    cuts_.insert({b, a});
  }
  void heal() { cuts_.clear(); }

  /// Sends what a node produced.
  void send(size_t from, outbound_list& out) {
    for (auto& o : out) {
      largest_payload = std::max(largest_payload, o.payload.size());
      auto to = index_.find(o.to);
      if (to == index_.end())
        continue;
      std::uniform_real_distribution<double> u(0, 1);
      if (cuts_.count({from, to->second}) || u(rng_) < net_faults.loss)
        continue;
      int copies = u(rng_) < net_faults.duplicate ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        std::uniform_int_distribution<int64_t> d(net_faults.min_delay.count(),
                                                 net_faults.max_delay.count());
        q_.push(packet{now_ + milliseconds{d(rng_)}, seq_++, from,
                       to->second, o.payload});
      }
    }
    out.clear();
  }

  /// Runs until `t`, delivering packets and polling cores at their wakeups.
  void run_until(time_point t) {
    outbound_list out;
    while (true) {
      while (!q_.empty() && q_.top().at <= now_) {
        auto p = q_.top();
        q_.pop();
        ++delivered;
        bytes += p.payload.size();
        nodes_[p.to]->handle(addrs_[p.from], p.payload, wall(p.to), now_,
                             out);
        if (after_call)
          after_call(p.to, out);
        send(p.to, out);
      }
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i]->next_wakeup() <= now_) {
          nodes_[i]->poll(wall(i), now_, out);
          if (after_call)
            after_call(i, out);
          send(i, out);
        }
      }
      time_point next = t;
      if (!q_.empty())
        next = std::min(next, q_.top().at);
      for (auto& n : nodes_)
        next = std::min(next, std::max(now_ + duration{1}, n->next_wakeup()));
      if (next > t || now_ >= t)
        break;
      now_ = next;
    }
    now_ = t;
  }
  void run_for(duration d) { run_until(now_ + d); }

  /// Runs in steps until pred() or the deadline; returns elapsed time.
  duration run_until_true(const std::function<bool()>& pred, duration limit,
                          duration step = milliseconds(50)) {
    auto start = now_;
    while (!pred() && now_ - start < limit)
      run_for(step);
    return now_ - start;
  }

  bool converged() {
    for (auto& n : nodes_)
      if (n->digest() != nodes_[0]->digest())
        return false;
    return true;
  }

  void put(size_t i, const std::string& k, const std::string& v) {
    outbound_list out;
    nodes_[i]->put(k, v, wall(i), now_, out);
    send(i, out);
  }
  void del(size_t i, const std::string& k) {
    outbound_list out;
    nodes_[i]->del(k, wall(i), now_, out);
    send(i, out);
  }

private:
  struct packet {
    time_point at;
    uint64_t seq;
    size_t from;
    size_t to;
    std::string payload;
    bool operator>(const packet& o) const {
      return at != o.at ? at > o.at : seq > o.seq;
    }
  };
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<core>> nodes_;
  std::vector<address> addrs_;
  std::map<address, size_t> index_;
  std::vector<int64_t> skew_;
  std::set<std::pair<size_t, size_t>> cuts_;
  std::priority_queue<packet, std::vector<packet>, std::greater<packet>> q_;
  uint64_t seq_ = 0;
  time_point now_{seconds(1)};
  uint64_t wall0_ = 1'700'000'000'000ULL;
};

} // namespace pekonode::metadata::testing
