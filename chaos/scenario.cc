#include "chaos/scenario.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "chaos/actor_node.h"
#include "chaos/trace.h"
#include "membership/suspicion.h"

namespace pekonode::chaos {

using membership::member_state;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

double secs(duration d) { return std::chrono::duration<double>(d).count(); }

duration scaled(duration d, double k) {
  return std::chrono::duration_cast<duration>(
    std::chrono::duration<double, std::nano>(
      std::chrono::duration<double, std::nano>(d).count() * k));
}

std::string fmt_s(duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", secs(d));
  return buf;
}

} // namespace

// Why a table rebuilt from events differs from the real one ("" if not),
// comparing what events announce: state, address and tags. Members the
// table forgot may linger in the rebuilt one as dead or left.
std::string stream_mismatch(const std::vector<membership::member>& table,
                            const std::vector<membership::member>& rebuilt) {
  std::map<std::string, const membership::member*> seen;
  for (auto& m : rebuilt) seen[m.name] = &m;
  for (auto& m : table) {
    auto it = seen.find(m.name);
    if (it == seen.end()) return m.name + " never announced";
    auto& r = *it->second;
    if (r.state != m.state)
      return m.name + " is " + membership::to_string(m.state) + ", events say "
             + membership::to_string(r.state);
    if (r.addr != m.addr || r.tags != m.tags)
      return m.name + "'s address or tags differ from the events'";
    seen.erase(it);
  }
  for (auto& [name, m] : seen)
    if (m->state != member_state::dead && m->state != member_state::left)
      return name + " forgotten while " + membership::to_string(m->state);
  return {};
}

const char* to_string(engine e) {
  return e == engine::actors ? "actors" : "cores";
}

// -- harness ------------------------------------------------------------------

harness::harness(std::string scenario, const run_options& opts)
  : opts_(opts),
    net_(opts.seed),
    rng_(opts.seed ^ hash_name(scenario)),
    start_(net_.now()) {
  report_.scenario = std::move(scenario);
  report_.seed = opts.seed;
  report_.nodes = opts.nodes;
  report_.probe_interval_s = secs(opts.cfg.membership.probe_interval);
  auto n = opts.nodes;
  nodes_.resize(n);
  up_.assign(n, false);
  protected_.assign(n, true);
  started_.assign(n, false);
  epoch_.assign(n, 0);
  judged_changes_.assign(n, 0);
  judged_up_gen_.assign(n, 0);
  judged_ok_.assign(n, false);
  group_.assign(n, 0);
  last_group_.assign(n, 0);
  skew_ms_.assign(n, 0);
  bytes_mem_.assign(n, 0);
  bytes_md_.assign(n, 0);
  std::uniform_int_distribution<int64_t> skew(-200, 200);
  for (std::size_t i = 0; i < n; ++i) {
    skew_ms_[i] = skew(rng_);
    index_[sim_node_name(i)] = i;
  }
  settle_at_ = start_;
  last_sample_ = start_;
}

harness::~harness() = default;

void harness::record(run_trace& out, std::size_t max_lanes) {
  trace_ = std::make_unique<trace_recorder>(out, size(), max_lanes,
                                            secs(opts_.sample_interval));
}

double harness::since_start(time_point t) const { return secs(t - start_); }

void harness::log_line(time_point t, const std::string& text, bool always) {
  if (!always) {
    if (observed_lines_ >= opts_.max_timeline) {
      ++suppressed_;
      return;
    }
    ++observed_lines_;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%8.3fs] ", since_start(t));
  timeline_.push_back(buf + text);
}

void harness::note(const std::string& text) { log_line(net_.now(), text, true); }

void harness::fail(std::string why) { report_.failures.push_back(std::move(why)); }

duration harness::suspicion_min() const {
  auto& c = opts_.cfg.membership;
  return membership::suspicion_min_timeout(c.suspicion_mult, nodes_.size(),
                                           c.probe_interval);
}

duration harness::suspicion_max() const {
  return suspicion_min() * opts_.cfg.membership.suspicion_max_timeout_mult;
}

std::size_t harness::pick(std::size_t lo) {
  std::uniform_int_distribution<std::size_t> d(lo, nodes_.size() - 1);
  return d(rng_);
}

void harness::set_clock_skew(std::size_t i, int64_t ms) { skew_ms_[i] = ms; }

