#pragma once
// Configuration and counters of the metadata layer, shared by the core and
// its modules (rumours, anti-entropy, chunked transfers, bulk sender). Plain
// data: no behaviour lives here.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/types.h"
#include "metadata/store.h"

namespace pekonode::metadata {

/// Tuning knobs. Defaults are the `lan` profile. All peers of a cluster must
/// use the same max_packet (chunk sizes derive from it).
struct config {
  /// Store limits (key/value/total bytes), see store_limits.
  store_limits limits;
  /// Upper bound of every outbound payload, bytes. Must fit one datagram
  /// after the transport's envelope and crypto. Default 1200.
  size_t max_packet = 1200;
  /// Inbound payloads larger than this are dropped unparsed. Default 64 KiB.
  size_t max_inbound_bytes = 64 * 1024;
  /// Values up to this size ride inline in rumours and pushes, provided the
  /// encoded entry (key, version, value) also fits one packet; larger ones
  /// are announced (key, version, size, hash) and pulled in chunks, which
  /// costs a round trip per hop and a chunk_timeout per lost pull. Lower it
  /// only to keep rumour packets small. Default 1200 (= max_packet: anything
  /// that fits one packet rides inline, e.g. a 1 KiB value under a key of up
  /// to ~40 bytes with a node id of up to ~64 bytes).
  size_t inline_threshold = 1200;
  /// Remote versions whose HLC is more than this ahead of our wall clock are
  /// rejected (counted "clock_skew", the lead kept in
  /// stats::clock_skew_lead_ms) and do not move our HLC. It bounds what a
  /// forged future version can do: it can win a key, and drag every HLC
  /// forward, by at most this much, so a node whose clock lags by L sees
  /// new writes late by at most L (not for as long as the forger chose).
  /// Trade-off: a node whose clock lags the writer's by more than this
  /// rejects its writes until its own clock is within the bound (anti-
  /// entropy offers them again every round: they arrive lag - bound late,
  /// see docs/PROTOCOL.md). Default 30 s: NTP keeps hosts within
  /// milliseconds, and a host that lost time sync drifts ~1-2 s a day
  /// (20-50 ppm), so 30 s covers weeks without sync or a VM resumed a few
  /// seconds late, while a forged version pins a key for 30 s at most.
  uint64_t max_clock_skew_ms = 30 * 1000;
  /// Tombstones are kept this long after their HLC time, then collected.
  /// Rule against resurrection: a node partitioned longer than this may
  /// bring a deleted key back (as in Cassandra's gc_grace); a remote
  /// tombstone older than the horizon deletes an older local entry but is
  /// not stored. Default 24 h.
  uint64_t tombstone_ttl_ms = 24 * 3600 * 1000ULL;
  /// How often tombstones are collected. Default 60 s.
  duration gc_interval = std::chrono::seconds(60);
  /// Peers a rumour goes to per transmission. Spread takes about
  /// log_fanout(N) gossip intervals; cost is fanout packets per interval.
  /// Default 3.
  size_t fanout = 3;
  /// Period of rumour retransmission ticks. Default 100 ms.
  duration gossip_interval = std::chrono::milliseconds(100);
  /// Each rumour is sent retransmit_mult * ceil(log10(N + 1)) times by each
  /// node (N = live peers + 1); higher survives more loss. Default 4.
  unsigned retransmit_mult = 4;
  /// Bound on queued rumours; the oldest-most-sent are dropped first.
  /// Default 4096.
  size_t max_rumours = 4096;
  /// Period of anti-entropy rounds with one random peer. Cost when in sync:
  /// one SYN (~30 bytes) per interval. Default 1 s.
  duration ae_interval = std::chrono::seconds(1);
  /// A node whose first peer appears (a fresh or restarted node, or one
  /// whose every peer had gone) may lack everything: its first
  /// anti-entropy round runs at once, and until a peer answers a round with
  /// an ACK (its digest differed: we pull what we lack) up to catchup_syncs
  /// more rounds follow catchup_interval apart, each with a peer not asked
  /// yet in this catch-up. A peer that is down or as empty as we are (in a
  /// rolling restart, one that restarted just before us) then costs
  /// catchup_interval instead of ae_interval. Cost: at most catchup_syncs
  /// SYNs (~30 bytes each) per catch-up, none once a peer answered.
  /// Default 8 rounds 250 ms apart; local 50 ms, wan 1 s.
  unsigned catchup_syncs = 8;
  duration catchup_interval = std::chrono::milliseconds(250);
  /// Bound on ACK2 / WANT packets sent for one received ACK / ACK2 page;
  /// the rest is synced in later rounds. Default 64.
  size_t max_ae_pages = 64;
  /// Chunks in flight per transfer. Throughput ~ window * chunk / RTT.
  /// Default 32.
  size_t pull_window = 32;
  /// Chunks in flight over all transfers. Default 128.
  size_t max_inflight_chunks = 128;
  /// Concurrent transfers; further announcements wait in a queue bounded by
  /// max_pending_announces (beyond it they are dropped and left to
  /// anti-entropy). Defaults 32 and 16384.
  size_t max_transfers = 32;
  size_t max_pending_announces = 16384;
  /// A chunk unanswered this long is re-requested (from the next source);
  /// each full round of retries over all its sources doubles the wait, up to 8x, so an
  /// overloaded source is not flooded with re-requests (a source also
  /// ignores a request for a chunk it has queued already). Trade-off: a
  /// lost request or chunk costs this much latency, too short a value costs
  /// duplicate chunks. Should exceed RTT + a source's bulk queueing delay.
  /// Default 200 ms (lan); local 100 ms, wan 1 s.
  duration chunk_timeout = std::chrono::milliseconds(200);
  /// A transfer without progress this long is abandoned. Default 15 s.
  duration transfer_timeout = std::chrono::seconds(15);
  /// Token-bucket cap on bulk traffic (anti-entropy pushes and served
  /// chunks), bytes per second, so bulk never starves membership traffic.
  /// Default 4 MiB/s.
  uint64_t max_bulk_bytes_per_sec = 4 * 1024 * 1024;
  /// Bound on queued bulk items (pushes + chunks); excess is dropped and
  /// recovered by retries / later rounds. Default 65536.
  size_t max_bulk_queue = 65536;

