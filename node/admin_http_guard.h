#pragma once
// Admission rules of the admin HTTP API as plain functions: which Host names
// may address it (DNS rebinding), which Origins may use it (cross-site
// requests), which requests a web page can send cross-site without a CORS
// preflight (simple-request CSRF), and the bearer token with its file. No
// HTTP library and no sockets here; the server applies them and turns a
// refusal into a status code. docs/SECURITY.md explains the reasoning.

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace pekonode::node {

/// True for an IP literal in 127.0.0.0/8, "::1" or "::ffff:127.x.y.z".
/// Names (even "localhost") and the wildcards 0.0.0.0 / :: are not.
bool is_loopback_ip(const std::string& ip);

/// Splits a Host header value ("name", "name:port", "1.2.3.4:80",
/// "[::1]:80") into its host, lower-cased and without a trailing dot.
/// `ip_literal` tells whether the host is a numeric IPv4/IPv6 address.
/// Returns an empty string, or a one-line reason when malformed.
std::string parse_host_header(std::string_view value, std::string& host,
                              bool& ip_literal);

/// Why a request with this Host header may not use the API, or an empty
/// string when it may. An IP literal always may: a DNS-rebinding page runs
/// under a name the attacker's DNS answers for, and that name is what its
/// browser sends as Host. Names may only be "localhost" or one of
/// `allowed_names` (compared case-insensitively, without port).
std::string check_host(std::string_view host_header,
                       const std::vector<std::string>& allowed_names);

/// Why a request carrying `origin` may not use the API, or an empty string
/// when it may. No Origin header is fine (not a browser's cross-origin
/// request); otherwise it must equal this API's own origin, i.e.
/// "http(s)://" + the Host header ("null" never does).
std::string check_origin(std::string_view origin,
                         std::string_view host_header, bool tls);

/// True when a browser lets any web page send this request to another
/// origin without a CORS preflight and without an Origin check of its own
/// (a "simple request"): POST with no Content-Type, or with
/// application/x-www-form-urlencoded, multipart/form-data or text/plain
/// (parameters and case ignored). PUT, PATCH and DELETE never are.
bool cross_site_sendable(std::string_view method,
                         std::string_view content_type);

/// The media type of a Content-Type value: lower-case, parameters and
/// surrounding spaces removed ("Text/Plain; charset=x" -> "text/plain").
std::string media_type(std::string_view content_type);

/// A configured bearer token. Holds only a digest of it and compares
/// digests in constant time, so neither timing nor length leaks the token.
class admin_token {
 public:
  enum class verdict {
    ok,         ///< "Authorization: Bearer <the token>"
    missing,    ///< no Authorization header
    malformed,  ///< not "Bearer <token>"
    wrong,      ///< a bearer token, but not this one
  };

  /// No token: configured() is false and check() is never ok.
  admin_token() = default;

  /// `token` must already be valid (see validate_token()).
  explicit admin_token(std::string_view token);

  bool configured() const noexcept {
    return configured_;
  }

  /// Judges an Authorization header value (empty when absent).
  verdict check(std::string_view authorization) const;

 private:
  bool configured_ = false;
  std::array<unsigned char, 32> digest_{};
};

/// Why `token` cannot be a bearer token, or an empty string: 16 to 4096
/// visible ASCII characters (no spaces), so it fits a header unchanged.
std::string validate_token(std::string_view token);

/// Reads a token file: the whole file with surrounding whitespace (the
/// trailing newline of `echo`) removed, validated by validate_token().
/// Returns an empty string or a one-line reason. Sets `warning` (else
/// clears it) when group or others may read or write the file.
std::string load_token_file(const std::string& path, std::string& token,
                            std::string& warning);

} // namespace pekonode::node
