#include "membership/member_table.h"

#include <algorithm>
#include <cassert>
#include <memory>
#include <utility>

#include "common/hash.h"
#include "common/siphash.h"

namespace pekonode::membership {

bool supersedes(uint64_t cur_inc, member_state cur, uint64_t inc,
                member_state st) {
  if (inc > cur_inc) return true;
  if (inc < cur_inc) return false;
  switch (st) {
    case member_state::alive: return false;
    case member_state::suspect: return cur == member_state::alive;
    case member_state::dead: return is_live(cur);
    case member_state::left: return cur != member_state::left;
  }
  return false;
}

member_table::member_table(member self, std::size_t max_members,
                           duration gossip_to_dead)
  : self_(std::move(self)), max_members_(max_members),
    gossip_to_dead_(gossip_to_dead) {
#if UINTPTR_MAX == 0xffffffffffffffffULL
  static_assert(sizeof(entry) == 48, "entry: member + flags in its padding");
#endif
}

member_table::~member_table() = default;

#if UINTPTR_MAX == 0xffffffffffffffffULL
static_assert(sizeof(member) == 48, "member: five 8-byte fields and a state");
#endif

uint32_t member_table::alloc_entry() {
  if (!free_.empty()) {
    auto i = free_.back();
    free_.pop_back();
    return i;
  }
  auto i = used_++;
  if ((i >> chunk_shift) == chunks_.size())
    chunks_.emplace_back(new entry[std::size_t{1} << chunk_shift]);
  return i;
}

uint64_t member_table::hash_of(std::string_view name) const {
  return siphash13(key0_, key1_, name);
}

uint32_t member_table::lookup(std::string_view name) const {
  for (auto r : recent_)
    if (r != npos && at(r).name == name) return r;
  if (slots_.empty()) return npos;
  auto h = hash_of(name);
  auto tag = h & 0xffffffff00000000ULL;
  auto mask = slots_.size() - 1;
  for (auto i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
    auto w = slots_[i];
    if (w == 0) return npos;
    if ((w & 0xffffffff00000000ULL) != tag) continue;
    auto idx = static_cast<uint32_t>(w) - 1;
    if (at(idx).name == name) {
      recent_[recent_next_] = idx;
      recent_next_ ^= 1u;
      return idx;
    }
  }
}

void member_table::index_insert(uint32_t idx) {
  // Grow at 3/4 full (and from empty): probes stay short.
  if (4 * (sorted_.size() + 1) > 3 * slots_.size()) index_grow();
  auto h = hash_of(at(idx).name);
  auto mask = slots_.size() - 1;
  auto i = static_cast<std::size_t>(h) & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = slot_word(h, idx);
}

void member_table::index_erase(uint32_t idx) {
  recent_[0] = recent_[1] = npos;
  auto mask = slots_.size() - 1;
  auto i = static_cast<std::size_t>(hash_of(at(idx).name)) & mask;
  while (static_cast<uint32_t>(slots_[i]) != idx + 1) i = (i + 1) & mask;
  // Backward-shift deletion: move later members of the probe run into
  // the hole when their home slot does not lie after it (no tombstones).
  // A slot keeps only the hash's upper half, so the home of a moved
  // member is recomputed from its name.
  for (auto j = (i + 1) & mask;; j = (j + 1) & mask) {
    auto w = slots_[j];
    if (w == 0) break;
    auto home = static_cast<std::size_t>(
                  hash_of(at(static_cast<uint32_t>(w) - 1).name)) & mask;
    // It may fill hole i unless its home is cyclically in (i, j].
    bool home_in_between = i <= j ? (i < home && home <= j)
                                  : (i < home || home <= j);
    if (home_in_between) continue;
    slots_[i] = w;
    i = j;
  }
  slots_[i] = 0;
}

void member_table::index_grow() {
  std::vector<uint64_t> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 16 : 2 * old.size(), 0);
  auto mask = slots_.size() - 1;
  for (auto w : old) {
    if (w == 0) continue;
    auto i = static_cast<std::size_t>(
               hash_of(at(static_cast<uint32_t>(w) - 1).name)) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = w;
  }
}

std::vector<uint32_t>::iterator
member_table::sorted_pos(std::string_view name) {
  return std::lower_bound(
    sorted_.begin(), sorted_.end(), name,
    [this](uint32_t i, std::string_view n) {
      return std::string_view(at(i).name) < n;
    });
}

