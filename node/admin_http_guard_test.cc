#include "node/admin_http_guard.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace pekonode::node {
namespace {

TEST(AdminGuard, LoopbackIps) {
  EXPECT_TRUE(is_loopback_ip("127.0.0.1"));
  EXPECT_TRUE(is_loopback_ip("127.255.0.9"));
  EXPECT_TRUE(is_loopback_ip("::1"));
  EXPECT_TRUE(is_loopback_ip("::ffff:127.0.0.1"));
  EXPECT_FALSE(is_loopback_ip("0.0.0.0"));
  EXPECT_FALSE(is_loopback_ip("::"));
  EXPECT_FALSE(is_loopback_ip("10.0.0.1"));
  EXPECT_FALSE(is_loopback_ip("128.0.0.1"));
  EXPECT_FALSE(is_loopback_ip("::ffff:10.0.0.1"));
  EXPECT_FALSE(is_loopback_ip("localhost"));
  EXPECT_FALSE(is_loopback_ip(""));
}

TEST(AdminGuard, HostHeaderParsing) {
  struct row {
    const char* in;
    const char* host;  // nullptr: malformed
    bool ip;
  };
  const row rows[] = {
    {"127.0.0.1:7947", "127.0.0.1", true},
    {"127.0.0.1", "127.0.0.1", true},
    {"[::1]:7947", "::1", true},
    {"[::1]", "::1", true},
    {"LocalHost:80", "localhost", false},
    {"localhost.", "localhost", false},
    {"node-1.example.com:7947", "node-1.example.com", false},
    {"", nullptr, false},
    {"::1", nullptr, false},
    {"[nope]:1", nullptr, false},
    {"a b", nullptr, false},
    {"host:99999", nullptr, false},
    {"host:", nullptr, false},
    {"ev\x01l", nullptr, false},
    {"evil/..", nullptr, false},
  };
  for (auto& r : rows) {
    std::string host;
    bool ip = false;
    auto err = parse_host_header(r.in, host, ip);
    if (r.host == nullptr) {
      EXPECT_NE(err, "") << r.in;
      continue;
    }
    EXPECT_EQ(err, "") << r.in;
    EXPECT_EQ(host, r.host) << r.in;
    EXPECT_EQ(ip, r.ip) << r.in;
  }
}

TEST(AdminGuard, HostAllowListStopsRebinding) {
  std::vector<std::string> none;
  EXPECT_EQ(check_host("127.0.0.1:7947", none), "");
  EXPECT_EQ(check_host("10.1.2.3:7947", none), "");  // IP literal
  EXPECT_EQ(check_host("[::1]:7947", none), "");
  EXPECT_EQ(check_host("localhost:7947", none), "");
  auto err = check_host("rebind.evil.example", none);
  EXPECT_NE(err.find("\"rebind.evil.example\" is not allowed"),
            std::string::npos)
    << err;
  EXPECT_NE(err.find("--admin_allowed_hosts"), std::string::npos) << err;
  EXPECT_NE(check_host("localhost.evil.example", none), "");
  std::vector<std::string> allowed{"Admin.Internal."};
  EXPECT_EQ(check_host("admin.internal:7947", allowed), "");
  EXPECT_NE(check_host("evil.admin.internal:7947", allowed), "");
}

TEST(AdminGuard, OriginMustBeOwnOrigin) {
  EXPECT_EQ(check_origin("", "127.0.0.1:7947", false), "");
  EXPECT_EQ(check_origin("http://127.0.0.1:7947", "127.0.0.1:7947", false),
            "");
  EXPECT_EQ(check_origin("HTTP://LocalHost:7947", "localhost:7947", false),
            "");
  EXPECT_EQ(check_origin("https://127.0.0.1:7947", "127.0.0.1:7947", true),
            "");
  auto err = check_origin("http://evil.example", "127.0.0.1:7947", false);
  EXPECT_NE(err.find("\"http://evil.example\""), std::string::npos) << err;
  EXPECT_NE(check_origin("null", "127.0.0.1:7947", false), "");
  EXPECT_NE(check_origin("http://127.0.0.1:7947", "127.0.0.1:7947", true),
            "");  // scheme differs
  EXPECT_NE(check_origin("http://127.0.0.1:7948", "127.0.0.1:7947", false),
            "");  // port differs
  EXPECT_NE(check_origin("http://127.0.0.1", "", false), "");
}

TEST(AdminGuard, SimpleRequestsBrowsersSendCrossSite) {
  EXPECT_TRUE(cross_site_sendable("POST", ""));
  EXPECT_TRUE(cross_site_sendable("POST", "text/plain"));
  EXPECT_TRUE(cross_site_sendable("POST", "Text/Plain; charset=UTF-8"));
  EXPECT_TRUE(cross_site_sendable("POST", "application/x-www-form-urlencoded"));
  EXPECT_TRUE(cross_site_sendable("POST", " multipart/form-data; boundary=x"));
  EXPECT_FALSE(cross_site_sendable("POST", "application/json"));
  EXPECT_FALSE(cross_site_sendable("POST", "application/octet-stream"));
  EXPECT_FALSE(cross_site_sendable("PUT", "text/plain"));
  EXPECT_FALSE(cross_site_sendable("DELETE", ""));
  EXPECT_FALSE(cross_site_sendable("PATCH", "text/plain"));
  EXPECT_EQ(media_type(" Application/JSON ; charset=utf-8"),
            "application/json");
}

TEST(AdminGuard, BearerToken) {
  admin_token none;
  EXPECT_FALSE(none.configured());
  EXPECT_EQ(none.check("Bearer 0123456789abcdef"),
            admin_token::verdict::wrong);
  admin_token t{"0123456789abcdef"};
  EXPECT_TRUE(t.configured());
  using v = admin_token::verdict;
  EXPECT_EQ(t.check("Bearer 0123456789abcdef"), v::ok);
  EXPECT_EQ(t.check("bearer   0123456789abcdef "), v::ok);
  EXPECT_EQ(t.check(""), v::missing);
  EXPECT_EQ(t.check("Basic dXNlcjpwdw=="), v::malformed);
  EXPECT_EQ(t.check("Bearer "), v::malformed);
  EXPECT_EQ(t.check("Bearer 0123456789abcdeF"), v::wrong);
  EXPECT_EQ(t.check("Bearer 0123456789abcde"), v::wrong);
  EXPECT_EQ(t.check("Bearer 0123456789abcdef0"), v::wrong);
}

TEST(AdminGuard, TokenValidation) {
  EXPECT_NE(validate_token("short"), "");
  EXPECT_NE(validate_token("0123456789abcde f"), "");
  EXPECT_NE(validate_token(std::string(4097, 'a')), "");
  EXPECT_NE(validate_token(std::string(20, 'a') + "\x80"), "");
  EXPECT_EQ(validate_token("0123456789abcdef"), "");
}

class TokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = std::string{dir != nullptr ? dir : "/tmp"} + "/token-"
            + std::to_string(::getpid());
  }
  void TearDown() override {
    std::remove(path_.c_str());
  }
  void write(const std::string& text, mode_t mode) {
    std::ofstream{path_, std::ios::trunc} << text;
    ::chmod(path_.c_str(), mode);
  }
  std::string path_;
};

