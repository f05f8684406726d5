#pragma once
// Chunked transfer of values too large to ride inline: the receiving side
// (announces waiting for a slot, transfers pulling chunks in windows from
// their sources, retries with backoff, reassembly and the whole-value hash
// check) and the serving side (checking chunk requests and queueing the
// chunks on the bulk sender). It never writes the store: a completed value
// is handed back to the core, which applies it like any remote entry.
//
// One transfer per key, for one version:
//
//   announce --> pending --(slot free)--> pulling --all chunks, hash ok--> done
//                  |                        |  newer announce / local or
//                  +-- queue full: dropped  |  remote write: superseded
//                                           +- no progress for transfer_timeout,
//                                              sources gone, hash mismatch:
//                                              abandoned (anti-entropy retries)
//
// Each chunk request waits chunk_timeout before its chunk is asked again,
// from the next source; once every source has been asked the wait doubles
// per round, up to 8x.
//
// Slow start: until its first chunk arrives a transfer has one request in
// flight at a time, and asks each source at most 3x the bytes of the
// announces that named it (probe_factor), so an announce forged in a
// member's name draws at most 3x itself to the member. A request takes
// as many chunks of the window as fit half of the source's share left. A source that used its share unanswered
// is asked no more; with none left the transfer is abandoned
// ("announce_unanswered", anti-entropy retries). Announces are padded
// (add_to_updates) so a real source's share holds several requests.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/types.h"
#include "metadata/config.h"
#include "metadata/hlc.h"
#include "metadata/store.h"

namespace pekonode::metadata {

class Announce;
class Chunk;
class ChunkCookie;
class ChunkGone;
class ChunkRequest;
class emitter;
class bulk_sender;

/// A large value announced by a peer, waiting for a transfer slot.
struct pending_announce {
  version ver;
  uint32_t size = 0;
  hash128 hash;
  address source;
  bool rumour = false; ///< came by rumour: re-gossip when complete
  uint32_t probe_bytes = 0; ///< what `source` may be asked before a chunk
};

/// A value being pulled in chunks.
struct transfer {
  std::string key;
  version ver;
  uint32_t size = 0;
  hash128 hash;
  uint32_t chunk_size = 0;
  uint32_t chunks = 0;
  std::string buf;
  std::vector<uint8_t> have;
  std::vector<time_point> sent_at; ///< time_point::min(): not in flight
  std::vector<uint8_t> tries;      ///< requests sent per chunk (saturating)
  uint32_t received = 0;
  uint32_t inflight = 0;
  std::vector<address> sources;    ///< at most 8, asked in rotation
  /// Per source: request bytes it may still be sent before the first chunk
  /// arrives (slow start); unused once received > 0.
  std::vector<uint32_t> probe_left;
  size_t next_source = 0;
  bool rumour = false;             ///< re-gossip when complete
  time_point last_progress;
};

/// A transfer that completed with a verified value, for the core to apply.
struct completed_value {
  std::string key;
  entry value;
  bool rumour = false;
};

/// The transfers of one node. Holds references: `cfg`, `s` and `counters`
/// must outlive it. Not thread-safe.
class transfers {
public:
  transfers(const config& cfg, const store& s, stats& counters)
    : cfg_(cfg), store_(s), stats_(counters) {}

  // -- receiving ---------------------------------------------------------------

  /// Checks an announce from `from` (limits, clock skew, newer than ours)
  /// and queues it, or adds `from` as a source of the same version in
  /// progress. A newer version supersedes an older transfer or announce.
  /// Each announce lets its source be asked probe_factor times its bytes
  /// before the transfer's first chunk (at most max_probe_bytes).
  void on_announce(const address& from, const Announce& a, bool via_rumour,
                   uint64_t wall_ms);

  /// Starts queued announces (smallest key first) while fewer than
  /// max_transfers run; skips those the store has caught up with meanwhile.
  void start_pending(time_point now);

  /// Requests every chunk not in flight, within pull_window per transfer and
  /// max_inflight_chunks overall, from the sources in rotation; before a
  /// transfer's first chunk, one chunk at a time within the sources' probe
  /// bytes (abandons the transfer when no source has enough left).
  void pull(time_point now, emitter& tx);