  // -- What a peer can draw -------------------------------------------------
  //
  // Only live peers (set_peers / member_changed) are answered at all: a
  // message from any other address draws no reply (counted "not_a_peer";
  // a SYN is held, see ae_step_timeout). A peer's SYN is answered at most
  // once per ae_interval / 2 (it starts one round per ae_interval; others:
  // "syn_too_soon"). Every later step of a round must echo a nonce this
  // node chose (see ae_step_timeout), and a SYN (whose digest differs) and
  // a chunk request our cookie for the requester (a SynCookie or
  // ChunkCookie, never larger than the request, answers one without, see
  // syn_cookie_epoch): whoever forges a member's address draws nothing
  // larger than what it sent, except the chunk requests of an announce (at
  // most 3x the announce, see transfers.h). What each peer
  // draws is bounded by two token buckets, so a peer (or whoever forges its
  // address) gets at most these many bytes per second out of a node
  // whatever it sends. See docs/SECURITY.md for the measured amplification
  // of every message.

  /// Per-peer budget of control replies: ACK pages (answering its SYN),
  /// ACK2 pages (its ACK), WANT pages (its ACK2), chunk_gone (its chunk
  /// requests). Replies beyond it are not sent (counted "peer_budget"); the
  /// round finishes in later rounds. A legitimate round with a differing
  /// store costs ~2.1 KB of ACK, and ACK2 / WANT pages that only a large
  /// divergence fills. Default 32 KiB/s in bursts of 80 KiB (one full round:
  /// 2 ACK pages + max_ae_pages ACK2 pages of max_packet).
  uint64_t peer_reply_bytes_per_sec = 32 * 1024;
  uint64_t peer_reply_burst_bytes = 80 * 1024;
  /// Per-peer budget of bulk: pushes it asked for (its ACK2 / WANT) and
  /// chunks it requested, charged when queued (the shared bulk cap above
  /// still paces the sending). Items beyond it are not queued (counted
  /// "peer_bulk_budget"): the peer asks again after a chunk timeout or in
  /// its next round. Trade-off: a joiner catches up mostly from one peer,
  /// so below max_bulk_bytes_per_sec it slows catch-up. The burst must hold
  /// what a lone peer legitimately draws ahead of the refill: the shared
  /// bulk sender's own burst (max_bulk_bytes_per_sec / 20, see
  /// bulk_sender.h) plus a full pull window (max_inflight_chunks chunks of
  /// max_packet), charged before they are sent; else a peer pulling a large
  /// value from an idle node outruns its budget and waits a chunk_timeout
  /// for the refused chunks (min_peer_bulk_burst() below). Default: the
  /// profile's bulk cap (4 MiB/s on lan) in bursts of 384 KiB (local
  /// 1 MiB).
  uint64_t peer_bulk_bytes_per_sec = 4 * 1024 * 1024;
  uint64_t peer_bulk_burst_bytes = 384 * 1024;
  /// The steps of a round answer only the step before: an ACK is taken
  /// only from a peer we sent a SYN to (as many pages as a SYN draws), an
  /// ACK2 only from one we sent ACK pages (max_ae_pages per page), a WANT
  /// only from one we sent ACK2 pages (likewise), within this time (others:
  /// "unsolicited"). A SYN from an address that is not yet a peer (a
  /// joiner whose membership has not reached us) is held this long and
  /// answered when membership makes it a peer. Must exceed the RTT plus a
  /// peer's membership propagation delay; longer lets a forger replaying a
  /// member's address hit an open round more often. Default 1 s; wan 5 s.
  duration ae_step_timeout = std::chrono::seconds(1);
  /// SYN cookies (a keyed hash of the sender's address and the time in
  /// these epochs) stay valid for one to two epochs; the key is drawn at
  /// start. The initiator keeps the cookie each peer gave it, so only its
  /// first round with a peer, and the first after each epoch change (or
  /// the peer's restart), costs one more round trip (SYN, SynCookie, SYN).
  /// Shorter limits how long a cookie read off the wire (no keyring) stays
  /// usable. Default 10 min.
  duration syn_cookie_epoch = std::chrono::minutes(10);
  /// Bound on held SYNs from addresses that are not yet peers; the oldest
  /// is dropped. Default 64.
  size_t max_held_syns = 64;
  /// Bound on undrained change events; the oldest are dropped (counted).
  /// Default 65536.
  size_t max_events = 65536;
  /// Bound on the bytes (keys + values) held by undrained change events:
  /// each event carries its entry, so a shell that drains rarely could
  /// otherwise hold max_events large values. Oldest dropped first (counted
  /// in events_dropped); the newest event is always kept. Trade-off: a
  /// consumer that falls behind misses intermediate values (the store is
  /// still right). Default 16 MiB.
  size_t max_event_bytes = 16 * 1024 * 1024;

