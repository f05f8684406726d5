#include "userevents/core.h"

#include <algorithm>
#include <cmath>

namespace pekonode::userevents {

// -- core ---------------------------------------------------------------------------

namespace {

using std::chrono::duration_cast;

int64_t ms(duration d) {
  return duration_cast<std::chrono::milliseconds>(d).count();
}

/// (ltime, id) order: which of two events of one name is newer.
bool newer(const user_event& a, const user_event& b) {
  return a.ltime != b.ltime ? a.ltime > b.ltime : a.id > b.id;
}

} // namespace

core::core(config cfg, std::string self_name, address self_addr,
           uint64_t seed)
  : cfg_(std::move(cfg)), self_(std::move(self_name)),
    self_addr_(std::move(self_addr)), rng_(seed) {
}

void core::set_member(const std::string& name, const address& addr,
                      bool live, const std::map<std::string, std::string>& tags) {
  auto [it, inserted] = members_.try_emplace(name);
  auto& m = it->second;
  bool peer = name != self_;
  bool was = peer && !inserted && m.live;
  bool is = peer && live;
  m.addr = addr;
  m.live = live;
  m.tags = tags;
  if (was && !is) {
    if (m.live_pos + 1 != live_.size()) {
      live_[m.live_pos] = std::move(live_.back());
      members_.at(live_[m.live_pos]).live_pos = m.live_pos;
    }
    live_.pop_back();
  } else if (is && !was) {
    m.live_pos = live_.size();
    live_.push_back(name);
  }
  if (!live)
    replies_.erase(name);
}

bool core::is_member_at(const std::string& name, const address& from) const {
  if (name == self_)
    return false;
  auto i = members_.find(name);
  return i != members_.end() && i->second.live && i->second.addr == from;
}

bool core::offered(const entry& e, time_point now) const {
  auto age = now - e.born;
  if (age >= cfg_.offer_window)
    return false;
  if (e.ev.kind == event_kind::query
      && age >= std::chrono::milliseconds(e.ev.timeout_ms))
    return false;
  return true;
}

uint32_t core::age_ms(const entry& e, time_point now) const {
  auto a = ms(now - e.born);
  return a < 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(a, UINT32_MAX));
}

void core::send(const address& to, std::string payload, outbound_list& out) {
  stats_.packets_out++;
  stats_.bytes_out += payload.size();
  out.push_back(outbound{to, channel::user_events, std::move(payload)});
}

void core::push(const address& to, std::vector<entry*>& entries, bool count,
                outbound_list& out, token_bucket* budget, time_point now) {
  size_t i = 0;
  while (i < entries.size()) {
    std::vector<wire_event> batch;
    std::vector<entry*> in_batch;
    size_t bytes = 2;
    for (; i < entries.size() && batch.size() < max_wire_events; ++i) {
      wire_event w{entries[i]->ev, age_ms(*entries[i], now)};
      auto n = wire_size(w);
      if (!batch.empty() && bytes + n > cfg_.max_packet_bytes)
        break;
      bytes += n;
      batch.push_back(std::move(w));
      in_batch.push_back(entries[i]);
    }
    auto payload = encode_gossip(batch);
    if (budget && !budget->try_take(static_cast<double>(payload.size()), now)) {
      stats_.replies_limited++;
      return;
    }
    send(to, std::move(payload), out);
    if (count)
      for (auto* e : in_batch)
        e->transmits++;
  }
}

void core::gossip(time_point now, outbound_list& out) {
  int limit = cfg_.retransmit_limit(live_.size() + 1);
  std::vector<entry*> todo;
  // Newest first, then fewest transmits first (stable).
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    auto& e = buffer_.at(*it);
    if (e.transmits < limit && offered(e, now))
      todo.push_back(&e);
  }
  if (todo.empty()) {
    next_gossip_ = time_point::max();
    return;
  }
  std::stable_sort(todo.begin(), todo.end(), [](entry* a, entry* b) {
    return a->transmits < b->transmits;
  });
  // k distinct random peers: fanout is small, so draws that repeat an
  // earlier pick are simply drawn again.
  size_t k = std::min(live_.size(), static_cast<size_t>(cfg_.fanout));
  std::vector<size_t> picked;
  for (size_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<size_t> pick(0, live_.size() - 1);
    size_t j;
    do
      j = pick(rng_);
    while (std::find(picked.begin(), picked.end(), j) != picked.end());
    picked.push_back(j);
    std::vector<entry*> still;
    for (auto* e : todo)
      if (e->transmits < limit)
        still.push_back(e);
    if (still.empty())
      break;
    push(live_addr(j), still, true, out, nullptr, now);
  }
  next_gossip_ = now + cfg_.gossip_interval;
}