void harness::make_node(std::size_t i) {
  if (nodes_[i]) {
    bytes_mem_[i] += nodes_[i]->membership_bytes_out();
    bytes_md_[i] += nodes_[i]->metadata_bytes_out();
  }
  ++epoch_[i];
  uint64_t seed = opts_.seed * 0x100000001b3ULL + i * 7919 + epoch_[i] * 104729;
  if (opts_.kind == engine::actors)
    nodes_[i] = std::make_unique<actor_node>(opts_.cfg, sim_node_name(i),
                                             sim_node_addr(i), seed,
                                             skew_ms_[i], net_.now());
  else
    nodes_[i] = std::make_unique<core_node>(opts_.cfg, sim_node_name(i),
                                            sim_node_addr(i), seed, skew_ms_[i]);
  nodes_[i]->on_event = [this, i](const membership::event& e, time_point at) {
    on_member_event(i, e, at);
  };
}

void harness::start(std::size_t i, const std::vector<std::size_t>& seeds) {
  make_node(i);
  std::vector<address> s;
  for (auto j : seeds)
    if (j != i) s.push_back(sim_node_addr(j));
  net_.attach(sim_node_addr(i), nodes_[i].get());
  nodes_[i]->join(s, net_.now());
  net_.wake(sim_node_addr(i));
  up_[i] = true;
  ++up_gen_;
  judged_up_gen_[i] = 0; // a new instance: judge afresh
  started_[i] = true;
  if (trace_) trace_->node_started(i, since_start(net_.now()));
}

void harness::boot_join_storm() {
  note("join storm: " + std::to_string(size()) + " nodes join through n0 at once");
  start(0, {});
  for (std::size_t i = 1; i < size(); ++i) start(i, {0});
}

void harness::boot_staggered(duration gap, duration settle_for) {
  note("staggered boot: " + std::to_string(size()) + " nodes, one every "
       + fmt_s(gap) + ", seeds n0..n2");
  for (std::size_t i = 0; i < size(); ++i) {
    start(i, {0, 1, 2});
    run_exact(gap);
  }
  run_exact(settle_for);
  // Epidemic gossip misses a few (update, node) pairs in a large boot
  // (about N^2 * e^-transmits of them); anti-entropy repairs those within
  // a sync period. Faults start from one agreed view, so scenario timings
  // measure the fault, not the boot.
  auto cap = net_.now() + 2 * membership::sync_period(opts_.cfg.membership, size());
  while (!last_mem_ok_ && net_.now() < cap) run_exact(opts_.sample_interval);
  note(last_mem_ok_ ? "boot done: every view is exact"
                    : "boot done, but views still differ");
}

void harness::crash(std::size_t i) {
  net_.detach(sim_node_addr(i));
  up_[i] = false;
  ++up_gen_;
  protected_[i] = false;
  if (trace_) trace_->node_crashed(i, since_start(net_.now()));
  note("crash " + sim_node_name(i));
}

void harness::restart(std::size_t i) {
  if (net_.attached(sim_node_addr(i))) net_.detach(sim_node_addr(i));
  start(i, {0, 1, 2});
  note("restart " + sim_node_name(i) + " (same name and address, empty state)");
}

void harness::leave(std::size_t i) {
  nodes_[i]->leave(net_.now());
  net_.wake(sim_node_addr(i));
  up_[i] = false;
  ++up_gen_;
  protected_[i] = false;
  if (trace_) trace_->node_left(i, since_start(net_.now()));
  note("graceful leave of " + sim_node_name(i));
}

void harness::bump_incarnation(std::size_t i) {
  nodes_[i]->set_tags({{"gen", std::to_string(epoch_[i])}}, net_.now());
  net_.wake(sim_node_addr(i));
}

void harness::set_faults(link_faults f, const std::string& what) {
  net_.set_default_faults(f);
  if (trace_) trace_->faults_set(f, what, since_start(net_.now()));
  note("faults: " + what);
}

void harness::set_burst_loss(double enter, double leave, double loss) {
  net_.set_burst_loss(enter, leave, loss);
  char buf[128];
  std::snprintf(buf, sizeof buf,
                "burst loss: p_enter=%.3f p_leave=%.3f loss_in_bad=%.2f", enter,
                leave, loss);
  if (trace_) trace_->burst_set(enter > 0 && loss > 0, buf, since_start(net_.now()));
  note(buf);
}

void harness::partition(const std::vector<std::vector<std::size_t>>& groups) {
  std::vector<std::vector<address>> g;
  std::fill(group_.begin(), group_.end(), 0);
  std::string desc = "partition";
  for (std::size_t k = 0; k < groups.size(); ++k) {
    g.emplace_back();
    desc += k ? " | " : " ";
    desc += "{";
    for (auto i : groups[k]) {
      g.back().push_back(sim_node_addr(i));
      group_[i] = k + 1;
      desc += (g.back().size() > 1 ? "," : "") + sim_node_name(i);
    }
    desc += "}";
  }
  partitioned_ = true;
  net_.partition(g);
  if (trace_) trace_->partitioned(groups, since_start(net_.now()));
  note(desc);
}

