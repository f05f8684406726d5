#pragma once
// Small, platform-stable hash functions shared by the protocol cores (digest
// buckets, sequence seeds, simulator fingerprints). Not cryptographic: never
// use them where an adversary must not find collisions.

#include <cstdint>
#include <string_view>

namespace pekonode {

/// SplitMix64's output step (golden-ratio increment, then the finaliser): a
/// bijective 64-bit mixer with good avalanche. mix64(x - 0x9e3779b97f4a7c15)
/// is the bare finaliser.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a offset basis and prime (64-bit).
inline constexpr uint64_t fnv1a_basis = 0xcbf29ce484222325ULL;
inline constexpr uint64_t fnv1a_prime = 0x100000001b3ULL;

/// FNV-1a over `s`, continuing from `h` (pass fnv1a_basis to start).
constexpr uint64_t fnv1a(std::string_view s, uint64_t h = fnv1a_basis) {
  for (char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= fnv1a_prime;
  }
  return h;
}

} // namespace pekonode
