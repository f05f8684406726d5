#include "metadata/core.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "common/hash.h"
#include "common/siphash.h"
#include "common/varint.h"
#include "metadata/codec.h"
#include "metadata/metadata.pb.h"

namespace pekonode::metadata {

// Bulk payloads read from the store at the moment the bucket admits them:
// the newest entry of a pushed key, nothing for a chunk of a version
// superseded while queued (its requester times out and asks again).
class core::bulk_payloads final : public bulk_encoder {
public:
  bulk_payloads(const config& cfg, const store& s, emitter& tx)
    : store_(s), tx_(tx), packer_(cfg) {}

  size_t send_chunk(const address& to, const chunk_job& c) override {
    auto e = store_.find(c.key);
    if (!e || e->tombstone || e->ver != c.ver)
      return 0;
    auto n = tx_.send(to, make_chunk(c.key, *e, c.index, c.chunk_size),
                      "chunk");
    if (n > 0)
      ++tx_.counters().chunks_sent;
    return n;
  }

  bool add_push(const std::string& key) override {
    auto e = store_.find(key);
    return !e || packer_.add(key, *e);
  }

  size_t send_push(const address& to) override {
    if (packer_.empty())
      return 0;
    return tx_.send(to, packer_.take_push(), "push");
  }

private:
  const store& store_;
  emitter& tx_;
  updates_packer packer_;
};

core::core(config cfg, std::string node_id, uint64_t seed)
  : cfg_(cfg),
    node_id_(std::move(node_id)),
    rng_(seed),
    store_(cfg.limits),
    rumours_(cfg.max_rumours),
    ae_(cfg_, store_),
    transfers_(cfg_, store_, stats_),
    bulk_(cfg.max_bulk_bytes_per_sec, cfg.max_packet, cfg.max_bulk_queue),
    concern_(cfg_),
    replies_(static_cast<double>(cfg.peer_reply_bytes_per_sec),
             static_cast<double>(cfg.peer_reply_burst_bytes)),
    bulk_drawn_(static_cast<double>(cfg.peer_bulk_bytes_per_sec),
                static_cast<double>(cfg.peer_bulk_burst_bytes)),
    nonce_rng_(seed ^ 0x6a09e667f3bcc909ULL),
    cookie_k0_(mix64(seed ^ 0xbb67ae8584caa73bULL)),
    cookie_k1_(mix64(seed ^ 0x3c6ef372fe94f82bULL)) {
  // The node id is the origin of every local write: the rule remote
  // origins are held to.
  if (store_.validate_origin(node_id_) != ec::ok)
    throw std::invalid_argument("metadata core: invalid node id");
  if (cfg_.max_packet < 600 + cfg_.limits.max_key_bytes
                          + cfg_.limits.max_origin_bytes
      && cfg_.max_packet < 512)
    throw std::invalid_argument("metadata core: max_packet too small");
  if (cfg_.syn_cookie_epoch <= duration::zero())
    throw std::invalid_argument("metadata core: syn_cookie_epoch not > 0");
}

core::~core() = default;

// -- time, peers, events ------------------------------------------------------

void core::advance(time_point now) {
  last_now_ = std::max(last_now_, now);
  if (timers_) {
    if (gossip_idle_)
      roll_gossip(now);
    return;
  }
  timers_ = true;
  next_gossip_ = now + cfg_.gossip_interval;
  // Spread anti-entropy rounds of nodes started together.
  std::uniform_int_distribution<int64_t> jitter(0, cfg_.ae_interval.count());
  next_ae_ = now + duration{jitter(rng_)};
  if (ae_at_start_)
    next_ae_ = now;
  next_gc_ = now + cfg_.gc_interval;
  bulk_.start(now);
}

bool core::gossip_due() const {
  return !rumours_.empty() && !peers_.empty();
}

bool core::ae_due() const {
  // With no peer and no exchange state left to expire, a round does
  // nothing (start_ae prunes, then finds no one to ask): the timer is not
  // armed for it. The first peer makes a round due at once (first_peer).
  return !peers_.empty() || !syn_to_.empty() || !ack_to_.empty()
         || !ack2_to_.empty() || !syn_back_.empty() || !syn_from_.empty()
         || !held_syns_.empty() || !validated_.empty();
}

void core::roll_gossip(time_point now) {
  // Idle, the gossip timer is not polled, but its phase is kept: the next
  // tick is the first one of the grid a timer polled every interval would
  // have fired at or after `now`, so a rumour queued now is retransmitted
  // exactly when it would have been with an always-running tick.
  if (next_gossip_ >= now)
    return; // also: never moves a tick that is due right now
  auto behind = now - next_gossip_;
  auto steps = (behind + cfg_.gossip_interval - duration{1})
               / cfg_.gossip_interval;
  next_gossip_ += steps * cfg_.gossip_interval;
}

time_point core::next_wakeup() const {
  if (!timers_)
    return time_point{};
  // Anti-entropy and GC are periodic; every other timer is due only when it
  // has work (rumours queued, transfers in flight, bulk items queued).
  auto t = next_gc_;
  if (ae_due())
    t = std::min(t, next_ae_);
  if (gossip_due())
    t = std::min(t, next_gossip_);
  t = std::min(t, transfers_.next_deadline());
  t = std::min(t, concern_.next_wakeup());
  if (transfers_.has_work() || answer_held_)
    t = std::min(t, last_now_);
  return std::min(t, bulk_.next_wakeup());
}

void core::settle() { gossip_idle_ = !gossip_due(); }

void core::first_peer() {
  // A fresh or restarted node may be behind: catch up now, not up to
  // ae_interval later, and keep asking others quickly until one answers.
  catchup_left_ = cfg_.catchup_syncs;
  catchup_asked_.clear();
  if (timers_)
    next_ae_ = std::min(next_ae_, last_now_);
  else
    ae_at_start_ = true;
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

std::vector<address> core::pick_peers(size_t k) {
  std::vector<address> result;
  if (peers_.empty())
    return result;
  if (k >= peers_.size()) {
    result.assign(peers_.begin(), peers_.end());
    std::shuffle(result.begin(), result.end(), rng_);
    return result;
  }
  // Partial Fisher-Yates over indices, the identity permutation held
  // sparsely: only the O(k) displaced slots are stored, not all N.
  std::vector<std::pair<size_t, size_t>> moved; // slot -> index held there
  moved.reserve(2 * k);
  auto at = [&moved](size_t slot) -> size_t& {
    for (auto& [s, v] : moved)
      if (s == slot) return v;
    moved.emplace_back(slot, slot);
    return moved.back().second;
  };
  result.reserve(k);
  for (size_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<size_t> d(i, peers_.size() - 1);
    auto j = d(rng_);
    size_t& a = at(i);
    size_t& b = at(j); // `moved` does not reallocate: reserved 2k
    std::swap(a, b);
    result.push_back(peers_[a]);
  }
  return result;
}

void core::set_peers(std::vector<address> live) {
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  if (peers_.empty() && !live.empty())
    first_peer();
  std::vector<address> gone, added;
  std::set_difference(peers_.begin(), peers_.end(), live.begin(), live.end(),
                      std::back_inserter(gone));
  std::set_difference(live.begin(), live.end(), peers_.begin(), peers_.end(),
                      std::back_inserter(added));
  peers_.assign(live.begin(), live.end());
  for (auto& a : gone)
    peer_removed(a);
  for (auto& a : added)
    peer_added(a);
}

bool core::member_changed(const std::string& name, const address& addr,
                          bool live) {
  interned iname(name);
  if (auto* old = live_names_.find(iname)) {
    if (live && *old == addr)
      return false; // still live at the same address
    interned old_addr = std::move(*old);
    live_names_.erase(iname);
    if (auto* extra = extra_refs_.find(old_addr)) {
      if (--*extra == 0) extra_refs_.erase(old_addr);
    } else {
      auto it = std::lower_bound(peers_.begin(), peers_.end(), old_addr);
      if (it != peers_.end() && *it == old_addr) peers_.erase(it);
      peer_removed(old_addr);
    }
  }
  if (!live || addr.empty())
    return false;
  interned iaddr(addr);
  live_names_[iname] = iaddr;
  auto at = std::lower_bound(peers_.begin(), peers_.end(), iaddr);
  if (at != peers_.end() && *at == iaddr) {
    ++extra_refs_[iaddr];
    return false;
  }
  if (peers_.empty())
    first_peer();
  at = std::lower_bound(peers_.begin(), peers_.end(), iaddr);
  peers_.insert(at, iaddr);
  peer_added(iaddr);
  return true;
}

// -- who is answered, and how much --------------------------------------------

bool core::is_peer(const address& a) const {
  return std::binary_search(peers_.begin(), peers_.end(), a);
}

void core::peer_added(const address& a) {
  if (held_syns_.count(a) > 0)
    answer_held_ = true;
}

void core::peer_removed(const address& a) {
  concern_.peer_removed(a, last_now_);
  replies_.forget(a);
  bulk_drawn_.forget(a);
  cookies_.erase(a);
  syn_from_.erase(a);
}

bool core::admit_step(const address& from, std::map<address, step>& sent,
                      uint64_t nonce, time_point now) {
  auto i = sent.find(from);
  if (i == sent.end() || now - i->second.at > cfg_.ae_step_timeout
      || i->second.left == 0 || i->second.nonce != nonce) {
    reject("unsolicited");
    return false;
  }
  --i->second.left;
  return true;
}

bool core::validated(const address& a, time_point now) const {
  auto i = validated_.find(a);
  return i != validated_.end() && now - i->second <= cfg_.transfer_timeout;
}

void core::validate(const address& a, time_point now) {
  if (validated_.size() >= cfg_.max_held_syns && validated_.count(a) == 0) {
    auto oldest = validated_.begin();
    for (auto i = validated_.begin(); i != validated_.end(); ++i)
      if (i->second < oldest->second)
        oldest = i;
    if (!is_peer(oldest->first))
      peer_removed(oldest->first);
    validated_.erase(oldest);
  }
  validated_[a] = now;
}

uint64_t core::next_nonce() {
  auto n = nonce_rng_();
  return n == 0 ? 1 : n;
}

void core::syn_back(const address& from, size_t their_bytes, time_point now,
                    outbound_list& out) {
  // Never more bytes than the SYN carried; once per address at a time (a
  // SYN-back answering ours, or one we are already waiting on, is not
  // answered again: no ping-pong).
  for (auto* m : {&syn_to_, &syn_back_}) {
    auto i = m->find(from);
    if (i != m->end() && now - i->second.at <= cfg_.ae_step_timeout)
      return;
  }
  // With its cookie when that still fits (else it answers with one).
  auto cookie = cookie_from(from);
  if (cookie != 0 && ae_.syn_size(true) > their_bytes)
    cookie = 0;
  if (ae_.syn_size(cookie != 0) > their_bytes || cfg_.max_held_syns == 0)
    return;
  if (syn_back_.size() >= cfg_.max_held_syns && syn_back_.count(from) == 0) {
    auto oldest = syn_back_.begin();
    for (auto i = syn_back_.begin(); i != syn_back_.end(); ++i)
      if (i->second.at < oldest->second.at)
        oldest = i;
    syn_back_.erase(oldest);
  }
  emitter tx{cfg_.max_packet, stats_, out};
  auto nonce = next_nonce();
  ae_.syn(from, nonce, cookie, tx);
  syn_back_[from] = step{now, ack_pages(cfg_.max_packet), nonce};
}

uint64_t core::syn_cookie(const address& a, int64_t epoch) const {
  std::string data(8, '\0');
  for (int i = 0; i < 8; ++i)
    data[i] = static_cast<char>((static_cast<uint64_t>(epoch) >> (8 * i))
                                & 0xff);
  data += a;
  auto c = siphash24(cookie_k0_, cookie_k1_, data);
  return c == 0 ? 1 : c; // 0 means "no cookie" on the wire
}

bool core::syn_cookie_ok(const address& a, uint64_t c,
                         time_point now) const {
  if (c == 0)
    return false;
  auto epoch = now.time_since_epoch() / cfg_.syn_cookie_epoch;
  return c == syn_cookie(a, epoch) || c == syn_cookie(a, epoch - 1);
}

uint64_t core::cookie_from(const address& a) const {
  auto i = peer_cookies_.find(a);
  return i == peer_cookies_.end() ? 0 : i->second;
}

void core::on_syn_cookie(const address& from, const SynCookie& c,
                         bool verified, time_point now, outbound_list& out) {
  // Only the SYN's receiver knows its nonce, so a forged SynCookie makes
  // us send nothing; a SYN is sent again once per round, so a replayed
  // one neither. Our SYN-back's receiver proves by the echo that it
  // receives at `from` (validated, as by an ACK echoing it).
  auto open = [&](std::map<address, step>& m) -> step* {
    auto i = m.find(from);
    if (i == m.end() || i->second.nonce != c.nonce() || i->second.resent
        || now - i->second.at > cfg_.ae_step_timeout)
      return nullptr;
    return &i->second;
  };
  step* st = verified ? open(syn_to_) : nullptr;
  bool back = false;
  if (st == nullptr && (st = open(syn_back_)) != nullptr)
    back = true;
  if (st == nullptr || c.cookie() == 0) {
    reject("syn_cookie_unsolicited");
    return;
  }
  st->resent = true;
  st->at = now;
  auto i = peer_cookies_.find(from);
  if (i == peer_cookies_.end()) {
    if (peer_cookies_.size() >= transfers::max_cookies)
      peer_cookies_.erase(peer_cookies_.begin());
    peer_cookies_.emplace(from, c.cookie());
  } else {
    i->second = c.cookie();
  }
  if (back && !is_peer(from))
    validate(from, now);
  emitter tx{cfg_.max_packet, stats_, out};
  ae_.syn(from, st->nonce, c.cookie(), tx);
}

void core::answer_syn(const address& from, const Syn& s, time_point now,
                      outbound_list& out) {
  // The ACK pages (~2 KB) go only to who proved it receives at `from`:
  // without our cookie the SYN draws the cookie alone (20 bytes, never more
  // than the SYN), and its sender asks again with it. A SYN naming our
  // digest draws nothing either way.
  if (!syn_cookie_ok(from, s.cookie(), now)) {
    if (ae_.in_sync(s))
      return;
    Message c;
    auto epoch = now.time_since_epoch() / cfg_.syn_cookie_epoch;
    c.mutable_syn_cookie()->set_cookie(syn_cookie(from, epoch));
    c.mutable_syn_cookie()->set_nonce(s.nonce());
    // Real SYNs always are larger; a stripped one draws nothing.
    if (c.ByteSizeLong() > delimited_field_size(s.ByteSizeLong())) {
      reject("syn_too_small");
      return;
    }
    emitter tx{cfg_.max_packet, stats_, out};
    tx.cap(from, replies_.available(from, now));
    tx.send(from, c, "syn_cookie");
    replies_.spend(from, static_cast<double>(tx.capped_sent()));
    return;
  }
  // A peer starts one round per ae_interval with one random peer, so
  // never two with us within half of one: more are refused before they
  // cost an ACK (~2 KB for a ~30-byte SYN).
  auto last = syn_from_.find(from);
  if (last != syn_from_.end() && now - last->second < cfg_.ae_interval / 2) {
    reject("syn_too_soon");
    return;
  }
  syn_from_[from] = now;
  emitter tx{cfg_.max_packet, stats_, out};
  tx.cap(from, replies_.available(from, now));
  auto nonce = next_nonce(); // ours: the SYN's may be a forger's choice
  ae_.on_syn(from, s, nonce, tx);
  replies_.spend(from, static_cast<double>(tx.capped_sent()));
  if (tx.capped_msgs() > 0) // each ACK page may draw max_ae_pages ACK2s
    ack_to_[from] = step{now, tx.capped_msgs() * cfg_.max_ae_pages, nonce};
}

void core::hold_syn(const address& from, const Syn& s, time_point now) {
  if (held_syns_.size() >= cfg_.max_held_syns && held_syns_.count(from) == 0) {
    auto oldest = held_syns_.begin();
    for (auto i = held_syns_.begin(); i != held_syns_.end(); ++i)
      if (i->second.at < oldest->second.at)
        oldest = i;
    held_syns_.erase(oldest);
  }
  if (cfg_.max_held_syns > 0)
    held_syns_[from] = held_syn{
      s.digest_lo(), s.digest_hi(), s.count(), s.nonce(), s.cookie(),
      static_cast<uint32_t>(std::min(s.pad().size(), syn_cookie_bytes)), now};
}

void core::answer_held(time_point now, outbound_list& out) {
  answer_held_ = false;
  for (auto i = held_syns_.begin(); i != held_syns_.end();) {
    if (now - i->second.at > cfg_.ae_step_timeout) {
      i = held_syns_.erase(i);
    } else if (is_peer(i->first)) {
      Syn s;
      s.set_digest_lo(i->second.lo);
      s.set_digest_hi(i->second.hi);
      s.set_count(i->second.count);
      s.set_nonce(i->second.nonce);
      s.set_cookie(i->second.cookie);
      s.set_pad(std::string(i->second.pad, '\0'));
      answer_syn(i->first, s, now, out);
      i = held_syns_.erase(i);
    } else {
      ++i;
    }
  }
}

void core::prune_steps(time_point now) {
  for (auto* m : {&syn_to_, &ack_to_, &ack2_to_, &syn_back_})
    for (auto i = m->begin(); i != m->end();)
      i = now - i->second.at > cfg_.ae_step_timeout ? m->erase(i)
                                                    : std::next(i);
  for (auto i = syn_from_.begin(); i != syn_from_.end();)
    i = now - i->second >= cfg_.ae_interval / 2 ? syn_from_.erase(i)
                                                : std::next(i);
  for (auto i = held_syns_.begin(); i != held_syns_.end();)
    i = now - i->second.at > cfg_.ae_step_timeout ? held_syns_.erase(i)
                                                   : std::next(i);
  for (auto i = validated_.begin(); i != validated_.end();) {
    if (now - i->second <= cfg_.transfer_timeout) {
      ++i;
      continue;
    }
    if (!is_peer(i->first))
      peer_removed(i->first); // its budgets
    i = validated_.erase(i);
  }
}

void core::queue_pushes(const address& to, const push_list& p,
                        time_point now) {
  double room = bulk_drawn_.available(to, now);
  double spent = 0;
  for (auto& k : p.keys) {
    auto e = store_.find(k);
    if (!e)
      continue;
    auto cost = static_cast<double>(update_bound(cfg_, k, *e));
    if (spent + cost > room) {
      reject("peer_bulk_budget");
      break;
    }
    auto q = bulk_.push(to, k);
    if (q == bulk_enqueue::full)
      reject("bulk_queue_full");
    else if (q == bulk_enqueue::queued)
      spent += cost;
  }
  bulk_drawn_.spend(to, spent);
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
  advance(now);
  if (auto err = store_.validate(key, value.size(), false, node_id_);
      err != ec::ok)
    return {err, {}};
  entry e;
  e.value = std::move(value);
  emitter tx{cfg_.max_packet, stats_, out};
  auto r = write_local(key, std::move(e), wall_ms, tx);
  settle();
  return r;
}

write_result core::del(const std::string& key, uint64_t wall_ms,
                       time_point now, outbound_list& out) {
  advance(now);
  auto cur = store_.find(key);
  if (!cur || cur->tombstone)
    return {ec::not_found, {}};
  entry e;
  e.tombstone = true;
  emitter tx{cfg_.max_packet, stats_, out};
  auto r = write_local(key, std::move(e), wall_ms, tx);
  settle();
  return r;
}

write_result core::write(const std::string& key, std::string value,
                         const write_options& o, uint64_t wall_ms,
                         time_point now, outbound_list& out) {
  advance(now);
  if (o.replicas == 0 || o.replicas > cfg_.max_replicas)
    return {ec::bad_option, {}};
  if (auto err = store_.validate(key, o.del ? 0 : value.size(), o.del,
                                 node_id_);
      err != ec::ok)
    return {err, {}};
  // Check and write in one step: nothing runs in between.
  auto cur = store_.find(key);
  bool live = cur && !cur->tombstone;
  if ((o.create_only && live) || (o.has_cas && !o.create_only
                                  && (!live || cur->ver != o.cas))) {
    write_result r{ec::cas_mismatch, {}};
    if (live)
      r.current = cur->ver;
    return r;
  }
  if (o.del && !live)
    return {ec::not_found, {}};
  if (o.replicas > peers_.size() + 1)
    return {ec::too_few_members, {}};
  if (o.replicas > 1 && concern_.pending() >= cfg_.max_pending_writes)
    return {ec::too_many_writes, {}};
  entry e;
  e.tombstone = o.del;
  if (!o.del)
    e.value = std::move(value);
  emitter tx{cfg_.max_packet, stats_, out};
  auto r = write_local(key, std::move(e), wall_ms, tx);
  if (r.code == ec::ok && o.replicas > 1) {
    r.concern = next_nonce();
    std::vector<hold_send> sends;
    concern_.start(r.concern, key, r.ver, o.replicas, o.deadline, now, peers_,
                   rng_, sends);
    send_holds(sends, tx);
  }
  settle();
  return r;
}

void core::send_holds(const std::vector<hold_send>& sends, emitter& tx) {
  for (auto& h : sends) {
    auto e = store_.find(h.key);
    if (!e)
      continue; // collected meanwhile: the write times out
    Message m;
    auto* hold = m.mutable_hold();
    hold->set_id(h.id);
    add_to_updates(*hold->mutable_updates(), cfg_, h.key, *e);
    tx.send(h.to, m, "hold");
  }
}

std::vector<concern_done> core::drain_concerns() {
  auto done = concern_.drain_done();
  for (auto& d : done)
    ++(d.ok() ? stats_.writes_replicated : stats_.writes_replica_timeouts);
  return done;
}

std::vector<held_entry> core::drain_held() {
  std::vector<held_entry> r;
  r.swap(held_);
  return r;
}

void core::on_durable(const std::vector<held_entry>& entries,
                      outbound_list& out) {
  std::vector<hold_ack_send> acks;
  for (auto& e : entries)
    concern_.durable(e, acks);
  emitter tx{cfg_.max_packet, stats_, out};
  for (auto& a : acks) {
    Message m;
    auto* ack = m.mutable_hold_ack();
    ack->set_id(a.id);
    ack->set_key(a.key);
    set_version(ack->mutable_version(), a.ver);
    if (tx.send(a.to, m, "hold_ack") > 0)
      ++stats_.holds_acked;
  }
}

void core::on_hold(const address& from, const Message& m, uint64_t wall_ms,
                   time_point now, emitter& tx) {
  // Only members are held for: an acknowledgement goes to the address the
  // request came from, so a non-member could aim it at anyone.
  if (!is_peer(from)) {
    reject("hold_not_a_peer");
    return;
  }
  auto& u = m.hold().updates();
  if (u.entries_size() + u.announces_size() != 1 || m.hold().id() == 0) {
    reject("hold_malformed");
    return;
  }
  std::string key = u.entries_size() == 1 ? u.entries(0).key()
                                          : u.announces(0).key();
  version ver = get_version(u.entries_size() == 1 ? u.entries(0).version()
                                                  : u.announces(0).version());
  auto cur = store_.find(key);
  bool held_before = cur && !(ver > cur->ver);
  // Entries are applied like a push (not re-gossiped: the writer's rumour
  // spreads it); an announce is pulled from the writer.
  on_updates(from, true, u, false, wall_ms, now, tx);
  if (auto why = concern_.owe(from, m.hold().id(), key, ver, now)) {
    reject(why);
    return;
  }
  // Applied now: its change event reaches on_durable. Held already (a
  // retry after a lost acknowledgement, or the rumour came first): it is
  // acknowledged as soon as the shell reports what it applied before as
  // durable.
  if (held_before && held_.size() < cfg_.max_owed_holds)
    if (auto now_held = store_.find(key))
      held_.push_back(held_entry{key, now_held->ver});
}

void core::on_hold_ack(const address& from, const Message& m) {
  if (!is_peer(from)) {
    reject("hold_ack_not_a_peer");
    return;
  }
  auto& a = m.hold_ack();
  if (auto why = concern_.on_ack(from, a.id(), a.key(),
                                 get_version(a.version())))
    reject(why);
}

write_result core::write_local(const std::string& key, entry e,
                               uint64_t wall_ms, emitter& tx) {
  e.ver = version{clock_.now(wall_ms), node_id_};
  auto ver = e.ver;
  auto err = store_.merge(key, std::move(e));
  if (err != ec::ok)
    return {err, {}};
  ++stats_.applied_local;
  changed(key);
  transfers_.drop_older(key, ver);
  push_event(key, *store_.find(key), change_origin::local);
  if (!hold_local_) {
    enqueue_rumour(key, ver);
    gossip_now(key, tx);
  }
  return {ec::ok, ver};
}

// -- durability hooks ---------------------------------------------------------

std::vector<std::string> core::drain_changed() {
  std::vector<std::string> result(changed_.begin(), changed_.end());
  changed_.clear();
  return result;
}

void core::release_local(const std::string& key, const version& ver,
                         time_point now, outbound_list& out) {
  advance(now);
  auto e = store_.find(key);
  if (e && e->ver == ver) {
    emitter tx{cfg_.max_packet, stats_, out};
    enqueue_rumour(key, ver);
    gossip_now(key, tx);
  }
  settle();
}

bool core::revert_local(const std::string& key, const version& ver,
                        const entry* prev) {
  auto cur = store_.find(key);
  if (!cur || cur->ver != ver)
    return false;
  entry gone = *cur;
  store_.erase(key);
  if (prev != nullptr && store_.merge(key, *prev) == ec::ok) {
    push_event(key, *store_.find(key), change_origin::local);
  } else {
    gone.tombstone = true;
    gone.value.clear();
    push_event(key, gone, change_origin::local);
  }
  return true;
}

ec core::restore(const std::string& key, entry e) {
  if (auto err = store_.validate(key, e.value.size(), e.tombstone,
                                 e.ver.origin);
      err != ec::ok)
    return err;
  auto hlc = e.ver.hlc;
  auto err = store_.merge(key, std::move(e));
  if (err == ec::ok || err == ec::stale)
    clock_.observe(hlc, 0);
  return err;
}

// -- rumours ------------------------------------------------------------------

void core::enqueue_rumour(const std::string& key, const version& v) {
  for (auto n = rumours_.push(key, v); n > 0; --n)
    reject("rumour_queue_full");
}

void core::gossip_now(const std::string& key, emitter& tx) {
  auto e = store_.find(key);
  if (!e || !rumours_.holds(key, e->ver))
    return;
  auto targets = pick_peers(cfg_.fanout);
  if (targets.empty())
    return;
  Message m;
  add_to_updates(*m.mutable_rumour(), cfg_, key, *e);
  for (auto& t : targets)
    tx.send(t, m, "rumour");
  rumours_.sent(key, retransmit_limit(cfg_.retransmit_mult, peers_.size()));
}

void core::gossip_tick(emitter& tx) {
  if (rumours_.empty() || peers_.empty())
    return;
  rumours_.drop_superseded(store_);
  // One transmission per tick per rumour (to up to `fanout` peers), as in
  // memberlist's transmit-limited queue: every target gets the same packet.
  auto targets = pick_peers(cfg_.fanout);
  if (targets.empty())
    return;
  updates_packer p(cfg_);
  auto taken = rumours_.pack(
    store_, [&](const std::string& k, const entry& e) { return p.add(k, e); });
  if (p.empty())
    return;
  auto m = p.take_rumour();
  for (auto& t : targets)
    tx.send(t, m, "rumour");
  auto limit = retransmit_limit(cfg_.retransmit_mult, peers_.size());
  for (auto& k : taken)
    rumours_.sent(k, limit);
}

// -- remote updates -----------------------------------------------------------

ec core::apply_entry(const std::string& key, entry e, bool via_rumour,
                     uint64_t wall_ms, emitter& tx) {
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
      changed(key);
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
  changed(key);
  transfers_.drop_older(key, ver);
  push_event(key, *store_.find(key), change_origin::remote);
  if (via_rumour) {
    enqueue_rumour(key, ver);
    gossip_now(key, tx);
  }
  return ec::ok;
}

ec core::apply_remote(const Entry& x, bool via_rumour, uint64_t wall_ms,
                      emitter& tx) {
  auto err = store_.validate(x.key(), x.value().size(), x.tombstone(),
                             x.version().origin());
  if (err != ec::ok) {
    reject(to_string(err));
    return err;
  }
  if (!hlc_clock::within_skew(x.version().hlc(), wall_ms,
                              cfg_.max_clock_skew_ms)) {
    reject("clock_skew");
    stats_.clock_skew_lead_ms = hlc_physical(x.version().hlc()) - wall_ms;
    return ec::clock_skew;
  }
  entry e;
  e.value = x.value();
  e.ver = get_version(x.version());
  e.tombstone = x.tombstone();
  return apply_entry(x.key(), std::move(e), via_rumour, wall_ms, tx);
}

void core::on_updates(const address& from, bool verified, const Updates& u,
                      bool via_rumour, uint64_t wall_ms, time_point now,
                      emitter& tx) {
  // Entries are applied whoever carried them (they answer nothing); an
  // announce makes its sender the source we pull chunks from, so only a
  // verified sender's (a peer, or validated) is taken.
  for (auto& x : u.entries())
    apply_remote(x, via_rumour, wall_ms, tx);
  for (auto& a : u.announces()) {
    if (verified)
      transfers_.on_announce(from, a, via_rumour, wall_ms);
    else
      reject("not_a_peer");
  }
  transfers_.start_pending(now);
  transfers_.pull(now, tx);
}

// -- anti-entropy and bulk ----------------------------------------------------

void core::start_ae(time_point now, emitter& tx) {
  prune_steps(now);
  auto peer = pick_peers(1);
  if (peer.empty())
    return;
  if (catchup_left_ > 0 || !catchup_asked_.empty()) {
    // Catching up: a peer not asked yet in this catch-up, if any is left.
    auto asked = [&](const address& a) {
      return std::find(catchup_asked_.begin(), catchup_asked_.end(), a)
             != catchup_asked_.end();
    };
    if (asked(peer[0]) && catchup_asked_.size() < peers_.size()) {
      std::uniform_int_distribution<size_t> d(0, peers_.size() - 1);
      auto i = d(rng_);
      while (asked(peers_[i]))
        i = (i + 1) % peers_.size();
      peer[0] = peers_[i];
    }
    catchup_asked_.push_back(peer[0]);
  }
  ++stats_.ae_rounds;
  auto nonce = next_nonce();
  ae_.syn(peer[0], nonce, cookie_from(peer[0]), tx);
  syn_to_[peer[0]] = step{now, ack_pages(cfg_.max_packet), nonce};
}

void core::drain_bulk(time_point now, outbound_list& out) {
  // Its own emitter: bulk items were charged to their peers when queued,
  // no reply cap applies to them.
  emitter tx{cfg_.max_packet, stats_, out};
  bulk_payloads enc{cfg_, store_, tx};
  bulk_.drain(now, enc);
}

// -- entry points -------------------------------------------------------------

void core::handle(const address& from, std::string_view payload,
                  uint64_t wall_ms, time_point now, outbound_list& out) {
  advance(now);
  if (payload.size() > cfg_.max_inbound_bytes) {
    reject("payload_too_large");
    return;
  }
  Message m;
  if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    reject("malformed");
    return;
  }
  emitter tx{cfg_.max_packet, stats_, out};
  // Answered: live peers, and addresses that proved they receive at their
  // address (validated). Anything else draws at most a SYN-back no larger
  // than its SYN.
  bool peer = is_peer(from);
  bool verified = peer || validated(from, now);
  const char* kind = "unknown";
  switch (m.body_case()) {
    case Message::kRumour:
      kind = "rumour";
      on_updates(from, verified, m.rumour(), true, wall_ms, now, tx);
      break;
    case Message::kPush:
      kind = "push";
      on_updates(from, verified, m.push(), false, wall_ms, now, tx);
      break;
    case Message::kSyn:
      kind = "syn";
      if (verified) {
        answer_syn(from, m.syn(), now, out);
      } else {
        reject("not_a_peer");
        hold_syn(from, m.syn(), now);
        syn_back(from, payload.size(), now, out);
      }
      break;
    case Message::kAck: {
      kind = "ack";
      // An answer to our SYN, or to our SYN-back: echoing that nonce proves
      // the sender receives at its address (validated: served like a peer
      // for transfer_timeout).
      auto nonce = m.ack().nonce();
      bool ok = false;
      auto back = syn_back_.find(from);
      if (back != syn_back_.end() && back->second.nonce == nonce) {
        ok = admit_step(from, syn_back_, nonce, now);
        if (ok && !peer)
          validate(from, now);
      } else if (verified) {
        ok = admit_step(from, syn_to_, nonce, now);
        if (ok) { // a peer whose digest differs answered: caught up
          catchup_left_ = 0;
          catchup_asked_.clear();
        }
      } else {
        reject("not_a_peer");
      }
      if (ok) {
        tx.cap(from, replies_.available(from, now));
        ae_.on_ack(from, m.ack(), tx);
        replies_.spend(from, static_cast<double>(tx.capped_sent()));
        if (tx.capped_msgs() > 0) { // each ACK2 page may draw WANT pages
          // The WANTs echo the responder's nonce, as our ACK2s did.
          auto reply = m.ack().reply_nonce();
          auto& s = ack2_to_[from];
          if (now - s.at > cfg_.ae_step_timeout || s.nonce != reply)
            s.left = 0;
          s.at = now;
          s.nonce = reply;
          s.left += tx.capped_msgs() * cfg_.max_ae_pages;
        }
      }
      break;
    }
    case Message::kAck2:
      kind = "ack2";
      if (!verified) {
        reject("not_a_peer");
      } else if (admit_step(from, ack_to_, m.ack2().nonce(), now)) {
        tx.cap(from, replies_.available(from, now));
        auto pushes = ae_.on_ack2(from, m.ack2(), tx);
        replies_.spend(from, static_cast<double>(tx.capped_sent()));
        queue_pushes(from, pushes, now);
        drain_bulk(now, out);
      }
      break;
    case Message::kWant:
      kind = "want";
      if (!verified) {
        reject("not_a_peer");
      } else if (admit_step(from, ack2_to_, m.want().nonce(), now)) {
        auto wanted = ae_.on_want(m.want(), tx);
        queue_pushes(from, wanted, now);
        if (wanted.well_formed)
          drain_bulk(now, out);
      }
      break;
    case Message::kChunkRequest:
      kind = "chunk_request";
      if (!verified) {
        reject("not_a_peer");
        break;
      }
      {
        tx.cap(from, replies_.available(from, now));
        // Chunks go only to who proved it receives at `from` by echoing
        // our cookie for it (see transfers::serve).
        auto& cookie = cookies_[from];
        if (cookie == 0)
          cookie = next_nonce();
        double room = bulk_drawn_.available(from, now);
        double before = room;
        bool ok = transfers_.serve(from, m.chunk_request(), cookie, tx, bulk_,
                                   room);
        replies_.spend(from, static_cast<double>(tx.capped_sent()));
        bulk_drawn_.spend(from, before - room);
        if (ok)
          drain_bulk(now, out);
      }
      break;
    case Message::kChunk:
      kind = "chunk";
      if (auto done = transfers_.on_chunk(m.chunk(), now, tx)) {
        apply_entry(done->key, std::move(done->value), done->rumour, wall_ms,
                    tx);
        transfers_.start_pending(now);
        transfers_.pull(now, tx);
      }
      break;
    case Message::kChunkGone:
      kind = "chunk_gone";
      transfers_.on_chunk_gone(from, m.chunk_gone());
      break;
    case Message::kHold:
      kind = "hold";
      on_hold(from, m, wall_ms, now, tx);
      break;
    case Message::kHoldAck:
      kind = "hold_ack";
      on_hold_ack(from, m);
      break;
    case Message::kSynCookie:
      kind = "syn_cookie";
      on_syn_cookie(from, m.syn_cookie(), verified, now, out);
      break;
    case Message::kChunkCookie:
      kind = "chunk_cookie";
      transfers_.on_chunk_cookie(from, m.chunk_cookie());
      transfers_.pull(now, tx);
      break;
    default:
      reject("unknown_message");
      return;
  }
  stats_.bytes_in[kind] += payload.size();
  settle();
}

void core::run_gc(uint64_t wall_ms) {
  if (wall_ms <= cfg_.tombstone_ttl_ms)
    return;
  gc_horizon_ = wall_ms - cfg_.tombstone_ttl_ms;
  if (!track_changes_) {
    stats_.gc_collected += store_.gc(gc_horizon_);
    return;
  }
  std::vector<std::string> removed;
  stats_.gc_collected += store_.gc(gc_horizon_, &removed);
  for (auto& k : removed)
    changed_.insert(std::move(k));
}

void core::poll(uint64_t wall_ms, time_point now, outbound_list& out) {
  advance(now);
  emitter tx{cfg_.max_packet, stats_, out};
  if (now >= next_gossip_) {
    if (gossip_due())
      gossip_tick(tx);
    next_gossip_ = now + cfg_.gossip_interval;
  }
  if (now >= next_ae_) {
    start_ae(now, tx);
    if (catchup_left_ > 0 && !peers_.empty()) {
      --catchup_left_;
      next_ae_ = now + std::min(cfg_.catchup_interval, cfg_.ae_interval);
    } else {
      catchup_left_ = 0;
      catchup_asked_.clear();
      next_ae_ = now + cfg_.ae_interval;
    }
  }
  if (now >= next_gc_) {
    run_gc(wall_ms);
    next_gc_ = now + cfg_.gc_interval;
  }
  if (answer_held_)
    answer_held(now, out);
  {
    std::vector<hold_send> sends;
    concern_.poll(now, peers_, rng_, sends);
    send_holds(sends, tx);
  }
  transfers_.check_timeouts(now);
  transfers_.start_pending(now);
  transfers_.pull(now, tx);
  drain_bulk(now, out);
  settle();
}

size_t core::tombstones_count() const {
  size_t n = 0;
  store_.for_each([&](const std::string&, const entry& e) { n += e.tombstone; });
  return n;
}

// -- restore ------------------------------------------------------------------

restore_result core::restore(std::vector<restore_item> items, uint64_t wall_ms,
                             time_point now, outbound_list& out) {
  advance(now);
  restore_result res;
  auto fail = [&](ec code, const std::string& key) {
    res.code = code;
    res.key = key;
    return res;
  };
  auto charge = [](const std::string& key, const entry& e) {
    return static_cast<int64_t>(key.size() + e.value.size()
                                + e.ver.origin.size() + entry_overhead);
  };
  // Check everything, and what the store would hold afterwards.
  std::vector<std::pair<int64_t, size_t>> order; // (byte delta, index)
  order.reserve(items.size());
  std::map<std::string_view, size_t> seen;
  int64_t bytes = static_cast<int64_t>(store_.total_bytes());
  int64_t count = static_cast<int64_t>(store_.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto& it = items[i];
    auto& e = it.value;
    if (auto err = store_.validate(it.key, e.value.size(), e.tombstone,
                                   e.ver.origin);
        err != ec::ok)
      return fail(err, it.key);
    if (!hlc_clock::within_skew(e.ver.hlc, wall_ms, cfg_.max_clock_skew_ms))
      return fail(ec::clock_skew, it.key);
    if (!seen.emplace(it.key, i).second)
      return fail(ec::duplicate_key, it.key);
    auto cur = store_.find(it.key);
    if (cur && !(e.ver > cur->ver)) {
      order.emplace_back(0, i);
      continue;
    }
    bool expired = e.tombstone
                   && hlc_physical(e.ver.hlc) + cfg_.tombstone_ttl_ms < wall_ms;
    int64_t delta = (expired ? 0 : charge(it.key, e))
                    - (cur ? charge(it.key, *cur) : 0);
    count += (expired ? 0 : 1) - (cur ? 1 : 0);
    bytes += delta;
    order.emplace_back(delta, i);
  }
  if (count > static_cast<int64_t>(cfg_.limits.max_keys))
    return fail(ec::too_many_keys, {});
  if (bytes > static_cast<int64_t>(cfg_.limits.max_total_bytes))
    return fail(ec::store_full, {});
  // Shrinking entries first: every prefix then stays within the bounds the
  // whole restore stays within, so no merge below can fail on them.
  std::stable_sort(order.begin(), order.end(),
                   [](auto& a, auto& b) { return a.first < b.first; });
  // Winners are queued as rumours (not sent one by one, as a single write
  // is): the gossip tick packs them, so a large restore is no burst.
  emitter tx{cfg_.max_packet, stats_, out};
  for (auto& [delta, i] : order) {
    auto& it = items[i];
    bool tombstone = it.value.tombstone;
    auto ver = it.value.ver;
    auto err = apply_entry(it.key, std::move(it.value), false, wall_ms, tx);
    if (err != ec::ok) {
      ++res.stale; // only `stale` can come back after the checks above
      continue;
    }
    ++res.applied;
    res.tombstones += tombstone ? 1 : 0;
    if (store_.find(it.key) && rumours_.size() < cfg_.max_rumours) {
      enqueue_rumour(it.key, ver);
      ++res.rumoured;
    }
  }
  // Anti-entropy carries what the rumours did not.
  if (res.applied > res.rumoured)
    next_ae_ = std::min(next_ae_, now);
  settle();
  return res;
}

} // namespace pekonode::metadata
