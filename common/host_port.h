#pragma once
// Splitting "host:port" and "[v6]:port" text: the one parser behind the
// node's flags and the transport's addresses. Pure: no DNS, no sockets;
// whether the host must be an IP literal is the caller's rule.

#include <cstdint>
#include <string>
#include <string_view>

namespace pekonode {

/// The parts of "host:port" / "[v6]:port". `host` has no brackets.
struct host_port_text {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
};

/// Splits `text`; empty string on success, else a one-line reason that
/// quotes the input (control characters escaped). The host is non-empty; a
/// host containing ':' must be bracketed (what the brackets hold is
/// the caller's to check).
std::string split_host_port(std::string_view text, host_port_text& out);

/// Parses a decimal port (digits only, at most 65535; 0 only if allowed).
std::string parse_port(std::string_view text, bool allow_zero, uint16_t& out);

} // namespace pekonode