void core::sync(time_point now, outbound_list& out) {
  next_sync_ = now + cfg_.sync_interval;
  if (live_.empty())
    return;
  std::uniform_int_distribution<size_t> pick(0, live_.size() - 1);
  const auto& peer = live_addr(pick(rng_));
  std::vector<uint64_t> ids;
  for (auto it = order_.rbegin();
       it != order_.rend() && ids.size() < cfg_.max_sync_ids; ++it) {
    auto& e = buffer_.at(*it);
    if (offered(e, now))
      ids.push_back(e.sid);
  }
  stats_.syncs++;
  send(peer, encode_sync(ids), out);
}

token_bucket& core::reply_budget(const std::string& peer, time_point now) {
  auto i = replies_.find(peer);
  if (i == replies_.end())
    i = replies_
          .emplace(peer, token_bucket{cfg_.peer_reply_bytes_per_sec,
                                      cfg_.peer_reply_burst_bytes, now})
          .first;
  return i->second;
}

void core::on_sync(const std::string& sender, const address& from,
                   const std::vector<uint64_t>& ids, time_point now,
                   outbound_list& out) {
  std::set<uint64_t> have(ids.begin(), ids.end());
  std::vector<uint64_t> want;
  for (auto id : ids)
    if (by_sid_.count(id) == 0 && want.size() < cfg_.max_sync_ids)
      want.push_back(id);
  std::vector<entry*> give;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    auto& e = buffer_.at(*it);
    if (offered(e, now) && have.count(e.sid) == 0)
      give.push_back(&e);
  }
  auto& budget = reply_budget(sender, now);
  if (!give.empty())
    push(from, give, false, out, &budget, now);
  if (!want.empty()) {
    auto payload = encode_want(want);
    if (budget.try_take(static_cast<double>(payload.size()), now))
      send(from, std::move(payload), out);
    else
      stats_.replies_limited++;
  }
}

void core::on_want(const std::string& sender, const address& from,
                   const std::vector<uint64_t>& ids, time_point now,
                   outbound_list& out) {
  std::vector<entry*> give;
  for (auto id : ids) {
    auto i = by_sid_.find(id);
    if (i == by_sid_.end())
      continue;
    auto& e = buffer_.at(i->second);
    if (offered(e, now))
      give.push_back(&e);
  }
  if (!give.empty())
    push(from, give, false, out, &reply_budget(sender, now), now);
}

bool core::take_inbound_budget(const std::string& origin, time_point now) {
  if (!total_in_.try_take(1, now))
    return false;
  auto i = origin_in_.find(origin);
  if (i == origin_in_.end()) {
    if (origin_in_.size() >= cfg_.max_origins)
      return shared_origin_in_.try_take(1, now);
    i = origin_in_
          .emplace(origin, token_bucket{cfg_.origin_events_per_sec,
                                        cfg_.origin_events_burst, now})
          .first;
  }
  return i->second.try_take(1, now);
}

