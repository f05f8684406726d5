#include "common/siphash.h"

#include <cstddef>

namespace pekonode {

namespace {

constexpr uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct sip {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  void absorb(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

uint64_t load_le(const unsigned char* p, std::size_t n) {
  uint64_t r = 0;
  for (std::size_t i = 0; i < n; ++i) r |= uint64_t{p[i]} << (8 * i);
  return r;
}

} // namespace

uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view data) {
  sip s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size(), full = n / 8 * 8;
  for (std::size_t i = 0; i < full; i += 8) s.absorb(load_le(p + i, 8));
  s.absorb(load_le(p + full, n - full) | (uint64_t{n & 0xff} << 56));
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

} // namespace pekonode
