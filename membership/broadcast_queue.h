#pragma once
// Transmit-limited queue of pre-encoded member updates for piggybacking:
// fewest-transmits first, then newest; one entry per member name (a newer
// update invalidates the older one). Not aware of the protocol's precedence
// rules: the core only enqueues updates that changed its view.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pekonode::membership {

class broadcast_queue {
public:
  /// Queues `bytes` (an encoded Update) for member `key`, replacing any
  /// queued update about the same member. O(log n).
  void push(const std::string& key, std::string bytes);

  /// Takes updates in priority order while the cost of each (as computed by
  /// `cost(bytes.size())`, monotonic in the size) fits in `budget`; each
  /// taken update's transmit count grows and it is dropped once it reaches
  /// `limit`. Updates larger than the remaining budget are skipped, not
  /// blocking smaller ones. Cost: O((taken + skipped) log n): the scan stops
  /// once the budget is below the smallest queued update or after max_skips
  /// consecutive misfits, never O(queue size) per packet.
  template <class Cost>
  std::vector<std::string> take(std::size_t budget, int limit, Cost cost);

  /// Like take(), but hands each taken update to `sink(const std::string&)`
  /// in the same order instead of copying it into a vector.
  template <class Cost, class Sink>
  void take_each(std::size_t budget, int limit, Cost cost, Sink sink);

  /// The queued update with the largest size that exceeds `over` bytes, if
  /// any; counted as one transmit. Used to ship large updates alone.
  /// O(log n).
  bool take_oversize(std::size_t over, int limit, std::string& out);

  /// Drops the queued update about `key`, if any.
  void erase(const std::string& key);

  std::size_t size() const { return by_key_.size(); }
  bool empty() const { return by_key_.empty(); }

private:
  struct entry {
    const std::string* key = nullptr; // the by_key_ node's key
    std::string bytes;
    int transmits = 0;
    uint64_t id = 0;
  };
  // Priority order: fewest transmits, then newest (largest id) first. The
  // entry pointer is stable (unordered_map nodes never move), so a transmit
  // only re-keys this small tuple: no string is copied or compared.
  using order_key = std::tuple<int, uint64_t, entry*>; // (transmits, ~id, e)
  std::set<order_key> queue_;
  std::unordered_map<std::string, entry> by_key_;
  // (size, id, e) of every queued update: smallest and largest in O(log n).
  std::set<std::tuple<std::size_t, uint64_t, entry*>> by_size_;
  uint64_t next_id_ = 1;

  /// Consecutive too-large updates take() skips before giving up on a packet.
  static constexpr int max_skips = 16;

  void bump(entry* e, int limit);
};

template <class Cost>
std::vector<std::string> broadcast_queue::take(std::size_t budget, int limit,
                                               Cost cost) {
  std::vector<std::string> result;
  take_each(budget, limit, cost,
            [&result](const std::string& u) { result.push_back(u); });
  return result;
}

template <class Cost, class Sink>
void broadcast_queue::take_each(std::size_t budget, int limit, Cost cost,
                                Sink sink) {
  // Taken entries are bumped after the scan: a bump re-keys an entry in
  // queue_, which would move it under the iterator.
  std::vector<entry*> taken;
  int skips = 0;
  for (auto it = queue_.begin(); it != queue_.end() && budget > 0; ++it) {
    if (by_size_.empty() || cost(std::get<0>(*by_size_.begin())) > budget) break;
    entry* e = std::get<2>(*it);
    auto c = cost(e->bytes.size());
    if (c > budget) {
      if (++skips > max_skips) break;
      continue;
    }
    skips = 0;
    budget -= c;
    sink(static_cast<const std::string&>(e->bytes));
    taken.push_back(e);
  }
  for (auto* e : taken) bump(e, limit);
}

} // namespace pekonode::membership
