#pragma once
// Arms CAF-clock wake-ups for a sans-IO core inside an actor shell. The core
// says when it next has work (`next_wakeup()`); the shell keeps one pending
// delayed message for the earliest such time. CAF's clock drives it, so under
// the deterministic test scheduler a node runs in virtual time.

#include <caf/all.hpp>

#include "common/types.h"

namespace pekonode {

/// One pending wake-up per actor. Superseded wake-ups still arrive (CAF 0.17
/// cannot cancel a delayed message) and are recognised by their due time.
class core_timer {
public:
  /// Arms a wake-up at `due` unless one at or before it is pending. The actor
  /// receives `(Atom, int64 due_ticks)` at `due`.
  template <class Self, class Atom>
  void arm(Self* self, time_point due, Atom tag) {
    if (due == time_point::max() || due >= armed_)
      return;
    armed_ = due;
    auto now = self->clock().now();
    auto delay = due > now ? due - now : duration::zero();
    self->delayed_send(self, delay, tag,
                       static_cast<int64_t>(due.time_since_epoch().count()));
  }

  /// Called with the ticks of an arrived wake-up: true if it is the pending
  /// one (then nothing is pending any more), false for a superseded one.
  bool fire(int64_t due_ticks) {
    if (due_ticks != armed_.time_since_epoch().count())
      return false;
    armed_ = time_point::max();
    return true;
  }

private:
  time_point armed_ = time_point::max();
};

} // namespace pekonode
