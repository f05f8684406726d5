// Fuzz target: transport::replay_filter, the window of recent nonces the
// transport shells drop repeats against. Input: a capacity byte, then a
// stream of nonce prefixes; each record is one byte `b` and, when b & 0x80,
// a full 8-byte prefix, else the small value b & 0x7f (so repeats, evictions
// and re-admissions are frequent).
//
// Checked against a reference model (a plain FIFO of distinct values): the
// filter flags exactly the values inside the window, evicts the oldest, and
// its size never exceeds the capacity.

#include <algorithm>
#include <cstdint>
#include <deque>

#include "fuzz/check.h"
#include "fuzz/input.h"
#include "transport/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pekonode::fuzz::input in{data, size};
  const size_t capacity = in.u8() % 33; // 0 disables the filter
  pekonode::transport::replay_filter f{capacity};
  std::deque<uint64_t> model;
  while (!in.empty()) {
    uint8_t b = in.u8();
    uint64_t v = (b & 0x80) ? in.u64() : (b & 0x7f);
    bool want = false;
    if (capacity > 0) {
      want = std::find(model.begin(), model.end(), v) != model.end();
      if (!want) {
        model.push_back(v);
        if (model.size() > capacity)
          model.pop_front();
      }
    }
    FUZZ_CHECK(f.seen(v) == want, "replay verdict differs from the model");
    FUZZ_CHECK(f.size() == model.size(), "window size differs from the model");
    FUZZ_CHECK(f.size() <= capacity, "window above capacity");
  }
  return 0;
}