const member* member_table::find(std::string_view name) const {
  if (name == self_.name) return &self_;
  auto i = lookup(name);
  if (i == npos) return nullptr;
  auto& e = at(i);
  return e.confirmed ? &e : nullptr;
}

const member* member_table::find_any(std::string_view name) const {
  if (name == self_.name) return &self_;
  auto i = lookup(name);
  return i == npos ? nullptr : &at(i);
}

bool member_table::unconfirmed(std::string_view name) const {
  auto i = lookup(name);
  return i != npos && !at(i).confirmed;
}

const member* member_table::confirm(std::string_view name) {
  auto i = lookup(name);
  if (i == npos || at(i).confirmed) return nullptr;
  auto& e = at(i);
  e.confirmed = true;
  --unconfirmed_count_;
  auto changed_at = e.state_change;
  set_state(i, e.state, changed_at);
  account(e, +1);
  return &e;
}

bool member_table::forget_unconfirmed(std::string_view name) {
  auto i = lookup(name);
  if (i == npos || at(i).confirmed) return false;
  erase(i);
  return true;
}

std::size_t member_table::entry_bytes(const member& m) {
  // The entry, its allocation, and its slots in sorted_, the name index
  // and live_, with their slack; its name and address as the pool stores
  // them, and its tag set as the pool stores it (all three counted in
  // full, as if this table held the only handle: other holders may drop
  // theirs, and a flood of distinct sets must cost what it stores).
  return sizeof(entry) + 64 + interned::stored_bytes(m.name.size())
         + interned::stored_bytes(m.addr.size()) + m.tags.stored_bytes();
}

std::size_t member_table::count(member_state s) const {
  return state_counts_[static_cast<int>(s)] + (self_.state == s ? 1 : 0);
}

std::vector<member> member_table::members() const {
  // The table is ordered by name already: merge self in, O(N).
  std::vector<member> r;
  r.reserve(size());
  bool placed = false;
  for (auto i : sorted_) {
    auto& m = at(i);
    if (!m.confirmed) continue;
    if (!placed && self_.name < m.name) {
      r.push_back(self_);
      placed = true;
    }
    r.push_back(static_cast<const member&>(m));
  }
  if (!placed) r.push_back(self_);
  return r;
}

void member_table::index_add(list_t l, entry& e, uint32_t idx) {
  if (e.list == l) return;
  assert(e.list == in_none);
  auto& v = list_of(l);
  e.list = l;
  e.pos = static_cast<uint32_t>(v.size());
  v.push_back(idx);
}

void member_table::index_remove(list_t l, entry& e) {
  if (e.list != l) return;
  auto& v = list_of(l);
  auto i = e.pos;
  v[i] = v.back();
  at(v[i]).pos = i;
  v.pop_back();
  e.list = in_none;
  e.pos = npos;
}

void member_table::set_state(uint32_t idx, member_state s, time_point now) {
  auto& m = at(idx);
  if (!m.confirmed) {
    m.state = s;
    m.state_change = now;
    return;
  }
  bool was = m.counted && is_live(m.state), will = is_live(s);
  dead_sorted_update(idx, m.counted && m.state == member_state::dead,
                     s == member_state::dead);
  if (was && !will) --live_count_;
  if (!was && will) ++live_count_;
  if (m.counted) --state_counts_[static_cast<int>(m.state)];
  ++state_counts_[static_cast<int>(s)];
  m.counted = true;
  if (!will) index_remove(in_live, m);
  if (s != member_state::dead) index_remove(in_dead, m);
  if (will) index_add(in_live, m, idx);
  if (s == member_state::dead) index_add(in_dead, m, idx);
  m.state = s;
  m.state_change = now;
}

void member_table::dead_sorted_update(uint32_t idx, bool was_dead,
                                      bool is_dead) {
  if (was_dead == is_dead) return;
  std::string_view name = at(idx).name;
  auto pos = std::lower_bound(
    dead_sorted_.begin(), dead_sorted_.end(), name,
    [this](uint32_t i, std::string_view n) {
      return std::string_view(at(i).name) < n;
    });
  if (is_dead)
    dead_sorted_.insert(pos, idx);
  else
    dead_sorted_.erase(pos);
}

const member* member_table::nth_dead(std::size_t n) const {
  if (self_.state == member_state::dead) {
    if (n == 0) return &self_;
    --n;
  }
  return n < dead_sorted_.size() ? &at(dead_sorted_[n]) : nullptr;
}

