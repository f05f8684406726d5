#pragma once
// The admin API as seen by admin_fuzzer: one HTTP request in, one reply out.
// The request is plain data (method, path+query, headers, body), so the
// fuzz target does not depend on how a server reads sockets; serve() is the
// one place that knows which server answers. Today it is node/admin_http.h's
// admin_server on a loopback port (it offers no socket-free entry point),
// against node/fake_admin_backend.h; when the admin server offers a request
// parser or router that takes bytes or a request struct, serve() calls that
// instead and nothing else changes.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pekonode::fuzz {

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
/// header names and values cleaned of separators, and Host, Content-Length
/// and Connection: close set by us.
std::string render_http(const admin_request& req);

/// Serves one request (see the header comment). Aborts if the server does
/// not finish within 10 s. Raw bytes are followed by a half-close, so a
/// request cut short ends at once; the server (cpp-httplib 0.11) may then
/// drop its reply, as it treats a half-closed client as gone.
admin_reply serve(const admin_request& req);

/// Value of header `name` (lower-case) in `reply`, or empty.
std::string header(const admin_reply& reply, std::string_view name);

} // namespace pekonode::fuzz
