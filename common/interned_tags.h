#pragma once
// Interned tag sets: one shared, immutable, reference-counted copy per
// distinct set of (key, value) pairs in the process, and an 8-byte handle
// to it. Every node's member table holds every member's tags, and almost
// every member has none: the empty set is a static object (no allocation),
// and a simulator running thousands of nodes in one process stores each
// member's tags once instead of once per node. Not a cache: a set lives
// exactly as long as some handle refers to it.
//
// The handle reads like a `const std::map<std::string, std::string>&`:
// find, count, at, size, empty, and iteration in key order. It cannot be
// changed in place; build a std::map and assign it to replace the set.
//
// Thread-safe: handles may be created, copied and dropped on any thread.
// Equal sets give the same stored node, so == compares one pointer.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pekonode {

namespace detail {

struct tags_node {
  std::vector<std::pair<std::string, std::string>> items; // by key, unique
  uint64_t hash = 0;
  std::atomic<uint32_t> refs{0}; // 0 only for the static empty set
};

} // namespace detail

/// A handle to an interned set of tags; default-constructed, the empty set.
class interned_tags {
public:
  using key_type = std::string;
  using mapped_type = std::string;
  using value_type = std::pair<std::string, std::string>;
  using const_iterator =
    std::vector<std::pair<std::string, std::string>>::const_iterator;
  using iterator = const_iterator;
  using size_type = std::size_t;
  using map_type = std::map<std::string, std::string>;

  interned_tags() noexcept : n_(empty_node()) {}
  interned_tags(const map_type& m) : n_(acquire(m)) {}
  interned_tags(std::initializer_list<map_type::value_type> il)
    : interned_tags(map_type(il)) {}

  interned_tags(const interned_tags& other) noexcept : n_(other.n_) {
    add_ref(n_);
  }
  interned_tags(interned_tags&& other) noexcept : n_(other.n_) {
    other.n_ = empty_node();
  }
  interned_tags& operator=(const interned_tags& other) noexcept {
    add_ref(other.n_);
    release(n_);
    n_ = other.n_;
    return *this;
  }
  interned_tags& operator=(interned_tags&& other) noexcept {
    if (this != &other) {
      release(n_);
      n_ = other.n_;
      other.n_ = empty_node();
    }
    return *this;
  }
  interned_tags& operator=(const map_type& m) {
    return *this = interned_tags(m);
  }
  interned_tags& operator=(std::initializer_list<map_type::value_type> il) {
    return *this = interned_tags(map_type(il));
  }
  ~interned_tags() { release(n_); }

  size_type size() const noexcept { return n_->items.size(); }
  bool empty() const noexcept { return n_->items.empty(); }
  const_iterator begin() const noexcept { return n_->items.begin(); }
  const_iterator end() const noexcept { return n_->items.end(); }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }

  /// The pair with key `k`, or end().
  const_iterator find(std::string_view k) const noexcept;
  /// 1 if `k` is a key, else 0.
  size_type count(std::string_view k) const noexcept {
    return find(k) == end() ? 0 : 1;
  }
  /// The value of `k`; throws std::out_of_range if absent (as std::map).
  const std::string& at(std::string_view k) const;

  /// A copy as a std::map.
  map_type to_map() const { return map_type(begin(), end()); }

  /// Whether both handles refer to the same stored set (equal sets do).
  bool same(const interned_tags& other) const noexcept {
    return n_ == other.n_;
  }

  /// Bytes the pool holds for this set (0 for the empty set): its node,
  /// its index slot, its pairs and their texts past the inline buffer.
  /// What a table adds to its byte estimate per set it holds.
  std::size_t stored_bytes() const noexcept;

  /// Distinct non-empty sets held by the pool.
  static std::size_t pool_size();

private:
  static detail::tags_node* empty_node() noexcept;
  static detail::tags_node* acquire(const map_type& m);
  static void add_ref(detail::tags_node* n) noexcept {
    if (n != empty_node()) n->refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void release(detail::tags_node* n) noexcept;

  detail::tags_node* n_;
};

/// Equal sets are one stored node: one pointer comparison.
inline bool operator==(const interned_tags& a, const interned_tags& b) noexcept {
  return a.same(b);
}
inline bool operator!=(const interned_tags& a, const interned_tags& b) noexcept {
  return !a.same(b);
}
/// Against a std::map: same pairs in the same order.
bool operator==(const interned_tags& a,
                const std::map<std::string, std::string>& b) noexcept;
inline bool operator==(const std::map<std::string, std::string>& b,
                       const interned_tags& a) noexcept {
  return a == b;
}
inline bool operator!=(const interned_tags& a,
                       const std::map<std::string, std::string>& b) noexcept {
  return !(a == b);
}
inline bool operator!=(const std::map<std::string, std::string>& b,
                       const interned_tags& a) noexcept {
  return !(a == b);
}

/// Prints as `{k=v, ...}` in key order.
std::ostream& operator<<(std::ostream& os, const interned_tags& t);

} // namespace pekonode
