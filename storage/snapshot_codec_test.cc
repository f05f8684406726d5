// The in-memory snapshot codec: round trips, files of store::export_snapshot
// decode and encoder output imports (one format, two writers), and every
// kind of damage is refused with a message naming it.

#include <gtest/gtest.h>

#include "storage/snapshot_codec.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace pekonode::storage {
namespace {

using namespace testing;

record rec(std::string key, std::string value, uint64_t hlc,
           bool tombstone = false) {
  record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.hlc = hlc;
  r.origin = "n1";
  r.tombstone = tombstone;
  return r;
}

snapshot_header hdr() {
  snapshot_header h;
  h.cluster = "c1";
  h.node = "n1";
  h.hlc_high_water = 99;
  return h;
}

std::string sample() {
  snapshot_encoder enc(hdr());
  enc.add(rec("a", "1", 10));
  enc.add(rec("b", std::string(1000, 'x'), 11));
  enc.add(rec("gone", "", 12, true));
  return enc.finish();
}

TEST(SnapshotCodec, RoundTripsRecordsTombstonesAndHeader) {
  auto bytes = sample();
  auto d = decode_snapshot(bytes);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(d->header.node, "n1");
  EXPECT_EQ(d->header.cluster, "c1");
  EXPECT_EQ(d->header.hlc_high_water, 99u);
  ASSERT_EQ(d->records.size(), 3u);
  EXPECT_EQ(d->records[0], rec("a", "1", 10));
  EXPECT_EQ(d->records[1].value.size(), 1000u);
  EXPECT_TRUE(d->records[2].tombstone);
}

TEST(SnapshotCodec, SizeFormulaIsExact) {
  auto h = hdr();
  snapshot_encoder enc(h);
  auto a = rec("a", "1", 10), b = rec("bb", "22", 11);
  enc.add(a);
  enc.add(b);
  auto bytes = enc.finish();
  EXPECT_EQ(bytes.size(), snapshot_overhead(h) + snapshot_record_bytes(a)
                            + snapshot_record_bytes(b));
}

TEST(SnapshotCodec, EmptySnapshotRoundTrips) {
  auto bytes = snapshot_encoder(hdr()).finish();
  auto d = decode_snapshot(bytes);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_TRUE(d->records.empty());
}

TEST(SnapshotCodec, EveryTruncationIsRefused) {
  auto bytes = sample();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto d = decode_snapshot(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(d.ok()) << "prefix of " << n << " bytes accepted";
    if (n >= 8)
      EXPECT_EQ(d.code(), ec::corrupt) << n;
  }
}

TEST(SnapshotCodec, EveryFlippedByteIsRefused) {
  auto bytes = sample();
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    auto d = decode_snapshot(bad);
    EXPECT_FALSE(d.ok()) << "flip at " << i << " accepted";
  }
}

TEST(SnapshotCodec, NamesWhatIsWrong) {
  auto bytes = sample();
  auto foreign = decode_snapshot("{\"not\":\"a snapshot\"}");
  EXPECT_EQ(foreign.code(), ec::foreign);
  EXPECT_NE(foreign.message().find("not a pekonode snapshot"),
            std::string::npos);

  auto newer = bytes;
  newer[8] = 9;
  auto n = decode_snapshot(newer);
  EXPECT_EQ(n.code(), ec::unsupported_format);
  EXPECT_NE(n.message().find("format 9"), std::string::npos) << n.message();

  // A byte inside the second record's value.
  auto flipped = bytes;
  flipped[bytes.size() - 200] ^= 1;
  auto f = decode_snapshot(flipped);
  EXPECT_EQ(f.code(), ec::corrupt);
  EXPECT_NE(f.message().find("record 2 fails its checksum"), std::string::npos)
    << f.message();

  auto cut = decode_snapshot(std::string_view(bytes).substr(0, bytes.size() - 100));
  EXPECT_NE(cut.message().find("truncated in record 2"), std::string::npos)
    << cut.message();

  auto trailing = decode_snapshot(bytes + "x");
  EXPECT_NE(trailing.message().find("bytes after its end"), std::string::npos)
    << trailing.message();
}

TEST(SnapshotCodec, RefusesDuplicateKeys) {
  snapshot_encoder enc(hdr());
  enc.add(rec("a", "1", 10));
  enc.add(rec("a", "2", 11));
  auto d = decode_snapshot(enc.finish());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.message().find("record 2 repeats a key"), std::string::npos)
    << d.message();
}

TEST(SnapshotCodec, HoldsBoundsBeforeAllocating) {
  snapshot_limits lim;
  lim.max_key_bytes = 10;
  lim.max_value_bytes = 100;
  auto d = decode_snapshot(sample(), lim);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.message().find("record 2 length"), std::string::npos)
    << d.message();
  lim = {};
  lim.max_records = 2;
  d = decode_snapshot(sample(), lim);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.message().find("more than 2 records"), std::string::npos)
    << d.message();
}

TEST(SnapshotCodec, ReadsFilesTheDurableStoreExports) {
  auto dir = data_dir::open(fresh_data_dir(), test_id());
  ASSERT_TRUE(dir.ok()) << dir.message();
  auto st = store::open(std::move(*dir));
  ASSERT_TRUE(st.ok()) << st.message();
  write_batch b;
  b.put(rec("a", "1", 10));
  b.put(rec("gone", "", 12, true));
  b.set_hlc_high_water(77);
  ASSERT_TRUE((*st)->commit(b).ok());
  auto file = make_temp_dir() + "/s.peko";
  auto info = (*st)->export_snapshot(file);
  ASSERT_TRUE(info.ok()) << info.message();
  auto d = decode_snapshot(read_file(file));
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(d->header.cluster, "c1");
  EXPECT_EQ(d->header.hlc_high_water, 77u);
  ASSERT_EQ(d->records.size(), 2u);
}

TEST(SnapshotCodec, TheDurableStoreImportsEncoderOutput) {
  auto dir = data_dir::open(fresh_data_dir(), test_id());
  ASSERT_TRUE(dir.ok()) << dir.message();
  auto st = store::open(std::move(*dir));
  ASSERT_TRUE(st.ok()) << st.message();
  auto file = make_temp_dir() + "/s.peko";
  write_file(file, sample());
  auto info = (*st)->import_snapshot(file);
  ASSERT_TRUE(info.ok()) << info.message();
  EXPECT_EQ(info->records, 3u);
  size_t n = 0;
  ASSERT_TRUE((*st)->load([&](record&) { ++n; }).ok());
  EXPECT_EQ(n, 3u);
}

} // namespace
} // namespace pekonode::storage
