#include "transport/backlog.h"

#include <algorithm>

namespace pekonode::transport {

void inbound_backlog::push(time_point arrived, bool bulk) {
  std::lock_guard<std::mutex> guard{mtx_};
  q_[bulk ? 1 : 0].push_back(arrived);
}

time_point inbound_backlog::front(bool bulk, time_point fallback) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& q = q_[bulk ? 1 : 0];
  return q.empty() ? fallback : q.front();
}

void inbound_backlog::pop(bool bulk) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& q = q_[bulk ? 1 : 0];
  if (!q.empty())
    q.pop_front();
}

time_point inbound_backlog::oldest() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto t = time_point::max();
  for (auto& q : q_)
    if (!q.empty())
      t = std::min(t, q.front());
  return t;
}

std::size_t inbound_backlog::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return q_[0].size() + q_[1].size();
}

} // namespace pekonode::transport