void harness::heal() {
  net_.heal();
  if (partitioned_) {
    last_group_ = group_;
    // Suspicions raised across the cut may still expire after the heal.
    grace_until_ = net_.now() + suspicion_max() + opts_.cfg.membership.probe_interval * 2;
  }
  std::fill(group_.begin(), group_.end(), 0);
  partitioned_ = false;
  if (trace_) trace_->healed(since_start(net_.now()));
  note("heal: all partitions and one-way cuts removed");
}

void harness::block(std::size_t from, std::size_t to) {
  net_.block(sim_node_addr(from), sim_node_addr(to));
  if (trace_) trace_->blocked(from, to, since_start(net_.now()));
}

void harness::unblock(std::size_t from, std::size_t to) {
  net_.unblock(sim_node_addr(from), sim_node_addr(to));
  if (trace_) trace_->unblocked(from, to, since_start(net_.now()));
}

void harness::stall(std::size_t i, duration d) {
  net_.stall(sim_node_addr(i), d);
  if (trace_)
    trace_->stalled(i, since_start(net_.now()), since_start(net_.now() + d));
  note("CPU stall of " + sim_node_name(i) + " for " + fmt_s(d));
}

bool harness::connected(std::size_t a, std::size_t b) const {
  auto same = [&](const std::vector<std::size_t>& g) {
    return g[a] == 0 || g[b] == 0 || g[a] == g[b];
  };
  if (partitioned_) return same(group_);
  if (net_.now() < grace_until_) return same(last_group_);
  return true;
}

void harness::protect(std::size_t i, bool on) { protected_[i] = on; }

void harness::expect_final_state(std::size_t i, member_state st) {
  final_states_.emplace_back(i, st);
}

bool harness::put(std::size_t i, const std::string& key,
                  const std::string& value) {
  auto r = nodes_[i]->put(key, value, net_.now());
  net_.wake(sim_node_addr(i));
  if (r.code != metadata::ec::ok) return false;
  md_check_.acked(key, r.ver);
  if (trace_) trace_->acked(key, r.ver, since_start(net_.now()));
  return true;
}

void harness::write_some(std::size_t count, const std::string& prefix) {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < size(); ++i)
    if (up_[i] && !net_.stalled(sim_node_addr(i))) candidates.push_back(i);
  if (candidates.empty()) return;
  std::uniform_int_distribution<std::size_t> who(0, candidates.size() - 1);
  std::uniform_int_distribution<int> len(16, 256);
  std::uniform_int_distribution<int> ch('a', 'z');
  std::size_t ok = 0;
  for (std::size_t k = 0; k < count; ++k) {
    std::string v(static_cast<std::size_t>(len(rng_)), 'x');
    for (auto& c : v) c = static_cast<char>(ch(rng_));
    ok += put(candidates[who(rng_)], prefix + "/" + std::to_string(k), v);
  }
  note("wrote " + std::to_string(ok) + "/" + std::to_string(count) + " keys "
       + prefix + "/*");
}

void harness::on_member_event(std::size_t obs, const membership::event& e,
                              time_point at) {
  auto it = index_.find(e.m.name);
  bool prot = false;
  if (it != index_.end())
    prot = protected_[it->second] && connected(obs, it->second);
  bool fp = mem_check_.on_event(sim_node_name(obs), epoch_[obs], e, prot);
  auto inc = std::to_string(e.m.incarnation);
  if (e.kind == membership::event::suspect) ++suspicions_;
  if (fp) {
    log_line(at, "FALSE POSITIVE: " + sim_node_name(obs) + " declared healthy "
                   + e.m.name + " dead (inc " + inc + ")", true);
  } else if (e.kind == membership::event::dead) {
    if (deaths_logged_.insert({e.m.name, e.m.incarnation}).second)
      log_line(at, sim_node_name(obs) + " first to declare " + e.m.name
                     + " dead (inc " + inc + ")", false);
  } else if (e.kind == membership::event::left) {
    if (lefts_logged_.insert(e.m.name).second)
      log_line(at, sim_node_name(obs) + " first to see " + e.m.name + " left",
               false);
  } else if (e.kind == membership::event::name_conflict) {
    log_line(at, sim_node_name(obs) + " reports a name conflict on " + e.m.name,
             false);
  }
}

std::vector<node_view> harness::views() const {
  std::vector<node_view> v;
  for (std::size_t i = 0; i < size(); ++i) {
    if (!nodes_[i]) continue;
    node_view nv;
    nv.name = &nodes_[i]->name();
    nv.up = up_[i];
    nv.node = nodes_[i].get();
    v.push_back(nv);
  }
  return v;
}

