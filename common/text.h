#pragma once
// Text hygiene for anything that came from outside (the wire, HTTP, files):
// quoting for error messages and log lines, so no raw control character
// ever reaches a log or a terminal.

#include <string>
#include <string_view>

namespace pekonode {

/// True if `s` has no control characters (0x00-0x1f, 0x7f).
inline bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f)
      return false;
  return true;
}

/// `s` with control characters and backslashes written as \xNN / \\ escapes,
/// cut to `max` bytes of input (then "..." is appended). Safe for logs.
inline std::string escape(std::string_view s, std::size_t max = 256) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() < max ? s.size() : max);
  std::size_t n = 0;
  for (unsigned char c : s) {
    if (n++ == max) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f || c == '\\') {
      if (c == '\\') {
        out += "\\\\";
        continue;
      }
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// `s` escaped (see escape()) and in double quotes, for error messages.
inline std::string quote(std::string_view s, std::size_t max = 256) {
  return "\"" + escape(s, max) + "\"";
}

} // namespace pekonode
