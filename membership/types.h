#pragma once
// Vocabulary of the membership layer: member states, members, view events,
// API error codes and the protocol counters. Plain data shared by the core,
// its modules and every caller; no protobuf, no protocol logic.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/intern.h"
#include "common/interned_tags.h"
#include "common/types.h"

namespace pekonode::membership {

/// Highest incarnation a claim may carry (2^48: a node bumping it a
/// million times a second needs nine years to get there). Accusations
/// (suspect, dead, left) must stay below it, so the accused can always
/// refute with a higher 'alive'; incarnations never wrap, they saturate.
inline constexpr uint64_t max_incarnation = uint64_t{1} << 48;

/// Tags from the wire obey the node's rules for local tags
/// (node/options.h): at most max_tags pairs, keys 1..max_tag_key_bytes,
/// values up to max_tag_value_bytes, no control characters; the total is
/// config::max_tags_bytes.
inline constexpr std::size_t max_tags = 32;
inline constexpr std::size_t max_tag_key_bytes = 64;
inline constexpr std::size_t max_tag_value_bytes = 2048;

/// A node name: 1..max_bytes visible ASCII characters (0x21-0x7e), the
/// rule node/options.cc applies to --name.
bool valid_name(std::string_view name, std::size_t max_bytes);

/// Tags within the limits above and `max_total` bytes of keys + values.
bool valid_tags(const std::map<std::string, std::string>& tags,
                std::size_t max_total);
bool valid_tags(const interned_tags& tags, std::size_t max_total);

/// A gossiped address: "a.b.c.d:port" or "[v6]:port" in canonical form
/// (as the transport writes source addresses), port 1-65535, at most
/// `max_bytes`. Host names are refused: they would make every receiver
/// resolve them, and probe whatever they resolve to. DNS stays for the
/// seeds an operator gives.
bool valid_gossip_addr(std::string_view addr, std::size_t max_bytes);

enum class member_state : uint8_t { alive, suspect, dead, left };

/// "alive", "suspect", "dead", "left".
const char* to_string(member_state s);

/// Alive and suspect members are live: probed, gossiped to, counted in N.
inline bool is_live(member_state s) {
  return s == member_state::alive || s == member_state::suspect;
}

/// Errors returned by the core's API (never for packets: those are counted).
enum class ec : uint8_t {
  none,
  tags_too_large, ///< set_tags: keys+values exceed config::max_tags_bytes
  bad_tag,        ///< set_tags: empty key
  not_running,    ///< the operation needs a node that has not left
  bad_config,     ///< config::validate() failed (see core::config_error)
  unknown_member, ///< force_leave: no confirmed member of that name
  not_failed,     ///< force_leave: the member is alive or has left already
  is_self,        ///< force_leave: names this node (use leave)
};

/// Human-readable name of an error code.
const char* to_string(ec e);

/// One member as seen by this node. Name, address and tags are interned
/// (common/intern.h, common/interned_tags.h): every node's table holds
/// every member, so the texts and tag sets are shared, and an entry holds
/// three 8-byte handles. Tags are replaced as a whole (assign a std::map).
///
/// Field order keeps it small: the one-byte state comes last, so the
/// member table's per-entry fields fill the padding behind it.
struct member {
  interned name;
  interned addr;
  uint64_t incarnation = 0;
  interned_tags tags;
  time_point state_change{};
  member_state state = member_state::alive;
};

/// A change of this node's view, in the order it happened.
struct event {
  enum kind_t { joined, suspect, alive, dead, left, updated, name_conflict };
  kind_t kind;
  member m; ///< the member after the change (for name_conflict: the claim)
};

/// "joined", "suspect", ...
const char* to_string(event::kind_t k);

/// Counters for metrics; monotonic.
struct core_stats {
  uint64_t packets_in = 0;
  uint64_t packets_out = 0;
  uint64_t bytes_out = 0;
  uint64_t probes = 0;           ///< direct probes started
  uint64_t acks = 0;             ///< probes answered (directly or relayed)
  uint64_t probe_failures = 0;   ///< probes that ended without an ack
  uint64_t indirect_probes = 0;  ///< ping-reqs sent
  uint64_t probe_retries = 0;    ///< direct pings sent again (config::probe_retry)
  uint64_t rtt_samples = 0;      ///< acks of first pings timed (round-trip samples)
  uint64_t suspicion_checks = 0; ///< pings to members we hold suspect (config::suspicion_checks)
  uint64_t indirect_suspicion_checks = 0; ///< suspicion checks sent through a helper (ping-req)
  uint64_t relayed_probes = 0;   ///< ping-reqs served for others
  uint64_t nacks_sent = 0;
  uint64_t nacks_received = 0;
  uint64_t suspects_raised = 0;  ///< suspicions this node started
  uint64_t confirmations = 0;    ///< new independent confirmations heard
  uint64_t deaths_declared = 0;  ///< suspicion timeouts expired here
  uint64_t refutations = 0;      ///< times this node refuted a claim about it
  uint64_t name_conflicts = 0;
  uint64_t updates_applied = 0;  ///< updates that changed the view
  uint64_t updates_stale = 0;    ///< duplicates / superseded (not forwarded)
  uint64_t join_attempts = 0;
  uint64_t syncs_started = 0;
  uint64_t syncs_differed = 0;
  /// Of syncs_started: extra exchanges after members joined by gossip
  /// (config::churn_syncs).
  uint64_t churn_syncs = 0;
  uint64_t reconnects = 0;
  uint64_t dead_probes = 0;    ///< pings to members held dead (config::dead_probe_interval)
  uint64_t dead_contacts = 0;  ///< reconnects started by a packet from a member held dead
  uint64_t merge_syncs = 0;    ///< quick digest syncs started by a reconnect reply
  uint64_t heal_notices = 0;     ///< "you are dead to me" sent during merges
  /// Replies carrying our newer record to senders of stale accusations.
  uint64_t corrections_sent = 0;
  /// "You are suspected" notices sent to suspects we heard from directly.
  uint64_t suspect_notices = 0;
  /// Direct leave notices sent while leaving (config::leave_notices_per_tick).
  uint64_t leave_notices_sent = 0;
  /// Acks to our leave notices received while leaving.
  uint64_t leave_acks_received = 0;
  /// Acks sent to leave notices of other members.
  uint64_t leave_acks_sent = 0;
  /// Join/anti-entropy replies cut short or refused by the reply budgets
  /// (config::reply_pages_*).
  uint64_t replies_limited = 0;
  /// Accusations about this node answered later, together, because the
  /// refutation budget (config::refute_burst) was spent.
  uint64_t refutations_deferred = 0;
  /// Unsolicited replies (refutation assists, corrections, heal notices,
  /// conflict reports, suspect notices) skipped by config::assist_*.
  uint64_t assists_limited = 0;
  /// Members learnt second-hand and held unconfirmed; of those, confirmed
  /// (they answered or wrote to us) and forgotten unanswered.
  uint64_t unconfirmed_added = 0;
  uint64_t members_confirmed = 0;
  uint64_t unconfirmed_expired = 0;
  /// Confirmation pings sent (config::confirm_*).
  uint64_t confirm_probes = 0;
  /// Join requests answered with a cookie challenge instead of the table.
  uint64_t join_challenges = 0;
  /// Gauges, filled when stats are read (membership actor): updates queued
  /// for piggybacking, and members held unconfirmed.
  uint64_t broadcast_queue = 0;
  uint64_t unconfirmed = 0;
  /// Gauges, filled when stats are read: the cluster's smoothed round trip
  /// and its variation (0 before the first sample), and the direct probe
  /// timeout the next probe uses (Lifeguard's multiplier included), in
  /// microseconds.
  uint64_t rtt_srtt_us = 0;
  uint64_t rtt_var_us = 0;
  uint64_t probe_timeout_us = 0;
  /// Gauges, filled when stats are read: the smoothed share of first
  /// direct pings not answered within the direct timeout, in parts per
  /// million, and the minimum suspicion timeout a suspicion started now
  /// would get (N and config::loss_aware_suspicion's stretch included), in
  /// microseconds.
  uint64_t probe_miss_ppm = 0;
  uint64_t suspicion_min_us = 0;
  /// Dropped input by reason: "too_large", "parse", "bad_sender",
  /// "bad_update", "wrong_target", "unknown_type", "bad_body",
  /// "incarnation_jump", "unconfirmed_full", "source_budget",
  /// "table_bytes", ...
  std::map<std::string, uint64_t> bad_packets;
};

} // namespace pekonode::membership