bool core::accept(wire_event w, time_point now, outbound_list& out,
                  bool local) {
  key k{w.ev.origin, w.ev.id};
  if (buffer_.count(k)) {
    stats_.duplicates++;
    return false;
  }
  if (!local) {
    if (w.ev.origin == self_) {
      // Ours, but we do not remember raising it: forged or from before a
      // restart. Either way not ours to deliver again.
      stats_.unverified++;
      return false;
    }
    auto age = std::chrono::milliseconds(w.age_ms);
    if (age >= cfg_.offer_window
        || (w.ev.kind == event_kind::query
            && w.age_ms >= w.ev.timeout_ms)) {
      stats_.too_old++;
      return false;
    }
    if (!take_inbound_budget(w.ev.origin, now)) {
      stats_.rate_limited++;
      return false;
    }
  }
  expire(now);
  if (buffer_.size() >= cfg_.max_buffer) {
    stats_.buffer_full++;
    return false;
  }
  clock_ = std::max(clock_, w.ev.ltime);
  entry e;
  e.ev = std::move(w.ev);
  e.sid = sync_id(e.ev.origin, e.ev.id);
  e.born = now - std::chrono::milliseconds(w.age_ms);
  e.seen = now;
  auto& stored = buffer_.emplace(k, std::move(e)).first->second;
  by_sid_[stored.sid] = k;
  order_.push_back(k);
  if (stored.ev.kind == event_kind::user)
    deliver(stored.ev, now, out);
  else
    deliver_query(stored.ev, now, out);
  return true;
}

void core::deliver(const user_event& ev, time_point now, outbound_list&) {
  if (!ev.coalesce) {
    stats_.delivered++;
    deliveries_.push_back(delivery{ev, false});
    return;
  }
  auto i = coalescing_.find(ev.name);
  if (i == coalescing_.end()) {
    coalescing_.emplace(ev.name, coalescing{ev, now, now});
    return;
  }
  stats_.coalesced++;
  if (newer(ev, i->second.newest))
    i->second.newest = ev;
  i->second.last = now;
}

void core::flush_coalesced(time_point now) {
  for (auto i = coalescing_.begin(); i != coalescing_.end();) {
    auto due = std::min(i->second.first + cfg_.coalesce_period,
                        i->second.last + cfg_.quiescent_period);
    if (due <= now) {
      // Every buffered event of the burst is remembered for a whole dedup
      // period from now: a copy arriving later is a duplicate, not the
      // start of a new burst.
      for (auto& [_, e] : buffer_)
        if (e.ev.kind == event_kind::user && e.ev.coalesce
            && e.ev.name == i->first)
          e.seen = std::max(e.seen, now);
      stats_.delivered++;
      deliveries_.push_back(delivery{std::move(i->second.newest), false});
      i = coalescing_.erase(i);
    } else {
      ++i;
    }
  }
}

void core::deliver_query(const user_event& ev, time_point now,
                         outbound_list& out) {
  filter f;
  std::string why;
  static const std::map<std::string, std::string> no_tags;
  auto self = members_.find(self_);
  auto& tags = self == members_.end() ? no_tags : self->second.tags;
  if (!f.compile(ev.node_filter, ev.tags, why) || !f.matches(self_, tags)) {
    stats_.filtered_out++;
    return;
  }
  stats_.delivered++;
  if (!running_) {
    deliveries_.push_back(delivery{ev, false});
    return;
  }
  bool ours = ev.origin == self_;
  if (!ours && !is_member_at(ev.origin, ev.origin_addr)) {
    // Acks go only to a member at the address it is known by: a forged
    // query cannot aim the cluster's acks at someone else.
    stats_.unverified++;
    deliveries_.push_back(delivery{ev, false});
    return;
  }
  bool answerer = reserved_name(ev.name) ? internal_.count(ev.name) > 0
                                         : responder_;
  bool respond = answerer && pending_.size() < cfg_.max_pending_answers;
  auto& stored = buffer_.at(key{ev.origin, ev.id});
  if (respond)
    pending_[key{ev.origin, ev.id}] = pending_answer{
      ev.origin_addr, stored.born + std::chrono::milliseconds(ev.timeout_ms)};
  if (ours) {
    on_ack(self_, ev.id, respond);
  } else {
    stats_.acks_sent++;
    send(ev.origin_addr, encode_ack(ev.id, respond), out);
  }
  deliveries_.push_back(delivery{
    ev, respond, stored.born + std::chrono::milliseconds(ev.timeout_ms)});
}

void core::respond(const std::string& origin, uint64_t id,
                   const std::string& payload, time_point now,
                   outbound_list& out) {
  auto i = pending_.find(key{origin, id});
  if (i == pending_.end())
    return;
  auto p = i->second;
  pending_.erase(i);
  if (now >= p.deadline || payload.size() > max_response_bytes)
    return;
  stats_.responses_sent++;
  if (origin == self_) {
    on_response(self_, id, payload);
    finish_queries(now);
  } else
    send(p.to, encode_response(id, payload), out);
}

