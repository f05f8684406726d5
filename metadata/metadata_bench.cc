// Benchmark of the metadata core on the deterministic simulator
// (//chaos:simnet): spread latency of updates at N = 1000 with and without
// loss, large values, a joiner catching up on 10 MiB, concurrent writers,
// and the idle cost per node. Metadata only: peers are fixed (no membership
// layer), so figures isolate the metadata protocol. Not a unit test.
//
//   bazel run -c opt //metadata:metadata_bench [-- --seeds=5]
//       [--only=spread,large,joiner,writers,steady] [--joiner_seeds=1]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sim/simnet.h"
#include "metadata/core.h"

namespace pekonode::metadata {
namespace {

using sim::simnet;

constexpr uint64_t wall_base_ms = 1'700'000'000'000ULL;

/// One metadata core on a simnet address. Wall clock = base + virtual time.
class bench_node : public sim::sim_node {
public:
  bench_node(const config& cfg, std::string name, uint64_t seed,
             time_point epoch)
    : core_(cfg, std::move(name), seed), epoch_(epoch) {
  }

  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point now,
                   outbound_list& out) override {
    if (chan == channel::metadata)
      core_.handle(from, payload, wall(now), now, out);
  }
  void poll(time_point now, outbound_list& out) override {
    core_.poll(wall(now), now, out);
    out.insert(out.end(), std::make_move_iterator(pending_.begin()),
               std::make_move_iterator(pending_.end()));
    pending_.clear();
  }
  time_point next_wakeup() const override {
    return pending_.empty() ? core_.next_wakeup()
                            : std::min(core_.next_wakeup(), pending_at_);
  }

  /// A client write from outside the simulator; call simnet::wake after.
  void put(const std::string& k, std::string v, time_point now) {
    if (pending_.empty())
      pending_at_ = now;
    core_.put(k, std::move(v), wall(now), now, pending_);
  }
  core& md() { return core_; }

private:
  uint64_t wall(time_point now) const {
    return wall_base_ms
           + static_cast<uint64_t>(
             std::chrono::duration_cast<milliseconds>(now - epoch_).count());
  }
  core core_;
  time_point epoch_;
  outbound_list pending_;
  time_point pending_at_{}; // when pending_ became due
};

/// N nodes, each knowing every other as a peer (the view membership gives).
struct cluster {
  simnet net;
  std::vector<std::unique_ptr<bench_node>> nodes;
  std::vector<address> addrs;

  cluster(size_t n, const config& cfg, uint64_t seed, double loss)
    : net(seed) {
    net.set_default_faults({loss, milliseconds(1), milliseconds(5), 0});
    for (size_t i = 0; i < n; ++i)
      addrs.push_back("10." + std::to_string(i / 250) + "."
                      + std::to_string(i % 250) + ".1:7946");
    for (size_t i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<bench_node>(
        cfg, "node" + std::to_string(i), seed * 7919 + i, net.now()));
      set_peers(i, n);
    }
    for (size_t i = 0; i < n; ++i)
      net.attach(addrs[i], nodes[i].get());
  }
  /// Node i's peers are nodes [0, limit) other than itself.
  void set_peers(size_t i, size_t limit) {
    std::vector<address> peers;
    for (size_t j = 0; j < limit; ++j)
      if (j != i)
        peers.push_back(addrs[j]);
    nodes[i]->md().set_peers(std::move(peers));
  }
  void put(size_t i, const std::string& k, std::string v) {
    nodes[i]->put(k, std::move(v), net.now());
    net.wake(addrs[i]);
  }
  bool converged(size_t limit) const {
    for (size_t i = 1; i < limit; ++i)
      if (nodes[i]->md().digest() != nodes[0]->md().digest())
        return false;
    return true;
  }
  /// Runs in `step`s until pred() or `limit`; returns elapsed virtual time
  /// (limit if pred never held).
  duration run_until(const std::function<bool()>& pred, duration limit,
                     duration step = milliseconds(10)) {
    auto start = net.now();
    while (!pred() && net.now() - start < limit)
      net.run_for(step);
    return net.now() - start;
  }
  uint64_t bytes_out() const {
    uint64_t b = 0;
    for (auto& a : addrs)
      b += net.stats(a).bytes_out;
    return b;
  }
};

double secs(duration d) { return std::chrono::duration<double>(d).count(); }

/// Nearest-rank percentile of `v` (sorted copy).
double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, rank > 0 ? rank - 1 : 0)];
}

std::string random_value(size_t n, std::mt19937_64& rng) {
  std::string v(n, '\0');
  for (auto& c : v)
    c = static_cast<char>(rng());
  return v;
}

bool all_have(cluster& c, const std::string& key, const std::string& v) {
  for (auto& n : c.nodes) {
    auto e = n->md().get(key);
    if (!e || e->value != v)
      return false;
  }
  return true;
}

