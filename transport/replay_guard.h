#pragma once
// Replay protection of encrypted datagrams: decides, from a frame's
// authenticated header (crypto.h frame_header), whether this node has
// already taken that datagram or must refuse it as too old. Pure: the caller
// passes its wall clock reading and checks the destination itself; no
// clock, no socket, no CAF. Not a defence for plaintext clusters, whose
// frames carry no header an attacker cannot write.
//
// A datagram is taken when all of these hold:
//   1. it was sealed for this node's address (the caller checks);
//   2. its sender time lies within max_skew of our clock, both ways;
//   3. its sender time is not before its sender state's floor: our start
//      time, raised past the newest time of any sender state evicted (so a
//      datagram sealed before this node started, or one an evicted state
//      had taken, is refused even while it is young);
//   4. its (sender name, epoch) state has not taken its sequence number,
//      and the number is within `window` of the highest one taken.
// State is created only for authenticated datagrams that pass 2-3, so a
// party without the key creates none; replays never move a window, so no
// flood of them flushes it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pekonode::transport {

/// Knobs of the replay guard.
struct replay_config {
  /// Largest difference, either way, between a datagram's sender time and
  /// our wall clock. Default 10 s: NTP keeps clocks within milliseconds, so
  /// this tolerates a badly synchronised host; nodes whose clocks differ by
  /// more cannot talk (every datagram counted `stale`). Larger values keep a
  /// captured datagram alive longer in the one case the other rules do not
  /// cover (docs/SECURITY.md, "Replays").
  uint64_t max_skew_ms = 10'000;
  /// Sequence numbers per sender remembered below the highest one taken.
  /// Default 4096 (512 bytes per sender): a datagram overtaken by more than
  /// that many later ones of its sender (to any node) is refused as a
  /// replay, so it bounds reordering, not throughput. Rounded up to a
  /// multiple of 64, at least 64.
  uint64_t window = 4096;
  /// Senders (name, epoch) tracked at once. Default 1024 (~0.6 MiB); beyond
  /// it the state whose newest datagram is oldest is evicted and the floor
  /// of new states is raised past that datagram's time.
  size_t max_senders = 1024;
};

/// Verdict for one datagram.
enum class replay_verdict {
  accept,
  stale,    ///< sender time outside the skew window or before the floor
  replayed, ///< sequence number taken before, or below the window
};

/// The per-node replay guard; see the header comment for the rules.
class replay_guard {
public:
  /// `start_ms`: this node's wall clock at start (the initial floor).
  replay_guard(replay_config cfg, uint64_t start_ms);

  /// Judges a datagram from `sender` (its envelope name) and records it
  /// when accepted.
  replay_verdict check(std::string_view sender, uint64_t epoch, uint64_t seq,
                       uint64_t sent_ms, uint64_t now_ms);

  size_t senders() const noexcept { return states_.size(); }
  uint64_t floor_ms() const noexcept { return floor_ms_; }
  uint64_t evictions() const noexcept { return evictions_; }
  const replay_config& config() const noexcept { return cfg_; }

private:
  struct sender_state {
    uint64_t floor_ms = 0;      // datagrams sealed earlier are refused
    uint64_t max_seq = 0;       // highest sequence number taken (0: none)
    uint64_t newest_ms = 0;     // newest sender time taken
    std::vector<uint64_t> bits; // window bitmap, indexed by seq % window
  };

  bool test_and_set(sender_state& st, uint64_t seq);
  void evict_one();

  replay_config cfg_;
  uint64_t floor_ms_;
  uint64_t evictions_ = 0;
  std::unordered_map<std::string, sender_state> states_;
};

} // namespace pekonode::transport
