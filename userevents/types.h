#pragma once
// Vocabulary of user events and queries (Serf's `serf event` / `serf query`):
// the limits, the knobs, the event and query structs, errors and counters.
// Pure: no CAF, no protobuf, no protocol logic.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/types.h"

namespace pekonode::userevents {

// -- limits (checked on local calls and on every datagram) -----------------------

/// Event and query names: 1..128 visible ASCII bytes (no space).
inline constexpr size_t max_name_bytes = 128;
/// Name plus payload of an event or a query, as Serf's 512-byte limit: one
/// event always fits one datagram, whatever else shares it.
inline constexpr size_t max_event_bytes = 512;
/// A query's filters in all: node pattern, tag keys and tag patterns.
inline constexpr size_t max_filter_bytes = 256;
inline constexpr size_t max_tag_filters = 8;
/// One response's payload (Serf's default query response limit).
inline constexpr size_t max_response_bytes = 1024;
/// Longest and default query timeout.
inline constexpr duration max_query_timeout = std::chrono::seconds(60);
inline constexpr duration default_query_timeout = std::chrono::seconds(3);

// -- knobs --------------------------------------------------------------------------

struct config {
  /// Rumours: each gossip tick sends the events still being retransmitted to
  /// `fanout` random live members. A new event also goes out at once.
  duration gossip_interval = std::chrono::milliseconds(200);
  int fanout = 3;
  /// An event is put into at most retransmit_mult * ceil(log10(N + 1))
  /// packets by each node (N = live members, self included), as
  /// memberlist's broadcast queue. Anti-entropy repairs what loss leaves.
  int retransmit_mult = 4;
  /// Anti-entropy: every `sync_interval` the ids of the events this node
  /// still offers go to one random live member, which pushes what we lack
  /// and asks for what it lacks. An idle cluster costs one small packet per
  /// node per interval.
  duration sync_interval = std::chrono::seconds(1);
  /// Events are offered (gossip, anti-entropy) and accepted while younger
  /// than this (ages travel with the event, so no clocks are compared).
  duration offer_window = std::chrono::seconds(30);
  /// An event stays in the dedup buffer until offer_window + dedup_margin
  /// after this node learnt it: any copy that can still be accepted is
  /// recognised, so each event is delivered at most once per node. The
  /// margin covers the ages lost in transit along a chain of relays.
  duration dedup_margin = std::chrono::seconds(15);
  /// Dedup buffer entries at most. When it is full of events that can still
  /// arrive again, new ones are refused (counted) rather than risk a repeat.
  size_t max_buffer = 2048;
  /// Coalescing (events sent with coalesce): the newest of a name is
  /// delivered `coalesce_period` after the first of a burst, or
  /// `quiescent_period` after the last, whichever comes first.
  duration coalesce_period = std::chrono::seconds(1);
  duration quiescent_period = std::chrono::milliseconds(200);
  /// Local rate limits (the API answers 429 beyond them): user events, and
  /// queries, per second and burst.
  double local_events_per_sec = 10;
  double local_events_burst = 50;
  double local_queries_per_sec = 2;
  double local_queries_burst = 10;
  /// Inbound budgets: new events accepted per origin and in total, per
  /// second and burst. Over budget: dropped (anti-entropy offers them again
  /// later, within the offer window).
  double origin_events_per_sec = 20;
  double origin_events_burst = 100;
  double total_events_per_sec = 200;
  double total_events_burst = 1000;
  /// Origins with their own budget; others share one.
  size_t max_origins = 1024;
  /// Bytes a member may make us send in answer to its Sync and Want.
  double peer_reply_bytes_per_sec = 32 * 1024;
  double peer_reply_burst_bytes = 64 * 1024;
  /// Queries this node runs at once; queries it answers at once.
  size_t max_live_queries = 16;
  size_t max_pending_answers = 256;
  /// Acks and responses one query collects at most.
  size_t max_responses = 4096;
  /// Ids in one Sync; events in one Want.
  size_t max_sync_ids = 128;
  /// Bytes of one packet (a layer message; the transport adds ~200).
  size_t max_packet_bytes = 1100;

