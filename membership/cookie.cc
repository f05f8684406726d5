#include "membership/cookie.h"

#include <cstring>

namespace pekonode::membership {

std::string join_cookies::make(const address& from, int64_t epoch) const {
  std::string data(8, '\0');
  for (int i = 0; i < 8; ++i)
    data[i] = static_cast<char>((static_cast<uint64_t>(epoch) >> (8 * i)) & 0xff);
  data += from;
  auto h = siphash24(k0_, k1_, data);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((h >> (8 * i)) & 0xff);
  return out;
}

std::string join_cookies::issue(const address& from, time_point now) const {
  return make(from, now.time_since_epoch() / epoch_);
}

bool join_cookies::valid(std::string_view cookie, const address& from,
                         time_point now) const {
  if (cookie.size() != 8) return false;
  auto e = now.time_since_epoch() / epoch_;
  return cookie == make(from, e) || cookie == make(from, e - 1);
}

} // namespace pekonode::membership
