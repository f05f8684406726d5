#pragma once
// Join cookies: a keyed hash (SipHash-2-4) of a source address and a time
// epoch, so that a node answers a join from an address it cannot vouch for
// with a small challenge, and sends its table only once the requester has
// shown it receives at that address (QUIC's address validation, in one
// round trip). Pure: the key and the time are parameters.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/siphash.h"
#include "common/types.h"

namespace pekonode::membership {

using pekonode::siphash24; // common/siphash.h

/// Issues and checks cookies for one node.
class join_cookies {
public:
  /// Cookies stay valid for one to two `epoch`s.
  join_cookies(uint64_t k0, uint64_t k1, duration epoch)
    : k0_(k0), k1_(k1), epoch_(epoch) {}

  /// The cookie for `from` at `now` (8 bytes).
  std::string issue(const address& from, time_point now) const;

  /// Whether `cookie` was issued for `from` in this epoch or the previous.
  bool valid(std::string_view cookie, const address& from, time_point now) const;

private:
  std::string make(const address& from, int64_t epoch) const;

  uint64_t k0_, k1_;
  duration epoch_;
};

} // namespace pekonode::membership
