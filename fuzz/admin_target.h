#pragma once
// The admin API as seen by admin_fuzzer and admin_http_fuzzer: one HTTP
// request in, one reply out. The request is plain data (method, path+query,
// headers, body), so the fuzz targets do not depend on how a server reads
// sockets; serve() and serve_direct() are the only places that know which
// server answers.
//
// serve() (admin_http_fuzzer) goes through node/admin_http.h's admin_server
// (libmicrohttpd) on a loopback port, against node/fake_admin_backend.h: the
// HTTP framing, the server's request assembly and its threads are fuzzed,
// at the price of a connection and a trip through the server's threads per
// input, and of the server's 0.5 s deadline for raw bytes cut short.
// serve_direct() (admin_fuzzer) hands the request the server would assemble
// from the same bytes straight to its request logic (node/admin_http_api.h:
// admission, body limit, long-poll, handlers), much faster, so paths,
// queries, headers and JSON bodies get millions of executions. Each path
// runs two instances: one
// with an admin token and one without, so both the token rule and the rules
// that apply without a token (CSRF) are reached.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pekonode::fuzz {

/// The token of the server that has one (admin_config::token).
inline constexpr std::string_view admin_fuzz_token =
  "pekonode-fuzz-token-0123456789abcdef";

/// The one name besides IP literals and "localhost" both servers accept as
/// Host (admin_config::allowed_hosts).
inline constexpr std::string_view admin_fuzz_allowed_host = "pekonode.test";

/// One request. With `raw` set, `raw_bytes` go to the server as they are
/// (possibly several pipelined requests, possibly not HTTP at all) and the
/// other fields are ignored.
struct admin_request {
  std::string method;
  std::string target; ///< path and query, e.g. "/v1/kv/a%2Fb?watch=1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool raw = false;
  std::string raw_bytes;
};

/// The first reply on the connection (status 0: the server closed it
/// without one).
struct admin_reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; ///< names lower-case
  std::string body;
  size_t replies = 0; ///< complete replies read (pipelined raw requests)
  bool head = false;  ///< the reply to a HEAD over HTTP: no body by rule
};

/// Reads the fuzz input format:
///   METHOD TARGET\n            (first line; "RAW" alone: the rest is raw)
///   Name: value\n ...           (headers, up to an empty line)
///   \n
///   body...                     (everything left)
admin_request parse_fuzz_request(std::string_view input);

/// Writes `req` in the fuzz input format (the corpus generator).
std::string format_fuzz_request(const admin_request& req);

/// HTTP/1.1 bytes of a structured request as a well-behaved client writes
/// them: bytes that cannot appear in a request line are percent-encoded,
/// header names and values cleaned of separators, Content-Length and
/// Connection: close set by us. The request's own Host headers are sent as
/// given (none: "Host: 127.0.0.1").
std::string render_http(const admin_request& req);

/// The method render_http puts on the request line (token characters of
/// req.method; "GET" when none): what the server sees, and so what the
/// admission checks must judge ("G=ET" is sent as "GET", a read).
std::string sent_method(const admin_request& req);

/// Whether serve() gives `req` to the server with the token: a structured
/// request with an Authorization header, or raw bytes naming one.
bool to_token_server(const admin_request& req);

/// Serves one request (see the header comment). Aborts if the server does
/// not finish within 10 s. Raw bytes are followed by a half-close; the
/// server does not notice it while a request is incomplete, so such bytes
/// end with its 408 after the (shortened, 0.5 s) header or body deadline.
admin_reply serve(const admin_request& req);

/// Serves a structured request without a socket: the node::http::request
/// that the server builds from render_http(req) (same cleaned method,
/// target and headers, values trimmed, Content-Length the body's size) goes
/// through the steps the server takes (admission, body limit, then the
/// long-poll or handler dispatch of its workers) on node::http::api with the
/// same configuration and a fresh fake backend. Raw bytes go to serve().
/// The reply carries the handler's headers (not the server's fixed ones)
/// and, for HEAD, the body the handler produced.
admin_reply serve_direct(const admin_request& req);

/// Value of header `name` (lower-case) in `reply`, or empty.
std::string header(const admin_reply& reply, std::string_view name);

} // namespace pekonode::fuzz