  // -- Write concern (replicas=K, see metadata/write_concern.h) ---------------

  /// Largest K a write may ask for (the writer counts as one). Per-write
  /// state is O(K). Default 16.
  size_t max_replicas = 16;
  /// Writes waiting for their replicas at once; more are refused before
  /// they are applied (too_many_writes). Bounds the writer's state to
  /// max_pending_writes * max_replicas targets. Default 256.
  size_t max_pending_writes = 256;
  /// Longest a write may wait for its replicas; the shell refuses longer
  /// timeouts (bad_option). Default 60 s.
  duration max_write_timeout = std::chrono::seconds(60);
  /// A target that has not acknowledged a hold request within this is sent
  /// it again; one not acknowledged within two of these is a straggler and
  /// a further live peer is asked in its place (it is still asked too).
  /// Trade-off: shorter recovers from loss and dead targets sooner, for
  /// more duplicate requests (large values: more chunk pulls). Should
  /// exceed the RTT (plus a chunked pull for large values). Default 200 ms
  /// (lan); local 100 ms, wan 1 s.
  duration hold_retry = std::chrono::milliseconds(200);
  /// Hold requests a node keeps waiting to answer (until the entry is
  /// durable here), in all and per peer: more are dropped (counted
  /// "holds_owed_full", the writer asks again or another node). A hostile
  /// peer can make a node keep at most max_owed_holds_per_peer, and draws
  /// at most one acknowledgement, never larger than its request, per
  /// request. Defaults 1024 and 64.
  size_t max_owed_holds = 1024;
  size_t max_owed_holds_per_peer = 64;
  /// A hold request not satisfied within this is forgotten (a large value
  /// whose pull failed, an entry refused here). Default: max_write_timeout.
  duration hold_ttl = std::chrono::seconds(60);

  /// LAN profile (the defaults): one data centre, RTT ~0.1-5 ms. Measured
  /// on the simulator (metadata_bench): a 1 KiB update reaches 1000 nodes
  /// in ~0.2-0.3 s at 0% and at 10% loss.
  static config lan() { return {}; }

