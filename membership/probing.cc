#include "membership/probing.h"

#include <algorithm>

namespace pekonode::membership {

probing::probing(const config& cfg, member_table& table, outbox& ob,
                 std::mt19937_64& rng, core_stats& stats)
  : cfg_(cfg), table_(table), ob_(ob), rng_(rng), stats_(stats),
    awareness_(cfg.awareness_max) {}

// -- schedule --------------------------------------------------------------------

void probing::start(time_point now) {
  next_probe_ = now + jitter(cfg_.probe_interval, rng_);
}

void probing::resume(time_point now) {
  next_probe_ = now + cfg_.probe_interval;
}

void probing::stop() {
  probe_.active = false;
  suspicions_.clear();
  checks_.clear();
  suspect_notices_.clear();
  relays_.clear();
  timers_dirty_ = true;
}

time_point probing::next_wakeup() const {
  auto t = time_point::max();
  if (probe_.active)
    t = (probe_.indirect_sent ? probe_.end : probe_.direct_deadline) + probe_lag();
  else if (table_.live_count() > 1)
    t = next_probe_;
  if (timers_dirty_) {
    auto u = time_point::max();
    for (auto& [_, r] : relays_) u = std::min(u, r.nacked ? r.expires : r.nack_at);
    for (auto& [_, s] : suspicions_) u = std::min(u, s.deadline());
    for (auto& [_, c] : checks_) u = std::min(u, c.next);
    timers_at_ = u;
    timers_dirty_ = false;
  }
  return std::min(t, timers_at_);
}

// -- the probe round -------------------------------------------------------------

void probing::add_target(const interned& name) {
  // O(1): swap with a random slot of the not yet probed rest of the round.
  std::uniform_int_distribution<std::size_t> d(probe_idx_, probe_list_.size());
  auto pos = d(rng_);
  probe_list_.push_back(name);
  std::swap(probe_list_[pos], probe_list_.back());
}

void probing::start_probe(time_point now, outbound_list& out) {
  const member* target = nullptr;
  for (std::size_t tries = 0; tries <= probe_list_.size() + 1 && !target; ++tries) {
    if (probe_idx_ >= probe_list_.size()) {
      probe_list_.clear();
      table_.for_each_live_other(
        [&](const member& m) { probe_list_.push_back(m.name); });
      std::shuffle(probe_list_.begin(), probe_list_.end(), rng_);
      probe_idx_ = 0;
      if (probe_list_.empty()) return;
    }
    auto* e = table_.find(probe_list_[probe_idx_++]);
    if (e && is_live(e->state)) target = e;
  }
  if (!target) return;
  ++stats_.probes;
  probe_ = probe_state{};
  probe_.active = true;
  probe_.target = target->name;
  probe_.addr = target->addr;
  probe_.incarnation = target->incarnation;
  probe_.seq = ob_.next_seq();
  probe_.sent = now;
  probe_.direct_deadline = now + probe_timeout();
  probe_.end = now + probe_duration();
  probe_.lag = lag_;
  send_ping(*target, probe_.seq, out);
}

duration probing::probe_duration() const {
  auto interval = awareness_.scale(cfg_.probe_interval);
  if (!cfg_.adaptive_probe_timeout || rtt_.samples() == 0) return interval;
  auto rto = rtt_.srtt() + std::max<duration>(milliseconds(1), rtt_.rttvar() * 4);
  auto need = probe_timeout() + rto * 2;
  return std::clamp(need, interval, interval * max_probe_stretch);
}

void probing::send_ping(const member& target, uint64_t seq, outbound_list& out) {
  auto p = ob_.packet();
  p.mutable_ping()->set_seq(seq);
  p.mutable_ping()->set_target(target.name);
  // Lifeguard buddy: tell a suspected target so that it refutes now.
  if (target.state == member_state::suspect)
    *p.add_updates() = encode(target, table_.self().name);
  ob_.send_piggybacked(probe_.addr, p, out);
}

duration probing::base_probe_timeout() const {
  if (!cfg_.adaptive_probe_timeout) return cfg_.probe_timeout;
  return rtt_.timeout(cfg_.probe_timeout, cfg_.probe_timeout_min,
                      cfg_.probe_timeout_max, milliseconds(1));
}

const member* probing::check_probe(time_point now, outbound_list& out) {
  if (probe_.active && !probe_.indirect_sent
      && now >= probe_.direct_deadline + probe_lag()) {
    probe_.indirect_sent = true;
    probe_.retry_seq = ob_.next_seq();
    if (cfg_.probe_retry) {
      auto* e = table_.find(probe_.target);
      if (e && e->incarnation == probe_.incarnation && is_live(e->state)) {
        ++stats_.probe_retries;
        send_ping(*e, probe_.retry_seq, out);
      }
    }
    auto helpers = table_.pick(static_cast<std::size_t>(cfg_.indirect_checks),
                               false, now, probe_.target, rng_);
    for (auto* h : helpers) {
      auto p = ob_.packet();
      auto* r = p.mutable_ping_req();
      r->set_seq(probe_.retry_seq);
      r->set_target(probe_.target);
      r->set_target_addr(probe_.addr);
      ++stats_.indirect_probes;
      ++probe_.expected_nacks;
      ob_.send_piggybacked(h->addr, p, out);
    }
  }
  if (!probe_.active || now < probe_.end + probe_lag()) return nullptr;
  probe_.active = false;
  ++stats_.probe_failures;
  // Lifeguard: helpers that did not even nack point at our own slowness;
  // with no helper asked, the failure counts once.
  int delta = probe_.expected_nacks > 0
                ? std::max(0, probe_.expected_nacks - probe_.nacks)
                : 1;
  awareness_.apply(delta);
  auto* e = table_.find(probe_.target);
  if (!e || e->incarnation != probe_.incarnation || !is_live(e->state)) {
    miss_sample(true);
    return nullptr; // refuted, gone or dead meanwhile
  }
  // The miss counts once the caller has started the suspicion (the next
  // start_due_probe): this probe's own miss does not stretch its verdict.
  miss_pending_ = true;
  ++stats_.suspects_raised;
  return e;
}

void probing::start_due_probe(time_point now, outbound_list& out) {
  if (miss_pending_) {
    miss_pending_ = false;
    miss_sample(true);
  }
  if (probe_.active || now < next_probe_) return;
  next_probe_ = now + awareness_.scale(cfg_.probe_interval);
  start_probe(now, out);
}

void probing::relay_tick(time_point now, outbound_list& out) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    auto& r = it->second;
    if (r.nacked && r.expires <= now) {
      it = relays_.erase(it);
      timers_dirty_ = true;
      continue;
    }
    if (!r.nacked && r.nack_at <= now) {
      auto p = ob_.packet();
      p.mutable_nack()->set_seq(r.origin_seq);
      ++stats_.nacks_sent;
      ob_.send(r.origin, p, out);
      r.nacked = true;
      timers_dirty_ = true;
    }
    ++it;
  }
}

