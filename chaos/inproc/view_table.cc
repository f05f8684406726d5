#include "chaos/inproc/view_table.h"

#include <algorithm>
#include <cmath>

namespace pekonode::chaos::inproc {

using membership::member_state;

time_point reach::last() const {
  time_point t{};
  for (auto x : times)
    t = std::max(t, x);
  return t;
}

std::vector<duration> reach::latencies(time_point since) const {
  std::vector<duration> out;
  out.reserve(times.size());
  for (auto t : times)
    out.push_back(std::max(duration::zero(), t - since));
  std::sort(out.begin(), out.end());
  return out;
}

duration quantile(const std::vector<duration>& sorted, double q) {
  if (sorted.empty())
    return duration::zero();
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest value with at least q of the samples <= it.
  auto rank = static_cast<size_t>(std::ceil(q * sorted.size()));
  if (rank == 0)
    rank = 1;
  return sorted[std::min(rank, sorted.size()) - 1];
}

view_table::view_table(size_t observers) : slots_(observers) {
}

uint64_t view_table::open(size_t i) {
  auto& s = slots_.at(i);
  auto gen = s.gen + 1;
  s = slot{};
  s.gen = gen;
  s.active = true;
  return gen;
}

void view_table::close(size_t i) {
  slots_.at(i).active = false;
}

size_t view_table::active_count() const {
  return static_cast<size_t>(std::count_if(
    slots_.begin(), slots_.end(), [](const slot& s) { return s.active; }));
}

bool view_table::accept(size_t i, uint64_t gen) {
  if (i >= slots_.size() || !slots_[i].active || slots_[i].gen != gen) {
    ++ignored_;
    return false;
  }
  ++applied_;
  return true;
}

bool view_table::on_member(size_t i, uint64_t gen, const std::string& name,
                           member_state state, uint64_t incarnation,
                           time_point at) {
  if (!accept(i, gen))
    return false;
  auto& s = slots_[i];
  auto [it, fresh] = s.members.try_emplace(name);
  auto& m = it->second;
  bool was_alive = !fresh && m.state == member_state::alive;
  bool is_alive = state == member_state::alive;
  if (fresh || m.state != state) {
    m.state = state;
    m.since = at;
  }
  m.incarnation = incarnation;
  if (was_alive != is_alive) {
    s.alive += is_alive ? 1 : size_t{0};
    s.alive -= was_alive ? 1 : size_t{0};
    s.alive_since = at;
  }
  return true;
}

bool view_table::on_key(size_t i, uint64_t gen, const std::string& key,
                        const std::string& version, time_point at) {
  if (!accept(i, gen))
    return false;
  auto& k = slots_[i].keys[key];
  if (k.version != version || k.since == time_point{}) {
    k.version = version;
    k.since = at;
  }
  return true;
}

reach view_table::all_alive(size_t n) const {
  reach r;
  for (auto& s : slots_) {
    if (!s.active)
      continue;
    ++r.observers;
    if (s.alive == n)
      r.times.push_back(s.alive_since);
  }
  return r;
}

reach view_table::member_in(const std::string& name,
                            const std::vector<member_state>& states,
                            size_t except) const {
  reach r;
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    if (!s.active || i == except)
      continue;
    ++r.observers;
    auto it = s.members.find(name);
    if (it == s.members.end())
      continue;
    if (std::find(states.begin(), states.end(), it->second.state)
        != states.end())
      r.times.push_back(it->second.since);
  }
  return r;
}

reach view_table::key_at(const std::string& key,
                         const std::string& version) const {
  reach r;
  for (auto& s : slots_) {
    if (!s.active)
      continue;
    ++r.observers;
    auto it = s.keys.find(key);
    if (it != s.keys.end() && it->second.version == version)
      r.times.push_back(it->second.since);
  }
  return r;
}

std::optional<member_state> view_table::state_of(size_t i,
                                                 const std::string& name) const {
  auto& s = slots_.at(i);
  auto it = s.members.find(name);
  if (it == s.members.end())
    return std::nullopt;
  return it->second.state;
}

} // namespace pekonode::chaos::inproc
