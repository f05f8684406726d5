#pragma once
// The datagram pipeline shared by every transport: outbound messages ->
// batched envelopes -> framed datagrams, and received datagram -> checked
// envelope. Pure (no CAF, no sockets), so the UDP and simulated transports put
// exactly the same bytes on their wires.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "transport/codec.h"
#include "transport/crypto.h"
#include "transport/error.h"
#include "transport/replay_guard.h"

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
  /// Replay protection of encrypted frames (replay_guard.h).
  replay_config replay;
  /// This process's boot epoch, sealed into every encrypted frame. 0: the
  /// transport draws one at start (random_epoch()); a node with stored
  /// state passes its stored boot epoch.
  uint64_t epoch = 0;
};

/// One datagram for `to`: its envelope after wire::prepare, its frame after
/// wire::seal.
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

  /// Packs `out` per destination into envelopes within the budget (a lone
  /// oversize message is sent when it fits the codec's hard limit); the
  /// bytes are not framed yet: seal each once its destination is known.
  wire_batch prepare(const outbound_list& out) const;

  /// Frames one envelope for `dest` (the canonical address it is sent to),
  /// with sequence number `seq` and sender time `sent_ms`.
  result<std::string> seal(std::string_view envelope, const address& dest,
                           uint64_t seq, uint64_t sent_ms) const;

  /// Unframes and decodes one received datagram, bounds first; `h` (if
  /// given) receives the frame header of an encrypted datagram.
  result<envelope> receive(std::string_view datagram,
                           frame_header* h = nullptr) const;

  const wire_config& config() const noexcept { return cfg_; }
  const framer& frame() const noexcept { return framer_; }
  /// Replaces the keys of an encrypted framer (see framer::set_keys).
  bool set_keys(keyring keys) { return framer_.set_keys(std::move(keys)); }

private:
  wire_config cfg_;
  framer framer_;
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
