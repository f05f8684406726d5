#pragma once
// Transmit-limited queue of pre-encoded member updates for piggybacking:
// fewest-transmits first, then newest; one entry per member name (a newer
// update invalidates the older one). Not aware of the protocol's precedence
// rules: the core only enqueues updates that changed its view.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace pekonode::membership {

class broadcast_queue {
public:
  /// Queues `bytes` (an encoded Update) for member `key`, replacing any
  /// queued update about the same member.
  void push(const std::string& key, std::string bytes);

  /// Takes updates in priority order while the cost of each (as computed by
  /// `cost(bytes.size())`) fits in `budget`; each taken update's transmit
  /// count grows and it is dropped once it reaches `limit`. Updates larger
  /// than the remaining budget are skipped, not blocking smaller ones.
  template <class Cost>
  std::vector<std::string> take(std::size_t budget, int limit, Cost cost);

  /// The queued update with the largest size that exceeds `over` bytes, if
  /// any; counted as one transmit. Used to ship large updates alone.
  bool take_oversize(std::size_t over, int limit, std::string& out);

  /// Drops the queued update about `key`, if any.
  void erase(const std::string& key);

  std::size_t size() const { return by_key_.size(); }
  bool empty() const { return by_key_.empty(); }

private:
  struct entry {
    std::string key;
    std::string bytes;
    int transmits = 0;
    uint64_t id = 0;
  };
  // Order: fewest transmits, then newest (largest id) first.
  using order_key = std::tuple<int, uint64_t>; // (transmits, ~id)
  std::map<order_key, entry> queue_;
  std::map<std::string, order_key> by_key_;
  uint64_t next_id_ = 1;

  void bump(std::map<order_key, entry>::iterator it, int limit);
};

template <class Cost>
std::vector<std::string> broadcast_queue::take(std::size_t budget, int limit,
                                               Cost cost) {
  std::vector<std::string> result;
  std::vector<order_key> taken;
  for (auto it = queue_.begin(); it != queue_.end() && budget > 0; ++it) {
    auto c = cost(it->second.bytes.size());
    if (c > budget) continue;
    budget -= c;
    result.push_back(it->second.bytes);
    taken.push_back(it->first);
  }
  for (auto& k : taken) bump(queue_.find(k), limit);
  return result;
}

} // namespace pekonode::membership