// -- inbound ---------------------------------------------------------------------

void probing::on_ping(const address& from, const Ping& m, bool member,
                      bool stranger, outbound_list& out) {
  // The target's name, so another process that took over the address
  // does not answer for it.
  if (m.target() != table_.self().name) {
    ++stats_.bad_packets["wrong_target"];
    return;
  }
  auto p = ob_.packet();
  p.mutable_ack()->set_seq(m.seq());
  if (stranger)
    p.mutable_ack()->set_stranger(true);
  if (member)
    ob_.send_piggybacked(from, p, out);
  else
    ob_.send(from, p, out);
}

void probing::on_ack(const Ack& m, time_point now, outbound_list& out) {
  if (probe_.active
      && (m.seq() == probe_.seq
          || (probe_.retry_seq != 0 && m.seq() == probe_.retry_seq))) {
    // Only the target answers the first ping, so its ack times one round
    // trip even when it comes after the retry went out; an ack of the
    // retry or a relayed one could answer either attempt: no sample.
    if (m.seq() == probe_.seq) {
      rtt_.sample(now - probe_.sent);
      ++stats_.rtt_samples;
    }
    // Answered late (or only through the retry or a helper): the first
    // ping missed its direct timeout all the same.
    miss_sample(probe_.indirect_sent);
    probe_.active = false;
    ++stats_.acks;
    awareness_.apply(-1);
    return;
  }
  auto r = relays_.find(m.seq());
  if (r == relays_.end()) return; // late or duplicate
  auto p = ob_.packet();
  p.mutable_ack()->set_seq(r->second.origin_seq);
  ob_.send_piggybacked(r->second.origin, p, out);
  relays_.erase(r);
  timers_dirty_ = true;
}

void probing::on_nack(const Nack& m) {
  if (!probe_.active || probe_.retry_seq == 0 || m.seq() != probe_.retry_seq)
    return;
  ++probe_.nacks;
  ++stats_.nacks_received;
}

void probing::on_ping_req(const address& from, const PingReq& m,
                          time_point now, outbound_list& out) {
  if (!valid(m, cfg_)) {
    ++stats_.bad_packets["bad_body"];
    return;
  }
  if (relays_.size() >= max_relays) {
    // Make room by forgetting the nacked relay that expires first (kept
    // only for a late ack); un-nacked ones are never displaced.
    auto victim = relays_.end();
    for (auto it = relays_.begin(); it != relays_.end(); ++it)
      if (it->second.nacked
          && (victim == relays_.end() || it->second.expires < victim->second.expires))
        victim = it;
    if (victim == relays_.end()) {
      ++stats_.bad_packets["relay_full"];
      return;
    }
    relays_.erase(victim);
  }
  auto seq = ob_.next_seq();
  timers_dirty_ = true;
  relays_[seq] = relay{from, m.seq(), now + cfg_.probe_timeout * 4 / 5,
                       now + cfg_.probe_interval * max_probe_stretch};
  ++stats_.relayed_probes;
  auto p = ob_.packet();
  auto* ping = p.mutable_ping();
  ping->set_seq(seq);
  ping->set_target(m.target());
  ob_.send_piggybacked(m.target_addr(), p, out);
}

