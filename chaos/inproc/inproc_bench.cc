// inproc_bench: pekonode figures on real UDP sockets (loopback), with every
// node inside one process and one actor system. Measures join convergence,
// crash detection (and rejoin), graceful leave, metadata broadcast reach and
// steady-state traffic per node. Every wait is bounded by --timeout_s and
// reported as "timeout" when it runs out.
//
// Example:
//   bazel run //chaos/inproc:inproc_bench -- --profile=lan --sizes=100,200

#include <sys/resource.h>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <caf/all.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "chaos/inproc/inproc_cluster.h"

DEFINE_bool(suspicion_checks, true,
            "Membership config::suspicion_checks (an experiment: the "
            "profiles have it on).");
DEFINE_bool(join_counters, false,
            "Print every layer's counters after a join that converged too "
            "(always after one that did not).");
DEFINE_string(profile, "lan", "Protocol profile of both layers: lan|local|wan.");
DEFINE_string(sizes, "100,200",
              "Cluster sizes for the join, crash, leave and broadcast runs.");
DEFINE_string(rate_sizes, "10,50,100",
              "Cluster sizes for steady-state bytes/s (empty: skip).");
DEFINE_int32(crash_reps, 3, "Crash repetitions per size (each then restarts "
                            "the node and measures its rejoin).");
DEFINE_int32(puts, 15, "Metadata puts per size, from random nodes.");
DEFINE_int32(value_bytes, 64, "Size of each put's value.");
DEFINE_int32(put_spacing_ms, 100, "Pause between two puts.");
DEFINE_double(loss, 0.0,
              "Inbound drop rate on every node during the broadcast run.");
DEFINE_int32(settle_s, 5, "Wait after convergence before the traffic window.");
DEFINE_int32(rate_window_s, 10, "Length of the steady-state traffic window.");
DEFINE_int32(timeout_s, 60, "Bound on every wait.");
DEFINE_int32(start_gap_ms, 0,
             "Pause between two nodes' starts (0: all at once); the join "
             "is then timed from the last start.");
DEFINE_uint64(seed, 1, "Seed of node randomness and of victim/put choices.");
DEFINE_int32(threads, 2, "CAF scheduler threads.");

