#include "membership/cookie.h"

#include <gtest/gtest.h>

#include <string>

namespace pekonode::membership {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

TEST(SipHash, ReferenceVector) {
  // The SipHash-2-4 paper's vector: key 00..0f, message 00..0e.
  std::string msg;
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(siphash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg),
            0xa129ca6149be45e5ULL);
  EXPECT_EQ(siphash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, ""),
            0x726fdb47dd0e0e31ULL);
}

TEST(JoinCookies, ValidForItsAddressForOneToTwoEpochs) {
  join_cookies c(1, 2, minutes(1));
  auto t = time_point{} + minutes(10) + seconds(30);
  auto k = c.issue("10.0.0.1:7946", t);
  EXPECT_EQ(k.size(), 8u);
  EXPECT_TRUE(c.valid(k, "10.0.0.1:7946", t));
  EXPECT_TRUE(c.valid(k, "10.0.0.1:7946", t + seconds(80)));
  EXPECT_FALSE(c.valid(k, "10.0.0.1:7946", t + seconds(100)));
  EXPECT_FALSE(c.valid(k, "10.0.0.2:7946", t));
  EXPECT_FALSE(c.valid("", "10.0.0.1:7946", t));
  join_cookies other(1, 3, minutes(1));
  EXPECT_FALSE(other.valid(k, "10.0.0.1:7946", t));
}

} // namespace
} // namespace pekonode::membership
