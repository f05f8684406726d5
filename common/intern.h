#pragma once
// Interned strings: one shared, reference-counted copy per distinct text in
// the process, and an 8-byte handle to it. Member names and addresses are
// held by every node's member table; a simulator runs thousands of nodes in
// one process, so each text is stored once instead of once per node (and
// a real node stores it once across its layers). Not a cache: a text lives
// exactly as long as some handle refers to it, so the pool never holds more
// than the tables that use it (a flood of names cannot grow it beyond their
// budgets). The handle reads like a `const std::string&`.
//
// Thread-safe: handles may be created, copied and dropped on any thread.
// Equal texts give equal handles; order and hash are those of the text, so
// nothing observable depends on where a text is stored.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <type_traits>

namespace pekonode {

namespace detail {

struct intern_node {
  std::string text;
  std::atomic<uint32_t> refs{0}; // 0 only for the static empty text
};

} // namespace detail

/// A handle to an interned text; default-constructed, the empty text.
class interned {
public:
  interned() noexcept : n_(empty_node()) {}
  interned(std::string_view s) : n_(acquire(s)) {}
  interned(const std::string& s) : n_(acquire(s)) {}
  interned(const char* s) : n_(acquire(std::string_view(s))) {}

  interned(const interned& other) noexcept : n_(other.n_) { add_ref(n_); }
  interned(interned&& other) noexcept : n_(other.n_) {
    other.n_ = empty_node();
  }
  interned& operator=(const interned& other) noexcept {
    add_ref(other.n_);
    release(n_);
    n_ = other.n_;
    return *this;
  }
  // A swap: the moved-from handle keeps this one's old text until it is
  // dropped. Sorted vectors of handles shift by move assignment, so an
  // insert is a run of pointer swaps, not of reference-count updates.
  interned& operator=(interned&& other) noexcept {
    auto* n = n_;
    n_ = other.n_;
    other.n_ = n;
    return *this;
  }
  interned& operator=(std::string_view s) { return *this = interned(s); }
  interned& operator=(const std::string& s) { return *this = interned(s); }
  interned& operator=(const char* s) { return *this = interned(s); }
  ~interned() { release(n_); }

  const std::string& str() const noexcept { return n_->text; }
  operator const std::string&() const noexcept { return n_->text; }
  operator std::string_view() const noexcept { return n_->text; }

  const char* c_str() const noexcept { return n_->text.c_str(); }
  const char* data() const noexcept { return n_->text.data(); }
  std::size_t size() const noexcept { return n_->text.size(); }
  std::size_t length() const noexcept { return n_->text.size(); }
  bool empty() const noexcept { return n_->text.empty(); }
  char operator[](std::size_t i) const noexcept { return n_->text[i]; }
  std::string::const_iterator begin() const noexcept {
    return n_->text.begin();
  }
  std::string::const_iterator end() const noexcept { return n_->text.end(); }
  int compare(std::string_view s) const noexcept {
    return std::string_view(n_->text).compare(s);
  }

  /// Whether both handles refer to the same stored text (equal texts do).
  bool same(const interned& other) const noexcept { return n_ == other.n_; }
  /// Identity of the stored text: equal for equal texts while both are
  /// held. For hash tables that are never iterated (the value depends on
  /// where the text was stored).
  std::uintptr_t id() const noexcept {
    return reinterpret_cast<std::uintptr_t>(n_);
  }

