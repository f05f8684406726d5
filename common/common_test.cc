#include <gtest/gtest.h>

#include "common/file_mode.h"
#include "common/hash.h"
#include "common/host_port.h"
#include "common/siphash.h"
#include "common/text.h"
#include "common/token_bucket.h"
#include "common/varint.h"

namespace pekonode {
namespace {

TEST(SipHash, OneThreeReferenceVectors) {
  // SipHash-1-3 under key 00..0f of messages 00, 01, ..., n-1: the
  // reference implementation's vectors (empty, one block, block + tail,
  // seven blocks + tail).
  auto msg = [](int n) {
    std::string m;
    for (int i = 0; i < n; ++i) m.push_back(static_cast<char>(i));
    return m;
  };
  const uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
  EXPECT_EQ(siphash13(k0, k1, msg(0)), 0xabac0158050fc4dcULL);
  EXPECT_EQ(siphash13(k0, k1, msg(1)), 0xc9f49bf37d57ca93ULL);
  EXPECT_EQ(siphash13(k0, k1, msg(8)), 0x369095118d299a8eULL);
  EXPECT_EQ(siphash13(k0, k1, msg(15)), 0xd320d86d2a519956ULL);
  EXPECT_EQ(siphash13(k0, k1, msg(63)), 0x9d199062b7bbb3a8ULL);
  // 2-4 is unchanged by the shared code (the paper's vector).
  EXPECT_EQ(siphash24(k0, k1, msg(15)), 0xa129ca6149be45e5ULL);
}

TEST(SecretFileMode, WarnsWhenGroupOrOthersHaveAnyAccess) {
  EXPECT_EQ(secret_file_mode_warning("/k", S_IFREG | 0600), "");
  EXPECT_EQ(secret_file_mode_warning("/k", S_IFREG | 0400), "");
  EXPECT_EQ(secret_file_mode_warning("/k", S_IFREG | 0644),
            "\"/k\" (mode 0644) can be read or written by group or others; "
            "chmod 600 it");
  EXPECT_NE(secret_file_mode_warning("/k", S_IFREG | 0620).find("0620"),
            std::string::npos);
  EXPECT_NE(secret_file_mode_warning("/k", S_IFREG | 0601), "");
}

TEST(Hash, Fnv1aMatchesReferenceVectors) {
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ULL);
  // Continuing from a partial hash equals hashing the concatenation.
  EXPECT_EQ(fnv1a("bar", fnv1a("foo")), fnv1a("foobar"));
}

TEST(Hash, Mix64IsABijectionOnSamples) {
  EXPECT_NE(mix64(0), mix64(1));
  EXPECT_EQ(mix64(0), 0xe220a8397b1dcdafULL);
}

TEST(Varint, SizesAndEncodingAgree) {
  for (uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 16383ULL, 16384ULL,
                     (1ULL << 63), ~0ULL}) {
    std::string s;
    append_varint(s, v);
    EXPECT_EQ(s.size(), varint_size(v)) << v;
  }
  EXPECT_EQ(varint_size(~0ULL), 10u);
  EXPECT_EQ(delimited_field_size(0), 2u);
  EXPECT_EQ(delimited_field_size(200), 1u + 2u + 200u);
}

TEST(TokenBucket, RefillsAtRateUpToBurst) {
  time_point t0{};
  token_bucket b(10.0, 5.0, t0);
  EXPECT_TRUE(b.try_take(5, t0));
  EXPECT_FALSE(b.try_take(1, t0));
  EXPECT_TRUE(b.try_take(1, t0 + milliseconds(100)));
  EXPECT_DOUBLE_EQ(b.available(t0 + seconds(10)), 5.0);
}

TEST(TokenBucket, SpendMayGoIntoBoundedDebt) {
  time_point t0{};
  token_bucket b(1.0, 2.0, t0);
  b.spend(10);
  EXPECT_DOUBLE_EQ(b.tokens(), -2.0);
  EXPECT_EQ(b.when_available(1.0), t0 + seconds(3) + duration{1});
  EXPECT_EQ(b.when_available(3.0), time_point::max());
}

TEST(HostPort, SplitsV4V6AndNames) {
  host_port_text p;
  ASSERT_EQ(split_host_port("127.0.0.1:7946", p), "");
  EXPECT_EQ(p.host, "127.0.0.1");
  EXPECT_EQ(p.port, "7946");
  EXPECT_FALSE(p.bracketed);
  ASSERT_EQ(split_host_port("[::1]:80", p), "");
  EXPECT_EQ(p.host, "::1");
  EXPECT_TRUE(p.bracketed);
  ASSERT_EQ(split_host_port("db.example:1", p), "");
  EXPECT_EQ(p.host, "db.example");
}

TEST(HostPort, RejectsWithAReason) {
  host_port_text p;
  EXPECT_NE(split_host_port("", p), "");
  EXPECT_NE(split_host_port("::1:80", p).find("brackets"), std::string::npos);
  EXPECT_NE(split_host_port("host", p).find(":PORT"), std::string::npos);
  EXPECT_NE(split_host_port(":80", p).find("host"), std::string::npos);
  EXPECT_NE(split_host_port("a:", p).find("port"), std::string::npos);
  uint16_t port = 0;
  EXPECT_EQ(parse_port("65535", false, port), "");
  EXPECT_EQ(port, 65535);
  EXPECT_NE(parse_port("65536", true, port), "");
  EXPECT_NE(parse_port("0", false, port), "");
  EXPECT_EQ(parse_port("0", true, port), "");
  EXPECT_NE(parse_port("-1", true, port), "");
  EXPECT_NE(parse_port("123456", true, port), "");
}

TEST(Text, EscapesControlCharacters) {
  EXPECT_TRUE(printable("node-1"));
  EXPECT_FALSE(printable("a\nb"));
  EXPECT_EQ(escape("a\nE FORGED"), "a\\x0aE FORGED");
  EXPECT_EQ(escape("back\\slash"), "back\\\\slash");
  EXPECT_EQ(quote("x\x7f"), "\"x\\x7f\"");
  EXPECT_EQ(escape("abcdef", 3), "abc...");
}

} // namespace
} // namespace pekonode
