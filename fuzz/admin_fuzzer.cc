// Fuzz target: admin API request handling (paths, query strings, headers,
// JSON bodies) through fuzz/admin_target.h, which today serves each request
// with node/admin_http.h's server against the fake backend, and the public
// parsing helpers the server uses on pieces of the request. Input format:
// admin_target.h parse_fuzz_request (human-readable; "RAW" for raw bytes).
//
// Checked:
//  * helpers: percent_decode(percent_encode_key(k)) == k for every decoded
//    key; percent_encode_key emits only unreserved bytes, '/' and %XX;
//    parse_wait yields 0 .. 1 day;
//  * replies: never a 5xx other than 503 (a 500 means a handler threw);
//    never larger than any document of the API (no amplification); every
//    JSON reply parses and is an object, every error reply carries an
//    "error" string; a structured request gets at most one reply; the
//    server answers within 10 s (admin_target.cc).

#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz/admin_target.h"
#include "fuzz/check.h"
#include "node/admin_http.h"

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

// Whether the bytes sent carry a Range header (signature of finding A1).
bool sends_range(const admin_request& req) {
  if (req.raw)
    return lower(req.raw_bytes).find("range:") != std::string::npos;
  return lower(render_http(req)).find("\r\nrange:") != std::string::npos;
}

// Larger than any document this API produces with the fuzz configuration
// (values up to 2 KiB, a fresh backend, a few metrics).
constexpr size_t max_reply_body = 64 * 1024;

void check_reply(const admin_request& req, const admin_reply& r) {
  // Known finding A2 (fuzz/README.md): after an error reply the server
  // ignores "Connection: close" and reads on, so bytes of a body it did not
  // read can come back as a second reply.
  if (!req.raw)
    FUZZ_CHECK_KNOWN(r.replies <= 1, r.status == 400,
                     "A2-admin-reads-on-after-error",
                     "one request, several replies");
  if (r.status == 0)
    return;
  FUZZ_CHECK(r.status >= 100 && r.status < 600, "status out of range");
  FUZZ_CHECK(r.status < 500 || r.status == 503, r.body.c_str());
  // Known finding A1 (fuzz/README.md): the HTTP library serves any Range
  // header on every reply: JSON cut mid-document (errors included, status
  // unchanged) and one copy of the body per listed range.
  const bool ranged = sends_range(req);
  FUZZ_CHECK_KNOWN(r.body.size() <= max_reply_body, ranged,
                   "A1-admin-range-amplification",
                   "reply larger than any document of the API");
  auto type = header(r, "content-type");
  if (type.rfind("application/json", 0) == 0) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    bool object = !j.is_discarded() && j.is_object();
    FUZZ_CHECK_KNOWN(object, ranged, "A1-admin-range-amplification",
                     "JSON reply is not an object");
    if (object && r.status >= 400)
      FUZZ_CHECK(j.contains("error") && j["error"].is_string(),
                 "error reply without an \"error\" string");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto req = parse_fuzz_request({reinterpret_cast<const char*>(data), size});
  check_helpers(req);
  check_reply(req, serve(req));
  return 0;
}