// 1. An update written on node 0 readable on every node.
void spread(size_t n, size_t size, double loss, int seeds) {
  std::vector<double> all, node_p99;
  uint64_t packets = 0;
  for (int s = 1; s <= seeds; ++s) {
    cluster c(n, config::lan(), 100 + s, loss);
    c.net.run_for(seconds(2)); // timers settle, AE rounds start
    std::mt19937_64 rng(s);
    auto v = random_value(size, rng);
    auto before = c.net.total_datagrams();
    c.put(0, "conf/app", v);
    auto start = c.net.now();
    std::vector<double> reach(n, -1);
    size_t have = 0;
    while (have < n && c.net.now() - start < seconds(30)) {
      c.net.run_for(milliseconds(10));
      for (size_t i = 0; i < n; ++i)
        if (reach[i] < 0) {
          auto e = c.nodes[i]->md().get("conf/app");
          if (e && e->value == v) {
            reach[i] = secs(c.net.now() - start);
            ++have;
          }
        }
    }
    for (auto& r : reach)
      if (r < 0)
        r = 1e9; // never: shows up as an absurd figure
    all.push_back(*std::max_element(reach.begin(), reach.end()));
    node_p99.push_back(pct(reach, 99));
    packets += c.net.total_datagrams() - before;
  }
  std::printf("%-6zu %-7zu %4.0f%%  %8.3f %8.3f %8.3f   %8.3f  %9.0f\n", n,
              size, loss * 100, pct(all, 50), pct(all, 99),
              *std::max_element(all.begin(), all.end()), pct(node_p99, 50),
              static_cast<double>(packets) / seeds);
}

// 2. A 512 KiB value written on one of 5 nodes, readable on all.
void large_value(int seeds) {
  std::vector<double> t;
  for (int s = 1; s <= seeds; ++s) {
    cluster c(5, config::lan(), 200 + s, 0);
    c.net.run_for(seconds(1));
    std::mt19937_64 rng(s);
    auto v = random_value(512 * 1024, rng);
    c.put(2, "blob", v);
    t.push_back(secs(
      c.run_until([&] { return all_have(c, "blob", v); }, seconds(60))));
  }
  std::printf("512 KiB on 5 nodes, 0%% loss: p50 %.3f s  max %.3f s  "
              "(%d seeds)\n",
              pct(t, 50), *std::max_element(t.begin(), t.end()), seeds);
}

// 3. Four nodes hold `keys` x `size` bytes; a fifth joins and catches up.
void joiner(size_t keys, size_t size, uint64_t seed) {
  constexpr size_t members = 4;
  cluster c(members + 1, config::lan(), seed, 0);
  for (size_t i = 0; i < members; ++i)
    c.set_peers(i, members); // the joiner is unknown yet
  c.nodes[members]->md().set_peers({});
  std::mt19937_64 rng(seed);
  for (size_t k = 0; k < keys; ++k) {
    c.put(k % members, "data/" + std::to_string(k), random_value(size, rng));
    if (k % 50 == 49)
      c.net.run_for(milliseconds(20));
  }
  auto fill = c.run_until([&] { return c.converged(members); }, seconds(300),
                          milliseconds(100));
  if (!c.converged(members)) {
    std::printf("joiner %zu x %zu: members did not converge\n", keys, size);
    return;
  }
  // Join: everyone learns of everyone (what membership would report).
  for (size_t i = 0; i <= members; ++i)
    c.set_peers(i, members + 1);
  auto bytes0 = c.bytes_out();
  auto took = c.run_until([&] { return c.converged(members + 1); },
                          seconds(300), milliseconds(20));
  std::printf("joiner catches up on %zu x %zu B = %.1f MiB: %.2f s "
              "(%s; %.1f MiB on the wire; members filled in %.1f s; "
              "seed %llu)\n",
              keys, size, keys * size / 1048576.0, secs(took),
              c.converged(members + 1) ? "converged" : "NOT converged",
              (c.bytes_out() - bytes0) / 1048576.0, secs(fill),
              static_cast<unsigned long long>(seed));
}

// 4. Writers on several nodes overwrite the same keys under 10% loss; after
// the writes stop every node must hold the same winner for every key.
void concurrent_writers(uint64_t seed) {
  constexpr size_t n = 50, writers = 5, keys = 10;
  cluster c(n, config::lan(), seed, 0.10);
  c.net.run_for(seconds(1));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    auto w = rng() % writers;
    c.put(w, "shared/" + std::to_string(rng() % keys),
          random_value(16 + rng() % 2000, rng));
    c.net.run_for(milliseconds(rng() % 10));
  }
  auto took = c.run_until([&] { return c.converged(n); }, seconds(60));
  size_t mismatched = 0;
  for (size_t k = 0; k < keys; ++k) {
    auto key = "shared/" + std::to_string(k);
    auto ref = c.nodes[0]->md().get(key);
    for (auto& node : c.nodes) {
      auto e = node->md().get(key);
      if ((e == nullptr) != (ref == nullptr)
          || (e && (e->value != ref->value || e->ver != ref->ver)))
        ++mismatched;
    }
  }
  std::printf("concurrent writers: %zu nodes, %zu writers x 200 writes to "
              "%zu keys, 10%% loss, seed %llu: converged %s in %.2f s after "
              "the last write, mismatched (node, key) pairs: %zu\n",
              n, writers, keys, static_cast<unsigned long long>(seed),
              c.converged(n) ? "yes" : "NO", secs(took), mismatched);
}

