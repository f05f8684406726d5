// Fuzz targets admin_fuzzer and admin_http_fuzzer (this file, built twice):
// admin API request handling (request line, paths, query strings, headers,
// JSON bodies) and the public parsing helpers the server uses on pieces of
// the request. Input format: admin_target.h parse_fuzz_request
// (human-readable; "RAW" for raw bytes). admin_fuzzer serves structured
// requests with serve_direct() (the server's request logic without its
// sockets and threads, fast) and skips raw bytes; admin_http_fuzzer
// (PEKONODE_ADMIN_THROUGH_SERVER) serves everything, raw bytes and HTTP
// framing included, with serve() through the libmicrohttpd server on
// loopback. Both use the same corpus and the same checks.
//
// Checked:
//  * helpers: percent_decode(percent_encode_key(k)) == k for every decoded
//    key; percent_encode_key emits only unreserved bytes, '/' and %XX;
//    parse_wait yields 0 .. 1 day; base64 round trip;
//  * replies: never a 5xx other than 503 and 505 (a 500 means a handler
//    threw);
//    never larger than any document of the API (no amplification); every
//    JSON reply parses and is an object, every error reply carries an
//    "error" string; no CORS header ever; a structured request gets at
//    most one reply; the server answers within 10 s (admin_target.cc);
//  * admission (docs/SECURITY.md, "Admin API"), for structured requests:
//    no success for a Host that node::check_host refuses, for a foreign
//    Origin, for a mutating request without the token (server with a
//    token), or for a simple-request CSRF POST (server without one).

#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/admin_target.h"
#include "fuzz/check.h"
#include "node/admin_http.h"
#include "node/admin_http_guard.h"

namespace {

using namespace pekonode;
using namespace pekonode::fuzz;

bool encoded_ok(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      continue;
    if (c != '%' || i + 2 >= s.size() || !std::isxdigit(s[i + 1])
        || !std::isxdigit(s[i + 2]))
      return false;
    i += 2;
  }
  return true;
}

void check_helpers(const admin_request& req) {
  std::string_view target = req.raw ? std::string_view{} : req.target;
  auto q = target.find('?');
  auto path = target.substr(0, q);
  constexpr std::string_view kv = "/v1/kv/";
  if (path.substr(0, kv.size()) == kv) {
    std::string key;
    if (node::percent_decode(std::string{path.substr(kv.size())}, key)) {
      auto enc = node::percent_encode_key(key);
      FUZZ_CHECK(encoded_ok(enc), "percent_encode_key left a reserved byte");
      std::string again;
      FUZZ_CHECK(node::percent_decode(enc, again) && again == key,
                 "percent-encoding does not round-trip");
    }
  }
  std::string decoded;
  FUZZ_CHECK(node::base64_decode(node::base64_encode(req.body), decoded)
               && decoded == req.body,
             "base64 encode/decode does not round-trip");
  if (q == std::string_view::npos)
    return;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      continue;
    duration d{};
    if (node::parse_wait(std::string{pair.substr(eq + 1)}, d))
      FUZZ_CHECK(d >= duration::zero() && d <= std::chrono::hours(24),
                 "parse_wait out of range");
  }
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string{s};
}

// Values of header `name` (lower-case) as render_http sends them, trimmed
// as the server reads them.
std::vector<std::string> values(const admin_request& req, std::string_view name) {
  std::vector<std::string> out;
  for (auto& [k, v] : req.headers) {
    std::string clean_name;
    for (char c : k)  // as render_http: token characters only
      if (std::isalnum(static_cast<unsigned char>(c))
          || std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos)
        clean_name += c;
    if (lower(clean_name) != name)
      continue;
    std::string value;
    for (char c : v)
      if (c != '\r' && c != '\n' && c != '\0')
        value += c;
    out.push_back(trim(value));
  }
  return out;
}

// Larger than any document this API produces with the fuzz configuration
// (values up to 2 KiB, a fresh backend, a few metrics).
constexpr size_t max_reply_body = 64 * 1024;

// The admission rules, judged from what the request carries: each names a
// request that must not succeed.
void check_admission(const admin_request& req, const admin_reply& r) {
  if (req.raw || r.status < 200 || r.status >= 300)
    return;
  auto hosts = values(req, "host");
  if (hosts.empty())
    hosts.push_back("127.0.0.1");
  FUZZ_CHECK(hosts.size() == 1, "success with two Host headers");
  const std::vector<std::string> allowed{std::string{admin_fuzz_allowed_host}};
  FUZZ_CHECK(node::check_host(hosts[0], allowed).empty(),
             "success for a Host the rules refuse (DNS rebinding)");
  auto origins = values(req, "origin");
  FUZZ_CHECK(origins.size() <= 1, "success with two Origin headers");
  if (origins.size() == 1)
    FUZZ_CHECK(node::check_origin(origins[0], hosts[0], false).empty(),
               "success for a foreign Origin");
  // The method as sent, like the headers above ("G=ET" goes out as "GET").
  const auto method = sent_method(req);
  const bool read = method == "GET" || method == "HEAD" || method == "OPTIONS";
  if (to_token_server(req)) {
    bool token = false;
    for (auto& v : values(req, "authorization"))
      token = token || v.find(admin_fuzz_token) != std::string::npos;
    FUZZ_CHECK(read || token, "success for a mutating request without the token");
  } else {
    auto types = values(req, "content-type");
    if (method == "POST" && types.size() == 1)
      FUZZ_CHECK(!node::cross_site_sendable(method, types[0])
                   || node::media_type(types[0]).empty(),
                 "success for a POST a web page can send cross-site (CSRF)");
  }
}

void check_reply(const admin_request& req, const admin_reply& r) {
  if (!req.raw)
    FUZZ_CHECK(r.replies <= 1, "one request, several replies");
  if (r.status == 0)
    return;
  FUZZ_CHECK(r.status >= 100 && r.status < 600, "status out of range");
  // 503: overload (Retry-After); 505: the HTTP library's page for a version
  // other than HTTP/1.x (docs/SECURITY.md). Any other 5xx is a fault.
  FUZZ_CHECK(r.status < 500 || r.status == 503 || r.status == 505,
             r.body.c_str());
  FUZZ_CHECK(r.body.size() <= max_reply_body,
             "reply larger than any document of the API");
  for (auto& [k, v] : r.headers)
    FUZZ_CHECK(k.rfind("access-control-", 0) != 0,
               "CORS header in a reply (no page of another origin may call)");
  auto type = header(r, "content-type");
  // A HEAD reply has the headers of the GET it stands for and no body.
  if (type.rfind("application/json", 0) == 0 && !r.head) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j.is_object(), "JSON reply is not an object");
    if (r.status >= 400)
      FUZZ_CHECK(j.contains("error") && j["error"].is_string(),
                 "error reply without an \"error\" string");
  }
  check_admission(req, r);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto req = parse_fuzz_request({reinterpret_cast<const char*>(data), size});
#ifdef PEKONODE_ADMIN_THROUGH_SERVER
  // admin_http_fuzzer: every input through the libmicrohttpd server.
  check_helpers(req);
  check_reply(req, serve(req));
#else
  // admin_fuzzer: structured requests straight to the request logic; raw
  // bytes (HTTP framing) are admin_http_fuzzer's.
  if (req.raw)
    return 0;
  check_helpers(req);
  check_reply(req, serve_direct(req));
#endif
  return 0;
}
