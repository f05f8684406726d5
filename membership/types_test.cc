// The membership vocabulary's names: member states and event kinds are
// shown by the admin API (/v1/members "state") and in logs, so they are a
// contract.
#include "membership/types.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>

#include "common/host_port.h"

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

// The in-place "host:port" check of the IPv4 path against the general
// parsers it stands in for (split_host_port, parse_port), on random ports
// and separators around valid and invalid hosts.
TEST(Types, GossipAddrIPv4PortMatchesTheParsers) {
  auto reference = [](const std::string& addr) {
    host_port_text hp;
    uint16_t port = 0;
    return !addr.empty() && split_host_port(addr, hp).empty() && !hp.bracketed
           && parse_port(hp.port, false, port).empty()
           && reference_ipv4(std::string(hp.host));
  };
  std::mt19937_64 rng{5};
  const std::string port_alphabet = "0000123456789:: a";
  const char* hosts[] = {"127.0.0.1", "0.0.0.0", "1.2.3", "", "::1", "a:b",
                         "10.0.0.256"};
  int accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string port;
    auto len = rng() % 8;
    for (std::size_t k = 0; k < len; ++k)
      port += port_alphabet[rng() % port_alphabet.size()];
    if (rng() % 3 == 0) port = std::to_string(rng() % 70000);
    std::string addr = hosts[rng() % std::size(hosts)];
    if (rng() % 16 != 0) addr += ":";
    addr += port;
    bool want = reference(addr);
    accepted += want;
    ASSERT_EQ(valid_gossip_addr(addr, 64), want) << addr;
  }
  EXPECT_GT(accepted, 1000);
  EXPECT_TRUE(valid_gossip_addr("1.2.3.4:007", 64)); // as parse_port reads it
}

} // namespace
} // namespace pekonode::membership
