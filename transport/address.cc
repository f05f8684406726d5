#include "transport/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "common/host_port.h"
#include "common/text.h"

namespace pekonode::transport {

namespace {

result<endpoint> lookup(const host_port& hp, int flags, std::string_view text) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = flags | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    std::string why = rc == 0 ? "no addresses" : gai_strerror(rc);
    if (flags & AI_NUMERICHOST)
      return result<endpoint>::failure(ec::bad_address,
                                       "'" + std::string{text}
                                         + "' is not an IP address: " + why);
    return result<endpoint>::failure(ec::resolve_failed,
                                     "cannot resolve host '" + hp.host
                                       + "': " + why);
  }
  endpoint ep;
  std::memcpy(&ep.storage, res->ai_addr, res->ai_addrlen);
  ep.len = res->ai_addrlen;
  freeaddrinfo(res);
  return result<endpoint>::success(ep);
}

} // namespace

result<host_port> parse_host_port(std::string_view text) {
  using res = result<host_port>;
  host_port_text parts;
  if (auto err = split_host_port(text, parts); !err.empty())
    return res::failure(ec::bad_address, "bad address: " + err);
  if (parts.bracketed && parts.host.find(':') == std::string_view::npos)
    return res::failure(ec::bad_address,
                        "bad address: brackets are for IPv6 addresses only, "
                        "got " + quote(text));
  host_port hp;
  hp.host = std::string{parts.host};
  if (auto err = parse_port(parts.port, true, hp.port); !err.empty())
    return res::failure(ec::bad_address,
                        "bad address " + quote(text) + ": " + err);
  return res::success(std::move(hp));
}

result<endpoint> parse_endpoint(std::string_view text) {
  auto hp = parse_host_port(text);
  if (!hp)
    return result<endpoint>::failure(hp.code, hp.message);
  return lookup(*hp, AI_NUMERICHOST, text);
}

result<std::vector<endpoint>> resolve(std::string_view text) {
  using res = result<std::vector<endpoint>>;
  auto hp = parse_host_port(text);
  if (!hp)
    return res::failure(hp.code, hp.message);
  if (auto lit = lookup(*hp, AI_NUMERICHOST, text))
    return res::success({*lit});
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* ai = nullptr;
  auto port = std::to_string(hp->port);
  int rc = getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &ai);
  if (rc != 0 || ai == nullptr)
    return res::failure(ec::resolve_failed,
                        "cannot resolve host '" + hp->host + "': "
                          + (rc == 0 ? "no addresses" : gai_strerror(rc)));
  std::vector<endpoint> out;
  for (auto* p = ai; p != nullptr; p = p->ai_next) {
    if (p->ai_family != AF_INET && p->ai_family != AF_INET6)
      continue;
    endpoint ep;
    std::memcpy(&ep.storage, p->ai_addr, p->ai_addrlen);
    ep.len = p->ai_addrlen;
    auto same = [&](const endpoint& x) {
      return x.len == ep.len && std::memcmp(&x.storage, &ep.storage, ep.len) == 0;
    };
    if (std::none_of(out.begin(), out.end(), same))
      out.push_back(ep);
  }
  freeaddrinfo(ai);
  if (out.empty())
    return res::failure(ec::resolve_failed,
                        "host '" + hp->host + "' has no IPv4/IPv6 address");
  std::stable_sort(out.begin(), out.end(), [](const endpoint& a, const endpoint& b) {
    return a.family() == AF_INET && b.family() != AF_INET;
  });
  return res::success(std::move(out));
}

std::string to_address(const sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN + 1] = {};
  if (sa == nullptr)
    return {};
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return std::string{buf} + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    auto port = std::to_string(ntohs(in6->sin6_port));
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof(buf));
      return std::string{buf} + ":" + port;
    }
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    std::string host{buf};
    if (in6->sin6_scope_id != 0)
      host += "%" + std::to_string(in6->sin6_scope_id);
    return "[" + host + "]:" + port;
  }
  return {};
}

result<address> canonicalize(std::string_view text) {
  auto ep = parse_endpoint(text);
  if (!ep)
    return result<address>::failure(ep.code, ep.message);
  return result<address>::success(to_address(*ep));
}

} // namespace pekonode::transport
