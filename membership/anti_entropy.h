#pragma once
// Anti-entropy of the member table, as one module: the periodic digest
// exchange (SyncDigest -> SyncBuckets -> SyncWant, then the differing
// buckets as StatePages), state pages for join replies, and the reply
// budgets that bound what any requester can make this node send. It reads
// the member table; the pages it receives are applied by the core.
//
// One exchange, when views differ (a ~100 B padded digest alone when they agree):
//
//   A                                  B
//   SyncDigest (hash, count)  ------>
//                             <------  SyncBuckets (32 bucket hashes, nonce)
//   StatePages (A's side of the
//   differing buckets), SyncWant
//   (echoing the nonce)       ------>
//                             <------  StatePages (B's side)
//
// B serves a want only when it echoes the nonce of the buckets B sent to
// its source address within a sync period, once: an off-path forger of an
// address (a stranger that announced itself from it, say) draws no state
// pages to it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "common/token_bucket.h"
#include "common/types.h"
#include "membership/codec.h"
#include "membership/config.h"
#include "membership/member_table.h"
#include "membership/types.h"

namespace pekonode::membership {

class anti_entropy {
public:
  /// Requesters whose reply budget is tracked at once; beyond it, idle
  /// (refilled) ones are forgotten and, if none is idle, new requesters get
  /// no state pages.
  static constexpr std::size_t max_reply_peers = 4096;

  anti_entropy(const config& cfg, member_table& table, outbox& ob,
               std::mt19937_64& rng, core_stats& stats);

  // -- schedule ------------------------------------------------------------------

  /// Next digest exchange within a jittered sync period (one draw).
  void schedule(time_point now);

  /// After a join was answered: config::join_syncs quick exchanges,
  /// join_sync_interval apart (jittered), pull what the seed's reply
  /// missed.
  void start_quick_syncs(time_point now);

  /// A member joined or came back, learnt from gossip: arms one churn
  /// sync (config::churn_syncs) for when joins have been quiet for
  /// join_sync_interval (jittered), at the latest 4 * join_sync_interval
  /// after the first join it covers. No draw from the core's generator.
  void note_join(time_point now);

  /// Quick syncs as after joining, after a merge (a reconnect answered: a
  /// healed partition), unless quick syncs already run: members that missed the merge's
  /// gossip are found by digest within a few join_sync_intervals instead
  /// of a sync period.
  void merge_syncs(time_point now);

  /// When the next exchange is due.
  time_point next_wakeup() const { return std::min(sync_next_, churn_due_); }

  /// If due: sends our digest to one random live member and schedules the
  /// next exchange (a churn sync does not move the periodic schedule).
  void tick(time_point now, outbound_list& out);

  // -- inbound ---------------------------------------------------------------------

  /// Digests are padded to at least this many bytes, so that the bucket
  /// list answering one (~270 B) is at most three times its size.
  static constexpr std::size_t min_digest_bytes = 96;

  /// A peer's digest: if ours differs, answer with our bucket hashes (a
  /// reply page: within the budget). Members only (`member`: the sender
  /// is a member we know at `from`); others are counted as "unverified".
  void on_digest(const address& from, const SyncDigest& d, bool member,
                 time_point now, outbound_list& out);

  /// The bucket hashes answering our digest (only from the peer we asked):
  /// send our side of the differing buckets and ask for theirs.
  void on_buckets(const address& from, const SyncBuckets& b, time_point now,
                  outbound_list& out);

  /// A peer wants our side of some buckets (members only, as on_digest),
  /// echoing the nonce of the buckets we sent it (else "unsolicited_want").
  void on_want(const address& from, const SyncWant& w, bool member,
               time_point now, outbound_list& out);

  /// Answers a join: the whole table as join-reply pages, self first.
  void send_table(const address& to, time_point now, outbound_list& out);

private:
  duration sync_period() const;
  std::size_t reply_allowance(const address& to, time_point now);
  void charge_reply(const address& to, std::size_t pages, std::size_t wanted);
  void send_pages(const address& to, std::vector<const member*> ms,
                  bool join_reply, time_point now, outbound_list& out);
  void send_pages_capped(const address& to,
                         const std::vector<const member*>& ms, bool join_reply,
                         std::size_t allowed, outbound_list& out);
  void send_buckets(const address& to, const std::set<uint32_t>& buckets,
                    time_point now, outbound_list& out);
  bool send_digest(time_point now, outbound_list& out);

  const config& cfg_;
  member_table& table_;
  outbox& ob_;
  std::mt19937_64& rng_;
  core_stats& stats_;
  time_point sync_next_ = time_point::max();
  int quick_syncs_left_ = 0;                  // of config::join_syncs
  // Churn sync (config::churn_syncs): due time, the first join it covers
  // (max: none armed), and when we last sent a digest.
  time_point churn_due_ = time_point::max();
  time_point churn_first_ = time_point::max();
  time_point last_digest_{};
  bool digest_sent_ = false;
  std::mt19937_64 churn_rng_; // jitter of churn syncs only
  std::map<address, time_point> sync_pending_; // digests we sent, by peer
  // Bucket lists we sent (answering digests), by requester: the want that
  // follows must echo the nonce. At most max_reply_peers.
  struct sent_buckets {
    uint64_t nonce = 0;
    time_point at;
  };
  std::map<address, sent_buckets> buckets_sent_;
  std::mt19937_64 nonce_rng_;
  // Reply budgets, in pages: per requester, and for all requesters (pages
  // beyond the first of each reply; created at first use).
  std::map<address, token_bucket> reply_budgets_;
  token_bucket global_budget_;
  bool global_budget_init_ = false;
};

} // namespace pekonode::membership
