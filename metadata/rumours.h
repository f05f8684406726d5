#pragma once
// The transmit-limited rumour queue of the metadata layer: which keys are
// still being gossiped, how often each was sent, and in what order the next
// packet takes them. It neither picks peers nor builds packets (the core
// does, with the codec); it reads the store only to drop superseded rumours.
//
// A rumour lives until it has been sent `limit` times, or until the store no
// longer holds its version (a newer write or a collected tombstone):
//
//   push(key, v) --> queued (sent = 0) --sent()--> ... --sent() x limit--> gone
//                      |  push(key, newer v): replaced, sent = 0
//                      +- store moved past v: dropped at the next pack()

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "metadata/hlc.h"
#include "metadata/store.h"

namespace pekonode::metadata {

/// Transmissions per rumour per node: mult * ceil(log10(N + 1)) with N =
/// live peers + 1 (at least mult), about λ·log N as in memberlist.
unsigned retransmit_limit(unsigned mult, size_t live_peers);

/// Keys being gossiped with their version and transmission count. Not
/// thread-safe; owned by one core.
class rumour_queue {
public:
  /// Holds at most `max_rumours`; beyond it the most-sent, oldest rumours
  /// are evicted first (they have done most of their work).
  explicit rumour_queue(size_t max_rumours) : max_(max_rumours) {}

  /// Starts (or restarts) the rumour of `key` at version `v`, replacing any
  /// rumour of an older version. Returns how many rumours were evicted to
  /// stay within the bound (0 or 1).
  size_t push(const std::string& key, const version& v);

  /// Whether `key` is queued with exactly version `v`.
  bool holds(const std::string& key, const version& v) const;

  /// Counts one transmission of `key`; at `limit` it leaves the queue.
  void sent(const std::string& key, unsigned limit);

  /// Drops rumours whose version the store no longer holds.
  void drop_superseded(const store& s);

  /// One packet's worth for a gossip tick: offers the queued rumours to
  /// `take(key, entry)` fewest transmissions first, newest first among
  /// equals; `take` returns false when that one does not fit (a smaller one
  /// may still). Returns the keys taken, in offer order. Call
  /// drop_superseded() first: every queued version must be in the store.
  std::vector<std::string> pack(
    const store& s,
    const std::function<bool(const std::string&, const entry&)>& take) const;

  bool empty() const { return rumours_.empty(); }
  size_t size() const { return rumours_.size(); }
  /// Transmissions so far of `key`'s rumour (0 if not queued).
  unsigned sends(const std::string& key) const;

private:
  struct rumour {
    version ver;
    unsigned sent = 0;
    uint64_t seq = 0; // push order: higher is newer
  };

  size_t max_;
  std::map<std::string, rumour> rumours_;
  uint64_t seq_ = 0;
};

} // namespace pekonode::metadata
