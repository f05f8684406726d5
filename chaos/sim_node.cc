#include "chaos/sim_node.h"

#include <algorithm>

#include "node/peer_map.h"

namespace pekonode::chaos {

namespace {

// Metadata wall clocks start near 2023-11 so HLC values look realistic.
constexpr int64_t wall_base_ms = 1700000000000LL;

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

} // namespace

std::string sim_node_name(std::size_t i) { return "n" + std::to_string(i); }

address sim_node_addr(std::size_t i) {
  return "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)
         + ":7946";
}

uint64_t fold_entry(uint64_t h, const std::string& key,
                    const metadata::version& v, const std::string& value) {
  auto feed = [&h](const void* p, std::size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ULL;
    }
  };
  auto feed_str = [&](const std::string& x) {
    uint64_t n = x.size();
    feed(&n, sizeof n);
    feed(x.data(), x.size());
  };
  feed_str(key);
  feed(&v.hlc, sizeof v.hlc);
  feed_str(v.origin);
  feed_str(value);
  return h;
}

bool view_matches(const std::vector<membership::member>& view,
                  const std::set<std::string>& up_names) {
  std::size_t alive_up = 0;
  for (auto& m : view) {
    bool up = up_names.count(m.name) > 0;
    bool live = m.state == membership::member_state::alive;
    if (up != live) return false;
    if (!up && m.state == membership::member_state::suspect) return false;
    alive_up += up;
  }
  return alive_up == up_names.size();
}

bool cluster_node::view_correct(const std::set<std::string>& up_names) const {
  return view_matches(observed_members(), up_names);
}

uint64_t cluster_node::wall_ms(time_point now) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              now.time_since_epoch()).count();
  return static_cast<uint64_t>(wall_base_ms + ms + skew_ms_);
}

core_node::core_node(const node_config& cfg, std::string name, address addr,
                     uint64_t seed, int64_t skew_ms)
  : cluster_node(std::move(name), std::move(addr), skew_ms) {
  mem_ = std::make_unique<membership::core>(cfg.membership, name_, addr_,
                                            std::map<std::string, std::string>{},
                                            mix(seed));
  md_ = std::make_unique<metadata::core>(cfg.metadata, name_, mix(seed + 1));
}

void core_node::on_datagram(const address& from, channel chan,
                            const std::string& payload, time_point now,
                            outbound_list& out) {
  auto first = out.size();
  if (chan == channel::membership)
    mem_->handle(from, payload, now, out);
  else if (chan == channel::metadata)
    md_->handle(from, payload, wall_ms(now), now, out);
  after(now, first, out);
}

void core_node::poll(time_point now, outbound_list& out) {
  auto first = out.size();
  if (has_pending_) {
    for (auto& o : pending_) out.push_back(std::move(o));
    pending_.clear();
    has_pending_ = false;
  }
  mem_->poll(now, out);
  md_->poll(wall_ms(now), now, out);
  after(now, first, out);
}

time_point core_node::next_wakeup() const {
  auto t = std::min(mem_->next_wakeup(), md_->next_wakeup());
  if (has_pending_) t = std::min(t, pending_at_);
  return t;
}

void core_node::join(const std::vector<address>& seeds, time_point now) {
  auto first = pending_.size();
  mem_->join(seeds, now, pending_);
  after(now, first, pending_);
}

void core_node::leave(time_point now) {
  auto first = pending_.size();
  mem_->leave(now, pending_);
  after(now, first, pending_);
}

void core_node::set_tags(std::map<std::string, std::string> tags,
                         time_point now) {
  auto first = pending_.size();
  mem_->set_tags(std::move(tags), now, pending_);
  after(now, first, pending_);
}

metadata::write_result core_node::put(const std::string& key,
                                      std::string value, time_point now) {
  auto first = pending_.size();
  auto r = md_->put(key, std::move(value), wall_ms(now), now, pending_);
  after(now, first, pending_);
  return r;
}

std::vector<membership::member> core_node::members() const {
  return mem_->members();
}

membership::member core_node::self() const { return mem_->self(); }

bool core_node::view_correct(const std::set<std::string>& up_names) const {
  // Equivalent to view_matches(members(), up_names): alive members are
  // exactly the up nodes (as many, and each up node alive), none suspect.
  using membership::member_state;
  if (mem_->count(member_state::alive) != up_names.size()
      || mem_->count(member_state::suspect) != 0)
    return false;
  for (auto& name : up_names) {
    auto* m = mem_->find(name);
    if (m == nullptr || m->state != member_state::alive) return false;
  }
  return true;
}

std::string core_node::store_digest() const {
  // "<count>:<hi><lo>" in hex, formatted by hand: the harness compares
  // every node's digest at every agreement sample, and snprintf was a few
  // percent of a whole simulation.
  auto d = md_->digest();
  std::string out = std::to_string(d.count);
  out.push_back(':');
  static constexpr char hex[] = "0123456789abcdef";
  for (uint64_t w : {uint64_t{d.hash.hi}, uint64_t{d.hash.lo}})
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(hex[(w >> shift) & 0xf]);
  return out;
}

std::optional<metadata::version>
core_node::version_of(const std::string& key) const {
  auto* e = md_->data().find(key);
  if (e == nullptr) return std::nullopt;
  return e->ver;
}

uint64_t core_node::content_fingerprint() const {
  auto entries = md_->list();
  std::sort(entries.begin(), entries.end(),
            [](auto& a, auto& b) { return a.first < b.first; });
  uint64_t h = fnv_basis;
  for (auto& [key, e] : entries) h = fold_entry(h, key, e->ver, e->value);
  return h;
}

void core_node::after(time_point now, std::size_t first, outbound_list& out) {
  for (auto i = first; i < out.size(); ++i) {
    auto bytes = out[i].payload.size() + datagram_overhead_bytes;
    (out[i].chan == channel::metadata ? md_bytes_out_ : mem_bytes_out_) += bytes;
  }
  if (&out == &pending_ && !pending_.empty()) {
    has_pending_ = true;
    pending_at_ = now;
  }
  auto events = mem_->drain_events();
  view_changes_ += events.size();
  for (auto& e : events) {
    // As a node's peer feed does: peers follow member events one by one,
    // through the one mapping of member state to peer liveness.
    if (auto p = node::peer_change_of(e, name_))
      md_->member_changed(p->name, p->addr, p->live);
    if (on_event) on_event(e, now);
  }
  // Change events are not needed here; drain so the queue stays small.
  md_->drain_events();
}

} // namespace pekonode::chaos