namespace {

using namespace pekonode;
using namespace pekonode::chaos::inproc;
using membership::member_state;

/// One line of the final table.
struct row {
  std::string scenario;
  size_t n = 0;
  std::string outcome; ///< "ok", "timeout", "3/15", ...
  std::string p50, p99, max;
  std::string note;
};

std::vector<row> table;

std::string ms(duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms",
                std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

std::vector<size_t> parse_sizes(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream in{s};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(static_cast<size_t>(std::stoul(item)));
  return out;
}

duration timeout() {
  return std::chrono::seconds(FLAGS_timeout_s);
}

cluster_config make_config(size_t n, uint64_t salt) {
  cluster_config cfg;
  cfg.nodes = n;
  cfg.seed = FLAGS_seed * 131 + salt;
  cfg.set_profile(FLAGS_profile);
  cfg.membership.suspicion_checks = FLAGS_suspicion_checks;
  return cfg;
}

/// Adds a row with latency quantiles of `res` measured from `t0`.
void add_latency_row(const std::string& scenario, size_t n,
                     const wait_result& res, time_point t0,
                     std::string note = {}) {
  auto lat = res.last.latencies(t0);
  row r;
  r.scenario = scenario;
  r.n = n;
  r.outcome = res.ok ? "ok"
                     : "timeout (" + std::to_string(res.last.times.size())
                         + "/" + std::to_string(res.last.observers) + ")";
  if (!lat.empty()) {
    r.p50 = ms(quantile(lat, 0.5));
    r.p99 = ms(quantile(lat, 0.99));
    r.max = ms(lat.back());
  }
  r.note = std::move(note);
  std::printf("  %-10s N=%-4zu %-18s p50 %-10s p99 %-10s max %-10s %s\n",
              scenario.c_str(), n, r.outcome.c_str(), r.p50.c_str(),
              r.p99.c_str(), r.max.c_str(), r.note.c_str());
  std::fflush(stdout);
  table.push_back(std::move(r));
}

/// Inbound datagrams dropped so far, summed over running nodes by reason
/// ("overload" = a node's receive queue was full), or "no drops".
std::string drop_summary(cluster& c) {
  std::map<std::string, uint64_t> sum;
  size_t silent = 0;
  for (auto& s : c.tx_stats_all(std::chrono::seconds(5))) {
    if (!s) {
      ++silent;
      continue;
    }
    for (auto& [reason, count] : s->drops)
      if (count > 0)
        sum[reason] += count;
  }
  if (silent > c.size() - c.running_count())
    sum["(stats unanswered)"] = silent - (c.size() - c.running_count());
  if (sum.empty())
    return "no drops";
  std::string out = "drops:";
  for (auto& [reason, count] : sum)
    out += " " + reason + "=" + std::to_string(count);
  return out;
}

/// CPU time (user + system) this process has used so far, in seconds.
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

/// A random running slot other than 0 (the seed), or 0 if none.
size_t pick_victim(const cluster& c, std::mt19937_64& rng) {
  std::vector<size_t> candidates;
  for (size_t i = 1; i < c.size(); ++i)
    if (c.running(i))
      candidates.push_back(i);
  if (candidates.empty())
    return 0;
  return candidates[std::uniform_int_distribution<size_t>{
    0, candidates.size() - 1}(rng)];
}

/// Every layer's counters of every slot at one moment (empty: no answer).
struct layer_snapshot {
  std::vector<std::optional<membership::core_stats>> m;
  std::vector<std::optional<metadata::stats>> md;
  std::vector<std::optional<userevents::stats>> ue;
};

layer_snapshot take_layer_snapshot(cluster& c) {
  auto t = std::chrono::seconds(5);
  return {c.m_stats_all(t), c.md_stats_all(t), c.ue_stats_all(t)};
}

/// Prints what each layer sent per node and second between two snapshots
/// (slots that answered both times), and the membership counters that
/// moved: where the bytes of the traffic window went.
void print_layer_breakdown(const layer_snapshot& a, const layer_snapshot& b,
                           double secs) {
  size_t nodes = 0;
  std::map<std::string, double> m;
  for (size_t i = 0; i < a.m.size(); ++i) {
    if (!a.m[i] || !b.m[i])
      continue;
    ++nodes;
    auto& x = *a.m[i];
    auto& y = *b.m[i];
#define PEKONODE_DELTA(field) m[#field] += double(y.field - x.field)
    PEKONODE_DELTA(packets_out);
    PEKONODE_DELTA(bytes_out);
    PEKONODE_DELTA(probes);
    PEKONODE_DELTA(acks);
    PEKONODE_DELTA(probe_failures);
    PEKONODE_DELTA(indirect_probes);
    PEKONODE_DELTA(probe_retries);
    PEKONODE_DELTA(suspicion_checks);
    PEKONODE_DELTA(relayed_probes);
    PEKONODE_DELTA(suspects_raised);
    PEKONODE_DELTA(deaths_declared);
    PEKONODE_DELTA(refutations);
    PEKONODE_DELTA(updates_applied);
    PEKONODE_DELTA(updates_stale);
    PEKONODE_DELTA(join_attempts);
    PEKONODE_DELTA(syncs_started);
    PEKONODE_DELTA(syncs_differed);
    PEKONODE_DELTA(churn_syncs);
    PEKONODE_DELTA(reconnects);
    PEKONODE_DELTA(dead_probes);
    PEKONODE_DELTA(dead_contacts);
    PEKONODE_DELTA(merge_syncs);
    PEKONODE_DELTA(heal_notices);
    PEKONODE_DELTA(corrections_sent);
    PEKONODE_DELTA(suspect_notices);
    PEKONODE_DELTA(replies_limited);
    PEKONODE_DELTA(assists_limited);
    PEKONODE_DELTA(confirm_probes);
    PEKONODE_DELTA(name_conflicts);
    PEKONODE_DELTA(unconfirmed_added);
    PEKONODE_DELTA(members_confirmed);
    PEKONODE_DELTA(unconfirmed_expired);
    PEKONODE_DELTA(join_challenges);
    PEKONODE_DELTA(refutations_deferred);
#undef PEKONODE_DELTA
    for (auto& [reason, count] : y.bad_packets) {
      auto it = x.bad_packets.find(reason);
      m["bad:" + reason] += double(count - (it == x.bad_packets.end()
                                              ? 0 : it->second));
    }
  }
  if (nodes == 0 || secs <= 0)
    return;
  auto per = [&](double v) { return v / double(nodes) / secs; };
  std::printf("    membership per node/s (%zu nodes):", nodes);
  for (auto& [k, v] : m)
    if (v != 0)
      std::printf(" %s=%.2f", k.c_str(), per(v));
  std::printf("\n");
  std::map<std::string, double> md_bytes, md_msgs;
  size_t md_nodes = 0;
  for (size_t i = 0; i < a.md.size(); ++i) {
    if (!a.md[i] || !b.md[i])
      continue;
    ++md_nodes;
    auto diff = [](const std::map<std::string, uint64_t>& x,
                   const std::map<std::string, uint64_t>& y,
                   std::map<std::string, double>& out) {
      for (auto& [k, v] : y) {
        auto it = x.find(k);
        out[k] += double(v - (it == x.end() ? 0 : it->second));
      }
    };
    diff(a.md[i]->bytes_out, b.md[i]->bytes_out, md_bytes);
    diff(a.md[i]->msgs_out, b.md[i]->msgs_out, md_msgs);
    md_bytes["(ae_rounds)"] += double(b.md[i]->ae_rounds - a.md[i]->ae_rounds);
  }
  if (md_nodes > 0) {
    std::printf("    metadata per node/s (%zu nodes), bytes/msgs by kind:",
                md_nodes);
    for (auto& [k, v] : md_bytes)
      if (v != 0)
        std::printf(" %s=%.1f/%.2f", k.c_str(), v / md_nodes / secs,
                    md_msgs[k] / md_nodes / secs);
    std::printf("\n");
  }
  double ue_bytes = 0, ue_packets = 0, ue_syncs = 0;
  size_t ue_nodes = 0;
  for (size_t i = 0; i < a.ue.size(); ++i) {
    if (!a.ue[i] || !b.ue[i])
      continue;
    ++ue_nodes;
    ue_bytes += double(b.ue[i]->bytes_out - a.ue[i]->bytes_out);
    ue_packets += double(b.ue[i]->packets_out - a.ue[i]->packets_out);
    ue_syncs += double(b.ue[i]->syncs - a.ue[i]->syncs);
  }
  if (ue_nodes > 0)
    std::printf("    userevents per node/s (%zu nodes): bytes_out=%.1f "
                "packets_out=%.2f syncs=%.2f\n",
                ue_nodes, ue_bytes / ue_nodes / secs,
                ue_packets / ue_nodes / secs, ue_syncs / ue_nodes / secs);
  std::fflush(stdout);
}

void run_size(caf::actor_system& sys, size_t n, std::mt19937_64& rng) {
  std::printf("== N=%zu (%s)\n", n, FLAGS_profile.c_str());
  std::fflush(stdout);
  cluster c{sys, make_config(n, n)};
  if (auto err = c.start(std::chrono::milliseconds(FLAGS_start_gap_ms))) {
    std::printf("  start failed: %s\n", caf::to_string(err).c_str());
    table.push_back({"join", n, "start failed", "", "", "", ""});
    return;
  }
  // Join: every node sees all N alive; latency per observer from the spawn.
  auto join = c.wait_all_alive(n, timeout());
  add_latency_row("join", n, join, c.last_started_at(),
                  std::string{"all N see all N alive"}
                    + (FLAGS_start_gap_ms > 0
                         ? " after the last start (one every "
                             + std::to_string(FLAGS_start_gap_ms) + " ms)"
                         : "")
                    + "; " + drop_summary(c));
  if (!join.ok || FLAGS_join_counters) {
    // What the nodes did while joining (or not converging): every layer's
    // counters since the start, per node and second (a backlogged node
    // answers late, hence the long bound).
    auto b = layer_snapshot{c.m_stats_all(std::chrono::seconds(30)),
                            c.md_stats_all(std::chrono::seconds(30)),
                            c.ue_stats_all(std::chrono::seconds(30))};
    layer_snapshot zero;
    zero.m.assign(b.m.size(), membership::core_stats{});
    zero.md.assign(b.md.size(), metadata::stats{});
    zero.ue.assign(b.ue.size(), userevents::stats{});
    std::printf("  since the start:\n");
    print_layer_breakdown(
      zero, b,
      std::chrono::duration<double>(std::chrono::steady_clock::now()
                                    - c.last_started_at())
        .count());
    if (!join.ok)
      return; // the remaining figures would measure a cluster still forming
  }

  // Crash detection, then restart and rejoin.
  for (int rep = 0; rep < FLAGS_crash_reps; ++rep) {
    auto victim = pick_victim(c, rng);
    auto t0 = c.crash(victim);
    auto dead = c.wait_seen_as(victim, {member_state::dead}, timeout());
    add_latency_row("crash", n, dead, t0,
                    c.name(victim) + ": others see dead");
    auto layers_before = take_layer_snapshot(c);
    if (auto err = c.restart(victim)) {
      std::printf("  restart failed: %s\n", caf::to_string(err).c_str());
      continue;
    }
    auto t1 = std::chrono::steady_clock::now();
    auto back = c.wait_all_alive(n, timeout());
    add_latency_row("rejoin", n, back, t1,
                    c.name(victim) + " restarted on a fresh port");
    print_layer_breakdown(
      layers_before, take_layer_snapshot(c),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1)
        .count());
  }

  // Graceful leave.
  {
    auto victim = pick_victim(c, rng);
    auto t0 = c.leave(victim);
    if (!t0) {
      std::printf("  leave failed: %s\n", caf::to_string(t0.error()).c_str());
    } else {
      auto left = c.wait_seen_as(victim, {member_state::left}, timeout());
      add_latency_row("leave", n, left, *t0,
                      c.name(victim) + ": others see left");
    }
    c.stop(victim);
  }

  // Broadcast reach: puts from random running nodes, optional loss.
  if (FLAGS_puts > 0) {
    std::vector<size_t> running;
    for (size_t i = 0; i < c.size(); ++i)
      if (c.running(i))
        running.push_back(i);
    if (FLAGS_loss > 0)
      for (auto i : running)
        if (auto err = c.set_faults(i, FLAGS_loss))
          std::printf("  set_faults failed on %zu: %s\n", i,
                      caf::to_string(err).c_str());
    struct put_rec {
      std::string key, version;
      time_point t0;
    };
    std::vector<put_rec> puts;
    std::uniform_int_distribution<size_t> pick{0, running.size() - 1};
    std::uniform_int_distribution<int> letter{'a', 'z'};
    for (int k = 0; k < FLAGS_puts; ++k) {
      auto origin = running[pick(rng)];
      std::string value(static_cast<size_t>(std::max(0, FLAGS_value_bytes)),
                        'x');
      for (auto& ch : value)
        ch = static_cast<char>(letter(rng));
      auto key = "bench/" + std::to_string(n) + "/" + std::to_string(k);
      auto t0 = std::chrono::steady_clock::now();
      auto v = c.put(origin, key, value);
      if (!v)
        std::printf("  put %s failed: %s\n", key.c_str(),
                    caf::to_string(v.error()).c_str());
      else
        puts.push_back({key, *v, t0});
      std::this_thread::sleep_for(
        std::chrono::milliseconds(FLAGS_put_spacing_ms));
    }
    // One shared deadline after the last put: slow keys do not extend it.
    auto deadline = std::chrono::steady_clock::now() + timeout();
    size_t reached = 0;
    std::vector<duration> to_all, per_observer;
    for (auto& p : puts) {
      auto left = std::max(duration::zero(),
                           deadline - std::chrono::steady_clock::now());
      auto res = c.wait_key(p.key, p.version, left);
      auto lat = res.last.latencies(p.t0);
      per_observer.insert(per_observer.end(), lat.begin(), lat.end());
      if (res.ok) {
        ++reached;
        to_all.push_back(lat.back());
      }
    }
    std::sort(to_all.begin(), to_all.end());
    std::sort(per_observer.begin(), per_observer.end());
    row r;
    r.scenario = "broadcast";
    r.n = running.size();
    r.outcome = std::to_string(reached) + "/" + std::to_string(FLAGS_puts)
                + " reached all";
    if (!to_all.empty()) {
      r.p50 = ms(quantile(to_all, 0.5));
      r.p99 = ms(quantile(to_all, 0.99));
      r.max = ms(to_all.back());
    }
    char note[160];
    std::snprintf(note, sizeof note,
                  "time to all nodes per put; %d B values, loss %.0f%%, "
                  "per-node p50 %s",
                  FLAGS_value_bytes, FLAGS_loss * 100,
                  ms(quantile(per_observer, 0.5)).c_str());
    r.note = note;
    std::printf("  %-10s N=%-4zu %-18s p50 %-10s p99 %-10s max %-10s %s\n",
                r.scenario.c_str(), r.n, r.outcome.c_str(), r.p50.c_str(),
                r.p99.c_str(), r.max.c_str(), r.note.c_str());
    std::fflush(stdout);
    table.push_back(std::move(r));
  }
}

void run_rate(caf::actor_system& sys, size_t n) {
  std::printf("== traffic N=%zu (%s)\n", n, FLAGS_profile.c_str());
  std::fflush(stdout);
  cluster c{sys, make_config(n, 100000 + n)};
  row r;
  r.scenario = "bytes/s";
  r.n = n;
  if (auto err = c.start(std::chrono::milliseconds(FLAGS_start_gap_ms))) {
    r.outcome = "start failed";
    table.push_back(r);
    return;
  }
  auto join = c.wait_all_alive(n, timeout());
  if (!join.ok) {
    r.outcome = "timeout (join)";
    r.note = drop_summary(c);
    std::printf("  join timed out (%zu/%zu); %s; what the nodes do now:\n",
                join.last.times.size(), join.last.observers,
                r.note.c_str());
    auto a = take_layer_snapshot(c);
    auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(FLAGS_settle_s));
    auto b = take_layer_snapshot(c);
    print_layer_breakdown(
      a, b,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count());
    table.push_back(r);
    return;
  }
  std::this_thread::sleep_for(std::chrono::seconds(FLAGS_settle_s));
  auto snapshot = [&] {
    std::vector<transport::stats> out;
    for (auto& s : c.tx_stats_all(std::chrono::seconds(5)))
      out.push_back(s ? *s : transport::stats{});
    return out;
  };
  auto before = snapshot();
  auto layers_before = take_layer_snapshot(c);
  auto t0 = std::chrono::steady_clock::now();
  auto cpu0 = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(FLAGS_rate_window_s));
  auto cpu1 = process_cpu_seconds();
  auto after = snapshot();
  auto layers_after = take_layer_snapshot(c);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - t0)
                .count();
  // The window's CPU: the whole process (every node, the scheduler, the
  // clock and socket threads), as a share of one core.
  auto cpu_share = (cpu1 - cpu0) / secs;
  std::vector<double> out_rate, in_rate, dgram_rate;
  for (size_t i = 0; i < c.size(); ++i) {
    out_rate.push_back((after[i].bytes_out - before[i].bytes_out) / secs);
    in_rate.push_back((after[i].bytes_in - before[i].bytes_in) / secs);
    dgram_rate.push_back((after[i].datagrams_out - before[i].datagrams_out)
                         / secs);
  }
  auto mean = [](const std::vector<double>& xs) {
    double sum = 0;
    for (auto x : xs)
      sum += x;
    return xs.empty() ? 0.0 : sum / xs.size();
  };
  std::sort(out_rate.begin(), out_rate.end());
  char buf[160];
  r.outcome = "ok";
  std::snprintf(buf, sizeof buf, "%.0f B/s", mean(out_rate));
  r.p50 = buf; // mean in the p50 column, labelled in the note
  std::snprintf(buf, sizeof buf, "%.0f B/s",
                out_rate[out_rate.size() * 99 / 100]);
  r.p99 = buf;
  std::snprintf(buf, sizeof buf, "%.0f B/s", out_rate.back());
  r.max = buf;
  std::snprintf(buf, sizeof buf, "out per node (mean in p50); in %.0f B/s, "
                "%.1f dgram/s out; process CPU %.1f%% of one core",
                mean(in_rate), mean(dgram_rate), cpu_share * 100);
  // Drops since the start (wrong_label: datagrams of another cluster).
  r.note = std::string{buf} + "; " + drop_summary(c);
  std::printf("  %-10s N=%-4zu mean %-14s p99 %-14s max %-14s %s\n",
              r.scenario.c_str(), n, r.p50.c_str(), r.p99.c_str(),
              r.max.c_str(), r.note.c_str());
  print_layer_breakdown(layers_before, layers_after, secs);
  std::fflush(stdout);
  table.push_back(std::move(r));
}

} // namespace

