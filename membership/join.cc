#include "membership/join.h"

#include <algorithm>
#include <set>

namespace pekonode::membership {

joiner::joiner(const config& cfg, member_table& table, outbox& ob,
               std::mt19937_64& rng, core_stats& stats)
  : cfg_(cfg), table_(table), ob_(ob), rng_(rng), stats_(stats) {}

void joiner::start(time_point now) {
  reconnect_next_ = now + jitter(cfg_.reconnect_interval, rng_);
  if (cfg_.dead_probe_interval > duration::zero())
    dead_probe_next_ = now + jitter(cfg_.dead_probe_interval * 2, rng_);
}

void joiner::join(const std::vector<address>& seeds, time_point now,
                  outbound_list& out) {
  for (auto& s : seeds)
    if (!s.empty() && s.size() <= cfg_.max_addr_bytes
        && std::find(seeds_.begin(), seeds_.end(), s) == seeds_.end()
        && s != table_.self().addr)
      seeds_.push_back(s);
  if (seeds_.empty()) {
    joined_ = true;
    return;
  }
  targets_ = seeds_;
  begin(now, out);
}

std::size_t joiner::discover(const std::vector<address>& found,
                             outbound_list& out) {
  std::set<address> live;
  table_.for_each_live_other([&](const member& m) { live.insert(m.addr); });
  std::set<address> sent;
  for (auto& a : found) {
    if (sent.size() >= cfg_.max_discovery_joins) break;
    if (a.empty() || a.size() > cfg_.max_addr_bytes || a == table_.self().addr
        || live.count(a) || !sent.insert(a).second)
      continue;
    send_join(true, a, out);
  }
  stats_.reconnects += sent.size();
  return sent.size();
}

void joiner::choose_rejoin_targets(time_point now) {
  targets_ = seeds_;
  if (targets_.empty())
    for (auto* m : table_.pick(3, false, now, {}, rng_)) targets_.push_back(m->addr);
}

void joiner::restart(time_point now, outbound_list& out) {
  reconnect_next_ = now + jitter(cfg_.reconnect_interval, rng_);
  begin(now, out);
}

void joiner::begin(time_point now, outbound_list& out) {
  if (targets_.empty()) {
    joined_ = true;
    return;
  }
  joined_ = false;
  backoff_ = cfg_.join_retry_initial;
  next_attempt_ = now;
  tick(now, out);
}

void joiner::send_join(bool reconnect, const address& to, outbound_list& out,
                       const std::string& cookie, bool pad) {
  auto p = ob_.packet();
  p.mutable_join()->set_reconnect(reconnect);
  if (!cookie.empty()) p.mutable_join()->set_cookie(cookie);
  *p.add_updates() = encode(table_.self(), {});
  auto size = p.ByteSizeLong();
  if (pad && size < min_request_bytes)
    p.mutable_join()->set_pad(std::string(min_request_bytes - size, '\0'));
  if (cookie.empty()) {
    if (asked_.size() >= max_asked) asked_.pop_front();
    asked_.push_back(to);
  }
  ob_.send(to, p, out);
}

bool joiner::hello(const address& to, std::size_t max_bytes, outbound_list& out) {
  auto p = ob_.packet();
  p.mutable_join()->set_reconnect(true);
  *p.add_updates() = encode(table_.self(), {});
  if (p.ByteSizeLong() > max_bytes) return false;
  if (asked_.size() >= max_asked) asked_.pop_front();
  asked_.push_back(to);
  ++stats_.reconnects;
  ob_.send(to, p, out);
  return true;
}

void joiner::on_challenge(const address& from, const std::string& cookie,
                          outbound_list& out) {
  bool joining = !joined_ && std::find(targets_.begin(), targets_.end(), from)
                               != targets_.end();
  auto it = std::find(asked_.begin(), asked_.end(), from);
  if (it == asked_.end()) {
    ++stats_.bad_packets["unsolicited_challenge"];
    return;
  }
  asked_.erase(it); // one answer per request
  send_join(!joining, from, out, cookie);
}

void joiner::tick(time_point now, outbound_list& out) {
  if (joined_ || targets_.empty() || now < next_attempt_) return;
  ++stats_.join_attempts;
  for (auto& s : targets_)
    if (s != table_.self().addr) send_join(false, s, out);
  next_attempt_ = now + jitter(backoff_ * 2, rng_) + backoff_ / 4;
  backoff_ = std::min(backoff_ * 2, cfg_.join_retry_max);
}

void joiner::reconnect_tick(time_point now, outbound_list& out) {
  reconnect_tick(now, out, {});
}

void joiner::reconnect_tick(time_point now, outbound_list& out,
                            const std::set<address>& skip) {
  if (now < reconnect_next_) return;
  reconnect_next_ = now + jitter(cfg_.reconnect_interval * 2, rng_);
  // Only the seeds' liveness is asked of the live members.
  auto known = table_.sweep(now, cfg_.dead_retention, seeds_);
  auto& cands = known.remembered;
  if (!skip.empty())
    cands.erase(std::remove_if(cands.begin(), cands.end(),
                               [&](const address& a) { return skip.count(a) != 0; }),
                cands.end());
  for (auto& s : seeds_)
    if (s != table_.self().addr && !known.live.count(s)) cands.push_back(s);
  if (cands.empty()) return;
  std::uniform_int_distribution<std::size_t> d(0, cands.size() - 1);
  ++stats_.reconnects;
  send_join(true, cands[d(rng_)], out);
}

void joiner::dead_probe_tick(time_point now, outbound_list& out) {
  if (now < dead_probe_next_) return;
  auto dead = table_.count(member_state::dead);
  if (dead == 0) return; // next_wakeup() ignores the timer meanwhile
  dead_probe_next_ = now + jitter(cfg_.dead_probe_interval * 2, rng_);
  std::uniform_int_distribution<std::size_t> d(0, dead - 1);
  auto nth = d(rng_);
  const member* target = table_.nth_dead(nth);
  if (!target || target->addr.empty() || target->addr == table_.self().addr)
    return;
  ++stats_.dead_probes;
  auto p = ob_.packet();
  p.mutable_ping()->set_seq(ob_.next_seq());
  p.mutable_ping()->set_target(target->name);
  *p.add_updates() = encode(*target, table_.self().name);
  ob_.send(target->addr, p, out);
}

bool joiner::dead_contact(const address& to, time_point now,
                          outbound_list& out) {
  if (now < dead_contact_next_ || to.empty() || to == table_.self().addr)
    return false;
  dead_contact_next_ = now + cfg_.probe_interval;
  ++stats_.dead_contacts;
  ++stats_.reconnects;
  send_join(true, to, out);
  return true;
}

bool joiner::catching_up(bool join_reply, time_point now) const {
  return (join_reply && !joined_) || now < catch_up_until_;
}

bool joiner::on_join_reply(time_point now) {
  if (joined_) return false;
  joined_ = true;
  catch_up_until_ = now + cfg_.join_sync_interval * (2 * cfg_.join_syncs + 1);
  next_attempt_ = time_point::max();
  return true;
}

bool joiner::awaiting_reply_from(const address& a) const {
  return !joined_ && std::find(targets_.begin(), targets_.end(), a) != targets_.end();
}

time_point joiner::next_wakeup() const {
  auto t = reconnect_next_;
  if (table_.count(member_state::dead) > 0) t = std::min(t, dead_probe_next_);
  if (!joined_ && !targets_.empty()) t = std::min(t, next_attempt_);
  return t;
}

} // namespace pekonode::membership