TEST_F(TokenFile, TrimsAndWarnsWhenOthersCanRead) {
  write("  s3cr3t-t0ken-0123456789\n", 0600);
  std::string token;
  std::string warning;
  ASSERT_EQ(load_token_file(path_, token, warning), "");
  EXPECT_EQ(token, "s3cr3t-t0ken-0123456789");
  EXPECT_EQ(warning, "");
  write("s3cr3t-t0ken-0123456789\n", 0644);
  ASSERT_EQ(load_token_file(path_, token, warning), "");
  EXPECT_NE(warning.find("mode 0644"), std::string::npos) << warning;
  EXPECT_NE(warning.find("chmod 600"), std::string::npos) << warning;
  write("s3cr3t-t0ken-0123456789\n", 0640);
  ASSERT_EQ(load_token_file(path_, token, warning), "");
  EXPECT_NE(warning, "");
}

TEST_F(TokenFile, RejectsMissingEmptyAndWeak) {
  std::string token;
  std::string warning;
  EXPECT_NE(load_token_file(path_ + "-absent", token, warning)
              .find("cannot open"),
            std::string::npos);
  write("\n", 0600);
  EXPECT_NE(load_token_file(path_, token, warning).find("at least 16"),
            std::string::npos);
  write(std::string(9000, 'a'), 0600);
  EXPECT_NE(load_token_file(path_, token, warning), "");
  EXPECT_NE(load_token_file("/", token, warning), "");
}

} // namespace
} // namespace pekonode::node
