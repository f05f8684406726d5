#include "metadata/hlc.h"

#include <algorithm>

#include "common/hash.h"

namespace pekonode::metadata {

hlc_t hlc_clock::now(uint64_t wall_ms) {
  uint64_t wall = std::min(wall_ms, hlc_max_physical);
  uint64_t last_pt = hlc_physical(last_);
  if (wall > last_pt) {
    last_ = make_hlc(wall, 0);
  } else if (hlc_logical(last_) < hlc_logical_mask) {
    last_ += 1;
  } else {
    // Logical overflow: borrow one millisecond from the future; bounded by
    // the rate of local writes, and receivers accept it within max skew.
    last_ = make_hlc(last_pt + 1, 0);
  }
  return last_;
}

void hlc_clock::observe(hlc_t remote, uint64_t wall_ms) {
  // now() already folds in the wall clock; remembering the maximum makes the
  // next local timestamp strictly greater than anything observed.
  (void) wall_ms;
  last_ = std::max(last_, remote);
}

namespace {

// SplitMix64's finaliser alone. pekonode::mix64 adds the golden gamma before
// it; these hashes are on the wire (value hashes, bucket digests) and predate
// it, so the gamma is taken back out to keep every build's numbers equal.
constexpr uint64_t splitmix_gamma = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t finalise(uint64_t x) { return mix64(x - splitmix_gamma); }
static_assert(finalise(0) == 0, "the finaliser maps 0 to 0");

uint64_t load_le(const unsigned char* p, size_t n) {
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i)
    w |= uint64_t{p[i]} << (8 * i);
  return w;
}

} // namespace

uint64_t hash64(std::string_view data, uint64_t seed) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint64_t h = finalise(seed ^ (n * 0x9e3779b97f4a7c15ULL));
  while (n >= 8) {
    h = finalise(h ^ finalise(load_le(p, 8) + 0x632be59bd9b4e019ULL));
    h = (h << 23 | h >> 41) * 0x9fb21c651e98df25ULL;
    p += 8;
    n -= 8;
  }
  h = finalise(h ^ finalise(load_le(p, n) ^ (uint64_t{n} << 56)));
  return finalise(h + seed);
}

hash128 hash_value(std::string_view data) {
  return {hash64(data, 0x5bd1e9955bd1e995ULL),
          hash64(data, 0xc2b2ae3d27d4eb4fULL)};
}

} // namespace pekonode::metadata
