#pragma once
// The rate-limited sender of the metadata layer's bulk traffic: anti-entropy
// pushes and served chunks wait here, in arrival order, until a token bucket
// (max_bulk_bytes_per_sec) admits them, so bulk never starves membership
// traffic. It schedules work the protocol already decided; it does not read
// the store or build packets.
//
// Why payloads are made at send time by an encoder, not carried by the
// items: a push must carry the key's newest entry when it leaves, and a
// chunk of a version superseded while queued must not leave at all; queued
// items stay ~100 bytes instead of a packet each (65536 of them would pin
// ~80 MB); and how many consecutive pushes share a packet depends on their
// encoded sizes at that moment. The sender stays free of protobuf and is
// tested with a fake encoder.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "common/token_bucket.h"
#include "common/types.h"
#include "metadata/hlc.h"

namespace pekonode::metadata {

/// One chunk a peer asked for: bytes [index * chunk_size, +chunk_size) of
/// `key` at version `ver`.
struct chunk_job {
  std::string key;
  version ver;
  uint32_t index = 0;
  uint32_t chunk_size = 0;
};

/// Makes the payloads the sender admits, at the moment it admits them, and
/// appends them to the outbound list it was made for. Each call returns the
/// bytes it appended (0: nothing sent, nothing spent).
class bulk_encoder {
public:
  virtual ~bulk_encoder() = default;

  /// Sends chunk `c` to `to`, unless its version is gone.
  virtual size_t send_chunk(const address& to, const chunk_job& c) = 0;

  /// Adds `key` to the push packet being built; false (nothing added) when
  /// it does not fit. A key no longer held counts as added (nothing to send).
  virtual bool add_push(const std::string& key) = 0;

  /// Sends the push packet being built to `to` (nothing if it is empty) and
  /// starts a new one.
  virtual size_t send_push(const address& to) = 0;
};

/// Outcome of queueing one item.
enum class bulk_enqueue : uint8_t {
  queued,
  duplicate, ///< the same item is queued already: it will be sent
  full,      ///< max_bulk_queue reached: dropped, left to retries and rounds
};

/// FIFO of pushes and chunks behind a token bucket. Not thread-safe.
class bulk_sender {
public:
  /// `bytes_per_sec` refills the bucket up to max(4 packets, 1/20 s of
  /// rate); an item leaves only while a whole `max_packet` is available, so
  /// no packet overdraws the bucket. At most `max_queue` items wait.
  bulk_sender(uint64_t bytes_per_sec, size_t max_packet, size_t max_queue)
    : rate_(bytes_per_sec), packet_(max_packet), max_queue_(max_queue) {}

  /// Starts the bucket at `now` with 4 packets' worth of tokens. Call once,
  /// before the first drain().
  void start(time_point now);

  /// Queues a push of `key`'s current entry to `to`.
  bulk_enqueue push(const address& to, const std::string& key);

  /// Queues chunk `c` for `to`.
  bulk_enqueue chunk(const address& to, chunk_job c);

  /// Refills the bucket and sends queued items in order while it admits a
  /// packet. Consecutive pushes to one peer share a packet while the
  /// encoder accepts them; a chunk always goes alone.
  void drain(time_point now, bulk_encoder& enc);

  /// When drain() can next send: time_point::max() with nothing queued.
  time_point next_wakeup() const;

  size_t size() const { return queue_.size(); }
  bool empty() const { return queue_.empty(); }
  /// Tokens (bytes) in the bucket at the last refill.
  double tokens() const { return bucket_.tokens(); }

private:
  struct item {
    address to;
    bool is_chunk = false;
    chunk_job job; // a push uses job.key only
  };

  uint64_t rate_;
  size_t packet_;
  size_t max_queue_;
  token_bucket bucket_;
  std::deque<item> queue_;
  std::set<std::pair<address, std::string>> queued_pushes_;
  // (requester, key, chunk index) queued: a retry of a chunk not yet sent is
  // ignored instead of queueing it twice.
  std::set<std::tuple<address, std::string, uint32_t>> queued_chunks_;
};

} // namespace pekonode::metadata
