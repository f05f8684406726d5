#pragma once
// Pure protocol core of the cluster metadata layer: local writes, rumour
// push, digest anti-entropy (SYN -> ACK -> ACK2 -> WANT) and chunked pull of
// large values. No CAF, no sockets, no clock reads; an actor shell feeds it
// time, datagrams and peers, and sends what it returns in `out`.
//
// Anti-entropy, initiator A and a random live peer B, every ae_interval:
//
//   A --SYN(digest, count)-----------> B   equal: B stays silent (O(1))
//   A <--ACK(bucket digest pages)----- B
//   A --ACK2(A's key/version lists of differing buckets, by key range)--> B
//   A <--PUSH(entries A lacks)--+--WANT(keys B lacks)-- B
//   A --PUSH(wanted entries)---------> B
//
// Every step is stateless per packet, so a lost packet only delays
// convergence to the next round. Values larger than the inline limit are
// announced (key, version, size, hash) and pulled in chunks by the receiver.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/types.h"
#include "metadata/hlc.h"
#include "metadata/store.h"

namespace pekonode::metadata {

class Message; // generated, metadata.pb.h
class Entry;
class Announce;
class Updates;

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
  /// rejected (counted "clock_skew"): a forged huge version cannot freeze a
  /// key. Trade-off: must exceed real clock skew. Default 1 h.
  uint64_t max_clock_skew_ms = 3600 * 1000;
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

  /// LAN profile (the defaults): one data centre, RTT ~0.1-5 ms. Measured
  /// on the simulator (metadata_bench): a 1 KiB update reaches 1000 nodes
  /// in ~0.2-0.3 s at 0% and at 10% loss.
  static config lan() { return {}; }

  /// Local profile: nodes on one host or loopback (tests, demos), RTT well
  /// under 1 ms. Rumour ticks every 20 ms, anti-entropy every 200 ms (a
  /// stalled node catches up 5x sooner than on lan, for ~5x the idle SYN
  /// traffic: ~150 B/s per node), chunk retries after 100 ms, bulk cap
  /// 16 MiB/s. Wire-compatible with lan and wan (same max_packet).
  static config local() {
    config c;
    c.gossip_interval = std::chrono::milliseconds(20);
    c.ae_interval = std::chrono::milliseconds(200);
    c.chunk_timeout = std::chrono::milliseconds(100);
    c.transfer_timeout = std::chrono::seconds(5);
    c.max_bulk_bytes_per_sec = 16 * 1024 * 1024;
    return c;
  }

  /// WAN profile: nodes across regions, RTT up to ~300 ms, more loss.
  /// Rumour ticks every 300 ms with retransmit_mult 5 (more copies survive
  /// loss), anti-entropy every 5 s (idle cost ~6 B/s per node), chunk
  /// retries after 1 s, transfers abandoned after 60 s without progress,
  /// bulk cap 1 MiB/s so bulk stays polite on thin links. Expect seconds,
  /// not tenths, for a cluster-wide update. Wire-compatible with lan.
  static config wan() {
    config c;
    c.gossip_interval = std::chrono::milliseconds(300);
    c.retransmit_mult = 5;
    c.ae_interval = std::chrono::seconds(5);
    c.chunk_timeout = std::chrono::seconds(1);
    c.transfer_timeout = std::chrono::seconds(60);
    c.max_bulk_bytes_per_sec = 1024 * 1024;
    return c;
  }
};

/// Who caused a change.
enum class change_origin : uint8_t { local, remote };

/// A change of one key, in apply order. `deleted` with a default entry means
/// the key vanished because an expired remote tombstone deleted it.
struct change_event {
  std::string key;
  entry value; ///< the new entry (tombstone flag set for deletes)
  change_origin origin = change_origin::local;
};

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
};

/// Result of a local write.
struct write_result {
  ec code = ec::ok;
  version ver; ///< the new version when code == ok
};