// 5. Idle cost: stores agree (a few keys written and spread), rumours are
// done; bytes per second per node, sent, with IP/UDP/envelope overhead.
void steady_state(size_t n) {
  cluster c(n, config::lan(), 500 + n, 0);
  for (int k = 0; k < 20; ++k)
    c.put(k % n, "conf/" + std::to_string(k), std::string(200, 'x'));
  c.run_until([&] { return c.converged(n); }, seconds(60), milliseconds(100));
  c.net.run_for(seconds(10)); // rumour retransmissions finish
  auto b0 = c.bytes_out();
  auto d0 = c.net.total_datagrams();
  constexpr int window = 30;
  c.net.run_for(seconds(window));
  double per_node = static_cast<double>(c.bytes_out() - b0) / n / window;
  double pkts = static_cast<double>(c.net.total_datagrams() - d0) / n / window;
  std::printf("N=%-5zu %8.1f B/s  %6.2f datagrams/s per node (sent; "
              "converged: %s)\n",
              n, per_node, pkts, c.converged(n) ? "yes" : "NO");
}

} // namespace
} // namespace pekonode::metadata

int main(int argc, char** argv) {
  using namespace pekonode::metadata;
  int seeds = 5;
  std::string args;
  std::string only; // comma list of sections; empty: all
  int joiner_seeds = 1;
  for (int i = 1; i < argc; ++i) {
    args += std::string(" ") + argv[i];
    if (std::strncmp(argv[i], "--seeds=", 8) == 0)
      seeds = std::max(1, std::atoi(argv[i] + 8));
    else if (std::strncmp(argv[i], "--joiner_seeds=", 15) == 0)
      joiner_seeds = std::max(1, std::atoi(argv[i] + 15));
    else if (std::strncmp(argv[i], "--only=", 7) == 0)
      only = std::string(",") + (argv[i] + 7) + ",";
  }
  auto run = [&](const char* section) {
    return only.empty()
           || only.find(std::string(",") + section + ",") != std::string::npos;
  };
  std::printf("command: bazel run -c opt //metadata:metadata_bench%s%s\n",
              args.empty() ? "" : " --", args.c_str());
  std::printf("simulator: //chaos:simnet, link delay uniform 1-5 ms, "
              "profile lan (gossip %lld ms, fanout %zu, ae %lld ms)\n\n",
              static_cast<long long>(
                std::chrono::duration_cast<pekonode::milliseconds>(
                  config::lan().gossip_interval)
                  .count()),
              config::lan().fanout,
              static_cast<long long>(
                std::chrono::duration_cast<pekonode::milliseconds>(
                  config::lan().ae_interval)
                  .count()));

  if (run("spread")) {
    std::printf("== update readable on all nodes (s; %d seeds; p99 over "
                "seeds by nearest rank = max for < 100 seeds)\n", seeds);
    std::printf("%-6s %-7s %5s  %8s %8s %8s   %8s  %9s\n", "N", "bytes",
                "loss", "all p50", "all p99", "all max", "node p99",
                "datagrams");
    spread(1000, 1024, 0.0, seeds);
    spread(1000, 1024, 0.10, seeds);
    spread(1000, 4096, 0.0, seeds);
    spread(1000, 4096, 0.10, seeds);
  }
  if (run("large")) {
    std::printf("\n== large value\n");
    large_value(std::min(seeds, 3));
  }
  if (run("joiner")) {
    // Seeds 1 and 2 are the figures of docs/BENCHMARKS.md; --joiner_seeds=N
    // runs N seeds of each case (a single run moves with any change to the
    // random draws).
    std::printf("\n== joiner\n");
    for (int s = 0; s < joiner_seeds; ++s)
      joiner(1000, 10 * 1024, 1 + 2 * static_cast<uint64_t>(s));
    for (int s = 0; s < joiner_seeds; ++s)
      joiner(20, 512 * 1024, 2 + 2 * static_cast<uint64_t>(s));
  }
  if (run("writers")) {
    std::printf("\n== concurrent writers\n");
    for (uint64_t s = 1; s <= 3; ++s)
      concurrent_writers(s);
  }
  if (run("steady")) {
    std::printf("\n== steady state, stores agree (metadata only)\n");
    for (size_t n : {10, 100, 1000})
      steady_state(n);
  }
  return 0;
}
