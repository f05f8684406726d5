#pragma once
// A set of timers, one per key, ordered by deadline: the earliest is read
// in O(1), and any timer is added, moved or removed in O(log n). It lets a
// core answer "when is my next timer due?" without walking every pending
// item after each message.
//
// Ties are broken by key (smaller first), so the order in which due timers
// come out is a pure function of the keys and deadlines: deterministic
// runs stay deterministic.

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/types.h"

namespace pekonode {

/// Indexed binary min-heap of (deadline, key), at most one entry per key.
/// Not thread-safe.
class deadline_heap {
public:
  struct item {
    time_point at;
    uint64_t key;
  };

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }

  /// Whether `key` has a timer.
  bool contains(uint64_t key) const { return pos_.count(key) != 0; }

  /// The timer of `key`; time_point::max() if none.
  time_point at(uint64_t key) const {
    auto it = pos_.find(key);
    return it == pos_.end() ? time_point::max() : heap_[it->second].at;
  }

  /// The earliest timer (smallest key among equal deadlines). Not empty().
  const item& top() const { return heap_.front(); }

  /// The earliest deadline; time_point::max() when empty.
  time_point earliest() const {
    return heap_.empty() ? time_point::max() : heap_.front().at;
  }

  /// Sets the timer of `key` to `at`, adding it if absent.
  void set(uint64_t key, time_point at) {
    auto [it, fresh] = pos_.try_emplace(key, heap_.size());
    if (fresh) {
      heap_.push_back({at, key});
      up(heap_.size() - 1);
      return;
    }
    auto i = it->second;
    auto old = heap_[i].at;
    heap_[i].at = at;
    if (at < old) up(i);
    else down(i);
  }

  /// Removes the timer of `key`; false if it had none.
  bool erase(uint64_t key) {
    auto it = pos_.find(key);
    if (it == pos_.end()) return false;
    auto i = it->second;
    pos_.erase(it);
    auto last = heap_.size() - 1;
    if (i != last) {
      heap_[i] = heap_[last];
      pos_[heap_[i].key] = i;
      heap_.pop_back();
      // The moved item may belong above or below its new slot.
      if (i > 0 && less(heap_[i], heap_[(i - 1) / 2])) up(i);
      else down(i);
    } else {
      heap_.pop_back();
    }
    return true;
  }

  /// Removes the earliest timer. Not empty().
  void pop() { erase(heap_.front().key); }

  void clear() {
    heap_.clear();
    pos_.clear();
  }

  /// Whether the heap order and the key index agree everywhere (for
  /// tests); O(n).
  bool valid() const {
    if (pos_.size() != heap_.size()) return false;
    for (std::size_t i = 0; i < heap_.size(); ++i) {
      auto it = pos_.find(heap_[i].key);
      if (it == pos_.end() || it->second != i) return false;
      if (i > 0 && less(heap_[i], heap_[(i - 1) / 2])) return false;
    }
    return true;
  }

private:
  static bool less(const item& a, const item& b) {
    return a.at < b.at || (a.at == b.at && a.key < b.key);
  }

  void place(std::size_t i, item x) {
    heap_[i] = x;
    pos_[x.key] = i;
  }

  void up(std::size_t i) {
    auto x = heap_[i];
    while (i > 0) {
      auto parent = (i - 1) / 2;
      if (!less(x, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, x);
  }

  void down(std::size_t i) {
    auto x = heap_[i];
    auto n = heap_.size();
    for (;;) {
      auto child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap_[child + 1], heap_[child])) ++child;
      if (!less(heap_[child], x)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, x);
  }

  std::vector<item> heap_;
  std::unordered_map<uint64_t, std::size_t> pos_; // key -> index in heap_
};

} // namespace pekonode
