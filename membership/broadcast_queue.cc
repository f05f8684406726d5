#include "membership/broadcast_queue.h"

namespace pekonode::membership {

void broadcast_queue::push(const std::string& key, std::string bytes) {
  erase(key);
  auto id = next_id_++;
  order_key ok{0, ~id};
  queue_.emplace(ok, entry{key, std::move(bytes), 0, id});
  by_key_.emplace(key, ok);
}

void broadcast_queue::erase(const std::string& key) {
  auto i = by_key_.find(key);
  if (i == by_key_.end()) return;
  queue_.erase(i->second);
  by_key_.erase(i);
}

void broadcast_queue::bump(std::map<order_key, entry>::iterator it,
                           int limit) {
  entry e = std::move(it->second);
  queue_.erase(it);
  ++e.transmits;
  if (e.transmits >= limit) {
    by_key_.erase(e.key);
    return;
  }
  order_key ok{e.transmits, ~e.id};
  by_key_[e.key] = ok;
  queue_.emplace(ok, std::move(e));
}

bool broadcast_queue::take_oversize(std::size_t over, int limit,
                                    std::string& out) {
  auto best = queue_.end();
  for (auto it = queue_.begin(); it != queue_.end(); ++it)
    if (it->second.bytes.size() > over
        && (best == queue_.end()
            || it->second.bytes.size() > best->second.bytes.size()))
      best = it;
  if (best == queue_.end()) return false;
  out = best->second.bytes;
  bump(best, limit);
  return true;
}

} // namespace pekonode::membership
