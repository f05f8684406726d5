#pragma once
// Admission of members learnt from the wire, as one module: per-source
// budgets for new members and tag bytes, and the confirmation of members
// learnt second-hand (config::max_unconfirmed): confirmation pings on
// their own budget, and forgetting those that never answer. It decides
// nothing about the view: the core applies claims and confirms members
// (on a packet from the member itself, or an ack to a confirmation ping
// that this module matches to its member).
//
// One unconfirmed member:
//
//   learnt --ping--> pinged --ack or its own packet--> confirmed (a member)
//     ^                |
//     +--probe_timeout-+ (at most confirm_attempts pings)
//   forgotten: unconfirmed_ttl after it was learnt, or a probe_interval
//   after the last ping went unanswered

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/deadline_heap.h"
#include "common/token_bucket.h"
#include "common/types.h"
#include "membership/codec.h"
#include "membership/config.h"
#include "membership/member_table.h"
#include "membership/types.h"

namespace pekonode::membership {

class admission {
public:
  /// Sources whose budgets are tracked at once; beyond it, refilled ones
  /// are forgotten, and if none is, new sources get no budget.
  static constexpr std::size_t max_sources = 4096;

  admission(const config& cfg, member_table& table, outbox& ob,
            core_stats& stats);

  // -- per-source budgets ----------------------------------------------------------

  /// Takes one new member from the budget of `source`; false when spent.
  bool take_member(const address& source, time_point now);

  /// Takes `n` tag bytes from the budget of `source`; false when spent.
  bool take_tag_bytes(const address& source, std::size_t n, time_point now);

  // -- confirmation ------------------------------------------------------------------

  /// Tracks `name`, just added unconfirmed (live or not), from `now`; for
  /// a name tracked already, notes that its record changed (it may have
  /// become live or not live). The core calls it on every change of an
  /// unconfirmed member's record.
  void learnt(const std::string& name, time_point now);

  /// Stops tracking `name`: the core confirmed it.
  void confirmed(const std::string& name);

  /// Forgets the unconfirmed members whose time is up, and sends due
  /// confirmation pings (live unconfirmed members, within the budget, the
  /// longest due first); stops tracking members confirmed or forgotten
  /// meanwhile. O((expired + pinged) log n): only due members are visited.
  void tick(time_point now, outbound_list& out);

  /// The member that a confirmation ping `seq` went to, or nullptr.
  const std::string* on_ack(uint64_t seq) const;

  /// When tick() has work; time_point::max() if none. O(1).
  time_point next_wakeup() const;

  /// Unconfirmed members tracked.
  std::size_t tracked() const { return pending_.size(); }

private:
  struct source {
    token_bucket members;
    token_bucket tag_bytes;
  };
  struct pending {
    uint64_t id = 0; // key in the timer heaps, in the order learnt
    time_point expires{};
    time_point next_ping{};
    int attempts = 0;
    uint64_t seq = 0;
  };
  using pending_map = std::map<std::string, pending>;

  source* find_source(const address& a, time_point now);
  // Whether `it` may be pinged now or later: pings left, and live.
  void update_ping_timer(pending_map::iterator it);
  void drop(pending_map::iterator it);

  const config& cfg_;
  member_table& table_;
  outbox& ob_;
  core_stats& stats_;
  std::map<address, source> sources_;
  pending_map pending_;
  std::unordered_map<uint64_t, pending_map::iterator> by_id_;
  uint64_t next_id_ = 1;
  // Timers by pending id: every tracked member's expiry, and the next ping
  // of those that may still be pinged (live, attempts left).
  deadline_heap expiries_;
  deadline_heap ping_times_;
  std::unordered_map<uint64_t, std::string> by_seq_;
  token_bucket pings_;
  bool pings_init_ = false;
};

} // namespace pekonode::membership
