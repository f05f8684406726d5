#include "node/admin_http_guard.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/file_mode.h"
#include "common/host_port.h"
#include "common/text.h"

namespace pekonode::node {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// A DNS name as browsers send it: letters, digits, '-', '.', '_'.
bool plausible_name(std::string_view s) {
  if (s.empty() || s.size() > 253)
    return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '-' && c != '.' && c != '_')
      return false;
  return true;
}

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0)
      std::abort(); // libsodium cannot run at all on this machine
  });
}

std::array<unsigned char, 32> digest_of(std::string_view text) {
  ensure_sodium();
  std::array<unsigned char, 32> d{};
  crypto_generichash(d.data(), d.size(),
                     reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  return d;
}

} // namespace

bool is_loopback_ip(const std::string& ip) {
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::string parse_host_header(std::string_view value, std::string& host,
                              bool& ip_literal) {
  ip_literal = false;
  if (value.empty())
    return "empty Host header";
  if (!printable(value) || value.find(' ') != std::string_view::npos)
    return "malformed Host header " + quote(value, 64);
  std::string_view h = value;
  bool bracketed = false;
  // "name:port" / "[v6]:port" / "[v6]" / "name" / "1.2.3.4".
  if (value.front() == '[' || value.find(':') != std::string_view::npos) {
    if (value.front() == '[' && value.back() == ']') {
      h = value.substr(1, value.size() - 2);
      bracketed = true;
    } else {
      host_port_text parts;
      if (auto err = split_host_port(value, parts); !err.empty())
        return "malformed Host header " + quote(value, 64);
      uint16_t port = 0;
      if (!parse_port(parts.port, true, port).empty())
        return "malformed port in Host header " + quote(value, 64);
      h = parts.host;
      bracketed = parts.bracketed;
    }
  }
  host = lower(h);
  if (bracketed) {
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1)
      return "malformed IPv6 address in Host header " + quote(value, 64);
    ip_literal = true;
    return {};
  }
  if (!host.empty() && host.back() == '.')
    host.pop_back();
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    ip_literal = true;
    return {};
  }
  if (!plausible_name(host))
    return "malformed Host header " + quote(value, 64);
  return {};
}

std::string check_host(std::string_view host_header,
                       const std::vector<std::string>& allowed_names) {
  std::string host;
  bool ip_literal = false;
  if (auto err = parse_host_header(host_header, host, ip_literal);
      !err.empty())
    return err;
  if (ip_literal || host == "localhost")
    return {};
  for (auto& name : allowed_names) {
    std::string_view n = name;
    if (!n.empty() && n.back() == '.')
      n.remove_suffix(1);
    if (iequals(n, host))
      return {};
  }
  return "Host " + quote(host, 64)
         + " is not allowed (DNS-rebinding protection): address the node by "
           "IP, as localhost, or by a name in --admin_allowed_hosts";
}

std::string check_origin(std::string_view origin,
                         std::string_view host_header, bool tls) {
  if (origin.empty())
    return {};
  std::string own = std::string{tls ? "https://" : "http://"}
                    + lower(host_header);
  if (!host_header.empty() && lower(origin) == own)
    return {};
  return "cross-origin request from Origin " + quote(origin, 96)
         + " refused: only pages served by this API (" + own
         + ") may call it";
}

std::string media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (semi != std::string_view::npos)
    content_type = content_type.substr(0, semi);
  return lower(trim(content_type));
}

bool cross_site_sendable(std::string_view method,
                         std::string_view content_type) {
  if (method != "POST")
    return false;
  auto type = media_type(content_type);
  return type.empty() || type == "application/x-www-form-urlencoded"
         || type == "multipart/form-data" || type == "text/plain";
}

admin_token::admin_token(std::string_view token)
  : configured_(true), digest_(digest_of(token)) {
}

admin_token::verdict admin_token::check(std::string_view authorization) const {
  if (authorization.empty())
    return verdict::missing;
  auto value = trim(authorization);
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size()
      || !iequals(value.substr(0, scheme.size()), scheme))
    return verdict::malformed;
  auto presented = trim(value.substr(scheme.size()));
  if (presented.empty())
    return verdict::malformed;
  if (!configured_)
    return verdict::wrong;
  auto d = digest_of(presented);
  return sodium_memcmp(d.data(), digest_.data(), d.size()) == 0
           ? verdict::ok
           : verdict::wrong;
}

std::string validate_token(std::string_view token) {
  if (token.size() < 16)
    return "token is " + std::to_string(token.size())
           + " characters; at least 16 are required (e.g. the output of "
             "'head -c 32 /dev/urandom | base64')";
  if (token.size() > 4096)
    return "token longer than 4096 characters";
  for (unsigned char c : token)
    if (c <= 0x20 || c >= 0x7f)
      return "token must be visible ASCII without spaces";
  return {};
}

std::string load_token_file(const std::string& path, std::string& token,
                            std::string& warning) {
  warning.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return "cannot open " + quote(path) + ": " + std::strerror(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return quote(path) + " is not a regular file";
  }
  std::string text;
  char buf[1024];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return "cannot read " + quote(path) + ": " + std::strerror(err);
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > 8192) {
      ::close(fd);
      return quote(path) + " is larger than 8 KiB; expected one token";
    }
  }
  ::close(fd);
  auto t = trim(text);
  if (auto err = validate_token(t); !err.empty())
    return quote(path) + ": " + err;
  token.assign(t);
  warning = secret_file_mode_warning(path, st.st_mode);
  return {};
}

} // namespace pekonode::node
