#include "node/options.h"

#include <gtest/gtest.h>

#include "common/text.h"

namespace pekonode::node {
namespace {

TEST(ParseIpEndpoint, AcceptsIpv4AndCanonicalForm) {
  ip_endpoint ep;
  ASSERT_EQ(parse_ip_endpoint("10.0.0.7:7946", false, ep), "");
  EXPECT_EQ(ep.ip, "10.0.0.7");
  EXPECT_EQ(ep.port, 7946);
  EXPECT_FALSE(ep.ipv6);
  EXPECT_EQ(ep.to_string(), "10.0.0.7:7946");
}

TEST(ParseIpEndpoint, AcceptsBracketedIpv6AndCanonicalises) {
  ip_endpoint ep;
  ASSERT_EQ(parse_ip_endpoint("[0:0::1]:7946", false, ep), "");
  EXPECT_TRUE(ep.ipv6);
  EXPECT_EQ(ep.ip, "::1");
  EXPECT_EQ(ep.to_string(), "[::1]:7946");
}

TEST(ParseIpEndpoint, PortZeroOnlyWhenAllowed) {
  ip_endpoint ep;
  EXPECT_EQ(parse_ip_endpoint("127.0.0.1:0", true, ep), "");
  EXPECT_EQ(ep.port, 0);
  EXPECT_NE(parse_ip_endpoint("127.0.0.1:0", false, ep).find("port 0"),
            std::string::npos);
}

TEST(ParseIpEndpoint, RejectsBadInputWithReason) {
  struct row {
    const char* in;
    const char* expect;  // substring of the error
  };
  const row rows[] = {
    {"", "empty"},
    {"127.0.0.1", "missing ':PORT'"},
    {"127.0.0.1:", "missing port"},
    {":7946", "missing host"},
    {"127.0.0.1:65536", "out of range"},
    {"127.0.0.1:-1", "not a number"},
    {"127.0.0.1:79x", "not a number"},
    {"127.0.0.1:1234567", "not a number"},
    {"256.0.0.1:1", "not a numeric IPv4"},
    {"example.com:1", "not a numeric IPv4"},
    {"::1:7946", "need brackets"},
    {"[::1:7946", "missing ']'"},
    {"[::1]7946", "expected ':PORT'"},
    {"[zz::1]:7946", "not a numeric IPv6"},
    {"[127.0.0.1]:7946", "not a numeric IPv6"},
  };
  for (auto& r : rows) {
    ip_endpoint ep;
    auto err = parse_ip_endpoint(r.in, false, ep);
    EXPECT_NE(err.find(r.expect), std::string::npos)
      << "input " << r.in << " gave: " << err;
  }
}

TEST(ParseHostEndpoint, AcceptsDnsNamesAndIps) {
  host_endpoint ep;
  ASSERT_EQ(parse_host_endpoint("seed-1.example.com:7946", ep), "");
  EXPECT_EQ(ep.host, "seed-1.example.com");
  ASSERT_EQ(parse_host_endpoint("localhost:1", ep), "");
  ASSERT_EQ(parse_host_endpoint("[fe80::1]:9", ep), "");
  EXPECT_EQ(ep.to_string(), "[fe80::1]:9");
  ASSERT_EQ(parse_host_endpoint("10.1.2.3:9", ep), "");
  EXPECT_EQ(ep.to_string(), "10.1.2.3:9");
}

TEST(ParseHostEndpoint, RejectsBadNamesAndPortZero) {
  host_endpoint ep;
  EXPECT_NE(parse_host_endpoint("-bad.example:1", ep), "");
  EXPECT_NE(parse_host_endpoint("a..b:1", ep), "");
  EXPECT_NE(parse_host_endpoint("sp ace:1", ep), "");
  EXPECT_NE(parse_host_endpoint(std::string(64, 'a') + ".com:1", ep), "");
  EXPECT_NE(parse_host_endpoint("host:0", ep).find("port 0"),
            std::string::npos);
}

TEST(ParseJoin, SplitsDeduplicatesKeepsOrder) {
  std::vector<host_endpoint> seeds;
  ASSERT_EQ(parse_join("b:2,a:1,b:2", seeds), "");
  ASSERT_EQ(seeds.size(), 2u);
  EXPECT_EQ(seeds[0].to_string(), "b:2");
  EXPECT_EQ(seeds[1].to_string(), "a:1");
  ASSERT_EQ(parse_join("", seeds), "");
  EXPECT_TRUE(seeds.empty());
}

TEST(ParseJoin, RejectsStrayCommasAndNamesTheSeed) {
  std::vector<host_endpoint> seeds;
  EXPECT_NE(parse_join("a:1,", seeds).find("stray ','"), std::string::npos);
  EXPECT_NE(parse_join(",a:1", seeds).find("stray ','"), std::string::npos);
  auto err = parse_join("a:1,bad", seeds);
  EXPECT_NE(err.find("\"bad\""), std::string::npos) << err;
}

TEST(ParseJoin, DnsDiscoverySeedsNeedANameAndDefaultThePort) {
  std::vector<host_endpoint> out;
  ASSERT_EQ(parse_join("dns:pekonode.default.svc.cluster.local,"
                       "dns:seeds.example:8000,10.0.0.1:7946,"
                       "dns:pekonode.default.svc.cluster.local:7946", out),
            "");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].discovery);
  EXPECT_EQ(out[0].to_string(), "dns:pekonode.default.svc.cluster.local:7946");
  EXPECT_EQ(out[1].to_string(), "dns:seeds.example:8000");
  EXPECT_FALSE(out[2].discovery);
  EXPECT_EQ(out[2].to_string(), "10.0.0.1:7946");
  auto err = parse_join("dns:10.0.0.1:7946", out);
  EXPECT_NE(err.find("needs a DNS name"), std::string::npos) << err;
  err = parse_join("dns:", out);
  EXPECT_NE(err.find("seed \"dns:\""), std::string::npos) << err;
  err = parse_join("dns:bad_name!:1", out);
  EXPECT_NE(err.find("valid DNS name"), std::string::npos) << err;
  err = parse_join("dns:a.example:0", out);
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(out.size(), 3u) << "a failed parse leaves the output alone";
}

