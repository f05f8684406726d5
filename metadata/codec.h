#pragma once
// Message helpers of the metadata layer: version conversion, the inline or
// announce choice for an entry, packing entries into one packet, chunk sizes
// and chunk bodies, and the emitter that serialises, bounds and counts every
// outbound message. Protocol decisions (what to send, to whom, when) live in
// the modules that call these; nothing here keeps state between packets.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/types.h"
#include "metadata/config.h"
#include "metadata/metadata.pb.h"
#include "metadata/store.h"

namespace pekonode::metadata {

/// Room a chunk packet needs besides its data: key (bounded by
/// max_key_bytes), origin (bounded by max_origin_bytes) and up to 80 bytes of
/// tags, lengths, varints and fixed fields (measured worst case: ~62).
inline constexpr size_t chunk_fixed_overhead = 80;
/// Smallest chunk size a server accepts in a request.
inline constexpr uint32_t min_chunk_size = 64;
/// Most chunk indices one request may carry (a requester asks at most
/// pull_window chunks of a transfer at once, 32 by default): what one
/// request can draw is bounded before any budget applies.
inline constexpr size_t max_indices_per_request = 64;

void set_version(Version* out, const version& v);
version get_version(const Version& v);

/// Bytes a Message's body (Updates, Ack2, Want) may take: the Message
/// wrapper adds at most 1 tag + 3 length bytes, so 8 leaves slack.
constexpr size_t body_budget(size_t max_packet) { return max_packet - 8; }

/// Whether `e` rides inline (an Entry) rather than as an Announce: tombstones
/// always; values up to cfg.inline_threshold whose encoded entry alone fits
/// body_budget(), the bound rumour and push packing apply (an inline entry
/// that could never be packed would be sent once and never retransmitted).
bool fits_inline(const config& cfg, const std::string& key, const entry& e);

/// Upper bound of a chunk request for one chunk of (key, origin) with a
/// cookie: key + origin + 48 bytes.
size_t probe_request_bound(const std::string& key, const std::string& origin);

/// Bytes an Announce of (key, origin) is padded to: twice
/// probe_request_bound, so that the 3x its bytes a receiver may ask its
/// source before the first chunk (transfers.h, slow start) holds six
/// requests; at most body_budget(max_packet) - 16.
size_t announce_target_bytes(const config& cfg, const std::string& key,
                             const std::string& origin);

/// Appends `key`'s entry to `u`: the whole Entry when it fits_inline, else
/// an Announce (key, version, size, hash), padded to
/// announce_target_bytes, for the receiver to pull.
void add_to_updates(Updates& u, const config& cfg, const std::string& key,
                    const entry& e);

/// Chunk size both ends derive for (key, version): what fits one packet of
/// `max_packet` bytes after chunk_fixed_overhead, at least min_chunk_size.
uint32_t chunk_size_for(size_t max_packet, const std::string& key,
                        const version& v);

/// Upper bound of the bytes a chunk packet of `chunk_size` for (key, v)
/// takes: what serving it is charged against the requester's budget.
size_t chunk_packet_bound(uint32_t chunk_size, const std::string& key,
                          const version& v);

/// Upper bound of the bytes `key`'s entry adds to a push (inline or as an
/// announce): what queueing its push is charged against the peer's budget.
size_t update_bound(const config& cfg, const std::string& key, const entry& e);

/// Chunk `index` of `e` (stored under `key`), cut at `chunk_size` bytes.
/// The caller checked that the index is in range.
Message make_chunk(const std::string& key, const entry& e, uint32_t index,
                   uint32_t chunk_size);

/// Packs entries into one Updates body of at most body_budget() bytes, in
/// the order offered. Sizes are exact (each entry's own encoding).
class updates_packer {
public:
  explicit updates_packer(const config& cfg)
    : cfg_(cfg), budget_(body_budget(cfg.max_packet)) {}

  /// Adds `key`'s entry if it still fits; false (nothing added) if not.
  bool add(const std::string& key, const entry& e);

  bool empty() const { return used_ == 0; }
  size_t used() const { return used_; }

  /// Moves the packed body out as a rumour or a push; the packer is empty
  /// afterwards.
  Message take_rumour();
  Message take_push();

private:
  const config& cfg_;
  size_t budget_;
  size_t used_ = 0;
  Updates body_;
};

/// Serialises messages into an outbound list (channel::metadata), drops any
/// above max_packet (a bug: sizes are computed before building) and counts
/// bytes and messages by kind, and rejects by reason, in `counters`.
/// Optionally caps the bytes sent to one address (a reply budget).
class emitter {
public:
  emitter(size_t max_packet, stats& counters, outbound_list& out)
    : max_packet_(max_packet), stats_(counters), out_(out) {}

  /// Appends `m` for `to`; returns its size in bytes, 0 if it was dropped.
  size_t send(const address& to, const Message& m, const char* kind);

  /// From now on, messages to `to` are sent only while their total stays
  /// within `bytes`; any that would exceed it is dropped and counted as
  /// "peer_budget". Messages to other addresses are not affected.
  void cap(const address& to, double bytes) {
    capped_ = to;
    cap_ = bytes;
    capped_sent_ = 0;
    capped_msgs_ = 0;
    capped_out_ = false;
  }

  /// Bytes and messages sent to the capped address since cap().
  size_t capped_sent() const { return capped_sent_; }
  size_t capped_msgs() const { return capped_msgs_; }

  /// Whether a message to the capped address was dropped for the cap:
  /// loops building further replies to it can stop.
  bool capped_out() const { return capped_out_; }

  /// Counts one dropped input by reason.
  void reject(const char* reason) { ++stats_.rejects[reason]; }

  stats& counters() { return stats_; }

private:
  size_t max_packet_;
  stats& stats_;
  outbound_list& out_;
  address capped_;
  double cap_ = 0;
  size_t capped_sent_ = 0;
  size_t capped_msgs_ = 0;
  bool capped_out_ = false;
};

} // namespace pekonode::metadata