  /// Frees chunks whose request timed out (re-requested by the next pull)
  /// and abandons transfers without progress for transfer_timeout.
  void check_timeouts(time_point now);

  /// Takes one chunk. Returns the value once all chunks are in and its hash
  /// matches the announce; requests more chunks while it is incomplete.
  std::optional<completed_value> on_chunk(const Chunk& c, time_point now,
                                          emitter& tx);

  /// `from` no longer holds the version: drops it as a source (the transfer
  /// is abandoned when none is left).
  void on_chunk_gone(const address& from, const ChunkGone& g);

  /// `from`, a source of a transfer, refused a request that lacked its
  /// cookie: later requests to it carry `c`. The first cookie from a source
  /// frees the chunks in flight of its transfers (asked again by the next
  /// pull); a changed one waits for their timeout, so a forged cookie
  /// makes us send nothing. Cookies from non-sources are ignored (counted).
  void on_chunk_cookie(const address& from, const ChunkCookie& c);

  /// The cookie `source` gave us (0 if none yet).
  uint64_t cookie_of(const address& source) const;

  /// The store took version `v` of `key`: drops a transfer or announce of
  /// an older or equal version.
  void drop_older(const std::string& key, const version& v);

  /// Earliest chunk retry or transfer timeout; time_point::max() if none.
  time_point next_deadline() const;

  /// Whether a transfer was abandoned outside check_timeouts() (superseded,
  /// source gone, hash mismatch) since the last pull() (which the core runs after start_pending()):
  /// a queued announce may start, or freed chunk slots be used, at once.
  bool has_work() const { return kicked_; }

  // -- serving -----------------------------------------------------------------

  /// Checks a chunk request from `from` against the store and, when it
  /// carries `cookie` (ours for `from`), queues the
  /// chunks on `bulk` (a retry of a chunk still queued is ignored), each
  /// charged chunk_packet_bound() against `room`, the bytes `from` may still
  /// draw: the chunks beyond it are not queued (counted "peer_bulk_budget";
  /// the requester asks again after its chunk timeout). Answers chunk_gone
  /// when we do not hold that version. A well-formed request without the
  /// cookie is answered by a ChunkCookie carrying it, when that is no larger
  /// than the request. Returns true when the request was accepted (chunks
  /// may have been queued: drain the sender).
  bool serve(const address& from, const ChunkRequest& r, uint64_t cookie,
             emitter& tx, bulk_sender& bulk, double& room);

  // -- inspection ----------------------------------------------------------------

  size_t active() const { return active_.size(); }
  size_t pending() const { return pending_.size(); }
  /// Chunks requested and not yet received or timed out, over all transfers.
  size_t inflight() const { return inflight_; }
  /// The transfer of `key` (nullptr if none).
  const transfer* find(const std::string& key) const;

  /// How long chunk `i` of `t` may stay unanswered before it is asked again.
  duration chunk_deadline(const transfer& t, uint32_t i) const;

  /// Bound on remembered source cookies; beyond it the smallest address's
  /// is forgotten (it costs that source one more round trip).
  static constexpr size_t max_cookies = 1024;
  /// Request bytes a source may be sent before a transfer's first chunk,
  /// per byte of the announces that named it, and at most.
  static constexpr uint32_t probe_factor = 3;
  static constexpr uint32_t max_probe_bytes = 8192;

private:
  void start(const std::string& key, pending_announce p, time_point now);
  void abandon(const std::string& key, const char* reason);
  /// Slow start of `t` (no chunk yet): one request if none is in flight.
  /// False when no source has probe bytes left for one chunk.
  bool probe(const std::string& key, transfer& t, time_point now,
             emitter& tx);
  void reject(const char* reason) { ++stats_.rejects[reason]; }

  const config& cfg_;
  const store& store_;
  stats& stats_;
  std::map<std::string, transfer> active_;
  std::map<std::string, pending_announce> pending_;
  std::map<address, uint64_t> cookies_; // by source, at most max_cookies
  size_t inflight_ = 0;
  bool kicked_ = false;
};

} // namespace pekonode::metadata
