#pragma once
// The datagram pipeline shared by every transport: outbound messages ->
// batched envelopes -> framed datagrams, and received datagram -> checked
// envelope. Pure (no CAF, no sockets), so the UDP and simulated transports put
// exactly the same bytes on their wires.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_set>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "transport/codec.h"
#include "transport/crypto.h"
#include "transport/error.h"

namespace pekonode::transport {

/// Settings of the pipeline.
struct wire_config {
  /// Node name written into every envelope (bounded by peers' max_sender).
  std::string name;
  /// Send budget per datagram in bytes, framing included. Default 1400: fits
  /// a 1500-byte Ethernet MTU with IP/UDP headers and some tunnel overhead,
  /// so datagrams are not fragmented (a lost fragment loses the datagram).
  /// Raise on jumbo-frame LANs; lower for VPNs with small MTUs.
  size_t max_datagram = 1400;
  /// Receive-side bounds (and the hard cap for oversize single messages).
  limits codec;
};

/// One framed datagram for `to`.
struct wire_datagram {
  address to;
  std::string bytes;
  size_t messages = 0;
};

/// Datagrams to send plus the number of messages that had to be dropped.
struct wire_batch {
  std::vector<wire_datagram> datagrams;
  size_t dropped = 0;
};

/// Batching, framing and checking; immutable after construction.
class wire {
public:
  wire(wire_config cfg, framer f);

  /// Packs `out` per destination into datagrams within the budget (a lone
  /// oversize message is sent when it fits the codec's hard limit).
  wire_batch prepare(const outbound_list& out) const;

  /// Unframes and decodes one received datagram, bounds first.
  result<envelope> receive(std::string_view datagram) const;

  const wire_config& config() const noexcept { return cfg_; }
  const framer& frame() const noexcept { return framer_; }

private:
  wire_config cfg_;
  framer framer_;
};

/// Remembers the nonces of the last `capacity` authenticated datagrams and
/// flags exact repeats ("replayed"). It catches duplicates and quick replays
/// only: a datagram replayed after `capacity` newer ones is accepted again
/// (there is no timestamp in the frame). Keys are the first 8 nonce bytes,
/// random and unforgeable without the key, so collisions are ~2^-48.
class replay_filter {
public:
  explicit replay_filter(size_t capacity = 16384) : capacity_(capacity) {}

  /// Records `nonce_prefix`; true if it was already among the remembered.
  bool seen(uint64_t nonce_prefix);

  size_t size() const noexcept { return order_.size(); }

private:
  size_t capacity_;
  std::unordered_set<uint64_t> set_;
  std::deque<uint64_t> order_;
};

/// Drop counters by reason, rendered as the `stats::drops` list.
class drop_counts {
public:
  void add(std::string_view reason, uint64_t n = 1) {
    counts_[std::string{reason}] += n;
  }
  void add(ec reason, uint64_t n = 1) { add(to_string(reason), n); }
  uint64_t get(std::string_view reason) const {
    auto i = counts_.find(std::string{reason});
    return i == counts_.end() ? 0 : i->second;
  }
  std::vector<std::pair<std::string, uint64_t>> snapshot() const {
    return {counts_.begin(), counts_.end()};
  }

private:
  std::map<std::string, uint64_t> counts_;
};

} // namespace pekonode::transport