// Adds (sign +1) or removes (-1) a member's share of the digests.
void member_table::account(const member& m, int sign) {
  if (!is_live(m.state) || !static_cast<const entry&>(m).confirmed) return;
  auto h = entry_hash(m);
  if (sign < 0) {
    bucket_sum_[bucket_of(m.name)] -= h;
    digest_sum_ -= h;
    --digest_count_;
  } else {
    bucket_sum_[bucket_of(m.name)] += h;
    digest_sum_ += h;
    ++digest_count_;
  }
}

void member_table::erase(uint32_t idx) {
  sorted_.erase(sorted_pos(at(idx).name));
  release(idx);
}

void member_table::release(uint32_t idx) {
  auto& e = at(idx);
  account(e, -1);
  if (e.counted) {
    dead_sorted_update(idx, e.state == member_state::dead, false);
    if (is_live(e.state)) --live_count_;
    --state_counts_[static_cast<int>(e.state)];
  }
  if (!e.confirmed) --unconfirmed_count_;
  bytes_ -= entry_bytes(e);
  index_remove(in_live, e);
  index_remove(in_dead, e);
  index_erase(idx);
  e = entry{}; // drops its name, address and tags
  free_.push_back(idx);
}

apply_summary member_table::apply(const claim& c, std::string_view sender,
                                  bool first_hand, time_point now,
                                  bool confirmed) {
  return apply_at(c, lookup(c.name), sender, first_hand, now, confirmed);
}

apply_summary member_table::apply(const claim& c, slot where,
                                  std::string_view sender, bool first_hand,
                                  time_point now, bool confirmed) {
  assert(where.idx_ == lookup(c.name));
  return apply_at(c, where.idx_, sender, first_hand, now, confirmed);
}

apply_summary member_table::apply_at(const claim& c, uint32_t found,
                                     std::string_view sender,
                                     bool first_hand, time_point now,
                                     bool confirmed) {
  assert(c.name != self_.name);
  apply_summary s;
  s.state = c.state;
  s.accuser = c.from.empty() ? sender : c.from;
  if (found == npos) {
    if (sorted_.size() + 1 >= max_members_) {
      s.outcome = apply_summary::table_full;
      return s;
    }
    if (!confirmed && unconfirmed_count_ >= max_unconfirmed_) {
      s.outcome = apply_summary::unconfirmed_full;
      return s;
    }
    entry fresh;
    fresh.name = c.name;
    fresh.addr = c.addr;
    fresh.incarnation = c.incarnation;
    fresh.state = member_state::dead; // placeholder: set_state counts it
    fresh.state_change = now;
    fresh.confirmed = confirmed;
    if (c.state == member_state::alive) fresh.tags = c.tags;
    auto fresh_bytes = entry_bytes(fresh);
    if (bytes_ + fresh_bytes > max_bytes_) {
      s.outcome = apply_summary::over_bytes;
      return s;
    }
    auto idx = alloc_entry();
    auto& e = at(idx);
    e = std::move(fresh);
    bytes_ += fresh_bytes;
    if (!confirmed) ++unconfirmed_count_;
    auto pos = sorted_pos(e.name);
    index_insert(idx);
    sorted_.insert(pos, idx);
    set_state(idx, c.state, now);
    account(e, +1);
    s.outcome = apply_summary::added;
    s.m = &e;
    s.old_state = c.state;
    s.became_live = is_live(c.state);
    s.confirmed = confirmed;
    return s;
  }
  entry& cur = at(found);
  s.m = &cur;
  s.confirmed = cur.confirmed;
  s.old_state = cur.state;
  // A full-state merge is not first-hand evidence of death: a
  // same-incarnation 'dead' counts as 'suspect', so a live member can
  // refute instead of flapping through dead.
  if (!first_hand && s.state == member_state::dead && is_live(cur.state)
      && c.incarnation == cur.incarnation) {
    s.state = member_state::suspect;
    s.accuser = sender;
  }
  if (!supersedes(cur.incarnation, cur.state, c.incarnation, s.state)) {
    s.outcome = apply_summary::stale;
    return s;
  }
  if (s.state == member_state::alive && c.addr != cur.addr
      && is_live(cur.state) && cur.confirmed) {
    s.outcome = apply_summary::addr_conflict;
    return s;
  }
  if (s.state == member_state::alive && (c.tags != cur.tags || c.addr != cur.addr)) {
    member next;
    next.name = cur.name;
    next.addr = std::string(c.addr);
    next.tags = c.tags;
    auto nb = entry_bytes(next), cb = entry_bytes(cur);
    if (nb > cb && bytes_ + (nb - cb) > max_bytes_) {
      s.outcome = apply_summary::over_bytes;
      return s;
    }
  }
  account(cur, -1);
  cur.incarnation = c.incarnation;
  if (s.state == member_state::alive) {
    s.tags_changed = c.tags != cur.tags;
    s.addr_changed = c.addr != cur.addr;
    bytes_ -= entry_bytes(cur);
    cur.tags = c.tags;
    if (s.addr_changed) cur.addr = c.addr;
    bytes_ += entry_bytes(cur);
  }
  set_state(found, s.state, now);
  account(cur, +1);
  s.outcome = apply_summary::changed;
  s.became_live = is_live(s.state) && !is_live(s.old_state);
  return s;
}

