#pragma once
// A deterministic network of user-event cores for tests: virtual time,
// seeded i.i.d. loss, a fixed delay, and cuts. Pure: no CAF.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "userevents/core.h"

namespace pekonode::userevents::testing {

inline std::string node_name(size_t i) { return "n" + std::to_string(i); }
inline address node_addr(size_t i) {
  return "10.0.0." + std::to_string(i + 1) + ":7946";
}

class net {
public:
  using tags = std::map<std::string, std::string>;

  net(size_t n, uint64_t seed, double loss, config cfg = config::lan(),
      std::function<tags(size_t)> tags_of = nullptr)
    : rng_(seed), loss_(loss) {
    for (size_t i = 0; i < n; ++i)
      cores_.push_back(std::make_unique<core>(cfg, node_name(i), node_addr(i),
                                              seed * 1000 + i));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j)
        cores_[i]->set_member(node_name(j), node_addr(j), true,
                              tags_of ? tags_of(j) : tags{});
    delivered_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      outbound_list out;
      cores_[i]->poll(now_, out);
      send(i, out);
    }
  }

  core& at(size_t i) { return *cores_[i]; }
  size_t size() const { return cores_.size(); }
  time_point now() const { return now_; }

  /// Drops every datagram to and from node i while set.
  void isolate(size_t i, bool on) {
    if (on) isolated_.insert(i); else isolated_.erase(i);
  }

  /// Called for each delivery at node i (e.g. to answer queries).
  std::function<void(size_t, const delivery&, outbound_list&)> on_delivery;

  /// What node i delivered so far.
  const std::vector<user_event>& delivered(size_t i) const {
    return delivered_[i];
  }
  std::vector<query_result>& finished(size_t i) { return finished_[i]; }

  /// Sends what a local call produced at node i.
  void send(size_t from, outbound_list& out) {
    for (auto& o : out) {
      bytes_ += o.payload.size();
      size_t to = index_of(o.to);
      if (to == SIZE_MAX || isolated_.count(from) || isolated_.count(to))
        continue;
      if (std::uniform_real_distribution<double>(0, 1)(rng_) < loss_)
        continue;
      queue_.emplace(now_ + delay_, msg{from, to, std::move(o.payload)});
    }
    out.clear();
    collect(from);
  }

  /// Injects a raw packet at node `to`, as if `from_addr` sent it.
  void inject(size_t to, const address& from_addr, const std::string& sender,
              const std::string& bytes) {
    outbound_list out;
    cores_[to]->handle(from_addr, sender, bytes, now_, out);
    send(to, out);
  }

  /// Runs for `d` of virtual time in 5 ms steps.
  void run(duration d) {
    auto end = now_ + d;
    while (now_ < end) {
      now_ += std::chrono::milliseconds(5);
      while (!queue_.empty() && queue_.begin()->first <= now_) {
        auto m = std::move(queue_.begin()->second);
        queue_.erase(queue_.begin());
        outbound_list out;
        cores_[m.to]->handle(node_addr(m.from), node_name(m.from), m.bytes,
                             now_, out);
        send(m.to, out);
      }
      for (size_t i = 0; i < cores_.size(); ++i) {
        if (cores_[i]->next_wakeup() <= now_) {
          outbound_list out;
          cores_[i]->poll(now_, out);
          send(i, out);
        }
      }
    }
  }

  uint64_t bytes() const { return bytes_; }

private:
  struct msg {
    size_t from;
    size_t to;
    std::string bytes;
  };

  size_t index_of(const address& a) const {
    for (size_t i = 0; i < cores_.size(); ++i)
      if (node_addr(i) == a)
        return i;
    return SIZE_MAX;
  }

  void collect(size_t i) {
    for (auto& d : cores_[i]->drain_deliveries()) {
      delivered_[i].push_back(d.ev);
      if (on_delivery) {
        outbound_list out;
        on_delivery(i, d, out);
        send(i, out);
      }
    }
    for (auto& r : cores_[i]->drain_finished())
      finished_[i].push_back(std::move(r));
  }

  std::vector<std::unique_ptr<core>> cores_;
  std::vector<std::vector<user_event>> delivered_;
  std::map<size_t, std::vector<query_result>> finished_;
  std::multimap<time_point, msg> queue_;
  std::set<size_t> isolated_;
  std::mt19937_64 rng_;
  double loss_;
  duration delay_ = std::chrono::milliseconds(5);
  time_point now_{std::chrono::seconds(1000)};
  uint64_t bytes_ = 0;
};

} // namespace pekonode::userevents::testing