int main(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i)
    command += (i ? " " : "") + std::string{argv[i]};
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1; // WARNING: membership logs every event at INFO
  gflags::SetUsageMessage("pekonode figures on real UDP, all nodes in one "
                          "process");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  if (FLAGS_profile != "lan" && FLAGS_profile != "local"
      && FLAGS_profile != "wan") {
    std::fprintf(stderr, "inproc_bench: --profile must be lan, local or wan\n");
    return 2;
  }
  if (FLAGS_loss < 0 || FLAGS_loss > 1 || FLAGS_timeout_s <= 0
      || FLAGS_start_gap_ms < 0
      || FLAGS_threads <= 0) {
    std::fprintf(stderr, "inproc_bench: bad --loss, --timeout_s, --start_gap_ms or --threads\n");
    return 2;
  }
  std::vector<size_t> sizes, rate_sizes;
  try {
    sizes = parse_sizes(FLAGS_sizes);
    rate_sizes = parse_sizes(FLAGS_rate_sizes);
  } catch (const std::exception&) {
    std::fprintf(stderr, "inproc_bench: --sizes and --rate_sizes take "
                         "comma-separated integers\n");
    return 2;
  }
  std::printf("command: %s\n", command.c_str());
  std::printf("profile=%s threads=%d seed=%llu timeout=%ds hw_threads=%u\n",
              FLAGS_profile.c_str(), FLAGS_threads,
              static_cast<unsigned long long>(FLAGS_seed), FLAGS_timeout_s,
              std::thread::hardware_concurrency());
  std::fflush(stdout);

  caf::actor_system_config sys_cfg;
  configure_system(sys_cfg, static_cast<size_t>(FLAGS_threads));
  caf::actor_system sys{sys_cfg};
  std::mt19937_64 rng{FLAGS_seed};
  for (auto n : sizes)
    if (n > 0)
      run_size(sys, n, rng);
  for (auto n : rate_sizes)
    if (n > 0)
      run_rate(sys, n);

  std::printf("\ncommand: %s\n", command.c_str());
  std::printf("%-10s %5s  %-22s %-14s %-14s %-14s %s\n", "scenario", "N",
              "outcome", "p50", "p99", "max", "note");
  for (auto& r : table)
    std::printf("%-10s %5zu  %-22s %-14s %-14s %-14s %s\n",
                r.scenario.c_str(), r.n, r.outcome.c_str(), r.p50.c_str(),
                r.p99.c_str(), r.max.c_str(), r.note.c_str());
  std::fflush(stdout);
  return 0;
}
