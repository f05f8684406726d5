// The membership vocabulary's names: member states and event kinds are
// shown by the admin API (/v1/members "state") and in logs, so they are a
// contract.
#include "membership/types.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace pekonode::membership {
namespace {

TEST(Types, StateNamesAreTheAdminApiNames) {
  EXPECT_STREQ(to_string(member_state::alive), "alive");
  EXPECT_STREQ(to_string(member_state::suspect), "suspect");
  EXPECT_STREQ(to_string(member_state::dead), "dead");
  EXPECT_STREQ(to_string(member_state::left), "left");
  EXPECT_STREQ(to_string(static_cast<member_state>(9)), "unknown");
  EXPECT_TRUE(is_live(member_state::alive));
  EXPECT_TRUE(is_live(member_state::suspect));
  EXPECT_FALSE(is_live(member_state::dead));
  EXPECT_FALSE(is_live(member_state::left));
}

TEST(Types, EventAndErrorNames) {
  const char* kinds[] = {"joined", "suspect", "alive", "dead",
                         "left", "updated", "name_conflict"};
  for (int k = event::joined; k <= event::name_conflict; ++k)
    EXPECT_STREQ(to_string(static_cast<event::kind_t>(k)), kinds[k]);
  EXPECT_STREQ(to_string(static_cast<event::kind_t>(42)), "unknown");
  const char* errors[] = {"none", "tags_too_large", "bad_tag", "not_running",
                          "bad_config"};
  for (int e = 0; e <= static_cast<int>(ec::bad_config); ++e)
    EXPECT_STREQ(to_string(static_cast<ec>(e)), errors[e]);
  EXPECT_STREQ(to_string(static_cast<ec>(77)), "unknown");
}

// What valid_gossip_addr accepted before its IPv4 fast path: the host is
// what inet_ntop writes back for it.
bool reference_ipv4(const std::string& host) {
  unsigned char buf[4];
  char text[INET_ADDRSTRLEN];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1) return false;
  if (inet_ntop(AF_INET, buf, text, sizeof text) == nullptr) return false;
  return host == text;
}

TEST(Types, GossipAddrIPv4IsTheCanonicalDottedQuad) {
  for (auto ok : {"127.0.0.1:7946", "0.0.0.0:1", "255.255.255.255:65535",
                  "10.0.100.9:80", "[::1]:7946", "[2001:db8::1]:1"})
    EXPECT_TRUE(valid_gossip_addr(ok, 64)) << ok;
  for (auto bad : {"127.0.0.01:7946", "127.0.0:7946", "127.0.0.1.1:7946",
                   "256.0.0.1:7946", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4",
                   "01.2.3.4:1", "1..3.4:1", ".1.2.3:1", "1.2.3.:1",
                   "1.2.3.4 :1", "0x1.2.3.4:1", "1000.2.3.4:1", "host:1",
                   "[::01]:1", "[0:0:0:0:0:0:0:1]:1", "[1.2.3.4]:1", ""})
    EXPECT_FALSE(valid_gossip_addr(bad, 64)) << bad;
  EXPECT_FALSE(valid_gossip_addr("127.0.0.1:7946", 13)); // over max_bytes
}

// The hand-written IPv4 check against inet_pton/inet_ntop on random hosts
// made of digits and dots (and a few other characters).
TEST(Types, GossipAddrIPv4MatchesInetNtop) {
  std::mt19937_64 rng{3};
  const std::string alphabet = "0123456789012345678901234567890...x -";
  int accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string host;
    auto len = 1 + rng() % 16;
    for (std::size_t k = 0; k < len; ++k) host += alphabet[rng() % alphabet.size()];
    if (rng() % 4 == 0) // make well-formed quads common
      host = std::to_string(rng() % 300) + "." + std::to_string(rng() % 300) + "."
             + std::to_string(rng() % 300) + "." + std::to_string(rng() % 300);
    bool want = reference_ipv4(host);
    accepted += want;
    ASSERT_EQ(valid_gossip_addr(host + ":7946", 64), want) << host;
  }
  EXPECT_GT(accepted, 1000);
}

} // namespace
} // namespace pekonode::membership
