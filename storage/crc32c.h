#pragma once
// CRC-32C (Castagnoli), the checksum of every stored record, meta value,
// FORMAT marker and snapshot file. It detects accidental corruption (flipped
// bits, torn or truncated files), not tampering. SSE4.2 when the CPU has it.

#include <cstdint>
#include <string_view>

namespace pekonode::storage {

/// Continues a CRC-32C over `data` from a previous result (0 to start).
uint32_t crc32c_extend(uint32_t crc, std::string_view data);

/// CRC-32C of `data`.
inline uint32_t crc32c(std::string_view data) { return crc32c_extend(0, data); }

} // namespace pekonode::storage