// -- suspicions ------------------------------------------------------------------

double probing::suspicion_stretch() const {
  if (!cfg_.loss_aware_suspicion) return 1;
  auto hit = std::max(1e-9, 1 - miss_);
  return std::min(max_loss_stretch, 1 / (hit * hit));
}

duration probing::suspicion_min() const {
  auto min = suspicion_min_timeout(cfg_.suspicion_mult, table_.live_count(),
                                   cfg_.probe_interval);
  return std::chrono::duration_cast<duration>(min * suspicion_stretch());
}

void probing::suspect(const std::string& name, const std::string& accuser,
                      time_point now) {
  auto n = table_.live_count();
  auto min = suspicion_min();
  auto max = min * cfg_.suspicion_max_timeout_mult;
  auto k = suspicion_expected_confirmations(cfg_.suspicion_mult, n);
  suspicions_.erase(name);
  suspicions_.emplace(name, suspicion(accuser, k, min, max, now));
  timers_dirty_ = true;
  if (cfg_.suspicion_checks) {
    // The unstretched minimum: a stretched suspicion gets more checks.
    auto base = suspicion_min_timeout(cfg_.suspicion_mult, n, cfg_.probe_interval);
    auto period = std::max<duration>(cfg_.probe_interval, base / 4);
    checks_[name] = check{now + period, period, 0};
  }
}

void probing::check_suspects(time_point now, outbound_list& out) {
  for (auto it = checks_.begin(); it != checks_.end();) {
    auto& [name, c] = *it;
    if (c.next > now) {
      ++it;
      continue;
    }
    timers_dirty_ = true;
    auto* e = table_.find(name);
    if (!e || e->state != member_state::suspect || !suspicions_.count(name)) {
      it = checks_.erase(it);
      continue;
    }
    c.next = now + c.period;
    ++stats_.suspicion_checks;
    auto p = ob_.packet();
    p.mutable_ping()->set_seq(ob_.next_seq());
    p.mutable_ping()->set_target(name);
    *p.add_updates() = encode(*e, table_.self().name);
    ob_.send(e->addr, p, out);
    // From the second check on, the suspect has not refuted to us: our
    // path to it (and maybe every path our gossip of the suspicion took)
    // may be cut. The check then also goes through one random member as a
    // ping-req that carries the suspicion: the helper learns it (so it no
    // longer lives on our links alone) and its ping to the suspect carries
    // it, so a live suspect refutes to the helper and to us.
    if (c.sent++ > 0) {
      auto helpers = table_.pick(1, false, now, name, rng_);
      if (!helpers.empty()) {
        auto q = ob_.packet();
        auto* r = q.mutable_ping_req();
        r->set_seq(ob_.next_seq());
        r->set_target(name);
        r->set_target_addr(e->addr);
        *q.add_updates() = encode(*e, table_.self().name);
        ++stats_.indirect_suspicion_checks;
        ob_.send(helpers[0]->addr, q, out);
      }
    }
    ++it;
  }
}

bool probing::confirm(const std::string& name, const std::string& accuser) {
  auto it = suspicions_.find(name);
  if (it == suspicions_.end() || !it->second.confirm(accuser)) return false;
  timers_dirty_ = true; // a confirmation brings the deadline forward
  return true;
}

void probing::clear(const std::string& name) {
  if (suspicions_.erase(name) + checks_.erase(name) > 0) timers_dirty_ = true;
}

std::vector<std::string> probing::expired(time_point now) {
  for (auto it = suspect_notices_.begin(); it != suspect_notices_.end();)
    it = suspicions_.count(it->first) ? std::next(it) : suspect_notices_.erase(it);
  std::vector<std::string> due;
  for (auto& [name, s] : suspicions_)
    if (s.deadline() <= now) due.push_back(name);
  for (auto& name : due) {
    suspicions_.erase(name);
    checks_.erase(name);
  }
  if (!due.empty()) timers_dirty_ = true;
  return due;
}

void probing::notice_suspect_sender(const std::string& sender,
                                    const address& from, time_point now,
                                    outbound_list& out) {
  if (!cfg_.refute_assist) return;
  auto* e = table_.find(sender);
  if (!e || e->state != member_state::suspect || e->addr != from) return;
  auto it = suspect_notices_.find(sender);
  if (it != suspect_notices_.end() && now - it->second < cfg_.probe_timeout)
    return;
  if (!ob_.take_assist(now)) return;
  suspect_notices_[sender] = now;
  ++stats_.suspect_notices;
  auto p = ob_.packet();
  *p.add_updates() = encode(*e, table_.self().name);
  ob_.send(e->addr, p, out);
}

} // namespace pekonode::membership
