// Fuzz target: transport::parse_keyring_text, the parser behind
// --keyring_file. Input: the file's text.
//
// Checked against a reference reading of the documented format (lines split
// on '\n', surrounding whitespace trimmed, blank and '#' lines skipped, first
// secret primary): the ring holds exactly the keys derived from those
// secrets, in order, and an error is bad_keyring with a reason naming the
// source.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "transport/crypto.h"

namespace {

using namespace pekonode::transport;

std::vector<std::string> reference_secrets(std::string_view text) {
  std::vector<std::string> out;
  const std::string_view ws = " \t\r\n\f\v";
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos)
      end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    size_t b = line.find_first_not_of(ws);
    if (b == std::string_view::npos)
      continue;
    size_t e = line.find_last_not_of(ws);
    auto t = line.substr(b, e - b + 1);
    if (t[0] != '#')
      out.emplace_back(t);
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto got = parse_keyring_text(text, "fuzz keyring");
  auto want = reference_secrets(text);
  if (want.empty()) {
    FUZZ_CHECK(got.code == ec::bad_keyring, "empty keyring accepted");
    FUZZ_CHECK(got.message == "fuzz keyring holds no secrets",
               "error does not name the source");
    return 0;
  }
  FUZZ_CHECK(got.ok(), got.message.c_str());
  FUZZ_CHECK(got->size() == want.size(), "key count differs from the lines");
  for (size_t i = 0; i < want.size(); ++i)
    FUZZ_CHECK(got->keys()[i] == keyring::derive(want[i]), "key differs");
  FUZZ_CHECK(got->primary() == keyring::derive(want.front()), "primary");
  // The ring works: what its primary seals, it opens.
  framer f{*got, "fuzz"};
  auto sealed = f.seal("probe");
  FUZZ_CHECK(sealed.ok(), sealed.message.c_str());
  auto opened = f.open(*sealed);
  FUZZ_CHECK(opened.ok() && *opened == "probe", "ring cannot open its own frame");
  return 0;
}
