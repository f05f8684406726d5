#pragma once
// One change of the metadata layer's peer set, as any source of peers
// reports it (the node wires the membership layer; a test or an embedder
// can be another source). Plain data: no CAF, so simulators use it too.

#include <string>

#include "common/types.h"

namespace pekonode::metadata {

/// Peer `name` is now reachable at `addr` and `live` (a candidate for
/// rumours, anti-entropy and chunk pulls), or no longer live. An address
/// stays a peer while any live name uses it.
struct peer_change {
  std::string name;
  address addr;
  bool live = false;
};

} // namespace pekonode::metadata