void harness::sample() {
  auto now = net_.now();
  if (up_names_gen_ != up_gen_) {
    up_names_.clear();
    for (std::size_t i = 0; i < size(); ++i)
      if (up_[i]) up_names_.insert(sim_node_name(i));
    up_names_gen_ = up_gen_;
  }
  const auto& up_names = up_names_;
  std::size_t good = 0, total = 0;
  for (std::size_t i = 0; i < size(); ++i) {
    if (!up_[i]) continue;
    ++total;
    auto& n = *nodes_[i];
    if (judged_up_gen_[i] != up_gen_ || judged_changes_[i] != n.view_changes()) {
      judged_ok_[i] = n.view_correct(up_names);
      judged_up_gen_[i] = up_gen_;
      judged_changes_[i] = n.view_changes();
    }
    good += judged_ok_[i];
  }
  bool mem_ok = total > 0 && good == total;
  bool md_ok = metadata_checker::digests_agree(views());
  sample_point p;
  p.t_s = since_start(now);
  p.mem_fraction = total ? static_cast<double>(good) / total : 0.0;
  p.md_agree = md_ok;
  report_.curve.push_back(p);
  if (trace_) {
    std::vector<node_snapshot> snap(size());
    for (std::size_t i = 0; i < size(); ++i) {
      auto& s = snap[i];
      s.node = nodes_[i].get();
      s.instance = epoch_[i];
      s.up = up_[i];
      s.stalled = up_[i] && net_.stalled(sim_node_addr(i));
      s.mem_bytes = bytes_mem_[i] + (s.node ? s.node->membership_bytes_out() : 0);
      s.md_bytes = bytes_md_[i] + (s.node ? s.node->metadata_bytes_out() : 0);
    }
    trace_->sample(p.t_s, snap, p.mem_fraction);
  }
  last_mem_ok_ = mem_ok;
  last_md_ok_ = md_ok;
  if (!settled_) return;
  if (mem_ok && !mem_ok_since_) {
    mem_ok_since_ = now;
    log_line(now, "membership views agree (" + std::to_string(total)
                    + " up nodes)", false);
  } else if (!mem_ok && mem_ok_since_) {
    mem_ok_since_.reset();
    log_line(now, "membership views diverge again", false);
  }
  if (md_ok && !md_ok_since_) {
    md_ok_since_ = now;
    log_line(now, "metadata digests agree", false);
  } else if (!md_ok && md_ok_since_) {
    md_ok_since_.reset();
  }
}

void harness::run_exact(duration d) {
  auto end = net_.now() + d;
  while (net_.now() < end) {
    auto next = std::min(end, last_sample_ + opts_.sample_interval);
    net_.run_until(next);
    if (net_.now() >= last_sample_ + opts_.sample_interval) {
      last_sample_ = net_.now();
      sample();
    }
  }
}

void harness::run_for(duration d) { run_exact(scaled(d, opts_.time_scale)); }

void harness::settle() {
  settled_ = true;
  settle_at_ = net_.now();
  mem_ok_since_.reset();
  md_ok_since_.reset();
  if (trace_) trace_->settled(since_start(net_.now()));
  note("settle: faults over, convergence timed from here");
  last_sample_ = net_.now();
  sample();
}

