#include "metadata/rumours.h"

#include <algorithm>
#include <cmath>

namespace pekonode::metadata {

unsigned retransmit_limit(unsigned mult, size_t live_peers) {
  double n = static_cast<double>(live_peers + 1);
  auto l = static_cast<unsigned>(std::ceil(std::log10(n + 1)));
  return mult * std::max(1u, l);
}

size_t rumour_queue::push(const std::string& key, const version& v) {
  rumours_[key] = rumour{v, 0, ++seq_};
  size_t evicted = 0;
  while (rumours_.size() > max_) {
    auto victim = rumours_.begin();
    for (auto i = rumours_.begin(); i != rumours_.end(); ++i)
      if (i->second.sent > victim->second.sent
          || (i->second.sent == victim->second.sent
              && i->second.seq < victim->second.seq))
        victim = i;
    rumours_.erase(victim);
    ++evicted;
  }
  return evicted;
}

bool rumour_queue::holds(const std::string& key, const version& v) const {
  auto r = rumours_.find(key);
  return r != rumours_.end() && r->second.ver == v;
}

void rumour_queue::sent(const std::string& key, unsigned limit) {
  auto r = rumours_.find(key);
  if (r != rumours_.end() && ++r->second.sent >= limit)
    rumours_.erase(r);
}

void rumour_queue::drop_superseded(const store& s) {
  for (auto i = rumours_.begin(); i != rumours_.end();) {
    auto e = s.find(i->first);
    if (!e || e->ver != i->second.ver)
      i = rumours_.erase(i);
    else
      ++i;
  }
}

std::vector<std::string> rumour_queue::pack(
  const store& s,
  const std::function<bool(const std::string&, const entry&)>& take) const {
  std::vector<std::map<std::string, rumour>::const_iterator> order;
  order.reserve(rumours_.size());
  for (auto i = rumours_.begin(); i != rumours_.end(); ++i)
    order.push_back(i);
  std::sort(order.begin(), order.end(), [](auto a, auto b) {
    return a->second.sent != b->second.sent ? a->second.sent < b->second.sent
                                            : a->second.seq > b->second.seq;
  });
  std::vector<std::string> taken;
  for (auto it : order) {
    auto e = s.find(it->first);
    if (e && e->ver == it->second.ver && take(it->first, *e))
      taken.push_back(it->first);
  }
  return taken;
}

unsigned rumour_queue::sends(const std::string& key) const {
  auto r = rumours_.find(key);
  return r == rumours_.end() ? 0 : r->second.sent;
}

} // namespace pekonode::metadata
