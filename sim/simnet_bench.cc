// Throughput benchmark of sim::simnet alone: N toy gossip nodes, each
// sending to `fanout` random peers every period and answering every probe,
// over lossy, jittery links. Prints events/second and the speed-up over real
// time. Usage: simnet_bench [nodes...] (default: 1000 10000).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sim/simnet.h"

namespace {

using namespace pekonode;
using std::chrono::milliseconds;

/// Probes `fanout` random peers every `period` (+-10% jitter); answers each
/// probe with an ack, like a SWIM ping. Payloads are ~60 B, like membership.
class toy_node : public sim::sim_node {
public:
  toy_node(const std::vector<address>* peers, uint64_t seed, time_point first,
           duration period, int fanout)
    : peers_(peers), rng_(seed), next_(first), period_(period),
      fanout_(fanout) {
  }

  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point,
                   outbound_list& out) override {
    if (!payload.empty() && payload[0] == 'p')
      out.push_back(outbound{from, chan, ack_});
  }

  void poll(time_point now, outbound_list& out) override {
    if (now < next_)
      return;
    for (int i = 0; i < fanout_; ++i)
      out.push_back(outbound{(*peers_)[rng_() % peers_->size()],
                             channel::membership, probe_});
    auto jitter = period_.count() / 10;
    next_ = now + period_
            + duration{static_cast<duration::rep>(rng_() % (2 * jitter + 1))
                       - jitter};
  }

  time_point next_wakeup() const override {
    return next_;
  }

private:
  const std::vector<address>* peers_;
  std::mt19937_64 rng_;
  time_point next_;
  duration period_;
  int fanout_;
  std::string probe_ = "p" + std::string(59, 'x');
  std::string ack_ = "a" + std::string(59, 'y');
};

void run(int n, std::chrono::seconds simulated) {
  sim::simnet net(1);
  sim::link_faults f;
  f.loss = 0.01;
  f.delay_min = milliseconds(1);
  f.delay_max = milliseconds(20);
  net.set_default_faults(f);
  std::vector<address> names;
  names.reserve(n);
  for (int i = 0; i < n; ++i)
    names.push_back("10." + std::to_string(i / 65536) + "."
                    + std::to_string(i / 256 % 256) + "."
                    + std::to_string(i % 256) + ":7946");
  std::vector<std::unique_ptr<toy_node>> nodes;
  nodes.reserve(n);
  auto start = net.now();
  auto wall0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    nodes.push_back(std::make_unique<toy_node>(
      &names, 1000 + i, start + milliseconds(i % 500), milliseconds(500), 2));
    net.attach(names[i], nodes.back().get());
  }
  net.run_for(simulated);
  auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - wall0)
                .count();
  auto events = net.events_processed();
  std::printf("nodes=%d simulated=%llds events=%llu datagrams=%llu "
              "bytes=%llu wall=%.2fs events/s=%.0f speedup=%.1fx\n",
              n, static_cast<long long>(simulated.count()),
              static_cast<unsigned long long>(events),
              static_cast<unsigned long long>(net.total_datagrams()),
              static_cast<unsigned long long>(net.total_bytes()), wall,
              wall > 0 ? static_cast<double>(events) / wall : 0.0,
              wall > 0 ? static_cast<double>(simulated.count()) / wall : 0.0);
}

} // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    long v = std::strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v < 1 || v > 1000000) {
      std::fprintf(stderr, "simnet_bench: bad node count '%s'\n", argv[i]);
      return 2;
    }
    sizes.push_back(static_cast<int>(v));
  }
  if (sizes.empty())
    sizes = {1000, 10000};
  for (int n : sizes)
    run(n, std::chrono::seconds(60));
  return 0;
}