report harness::finish() {
  sample();
  auto now = net_.now();
  report_.duration_s = since_start(now);
  if (trace_) trace_->finish(report_.duration_s);
  if (!settled_) {
    settled_ = true;
    settle_at_ = start_;
  }
  if (mem_ok_since_)
    report_.mem_converge_s = std::max(0.0, secs(*mem_ok_since_ - settle_at_));
  if (md_ok_since_)
    report_.md_converge_s = std::max(0.0, secs(*md_ok_since_ - settle_at_));
  report_.mem_final_ok = last_mem_ok_;
  report_.md_final_ok = last_md_ok_;
  report_.false_positives = mem_check_.false_positives();
  report_.incarnation_regressions = mem_check_.incarnation_regressions();
  auto v = views();
  std::vector<std::string> lost_detail;
  report_.lost_writes = md_check_.lost_writes(v, &lost_detail);
  report_.acked_writes = md_check_.acked_count();
  for (std::size_t k = 0; k < lost_detail.size() && k < 5; ++k)
    note("lost write: " + lost_detail[k]);
  if (report_.expect.check_metadata && last_md_ok_) {
    // Digests cover versions only; compare the value bytes as well.
    std::optional<uint64_t> fp;
    for (auto& nv : v) {
      if (!nv.up) continue;
      auto f = nv.node->content_fingerprint();
      if (!fp) fp = f;
      else if (*fp != f) {
        fail("stores have equal digests but different bytes (" + *nv.name + ")");
        break;
      }
    }
  }
  // Subscribers must be able to rebuild the table from the event stream.
  for (std::size_t j = 0; j < size(); ++j) {
    if (!up_[j]) continue;
    auto why = stream_mismatch(nodes_[j]->members(),
                               nodes_[j]->observed_members());
    if (!why.empty()) {
      fail(sim_node_name(j) + "'s member events disagree with its table: "
           + why);
      break;
    }
  }
  for (auto& [i, st] : final_states_) {
    for (std::size_t j = 0; j < size(); ++j) {
      if (!up_[j]) continue;
      bool ok = false;
      for (auto& m : nodes_[j]->members())
        if (m.name == sim_node_name(i)) ok = m.state == st;
      if (!ok) {
        fail(sim_node_name(j) + " does not see " + sim_node_name(i) + " as "
             + membership::to_string(st));
        break;
      }
    }
  }
  uint64_t mem_b = 0, md_b = 0;
  for (std::size_t i = 0; i < size(); ++i) {
    mem_b += bytes_mem_[i];
    md_b += bytes_md_[i];
    if (nodes_[i]) {
      mem_b += nodes_[i]->membership_bytes_out();
      md_b += nodes_[i]->metadata_bytes_out();
    }
  }
  double denom = std::max(1.0, report_.duration_s) * static_cast<double>(size());
  report_.mem_bytes_per_node_s = mem_b / denom;
  report_.md_bytes_per_node_s = md_b / denom;
  if (suppressed_ > 0)
    note("(" + std::to_string(suppressed_) + " observed events not shown)");
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "end: %llu suspicions raised, %llu false positives, %zu acked "
                "writes, %.0f s virtual",
                static_cast<unsigned long long>(suspicions_),
                static_cast<unsigned long long>(report_.false_positives),
                report_.acked_writes, report_.duration_s);
  note(buf);
  return report_;
}

// -- scenarios ----------------------------------------------------------------