  /// Distinct texts held by the pool (the empty text excluded).
  static std::size_t pool_size();
  /// Bytes the pool holds for one distinct text of `n` bytes (its node,
  /// its index slot, and the text when longer than the inline buffer):
  /// what a table adds to its byte estimate per text it holds.
  static std::size_t stored_bytes(std::size_t n);

private:
  static detail::intern_node* empty_node() noexcept {
    static detail::intern_node* const n = new_empty_node();
    return n;
  }
  static detail::intern_node* new_empty_node();
  static detail::intern_node* acquire(std::string_view s);
  static void add_ref(detail::intern_node* n) noexcept {
    if (n != empty_node()) n->refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void release(detail::intern_node* n) noexcept {
    if (n != empty_node()) release_text(n);
  }
  static void release_text(detail::intern_node* n) noexcept;

  detail::intern_node* n_;
};

// Operators take an `interned` only as a deduced template argument, so
// they never apply through a conversion (std::string == std::string_view
// stays the standard library's).
template <class I>
using if_interned = std::enable_if_t<std::is_same_v<I, interned>, bool>;

template <class I, if_interned<I> = true>
bool operator==(const I& a, const I& b) noexcept {
  return a.same(b) || a.str() == b.str();
}
template <class I, if_interned<I> = true>
bool operator!=(const I& a, const I& b) noexcept {
  return !(a == b);
}
template <class I, if_interned<I> = true>
bool operator<(const I& a, const I& b) noexcept {
  return a.str() < b.str();
}
template <class I, if_interned<I> = true>
bool operator>(const I& a, const I& b) noexcept {
  return b < a;
}
template <class I, if_interned<I> = true>
bool operator<=(const I& a, const I& b) noexcept {
  return !(b < a);
}
template <class I, if_interned<I> = true>
bool operator>=(const I& a, const I& b) noexcept {
  return !(a < b);
}

#define PEKONODE_INTERNED_CMP(T)                                              \
  template <class I, if_interned<I> = true>                                   \
  bool operator==(const I& a, T b) noexcept {                                \
    return std::string_view(a) == std::string_view(b);                       \
  }                                                                           \
  template <class I, if_interned<I> = true>                                   \
  bool operator==(T b, const I& a) noexcept {                                \
    return std::string_view(a) == std::string_view(b);                       \
  }                                                                           \
  template <class I, if_interned<I> = true>                                   \
  bool operator!=(const I& a, T b) noexcept {                                \
    return std::string_view(a) != std::string_view(b);                       \
  }                                                                           \
  template <class I, if_interned<I> = true>                                   \
  bool operator!=(T b, const I& a) noexcept {                                \
    return std::string_view(a) != std::string_view(b);                       \
  }                                                                           \
  template <class I, if_interned<I> = true>                                   \
  bool operator<(const I& a, T b) noexcept {                                 \
    return std::string_view(a) < std::string_view(b);                        \
  }                                                                           \
  template <class I, if_interned<I> = true>                                   \
  bool operator<(T b, const I& a) noexcept {                                 \
    return std::string_view(b) < std::string_view(a);                        \
  }
PEKONODE_INTERNED_CMP(std::string_view)
PEKONODE_INTERNED_CMP(const std::string&)
PEKONODE_INTERNED_CMP(const char*)
#undef PEKONODE_INTERNED_CMP

template <class I, if_interned<I> = true>
std::string operator+(const I& a, std::string_view b) {
  std::string r(a.str());
  r.append(b.data(), b.size());
  return r;
}
template <class I, if_interned<I> = true>
std::string operator+(std::string_view a, const I& b) {
  std::string r(a);
  r += b.str();
  return r;
}
template <class I, if_interned<I> = true>
std::string operator+(const I& a, const char* b) {
  return a + std::string_view(b);
}
template <class I, if_interned<I> = true>
std::string operator+(const char* a, const I& b) {
  return std::string_view(a) + b;
}
template <class I, if_interned<I> = true>
std::string operator+(const I& a, const std::string& b) {
  return a + std::string_view(b);
}
template <class I, if_interned<I> = true>
std::string operator+(const std::string& a, const I& b) {
  return std::string_view(a) + b;
}

std::ostream& operator<<(std::ostream& os, const interned& s);

} // namespace pekonode

namespace std {
template <>
struct hash<pekonode::interned> {
  std::size_t operator()(const pekonode::interned& s) const noexcept {
    return std::hash<std::string_view>()(s);
  }
};
} // namespace std