/// The metadata core of one node. Not thread-safe: one owner (the shell).
/// Every method that takes `out` appends datagrams (channel::metadata, each
/// <= cfg.max_packet bytes) for the shell to send.
class core {
public:
  /// `node_id` is this node's unique name (the version tiebreak); must be
  /// non-empty and at most limits.max_origin_bytes (else invalid_argument).
  core(config cfg, std::string node_id, uint64_t seed);
  ~core();

  /// Writes `value` under `key` with a fresh HLC version and starts a rumour.
  write_result put(const std::string& key, std::string value, uint64_t wall_ms,
                   time_point now, outbound_list& out);

  /// Deletes `key` (tombstone). not_found if absent or already deleted.
  write_result del(const std::string& key, uint64_t wall_ms, time_point now,
                   outbound_list& out);

  /// The live entry for `key` (nullptr if absent or deleted).
  const entry* get(std::string_view key) const;

  /// Live keys with their entries, sorted by key.
  std::vector<std::pair<std::string, const entry*>> list() const;

  /// Processes one datagram payload from `from`. Bad input is counted in
  /// stats().rejects and dropped.
  void handle(const address& from, const std::string& payload,
              uint64_t wall_ms, time_point now, outbound_list& out);

  /// Runs due timers: rumour ticks, anti-entropy, chunk timeouts, bulk
  /// sending, GC. Call at next_wakeup() (calling earlier is harmless).
  void poll(uint64_t wall_ms, time_point now, outbound_list& out);

  /// When poll() next has work; time_point::min() before the first call.
  time_point next_wakeup() const;

  /// Replaces the set of live peers (the shell calls it on membership
  /// changes). Transfers keep their sources until they fail. When the first
  /// peer appears (a fresh or restarted node joining), anti-entropy runs at
  /// the next poll instead of up to ae_interval later, so a joiner catches
  /// up at once (and a rolling restart does not outrun the catch-up).
  void set_peers(std::vector<address> live);

  /// Follows one membership change instead of a whole set_peers: member
  /// `name` is now `live` (alive or suspect) at `addr`, or not (dead, left).
  /// An address stays a peer while any live name uses it. O(log N) plus an
  /// O(N) move, no sort, so a shell can apply events one by one. Returns
  /// true when a peer appeared (it may be behind: poll soon). The first
  /// peer triggers anti-entropy at once, as in set_peers. Use either this or
  /// set_peers on one core, not both.
  bool member_changed(const std::string& name, const address& addr, bool live);

  /// Change events since the last drain, in apply order.
  std::vector<change_event> drain_events();

  /// Whole-store digest (tombstones included), for O(1) comparison.
  store_digest digest() const { return store_.digest(); }

  const stats& get_stats() const { return stats_; }
  const store& data() const { return store_; }
  const config& cfg() const { return cfg_; }
  const std::string& node_id() const { return node_id_; }
  /// Number of transfers in progress (tests, metrics).
  size_t active_transfers() const { return transfers_.size(); }

private:
  /// Versions `e` with a fresh HLC stamp, applies it, and starts its rumour:
  /// the shared tail of put() and del().
  write_result write_local(const std::string& key, entry e, uint64_t wall_ms,
                           outbound_list& out);

  struct rumour {
    version ver;
    unsigned sent = 0;
    uint64_t seq = 0;
  };
  struct transfer {
    std::string key;
    version ver;
    uint32_t size = 0;
    hash128 hash;
    uint32_t chunk_size = 0;
    uint32_t chunks = 0;
    std::string buf;
    std::vector<uint8_t> have;
    std::vector<time_point> sent_at; // time_point::min(): not in flight
    std::vector<uint8_t> tries;      // requests sent per chunk (saturating)
    uint32_t received = 0;
    uint32_t inflight = 0;
    std::vector<address> sources;
    size_t next_source = 0;
    bool rumour = false; // re-gossip when complete
    time_point last_progress;
  };
  struct pending_announce {
    version ver;
    uint32_t size = 0;
    hash128 hash;
    address source;
    bool rumour = false;
  };
  struct bulk_item {
    address to;
    std::string key;
    bool chunk = false;
    version ver;         // chunk only
    uint32_t index = 0;  // chunk only
    uint32_t chunk_size = 0;
  };

