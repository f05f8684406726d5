#include "membership/anti_entropy.h"

#include <algorithm>
#include <iterator>

namespace pekonode::membership {

namespace {

constexpr std::size_t buckets = member_table::digest_buckets;

} // namespace

anti_entropy::anti_entropy(const config& cfg, member_table& table, outbox& ob,
                           std::mt19937_64& rng, core_stats& stats)
  : cfg_(cfg), table_(table), ob_(ob), rng_(rng), stats_(stats) {
  // Nonces from a stream of their own, seeded from a copy of the core's
  // generator: the core's draws (and so the simulator's runs) are unchanged.
  auto copy = rng;
  nonce_rng_.seed(copy() ^ 0x510e527fade682d1ULL);
  churn_rng_.seed(copy() ^ 0x9b05688c2b3e6c1fULL);
}

duration anti_entropy::sync_period() const {
  return membership::sync_period(cfg_, table_.live_count());
}

// -- schedule --------------------------------------------------------------------

void anti_entropy::schedule(time_point now) {
  sync_next_ = now + jitter(sync_period(), rng_);
}

void anti_entropy::start_quick_syncs(time_point now) {
  quick_syncs_left_ = cfg_.join_syncs;
  if (quick_syncs_left_ > 0)
    sync_next_ = now + jitter(cfg_.join_sync_interval, rng_);
}

void anti_entropy::note_join(time_point now) {
  if (!cfg_.churn_syncs) return;
  if (churn_first_ == time_point::max()) churn_first_ = now;
  churn_due_ = std::min(now + jitter(cfg_.join_sync_interval * 2, churn_rng_),
                        churn_first_ + cfg_.churn_sync_max_wait);
}

void anti_entropy::merge_syncs(time_point now) {
  if (quick_syncs_left_ > 0) return;
  ++stats_.merge_syncs;
  start_quick_syncs(now);
}

void anti_entropy::tick(time_point now, outbound_list& out) {
  if (now >= churn_due_) {
    churn_due_ = churn_first_ = time_point::max();
    // A digest sent meanwhile (a quick or periodic sync) covers this one.
    if ((!digest_sent_ || now - last_digest_ >= cfg_.join_sync_interval)
        && send_digest(now, out))
      ++stats_.churn_syncs;
  }
  if (now < sync_next_) return;
  if (quick_syncs_left_ > 0) {
    --quick_syncs_left_;
    sync_next_ = now + jitter(cfg_.join_sync_interval * 2, rng_);
  } else {
    sync_next_ = now + jitter(sync_period() * 2, rng_);
  }
  send_digest(now, out);
}

// Our digest to one random live member; false when there is none.
bool anti_entropy::send_digest(time_point now, outbound_list& out) {
  // A digest unanswered for a period is forgotten: a late answer is
  // unsolicited.
  for (auto it = sync_pending_.begin(); it != sync_pending_.end();)
    it = now - it->second > sync_period() ? sync_pending_.erase(it) : std::next(it);
  for (auto it = buckets_sent_.begin(); it != buckets_sent_.end();)
    it = now - it->second.at > sync_period() ? buckets_sent_.erase(it)
                                             : std::next(it);
  auto peer = table_.pick(1, false, now, {}, rng_);
  if (peer.empty()) return false;
  ++stats_.syncs_started;
  auto mine = table_.digest();
  auto p = ob_.packet();
  p.mutable_digest()->set_hash(mine.hash);
  p.mutable_digest()->set_count(mine.count);
  if (auto size = p.ByteSizeLong(); size < min_digest_bytes)
    p.mutable_digest()->set_pad(std::string(min_digest_bytes - size, '\0'));
  sync_pending_[peer[0]->addr] = now;
  last_digest_ = now;
  digest_sent_ = true;
  ob_.send(peer[0]->addr, p, out);
  return true;
}

// -- reply budgets -----------------------------------------------------------------

// Pages that may be sent to `to` now: at most reply_pages_burst, refilled at
// reply_pages_per_second per requester. Pages after the first also draw on
// the all-requesters budget, so a crowd (a join storm, or spoofed sources
// on an unauthenticated transport) gets one page each once that is spent.
// Charge what was sent with charge_reply().
std::size_t anti_entropy::reply_allowance(const address& to, time_point now) {
  const double burst = static_cast<double>(cfg_.reply_pages_burst);
  const double gburst = static_cast<double>(cfg_.reply_pages_global_per_second);
  auto it = reply_budgets_.find(to);
  if (it == reply_budgets_.end()) {
    if (reply_budgets_.size() >= max_reply_peers) {
      for (auto j = reply_budgets_.begin(); j != reply_budgets_.end();)
        j = j->second.available(now) >= burst ? reply_budgets_.erase(j) : std::next(j);
      if (reply_budgets_.size() >= max_reply_peers) return 0;
    }
    it = reply_budgets_
           .emplace(to, token_bucket(cfg_.reply_pages_per_second, burst, now))
           .first;
  }
  auto own_tokens = it->second.available(now);
  if (!global_budget_init_) {
    global_budget_ = token_bucket(cfg_.reply_pages_global_per_second, gburst, now);
    global_budget_init_ = true;
  }
  auto shared_tokens = global_budget_.available(now);
  auto own = static_cast<std::size_t>(own_tokens);
  if (own == 0) return 0;
  auto shared = static_cast<std::size_t>(std::max(0.0, shared_tokens));
  return std::min(own, 1 + shared);
}

// Never more than reply_allowance() granted at the same time, so neither
// balance goes below zero.
void anti_entropy::charge_reply(const address& to, std::size_t pages,
                                std::size_t wanted) {
  if (pages < wanted) ++stats_.replies_limited;
  if (pages == 0) return;
  auto it = reply_budgets_.find(to);
  if (it != reply_budgets_.end()) it->second.spend(static_cast<double>(pages));
  global_budget_.spend(static_cast<double>(pages - 1));
}

// -- state pages -------------------------------------------------------------------

// Sends `ms` as StatePages of at most max_packet bytes, no more than the
// reply budget of `to` allows; a cut reply carries a random subset (self
// first on join replies) so that repeated cut replies differ.
void anti_entropy::send_pages(const address& to, std::vector<const member*> ms,
                              bool join_reply, time_point now,
                              outbound_list& out) {
  auto allowed = reply_allowance(to, now);
  if (allowed == 0) {
    charge_reply(to, 0, 1);
    return;
  }
  // ~20 entries fit a page; shuffle when the allowance may cut the reply.
  if (ms.size() > allowed * 16) {
    std::size_t first = join_reply ? 1 : 0;
    if (ms.size() > first)
      std::shuffle(ms.begin() + static_cast<std::ptrdiff_t>(first), ms.end(), rng_);
  }
  send_pages_capped(to, ms, join_reply, allowed, out);
}

void anti_entropy::send_pages_capped(const address& to,
                                     const std::vector<const member*>& ms,
                                     bool join_reply, std::size_t allowed,
                                     outbound_list& out) {
  const auto& self = table_.self().name;
  std::size_t budget = cfg_.max_packet > self.size() + 32
                         ? cfg_.max_packet - self.size() - 32
                         : 64;
  // Each page as its encoded StatePage.members entries: no Update or
  // Packet is built (at N=500 building them was a fifth of a join storm's
  // CPU, most of it allocating their strings); the datagrams are the same
  // bytes.
  std::vector<std::string> pages(1);
  std::string u;
  std::size_t used = 0;
  bool cut = false;
  for (auto* m : ms) {
    encode_to(*m, self, u);
    auto cost = spliced_size(u.size());
    if (used + cost > budget && !pages.back().empty()) {
      if (pages.size() >= allowed) {
        cut = true;
        break;
      }
      pages.emplace_back();
      used = 0;
    }
    append_page_member(pages.back(), u);
    used += cost;
  }
  charge_reply(to, pages.size(), cut ? pages.size() + 1 : pages.size());
  auto total = static_cast<uint32_t>(pages.size());
  for (uint32_t i = 0; i < total; ++i)
    ob_.send_state_page(to, i, total, join_reply, pages[i], out);
}

void anti_entropy::send_buckets(const address& to,
                                const std::set<uint32_t>& want, time_point now,
                                outbound_list& out) {
  std::vector<const member*> ms;
  table_.for_each([&](const member& m) {
    if (want.count(static_cast<uint32_t>(member_table::bucket_of(m.name))))
      ms.push_back(&m);
  });
  if (!ms.empty()) send_pages(to, std::move(ms), false, now, out);
}

void anti_entropy::send_table(const address& to, time_point now,
                              outbound_list& out) {
  std::vector<const member*> ms;
  table_.for_each([&](const member& m) { ms.push_back(&m); });
  send_pages(to, std::move(ms), true, now, out);
}

// -- inbound ---------------------------------------------------------------------

void anti_entropy::on_digest(const address& from, const SyncDigest& d,
                             bool member, time_point now, outbound_list& out) {
  if (!member) {
    ++stats_.bad_packets["unverified"];
    return;
  }
  auto mine = table_.digest();
  if (mine.hash == d.hash() && mine.count == d.count()) return;
  // The bucket list (~300 B) answers a ~40 B digest: it is a reply page.
  if (reply_allowance(from, now) == 0) {
    charge_reply(from, 0, 1);
    return;
  }
  charge_reply(from, 1, 1);
  // The want that may follow must echo this nonce: state pages go only to
  // who received these buckets at `from` (a stranger that announced itself
  // from a forged address never does).
  if (buckets_sent_.size() >= max_reply_peers && buckets_sent_.count(from) == 0) {
    auto oldest = buckets_sent_.begin();
    for (auto it = buckets_sent_.begin(); it != buckets_sent_.end(); ++it)
      if (it->second.at < oldest->second.at) oldest = it;
    buckets_sent_.erase(oldest);
  }
  auto nonce = nonce_rng_();
  if (nonce == 0) nonce = 1;
  buckets_sent_[from] = sent_buckets{nonce, now};
  auto p = ob_.packet();
  for (auto b : table_.bucket_hashes()) p.mutable_buckets()->add_hashes(b);
  p.mutable_buckets()->set_nonce(nonce);
  ob_.send(from, p, out);
}

void anti_entropy::on_buckets(const address& from, const SyncBuckets& b,
                              time_point now, outbound_list& out) {
  auto pending = sync_pending_.find(from);
  if (pending == sync_pending_.end()) {
    ++stats_.bad_packets["unsolicited_sync"];
    return;
  }
  sync_pending_.erase(pending);
  if (!valid(b, buckets)) {
    ++stats_.bad_packets["bad_body"];
    return;
  }
  auto mine = table_.bucket_hashes();
  std::set<uint32_t> diff;
  for (uint32_t i = 0; i < buckets; ++i)
    if (mine[i] != b.hashes(static_cast<int>(i))) diff.insert(i);
  if (diff.empty()) return;
  ++stats_.syncs_differed;
  send_buckets(from, diff, now, out);
  auto p = ob_.packet();
  for (auto i : diff) p.mutable_want()->add_buckets(i);
  p.mutable_want()->set_nonce(b.nonce());
  ob_.send(from, p, out);
}

void anti_entropy::on_want(const address& from, const SyncWant& w, bool member,
                           time_point now, outbound_list& out) {
  if (!member) {
    ++stats_.bad_packets["unverified"];
    return;
  }
  if (!valid(w, buckets)) {
    ++stats_.bad_packets["bad_body"];
    return;
  }
  // Only the answer to our buckets, once, within a sync period.
  auto sent = buckets_sent_.find(from);
  if (sent == buckets_sent_.end() || sent->second.nonce != w.nonce()
      || now - sent->second.at > sync_period()) {
    ++stats_.bad_packets["unsolicited_want"];
    return;
  }
  buckets_sent_.erase(sent);
  send_buckets(from, std::set<uint32_t>(w.buckets().begin(), w.buckets().end()),
               now, out);
}

} // namespace pekonode::membership
