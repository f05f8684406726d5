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
  if (!fresh) return;
  it->second.expires = now + cfg_.unconfirmed_ttl;
  it->second.next_ping = now;
  order_.push_back(name);
}

void admission::tick(time_point now, outbound_list& out) {
  if (!pings_init_) {
    auto per_sec = cfg_.confirm_per_probe
                   / std::chrono::duration<double>(cfg_.probe_interval).count();
    pings_ = token_bucket(per_sec, cfg_.confirm_burst, now);
    pings_init_ = true;
  }
  for (std::size_t k = 0, n = order_.size(); k < n; ++k) {
    auto name = std::move(order_.front());
    order_.pop_front();
    auto it = pending_.find(name);
    if (it == pending_.end()) continue; // already done with
    auto& p = it->second;
    auto drop = [&] {
      if (p.seq) by_seq_.erase(p.seq);
      pending_.erase(it);
    };
    if (!table_.unconfirmed(name)) { // confirmed, or forgotten meanwhile
      drop();
      continue;
    }
    if (now >= p.expires) {
      table_.forget_unconfirmed(name);
      ++stats_.unconfirmed_expired;
      drop();
      continue;
    }
    auto* m = table_.find_any(name);
    if (is_live(m->state) && p.attempts < cfg_.confirm_attempts
        && now >= p.next_ping && pings_.try_take(1, now)) {
      if (p.seq) by_seq_.erase(p.seq);
      p.seq = ob_.next_seq();
      by_seq_[p.seq] = name;
      ++p.attempts;
      p.next_ping = now + cfg_.probe_timeout;
      if (p.attempts == cfg_.confirm_attempts)
        p.expires = std::min(p.expires, now + cfg_.probe_interval);
      ++stats_.confirm_probes;
      // A bare ping: no piggybacked gossip to an address nobody vouched for.
      auto pkt = ob_.packet();
      pkt.mutable_ping()->set_seq(p.seq);
      pkt.mutable_ping()->set_target(name);
      ob_.send(m->addr, pkt, out);
    }
    order_.push_back(std::move(name));
  }
}

const std::string* admission::on_ack(uint64_t seq) const {
  auto it = by_seq_.find(seq);
  return it == by_seq_.end() ? nullptr : &it->second;
}

time_point admission::next_wakeup() const {
  auto t = time_point::max();
  auto ping_at = pings_init_ ? pings_.when_available(1) : time_point::min();
  for (auto& [name, p] : pending_) {
    t = std::min(t, p.expires);
    if (p.attempts < cfg_.confirm_attempts)
      if (auto* m = table_.find_any(name); m && is_live(m->state))
        t = std::min(t, std::max(p.next_ping, ping_at));
  }
  return t;
}

} // namespace pekonode::membership