  /// Local profile: nodes on one host or loopback (tests, demos), RTT well
  /// under 1 ms. Rumour ticks every 20 ms, anti-entropy every 200 ms (a
  /// stalled node catches up 5x sooner than on lan, for ~5x the idle SYN
  /// traffic: ~150 B/s per node), chunk retries after 100 ms, bulk cap
  /// 16 MiB/s (also per peer). Wire-compatible with lan and wan (same
  /// max_packet).
  static config local() {
    config c;
    c.gossip_interval = std::chrono::milliseconds(20);
    c.ae_interval = std::chrono::milliseconds(200);
    c.catchup_interval = std::chrono::milliseconds(50);
    c.chunk_timeout = std::chrono::milliseconds(100);
    c.hold_retry = std::chrono::milliseconds(100);
    c.transfer_timeout = std::chrono::seconds(5);
    c.max_bulk_bytes_per_sec = 16 * 1024 * 1024;
    c.peer_bulk_bytes_per_sec = c.max_bulk_bytes_per_sec;
    c.peer_bulk_burst_bytes = 1024 * 1024; // >= min_peer_bulk_burst()
    return c;
  }

  /// WAN profile: nodes across regions, RTT up to ~300 ms, more loss.
  /// Rumour ticks every 300 ms with retransmit_mult 5 (more copies survive
  /// loss), anti-entropy every 5 s (idle cost ~6 B/s per node), chunk
  /// retries after 1 s, transfers abandoned after 60 s without progress,
  /// bulk cap 1 MiB/s (also per peer) so bulk stays polite on thin links,
  /// round steps answered for 5 s. Expect seconds,
  /// not tenths, for a cluster-wide update. Wire-compatible with lan.
  static config wan() {
    config c;
    c.gossip_interval = std::chrono::milliseconds(300);
    c.retransmit_mult = 5;
    c.ae_interval = std::chrono::seconds(5);
    c.catchup_interval = std::chrono::seconds(1);
    c.chunk_timeout = std::chrono::seconds(1);
    c.hold_retry = std::chrono::seconds(1);
    c.transfer_timeout = std::chrono::seconds(60);
    c.max_bulk_bytes_per_sec = 1024 * 1024;
    c.peer_bulk_bytes_per_sec = c.max_bulk_bytes_per_sec;
    c.ae_step_timeout = std::chrono::seconds(5);
    return c;
  }
};

/// Bytes the shared bulk sender may send at once: max(4 packets, 1/20 s of
/// max_bulk_bytes_per_sec).
constexpr double bulk_burst_bytes(uint64_t bytes_per_sec, size_t max_packet) {
  return std::max(4.0 * static_cast<double>(max_packet),
                  static_cast<double>(bytes_per_sec) / 20.0);
}

/// The least peer_bulk_burst_bytes with which one peer pulling from an idle
/// node is paced by the bulk sender rather than refused: the sender's
/// burst plus a full pull window charged before it is sent (with
/// peer_bulk_bytes_per_sec at least max_bulk_bytes_per_sec).
constexpr double min_peer_bulk_burst(const config& c) {
  return bulk_burst_bytes(c.max_bulk_bytes_per_sec, c.max_packet)
         + static_cast<double>(c.max_inflight_chunks * c.max_packet);
}

/// Counters for metrics.
struct stats {
  std::map<std::string, uint64_t> bytes_out;  ///< by message kind
  std::map<std::string, uint64_t> msgs_out;   ///< by message kind
  std::map<std::string, uint64_t> bytes_in;   ///< by message kind
  std::map<std::string, uint64_t> rejects;    ///< by reason
  uint64_t applied_local = 0;
  uint64_t applied_remote = 0;
  uint64_t stale = 0;
  uint64_t chunks_sent = 0;
  uint64_t chunks_received = 0;
  uint64_t transfers_started = 0;
  uint64_t transfers_completed = 0;
  uint64_t transfers_abandoned = 0;
  uint64_t ae_rounds = 0;
  uint64_t events_dropped = 0;
  uint64_t gc_collected = 0;
  /// Writes with replicas=K > 1: satisfied, timed out.
  uint64_t writes_replicated = 0;
  uint64_t writes_replica_timeouts = 0;
  /// Hold acknowledgements this node sent (it held a write for a peer).
  uint64_t holds_acked = 0;
  /// How far ahead of our wall clock (ms) the latest version rejected as
  /// "clock_skew" was: about how far this node's clock lags its peers'
  /// when they are honest. 0 until the first such rejection.
  uint64_t clock_skew_lead_ms = 0;
  /// Gauges, filled when stats are read (metadata actor): live keys and
  /// tombstones held, bytes charged against max_total_bytes, chunked
  /// transfers in progress, rumours queued, pushes and chunks waiting for
  /// the bulk sender.
  uint64_t keys_live = 0;
  uint64_t tombstones = 0;
  uint64_t store_bytes = 0;
  uint64_t transfers_active = 0;
  uint64_t rumour_queue = 0;
  uint64_t bulk_queue = 0;
};

} // namespace pekonode::metadata
