#include "common/siphash.h"

#include <cstddef>
#include <cstring>

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
  template <int C>
  void absorb(uint64_t m) {
    v3 ^= m;
    for (int i = 0; i < C; ++i) round();
    v0 ^= m;
  }
};

uint64_t load_le(const unsigned char* p, std::size_t n) {
  uint64_t r = 0;
  for (std::size_t i = 0; i < n; ++i) r |= uint64_t{p[i]} << (8 * i);
  return r;
}

uint64_t load_le8(const unsigned char* p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t r;
  std::memcpy(&r, p, 8);
  return r;
#else
  return load_le(p, 8);
#endif
}

// SipHash-C-D: C rounds per 8-byte block, D to finish.
template <int C, int D>
uint64_t siphash(uint64_t k0, uint64_t k1, std::string_view data) {
  sip s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size(), full = n / 8 * 8;
  for (std::size_t i = 0; i < full; i += 8) s.absorb<C>(load_le8(p + i));
  s.absorb<C>(load_le(p + full, n - full) | (uint64_t{n & 0xff} << 56));
  s.v2 ^= 0xff;
  for (int i = 0; i < D; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

} // namespace

uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view data) {
  return siphash<2, 4>(k0, k1, data);
}

uint64_t siphash13(uint64_t k0, uint64_t k1, std::string_view data) {
  return siphash<1, 3>(k0, k1, data);
}

} // namespace pekonode
