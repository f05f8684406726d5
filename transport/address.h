#pragma once
// Transport addresses: parsing "host:port" / "[v6]:port", hostname resolution
// and conversion between sockaddr_storage and the canonical text form that
// common/types.h `address` uses ("ip:port", "[ip]:port"). No sockets opened.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "transport/error.h"

namespace pekonode::transport {

/// A parsed but unresolved address: host is an IP literal or a hostname
/// (brackets removed for IPv6).
struct host_port {
  std::string host;
  uint16_t port = 0;
};

/// A socket address ready for bind/sendto.
struct endpoint {
  sockaddr_storage storage{};
  socklen_t len = 0;

  int family() const noexcept { return storage.ss_family; }
  const sockaddr* sa() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

/// Splits "host:port" or "[v6]:port". Port 0 is accepted (bind picks one).
/// Errors (bad_address) say what is wrong: missing port, port out of range,
/// unbracketed IPv6, empty host, stray characters.
result<host_port> parse_host_port(std::string_view text);

/// Parses an IP literal address ("1.2.3.4:5", "[::1]:5"); no DNS lookups.
result<endpoint> parse_endpoint(std::string_view text);

/// Resolves "host:port" with getaddrinfo (blocking; IP literals return at
/// once). Returns all addresses, IPv4 first. resolve_failed names the host.
result<std::vector<endpoint>> resolve(std::string_view text);

/// Canonical text form of a socket address: "ip:port" or "[ip]:port"
/// (IPv4-mapped IPv6 addresses are shown as IPv4).
std::string to_address(const sockaddr* sa, socklen_t len);
inline std::string to_address(const endpoint& ep) {
  return to_address(ep.sa(), ep.len);
}

/// Canonical form of an IP-literal address text ("[0:0::1]:80" ->
/// "[::1]:80"); bad_address for hostnames or bad text.
result<address> canonicalize(std::string_view text);

} // namespace pekonode::transport
