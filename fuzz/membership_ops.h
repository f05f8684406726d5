#pragma once
// Input format of membership_fuzzer (shared with the corpus generator).
//
//   [scenario: u8] then operations until the input ends (at most max_ops):
//   [op: u8] [operands...]
//
// Scenarios (scenario % 4) put the core in a state worth attacking before
// the first operation; each is deterministic (fixed seed, fixed clock):
//   steady    joined, 12 members (alive, suspect, dead, left), a direct
//             probe in flight, a ping-req being relayed, a suspicion open
//   indirect  as steady, past the probe timeout: ping-reqs out, waiting
//   leaving   as steady, then leave(): drain running, notices pending
//   joining   two seeds contacted, no answer yet
//
// Operations (op % 8):
//   packet     [from: u8][payload: blob]   raw Packet bytes from a peer
//   packet     (same, a second code so raw packets stay frequent)
//   claim      [from: u8][name: u8][kind: u8][u64][state: u8]
//              [tags: blob]                 one Update, fields chosen from
//                                           interesting values: incarnation
//                                           (kind & 15) % 5 (inc_kind below),
//                                           kind & 0x10: address name:2 (a
//                                           name conflict), kind & 0x20: set
//                                           `from`; state % 5 (4 is invalid)
//   reply      [pick: u8][extra: blob]     answer one of the core's own
//                                           recent packets as its addressee
//                                           would (ack a ping with its seq,
//                                           ack a leave notice, answer a
//                                           join...), plus the updates of
//                                           `extra` if it parses as a Packet
//   advance    [ms: u16][jump: u8]         jump & 1: one late poll at
//                                           now + ms seconds; else polls at
//                                           every wake-up up to
//                                           now + (ms % 10000) ms
//   api        [call: u8][blob]            set_tags / leave / rejoin / join
//   body       [from: u8][kind: u8][u64][u64][name: u8]
//                                           a Packet with one body of each
//                                           kind, fields from the operands
//   (op 7 is a second `packet` code)
//
// `from` picks an address from the scenario's members, the seeds, an
// unknown address and the node's own; `name` picks from the members, the
// node itself and fresh names (new-0 ... new-63, so the table can fill).

#include <cstdint>

namespace pekonode::fuzz::membership_ops {

enum scenario : uint8_t { steady = 0, indirect = 1, leaving = 2, joining = 3 };

enum op : uint8_t {
  packet = 0,
  packet2 = 1,
  claim = 2,
  reply = 3,
  advance = 4,
  api = 5,
  body = 6,
  packet3 = 7,
};

enum inc_kind : uint8_t {
  inc_raw = 0,      ///< the u64 operand as is
  inc_current = 1,  ///< the member's current incarnation
  inc_next = 2,     ///< current + 1
  inc_max = 3,      ///< UINT64_MAX
  inc_zero = 4,
};

enum api_call : uint8_t { set_tags = 0, leave = 1, rejoin = 2, join = 3 };

enum body_kind : uint8_t {
  b_ping = 0,
  b_ack = 1,
  b_nack = 2,
  b_ping_req = 3,
  b_join = 4,
  b_state = 5,
  b_digest = 6,
  b_buckets = 7,
  b_want = 8,
  b_leave = 9,
  b_leave_ack = 10,
};

constexpr int max_ops = 64;

} // namespace pekonode::fuzz::membership_ops
