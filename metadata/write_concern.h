#pragma once
// Write concern bookkeeping of the metadata layer (replicas=K writes). On
// the writer: the writes waiting until K nodes (the writer counts as one)
// hold them, which peers were asked, which answered, retries, deadlines. On
// every node: the hold requests it owes an answer once the entry is durable
// here. Pure state with bounds; it encodes and sends nothing (the core
// builds the Hold / HoldAck messages) and reads no clock.
//
// A write's life on the writer:
//
//   start --(K-1 distinct peers ack)--> done ok
//     |  every hold_retry: ask again the targets that have not answered;
//     |  targets silent for 2 * hold_retry (or gone from the peers) are
//     |  stragglers: one untried live peer is asked per missing answer
//     +--(deadline)--> done with acked < wanted (the write stays applied)

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/intern.h"
#include "common/types.h"
#include "metadata/config.h"
#include "metadata/hlc.h"

namespace pekonode::metadata {

/// (key, version) that is durable on this node (see core::on_durable).
struct held_entry {
  std::string key;
  version ver;
};

/// A hold request to send: ask `to` to hold `key` (its current entry).
struct hold_send {
  address to;
  uint64_t id = 0;
  std::string key;
};

/// A hold acknowledgement to send.
struct hold_ack_send {
  address to;
  uint64_t id = 0;
  std::string key;
  version ver;
};

/// A write that stopped waiting for its replicas.
struct concern_done {
  uint64_t id = 0;
  std::string key;
  version ver;
  size_t acked = 0;  ///< nodes that hold it, the writer included
  size_t wanted = 0; ///< K
  bool ok() const { return acked >= wanted; }
};

/// Both sides of the write concern protocol for one node. Not thread-safe.
class write_concern {
public:
  explicit write_concern(const config& cfg) : cfg_(cfg) {}

  // -- writer side ------------------------------------------------------------

  /// Writes waiting for replicas.
  size_t pending() const { return pending_.size(); }

  /// Starts waiting until `wanted` nodes (this one included) hold
  /// (key, ver), asking wanted - 1 random peers from `peers` at once.
  /// Caller checked 2 <= wanted <= peers.size() + 1 and pending() below
  /// max_pending_writes; `id` is fresh and never 0.
  void start(uint64_t id, const std::string& key, const version& ver,
             size_t wanted, time_point deadline, time_point now,
             const std::vector<interned>& peers, std::mt19937_64& rng,
             std::vector<hold_send>& out);

  /// An acknowledgement from `from` (a live peer: the caller drops others).
  /// nullptr when counted, else the reason it was dropped ("hold_ack_...").
  const char* on_ack(const address& from, uint64_t id, const std::string& key,
                     const version& ver);

  /// Retries and deadlines due at `now`; also forgets owed holds older
  /// than hold_ttl (holder side).
  void poll(time_point now, const std::vector<interned>& peers,
            std::mt19937_64& rng, std::vector<hold_send>& out);

  /// `a` left the live peers: its unanswered requests are replaced at once
  /// (at the next poll).
  void peer_removed(const address& a, time_point now);

  /// Writes finished since the last drain.
  std::vector<concern_done> drain_done();

  // -- holder side ------------------------------------------------------------

  /// Remembers that `from` wants an acknowledgement for (key, ver) with
  /// `id` once it is durable here. nullptr when kept, else the reason it
  /// was dropped (bounds).
  const char* owe(const address& from, uint64_t id, const std::string& key,
                  const version& ver, time_point now);

  /// (key, ver) is durable here: acknowledgements owed for key at versions
  /// up to `ver` are appended to `out` and forgotten.
  void durable(const held_entry& e, std::vector<hold_ack_send>& out);

  /// Owed holds (all peers).
  size_t owed() const { return owed_.size(); }

  // -- both -------------------------------------------------------------------

  /// Earliest retry or deadline of a pending write; time_point::max() if
  /// none (owed holds expire at whatever poll comes after hold_ttl).
  time_point next_wakeup() const;

private:
  struct pending_write {
    std::string key;
    version ver;
    size_t wanted = 0;
    time_point deadline;
    time_point next_retry;
    std::map<address, time_point> asked; // unanswered target -> first asked
    std::set<address> acked;
    std::set<address> tried;             // ever asked (never asked again
                                         // as a replacement)
  };
  struct owed_hold {
    address from;
    uint64_t id = 0;
    version ver;
    time_point at;
  };

  void ask_more(pending_write& w, uint64_t id, size_t n,
                const std::vector<interned>& peers, std::mt19937_64& rng,
                time_point now, std::vector<hold_send>& out);
  void finish(std::map<uint64_t, pending_write>::iterator i);
  void forget_owed(std::multimap<std::string, owed_hold>::iterator i);

  const config& cfg_;
  std::map<uint64_t, pending_write> pending_;
  std::vector<concern_done> done_;
  std::multimap<std::string, owed_hold> owed_; // by key
  std::map<address, size_t> owed_by_peer_;
};

} // namespace pekonode::metadata
