#pragma once
// SipHash-2-4: a keyed 64-bit hash (a PRF under a secret 128-bit key), for
// cookies that prove a peer receives at its address (membership joins,
// metadata SYNs). Pure; the key is the caller's.

#include <cstdint>
#include <string_view>

namespace pekonode {

/// SipHash-2-4 of `data` under the 128-bit key (k0, k1).
uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view data);

} // namespace pekonode
