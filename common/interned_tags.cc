#include "common/interned_tags.h"

#include <algorithm>
#include <mutex>
#include <ostream>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "common/pool_ref.h"
#include "common/siphash.h"

namespace pekonode {

namespace {

// The pool's index: keyed hash of the pairs → nodes with that hash. Tags
// are chosen by peers, so the hash is keyed (SipHash, random key) lest
// they be made to collide; the key only shapes the index.
struct tags_pool {
  std::mutex mtx;
  uint64_t k0, k1;
  std::unordered_multimap<uint64_t, detail::tags_node*> index;

  tags_pool() {
    std::random_device rd;
    auto word = [&] { return (uint64_t{rd()} << 32) | rd(); };
    k0 = word();
    k1 = word();
  }

  uint64_t hash(const std::map<std::string, std::string>& m) const {
    // Length-prefixed keys and values, so no two sets serialise alike.
    std::string buf;
    auto put = [&buf](const std::string& s) {
      auto n = static_cast<uint64_t>(s.size());
      for (int i = 0; i < 8; ++i) buf.push_back(static_cast<char>(n >> (8 * i)));
      buf += s;
    };
    for (auto& [k, v] : m) {
      put(k);
      put(v);
    }
    return siphash13(k0, k1, buf);
  }
};

// Never destroyed: handles in static objects may outlive any destructor
// order.
tags_pool& the_pool() {
  static tags_pool* p = new tags_pool;
  return *p;
}

bool same_pairs(const detail::tags_node& n,
                const std::map<std::string, std::string>& m) {
  return n.items.size() == m.size()
         && std::equal(n.items.begin(), n.items.end(), m.begin(),
                       [](const auto& a, const auto& b) {
                         return a.first == b.first && a.second == b.second;
                       });
}

} // namespace

detail::tags_node* interned_tags::empty_node() noexcept {
  static detail::tags_node* n = new detail::tags_node;
  return n;
}

detail::tags_node* interned_tags::acquire(const map_type& m) {
  if (m.empty()) return empty_node();
  auto& p = the_pool();
  auto h = p.hash(m);
  std::lock_guard<std::mutex> guard(p.mtx);
  auto [lo, hi] = p.index.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    if (same_pairs(*it->second, m)) {
      it->second->refs.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  auto* n = new detail::tags_node;
  try {
    n->items.assign(m.begin(), m.end());
    n->hash = h;
    n->refs.store(1, std::memory_order_relaxed);
    p.index.emplace(h, n);
  } catch (...) {
    delete n;
    throw;
  }
  return n;
}

void interned_tags::release(detail::tags_node* n) noexcept {
  if (n == empty_node()) return;
  auto& p = the_pool();
  if (detail::drop_pooled_ref(n->refs, p.mtx, [&] {
        auto [lo, hi] = p.index.equal_range(n->hash);
        for (auto it = lo; it != hi; ++it) {
          if (it->second == n) {
            p.index.erase(it);
            break;
          }
        }
      }))
    delete n;
}

interned_tags::const_iterator
interned_tags::find(std::string_view k) const noexcept {
  auto& v = n_->items;
  auto it = std::lower_bound(v.begin(), v.end(), k,
                             [](const value_type& p, std::string_view key) {
                               return std::string_view(p.first) < key;
                             });
  return it != v.end() && it->first == k ? it : v.end();
}

const std::string& interned_tags::at(std::string_view k) const {
  auto it = find(k);
  if (it == end()) throw std::out_of_range("interned_tags::at: no such key");
  return it->second;
}

std::size_t interned_tags::stored_bytes() const noexcept {
  if (n_ == empty_node()) return 0;
  // The node and its allocation, the index node and its bucket, the pair
  // array, and each text's allocation past the 15-byte inline buffer.
  auto text = [](const std::string& s) {
    return s.size() > 15 ? s.size() + 1 + 16 : 0;
  };
  std::size_t b = sizeof(detail::tags_node) + 16 + 48 + 8 + 16;
  for (auto& [k, v] : n_->items) b += sizeof(value_type) + text(k) + text(v);
  return b;
}

std::size_t interned_tags::pool_size() {
  auto& p = the_pool();
  std::lock_guard<std::mutex> guard(p.mtx);
  return p.index.size();
}

bool operator==(const interned_tags& a,
                const std::map<std::string, std::string>& b) noexcept {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(),
                       [](const auto& x, const auto& y) {
                         return x.first == y.first && x.second == y.second;
                       });
}

std::ostream& operator<<(std::ostream& os, const interned_tags& t) {
  os << '{';
  bool first = true;
  for (auto& [k, v] : t) {
    if (!first) os << ", ";
    first = false;
    os << k << '=' << v;
  }
  return os << '}';
}

} // namespace pekonode
