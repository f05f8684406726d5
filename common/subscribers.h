#pragma once
// The subscribers of an actor shell's event stream: monitored on add and
// dropped when they terminate, so events are never sent to dead actors.
// `Handle` is the subscribers' typed interface (what they must accept).

#include <caf/all.hpp>

#include <algorithm>
#include <utility>
#include <vector>

namespace pekonode {

template <class Handle>
class subscribers {
public:
  /// Monitors `who` and adds it; call remove() from the down handler.
  /// Invalid handles are ignored.
  template <class Self>
  void add(Self* self, Handle who) {
    if (!who)
      return;
    self->monitor(who);
    list_.push_back(std::move(who));
  }

  /// Drops the subscriber a down message is about.
  void remove(const caf::down_msg& dm) {
    list_.erase(std::remove_if(list_.begin(), list_.end(),
                               [&](const Handle& a) {
                                 return a.address() == dm.source;
                               }),
                list_.end());
  }

  /// Sends `xs...` to every subscriber, in subscription order.
  template <class Self, class... Ts>
  void send(Self* self, const Ts&... xs) {
    for (auto& sub : list_)
      self->send(sub, xs...);
  }

  size_t size() const noexcept { return list_.size(); }

private:
  std::vector<Handle> list_;
};

} // namespace pekonode