  static config lan() { return config{}; }
  static config local() {
    config c;
    c.gossip_interval = std::chrono::milliseconds(50);
    c.sync_interval = std::chrono::milliseconds(250);
    return c;
  }
  static config wan() {
    config c;
    c.gossip_interval = std::chrono::milliseconds(500);
    c.sync_interval = std::chrono::seconds(5);
    c.offer_window = std::chrono::seconds(60);
    c.dedup_margin = std::chrono::seconds(30);
    return c;
  }
  /// retransmit_mult * ceil(log10(n + 1)), at least 1.
  int retransmit_limit(size_t n) const;
};

// -- values -------------------------------------------------------------------------

enum class event_kind : uint8_t { user = 1, query = 2 };

/// "user" or "query".
const char* to_string(event_kind k);

using tag_filters = std::vector<std::pair<std::string, std::string>>;

/// A user event or a query as delivered to local subscribers and responders.
struct user_event {
  event_kind kind = event_kind::user;
  std::string name;
  std::string payload;
  std::string origin;     ///< the node that raised it
  uint64_t ltime = 0;     ///< origin's Lamport time
  uint64_t id = 0;        ///< random, chosen by the origin; (origin, id) is unique
  bool coalesce = false;
  // Queries only.
  address origin_addr;
  uint32_t timeout_ms = 0;
  std::string node_filter;
  tag_filters tags;
};

/// What a query asks.
struct query_params {
  std::string name;
  std::string payload;
  std::string node_filter;   ///< RE2, full match on member names; "" any
  tag_filters tags;          ///< (key, RE2 on the value), all must match
  duration timeout = default_query_timeout;
  /// A query of pekonode itself (a name starting with internal_prefix, such
  /// as the cluster-wide keyring command): only such queries may carry a
  /// reserved name, and one finishes as soon as every member it expected
  /// has responded instead of waiting for its deadline. Receivers hand it
  /// to the internal responder registered for its name, never to event
  /// subscribers, handlers or logs (its payload may hold a key).
  bool internal = false;
};

/// What a query collected by its deadline.
struct query_result {
  uint64_t id = 0;
  std::string name;
  /// Nodes that acked (they matched the filters), sorted.
  std::vector<std::string> acks;
  /// Node -> response payload.
  std::map<std::string, std::string> responses;
  /// Members that were alive in this node's view when the query started and
  /// matched its filters by that view (name and tags), but did not ack:
  /// down, partitioned, overloaded, or their tags changed meanwhile.
  std::vector<std::string> stragglers;
  /// How many members that view expected to match.
  uint64_t expected = 0;
};

enum class ec : uint8_t {
  none = 0,
  bad_name,          ///< empty, too long, or not visible ASCII
  too_large,         ///< name + payload above max_event_bytes (or response)
  bad_filter,        ///< a pattern that does not compile, or filters too large
  bad_timeout,       ///< query timeout not in (0, max_query_timeout]
  rate_limited,      ///< local rate limit; retry later
  too_many_queries,  ///< max_live_queries running
  not_running,       ///< the node left
};

/// "bad_name", "too_large", ...
const char* to_string(ec e);

/// Counters; monotonic.
struct stats {
  uint64_t events_sent = 0;        ///< raised here (user events)
  uint64_t queries_sent = 0;       ///< raised here
  uint64_t delivered = 0;          ///< handed to local subscribers
  uint64_t coalesced = 0;          ///< superseded in a coalescing window
  uint64_t duplicates = 0;         ///< already known (dedup)
  uint64_t too_old = 0;            ///< older than the offer window / timeout
  uint64_t rate_limited = 0;       ///< inbound over the origin or total budget
  uint64_t buffer_full = 0;        ///< dedup buffer full of live events
  uint64_t malformed = 0;          ///< bad packets
  uint64_t unverified = 0;         ///< from a source that is not a member there
  uint64_t acks_sent = 0;
  uint64_t responses_sent = 0;
  uint64_t acks_received = 0;
  uint64_t responses_received = 0;
  /// Acks or responses for no live query of ours, from a non-member, or
  /// repeated: dropped.
  uint64_t responses_rejected = 0;
  uint64_t filtered_out = 0;       ///< queries that did not match us
  uint64_t packets_out = 0;
  uint64_t bytes_out = 0;
  uint64_t syncs = 0;
  uint64_t replies_limited = 0;    ///< Sync/Want answers over the peer budget
};

/// Visible ASCII, 1..max_name_bytes.
bool valid_name(std::string_view name);

/// Names starting with this are pekonode's own queries: refused for user
/// events and user queries, never delivered to subscribers.
inline constexpr std::string_view internal_prefix = "_pekonode";

/// Whether `name` starts with internal_prefix.
bool reserved_name(std::string_view name);

/// An event or query id as the API shows it: 16 lower-case hex digits.
std::string id_text(uint64_t id);

} // namespace pekonode::userevents
