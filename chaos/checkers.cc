#include "chaos/checkers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace pekonode::chaos {

using membership::member_state;

// -- report -------------------------------------------------------------------

std::vector<std::string> report::reasons() const {
  std::vector<std::string> r;
  auto bound = std::chrono::duration<double>(expect.converge_within).count();
  char buf[160];
  if (!mem_converge_s || *mem_converge_s > bound) {
    std::snprintf(buf, sizeof buf,
                  "membership did not converge within %.0f s of settling",
                  bound);
    r.emplace_back(buf);
  }
  if (!mem_final_ok) r.emplace_back("membership views disagree at the end");
  if (expect.check_metadata) {
    if (!md_converge_s || *md_converge_s > bound) {
      std::snprintf(buf, sizeof buf,
                    "metadata digests did not agree within %.0f s of settling",
                    bound);
      r.emplace_back(buf);
    }
    if (!md_final_ok) r.emplace_back("metadata stores differ at the end");
    if (lost_writes > 0)
      r.emplace_back(std::to_string(lost_writes) + " acknowledged write(s) lost");
  }
  if (false_positives > expect.max_false_positives)
    r.emplace_back(std::to_string(false_positives)
                   + " false death declaration(s) (allowed "
                   + std::to_string(expect.max_false_positives) + ")");
  if (incarnation_regressions > 0)
    r.emplace_back(std::to_string(incarnation_regressions)
                   + " incarnation regression(s)");
  for (auto& f : failures) r.push_back(f);
  return r;
}

bool report::pass() const { return reasons().empty(); }

// -- membership ---------------------------------------------------------------

uint64_t& membership_checker::subject_incarnations::slot(
  const std::string& name) {
  // "n<i>" with i in canonical decimal (no leading zero but "n0").
  std::size_t i = 0;
  bool indexed = name.size() >= 2 && name.size() <= 8 && name[0] == 'n'
                 && (name[1] != '0' || name.size() == 2);
  for (std::size_t k = 1; indexed && k < name.size(); ++k) {
    if (name[k] < '0' || name[k] > '9') indexed = false;
    else i = i * 10 + static_cast<std::size_t>(name[k] - '0');
  }
  if (!indexed) {
    auto it = other.find(name);
    if (it == other.end()) it = other.emplace(name, none).first;
    return it->second;
  }
  if (i >= by_index.size()) by_index.resize(i + 1, none);
  return by_index[i];
}

bool membership_checker::on_event(const std::string& observer,
                                  uint64_t observer_epoch,
                                  const membership::event& e,
                                  bool wrongful) {
  if (e.kind == membership::event::name_conflict) return false;
  auto& last = seen_[{observer, observer_epoch}].slot(e.m.name);
  if (last != subject_incarnations::none && e.m.incarnation < last)
    ++regressions_;
  else
    last = e.m.incarnation;
  if (e.kind != membership::event::dead) return false;
  auto [claim, fresh] =
    death_claims_.emplace(std::make_pair(e.m.name, e.m.incarnation), wrongful);
  if (!fresh || !claim->second) return false;
  ++false_positives_;
  return true;
}

bool membership_checker::view_correct(
  const std::vector<membership::member>& view,
  const std::set<std::string>& up_names) {
  return view_matches(view, up_names);
}

// -- metadata -----------------------------------------------------------------

void metadata_checker::acked(const std::string& key,
                             const metadata::version& v) {
  ++total_acked_;
  auto it = ledger_.find(key);
  if (it == ledger_.end() || it->second < v) ledger_[key] = v;
}

bool metadata_checker::digests_agree(const std::vector<node_view>& nodes) {
  std::optional<std::string> first;
  for (auto& n : nodes) {
    if (!n.up) continue;
    auto d = n.node->store_digest();
    if (!first)
      first = d;
    else if (d != *first)
      return false;
  }
  return true;
}

