#pragma once
// SipHash: a keyed 64-bit hash (a PRF under a secret 128-bit key). 2-4 for
// cookies that prove a peer receives at its address (membership joins,
// metadata SYNs); 1-3 (fewer rounds, as hash tables commonly use) for the
// indexes whose keys peers choose (member names, interned texts), where it
// only has to keep a peer from predicting collisions. Pure; the key is the
// caller's.

#include <cstdint>
#include <string_view>

namespace pekonode {

/// SipHash-2-4 of `data` under the 128-bit key (k0, k1).
uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view data);

/// SipHash-1-3 of `data` under (k0, k1): for hash-table indexes.
uint64_t siphash13(uint64_t k0, uint64_t k1, std::string_view data);

} // namespace pekonode
