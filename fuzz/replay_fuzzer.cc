// Fuzz target: transport::replay_guard, which judges authenticated frame
// headers (sender, epoch, sequence number, sender time) against per-sender
// windows, the clock window and the start floor.
//
// Input: one configuration byte (max_senders 1..8, window 64..256), then
// records of [b][time offset: u16][clock step: u8] with sender = b & 3,
// epoch = (b >> 2) & 3, and the sequence number a full u16 when b & 0x80,
// else b's bits 4-6 plus the record index / 4 (so repeats are frequent).
//
// Checked: a datagram (same sender, epoch, sequence number and time) is
// never taken twice, even across evictions; nothing sealed before the start
// or outside the skew is taken; the sender count stays within max_senders;
// a refused datagram creates no state.

#include <cstdint>
#include <set>
#include <tuple>

#include "fuzz/check.h"
#include "fuzz/input.h"
#include "transport/replay_guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pekonode::transport;
  pekonode::fuzz::input in{data, size};
  const uint8_t c = in.u8();
  replay_config cfg;
  cfg.max_senders = 1 + (c & 7);
  cfg.window = 64 * (1 + ((c >> 3) & 3));
  cfg.max_skew_ms = 1000;
  const uint64_t start = 1'000'000;
  replay_guard g{cfg, start};
  uint64_t now = start;
  std::set<std::tuple<int, int, uint64_t, uint64_t>> taken;
  for (uint64_t i = 0; !in.empty(); ++i) {
    uint8_t b = in.u8();
    uint16_t off = in.u16();
    int sender = b & 3;
    int epoch = (b >> 2) & 3;
    uint64_t seq = (b & 0x80) ? in.u16() : ((b >> 4) & 7) + i / 4;
    uint64_t sent = now - 1500 + off % 3000;
    const char* names[] = {"a", "b", "c", "d"};
    size_t before = g.senders();
    auto v = g.check(names[sender], static_cast<uint64_t>(epoch), seq, sent, now);
    if (v == replay_verdict::accept) {
      FUZZ_CHECK(taken.emplace(sender, epoch, seq, sent).second,
                 "a datagram was taken twice");
      FUZZ_CHECK(sent >= start, "a datagram sealed before the start was taken");
      FUZZ_CHECK(sent + cfg.max_skew_ms >= now && sent <= now + cfg.max_skew_ms,
                 "a datagram outside the skew was taken");
    } else {
      FUZZ_CHECK(g.senders() <= before, "a refused datagram created state");
    }
    FUZZ_CHECK(g.senders() <= cfg.max_senders, "sender states above the cap");
    now += in.u8();
  }
  return 0;
}
