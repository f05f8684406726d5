#pragma once
// Hand-made membership packets for single-core tests: build updates and
// packets, parse what a core emitted. Test-only; not a protocol API.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/types.h"
#include "membership/membership.pb.h"

namespace pekonode::membership::testing {

/// An update about `name` (address "name:1").
inline Update upd(const std::string& name, uint64_t inc, MemberState st,
                  const std::string& from = {}) {
  Update u;
  u.set_name(name);
  u.set_addr(name + ":1");
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
