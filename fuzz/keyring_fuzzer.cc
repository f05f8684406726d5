// Fuzz target: transport::parse_keyring_text, the parser behind
// --keyring_file. Input: the file's text.
//
// Checked against a reference reading of the documented format, written
// independently of the parser: lines split on '\n', surrounding whitespace
// trimmed, blank and '#' lines skipped; every other line is a key — 64 hex
// digits, or 32 bytes in canonical standard base64 with padding (44
// characters) or without (43) — whose bytes take at least 16 distinct values
// and are not all printable ASCII. When every line is a key, the ring holds
// exactly the keys derived from their bytes, in order, first primary, and it
// opens what it seals. When a line is not, the result is bad_keyring naming
// the source and that line's number, and saying how to make a key.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "transport/crypto.h"

namespace {

using namespace pekonode::transport;

constexpr std::string_view b64_alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view hex_digits = "0123456789abcdefABCDEF";

// The key bytes of one trimmed line, or nothing if it is not a valid key.
std::optional<std::string> reference_key(std::string_view t) {
  std::string bytes;
  if (t.size() == 64) {
    for (size_t i = 0; i < 64; i += 2) {
      auto hi = hex_digits.find(t[i]), lo = hex_digits.find(t[i + 1]);
      if (hi == std::string_view::npos || lo == std::string_view::npos)
        return std::nullopt;
      auto v = [](size_t d) { return d < 16 ? d : d - 6; }; // A-F after a-f
      bytes.push_back(static_cast<char>(v(hi) * 16 + v(lo)));
    }
  } else if (t.size() == 43 || (t.size() == 44 && t.back() == '=')) {
    // 43 six-bit groups = 258 bits: 32 bytes, then 2 bits that must be 0.
    std::vector<int> bits;
    for (size_t i = 0; i < 43; ++i) {
      auto v = b64_alphabet.find(t[i]);
      if (v == std::string_view::npos)
        return std::nullopt;
      for (int b = 5; b >= 0; --b)
        bits.push_back(static_cast<int>((v >> b) & 1));
    }
    if (bits[256] != 0 || bits[257] != 0)
      return std::nullopt;
    for (size_t i = 0; i < 32; ++i) {
      int byte = 0;
      for (size_t b = 0; b < 8; ++b)
        byte = byte * 2 + bits[i * 8 + b];
      bytes.push_back(static_cast<char>(byte));
    }
  } else {
    return std::nullopt;
  }
  std::set<unsigned char> distinct(bytes.begin(), bytes.end());
  bool printable = true;
  for (unsigned char c : bytes)
    printable = printable && c >= 0x20 && c <= 0x7e;
  if (distinct.size() < 16 || printable)
    return std::nullopt;
  return bytes;
}

struct reference {
  std::vector<std::string> keys; // key bytes, in order
  size_t bad_line = 0;           // 1-based number of the first bad line
};

reference reference_reading(std::string_view text) {
  reference out;
  const std::string_view ws = " \t\r\n\f\v";
  size_t start = 0, line_no = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos)
      end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    size_t b = line.find_first_not_of(ws);
    if (b == std::string_view::npos)
      continue;
    size_t e = line.find_last_not_of(ws);
    auto t = line.substr(b, e - b + 1);
    if (t[0] == '#')
      continue;
    auto key = reference_key(t);
    if (!key) {
      out.bad_line = line_no;
      return out;
    }
    out.keys.push_back(*key);
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto got = parse_keyring_text(text, "fuzz keyring");
  auto want = reference_reading(text);
  if (want.bad_line != 0) {
    FUZZ_CHECK(got.code == ec::bad_keyring, "invalid key line accepted");
    auto prefix = "fuzz keyring line " + std::to_string(want.bad_line) + ": ";
    FUZZ_CHECK(got.message.rfind(prefix, 0) == 0,
               "error does not name the source and the first bad line");
    FUZZ_CHECK(got.message.find("pekoctl keygen") != std::string::npos,
               "error does not say how to make a key");
    FUZZ_CHECK(got.message.find('\n') == std::string::npos,
               "error is not one line");
    return 0;
  }
  if (want.keys.empty()) {
    FUZZ_CHECK(got.code == ec::bad_keyring, "empty keyring accepted");
    FUZZ_CHECK(got.message
                 == "fuzz keyring holds no keys; make one with 'pekoctl keygen'",
               "error does not name the source");
    return 0;
  }
  FUZZ_CHECK(got.ok(), got.message.c_str());
  FUZZ_CHECK(got->size() == want.keys.size(), "key count differs from the lines");
  for (size_t i = 0; i < want.keys.size(); ++i)
    FUZZ_CHECK(got->keys()[i] == keyring::derive(want.keys[i]), "key differs");
  FUZZ_CHECK(got->primary() == keyring::derive(want.keys.front()), "primary");
  // The ring works: what its primary seals, it opens.
  framer f{*got, "fuzz"};
  auto sealed = f.seal("probe");
  FUZZ_CHECK(sealed.ok(), sealed.message.c_str());
  auto opened = f.open(*sealed);
  FUZZ_CHECK(opened.ok() && *opened == "probe", "ring cannot open its own frame");
  return 0;
}