void core::decline(const std::string& origin, uint64_t id) {
  pending_.erase(key{origin, id});
}

void core::on_ack(const std::string& sender, uint64_t qid, bool responding) {
  auto q = queries_.find(qid);
  if (q == queries_.end() || q->second.acks.size() >= cfg_.max_responses
      || !q->second.acks.insert(sender).second) {
    stats_.responses_rejected++;
    return;
  }
  stats_.acks_received++;
  if (responding)
    q->second.responding.insert(sender);
}

void core::on_response(const std::string& sender, uint64_t qid,
                       std::string payload) {
  auto q = queries_.find(qid);
  if (q == queries_.end() || q->second.responses.size() >= cfg_.max_responses
      || q->second.responses.count(sender)) {
    stats_.responses_rejected++;
    return;
  }
  stats_.responses_received++;
  // A response implies a match even if its ack was lost.
  if (q->second.acks.size() < cfg_.max_responses)
    q->second.acks.insert(sender);
  q->second.responses.emplace(sender, std::move(payload));
}

void core::handle(const address& from, const std::string& sender,
                  std::string_view bytes, time_point now, outbound_list& out) {
  start(now);
  packet p;
  std::string why;
  if (!decode(bytes, p, why)) {
    stats_.malformed++;
    return;
  }
  if (!is_member_at(sender, from)) {
    stats_.unverified++;
    return;
  }
  switch (p.kind) {
    case packet::type::gossip: {
      bool fresh = false;
      for (auto& w : p.events)
        fresh |= accept(std::move(w), now, out, false);
      if (fresh)
        gossip(now, out);
      break;
    }
    case packet::type::sync:
      on_sync(sender, from, p.ids, now, out);
      break;
    case packet::type::want:
      on_want(sender, from, p.ids, now, out);
      break;
    case packet::type::ack:
      on_ack(sender, p.query_id, p.responding);
      break;
    case packet::type::response:
      on_response(sender, p.query_id, std::move(p.payload));
      finish_queries(now);
      break;
  }
}

ec core::publish(const std::string& name, const std::string& payload,
                 bool coalesce, time_point now, outbound_list& out,
                 user_event* raised) {
  if (!running_)
    return ec::not_running;
  if (!valid_name(name) || reserved_name(name))
    return ec::bad_name;
  if (name.size() + payload.size() > max_event_bytes)
    return ec::too_large;
  start(now);
  if (!local_events_.try_take(1, now))
    return ec::rate_limited;
  user_event ev;
  ev.kind = event_kind::user;
  ev.name = name;
  ev.payload = payload;
  ev.origin = self_;
  ev.ltime = ++clock_;
  ev.id = rng_();
  ev.coalesce = coalesce;
  if (raised)
    *raised = ev;
  stats_.events_sent++;
  accept(wire_event{std::move(ev), 0}, now, out, true);
  gossip(now, out);
  return ec::none;
}

ec core::start_query(const query_params& q, time_point now, outbound_list& out,
                     uint64_t& id, std::string& why) {
  if (!running_)
    return ec::not_running;
  if (!valid_name(q.name) || reserved_name(q.name) != q.internal)
    return ec::bad_name;
  if (q.name.size() + q.payload.size() > max_event_bytes)
    return ec::too_large;
  if (q.timeout <= duration::zero() || q.timeout > max_query_timeout)
    return ec::bad_timeout;
  filter f;
  if (!f.compile(q.node_filter, q.tags, why))
    return ec::bad_filter;
  if (queries_.size() >= cfg_.max_live_queries)
    return ec::too_many_queries;
  start(now);
  if (!local_queries_.try_take(1, now))
    return ec::rate_limited;
  user_event ev;
  ev.kind = event_kind::query;
  ev.name = q.name;
  ev.payload = q.payload;
  ev.origin = self_;
  ev.ltime = ++clock_;
  ev.id = rng_();
  ev.origin_addr = self_addr_;
  ev.timeout_ms = static_cast<uint32_t>(std::max<int64_t>(1, ms(q.timeout)));
  ev.node_filter = q.node_filter;
  ev.tags = q.tags;
  id = ev.id;
  live_query lq;
  lq.params = q;
  lq.deadline = now + q.timeout;
  static const std::map<std::string, std::string> no_tags;
  for (auto& [n, info] : members_)
    if ((info.live || n == self_) && f.matches(n, info.tags))
      lq.expected.insert(n);
  if (members_.count(self_) == 0 && f.matches(self_, no_tags))
    lq.expected.insert(self_);
  queries_.emplace(id, std::move(lq));
  stats_.queries_sent++;
  accept(wire_event{std::move(ev), 0}, now, out, true);
  gossip(now, out);
  return ec::none;
}