std::vector<const member*> member_table::pick(std::size_t k, bool include_dead,
                                              time_point now,
                                              std::string_view skip,
                                              std::mt19937_64& rng) {
  if (include_dead) {
    for (std::size_t i = 0; i < dead_recent_.size();) {
      auto& e = at(dead_recent_[i]);
      if (now - e.state_change >= gossip_to_dead_)
        index_remove(in_dead, e);
      else
        ++i;
    }
  }
  auto nl = live_.size();
  auto total = nl + (include_dead ? dead_recent_.size() : 0);
  auto nth = [&](std::size_t i) -> const entry* {
    return &at(i < nl ? live_[i] : dead_recent_[i - nl]);
  };
  std::vector<const member*> r;
  if (k == 0 || total == 0) return r;
  if (total <= 4 * k + 8) {
    for (std::size_t i = 0; i < total; ++i)
      if (nth(i)->name != skip) r.push_back(nth(i));
    if (r.size() > k) {
      for (std::size_t i = 0; i < k; ++i) {
        std::uniform_int_distribution<std::size_t> d(i, r.size() - 1);
        std::swap(r[i], r[d(rng)]);
      }
      r.resize(k);
    }
    return r;
  }
  // total > 4k + 8: rejection sampling finishes in ~k draws.
  std::vector<std::size_t> chosen;
  std::uniform_int_distribution<std::size_t> d(0, total - 1);
  for (std::size_t tries = 0; r.size() < k && tries < 16 * k + 64; ++tries) {
    auto i = d(rng);
    if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) continue;
    chosen.push_back(i);
    if (nth(i)->name != skip) r.push_back(nth(i));
  }
  return r;
}

sweep_result member_table::sweep(time_point now, duration retention) {
  return sweep_impl(now, retention, nullptr);
}

sweep_result member_table::sweep(time_point now, duration retention,
                                 const std::vector<address>& watch) {
  return sweep_impl(now, retention, &watch);
}

sweep_result member_table::sweep_impl(time_point now, duration retention,
                                      const std::vector<address>* watch) {
  sweep_result r;
  // One pass that keeps sorted_ in order and compacts it in place.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < sorted_.size(); ++i) {
    auto idx = sorted_[i];
    auto& m = at(idx);
    if (m.confirmed && !is_live(m.state) && now - m.state_change >= retention) {
      release(idx);
      continue;
    }
    sorted_[kept++] = idx;
    if (!m.confirmed) continue; // forgotten by the core's confirmation timers
    if (!is_live(m.state))
      r.remembered.push_back(m.addr);
    else if (!watch
             || std::find(watch->begin(), watch->end(), m.addr) != watch->end())
      r.live.insert(m.addr);
  }
  sorted_.resize(kept);
  return r;
}

std::size_t member_table::bucket_of(std::string_view name) {
  return fnv1a(name) % digest_buckets;
}

uint64_t member_table::entry_hash(const member& m) {
  return mix64(fnv1a(m.name)
               ^ mix64(m.incarnation * 4 + static_cast<uint64_t>(m.state)));
}

table_digest member_table::digest() const {
  table_digest d{digest_sum_, digest_count_};
  if (is_live(self_.state)) {
    d.hash += entry_hash(self_);
    ++d.count;
  }
  return d;
}

std::vector<uint64_t> member_table::bucket_hashes() const {
  std::vector<uint64_t> b(bucket_sum_, bucket_sum_ + digest_buckets);
  if (is_live(self_.state)) b[bucket_of(self_.name)] += entry_hash(self_);
  return b;
}

} // namespace pekonode::membership
