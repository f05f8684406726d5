#include "metadata/transfers.h"

#include <algorithm>
#include <string_view>

#include "common/varint.h"
#include "metadata/bulk_sender.h"
#include "metadata/codec.h"

namespace pekonode::metadata {

// -- receiving ----------------------------------------------------------------

void transfers::on_announce(const address& from, const Announce& a,
                            bool via_rumour, uint64_t wall_ms) {
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
    stats_.clock_skew_lead_ms = hlc_physical(a.version().hlc()) - wall_ms;
    return;
  }
  auto ver = get_version(a.version());
  auto cur = store_.find(a.key());
  if (cur && !(ver > cur->ver)) {
    ++stats_.stale;
    return;
  }
  // What `from` may be asked before a chunk: 3x the announce's share of
  // the datagram that carried it.
  auto probe = static_cast<uint32_t>(std::min<size_t>(
    probe_factor * delimited_field_size(a.ByteSizeLong()), max_probe_bytes));
  auto add_probe = [](uint32_t& left, uint32_t more) {
    left = std::min(max_probe_bytes, left + more);
  };
  pending_announce p{ver, a.size(), {a.hash_lo(), a.hash_hi()}, from,
                     via_rumour, probe};
  auto t = active_.find(a.key());
  if (t != active_.end()) {
    if (t->second.ver == ver) {
      auto& x = t->second;
      auto& s = x.sources;
      auto at = std::find(s.begin(), s.end(), from);
      if (x.size == p.size && x.hash == p.hash) {
        if (at != s.end()) {
          add_probe(x.probe_left[at - s.begin()], probe);
        } else if (s.size() < 8) {
          s.push_back(from);
          x.probe_left.push_back(probe);
        }
      }
      x.rumour |= via_rumour;
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
    if (!(ver > q->second.ver)) {
      if (q->second.ver == ver && q->second.source == from)
        add_probe(q->second.probe_bytes, probe);
      return;
    }
    q->second = p;
  } else if (pending_.size() >= cfg_.max_pending_announces) {
    reject("announce_queue_full");
  } else {
    pending_.emplace(a.key(), p);
  }
}

void transfers::start_pending(time_point now) {
  while (active_.size() < cfg_.max_transfers && !pending_.empty()) {
    auto i = pending_.begin();
    auto key = i->first;
    auto p = std::move(i->second);
    pending_.erase(i);
    auto cur = store_.find(key);
    if (cur && !(p.ver > cur->ver))
      continue;
    start(key, std::move(p), now);
  }
}

void transfers::start(const std::string& key, pending_announce p,
                      time_point now) {
  transfer t;
  t.key = key;
  t.ver = p.ver;
  t.size = p.size;
  t.hash = p.hash;
  t.chunk_size = chunk_size_for(cfg_.max_packet, key, p.ver);
  t.chunks = (p.size + t.chunk_size - 1) / t.chunk_size;
  t.buf.assign(p.size, '\0'); // size validated <= max_value_bytes
  t.have.assign(t.chunks, 0);
  t.sent_at.assign(t.chunks, time_point::min());
  t.tries.assign(t.chunks, 0);
  t.sources.push_back(p.source);
  t.probe_left.push_back(p.probe_bytes);
  t.rumour = p.rumour;
  t.last_progress = now;
  active_[key] = std::move(t);
  ++stats_.transfers_started;
}

void transfers::abandon(const std::string& key, const char* reason) {
  auto t = active_.find(key);
  if (t == active_.end())
    return;
  inflight_ -= t->second.inflight;
  active_.erase(t);
  kicked_ = true;
  ++stats_.transfers_abandoned;
  if (std::string_view{reason} != "superseded")
    reject(reason);
}

void transfers::drop_older(const std::string& key, const version& v) {
  auto t = active_.find(key);
  if (t != active_.end() && !(t->second.ver > v))
    abandon(key, "superseded");
  auto p = pending_.find(key);
  if (p != pending_.end() && !(p->second.ver > v))
    pending_.erase(p);
}

namespace {

Message chunk_request(const std::string& key, const transfer& t,
                      const std::vector<uint32_t>& indices, uint64_t cookie) {
  Message m;
  auto* r = m.mutable_chunk_request();
  r->set_key(key);
  set_version(r->mutable_version(), t.ver);
  r->set_chunk_size(t.chunk_size);
  for (auto i : indices)
    r->add_indices(i);
  r->set_cookie(cookie);
  return m;
}

} // namespace

bool transfers::probe(const std::string& key, transfer& t, time_point now,
                      emitter& tx) {
  // Slow start: the window's chunks spread over the sources as in pull(),
  // once, and again only when none is in flight; each source asked only
  // within its probe bytes, as many chunks as fit half of what it has left
  // (so a lost request or the cookie round trip leaves room to ask again),
  // one chunk while that fits all of it.
  if (t.inflight > 0)
    return true;
  std::vector<uint32_t> want;
  for (uint32_t i = 0; i < t.chunks && want.size() < cfg_.pull_window
                       && inflight_ + want.size() < cfg_.max_inflight_chunks;
       ++i)
    if (!t.have[i])
      want.push_back(i);
  if (want.empty())
    return true;
  std::map<size_t, std::vector<uint32_t>> by_source;
  for (auto i : want) {
    auto src = t.next_source++ % t.sources.size();
    auto& v = by_source[src];
    if (v.size() < max_indices_per_request)
      v.push_back(i);
  }
  bool sent = false;
  for (auto& [src, ask] : by_source) {
    auto left = t.probe_left[src];
    auto m = chunk_request(key, t, ask, cookie_of(t.sources[src]));
    while (ask.size() > 1 && 2 * m.ByteSizeLong() > left) {
      ask.pop_back();
      m.mutable_chunk_request()->mutable_indices()->RemoveLast();
    }
    auto n = m.ByteSizeLong();
    if (n > left)
      continue;
    t.probe_left[src] = left - static_cast<uint32_t>(n);
    for (auto i : ask) {
      t.sent_at[i] = now;
      if (t.tries[i] < 255)
        ++t.tries[i];
      ++t.inflight;
      ++inflight_;
    }
    tx.send(t.sources[src], m, "chunk_request");
    sent = true;
  }
  if (sent)
    return true;
  // Nothing fit: a source with bytes left for one chunk gets that one.
  for (size_t k = 0; k < t.sources.size(); ++k) {
    auto src = t.next_source++ % t.sources.size();
    auto m = chunk_request(key, t, {want[0]}, cookie_of(t.sources[src]));
    auto n = m.ByteSizeLong();
    if (n > t.probe_left[src])
      continue;
    t.probe_left[src] -= static_cast<uint32_t>(n);
    t.sent_at[want[0]] = now;
    if (t.tries[want[0]] < 255)
      ++t.tries[want[0]];
    ++t.inflight;
    ++inflight_;
    tx.send(t.sources[src], m, "chunk_request");
    return true;
  }
  return false; // every source asked its share, unanswered
}

void transfers::pull(time_point now, emitter& tx) {
  kicked_ = false;
  std::vector<std::string> silent;
  for (auto& [key, t] : active_) {
    if (t.sources.empty())
      continue;
    if (t.received == 0) {
      if (!probe(key, t, now, tx))
        silent.push_back(key);
      continue;
    }
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
    for (auto& [src, indices] : by_source)
      tx.send(t.sources[src],
              chunk_request(key, t, indices, cookie_of(t.sources[src])),
              "chunk_request");
  }
  for (auto& k : silent)
    abandon(k, "announce_unanswered");
}

duration transfers::chunk_deadline(const transfer& t, uint32_t i) const {
  // Retries rotate over the sources; back off only once every source has
  // been asked (a lost packet then costs one base timeout, an overloaded or
  // slow set of sources sees up to 8x fewer re-requests).
  unsigned rounds = t.tries[i] > 0 ? (t.tries[i] - 1u) / std::max<size_t>(
                                       1, t.sources.size())
                                   : 0;
  unsigned doublings = std::min(rounds, 3u);
  return cfg_.chunk_timeout * (1 << doublings);
}

void transfers::check_timeouts(time_point now) {
  std::vector<std::string> dead;
  for (auto& [key, t] : active_) {
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

std::optional<completed_value> transfers::on_chunk(const Chunk& c,
                                                   time_point now,
                                                   emitter& tx) {
  auto t = active_.find(c.key());
  if (t == active_.end() || t->second.ver != get_version(c.version())) {
    reject("chunk_unknown_transfer");
    return std::nullopt;
  }
  auto& x = t->second;
  if (c.total_size() != x.size) {
    reject("chunk_wrong_total");
    return std::nullopt;
  }
  if (hash128{c.hash_lo(), c.hash_hi()} != x.hash) {
    reject("chunk_wrong_hash");
    return std::nullopt;
  }
  if (c.chunk_size() != x.chunk_size || c.index() >= x.chunks) {
    reject("chunk_bad_index");
    return std::nullopt;
  }
  uint64_t offset = uint64_t{c.index()} * x.chunk_size;
  uint64_t expect = std::min<uint64_t>(x.chunk_size, x.size - offset);
  if (c.data().size() > expect) {
    reject("chunk_oversized");
    return std::nullopt;
  }
  if (c.data().size() < expect) {
    reject("chunk_truncated");
    return std::nullopt;
  }
  if (x.have[c.index()]) {
    reject("chunk_duplicate");
    return std::nullopt;
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
    pull(now, tx);
    return std::nullopt;
  }
  if (hash_value(x.buf) != x.hash) {
    abandon(c.key(), "value_hash_mismatch");
    return std::nullopt;
  }
  completed_value done;
  done.key = x.key;
  done.value.value = std::move(x.buf);
  done.value.ver = x.ver;
  done.rumour = x.rumour;
  inflight_ -= x.inflight;
  active_.erase(t);
  ++stats_.transfers_completed;
  return done;
}

void transfers::on_chunk_gone(const address& from, const ChunkGone& g) {
  auto t = active_.find(g.key());
  if (t == active_.end() || t->second.ver != get_version(g.version()))
    return;
  auto& x = t->second;
  for (size_t i = x.sources.size(); i-- > 0;) {
    if (x.sources[i] == from) {
      x.sources.erase(x.sources.begin() + static_cast<ptrdiff_t>(i));
      x.probe_left.erase(x.probe_left.begin() + static_cast<ptrdiff_t>(i));
    }
  }
  if (x.sources.empty())
    abandon(g.key(), "source_gone");
}

void transfers::on_chunk_cookie(const address& from, const ChunkCookie& c) {
  auto is_source = [&](const transfer& t) {
    return std::find(t.sources.begin(), t.sources.end(), from)
           != t.sources.end();
  };
  bool source = false;
  for (auto& [k, t] : active_)
    source = source || is_source(t);
  if (!source || c.cookie() == 0) {
    reject("chunk_cookie_unsolicited");
    return;
  }
  auto i = cookies_.find(from);
  if (i != cookies_.end()) {
    i->second = c.cookie();
    return; // a changed cookie: the chunks are asked again on timeout
  }
  if (cookies_.size() >= max_cookies)
    cookies_.erase(cookies_.begin());
  cookies_.emplace(from, c.cookie());
  // The first cookie of a source: its refused requests are asked again
  // now, not after their timeout.
  for (auto& [k, t] : active_) {
    if (!is_source(t))
      continue;
    for (uint32_t n = 0; n < t.chunks; ++n) {
      if (!t.have[n] && t.sent_at[n] != time_point::min()) {
        t.sent_at[n] = time_point::min();
        if (t.tries[n] > 0)
          --t.tries[n];
        --t.inflight;
        --inflight_;
        kicked_ = true;
      }
    }
  }
}

uint64_t transfers::cookie_of(const address& source) const {
  auto i = cookies_.find(source);
  return i == cookies_.end() ? 0 : i->second;
}

time_point transfers::next_deadline() const {
  auto t = time_point::max();
  for (auto& [k, x] : active_) {
    for (uint32_t i = 0; i < x.chunks; ++i)
      if (!x.have[i] && x.sent_at[i] != time_point::min())
        t = std::min(t, x.sent_at[i] + chunk_deadline(x, i));
    t = std::min(t, x.last_progress + cfg_.transfer_timeout);
  }
  return t;
}

const transfer* transfers::find(const std::string& key) const {
  auto t = active_.find(key);
  return t == active_.end() ? nullptr : &t->second;
}

// -- serving ------------------------------------------------------------------

bool transfers::serve(const address& from, const ChunkRequest& r,
                      uint64_t cookie, emitter& tx, bulk_sender& bulk,
                      double& room) {
  if (store_.validate_key(r.key()) != ec::ok
      || store_.validate_origin(r.version().origin()) != ec::ok) {
    reject("bad_chunk_request");
    return false;
  }
  if (r.cookie() != cookie) {
    // Not proven to receive at `from`: the cookie alone, never more bytes
    // than the request (a forger of a member's address never sees it).
    Message c;
    c.mutable_chunk_cookie()->set_cookie(cookie);
    if (c.ByteSizeLong() <= r.ByteSizeLong())
      tx.send(from, c, "chunk_cookie");
    return false;
  }
  auto ver = get_version(r.version());
  auto e = store_.find(r.key());
  if (!e || e->tombstone || e->ver != ver) {
    Message g;
    g.mutable_chunk_gone()->set_key(r.key());
    set_version(g.mutable_chunk_gone()->mutable_version(), ver);
    tx.send(from, g, "chunk_gone");
    return false;
  }
  if (r.chunk_size() < min_chunk_size
      || r.chunk_size() > chunk_size_for(cfg_.max_packet, r.key(), ver)) {
    reject("bad_chunk_size");
    return false;
  }
  if (static_cast<size_t>(r.indices_size()) > max_indices_per_request) {
    reject("too_many_indices");
    return false;
  }
  uint64_t chunks = (e->value.size() + r.chunk_size() - 1) / r.chunk_size();
  auto cost = static_cast<double>(
    chunk_packet_bound(r.chunk_size(), r.key(), ver));
  for (auto i : r.indices()) {
    if (i >= chunks) {
      reject("bad_chunk_index");
      continue;
    }
    if (room < cost) {
      reject("peer_bulk_budget");
      break;
    }
    auto q = bulk.chunk(from, chunk_job{r.key(), ver, i, r.chunk_size()});
    if (q == bulk_enqueue::full) {
      reject("bulk_queue_full");
      break;
    }
    if (q == bulk_enqueue::queued)
      room -= cost;
  }
  return true;
}

} // namespace pekonode::metadata