uint64_t metadata_checker::lost_writes(const std::vector<node_view>& nodes,
                                       std::vector<std::string>* detail) const {
  uint64_t lost = 0;
  for (auto& [key, ver] : ledger_) {
    for (auto& n : nodes) {
      if (!n.up) continue;
      auto held = n.node->version_of(key);
      if (!held || *held < ver) {
        ++lost;
        if (detail)
          detail->push_back(*n.name + " lacks " + key + " @" + ver.origin + "/"
                            + std::to_string(ver.hlc));
        break; // one count per key
      }
    }
  }
  return lost;
}

// -- formatting ---------------------------------------------------------------

namespace {

std::string fmt_opt(const std::optional<double>& v) {
  if (!v) return "never";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", *v);
  return buf;
}

} // namespace

std::string format_table(const std::vector<report>& reports) {
  std::ostringstream os;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%-22s %-20s %5s %9s %7s %9s %10s %9s %3s %3s %4s %s\n",
                "scenario", "seed", "nodes", "mem_conv", "rounds", "md_conv",
                "mem_B/n/s", "md_B/n/s", "FP", "INC", "LOST", "verdict");
  os << buf;
  for (auto& r : reports) {
    std::string rounds = "-";
    if (r.mem_converge_s) {
      char rb[32];
      std::snprintf(rb, sizeof rb, "%.1f",
                    *r.mem_converge_s / r.probe_interval_s);
      rounds = rb;
    }
    std::snprintf(buf, sizeof buf,
                  "%-22s %-20llu %5zu %9s %7s %9s %10.0f %9.0f %3llu %3llu "
                  "%4llu %s\n",
                  r.scenario.c_str(),
                  static_cast<unsigned long long>(r.seed), r.nodes,
                  fmt_opt(r.mem_converge_s).c_str(), rounds.c_str(),
                  r.expect.check_metadata ? fmt_opt(r.md_converge_s).c_str()
                                          : "n/a",
                  r.mem_bytes_per_node_s, r.md_bytes_per_node_s,
                  static_cast<unsigned long long>(r.false_positives),
                  static_cast<unsigned long long>(r.incarnation_regressions),
                  static_cast<unsigned long long>(r.lost_writes),
                  r.pass() ? "PASS" : "FAIL");
    os << buf;
  }
  return os.str();
}

std::string format_plot(const std::vector<sample_point>& curve,
                        std::size_t width, std::size_t height) {
  if (curve.size() < 2 || width < 2 || height < 1) return {};
  double t0 = curve.front().t_s;
  double t1 = curve.back().t_s;
  if (t1 <= t0) return {};
  // Per column: the minimum fraction of the samples falling into it, so a
  // short dip stays visible.
  std::vector<double> col(width, 2.0);
  for (auto& p : curve) {
    auto c = static_cast<std::size_t>((p.t_s - t0) / (t1 - t0) * (width - 1));
    col[c] = std::min(col[c], p.mem_fraction);
  }
  for (std::size_t c = 1; c < width; ++c)
    if (col[c] > 1.5) col[c] = col[c - 1];
  std::ostringstream os;
  os << "fraction of up nodes with an exactly right member view\n";
  for (std::size_t row = height; row-- > 0;) {
    double lo = static_cast<double>(row) / height;
    char label[16];
    std::snprintf(label, sizeof label, "%4.2f |",
                  static_cast<double>(row + 1) / height);
    os << label;
    for (std::size_t c = 0; c < width; ++c)
      os << (col[c] > lo ? '#' : (row == 0 ? '_' : ' '));
    os << '\n';
  }
  char t0s[32], t1s[32];
  std::snprintf(t0s, sizeof t0s, "%.0f", t0);
  std::snprintf(t1s, sizeof t1s, "%.0f s", t1);
  std::string under(width, ' ');
  under.replace(0, std::strlen(t0s), t0s);
  auto l1 = std::strlen(t1s);
  if (l1 < width) under.replace(width - l1, l1, t1s);
  os << "     +" << std::string(width, '-') << "\n      " << under << "\n";
  return os.str();
}

} // namespace pekonode::chaos