  void init_timers(time_point now);
  bool emit(const address& to, const Message& msg, const char* kind,
            outbound_list& out);
  void reject(const char* reason) { ++stats_.rejects[reason]; }
  void push_event(const std::string& key, const entry& e, change_origin o);
  unsigned retransmit_limit() const;
  std::vector<address> pick_peers(size_t k);
  bool fits_inline(const std::string& key, const entry& e) const;
  /// Bytes a Message's body (Updates, Ack2, Want) may take: the Message
  /// wrapper adds at most 1 tag + 3 length bytes, so 8 leaves slack.
  size_t body_budget() const { return cfg_.max_packet - 8; }
  void add_to_updates(Updates& u, const std::string& key, const entry& e);
  void enqueue_rumour(const std::string& key, const version& v);
  void gossip_now(const std::string& key, outbound_list& out);
  void gossip_tick(outbound_list& out);
  void start_ae(outbound_list& out);
  void run_gc(uint64_t wall_ms);

  ec apply_remote(const Entry& e, bool via_rumour, uint64_t wall_ms,
                  time_point now, outbound_list& out);
  ec apply_entry(const std::string& key, entry e, bool via_rumour,
                 uint64_t wall_ms, time_point now, outbound_list& out);
  void on_announce(const address& from, const Announce& a, bool via_rumour,
                   uint64_t wall_ms, time_point now, outbound_list& out);
  void on_updates(const address& from, const Updates& u, bool via_rumour,
                  uint64_t wall_ms, time_point now, outbound_list& out);
  void on_syn(const address& from, const Message& m, outbound_list& out);
  void on_ack(const address& from, const Message& m, outbound_list& out);
  void on_ack2(const address& from, const Message& m, outbound_list& out);
  void on_want(const address& from, const Message& m, time_point now,
               outbound_list& out);
  void on_chunk_request(const address& from, const Message& m,
                        time_point now, outbound_list& out);
  void on_chunk(const address& from, const Message& m, uint64_t wall_ms,
                time_point now, outbound_list& out);
  void on_chunk_gone(const address& from, const Message& m);

  void start_transfer(const std::string& key, pending_announce p,
                      time_point now);
  void abandon(const std::string& key, const char* reason);
  void drop_older_transfer(const std::string& key, const version& v);
  void start_pending(time_point now);
  void pull(time_point now, outbound_list& out);
  void check_timeouts(time_point now);
  uint32_t chunk_size_for(const std::string& key, const version& v) const;
  duration chunk_deadline(const transfer& t, uint32_t i) const;

  void enqueue_push(const address& to, const std::string& key);
  void drain_bulk(time_point now, outbound_list& out);

  config cfg_;
  std::string node_id_;
  std::mt19937_64 rng_;
  hlc_clock clock_;
  store store_;
  std::vector<address> peers_;                // sorted
  std::map<std::string, address> live_names_; // member_changed: name -> addr
  std::map<address, int> addr_refs_;          // member_changed: live names
  std::map<std::string, rumour> rumours_;
  uint64_t rumour_seq_ = 0;
  std::deque<change_event> events_;
  size_t event_bytes_ = 0; // keys + values held by events_
  std::map<std::string, transfer> transfers_;
  std::map<std::string, pending_announce> pending_;
  size_t inflight_ = 0;
  std::deque<bulk_item> bulk_;
  std::set<std::pair<address, std::string>> queued_pushes_;
  // (requester, key, chunk index) queued in bulk_: duplicate requests for a
  // chunk not yet sent are ignored.
  std::set<std::tuple<address, std::string, uint32_t>> queued_chunks_;
  double tokens_ = 0;
  time_point last_refill_;
  bool timers_ = false;
  time_point next_gossip_;
  time_point next_ae_;
  bool ae_soon_ = false; // first peer appeared: catch up at the next poll
  time_point next_gc_;
  stats stats_;
};

} // namespace pekonode::metadata
