#pragma once
// Hand-made membership packets for single-core tests: build updates and
// packets, parse what a core emitted. Test-only; not a protocol API.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/types.h"
#include "membership/membership.pb.h"

namespace pekonode::membership::testing {

/// The IP-literal address tests give the member `name`: "10.a.b.c:port",
/// a.b.c from an FNV-1a hash of the name (gossiped addresses must be IP
/// literals).
inline std::string test_addr(const std::string& name, int port = 1) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 29;
  return "10." + std::to_string((h >> 16) & 0xff) + "."
         + std::to_string((h >> 8) & 0xff) + "." + std::to_string(h & 0xff)
         + ":" + std::to_string(port);
}

/// An update about `name` (address test_addr(name)).
inline Update upd(const std::string& name, uint64_t inc, MemberState st,
                  const std::string& from = {}) {
  Update u;
  u.set_name(name);
  u.set_addr(test_addr(name));
  u.set_incarnation(inc);
  u.set_state(st);
  u.set_from(from);
  return u;
}

/// A serialised packet from `sender` carrying `ups`; `body` may set a body.
inline std::string pkt(const std::string& sender, std::vector<Update> ups,
                       void (*body)(Packet&) = nullptr) {
  Packet p;
  p.set_sender(sender);
  for (auto& u : ups) *p.add_updates() = u;
  if (body) body(p);
  return p.SerializeAsString();
}

/// Parses one emitted datagram (a failed parse or wrong channel fails the
/// test).
inline Packet parse(const outbound& o) {
  Packet p;
  EXPECT_TRUE(p.ParseFromString(o.payload));
  EXPECT_EQ(o.chan, channel::membership);
  return p;
}

} // namespace pekonode::membership::testing
