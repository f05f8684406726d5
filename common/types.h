#pragma once
// Vocabulary shared by every protocol core: time, addresses and outbound
// datagrams. No CAF, no sockets: cores take time and randomness as
// parameters and return effects, so a whole cluster can run in virtual time.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pekonode {

/// Monotonic time as seen by cores. Actor shells pass `self->clock().now()`
/// (virtual under CAF's test scheduler); simulators pass their own clock.
using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// A peer's transport address in canonical text form: "ip:port" for IPv4,
/// "[ip]:port" for IPv6. Cores treat it as an opaque, comparable key.
using address = std::string;

/// Which layer a payload belongs to; carried in the wire envelope so the
/// transport can deliver each message to the layer that owns its format.
enum class channel : uint32_t {
  membership = 1,
  metadata = 2,
  user_events = 3, ///< user events and queries (userevents/)
};

/// One message a core wants sent: the transport batches messages for the
/// same peer into one datagram where they fit.
struct outbound {
  address to;
  channel chan = channel::membership;
  std::string payload;
};

using outbound_list = std::vector<outbound>;

} // namespace pekonode
