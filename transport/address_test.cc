#include "transport/address.h"

#include <gtest/gtest.h>

#include <netinet/in.h>

namespace pekonode::transport {
namespace {

TEST(ParseHostPort, AcceptsIpv4HostnameAndBracketedIpv6) {
  auto v4 = parse_host_port("10.1.2.3:7946");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, 7946);
  auto name = parse_host_port("seed.example:0");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "seed.example");
  EXPECT_EQ(name->port, 0);
  auto v6 = parse_host_port("[fe80::1]:65535");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "fe80::1");
  EXPECT_EQ(v6->port, 65535);
}

TEST(ParseHostPort, RejectsBadInputsWithReasons) {
  struct bad_case {
    const char* text;
    const char* reason;
  };
  for (auto& c : {bad_case{"", "empty"}, bad_case{"host", "missing ':PORT'"},
                  bad_case{"host:", "missing port"}, bad_case{":80", "missing host"},
                  bad_case{"h:65536", "0..65535"}, bad_case{"h:8x", "0..65535"},
                  bad_case{"h:-1", "0..65535"}, bad_case{"h:123456", "0..65535"},
                  bad_case{"::1:80", "brackets"}, bad_case{"[::1]80", "':PORT'"},
                  bad_case{"[::1:80", "']'"}, bad_case{"[]:80", "missing host"},
                  bad_case{"[1.2.3.4]:80", "IPv6"}}) {
    auto r = parse_host_port(c.text);
    EXPECT_EQ(r.code, ec::bad_address) << c.text;
    EXPECT_NE(r.message.find(c.reason), std::string::npos)
      << c.text << " -> " << r.message;
  }
}

TEST(Endpoint, ParsesLiteralsAndRoundTripsToCanonicalText) {
  auto v4 = parse_endpoint("127.0.0.1:9000");
  ASSERT_TRUE(v4.ok()) << v4.message;
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(to_address(*v4), "127.0.0.1:9000");
  auto v6 = parse_endpoint("[::1]:9000");
  ASSERT_TRUE(v6.ok()) << v6.message;
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(to_address(*v6), "[::1]:9000");
  EXPECT_EQ(*canonicalize("[0:0:0:0:0:0:0:1]:80"), "[::1]:80");
  EXPECT_EQ(*canonicalize("[::ffff:10.0.0.1]:80"), "10.0.0.1:80");
}

TEST(Endpoint, RejectsHostnamesAndBadLiterals) {
  EXPECT_EQ(parse_endpoint("localhost:80").code, ec::bad_address);
  EXPECT_EQ(parse_endpoint("300.1.1.1:80").code, ec::bad_address);
  EXPECT_EQ(parse_endpoint("[::g]:80").code, ec::bad_address);
}

TEST(Resolve, LiteralsNeedNoLookupAndLocalhostResolves) {
  auto lit = resolve("192.168.1.1:53");
  ASSERT_TRUE(lit.ok());
  ASSERT_EQ(lit->size(), 1u);
  EXPECT_EQ(to_address(lit->front()), "192.168.1.1:53");
  auto local = resolve("localhost:7946");
  ASSERT_TRUE(local.ok()) << local.message;
  ASSERT_FALSE(local->empty());
  auto first = to_address(local->front());
  EXPECT_TRUE(first == "127.0.0.1:7946" || first == "[::1]:7946") << first;
}

TEST(Resolve, UnresolvableHostGivesClearError) {
  // .invalid is reserved (RFC 2606) and never resolves.
  auto r = resolve("no-such-host.invalid:80");
  EXPECT_EQ(r.code, ec::resolve_failed);
  EXPECT_NE(r.message.find("no-such-host.invalid"), std::string::npos);
  EXPECT_EQ(resolve("bad").code, ec::bad_address);
}

} // namespace
} // namespace pekonode::transport
