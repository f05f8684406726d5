// Prints membership figures measured on the deterministic simulator.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "membership/sim_adapter.h"

using namespace pekonode;
using namespace pekonode::membership;
using testing::sim_cluster;
using std::chrono::milliseconds;
using std::chrono::seconds;

static double secs(duration d) { return std::chrono::duration<double>(d).count(); }

static chaos::link_faults lan_link(double loss = 0) {
  chaos::link_faults f;
  f.delay_min = milliseconds(1);
  f.delay_max = milliseconds(5);
  f.loss = loss;
  return f;
}

static sim_cluster* boot(std::size_t n, uint64_t seed, double* join_s) {
  auto* cl = new sim_cluster(n, config::lan(), seed);
  cl->net.set_default_faults(lan_link());
  cl->start(0, {});
  for (std::size_t i = 1; i < n; ++i) cl->start(i, {0});
  auto t = cl->run_until([&] {
    for (std::size_t i = 0; i < n; ++i) if (cl->alive_count(i) != n) return false;
    return true;
  }, seconds(120), milliseconds(20));
  if (join_s) *join_s = t == duration::max() ? -1 : secs(t);
  return cl;
}

int main() {
  const uint64_t seed = 12345;
  std::printf("seed %llu, profile lan\n", static_cast<unsigned long long>(seed));
  for (std::size_t n : {100, 200}) {
    double js;
    delete boot(n, seed, &js);
    std::printf("join N=%zu through one seed: full view everywhere after %.2f s\n", n, js);
  }
  { // crash detection at N=100
    double js;
    auto* cl = boot(100, seed, &js);
    cl->net.run_for(seconds(10));
    auto t_crash = cl->net.now();
    cl->crash(42);
    std::vector<double> seen(100, -1);
    cl->run_until([&] {
      bool all = true;
      for (std::size_t i = 0; i < 100; ++i) {
        if (i == 42) continue;
        if (seen[i] < 0 && cl->nodes[i]->sees(testing::node_name(42), member_state::dead))
          seen[i] = secs(cl->net.now() - t_crash);
        all &= seen[i] >= 0;
      }
      return all;
    }, seconds(120), milliseconds(50));
    seen.erase(seen.begin() + 42);
    std::sort(seen.begin(), seen.end());
    std::printf("crash detection N=100: p50 %.2f s, p99 %.2f s, max %.2f s\n",
                seen[49], seen[97], seen.back());
    delete cl;
  }
  { // rounds to spread one update to N=1000
    double js;
    auto* cl = boot(1000, seed, &js);
    std::printf("join N=1000 through one seed: %.2f s\n", js);
    cl->net.run_for(seconds(30));
    cl->act(7, [](core& c, time_point now, outbound_list& out) { c.set_tags({{"v", "2"}}, now, out); });
    auto t = cl->run_until([&] {
      for (std::size_t i = 0; i < 1000; ++i) {
        bool ok = false;
        for (auto& m : cl->nodes[i]->c().members())
          if (m.name == testing::node_name(7) && m.tags.count("v")) ok = true;
        if (!ok) return false;
      }
      return true;
    }, seconds(60), milliseconds(10));
    std::printf("update reaches all of N=1000 in %.2f s = %.1f gossip rounds (target <= %d)\n",
                secs(t), secs(t) / secs(config::lan().gossip_interval),
                static_cast<int>(std::ceil(std::log2(1000.0))) + 1);
    delete cl;
  }
  for (std::size_t n : {10, 100, 1000}) { // steady-state bytes/s per node
    double js;
    auto* cl = boot(n, seed, &js);
    cl->net.run_for(seconds(120));
    std::vector<uint64_t> before(n);
    for (std::size_t i = 0; i < n; ++i) before[i] = cl->net.stats(testing::node_addr(i)).bytes_out;
    const int window = 300;
    cl->net.run_for(seconds(window));
    double sum = 0, mx = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double b = double(cl->net.stats(testing::node_addr(i)).bytes_out - before[i]) / window;
      sum += b;
      mx = std::max(mx, b);
    }
    std::printf("steady state N=%zu: mean %.0f B/s, max %.0f B/s per node (incl. %zu B/datagram overhead)\n",
                n, sum / n, mx, chaos::datagram_overhead_bytes);
    delete cl;
  }
  { // false positives under 10% loss, 1 simulated hour, N=100
    double js;
    auto* cl = boot(100, seed, &js);
    cl->net.set_default_faults(lan_link(0.10));
    cl->net.run_for(std::chrono::hours(1));
    std::size_t dead = 0, suspect = 0;
    for (auto& nd : cl->nodes)
      for (auto& e : nd->log) {
        dead += e.ev.kind == event::dead;
        suspect += e.ev.kind == event::suspect;
      }
    std::printf("N=100, 10%% loss, 1 h: %zu false dead events, %zu suspect events\n", dead, suspect);
    delete cl;
  }
}
