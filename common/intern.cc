#include "common/intern.h"

#include <mutex>
#include <ostream>
#include <random>
#include <unordered_map>

#include "common/pool_ref.h"
#include "common/siphash.h"

namespace pekonode {

namespace {

// Keyed hash of the pool's index: texts are chosen by peers, so a fixed
// hash would let them be made to collide. The key only shapes the index;
// no answer depends on it.
struct keyed_hash {
  uint64_t k0, k1;
  std::size_t operator()(std::string_view s) const noexcept {
    return static_cast<std::size_t>(siphash13(k0, k1, s));
  }
};

struct pool {
  std::mutex mtx;
  std::unordered_map<std::string_view, detail::intern_node*, keyed_hash> index;

  pool() : index(16, make_hash()) {}

  static keyed_hash make_hash() {
    std::random_device rd;
    auto word = [&] { return (uint64_t{rd()} << 32) | rd(); };
    return keyed_hash{word(), word()};
  }
};

// Never destroyed: handles in static objects may outlive any destructor
// order.
pool& the_pool() {
  static pool* p = new pool;
  return *p;
}

} // namespace

detail::intern_node* interned::new_empty_node() {
  return new detail::intern_node;
}

detail::intern_node* interned::acquire(std::string_view s) {
  if (s.empty()) return empty_node();
  auto& p = the_pool();
  std::lock_guard<std::mutex> guard(p.mtx);
  auto it = p.index.find(s);
  if (it != p.index.end()) {
    it->second->refs.fetch_add(1, std::memory_order_relaxed);
    return it->second;
  }
  auto* n = new detail::intern_node;
  n->text.assign(s.data(), s.size());
  n->refs.store(1, std::memory_order_relaxed);
  try {
    p.index.emplace(std::string_view(n->text), n);
  } catch (...) {
    delete n;
    throw;
  }
  return n;
}

void interned::release_text(detail::intern_node* n) noexcept {
  auto& p = the_pool();
  if (detail::drop_pooled_ref(n->refs, p.mtx, [&] {
        p.index.erase(std::string_view(n->text));
      }))
    delete n;
}

std::size_t interned::pool_size() {
  auto& p = the_pool();
  std::lock_guard<std::mutex> guard(p.mtx);
  return p.index.size();
}

std::size_t interned::stored_bytes(std::size_t n) {
  // The node (text + count) and its allocation, the index node and its
  // bucket, and the text's own allocation past the inline buffer.
  std::size_t b = sizeof(detail::intern_node) + 16 + 48 + 8;
  if (n > 15) b += n + 1 + 16;
  return b;
}

std::ostream& operator<<(std::ostream& os, const interned& s) {
  return os << s.str();
}

} // namespace pekonode
