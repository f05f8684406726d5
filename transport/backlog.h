#pragma once
// When the datagrams a transport has taken off its socket, but not yet
// handled, arrived. The UDP transport's reader thread records each
// datagram's arrival as it queues it for the transport actor; the actor
// takes the stamps back in the same order as it handles the datagrams
// (each becomes the `inbound::received` of the messages it carries). A
// protocol actor on the same transport reads `oldest()` to tell whether
// datagrams that arrived before one of its deadlines still wait, and then
// judges nothing due at that deadline until they are handled (see
// membership_actor.h, actor_config::backlog). Thread-safe.

#include <cstddef>
#include <deque>
#include <mutex>

#include "common/types.h"

namespace pekonode::transport {

class inbound_backlog {
public:
  /// Two classes, each first in, first out: `bulk` for datagrams queued
  /// behind the urgent ones (udp_config::priority_datagram).
  void push(time_point arrived, bool bulk);

  /// The oldest stamp of the class: the arrival of the datagram the
  /// transport handles next; `fallback` when there is none (a datagram not
  /// queued by the reader).
  time_point front(bool bulk, time_point fallback) const;

  /// Forgets the oldest stamp of the class, once its datagram is handled
  /// (its messages sent on to their subscribers).
  void pop(bool bulk);

  /// Arrival of the oldest datagram waiting; time_point::max() if none.
  time_point oldest() const;

  /// Datagrams waiting.
  std::size_t size() const;

private:
  mutable std::mutex mtx_;
  std::deque<time_point> q_[2];
};

} // namespace pekonode::transport
