#pragma once
// Joining and staying joined, as one module: join requests to the seeds
// with exponential backoff until one answers, the catch-up window after a
// join (pages that only this node lacks are not re-gossiped), the targets
// of a rejoin, and the periodic reconnect to a remembered dead/left member
// or seed that heals partitions outliving every timeout. Join replies are
// applied by the core, which tells this module when the first one came.
//
//   joining --first join reply--> joined --rejoin() after a leave--> joining
//
// While joining, join requests go to every target at once, then again
// after a backoff that doubles (jittered) up to join_retry_max.

#include <cstddef>
#include <deque>
#include <random>
#include <string>
#include <set>
#include <vector>

#include "common/types.h"
#include "membership/codec.h"
#include "membership/config.h"
#include "membership/member_table.h"
#include "membership/types.h"

namespace pekonode::membership {

class joiner {
public:
  joiner(const config& cfg, member_table& table, outbox& ob,
         std::mt19937_64& rng, core_stats& stats);

  /// First reconnect within a jittered reconnect_interval (one draw).
  void start(time_point now);

  /// Remembers `seeds` (bounded, deduplicated, never our own address) and
  /// sends join requests to all remembered seeds now, then with backoff.
  /// No seeds at all: a cluster of one, joined at once.
  void join(const std::vector<address>& seeds, time_point now,
            outbound_list& out);

  /// Sends a reconnect-style join request to each of `found` that is not
  /// this node nor a live member, at most cfg.max_discovery_joins; returns
  /// how many.
  std::size_t discover(const std::vector<address>& found, outbound_list& out);

  /// Before a rejoin: the seeds, or without seeds up to 3 live members
  /// this node still knows (draws from rng).
  void choose_rejoin_targets(time_point now);

  /// The rest of a rejoin: a fresh reconnect timer (one draw), then join
  /// requests to the chosen targets (none: joined at once).
  void restart(time_point now, outbound_list& out);

  /// Sends the next join requests when due and not yet joined.
  void tick(time_point now, outbound_list& out);

  /// When due, forgets dead and left members older than dead_retention,
  /// and sends a reconnect request to one random remembered member or seed
  /// that is not a live member (draws from rng).
  void reconnect_tick(time_point now, outbound_list& out);
  /// The same, never choosing an address in `skip` (members forced out).
  void reconnect_tick(time_point now, outbound_list& out,
                      const std::set<address>& skip);

  /// When due (config::dead_probe_interval) and some member is held dead:
  /// pings one of them at random, the ping carrying our 'dead' record of
  /// it (one or two draws from rng).
  void dead_probe_tick(time_point now, outbound_list& out);

  /// A packet came from `to`, the address of a member we hold dead, or a
  /// member acked our ping as a stranger's (it does not know us): sends it
  /// a reconnect request (its table answers through the cookie round
  /// trip, and it learns us from the request), at most one such request
  /// per probe_interval. True if sent.
  bool dead_contact(const address& to, time_point now, outbound_list& out);

  /// Whether state pages are old news to the cluster (not to be
  /// re-gossiped): the first join reply, and anything until the catch-up
  /// window after it closes. Reconnect replies after that are news, so
  /// both sides of a healed partition re-merge.
  bool catching_up(bool join_reply, time_point now) const;

  /// A join reply was applied. True if it is the first (this node is now
  /// joined; the catch-up window, join_sync_interval * (2 * join_syncs + 1),
  /// starts); false if already joined.
  bool on_join_reply(time_point now);

  /// Sends a reconnect request (unpadded) to `to`, if it is at most
  /// `max_bytes`: the answer to a digest from a node that is not our
  /// member, so that two views that lost each other (a partition, a
  /// restart wave) merge through the cookie round trip. False if too large.
  bool hello(const address& to, std::size_t max_bytes, outbound_list& out);

  /// A JoinChallenge from `from`: if we are joining through it, or just
  /// sent it a reconnect request, the request goes again with the cookie.
  void on_challenge(const address& from, const std::string& cookie,
                    outbound_list& out);

  /// Join requests are padded to at least this many bytes, so a challenge
  /// (our name is at most max_name_bytes) is never larger than the request.
  static constexpr std::size_t min_request_bytes = 200;

  /// Whether some seed answered a join (or no seeds were given).
  bool joined() const { return joined_; }

  /// The next join attempt while joining, or the next reconnect.
  time_point next_wakeup() const;

  /// Whether `a` is one of the join targets and we have not joined yet
  /// (its join reply is one we asked for).
  bool awaiting_reply_from(const address& a) const;

  /// Seeds remembered for healing.
  const std::vector<address>& seeds() const { return seeds_; }

private:
  void send_join(bool reconnect, const address& to, outbound_list& out,
                 const std::string& cookie = {}, bool pad = true);
  void begin(time_point now, outbound_list& out);

  const config& cfg_;
  member_table& table_;
  outbox& ob_;
  std::mt19937_64& rng_;
  core_stats& stats_;
  bool joined_ = false;
  std::vector<address> seeds_;
  std::vector<address> targets_;
  time_point next_attempt_ = time_point::max();
  duration backoff_{};
  time_point catch_up_until_{};
  time_point reconnect_next_ = time_point::max();
  time_point dead_probe_next_ = time_point::max();
  time_point dead_contact_next_{};
  // Where our last (at most max_asked) requests without a cookie went:
  // each may answer with one challenge. Every request sent through
  // send_join() registers here, whatever sent it.
  static constexpr std::size_t max_asked = 64;
  std::deque<address> asked_;
};

} // namespace pekonode::membership