TEST(ParseDuration, UnitsBoundsAndErrors) {
  using std::chrono::milliseconds;
  milliseconds d{};
  auto lo = std::chrono::seconds(1);
  auto hi = std::chrono::hours(1);
  EXPECT_EQ(parse_duration("30s", lo, hi, d), "");
  EXPECT_EQ(d, milliseconds(30'000));
  EXPECT_EQ(parse_duration("1500ms", lo, hi, d), "");
  EXPECT_EQ(d, milliseconds(1500));
  EXPECT_EQ(parse_duration("2m", lo, hi, d), "");
  EXPECT_EQ(d, milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h", lo, hi, d), "");
  EXPECT_EQ(parse_duration("45", lo, hi, d), "");
  EXPECT_EQ(d, milliseconds(45'000));
  EXPECT_NE(parse_duration("999ms", lo, hi, d).find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_duration("2h", lo, hi, d).find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_duration("10d", lo, hi, d).find("unknown unit"),
            std::string::npos);
  for (const char* bad : {"", "s", "-1s", "1.5s", " 1s", "99999999999999s"})
    EXPECT_FALSE(parse_duration(bad, lo, hi, d).empty()) << bad;
}

TEST(ParseTags, ParsesPairsWithEscapes) {
  std::map<std::string, std::string> tags;
  ASSERT_EQ(parse_tags(R"(role=db,zone=eu\,west,expr=a\=b,path=c:\\d,e=)",
                       tags),
            "");
  EXPECT_EQ(tags.size(), 5u);
  EXPECT_EQ(tags["role"], "db");
  EXPECT_EQ(tags["zone"], "eu,west");
  EXPECT_EQ(tags["expr"], "a=b");
  EXPECT_EQ(tags["path"], "c:\\d");
  EXPECT_EQ(tags["e"], "");
}

TEST(ParseTags, EscapedEqualsInKey) {
  std::map<std::string, std::string> tags;
  ASSERT_EQ(parse_tags(R"(a\=b=c)", tags), "");
  EXPECT_EQ(tags["a=b"], "c");
}

TEST(ParseTags, RejectsMalformedInput) {
  std::map<std::string, std::string> tags;
  EXPECT_NE(parse_tags("role", tags).find("no '=VALUE'"), std::string::npos);
  EXPECT_NE(parse_tags("=v", tags).find("empty key"), std::string::npos);
  EXPECT_NE(parse_tags("a=1,a=2", tags).find("duplicate"), std::string::npos);
  EXPECT_NE(parse_tags("a=1\\", tags).find("dangling"), std::string::npos);
  EXPECT_NE(parse_tags("a=b=c", tags).find("unescaped '='"),
            std::string::npos);
  EXPECT_NE(parse_tags("a=1,,b=2", tags), "");
  EXPECT_NE(parse_tags(std::string("a=\x01", 3), tags).find("control"),
            std::string::npos);
}

TEST(ValidateTags, EnforcesLimits) {
  std::map<std::string, std::string> tags;
  for (size_t i = 0; i <= max_tags; ++i)
    tags["k" + std::to_string(i)] = "v";
  EXPECT_NE(validate_tags(tags).find("too many tags"), std::string::npos);
  tags.clear();
  tags[std::string(max_tag_key_bytes + 1, 'k')] = "v";
  EXPECT_NE(validate_tags(tags).find("longer than"), std::string::npos);
  tags.clear();
  tags["k"] = std::string(max_tag_value_bytes + 1, 'v');
  EXPECT_NE(validate_tags(tags).find("longer than"), std::string::npos);
  tags.clear();
  for (int i = 0; i < 10; ++i)
    tags["k" + std::to_string(i)] = std::string(max_tag_value_bytes, 'v');
  EXPECT_NE(validate_tags(tags).find("total"), std::string::npos);
}

TEST(ValidateTags, RequiresWellFormedUtf8) {
  // Peers parse tags as protobuf strings: one ill-formed byte would make
  // every packet carrying them unparseable.
  for (std::string bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "ok\x80"}) {
    EXPECT_NE(validate_tags({{"k", bad}}).find("not valid UTF-8"),
              std::string::npos) << pekonode::escape(bad);
    EXPECT_NE(validate_tags({{bad, "v"}}).find("not valid UTF-8"),
              std::string::npos) << pekonode::escape(bad);
  }
  EXPECT_EQ(validate_tags({{"zone", "z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x90\x98"}}), "");
  std::map<std::string, std::string> tags;
  EXPECT_NE(parse_tags("zone=\xc3", tags).find("UTF-8"), std::string::npos);
}

TEST(ValidateName, RequiresVisibleAsciiWithinLimit) {
  EXPECT_EQ(validate_name("node-1.eu"), "");
  EXPECT_NE(validate_name("").find("empty"), std::string::npos);
  EXPECT_NE(validate_name(std::string(max_name_bytes + 1, 'n')).find("longer"),
            std::string::npos);
  EXPECT_EQ(validate_name(std::string(max_name_bytes, 'n')), "");
  EXPECT_NE(validate_name("has space"), "");
  EXPECT_NE(validate_name("tab\there"), "");
  EXPECT_NE(validate_name("caf\xc3\xa9"), "");
}

TEST(ParseProfile, KnowsThreeProfiles) {
  profile p = profile::lan;
  EXPECT_EQ(parse_profile("wan", p), "");
  EXPECT_EQ(p, profile::wan);
  EXPECT_EQ(parse_profile("local", p), "");
  EXPECT_EQ(p, profile::local);
  EXPECT_STREQ(to_string(p), "local");
  EXPECT_NE(parse_profile("LAN", p).find("lan, local, wan"),
            std::string::npos);
}

TEST(ParseOptions, FullValidSet) {
  raw_flags in;
  in.name = "n1";
  in.bind = "0.0.0.0:0";
  in.advertise = "10.0.0.1:7946";
  in.join = "seed.example:7946,10.0.0.2:7946";
  in.tags = "role=db";
  in.profile = "wan";
  in.admin = "127.0.0.1:7947";
  in.label = "prod";
  in.fault_injection = true;
  node_options out;
  ASSERT_EQ(parse_options(in, out), "");
  EXPECT_EQ(out.name, "n1");
  EXPECT_EQ(out.bind.port, 0);
  ASSERT_TRUE(out.advertise.has_value());
  EXPECT_EQ(out.advertise->to_string(), "10.0.0.1:7946");
  EXPECT_EQ(out.join.size(), 2u);
  EXPECT_EQ(out.tags.at("role"), "db");
  EXPECT_EQ(out.profile, profile::wan);
  ASSERT_TRUE(out.admin.has_value());
  EXPECT_EQ(out.admin->port, 7947);
  EXPECT_TRUE(out.fault_injection);
}

TEST(ParseOptions, ErrorsNameTheFlag) {
  struct row {
    void (*mutate)(raw_flags&);
    const char* prefix;
  };
  const row rows[] = {
    {[](raw_flags& f) { f.name = ""; }, "--name: "},
    {[](raw_flags& f) { f.bind = "nope"; }, "--bind: "},
    {[](raw_flags& f) { f.advertise = "10.0.0.1:0"; }, "--advertise: "},
    {[](raw_flags& f) { f.advertise = "0.0.0.0:7946"; }, "--advertise: "},
    {[](raw_flags& f) { f.join = "x:"; }, "--join: "},
    {[](raw_flags& f) { f.tags = "novalue"; }, "--tags: "},
    {[](raw_flags& f) { f.profile = "fast"; }, "--profile: "},
    {[](raw_flags& f) { f.admin = "localhost:80"; }, "--admin: "},
    {[](raw_flags& f) { f.label = std::string(300, 'l'); }, "--label: "},
  };
  for (auto& r : rows) {
    raw_flags in;
    in.name = "ok";
    r.mutate(in);
    node_options out;
    auto err = parse_options(in, out);
    EXPECT_EQ(err.rfind(r.prefix, 0), 0u) << "expected " << r.prefix
                                          << " got: " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

} // namespace
} // namespace pekonode::node
