#include "userevents/types.h"

#include <algorithm>
#include <cmath>

namespace pekonode::userevents {

int config::retransmit_limit(size_t n) const {
  auto scale = static_cast<int>(std::ceil(std::log10(static_cast<double>(n) + 1)));
  return std::max(1, retransmit_mult * std::max(1, scale));
}

const char* to_string(event_kind k) {
  return k == event_kind::query ? "query" : "user";
}

const char* to_string(ec e) {
  switch (e) {
    case ec::none: return "none";
    case ec::bad_name: return "bad_name";
    case ec::too_large: return "too_large";
    case ec::bad_filter: return "bad_filter";
    case ec::bad_timeout: return "bad_timeout";
    case ec::rate_limited: return "rate_limited";
    case ec::too_many_queries: return "too_many_queries";
    case ec::not_running: return "not_running";
  }
  return "unknown";
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name_bytes)
    return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c >= 0x7f)
      return false;
  return true;
}

bool reserved_name(std::string_view name) {
  return name.substr(0, internal_prefix.size()) == internal_prefix;
}

std::string id_text(uint64_t id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4)
    s[i] = digits[id & 0xf];
  return s;
}

} // namespace pekonode::userevents
