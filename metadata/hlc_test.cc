#include "metadata/hlc.h"

#include <gtest/gtest.h>

namespace pekonode::metadata {
namespace {

TEST(HybridLogicalClock, PacksPhysicalAndLogical) {
  auto t = make_hlc(123456789, 42);
  EXPECT_EQ(hlc_physical(t), 123456789u);
  EXPECT_EQ(hlc_logical(t), 42u);
  EXPECT_LT(make_hlc(5, 65535), make_hlc(6, 0));
}

TEST(HybridLogicalClock, IsStrictlyMonotonicWhenWallClockStallsOrGoesBack) {
  hlc_clock c;
  auto a = c.now(1000);
  auto b = c.now(1000);
  auto d = c.now(900); // wall clock stepped back
  EXPECT_LT(a, b);
  EXPECT_LT(b, d);
  EXPECT_EQ(hlc_physical(d), 1000u);
  auto e = c.now(2000);
  EXPECT_EQ(e, make_hlc(2000, 0));
}

TEST(HybridLogicalClock, LogicalOverflowBorrowsAMillisecond) {
  hlc_clock c;
  c.observe(make_hlc(10, 65535), 10);
  auto t = c.now(10);
  EXPECT_EQ(t, make_hlc(11, 0));
}

TEST(HybridLogicalClock, SlowNodeOverwritesAfterObservingFastNode) {
  hlc_clock fast, slow;
  auto remote = fast.now(1'000'000);
  slow.observe(remote, 5'000); // slow wall clock, far behind
  auto mine = slow.now(5'000);
  EXPECT_GT(mine, remote);
}

TEST(HybridLogicalClock, SkewBoundRejectsFarFuture) {
  EXPECT_TRUE(hlc_clock::within_skew(make_hlc(1000 + 3600, 0), 1000, 3600));
  EXPECT_FALSE(hlc_clock::within_skew(make_hlc(1000 + 3601, 0), 1000, 3600));
  EXPECT_FALSE(hlc_clock::within_skew(~uint64_t{0}, 1000, 3600));
}

TEST(Version, OrdersByHlcThenOrigin) {
  version a{make_hlc(5, 0), "b"};
  version b{make_hlc(5, 0), "a"};
  version c{make_hlc(5, 1), "a"};
  EXPECT_LT(b, a); // same HLC: origin breaks the tie
  EXPECT_LT(a, c);
  EXPECT_FALSE(a < a);
  EXPECT_NE(a, b);
}

TEST(ValueHash, DiffersOnOneBitAndIsStable) {
  std::string x(1000, 'x');
  auto h1 = hash_value(x);
  x[500] ^= 1;
  EXPECT_NE(h1, hash_value(x));
  x[500] ^= 1;
  EXPECT_EQ(h1, hash_value(x));
  EXPECT_NE(hash_value(""), hash_value(std::string(1, '\0')));
}

// Value hashes and bucket assignment are on the wire (announces, chunks,
// digests): nodes of different builds must compute the same numbers.
TEST(ValueHash, MatchesPinnedValues) {
  struct row {
    const char* in;
    uint64_t lo, hi, bucket_hash;
  };
  const row rows[] = {
    {"", 0x5353f277fcf39cadULL, 0x8e94e43291be2c6bULL, 0x533f4a5160294f18ULL},
    {"a", 0xf2582b31283e4f07ULL, 0xc624dba994e850f5ULL, 0xb6d9e8482dd7ea58ULL},
    {"pekonode/metadata", 0x9e916265e708ed31ULL, 0xff45fa94e85522f1ULL,
     0x5e910e6c64123826ULL},
    {"0123456789abcdef0123", 0xd6de2f714421d7a0ULL, 0xa2a9a2f9a3666b97ULL,
     0x31df30cbf32dc5d1ULL},
  };
  for (auto& r : rows) {
    EXPECT_EQ(hash_value(r.in), (hash128{r.lo, r.hi})) << r.in;
    EXPECT_EQ(hash64(r.in, 0x2545f4914f6cdd1dULL), r.bucket_hash) << r.in;
  }
}

} // namespace
} // namespace pekonode::metadata
