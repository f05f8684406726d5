#pragma once
// Input format of metadata_fuzzer (shared with the corpus generator).
//
//   operations until the input ends (at most max_ops): [op: u8] [operands...]
//
// Before the first operation the core is put in a deterministic live state:
// three peers (a, b, c), local keys k1, k2, a tombstone k3 and a 3000-byte
// value local-big (served in chunks to peers that ask), and a transfer in
// progress: peer a announced key "big" (5000 bytes, known hash) and the core
// has requested its chunks. A second announce ("big2" from b) waits.
//
// Operations (op % 8):
//   message   [from: u8][payload: blob]       raw Message bytes from a peer
//   message   (a second code, so raw messages stay frequent)
//   chunk     [from: u8][index: u8][how: u8][u64]
//                                             chunk `index` of "big": how % 8
//                                             0 exact, 1 one data bit
//                                             flipped, 2 wrong total size,
//                                             3 wrong index, 4 wrong chunk
//                                             size, 5 wrong hash, 6 wrong
//                                             version, 7 data cut short
//   advance   [ms: u16][jump: u8]             jump & 1: one late poll at
//                                             now + ms seconds; else polls at
//                                             every wake-up up to
//                                             now + (ms % 10000) ms
//   local     [call: u8][key: u8][value: blob] put / del / get / write
//                                             (write: value[0] picks
//                                             replicas 1..4 and del, value[1]
//                                             the cas: none, create only,
//                                             the live version, a stale one)
//   member    [name: u8][live: u8]            member_changed(name, addr, live)
//   body      [from: u8][kind: u8][key: u8][u64][u64][blob]
//                                             a Message of each kind with
//                                             fields from the operands (kind
//                                             % 12; hold_ack echoes the id
//                                             of the latest replicated write
//                                             when the first u64 is odd)
//   reply     [pick: u8]                      answer one of the core's recent
//                                             messages as its addressee would
//                                             (chunks for a chunk request of
//                                             "big"; a SynCookie for a SYN
//                                             when pick & 0x80; a SYN with
//                                             the cookie for a SynCookie;
//                                             else an echo)
//
// `from` picks a peer address (a:1, b:1, c:1, an unknown x:9); `key` picks
// k1, k2, k3, big, big2, local-big or a fresh key new-0 ... new-127.

#include <cstdint>

namespace pekonode::fuzz::metadata_ops {

enum op : uint8_t {
  message = 0,
  message2 = 1,
  chunk = 2,
  advance = 3,
  local = 4,
  member = 5,
  body = 6,
  reply = 7,
};

enum chunk_how : uint8_t {
  exact = 0,
  flip_bit = 1,
  wrong_total = 2,
  wrong_index = 3,
  wrong_chunk_size = 4,
  wrong_hash = 5,
  wrong_version = 6,
  cut_short = 7,
};

enum local_call : uint8_t { put = 0, del = 1, get = 2, write = 3 };

enum body_kind : uint8_t {
  b_rumour_entry = 0,
  b_push_entry = 1,
  b_announce = 2,
  b_syn = 3,
  b_ack = 4,
  b_ack2 = 5,
  b_want = 6,
  b_chunk_request = 7,
  b_chunk_gone = 8,
  b_tombstone = 9,
  b_hold = 10,
  b_hold_ack = 11,
};

constexpr int max_ops = 64;

} // namespace pekonode::fuzz::metadata_ops
