#include "common/host_port.h"

#include "common/text.h"

namespace pekonode {

std::string split_host_port(std::string_view text, host_port_text& out) {
  if (text.empty())
    return "empty address, expected HOST:PORT";
  host_port_text r;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return "missing ']' in " + quote(text);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return "expected ':PORT' after ']' in " + quote(text);
    r.host = text.substr(1, close - 1);
    r.port = text.substr(close + 2);
    r.bracketed = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return "missing ':PORT' in " + quote(text);
    r.host = text.substr(0, colon);
    if (r.host.find(':') != std::string_view::npos)
      return "IPv6 addresses need brackets, e.g. [::1]:7946, got "
             + quote(text);
    r.port = text.substr(colon + 1);
  }
  if (r.host.empty())
    return "missing host in " + quote(text);
  if (r.port.empty())
    return "missing port in " + quote(text);
  out = r;
  return {};
}

std::string parse_port(std::string_view text, bool allow_zero, uint16_t& out) {
  bool digits = !text.empty() && text.size() <= 5;
  for (char c : text)
    digits = digits && c >= '0' && c <= '9';
  if (!digits)
    return "port " + quote(text) + " is not a number in 0..65535";
  unsigned long v = 0;
  for (char c : text)
    v = v * 10 + static_cast<unsigned long>(c - '0');
  if (v > 65535)
    return "port " + quote(text) + " is out of range 0..65535";
  if (v == 0 && !allow_zero)
    return "port 0 is not allowed here";
  out = static_cast<uint16_t>(v);
  return {};
}

} // namespace pekonode
