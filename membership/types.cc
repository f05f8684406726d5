#include "membership/types.h"

#include <arpa/inet.h>

#include "common/host_port.h"
#include "common/text.h"

namespace pekonode::membership {

bool valid_name(std::string_view name, std::size_t max_bytes) {
  if (name.empty() || name.size() > max_bytes) return false;
  for (unsigned char c : name)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

namespace {

template <class Tags>
bool valid_tags_impl(const Tags& tags, std::size_t max_total) {
  if (tags.size() > max_tags) return false;
  std::size_t total = 0;
  for (auto& [k, v] : tags) {
    if (k.empty() || k.size() > max_tag_key_bytes) return false;
    if (v.size() > max_tag_value_bytes) return false;
    if (!printable(k) || !printable(v)) return false;
    total += k.size() + v.size();
  }
  return total <= max_total;
}

} // namespace

bool valid_tags(const std::map<std::string, std::string>& tags,
                std::size_t max_total) {
  return valid_tags_impl(tags, max_total);
}

bool valid_tags(const interned_tags& tags, std::size_t max_total) {
  return valid_tags_impl(tags, max_total);
}

namespace {

// A dotted quad as inet_ntop writes it: four decimal parts 0..255 without
// leading zeros. Checked by hand: every gossiped update carries an
// address, and a round trip through inet_pton/inet_ntop (sprintf) was a
// visible share of the time spent on each packet.
bool canonical_ipv4(std::string_view h) {
  std::size_t i = 0;
  for (int part = 1;; ++part) {
    std::size_t start = i;
    unsigned v = 0;
    while (i < h.size() && h[i] >= '0' && h[i] <= '9' && i - start < 3)
      v = v * 10 + static_cast<unsigned>(h[i++] - '0');
    std::size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && h[start] == '0')) return false;
    if (i == h.size()) return part == 4;
    if (h[i] != '.' || part == 4) return false;
    ++i;
  }
}

} // namespace

bool valid_gossip_addr(std::string_view addr, std::size_t max_bytes) {
  if (addr.empty() || addr.size() > max_bytes) return false;
  if (addr.front() != '[') {
    // IPv4 "a.b.c.d:port", split in place (every claim on the wire
    // carries an address, so this runs once per received claim): a host
    // with a ':' is no dotted quad, as split_host_port would also say.
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return false;
    uint16_t port = 0;
    return parse_port(addr.substr(colon + 1), false, port).empty()
           && canonical_ipv4(addr.substr(0, colon));
  }
  host_port_text hp;
  if (!split_host_port(addr, hp).empty()) return false;
  uint16_t port = 0;
  if (!parse_port(hp.port, false, port).empty()) return false;
  // Canonical IP literal: what inet_ntop writes back for it (no leading
  // zeros, no alternative spellings of one address).
  std::string host(hp.host);
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET6, host.c_str(), buf) != 1) return false;
  if (inet_ntop(AF_INET6, buf, text, sizeof text) == nullptr) return false;
  return host == text;
}

const char* to_string(member_state s) {
  switch (s) {
    case member_state::alive: return "alive";
    case member_state::suspect: return "suspect";
    case member_state::dead: return "dead";
    case member_state::left: return "left";
  }
  return "unknown";
}

const char* to_string(ec e) {
  switch (e) {
    case ec::none: return "none";
    case ec::tags_too_large: return "tags_too_large";
    case ec::bad_tag: return "bad_tag";
    case ec::not_running: return "not_running";
    case ec::bad_config: return "bad_config";
    case ec::unknown_member: return "unknown_member";
    case ec::not_failed: return "not_failed";
    case ec::is_self: return "is_self";
  }
  return "unknown";
}

const char* to_string(event::kind_t k) {
  switch (k) {
    case event::joined: return "joined";
    case event::suspect: return "suspect";
    case event::alive: return "alive";
    case event::dead: return "dead";
    case event::left: return "left";
    case event::updated: return "updated";
    case event::name_conflict: return "name_conflict";
  }
  return "unknown";
}

} // namespace pekonode::membership
