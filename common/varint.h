#pragma once
// Protobuf base-128 varints and length-delimited field sizes, for code that
// splices pre-encoded messages or computes exact packet sizes before
// building them. Decoding untrusted varints lives in transport/codec.cc,
// where every read is bounds-checked.

#include <cstddef>
#include <cstdint>
#include <string>

namespace pekonode {

/// Bytes taken by `v` as a varint (1..10).
constexpr std::size_t varint_size(uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

/// Appends `v` as a varint.
inline void append_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}

/// Encoded size of a length-delimited field with a one-byte tag (field
/// numbers 1..15) and a body of `n` bytes: tag + length varint + body.
constexpr std::size_t delimited_field_size(std::size_t n) {
  return 1 + varint_size(n) + n;
}

} // namespace pekonode
