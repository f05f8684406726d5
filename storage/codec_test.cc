#include "storage/codec.h"

#include <gtest/gtest.h>

#include "storage/crc32c.h"

namespace pekonode::storage {
namespace {

record sample() {
  record r;
  r.key = "config/db";
  r.value = std::string("v\0alue", 6);
  r.hlc = 0x0123456789abcdefULL;
  r.origin = "node-7";
  r.gc_after_ms = 42;
  return r;
}

TEST(RecordCodec, RoundTripsEveryField) {
  for (bool tomb : {false, true}) {
    record r = sample();
    r.tombstone = tomb;
    if (tomb)
      r.value.clear();
    std::string enc;
    encode_record(r, enc);
    record back;
    ASSERT_TRUE(decode_record(enc, 1024, 1024, back));
    EXPECT_EQ(back, r);
  }
}

TEST(RecordCodec, CrcCoversTheCanonicalEncoding) {
  record r = sample();
  std::string enc;
  encode_record(r, enc);
  EXPECT_EQ(record_crc(r), crc32c(enc));
  record other = r;
  other.hlc += 1;
  EXPECT_NE(record_crc(other), record_crc(r));
  other = r;
  other.tombstone = true;
  EXPECT_NE(record_crc(other), record_crc(r));
  other = r;
  other.gc_after_ms = 43;
  EXPECT_NE(record_crc(other), record_crc(r));
}

TEST(RecordCodec, RejectsTruncationOversizeAndNonsense) {
  record r = sample();
  std::string enc;
  encode_record(r, enc);
  record back;
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(decode_record(enc.substr(0, n), 1024, 1024, back)) << n;
  EXPECT_FALSE(decode_record(enc + "x", 1024, 1024, back));
  EXPECT_FALSE(decode_record(enc, 3, 1024, back));   // key above bound
  EXPECT_FALSE(decode_record(enc, 1024, 3, back));   // value above bound
  record tomb = r;
  tomb.tombstone = true; // with a value: invalid
  enc.clear();
  encode_record(tomb, enc);
  EXPECT_FALSE(decode_record(enc, 1024, 1024, back));
  record empty_key = r;
  empty_key.key.clear();
  enc.clear();
  encode_record(empty_key, enc);
  EXPECT_FALSE(decode_record(enc, 1024, 1024, back));
}

TEST(MembershipCodec, RoundTripsAndRejectsDamage) {
  membership_snapshot m;
  m.incarnation = 17;
  m.peers = {{"a", "127.0.0.1:7001", 3, "alive"},
             {"b", "[::1]:7002", 0, "dead"}};
  auto enc = encode_membership(m);
  membership_snapshot back;
  ASSERT_TRUE(decode_membership(enc, back));
  EXPECT_EQ(back, m);
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(decode_membership(enc.substr(0, n), back)) << n;
  // A peer count far above the bound is refused before allocating.
  std::string huge;
  writer w(huge);
  w.u64(1);
  w.u32(0xffffffff);
  EXPECT_FALSE(decode_membership(huge, back));
}

TEST(Reader, FailsForGoodAfterAnOverrun) {
  std::string s;
  writer w(s);
  w.u32(7);
  reader r(s);
  EXPECT_EQ(r.u32(), 7u);
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.at_end());
}

} // namespace
} // namespace pekonode::storage