void core::expire(time_point now) {
  auto keep = cfg_.offer_window + cfg_.dedup_margin;
  while (!order_.empty()) {
    auto i = buffer_.find(order_.front());
    if (i != buffer_.end() && i->second.seen + keep > now)
      break;
    if (i != buffer_.end()) {
      by_sid_.erase(i->second.sid);
      buffer_.erase(i);
    }
    order_.pop_front();
  }
  for (auto i = pending_.begin(); i != pending_.end();)
    i = i->second.deadline <= now ? pending_.erase(i) : std::next(i);
}

void core::finish_queries(time_point now) {
  for (auto i = queries_.begin(); i != queries_.end();) {
    auto& q = i->second;
    if (q.deadline > now && !answered_by_all(q)) {
      ++i;
      continue;
    }
    query_result r;
    r.id = i->first;
    r.name = q.params.name;
    r.acks.assign(q.acks.begin(), q.acks.end());
    r.responses = std::move(q.responses);
    r.expected = q.expected.size();
    for (auto& n : q.expected)
      if (q.acks.count(n) == 0)
        r.stragglers.push_back(n);
    finished_.push_back(std::move(r));
    i = queries_.erase(i);
  }
}

bool core::answered_by_all(const live_query& q) {
  if (!q.params.internal || q.responses.size() < q.expected.size())
    return false;
  for (auto& n : q.expected)
    if (q.responses.count(n) == 0)
      return false;
  return true;
}

void core::start(time_point now) {
  if (!clock_started_) {
    clock_started_ = true;
    local_events_ = token_bucket{cfg_.local_events_per_sec,
                                 cfg_.local_events_burst, now};
    local_queries_ = token_bucket{cfg_.local_queries_per_sec,
                                  cfg_.local_queries_burst, now};
    total_in_ = token_bucket{cfg_.total_events_per_sec,
                             cfg_.total_events_burst, now};
    shared_origin_in_ = token_bucket{cfg_.origin_events_per_sec,
                                     cfg_.origin_events_burst, now};
    std::uniform_int_distribution<int64_t> jitter(0, ms(cfg_.sync_interval));
    next_sync_ = now + std::chrono::milliseconds(jitter(rng_));
  }
}

void core::poll(time_point now, outbound_list& out) {
  start(now);
  // Deliver first: a delivery restarts its events' dedup memory, so a
  // late poll (a stalled process) cannot forget an event in the same call
  // that delivers it.
  flush_coalesced(now);
  expire(now);
  finish_queries(now);
  if (next_gossip_ <= now)
    gossip(now, out);
  if (next_sync_ <= now)
    sync(now, out);
}

time_point core::next_wakeup() const {
  // Gossip and sync send to live peers only: with none they are not due (a
  // lone node does not wake for them); the first peer finds them due at once.
  auto t = live_.size() > 0 ? std::min(next_gossip_, next_sync_)
                           : time_point::max();
  for (auto& [name, c] : coalescing_)
    t = std::min(t, std::min(c.first + cfg_.coalesce_period,
                             c.last + cfg_.quiescent_period));
  for (auto& [id, q] : queries_)
    t = std::min(t, q.deadline);
  if (!order_.empty()) {
    auto i = buffer_.find(order_.front());
    if (i != buffer_.end())
      t = std::min(t, i->second.seen + cfg_.offer_window + cfg_.dedup_margin);
  }
  return t;
}

std::vector<delivery> core::drain_deliveries() {
  return std::exchange(deliveries_, {});
}

std::vector<query_result> core::drain_finished() {
  return std::exchange(finished_, {});
}

} // namespace pekonode::userevents