namespace {

void boot(harness& h) {
  h.boot_staggered(milliseconds(100), seconds(20));
}

link_faults jitter(double loss = 0, double dup = 0, int max_ms = 10) {
  link_faults f;
  f.loss = loss;
  f.duplicate = dup;
  f.delay_min = milliseconds(1);
  f.delay_max = milliseconds(max_ms);
  return f;
}

std::vector<std::size_t> shuffled(harness& h) {
  std::vector<std::size_t> v;
  for (std::size_t i = 0; i < h.size(); ++i) v.push_back(i);
  std::shuffle(v.begin(), v.end(), h.rng());
  return v;
}

std::vector<std::vector<std::size_t>> split(harness& h, std::size_t k) {
  auto v = shuffled(h);
  std::vector<std::vector<std::size_t>> g(k);
  for (std::size_t i = 0; i < v.size(); ++i) g[i % k].push_back(v[i]);
  return g;
}

void lossy(harness& h, link_faults f, const std::string& what,
           uint64_t max_fp) {
  boot(h);
  h.expect().converge_within = seconds(45);
  h.expect().max_false_positives = max_fp;
  h.set_faults(f, what);
  h.write_some(10, "loss/a");
  h.run_for(seconds(60));
  h.write_some(10, "loss/b");
  h.run_for(seconds(60));
  h.set_faults(jitter(), "loss off (1-10 ms jitter)");
  h.settle();
  h.run_for(seconds(60));
}

void partition_heal(harness& h, std::size_t k) {
  boot(h);
  h.write_some(6, "pre");
  h.run_for(seconds(5));
  h.partition(split(h, k));
  h.run_for(seconds(10));
  h.write_some(12, "split");
  // Longer than the slowest suspicion plus gossip_to_dead: both sides have
  // declared each other dead and stopped gossiping to the dead before heal.
  auto& mc = h.options().cfg.membership;
  h.run_exact(std::max<duration>(seconds(80), h.suspicion_max()
                                                + mc.gossip_to_dead
                                                + seconds(10)));
  h.heal();
  h.settle();
  h.expect().converge_within = seconds(120);
  h.run_for(seconds(150));
}

std::vector<scenario> build() {
  std::vector<scenario> s;
  s.push_back({"steady_state",
               "staggered boot, then 60 s without faults: zero suspicions "
               "expected, baseline bytes/node/s",
               [](harness& h) {
                 boot(h);
                 h.settle();
                 h.expect().converge_within = seconds(10);
                 h.write_some(5, "steady");
                 h.run_for(seconds(60));
               }});
  s.push_back({"join_storm",
               "all nodes join through n0 at the same instant; views must "
               "agree within 45 s",
               [](harness& h) {
                 h.boot_join_storm();
                 h.settle();
                 h.expect().converge_within = seconds(45);
                 h.run_for(seconds(5));
                 h.write_some(5, "storm");
                 h.run_for(seconds(60));
               }});
  s.push_back({"crash",
               "one node crashes; everyone must see it dead within the "
               "lone-suspecter timeout + 30 s; no other node dies",
               [](harness& h) {
                 boot(h);
                 h.write_some(5, "crash");
                 h.run_for(seconds(10));
                 auto x = h.pick(3);
                 h.crash(x);
                 h.settle();
                 h.expect_final_state(x, member_state::dead);
                 h.expect().converge_within = h.suspicion_max() + seconds(30);
                 h.run_exact(h.suspicion_max() + seconds(60));
               }});
  s.push_back({"graceful_leave",
               "one node leaves gracefully; everyone must see it 'left' (not "
               "dead) within 15 s",
               [](harness& h) {
                 boot(h);
                 h.write_some(5, "leave");
                 h.run_for(seconds(5));
                 auto x = h.pick(3);
                 h.leave(x);
                 h.settle();
                 h.expect_final_state(x, member_state::left);
                 h.expect().converge_within = seconds(15);
                 h.run_for(seconds(40));
               }});
  s.push_back({"loss_10",
               "10% i.i.d. loss on every link for 120 s with writes: no "
               "healthy node declared dead; agreement once loss stops",
               [](harness& h) { lossy(h, jitter(0.10), "10% loss, 1-10 ms", 0); }});
  s.push_back({"loss_10_delay_50",
               "10% i.i.d. loss and 50 +/- 40 ms one-way delay (uniform "
               "10-90 ms, reordering) on every link for 120 s with writes, "
               "as chaos/real/lossy_bench.py does to real processes: no "
               "healthy node declared dead; agreement once the faults stop",
               [](harness& h) {
                 link_faults f;
                 f.loss = 0.10;
                 f.delay_min = milliseconds(10);
                 f.delay_max = milliseconds(90);
                 lossy(h, f, "10% loss, 10-90 ms", 0);
               }});
  s.push_back({"loss_30",
               "30% i.i.d. loss for 120 s: no false deaths (suspicions "
               "stretch with the measured loss), agreement after",
               [](harness& h) {
                 lossy(h, jitter(0.30), "30% loss, 1-10 ms", 0);
               }});
  s.push_back({"burst_loss",
               "Gilbert-Elliott bursts (mean 4 datagrams, ~7% bad) for 120 s: "
               "no false deaths, agreement after",
               [](harness& h) {
                 boot(h);
                 h.expect().converge_within = seconds(45);
                 h.set_burst_loss(0.02, 0.25, 1.0);
                 h.write_some(10, "burst/a");
                 h.run_for(seconds(60));
                 h.write_some(10, "burst/b");
                 h.run_for(seconds(60));
                 h.set_burst_loss(0, 0, 0);
                 h.note("burst loss off");
                 h.settle();
                 h.run_for(seconds(60));
               }});
  s.push_back({"asymmetric_partition",
               "one-way cut: node x cannot reach a third of the cluster "
               "(they still reach x) for 90 s; indirect probes must keep x "
               "alive: zero false deaths",
               [](harness& h) {
                 boot(h);
                 h.expect().converge_within = seconds(20);
                 auto x = h.pick(1);
                 auto order = shuffled(h);
                 std::vector<std::size_t> cut;
                 for (auto j : order)
                   if (j != x && cut.size() < h.size() / 3) cut.push_back(j);
                 std::string names;
                 for (auto j : cut) {
                   h.block(x, j);
                   names += " " + sim_node_name(j);
                 }
                 h.note("one-way cut " + sim_node_name(x) + " ->" + names);
                 h.write_some(6, "asym");
                 h.run_for(seconds(90));
                 for (auto j : cut) h.unblock(x, j);
                 h.note("one-way cut removed");
                 h.settle();
                 h.run_for(seconds(30));
               }});
  s.push_back({"partition_2way_heal",
               "two halves cut both ways longer than every timeout, writes "
               "on both sides, heal: re-merge by itself within 120 s",
               [](harness& h) { partition_heal(h, 2); }});
  s.push_back({"partition_3way_heal",
               "three-way partition longer than every timeout, then heal: "
               "re-merge within 120 s",
               [](harness& h) { partition_heal(h, 3); }});
  s.push_back({"flapping_link",
               "for 60 s link a<->b flaps every 1.5 s and link c<->d is up "
               "only 1 s of every 3 s (both ways): indirect probes must hide "
               "it: no false deaths",
               [](harness& h) {
                 boot(h);
                 h.expect().converge_within = seconds(30);
                 auto order = shuffled(h);
                 auto a = order[0], b = order[1], c = order[2], d = order[3];
                 h.note("flapping: " + sim_node_name(a) + "<->" + sim_node_name(b)
                        + " every 1.5 s, " + sim_node_name(c) + "<->"
                        + sim_node_name(d) + " up 1 s of 3 s");
                 h.write_some(6, "flap");
                 auto cut = [&h](std::size_t x, std::size_t y, bool on) {
                   if (on) {
                     h.block(x, y);
                     h.block(y, x);
                   } else {
                     h.unblock(x, y);
                     h.unblock(y, x);
                   }
                 };
                 for (int tick = 0; tick < 120; ++tick) { // 0.5 s ticks
                   if (tick % 3 == 0) cut(a, b, (tick / 3) % 2 == 0);
                   cut(c, d, tick % 6 >= 2);
                   h.run_exact(milliseconds(500));
                 }
                 cut(a, b, false);
                 cut(c, d, false);
                 h.note("flapping stopped");
                 h.settle();
                 h.run_for(seconds(40));
               }});
  s.push_back({"flapping_node",
               "for 60 s node c loses every link for 1.5 s out of every 6 s "
               "(shorter where half the minimum suspicion timeout is less). "
               "Expected: no false deaths, neither of c by others nor of a "
               "peer by c (suspicion checks reach each suspect between the "
               "cuts); all views agree within 30 s after",
               [](harness& h) {
                 boot(h);
                 h.expect().converge_within = seconds(30);
                 auto c = h.pick(1);
                 // Isolation must stay below the failure detector's timeout
                 // (here half the minimum suspicion timeout), or declaring c
                 // dead would be right, not a false positive.
                 duration tick = std::min<duration>(milliseconds(1500),
                                                    h.suspicion_min() / 2);
                 h.note("flapping node: " + sim_node_name(c) + " isolated "
                        + fmt_s(tick) + " of every " + fmt_s(tick * 4));
                 h.write_some(6, "flapnode");
                 auto ticks = static_cast<int>(seconds(60) / tick);
                 for (int k = 0; k < ticks; ++k) {
                   bool iso = k % 4 == 0;
                   for (std::size_t j = 0; j < h.size(); ++j) {
                     if (j == c) continue;
                     if (iso) {
                       h.block(c, j);
                       h.block(j, c);
                     } else if (k % 4 == 1) {
                       h.unblock(c, j);
                       h.unblock(j, c);
                     }
                   }
                   h.run_exact(tick);
                 }
                 h.heal();
                 h.settle();
                 h.run_for(seconds(40));
               }});
  s.push_back({"cpu_stall",
               "node x stalls for half the minimum suspicion timeout (longer "
               "than probe interval and timeout): it may be suspected but "
               "must never be declared dead",
               [](harness& h) {
                 boot(h);
                 h.expect().converge_within = seconds(30);
                 h.write_some(5, "stall");
                 h.run_for(seconds(5));
                 auto x = h.pick(1);
                 auto d = h.suspicion_min() / 2;
                 d = std::max<duration>(d, h.options().cfg.membership.probe_interval * 2);
                 h.stall(x, d);
                 h.run_exact(d);
                 h.note("stall over");
                 h.settle();
                 h.run_for(seconds(40));
               }});
  s.push_back({"mass_restart",
               "every node bumps its incarnation, then all restart in a wave, "
               "seeds last "
               "(same names, empty state, 3 s down each): all re-merge, every "
               "node ends at a higher incarnation, no acked write lost",
               [](harness& h) {
                 boot(h);
                 for (std::size_t i = 0; i < h.size(); ++i) h.bump_incarnation(i);
                 h.run_for(seconds(5));
                 std::vector<uint64_t> before(h.size());
                 for (std::size_t i = 0; i < h.size(); ++i)
                   before[i] = h.node(i).self().incarnation;
                 h.write_some(8, "restart");
                 h.run_for(seconds(10));
                 for (std::size_t i = 0; i < h.size(); ++i) h.protect(i, false);
                 duration down = milliseconds(3000);
                 // At most about a third of the cluster is down at once, so
                 // the data and the incarnations survive on the others.
                 auto stagger = std::max<duration>(
                   milliseconds(100),
                   milliseconds(3 * 3000 / static_cast<int>(h.size())));
                 h.note("restart wave: one node every " + std::to_string(
                   std::chrono::duration_cast<milliseconds>(stagger).count())
                   + " ms, each down 3 s");
                 struct step { duration at; bool up; std::size_t i; };
                 std::vector<step> plan;
                 // Highest index first: the seeds (n0..n2) go last, so each
                 // node rejoins a cluster that remembers its incarnation.
                 for (std::size_t k = 0; k < h.size(); ++k) {
                   auto i = h.size() - 1 - k;
                   plan.push_back({stagger * static_cast<int>(k), false, i});
                   plan.push_back({stagger * static_cast<int>(k) + down, true, i});
                 }
                 std::stable_sort(plan.begin(), plan.end(),
                                  [](const step& a, const step& b) { return a.at < b.at; });
                 duration t{};
                 for (auto& p : plan) {
                   h.run_exact(p.at - t);
                   t = p.at;
                   if (p.up) h.restart(p.i); else h.crash(p.i);
                 }
                 h.settle();
                 h.expect().converge_within = seconds(90);
                 h.run_exact(h.suspicion_max() + seconds(10));
                 for (std::size_t i = 0; i < h.size(); ++i) h.protect(i, true);
                 h.note("deaths count as false positives again");
                 h.run_for(seconds(60));
                 for (std::size_t i = 0; i < h.size(); ++i) {
                   auto now_inc = h.node(i).self().incarnation;
                   if (now_inc <= before[i])
                     h.fail(sim_node_name(i) + " restarted at incarnation "
                            + std::to_string(now_inc) + ", not above "
                            + std::to_string(before[i]));
                   for (std::size_t j = 0; j < h.size(); ++j)
                     for (auto& m : h.node(j).members())
                       if (m.name == sim_node_name(i) && m.incarnation != now_inc) {
                         h.fail(sim_node_name(j) + " holds " + m.name + " at inc "
                                + std::to_string(m.incarnation) + ", itself at "
                                + std::to_string(now_inc));
                         j = h.size() - 1;
                         break;
                       }
                 }
               }});
  s.push_back({"concurrent_writers",
               "4 writers (2 per side) race on 8 keys + one 20 KiB value "
               "under 10% loss, 5% duplication, 1-40 ms reordering, clock "
               "skew up to 3 s and a 30 s partition: stores end "
               "byte-identical, no acked write lost",
               [](harness& h) {
                 std::uniform_int_distribution<int64_t> skew(-3000, 3000);
                 for (std::size_t i = 0; i < h.size(); ++i)
                   h.set_clock_skew(i, skew(h.rng()));
                 boot(h);
                 h.expect().converge_within = seconds(90);
                 h.set_faults(jitter(0.10, 0.05, 40),
                              "10% loss, 5% duplication, 1-40 ms delay");
                 auto halves = split(h, 2);
                 std::vector<std::size_t> writers = {halves[0][0], halves[1][0],
                                                     halves[0][1], halves[1][1]};
                 std::string wn;
                 for (auto w : writers) wn += " " + sim_node_name(w);
                 h.note("writers:" + wn);
                 std::uniform_int_distribution<int> key(0, 7), len(8, 400),
                   ch('A', 'Z');
                 std::size_t acked = 0, tried = 0;
                 for (int j = 0; j < 120; ++j) {
                   if (j == 40) h.partition(halves);
                   if (j == 100) h.heal();
                   auto w = writers[j % writers.size()];
                   std::string v(static_cast<std::size_t>(len(h.rng())), ' ');
                   for (auto& c : v) c = static_cast<char>(ch(h.rng()));
                   if (j == 20 || j == 70) {
                     v.assign(20 * 1024, static_cast<char>('a' + j % 26));
                     ++tried;
                     acked += h.put(w, "cw/big", v);
                   } else {
                     ++tried;
                     acked += h.put(w, "cw/k" + std::to_string(key(h.rng())), v);
                   }
                   h.run_exact(milliseconds(500));
                 }
                 h.note("writes acked " + std::to_string(acked) + "/"
                        + std::to_string(tried));
                 h.set_faults(jitter(), "faults off (1-10 ms jitter)");
                 h.settle();
                 h.run_for(seconds(120));
               }});
  return s;
}

} // namespace

const std::vector<scenario>& all_scenarios() {
  static const std::vector<scenario> s = build();
  return s;
}

const scenario* find_scenario(const std::string& name) {
  for (auto& s : all_scenarios())
    if (s.name == name) return &s;
  return nullptr;
}

report run_scenario(const scenario& sc, const run_options& opts,
                    std::vector<std::string>* timeline, run_trace* trace) {
  harness h(sc.name, opts);
  if (trace) h.record(*trace);
  h.note("scenario " + sc.name + ", seed " + std::to_string(opts.seed) + ", "
         + std::to_string(opts.nodes) + " nodes");
  sc.script(h);
  auto r = h.finish();
  if (timeline) *timeline = h.timeline();
  return r;
}

} // namespace pekonode::chaos
