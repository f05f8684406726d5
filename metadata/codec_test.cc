// Message helpers: the inline/announce boundary, packing within one packet,
// chunk sizes at the key and origin limits, and the emitter's bound.

#include "metadata/codec.h"

#include <string>

#include <gtest/gtest.h>

namespace pekonode::metadata {
namespace {

entry value_of(size_t n, std::string origin = "node17") {
  entry e;
  e.value.assign(n, 'x');
  e.ver = {make_hlc(1'700'000'000'000ULL, 7), std::move(origin)};
  e.value_hash = hash_value(e.value);
  return e;
}

TEST(Codec, EveryInlineEntryFitsOnePacketAndLargerOnesAreAnnounced) {
  config cfg;
  for (size_t key_len : {1, 40, 256}) {
    std::string key(key_len, 'k');
    for (size_t n = 900; n <= 1300; ++n) {
      auto e = value_of(n, std::string(64, 'o'));
      Updates u;
      add_to_updates(u, cfg, key, e);
      Message m;
      *m.mutable_rumour() = u;
      EXPECT_LE(u.ByteSizeLong(), body_budget(cfg.max_packet))
        << "key " << key_len << " value " << n;
      EXPECT_LE(m.ByteSizeLong(), cfg.max_packet);
      EXPECT_EQ(u.entries_size() + u.announces_size(), 1);
      EXPECT_EQ(u.entries_size() == 1, fits_inline(cfg, key, e));
      if (n > cfg.inline_threshold) {
        EXPECT_EQ(u.announces_size(), 1) << "value " << n;
      }
    }
  }
  // A 1 KiB value under a short key rides inline (the lan default).
  EXPECT_TRUE(fits_inline(cfg, "conf/service/a", value_of(1024)));
}

TEST(Codec, AnnounceCarriesSizeAndHash) {
  config cfg;
  auto e = value_of(5000);
  Updates u;
  add_to_updates(u, cfg, "big", e);
  ASSERT_EQ(u.announces_size(), 1);
  auto& a = u.announces(0);
  EXPECT_EQ(a.size(), 5000u);
  EXPECT_EQ((hash128{a.hash_lo(), a.hash_hi()}), e.value_hash);
  EXPECT_EQ(get_version(a.version()), e.ver);
}

TEST(Codec, TombstonesRideInlineWithoutValue) {
  config cfg;
  entry t;
  t.tombstone = true;
  t.ver = {make_hlc(5, 0), "n"};
  Updates u;
  add_to_updates(u, cfg, "k", t);
  ASSERT_EQ(u.entries_size(), 1);
  EXPECT_TRUE(u.entries(0).tombstone());
  EXPECT_TRUE(u.entries(0).value().empty());
}

TEST(Codec, PackerFillsOneBudgetAndSkipsWhatDoesNotFit) {
  config cfg;
  updates_packer p(cfg);
  EXPECT_TRUE(p.empty());
  size_t added = 0;
  while (p.add("k" + std::to_string(added), value_of(100)))
    ++added;
  EXPECT_GT(added, 5u);
  EXPECT_LE(p.used(), body_budget(cfg.max_packet));
  // Refused when it does not fit what is left; nothing is added.
  auto used = p.used();
  EXPECT_FALSE(p.add("late", value_of(500)));
  EXPECT_EQ(p.used(), used);
  auto m = p.take_push();
  EXPECT_TRUE(p.empty());
  ASSERT_TRUE(m.has_push());
  EXPECT_EQ(static_cast<size_t>(m.push().entries_size()), added);
  EXPECT_LE(m.ByteSizeLong(), cfg.max_packet);
  // The packer starts over after take.
  EXPECT_TRUE(p.add("again", value_of(500)));
  EXPECT_EQ(p.take_rumour().rumour().entries_size(), 1);
}

TEST(Codec, FullChunkAtTheKeyAndOriginLimitsFitsOnePacket) {
  config cfg;
  std::string key(cfg.limits.max_key_bytes, 'k');
  auto e = value_of(100'000, std::string(cfg.limits.max_origin_bytes, 'o'));
  auto cs = chunk_size_for(cfg.max_packet, key, e.ver);
  EXPECT_GE(cs, min_chunk_size);
  auto m = make_chunk(key, e, 3, cs);
  EXPECT_EQ(m.chunk().data().size(), cs);
  EXPECT_LE(m.ByteSizeLong(), cfg.max_packet);
  // Tiny packets still get the minimum chunk size.
  EXPECT_EQ(chunk_size_for(100, key, e.ver), min_chunk_size);
}

TEST(Codec, LastChunkIsShort) {
  auto e = value_of(1000);
  auto m = make_chunk("k", e, 2, 400);
  EXPECT_EQ(m.chunk().data().size(), 200u);
  EXPECT_EQ(m.chunk().total_size(), 1000u);
  EXPECT_EQ(m.chunk().index(), 2u);
  EXPECT_EQ((hash128{m.chunk().hash_lo(), m.chunk().hash_hi()}), e.value_hash);
}

TEST(Emitter, CountsByKindAndDropsOversizedMessages) {
  stats st;
  outbound_list out;
  emitter tx{100, st, out};
  Message small;
  small.mutable_want()->add_keys("k");
  auto n = tx.send("p", small, "want");
  EXPECT_EQ(n, small.ByteSizeLong());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, "p");
  EXPECT_EQ(out[0].chan, channel::metadata);
  EXPECT_EQ(st.bytes_out["want"], n);
  EXPECT_EQ(st.msgs_out["want"], 1u);
  Message big;
  big.mutable_want()->add_keys(std::string(200, 'k'));
  EXPECT_EQ(tx.send("p", big, "want"), 0u);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(st.rejects["oversized_outbound"], 1u);
  EXPECT_EQ(st.msgs_out["want"], 1u);
}

} // namespace
} // namespace pekonode::metadata
