// The admin fuzz target's seam (admin_target.h) reaches the real server: a
// fuzzer whose requests never got answered would cover nothing and report
// nothing.
#include "fuzz/admin_target.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pekonode::fuzz {
namespace {

TEST(AdminTarget, FuzzFormatRoundTrips) {
  admin_request r;
  r.method = "PUT";
  r.target = "/v1/kv/a%2Fb?cas=1";
  r.headers = {{"Content-Type", "text/plain"}, {"X-Empty", ""}};
  r.body = "line1\nline2\n\nafter blank";
  auto back = parse_fuzz_request(format_fuzz_request(r));
  EXPECT_FALSE(back.raw);
  EXPECT_EQ(back.method, r.method);
  EXPECT_EQ(back.target, r.target);
  EXPECT_EQ(back.headers, r.headers);
  EXPECT_EQ(back.body, r.body);
  auto raw = parse_fuzz_request("RAW\nGET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(raw.raw);
  EXPECT_EQ(raw.raw_bytes, "GET / HTTP/1.1\r\n\r\n");
}

TEST(AdminTarget, RenderEncodesWhatARequestLineCannotCarry) {
  admin_request r;
  r.method = "G E\rT";
  r.target = "/v1/kv/a b\n\x01";
  r.headers = {{"Bad Name:", "v\r\nInjected: 1"}, {"Content-Length", "99"}};
  auto http = render_http(r);
  EXPECT_EQ(http.rfind("GET /v1/kv/a%20b%0A%01 HTTP/1.1\r\n", 0), 0u) << http;
  EXPECT_NE(http.find("BadName: vInjected: 1\r\n"), std::string::npos) << http;
  EXPECT_EQ(http.find("99"), std::string::npos) << http;
  EXPECT_NE(http.find("Content-Length: 0\r\n"), std::string::npos) << http;
}

TEST(AdminTarget, ServesRequestsFromTheAdminServer) {
  auto health = serve(parse_fuzz_request("GET /v1/health\n\n"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.replies, 1u);
  EXPECT_NE(health.body.find("\"ok\""), std::string::npos);
  auto put = serve(parse_fuzz_request("PUT /v1/kv/a%2Fb\n\nvalue"));
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find("a/b"), std::string::npos);
  auto missing = serve(parse_fuzz_request("GET /v1/nowhere\n\n"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(header(missing, "content-type"), "application/json");
  // Each request meets a fresh backend: what the PUT stored is gone.
  EXPECT_EQ(serve(parse_fuzz_request("GET /v1/kv/a%2Fb\n\n")).status, 404);
}

TEST(AdminTarget, StructuredRequestsAreAlwaysAnswered) {
  // A structured request ends by its Content-Length, so the connection stays
  // open until the reply: the server never mistakes it for a dead client.
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(serve(parse_fuzz_request("GET /v1/self\n\n")).status, 200) << i;
}

TEST(AdminTarget, RawBytesEndWithTheConnection) {
  // Raw bytes are followed by a half-close: complete pipelined requests are
  // all answered, and the connection ends.
  auto r = serve(parse_fuzz_request(
    "RAW\nGET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    "PUT /v1/kv/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nv"
    "GET /v1/kv/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_EQ(r.replies, 3u);
  EXPECT_EQ(r.status, 200);
  // A body cut short is never a success: the server either notices the
  // half-close and drops the connection (no reply), or answers at its
  // deadline with 408; which one depends on when it polls the socket.
  auto cut = serve(parse_fuzz_request(
    "RAW\nPUT /v1/kv/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\n\r\nab"));
  EXPECT_TRUE(cut.status == 0 || cut.status == 408) << cut.status;
}

TEST(AdminTarget, HostHeadersOfTheRequestAreSent) {
  admin_request r;
  r.method = "GET";
  r.target = "/v1/health";
  EXPECT_NE(render_http(r).find("\r\nHost: 127.0.0.1\r\n"), std::string::npos);
  r.headers = {{"Host", "evil.example"}};
  auto http = render_http(r);
  EXPECT_NE(http.find("\r\nHost: evil.example\r\n"), std::string::npos) << http;
  EXPECT_EQ(http.find("127.0.0.1"), std::string::npos) << http;
  EXPECT_EQ(serve(r).status, 403); // DNS-rebinding rule
  r.headers = {{"Host", std::string{admin_fuzz_allowed_host}}};
  EXPECT_EQ(serve(r).status, 200);
}

TEST(AdminTarget, AuthorizationSelectsTheServerWithTheToken) {
  const std::string bearer = "Bearer " + std::string{admin_fuzz_token};
  admin_request put;
  put.method = "PUT";
  put.target = "/v1/kv/k";
  put.body = "v";
  EXPECT_FALSE(to_token_server(put));
  EXPECT_EQ(serve(put).status, 200); // no token configured
  put.headers = {{"Authorization", "Bearer wrong-token-0123456789"}};
  EXPECT_TRUE(to_token_server(put));
  EXPECT_EQ(serve(put).status, 401);
  put.headers = {{"Authorization", bearer}};
  EXPECT_EQ(serve(put).status, 200);
  // Without a token, a POST a web page could send cross-site is refused.
  admin_request leave;
  leave.method = "POST";
  leave.target = "/v1/leave";
  leave.headers = {{"Content-Type", "text/plain"}};
  EXPECT_EQ(serve(leave).status, 403);
  leave.headers.push_back({"Authorization", bearer});
  EXPECT_EQ(serve(leave).status, 200);
}

// admin_fuzzer's fast path must answer as the server does, or its
// millions of executions would fuzz something else: every structured seed
// (one per endpoint and per admission rule, fuzz/corpus/admin) gets the
// same status, content type and body from both (/metrics aside, whose
// figures are the server's own counters). HEAD is left out: the server
// sends the headers of the GET reply without its body, which serve()'s
// client takes for a reply cut short (status 0); serve_direct() returns
// the handler's reply, so admin_fuzzer checks those bodies too.
TEST(AdminTarget, DirectPathAnswersAsTheServerOnEverySeed) {
  const std::string dir = "fuzz/corpus/admin";
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.')
      names.push_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  size_t compared = 0;
  for (auto& n : names) {
    std::ifstream in{dir + "/" + n, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>(in),
                      std::istreambuf_iterator<char>()};
    auto req = parse_fuzz_request(bytes);
    if (req.raw || req.method == "HEAD")
      continue;
    auto server = serve(req);
    auto direct = serve_direct(req);
    EXPECT_EQ(direct.status, server.status) << n << ": " << server.body;
    EXPECT_EQ(header(direct, "content-type"), header(server, "content-type"))
      << n;
    if (req.target.rfind("/metrics", 0) != 0)
      EXPECT_EQ(direct.body, server.body) << n;
    ++compared;
  }
  EXPECT_GE(compared, 40u);
}

TEST(AdminTarget, DirectPathAppliesTheRules) {
  EXPECT_EQ(serve_direct(parse_fuzz_request("GET /v1/health\n\n")).status, 200);
  EXPECT_EQ(serve_direct(parse_fuzz_request("GET /v1/health\nHost: evil.example\n\n"))
              .status,
            403);
  EXPECT_EQ(serve_direct(parse_fuzz_request(
                           "PUT /v1/kv/k\nAuthorization: Bearer wrong-token-0123456789\n\nv"))
              .status,
            401);
  EXPECT_EQ(serve_direct(parse_fuzz_request(
                           "POST /v1/leave\nContent-Type: text/plain\n\n"))
              .status,
            403);
  EXPECT_EQ(serve_direct(parse_fuzz_request("GET /v1/nowhere\n\n")).status, 404);
  EXPECT_EQ(serve_direct(parse_fuzz_request("GET /v1/kv/k\nHost: a\nHost: b\n\n"))
              .status,
            400);
}

} // namespace
} // namespace pekonode::fuzz
