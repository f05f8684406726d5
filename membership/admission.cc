#include "membership/admission.h"

#include <algorithm>
#include <chrono>
#include <iterator>

namespace pekonode::membership {

admission::admission(const config& cfg, member_table& table, outbox& ob,
                     core_stats& stats)
  : cfg_(cfg), table_(table), ob_(ob), stats_(stats) {}

// -- per-source budgets ------------------------------------------------------------

admission::source* admission::find_source(const address& a, time_point now) {
  auto it = sources_.find(a);
  if (it != sources_.end()) return &it->second;
  if (sources_.size() >= max_sources) {
    for (auto j = sources_.begin(); j != sources_.end();)
      j = j->second.members.available(now) >= cfg_.new_members_burst
              && j->second.tag_bytes.available(now) >= cfg_.tag_bytes_burst
            ? sources_.erase(j)
            : std::next(j);
    if (sources_.size() >= max_sources) return nullptr;
  }
  source s{token_bucket(cfg_.new_members_per_second, cfg_.new_members_burst, now),
           token_bucket(cfg_.tag_bytes_per_second, cfg_.tag_bytes_burst, now)};
  return &sources_.emplace(a, s).first->second;
}

bool admission::take_member(const address& a, time_point now) {
  auto* s = find_source(a, now);
  return s && s->members.try_take(1, now);
}

bool admission::take_tag_bytes(const address& a, std::size_t n, time_point now) {
  if (n == 0) return true;
  auto* s = find_source(a, now);
  return s && s->tag_bytes.try_take(static_cast<double>(n), now);
}

// -- confirmation ------------------------------------------------------------------

void admission::learnt(const std::string& name, time_point now) {
  // Learnt again (e.g. back alive): the first deadline stands, so claims
  // about a silent name cannot keep it unconfirmed forever.
  auto [it, fresh] = pending_.try_emplace(name);
  if (fresh) {
    auto& p = it->second;
    p.id = next_id_++;
    p.expires = now + cfg_.unconfirmed_ttl;
    p.next_ping = now;
    by_id_.emplace(p.id, it);
    expiries_.set(p.id, p.expires);
  }
  update_ping_timer(it);
}

void admission::confirmed(const std::string& name) {
  if (auto it = pending_.find(name); it != pending_.end()) drop(it);
}

void admission::update_ping_timer(pending_map::iterator it) {
  auto& p = it->second;
  auto* m = table_.find_any(it->first);
  if (m && is_live(m->state) && p.attempts < cfg_.confirm_attempts)
    ping_times_.set(p.id, p.next_ping);
  else
    ping_times_.erase(p.id);
}

void admission::drop(pending_map::iterator it) {
  auto& p = it->second;
  if (p.seq) by_seq_.erase(p.seq);
  expiries_.erase(p.id);
  ping_times_.erase(p.id);
  by_id_.erase(p.id);
  pending_.erase(it);
}

void admission::tick(time_point now, outbound_list& out) {
  if (!pings_init_) {
    auto per_sec = cfg_.confirm_per_probe
                   / std::chrono::duration<double>(cfg_.probe_interval).count();
    pings_ = token_bucket(per_sec, cfg_.confirm_burst, now);
    pings_init_ = true;
  }
  // Time is up: forget those still unconfirmed.
  while (!expiries_.empty() && expiries_.top().at <= now) {
    auto it = by_id_.at(expiries_.top().key);
    if (table_.forget_unconfirmed(it->first)) ++stats_.unconfirmed_expired;
    drop(it);
  }
  // Due pings, the longest due first, while the budget lasts.
  while (!ping_times_.empty() && ping_times_.top().at <= now) {
    auto it = by_id_.at(ping_times_.top().key);
    auto& name = it->first;
    auto& p = it->second;
    if (!table_.unconfirmed(name)) { // confirmed, or forgotten meanwhile
      drop(it);
      continue;
    }
    auto* m = table_.find_any(name);
    if (!is_live(m->state) || p.attempts >= cfg_.confirm_attempts) {
      ping_times_.erase(p.id);
      continue;
    }
    if (!pings_.try_take(1, now)) break;
    if (p.seq) by_seq_.erase(p.seq);
    p.seq = ob_.next_seq();
    by_seq_[p.seq] = name;
    ++p.attempts;
    p.next_ping = now + cfg_.probe_timeout;
    if (p.attempts == cfg_.confirm_attempts) {
      p.expires = std::min(p.expires, now + cfg_.probe_interval);
      expiries_.set(p.id, p.expires);
    }
    update_ping_timer(it);
    ++stats_.confirm_probes;
    // A bare ping: no piggybacked gossip to an address nobody vouched for.
    auto pkt = ob_.packet();
    pkt.mutable_ping()->set_seq(p.seq);
    pkt.mutable_ping()->set_target(name);
    ob_.send(m->addr, pkt, out);
  }
}

const std::string* admission::on_ack(uint64_t seq) const {
  auto it = by_seq_.find(seq);
  return it == by_seq_.end() ? nullptr : &it->second;
}

time_point admission::next_wakeup() const {
  auto t = expiries_.earliest();
  if (!ping_times_.empty()) {
    auto ping_at = pings_init_ ? pings_.when_available(1) : time_point::min();
    t = std::min(t, std::max(ping_times_.top().at, ping_at));
  }
  return t;
}

} // namespace pekonode::membership
