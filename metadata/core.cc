#include "metadata/core.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "metadata/metadata.pb.h"

namespace pekonode::metadata {

namespace {

// Room left in a packet for fields other than a chunk's data: key (bounded by
// max_key_bytes), origin (bounded by max_origin_bytes) and up to 80 bytes of
// tags, lengths, varints and fixed fields (measured worst case: ~62).
constexpr size_t chunk_fixed_overhead = 80;
constexpr uint32_t min_chunk_size = 64;
constexpr size_t max_indices_per_request = 256;

void set_version(Version* out, const version& v) {
  out->set_hlc(v.hlc);
  out->set_origin(v.origin);
}

version get_version(const Version& v) { return {v.hlc(), v.origin()}; }

// Encoded size of a length-delimited submessage of `n` bytes.
size_t field_size(size_t n) {
  size_t varint = 1;
  for (size_t rest = n; rest >= 128; rest >>= 7)
    ++varint;
  return 1 + varint + n;
}

} // namespace

core::core(config cfg, std::string node_id, uint64_t seed)
  : cfg_(cfg), node_id_(std::move(node_id)), rng_(seed), store_(cfg.limits) {
  if (node_id_.empty() || node_id_.size() > cfg_.limits.max_origin_bytes)
    throw std::invalid_argument("metadata core: invalid node id");
  if (cfg_.max_packet < 600 + cfg_.limits.max_key_bytes
                          + cfg_.limits.max_origin_bytes
      && cfg_.max_packet < 512)
    throw std::invalid_argument("metadata core: max_packet too small");
}

core::~core() = default;

// -- helpers ------------------------------------------------------------------

void core::init_timers(time_point now) {
  if (timers_)
    return;
  timers_ = true;
  next_gossip_ = now + cfg_.gossip_interval;
  // Spread anti-entropy rounds of nodes started together.
  std::uniform_int_distribution<int64_t> jitter(0, cfg_.ae_interval.count());
  next_ae_ = now + duration{jitter(rng_)};
  next_gc_ = now + cfg_.gc_interval;
  last_refill_ = now;
  tokens_ = static_cast<double>(cfg_.max_packet) * 4;
}

bool core::emit(const address& to, const Message& msg, const char* kind,
                outbound_list& out) {
  std::string payload;
  msg.SerializeToString(&payload);
  if (payload.size() > cfg_.max_packet) {
    // A bug, never input-driven: sizes are computed before building.
    reject("oversized_outbound");
    return false;
  }
  stats_.bytes_out[kind] += payload.size();
  stats_.msgs_out[kind] += 1;
  out.push_back(outbound{to, channel::metadata, std::move(payload)});
  return true;
}

void core::push_event(const std::string& key, const entry& e,
                      change_origin o) {
  events_.push_back(change_event{key, e, o});
  event_bytes_ += key.size() + e.value.size();
  while (events_.size() > 1
         && (events_.size() > cfg_.max_events
             || event_bytes_ > cfg_.max_event_bytes)) {
    auto& old = events_.front();
    event_bytes_ -= old.key.size() + old.value.value.size();
    events_.pop_front();
    ++stats_.events_dropped;
  }
}

std::vector<change_event> core::drain_events() {
  std::vector<change_event> result(std::make_move_iterator(events_.begin()),
                                   std::make_move_iterator(events_.end()));
  events_.clear();
  event_bytes_ = 0;
  return result;
}

unsigned core::retransmit_limit() const {
  double n = static_cast<double>(peers_.size() + 1);
  auto l = static_cast<unsigned>(std::ceil(std::log10(n + 1)));
  return cfg_.retransmit_mult * std::max(1u, l);
}

std::vector<address> core::pick_peers(size_t k) {
  std::vector<address> result;
  if (peers_.empty())
    return result;
  if (k >= peers_.size()) {
    result = peers_;
    std::shuffle(result.begin(), result.end(), rng_);
    return result;
  }
  // Partial Fisher-Yates over indices.
  std::vector<size_t> idx(peers_.size());
  for (size_t i = 0; i < idx.size(); ++i)
    idx[i] = i;
  for (size_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<size_t> d(i, idx.size() - 1);
    std::swap(idx[i], idx[d(rng_)]);
    result.push_back(peers_[idx[i]]);
  }
  return result;
}

void core::set_peers(std::vector<address> live) {
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  if (peers_.empty() && !live.empty())
    ae_soon_ = true;
  peers_ = std::move(live);
}

bool core::member_changed(const std::string& name, const address& addr,
                          bool live) {
  auto old = live_names_.find(name);
  if (old != live_names_.end()) {
    if (live && old->second == addr)
      return false; // still live at the same address
    auto ref = addr_refs_.find(old->second);
    if (ref != addr_refs_.end() && --ref->second == 0) {
      auto it = std::lower_bound(peers_.begin(), peers_.end(), ref->first);
      if (it != peers_.end() && *it == ref->first) peers_.erase(it);
      addr_refs_.erase(ref);
    }
    live_names_.erase(old);
  }
  if (!live || addr.empty())
    return false;
  live_names_.emplace(name, addr);
  if (++addr_refs_[addr] > 1)
    return false;
  if (peers_.empty())
    ae_soon_ = true;
  auto it = std::lower_bound(peers_.begin(), peers_.end(), addr);
  if (it == peers_.end() || *it != addr) peers_.insert(it, addr);
  return true;
}

bool core::fits_inline(const std::string& key, const entry& e) const {
  if (e.tombstone)
    return true; // key + origin bounded well below max_packet
  if (e.value.size() > cfg_.inline_threshold)
    return false;
  // Upper bound of the encoded Entry (hlc varint <= 10 bytes + tag).
  size_t entry_bytes = field_size(key.size())
                       + field_size(field_size(e.ver.origin.size()) + 11)
                       + 2 + field_size(e.value.size());
  // The same test rumour and push packing apply: an Updates holding just
  // this entry must fit body_budget(), else an inline rumour could never be
  // packed by gossip_tick and would only ever be sent once.
  return field_size(entry_bytes) <= body_budget();
}

void core::add_to_updates(Updates& u, const std::string& key,
                          const entry& e) {
  if (fits_inline(key, e)) {
    auto* x = u.add_entries();
    x->set_key(key);
    set_version(x->mutable_version(), e.ver);
    x->set_tombstone(e.tombstone);
    if (!e.tombstone)
      x->set_value(e.value);
  } else {
    auto* a = u.add_announces();
    a->set_key(key);
    set_version(a->mutable_version(), e.ver);
    a->set_size(static_cast<uint32_t>(e.value.size()));
    a->set_hash_lo(e.value_hash.lo);
    a->set_hash_hi(e.value_hash.hi);
  }
}

const entry* core::get(std::string_view key) const {
  auto e = store_.find(key);
  return e && !e->tombstone ? e : nullptr;
}

std::vector<std::pair<std::string, const entry*>> core::list() const {
  std::vector<std::pair<std::string, const entry*>> result;
  store_.for_each([&](const std::string& k, const entry& e) {
    if (!e.tombstone)
      result.emplace_back(k, &e);
  });
  std::sort(result.begin(), result.end(),
            [](auto& a, auto& b) { return a.first < b.first; });
  return result;
}

// -- local writes -------------------------------------------------------------

write_result core::put(const std::string& key, std::string value,
                       uint64_t wall_ms, time_point now, outbound_list& out) {
  init_timers(now);
  if (auto err = store_.validate(key, value.size(), false, node_id_);
      err != ec::ok)
    return {err, {}};
  entry e;
  e.value = std::move(value);
  return write_local(key, std::move(e), wall_ms, out);
}

write_result core::del(const std::string& key, uint64_t wall_ms,
                       time_point now, outbound_list& out) {
  init_timers(now);
  auto cur = store_.find(key);
  if (!cur || cur->tombstone)
    return {ec::not_found, {}};
  entry e;
  e.tombstone = true;
  return write_local(key, std::move(e), wall_ms, out);
}

write_result core::write_local(const std::string& key, entry e,
                               uint64_t wall_ms, outbound_list& out) {
  e.ver = version{clock_.now(wall_ms), node_id_};
  auto ver = e.ver;
  auto err = store_.merge(key, std::move(e));
  if (err != ec::ok)
    return {err, {}};
  ++stats_.applied_local;
  drop_older_transfer(key, ver);
  push_event(key, *store_.find(key), change_origin::local);
  enqueue_rumour(key, ver);
  gossip_now(key, out);
  return {ec::ok, ver};
}

// -- rumours ------------------------------------------------------------------

void core::enqueue_rumour(const std::string& key, const version& v) {
  // A newer version of the key replaces (invalidates) the older rumour.
  rumours_[key] = rumour{v, 0, ++rumour_seq_};
  while (rumours_.size() > cfg_.max_rumours) {
    // Drop the most-sent, oldest rumour.
    auto victim = rumours_.begin();
    for (auto i = rumours_.begin(); i != rumours_.end(); ++i)
      if (i->second.sent > victim->second.sent
          || (i->second.sent == victim->second.sent
              && i->second.seq < victim->second.seq))
        victim = i;
    rumours_.erase(victim);
    reject("rumour_queue_full");
  }
}

void core::gossip_now(const std::string& key, outbound_list& out) {
  auto r = rumours_.find(key);
  auto e = store_.find(key);
  if (r == rumours_.end() || !e || e->ver != r->second.ver)
    return;
  auto targets = pick_peers(cfg_.fanout);
  if (targets.empty())
    return;
  Message m;
  add_to_updates(*m.mutable_rumour(), key, *e);
  for (auto& t : targets)
    emit(t, m, "rumour", out);
  if (++r->second.sent >= retransmit_limit())
    rumours_.erase(r);
}

void core::gossip_tick(outbound_list& out) {
  if (rumours_.empty() || peers_.empty())
    return;
  // Fewest transmissions first, newest first among equals.
  std::vector<std::map<std::string, rumour>::iterator> order;
  for (auto i = rumours_.begin(); i != rumours_.end();) {
    auto e = store_.find(i->first);
    if (!e || e->ver != i->second.ver) {
      i = rumours_.erase(i); // superseded or collected
      continue;
    }
    order.push_back(i++);
  }
  std::sort(order.begin(), order.end(), [](auto a, auto b) {
    return a->second.sent != b->second.sent ? a->second.sent < b->second.sent
                                            : a->second.seq > b->second.seq;
  });
  auto limit = retransmit_limit();
  // One transmission per tick per rumour (to up to `fanout` peers), as in
  // memberlist's transmit-limited queue.
  std::set<std::string> sent_this_tick;
  std::vector<std::string> done;
  for (auto& peer : pick_peers(cfg_.fanout)) {
    Message m;
    auto* u = m.mutable_rumour();
    size_t budget = body_budget();
    size_t used = 0;
    for (auto it : order) {
      auto e = store_.find(it->first);
      Updates one;
      add_to_updates(one, it->first, *e);
      size_t sz = one.ByteSizeLong();
      if (used + sz > budget)
        continue; // a smaller one may still fit
      used += sz;
      u->MergeFrom(one);
      sent_this_tick.insert(it->first);
    }
    if (used > 0)
      emit(peer, m, "rumour", out);
  }
  for (auto it : order)
    if (sent_this_tick.count(it->first) && ++it->second.sent >= limit)
      done.push_back(it->first);
  for (auto& k : done)
    rumours_.erase(k);
}

// -- remote updates -----------------------------------------------------------

ec core::apply_entry(const std::string& key, entry e, bool via_rumour,
                     uint64_t wall_ms, time_point now, outbound_list& out) {
  auto cur = store_.find(key);
  if (cur && !(e.ver > cur->ver)) {
    ++stats_.stale;
    return ec::stale;
  }
  auto ver = e.ver;
  // Expired tombstone: delete what it shadows but keep nothing (it would be
  // collected at once and would resurrect nothing either way).
  if (e.tombstone && hlc_physical(ver.hlc) + cfg_.tombstone_ttl_ms < wall_ms) {
    clock_.observe(ver.hlc, wall_ms);
    if (cur) {
      entry gone = *cur;
      gone.tombstone = true;
      gone.value.clear();
      gone.ver = ver;
      store_.erase(key);
      push_event(key, gone, change_origin::remote);
      ++stats_.applied_remote;
    }
    return ec::ok;
  }
  auto err = store_.merge(key, std::move(e));
  if (err != ec::ok) {
    reject(to_string(err));
    return err;
  }
  clock_.observe(ver.hlc, wall_ms);
  ++stats_.applied_remote;
  drop_older_transfer(key, ver);
  push_event(key, *store_.find(key), change_origin::remote);
  if (via_rumour) {
    enqueue_rumour(key, ver);
    gossip_now(key, out);
  }
  (void) now;
  return ec::ok;
}

ec core::apply_remote(const Entry& x, bool via_rumour, uint64_t wall_ms,
                      time_point now, outbound_list& out) {
  auto err = store_.validate(x.key(), x.value().size(), x.tombstone(),
                             x.version().origin());
  if (err != ec::ok) {
    reject(to_string(err));
    return err;
  }
  if (!hlc_clock::within_skew(x.version().hlc(), wall_ms,
                              cfg_.max_clock_skew_ms)) {
    reject("clock_skew");
    return ec::clock_skew;
  }
  entry e;
  e.value = x.value();
  e.ver = get_version(x.version());
  e.tombstone = x.tombstone();
  return apply_entry(x.key(), std::move(e), via_rumour, wall_ms, now, out);
}

void core::on_updates(const address& from, const Updates& u, bool via_rumour,
                      uint64_t wall_ms, time_point now, outbound_list& out) {
  for (auto& x : u.entries())
    apply_remote(x, via_rumour, wall_ms, now, out);
  for (auto& a : u.announces())
    on_announce(from, a, via_rumour, wall_ms, now, out);
  start_pending(now);
  pull(now, out);
}

void core::on_announce(const address& from, const Announce& a,
                       bool via_rumour, uint64_t wall_ms, time_point now,
                       outbound_list& out) {
  (void) out;
  auto err = store_.validate(a.key(), a.size(), false, a.version().origin());
  if (err != ec::ok) {
    reject(to_string(err));
    return;
  }
  if (a.size() == 0) {
    reject("empty_announce");
    return;
  }
  if (!hlc_clock::within_skew(a.version().hlc(), wall_ms,
                              cfg_.max_clock_skew_ms)) {
    reject("clock_skew");
    return;
  }
  auto ver = get_version(a.version());
  auto cur = store_.find(a.key());
  if (cur && !(ver > cur->ver)) {
    ++stats_.stale;
    return;
  }
  pending_announce p{ver, a.size(), {a.hash_lo(), a.hash_hi()}, from,
                     via_rumour};
  auto t = transfers_.find(a.key());
  if (t != transfers_.end()) {
    if (t->second.ver == ver) {
      auto& s = t->second.sources;
      if (t->second.size == p.size && t->second.hash == p.hash
          && std::find(s.begin(), s.end(), from) == s.end() && s.size() < 8)
        s.push_back(from);
      t->second.rumour |= via_rumour;
      return;
    }
    if (t->second.ver > ver) {
      ++stats_.stale;
      return;
    }
    abandon(a.key(), "superseded");
  }
  auto q = pending_.find(a.key());
  if (q != pending_.end()) {
    if (!(ver > q->second.ver))
      return;
    q->second = p;
  } else if (pending_.size() >= cfg_.max_pending_announces) {
    reject("announce_queue_full");
    return;
  } else {
    pending_.emplace(a.key(), p);
  }
  (void) now;
}

// -- chunked transfers --------------------------------------------------------

uint32_t core::chunk_size_for(const std::string& key,
                              const version& v) const {
  size_t room = cfg_.max_packet;
  size_t fixed = chunk_fixed_overhead + key.size() + v.origin.size();
  return room > fixed + min_chunk_size ? static_cast<uint32_t>(room - fixed)
                                       : min_chunk_size;
}

void core::start_pending(time_point now) {
  while (transfers_.size() < cfg_.max_transfers && !pending_.empty()) {
    auto i = pending_.begin();
    auto key = i->first;
    auto p = std::move(i->second);
    pending_.erase(i);
    auto cur = store_.find(key);
    if (cur && !(p.ver > cur->ver))
      continue;
    start_transfer(key, std::move(p), now);
  }
}

void core::start_transfer(const std::string& key, pending_announce p,
                          time_point now) {
  transfer t;
  t.key = key;
  t.ver = p.ver;
  t.size = p.size;
  t.hash = p.hash;
  t.chunk_size = chunk_size_for(key, p.ver);
  t.chunks = (p.size + t.chunk_size - 1) / t.chunk_size;
  t.buf.assign(p.size, '\0'); // size validated <= max_value_bytes
  t.have.assign(t.chunks, 0);
  t.sent_at.assign(t.chunks, time_point::min());
  t.tries.assign(t.chunks, 0);
  t.sources.push_back(p.source);
  t.rumour = p.rumour;
  t.last_progress = now;
  transfers_[key] = std::move(t);
  ++stats_.transfers_started;
}

void core::abandon(const std::string& key, const char* reason) {
  auto t = transfers_.find(key);
  if (t == transfers_.end())
    return;
  inflight_ -= t->second.inflight;
  transfers_.erase(t);
  ++stats_.transfers_abandoned;
  if (std::string_view{reason} != "superseded")
    reject(reason);
}

void core::drop_older_transfer(const std::string& key, const version& v) {
  auto t = transfers_.find(key);
  if (t != transfers_.end() && !(t->second.ver > v))
    abandon(key, "superseded");
  auto p = pending_.find(key);
  if (p != pending_.end() && !(p->second.ver > v))
    pending_.erase(p);
}

void core::pull(time_point now, outbound_list& out) {
  for (auto& [key, t] : transfers_) {
    if (t.sources.empty())
      continue;
    std::map<size_t, std::vector<uint32_t>> by_source;
    for (uint32_t i = 0; i < t.chunks && t.inflight < cfg_.pull_window
                         && inflight_ < cfg_.max_inflight_chunks;
         ++i) {
      if (t.have[i] || t.sent_at[i] != time_point::min())
        continue;
      auto src = t.next_source++ % t.sources.size();
      auto& v = by_source[src];
      if (v.size() >= max_indices_per_request)
        break;
      v.push_back(i);
      t.sent_at[i] = now;
      if (t.tries[i] < 255)
        ++t.tries[i];
      ++t.inflight;
      ++inflight_;
    }
    for (auto& [src, indices] : by_source) {
      Message m;
      auto* r = m.mutable_chunk_request();
      r->set_key(key);
      set_version(r->mutable_version(), t.ver);
      r->set_chunk_size(t.chunk_size);
      for (auto i : indices)
        r->add_indices(i);
      emit(t.sources[src], m, "chunk_request", out);
    }
  }
}

duration core::chunk_deadline(const transfer& t, uint32_t i) const {
  // Retries rotate over the sources; back off only once every source has
  // been asked (a lost packet then costs one base timeout, an overloaded or
  // slow set of sources sees up to 8x fewer re-requests).
  unsigned rounds = t.tries[i] > 0 ? (t.tries[i] - 1u) / std::max<size_t>(
                                       1, t.sources.size())
                                   : 0;
  unsigned doublings = std::min(rounds, 3u);
  return cfg_.chunk_timeout * (1 << doublings);
}

void core::check_timeouts(time_point now) {
  std::vector<std::string> dead;
  for (auto& [key, t] : transfers_) {
    for (uint32_t i = 0; i < t.chunks; ++i) {
      if (!t.have[i] && t.sent_at[i] != time_point::min()
          && now - t.sent_at[i] >= chunk_deadline(t, i)) {
        t.sent_at[i] = time_point::min();
        --t.inflight;
        --inflight_;
      }
    }
    if (now - t.last_progress >= cfg_.transfer_timeout || t.sources.empty())
      dead.push_back(key);
  }
  for (auto& k : dead)
    abandon(k, "transfer_timeout");
}

void core::on_chunk_request(const address& from, const Message& m,
                            time_point now, outbound_list& out) {
  auto& r = m.chunk_request();
  if (r.key().empty() || r.key().size() > cfg_.limits.max_key_bytes
      || r.version().origin().size() > cfg_.limits.max_origin_bytes) {
    reject("bad_chunk_request");
    return;
  }
  auto ver = get_version(r.version());
  auto e = store_.find(r.key());
  if (!e || e->tombstone || e->ver != ver) {
    Message g;
    g.mutable_chunk_gone()->set_key(r.key());
    set_version(g.mutable_chunk_gone()->mutable_version(), ver);
    emit(from, g, "chunk_gone", out);
    return;
  }
  if (r.chunk_size() < min_chunk_size
      || r.chunk_size() > chunk_size_for(r.key(), ver)) {
    reject("bad_chunk_size");
    return;
  }
  if (static_cast<size_t>(r.indices_size()) > max_indices_per_request) {
    reject("too_many_indices");
    return;
  }
  uint64_t chunks = (e->value.size() + r.chunk_size() - 1) / r.chunk_size();
  for (auto i : r.indices()) {
    if (i >= chunks) {
      reject("bad_chunk_index");
      continue;
    }
    if (bulk_.size() >= cfg_.max_bulk_queue) {
      reject("bulk_queue_full");
      break;
    }
    if (!queued_chunks_.emplace(from, r.key(), i).second)
      continue; // a retry of a chunk still queued here: it will be sent
    bulk_.push_back(bulk_item{from, r.key(), true, ver, i, r.chunk_size()});
  }
  drain_bulk(now, out);
}

void core::on_chunk(const address& from, const Message& m, uint64_t wall_ms,
                    time_point now, outbound_list& out) {
  (void) from;
  auto& c = m.chunk();
  auto t = transfers_.find(c.key());
  if (t == transfers_.end() || t->second.ver != get_version(c.version())) {
    reject("chunk_unknown_transfer");
    return;
  }
  auto& x = t->second;
  if (c.total_size() != x.size) {
    reject("chunk_wrong_total");
    return;
  }
  if (hash128{c.hash_lo(), c.hash_hi()} != x.hash) {
    reject("chunk_wrong_hash");
    return;
  }
  if (c.chunk_size() != x.chunk_size || c.index() >= x.chunks) {
    reject("chunk_bad_index");
    return;
  }
  uint64_t offset = uint64_t{c.index()} * x.chunk_size;
  uint64_t expect = std::min<uint64_t>(x.chunk_size, x.size - offset);
  if (c.data().size() > expect) {
    reject("chunk_oversized");
    return;
  }
  if (c.data().size() < expect) {
    reject("chunk_truncated");
    return;
  }
  if (x.have[c.index()]) {
    reject("chunk_duplicate");
    return;
  }
  ++stats_.chunks_received;
  std::copy(c.data().begin(), c.data().end(), x.buf.begin() + offset);
  x.have[c.index()] = 1;
  if (x.sent_at[c.index()] != time_point::min()) {
    x.sent_at[c.index()] = time_point::min();
    --x.inflight;
    --inflight_;
  }
  ++x.received;
  x.last_progress = now;
  if (x.received < x.chunks) {
    pull(now, out);
    return;
  }
  if (hash_value(x.buf) != x.hash) {
    abandon(c.key(), "value_hash_mismatch");
    return;
  }
  entry e;
  e.value = std::move(x.buf);
  e.ver = x.ver;
  bool rumour = x.rumour;
  auto key = x.key;
  inflight_ -= x.inflight;
  transfers_.erase(t);
  ++stats_.transfers_completed;
  apply_entry(key, std::move(e), rumour, wall_ms, now, out);
  start_pending(now);
  pull(now, out);
}

void core::on_chunk_gone(const address& from, const Message& m) {
  auto& g = m.chunk_gone();
  auto t = transfers_.find(g.key());
  if (t == transfers_.end() || t->second.ver != get_version(g.version()))
    return;
  auto& s = t->second.sources;
  s.erase(std::remove(s.begin(), s.end(), from), s.end());
  if (s.empty())
    abandon(g.key(), "source_gone");
}

// -- bulk queue ---------------------------------------------------------------

void core::enqueue_push(const address& to, const std::string& key) {
  if (bulk_.size() >= cfg_.max_bulk_queue) {
    reject("bulk_queue_full");
    return;
  }
  if (!queued_pushes_.emplace(to, key).second)
    return;
  bulk_.push_back(bulk_item{to, key, false, {}, 0, 0});
}

void core::drain_bulk(time_point now, outbound_list& out) {
  if (now > last_refill_) {
    double secs = std::chrono::duration<double>(now - last_refill_).count();
    double burst = std::max<double>(4.0 * cfg_.max_packet,
                                    cfg_.max_bulk_bytes_per_sec / 20.0);
    tokens_ = std::min(burst, tokens_ + secs * cfg_.max_bulk_bytes_per_sec);
    last_refill_ = now;
  }
  while (!bulk_.empty() && tokens_ >= static_cast<double>(cfg_.max_packet)) {
    auto item = std::move(bulk_.front());
    bulk_.pop_front();
    if (item.chunk) {
      queued_chunks_.erase({item.to, item.key, item.index});
      auto e = store_.find(item.key);
      if (!e || e->tombstone || e->ver != item.ver)
        continue; // superseded while queued; the requester will time out
      Message m;
      auto* c = m.mutable_chunk();
      c->set_key(item.key);
      set_version(c->mutable_version(), item.ver);
      c->set_index(item.index);
      c->set_chunk_size(item.chunk_size);
      c->set_total_size(static_cast<uint32_t>(e->value.size()));
      c->set_hash_lo(e->value_hash.lo);
      c->set_hash_hi(e->value_hash.hi);
      uint64_t off = uint64_t{item.index} * item.chunk_size;
      c->set_data(e->value.substr(off, item.chunk_size));
      if (emit(item.to, m, "chunk", out)) {
        tokens_ -= static_cast<double>(out.back().payload.size());
        ++stats_.chunks_sent;
      }
      continue;
    }
    // Pack consecutive pushes to the same peer into one packet.
    Message m;
    auto* u = m.mutable_push();
    size_t used = 0;
    size_t budget = body_budget();
    auto add = [&](const bulk_item& it) {
      queued_pushes_.erase({it.to, it.key});
      auto e = store_.find(it.key);
      if (!e)
        return true;
      Updates one;
      add_to_updates(one, it.key, *e);
      size_t sz = one.ByteSizeLong();
      if (used + sz > budget)
        return false;
      used += sz;
      u->MergeFrom(one);
      return true;
    };
    add(item);
    while (!bulk_.empty() && !bulk_.front().chunk
           && bulk_.front().to == item.to) {
      auto& next = bulk_.front();
      Updates probe;
      if (auto e = store_.find(next.key)) {
        add_to_updates(probe, next.key, *e);
        if (used + probe.ByteSizeLong() > budget)
          break;
      }
      add(next);
      bulk_.pop_front();
    }
    if (used > 0 && emit(item.to, m, "push", out))
      tokens_ -= static_cast<double>(out.back().payload.size());
  }
}

// -- anti-entropy -------------------------------------------------------------

void core::start_ae(outbound_list& out) {
  auto peer = pick_peers(1);
  if (peer.empty())
    return;
  ++stats_.ae_rounds;
  auto d = store_.digest();
  Message m;
  auto* s = m.mutable_syn();
  s->set_digest_lo(d.hash.lo);
  s->set_digest_hi(d.hash.hi);
  s->set_count(d.count);
  emit(peer[0], m, "syn", out);
}

void core::on_syn(const address& from, const Message& m, outbound_list& out) {
  auto& s = m.syn();
  auto d = store_.digest();
  if (s.digest_lo() == d.hash.lo && s.digest_hi() == d.hash.hi
      && s.count() == d.count)
    return; // in sync: the round cost one small packet
  size_t per_page = std::min<size_t>(bucket_count, (cfg_.max_packet - 16) / 8);
  for (size_t first = 0; first < bucket_count; first += per_page) {
    Message a;
    auto* ack = a.mutable_ack();
    ack->set_first_bucket(static_cast<uint32_t>(first));
    for (size_t b = first; b < std::min(bucket_count, first + per_page); ++b)
      ack->add_buckets(store_.bucket_digest(b));
    emit(from, a, "ack", out);
  }
}

void core::on_ack(const address& from, const Message& m, outbound_list& out) {
  auto& a = m.ack();
  if (a.first_bucket() >= bucket_count
      || a.buckets_size() > static_cast<int>(bucket_count - a.first_bucket())) {
    reject("bad_ack");
    return;
  }
  size_t pages = 0;
  size_t budget = body_budget();
  Message msg;
  size_t used = 0;
  auto flush = [&] {
    if (used > 0 && pages < cfg_.max_ae_pages) {
      emit(from, msg, "ack2", out);
      ++pages;
    }
    msg.Clear();
    used = 0;
  };
  for (int i = 0; i < a.buckets_size(); ++i) {
    size_t b = a.first_bucket() + i;
    if (a.buckets(i) == store_.bucket_digest(b))
      continue;
    auto& bucket = store_.bucket(b);
    auto it = bucket.begin();
    bool from_start = true;
    std::string after;
    do {
      Range r;
      r.set_bucket(static_cast<uint32_t>(b));
      r.set_from_start(from_start);
      if (!from_start)
        r.set_after(after);
      size_t base = r.ByteSizeLong() + 8;
      if (used + base > budget)
        flush();
      size_t room = budget - used - base;
      size_t taken = 0;
      for (; it != bucket.end(); ++it) {
        KeyVersion kv;
        kv.set_key(it->first);
        set_version(kv.mutable_version(), it->second.ver);
        size_t sz = field_size(kv.ByteSizeLong());
        if (taken + sz > room)
          break;
        taken += sz;
        *r.add_keys() = std::move(kv);
      }
      r.set_to_end(it == bucket.end());
      if (r.keys_size() == 0 && !r.to_end()) {
        if (used == 0) {
          reject("ae_entry_too_large"); // cannot happen with sane limits
          break;
        }
        flush(); // no room for even one key: next packet
        if (pages >= cfg_.max_ae_pages)
          return;
        continue;
      }
      if (r.keys_size() > 0) {
        after = r.keys(r.keys_size() - 1).key();
        from_start = false;
      }
      used += field_size(r.ByteSizeLong());
      *msg.mutable_ack2()->add_ranges() = std::move(r);
      if (it != bucket.end())
        flush();
      if (pages >= cfg_.max_ae_pages)
        return;
    } while (it != bucket.end());
  }
  flush();
}

void core::on_ack2(const address& from, const Message& m, outbound_list& out) {
  auto& a2 = m.ack2();
  Message want;
  size_t used = 0;
  size_t pages = 0;
  size_t budget = body_budget();
  auto want_key = [&](const std::string& k) {
    size_t sz = field_size(k.size());
    if (used + sz > budget) {
      if (pages < cfg_.max_ae_pages)
        emit(from, want, "want", out);
      ++pages;
      want.Clear();
      used = 0;
    }
    want.mutable_want()->add_keys(k);
    used += sz;
  };
  for (auto& r : a2.ranges()) {
    if (r.bucket() >= bucket_count) {
      reject("bad_ack2");
      return;
    }
    auto& bucket = store_.bucket(r.bucket());
    // The peer's listed keys must lie in this bucket, sorted, in range.
    std::map<std::string_view, version> theirs;
    bool ok = true;
    for (auto& kv : r.keys()) {
      if (kv.key().empty() || kv.key().size() > cfg_.limits.max_key_bytes
          || store::bucket_of(kv.key()) != r.bucket()
          || (!r.from_start() && kv.key() <= r.after())) {
        ok = false;
        break;
      }
      theirs.emplace(kv.key(), get_version(kv.version()));
    }
    if (!ok) {
      reject("bad_ack2");
      continue;
    }
    auto lo = r.from_start() ? bucket.begin() : bucket.upper_bound(r.after());
    auto hi = bucket.end();
    if (!r.to_end()) {
      if (theirs.empty()) {
        reject("bad_ack2");
        continue;
      }
      hi = bucket.upper_bound(theirs.rbegin()->first);
    }
    // Ours in range: push what they lack or hold older.
    for (auto i = lo; i != hi; ++i) {
      auto t = theirs.find(i->first);
      if (t == theirs.end() || i->second.ver > t->second)
        enqueue_push(from, i->first);
    }
    // Theirs: want what we lack or hold older.
    for (auto& [k, v] : theirs) {
      auto mine = store_.find(k);
      if (!mine || v > mine->ver)
        want_key(std::string{k});
    }
  }
  if (used > 0 && pages < cfg_.max_ae_pages)
    emit(from, want, "want", out);
}

void core::on_want(const address& from, const Message& m, time_point now,
                   outbound_list& out) {
  for (auto& k : m.want().keys()) {
    if (k.empty() || k.size() > cfg_.limits.max_key_bytes) {
      reject("bad_want");
      return;
    }
    if (store_.find(k))
      enqueue_push(from, k);
  }
  drain_bulk(now, out);
}

// -- entry points -------------------------------------------------------------

void core::handle(const address& from, const std::string& payload,
                  uint64_t wall_ms, time_point now, outbound_list& out) {
  init_timers(now);
  if (payload.size() > cfg_.max_inbound_bytes) {
    reject("payload_too_large");
    return;
  }
  Message m;
  if (!m.ParseFromString(payload)) {
    reject("malformed");
    return;
  }
  const char* kind = "unknown";
  switch (m.body_case()) {
    case Message::kRumour:
      kind = "rumour";
      on_updates(from, m.rumour(), true, wall_ms, now, out);
      break;
    case Message::kPush:
      kind = "push";
      on_updates(from, m.push(), false, wall_ms, now, out);
      break;
    case Message::kSyn:
      kind = "syn";
      on_syn(from, m, out);
      break;
    case Message::kAck:
      kind = "ack";
      on_ack(from, m, out);
      break;
    case Message::kAck2:
      kind = "ack2";
      on_ack2(from, m, out);
      drain_bulk(now, out);
      break;
    case Message::kWant:
      kind = "want";
      on_want(from, m, now, out);
      break;
    case Message::kChunkRequest:
      kind = "chunk_request";
      on_chunk_request(from, m, now, out);
      break;
    case Message::kChunk:
      kind = "chunk";
      on_chunk(from, m, wall_ms, now, out);
      break;
    case Message::kChunkGone:
      kind = "chunk_gone";
      on_chunk_gone(from, m);
      break;
    default:
      reject("unknown_message");
      return;
  }
  stats_.bytes_in[kind] += payload.size();
}

void core::run_gc(uint64_t wall_ms) {
  if (wall_ms <= cfg_.tombstone_ttl_ms)
    return;
  stats_.gc_collected += store_.gc(wall_ms - cfg_.tombstone_ttl_ms);
}

void core::poll(uint64_t wall_ms, time_point now, outbound_list& out) {
  init_timers(now);
  if (now >= next_gossip_) {
    gossip_tick(out);
    next_gossip_ = now + cfg_.gossip_interval;
  }
  if (ae_soon_ || now >= next_ae_) {
    ae_soon_ = false;
    start_ae(out);
    next_ae_ = now + cfg_.ae_interval;
  }
  if (now >= next_gc_) {
    run_gc(wall_ms);
    next_gc_ = now + cfg_.gc_interval;
  }
  check_timeouts(now);
  start_pending(now);
  pull(now, out);
  drain_bulk(now, out);
}

time_point core::next_wakeup() const {
  if (!timers_ || ae_soon_)
    return time_point::min();
  auto t = std::min({next_gossip_, next_ae_, next_gc_});
  for (auto& [k, x] : transfers_) {
    for (uint32_t i = 0; i < x.chunks; ++i)
      if (!x.have[i] && x.sent_at[i] != time_point::min())
        t = std::min(t, x.sent_at[i] + chunk_deadline(x, i));
    t = std::min(t, x.last_progress + cfg_.transfer_timeout);
  }
  if (!bulk_.empty()) {
    double need = static_cast<double>(cfg_.max_packet) - tokens_;
    auto wait = std::chrono::duration_cast<duration>(std::chrono::duration<
      double>(std::max(0.0, need) / cfg_.max_bulk_bytes_per_sec));
    t = std::min(t, last_refill_ + wait + duration{1});
  }
  return t;
}

} // namespace pekonode::metadata
