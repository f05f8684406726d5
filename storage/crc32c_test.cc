#include "storage/crc32c.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace pekonode::storage {
namespace {

uint32_t bitwise_crc32c(const std::string& s) {
  uint32_t c = 0xffffffff;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ 0x82f63b78 : c >> 1;
  }
  return ~c;
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // RFC 3720 / iSCSI check value of "123456789".
  EXPECT_EQ(crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, ExtendingEqualsOneShotAtEveryLengthAndSplit) {
  uint64_t seed = std::random_device{}();
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (size_t n = 0; n < 300; ++n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    uint32_t whole = crc32c(s);
    ASSERT_EQ(whole, bitwise_crc32c(s)) << "length " << n;
    size_t split = n ? rng() % n : 0;
    EXPECT_EQ(crc32c_extend(crc32c(std::string_view(s).substr(0, split)),
                            std::string_view(s).substr(split)),
              whole);
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::string s(1000, 'x');
  uint32_t base = crc32c(s);
  for (size_t bit = 0; bit < s.size() * 8; bit += 7) {
    std::string t = s;
    t[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_NE(crc32c(t), base) << "bit " << bit;
  }
}

} // namespace
} // namespace pekonode::storage
