#pragma once
// A hash map from interned texts (common/intern.h) to small values, for
// per-peer state that every node holds once per member: open addressing
// with linear probing over one array of (key, value) slots, at most 3/4
// full, keyed by the text's identity. No iteration: the slot order
// depends on where texts are stored, so nothing may be derived from it.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/intern.h"

namespace pekonode {

template <class V>
class interned_map {
public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// The value of `k`, or nullptr; valid until the next insert or erase.
  V* find(const interned& k) {
    if (slots_.empty() || k.empty()) return nullptr;
    auto mask = slots_.size() - 1;
    for (auto i = home(k); ; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s.first.empty()) return nullptr;
      if (s.first.same(k)) return &s.second;
    }
  }
  const V* find(const interned& k) const {
    return const_cast<interned_map*>(this)->find(k);
  }

  /// The value of `k`, inserted as V{} if absent; `k` must not be empty.
  V& operator[](const interned& k) {
    if (auto* v = find(k)) return *v;
    if (4 * (size_ + 1) > 3 * slots_.size()) grow();
    auto mask = slots_.size() - 1;
    auto i = home(k);
    while (!slots_[i].first.empty()) i = (i + 1) & mask;
    slots_[i].first = k;
    slots_[i].second = V{};
    ++size_;
    return slots_[i].second;
  }

  /// Removes `k`; false if absent.
  bool erase(const interned& k) {
    if (slots_.empty() || k.empty()) return false;
    auto mask = slots_.size() - 1;
    auto i = home(k);
    for (;; i = (i + 1) & mask) {
      if (slots_[i].first.empty()) return false;
      if (slots_[i].first.same(k)) break;
    }
    // Backward-shift deletion: no tombstones.
    for (auto j = (i + 1) & mask;; j = (j + 1) & mask) {
      auto& f = slots_[j];
      if (f.first.empty()) break;
      auto h = home(f.first);
      bool home_in_between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (home_in_between) continue;
      slots_[i] = std::move(f);
      i = j;
    }
    slots_[i] = slot{};
    --size_;
    if (size_ == 0) slots_ = std::vector<slot>(); // give the memory back
    return true;
  }

private:
  using slot = std::pair<interned, V>;

  std::size_t home(const interned& k) const {
    auto x = static_cast<uint64_t>(k.id());
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return static_cast<std::size_t>(x) & (slots_.size() - 1);
  }

  void grow() {
    std::vector<slot> old;
    old.swap(slots_);
    slots_.resize(old.empty() ? 8 : 2 * old.size());
    auto mask = slots_.size() - 1;
    for (auto& s : old) {
      if (s.first.empty()) continue;
      auto i = home(s.first);
      while (!slots_[i].first.empty()) i = (i + 1) & mask;
      slots_[i] = std::move(s);
    }
  }

  std::vector<slot> slots_;
  std::size_t size_ = 0;
};

} // namespace pekonode
