#include "membership/broadcast_queue.h"

namespace pekonode::membership {

void broadcast_queue::push(const std::string& key, std::string bytes) {
  erase(key);
  auto id = next_id_++;
  auto size = bytes.size();
  auto [it, _] = by_key_.emplace(key, entry{nullptr, std::move(bytes), 0, id});
  entry* e = &it->second;
  e->key = &it->first;
  queue_.emplace(0, ~id, e);
  by_size_.emplace(size, id, e);
}

void broadcast_queue::erase(const std::string& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  entry* e = &it->second;
  queue_.erase({e->transmits, ~e->id, e});
  by_size_.erase({e->bytes.size(), e->id, e});
  by_key_.erase(it);
}

void broadcast_queue::bump(entry* e, int limit) {
  // The node is re-keyed and put back, not freed and allocated again.
  auto node = queue_.extract({e->transmits, ~e->id, e});
  ++e->transmits;
  if (e->transmits >= limit) {
    by_size_.erase({e->bytes.size(), e->id, e});
    by_key_.erase(by_key_.find(*e->key));
    return;
  }
  node.value() = order_key{e->transmits, ~e->id, e};
  queue_.insert(std::move(node));
}

bool broadcast_queue::take_oversize(std::size_t over, int limit,
                                    std::string& out) {
  if (by_size_.empty() || std::get<0>(*by_size_.rbegin()) <= over) return false;
  entry* e = std::get<2>(*by_size_.rbegin());
  out = e->bytes;
  bump(e, limit);
  return true;
}

} // namespace pekonode::membership
