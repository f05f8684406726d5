#pragma once
// Reading structured fuzz inputs, and writing them (the corpus generator).
// A target reads what it needs from the front of the input: bytes, little-
// endian integers, length-prefixed blobs. Reads past the end yield zeros and
// empty blobs, so every byte string is a valid input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pekonode::fuzz {

class input {
public:
  input(const uint8_t* data, size_t size)
    : rest_(reinterpret_cast<const char*>(data), size) {}
  explicit input(std::string_view bytes) : rest_(bytes) {}

  bool empty() const noexcept { return rest_.empty(); }
  size_t remaining() const noexcept { return rest_.size(); }

  uint8_t u8() noexcept {
    if (rest_.empty())
      return 0;
    auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  uint16_t u16() noexcept {
    uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (uint16_t{u8()} << 8));
  }
  uint32_t u32() noexcept {
    uint32_t lo = u16();
    return lo | (uint32_t{u16()} << 16);
  }
  uint64_t u64() noexcept {
    uint64_t lo = u32();
    return lo | (uint64_t{u32()} << 32);
  }
  bool flag() noexcept { return (u8() & 1) != 0; }

  /// Up to `n` bytes.
  std::string_view bytes(size_t n) noexcept {
    auto b = rest_.substr(0, n);
    rest_.remove_prefix(b.size());
    return b;
  }
  /// A blob prefixed by its 16-bit length (cut short at the end of input).
  std::string_view blob() noexcept { return bytes(u16()); }
  /// Everything left.
  std::string_view rest() noexcept { return bytes(rest_.size()); }

private:
  std::string_view rest_;
};

/// The inverse of `input`, for writing seeds.
class writer {
public:
  writer& u8(uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  writer& u16(uint16_t v) { return u8(static_cast<uint8_t>(v)).u8(static_cast<uint8_t>(v >> 8)); }
  writer& u32(uint32_t v) { return u16(static_cast<uint16_t>(v)).u16(static_cast<uint16_t>(v >> 16)); }
  writer& u64(uint64_t v) { return u32(static_cast<uint32_t>(v)).u32(static_cast<uint32_t>(v >> 32)); }
  writer& raw(std::string_view b) {
    out_.append(b);
    return *this;
  }
  /// A 16-bit length-prefixed blob (longer blobs are cut to 65535 bytes).
  writer& blob(std::string_view b) {
    if (b.size() > 0xffff)
      b = b.substr(0, 0xffff);
    return u16(static_cast<uint16_t>(b.size())).raw(b);
  }
  const std::string& str() const noexcept { return out_; }

private:
  std::string out_;
};

} // namespace pekonode::fuzz
