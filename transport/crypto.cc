#include "transport/crypto.h"

#include <sodium.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/file_mode.h"

namespace pekonode::transport {

namespace {

// Domain separation for key derivation (used as the BLAKE2b key): key
// material reused elsewhere yields an unrelated key here.
constexpr std::string_view kdf_context = "pekonode/transport/datagram-key/v1";

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos)
    return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// Characters of a 32-byte key in base64 without its one '=' of padding.
constexpr size_t base64_chars = (key_bytes * 8 + 5) / 6;

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

bool crypto_init() noexcept {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

keyring::~keyring() {
  for (auto& k : keys_)
    sodium_memzero(k.data(), k.size());
  for (auto& m : materials_)
    sodium_memzero(m.data(), m.size());
}

void keyring::make_primary(size_t i) {
  if (i == 0 || i >= keys_.size())
    return;
  std::rotate(keys_.begin(), keys_.begin() + static_cast<ptrdiff_t>(i),
              keys_.begin() + static_cast<ptrdiff_t>(i) + 1);
  std::rotate(materials_.begin(),
              materials_.begin() + static_cast<ptrdiff_t>(i),
              materials_.begin() + static_cast<ptrdiff_t>(i) + 1);
}

void keyring::erase(size_t i) {
  if (i >= keys_.size())
    return;
  sodium_memzero(keys_[i].data(), keys_[i].size());
  sodium_memzero(materials_[i].data(), materials_[i].size());
  keys_.erase(keys_.begin() + static_cast<ptrdiff_t>(i));
  materials_.erase(materials_.begin() + static_cast<ptrdiff_t>(i));
}

keyring::key keyring::derive(std::string_view material) noexcept {
  crypto_init();
  key k{};
  crypto_generichash(k.data(), k.size(),
                     reinterpret_cast<const unsigned char*>(material.data()),
                     material.size(),
                     reinterpret_cast<const unsigned char*>(kdf_context.data()),
                     kdf_context.size());
  return k;
}

void keyring::add(std::string_view material) {
  keys_.push_back(derive(material));
  materials_.emplace_back(material);
}

result<keyring> keyring::from_secrets(const std::vector<std::string>& secrets) {
  if (secrets.empty())
    return result<keyring>::failure(ec::bad_keyring, "keyring has no secrets");
  keyring ring;
  for (size_t i = 0; i < secrets.size(); ++i) {
    if (secrets[i].empty())
      return result<keyring>::failure(ec::bad_keyring,
                                      "secret #" + std::to_string(i + 1)
                                        + " is empty");
    ring.add(secrets[i]);
  }
  return result<keyring>::success(std::move(ring));
}

keyring::key random_key() {
  crypto_init();
  keyring::key k{};
  randombytes_buf(k.data(), k.size());
  return k;
}

std::string key_to_base64(const keyring::key& k) {
  std::string out(sodium_base64_ENCODED_LEN(
                    key_bytes, sodium_base64_VARIANT_ORIGINAL),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), k.data(), k.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1); // the terminating NUL
  return out;
}

result<keyring::key> decode_key(std::string_view line) {
  using res = result<keyring::key>;
  keyring::key k{};
  // Partly decoded or weak key bytes are wiped before an error returns.
  auto fail = [&k](std::string why) {
    sodium_memzero(k.data(), k.size());
    return res::failure(ec::bad_keyring, std::move(why));
  };
  const auto n = line.size();
  if (n == 2 * key_bytes) {
    for (size_t i = 0; i < n; ++i)
      if (hex_value(line[i]) < 0)
        return fail("character " + std::to_string(i + 1)
                    + " of 64 is not a hex digit");
    for (size_t i = 0; i < key_bytes; ++i)
      k[i] = static_cast<uint8_t>(hex_value(line[2 * i]) * 16
                                  + hex_value(line[2 * i + 1]));
  } else if (n == base64_chars || n == base64_chars + 1) {
    if (n == base64_chars + 1 && line.back() != '=')
      return fail("44 characters but the last is not the base64 "
                  "padding '='");
    uint32_t acc = 0;
    size_t bits = 0, out = 0;
    for (size_t i = 0; i < base64_chars; ++i) {
      int v = base64_value(line[i]);
      if (v < 0)
        return fail("character " + std::to_string(i + 1) + " of "
                    + std::to_string(n)
                    + " is not standard base64 (A-Z a-z 0-9 + /)");
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        k[out++] = static_cast<uint8_t>(acc >> bits);
        acc &= (1u << bits) - 1;
      }
    }
    // 43 characters carry 258 bits: the 2 beyond the key must be zero.
    if (acc != 0)
      return fail("not canonical base64 of 32 bytes (the last "
                  "character carries bits beyond the key)");
  } else {
    return fail(std::to_string(n)
                + " characters; a key is 32 random bytes written as base64 "
                  "(44 characters, or 43 without the '=') or as 64 hex "
                  "digits");
  }
  std::array<bool, 256> seen{};
  size_t distinct = 0;
  bool all_printable = true;
  for (uint8_t b : k) {
    distinct += seen[b] ? 0 : 1;
    seen[b] = true;
    all_printable = all_printable && b >= 0x20 && b <= 0x7e;
  }
  if (distinct < min_distinct_key_bytes)
    return fail("weak key: its 32 bytes take only " + std::to_string(distinct)
                + " distinct values (random keys take about 30; at least "
                  "16 required)");
  if (all_printable)
    return fail("weak key: every byte is printable ASCII (text, not random "
                "bytes)");
  return res::success(k);
}

result<keyring> parse_keyring_text(std::string_view text,
                                   std::string_view source) {
  keyring ring;
  size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    auto t = trim(line);
    if (t.empty() || t.front() == '#')
      continue;
    auto k = decode_key(t);
    if (!k)
      return result<keyring>::failure(
        ec::bad_keyring, std::string{source} + " line "
                           + std::to_string(line_no) + ": " + k.message
                           + "; make a key with 'pekoctl keygen'");
    ring.add(std::string_view{reinterpret_cast<const char*>(k->data()),
                              k->size()});
    sodium_memzero(k->data(), k->size());
  }
  if (ring.empty())
    return result<keyring>::failure(
      ec::bad_keyring, std::string{source}
                         + " holds no keys; make one with 'pekoctl keygen'");
  return result<keyring>::success(std::move(ring));
}

result<keyring> load_keyring_file(const std::string& path,
                                  std::string* mode_warning) {
  using res = result<keyring>;
  if (mode_warning != nullptr)
    mode_warning->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return res::failure(ec::bad_keyring, "cannot open keyring file '" + path
                                           + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return res::failure(ec::bad_keyring,
                        "keyring file '" + path + "' is not a regular file");
  }
  // One byte more than the cap tells "too large" from "exactly the cap".
  std::string text(max_keyring_file_bytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    auto n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      sodium_memzero(text.data(), text.size());
      return res::failure(ec::bad_keyring, "error reading keyring file '"
                                             + path + "': "
                                             + std::strerror(err));
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > max_keyring_file_bytes) {
    sodium_memzero(text.data(), text.size());
    return res::failure(
      ec::bad_keyring, "keyring file '" + path + "' is larger than "
                         + std::to_string(max_keyring_file_bytes) + " bytes");
  }
  auto parsed = parse_keyring_text(std::string_view{text.data(), got},
                                   "keyring file '" + path + "'");
  sodium_memzero(text.data(), text.size());
  if (parsed && mode_warning != nullptr)
    *mode_warning = secret_file_mode_warning(path, st.st_mode);
  return parsed;
}

framer::framer(keyring keys, std::string label)
  : keys_(std::move(keys)), label_(std::move(label)) {
  if (label_.size() > max_label)
    label_.resize(max_label);
  crypto_init();
}

size_t framer::overhead() const noexcept {
  if (encrypted())
    return 1 + nonce_bytes + tag_bytes + frame_header_fixed
           + max_frame_destination;
  return 2 + label_.size();
}

bool framer::set_keys(keyring keys) {
  if (keys.empty() || !encrypted())
    return false;
  keys_ = std::move(keys);
  return true;
}

namespace {

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string associated_data(uint8_t format, const std::string& label) {
  std::string ad;
  ad.reserve(1 + label.size());
  ad.push_back(static_cast<char>(format));
  ad.append(label);
  return ad;
}

} // namespace

uint64_t random_epoch() {
  crypto_init();
  unsigned char in[16];
  randombytes_buf(in, 8);
  auto wall = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
  std::memcpy(in + 8, &wall, 8);
  uint64_t out = 0;
  crypto_generichash(reinterpret_cast<unsigned char*>(&out), sizeof(out), in,
                     sizeof(in), nullptr, 0);
  return out == 0 ? 1 : out;
}

result<std::string> framer::seal(std::string_view envelope,
                                 const frame_header& h) const {
  using res = result<std::string>;
  std::string out;
  if (!encrypted()) {
    out.reserve(overhead() + envelope.size());
    out.push_back(static_cast<char>(frame_plain));
    out.push_back(static_cast<char>(label_.size()));
    out.append(label_);
    out.append(envelope);
    return res::success(std::move(out));
  }
  if (!crypto_init())
    return res::failure(ec::crypto_unavailable, "libsodium failed to initialise");
  if (h.dest.size() > max_frame_destination)
    return res::failure(ec::field_too_large,
                        "destination longer than "
                          + std::to_string(max_frame_destination) + " bytes");
  std::string plain;
  plain.reserve(frame_header_fixed + h.dest.size() + envelope.size());
  put_u64(plain, h.epoch);
  put_u64(plain, h.seq);
  put_u64(plain, h.sent_ms);
  plain.push_back(static_cast<char>(h.dest.size()));
  plain.append(h.dest);
  plain.append(envelope);
  out.resize(1 + nonce_bytes + tag_bytes + plain.size());
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = frame_sealed;
  randombytes_buf(p + 1, nonce_bytes);
  auto ad = associated_data(frame_sealed, label_);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    p + 1 + nonce_bytes, &clen,
    reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
    reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
    p + 1, keys_.primary().data());
  sodium_memzero(plain.data(), plain.size());
  out.resize(1 + nonce_bytes + static_cast<size_t>(clen));
  return res::success(std::move(out));
}

result<std::string> framer::open(std::string_view dg, frame_header* h) const {
  using res = result<std::string>;
  if (dg.empty())
    return res::failure(ec::truncated, "empty datagram");
  auto format = static_cast<uint8_t>(dg[0]);
  if (format == frame_xchacha)
    return res::failure(ec::bad_version,
                        "encrypted frame format 2 of an earlier pekonode "
                        "without replay protection; this node speaks format 3: "
                        "upgrade every node");
  if (format != frame_plain && format != frame_sealed)
    return res::failure(ec::bad_version,
                        "unknown frame format " + std::to_string(format));
  if (format == frame_plain) {
    if (encrypted())
      return res::failure(ec::encryption_mismatch,
                          "plaintext datagram but encryption is configured");
    if (dg.size() < 2)
      return res::failure(ec::truncated, "plaintext frame without label length");
    size_t len = static_cast<uint8_t>(dg[1]);
    if (dg.size() < 2 + len)
      return res::failure(ec::truncated, "plaintext frame shorter than its label");
    // The length is public; the label bytes are compared in constant time.
    bool same = len == label_.size()
                && (len == 0
                    || sodium_memcmp(dg.data() + 2, label_.data(), len) == 0);
    if (!same)
      return res::failure(ec::wrong_label, "datagram of another cluster label");
    return res::success(std::string{dg.substr(2 + len)});
  }
  if (!encrypted())
    return res::failure(ec::encryption_mismatch,
                        "encrypted datagram but no keyring is configured");
  if (!crypto_init())
    return res::failure(ec::crypto_unavailable, "libsodium failed to initialise");
  if (dg.size() < 1 + nonce_bytes + tag_bytes)
    return res::failure(ec::truncated, "encrypted frame shorter than nonce+tag");
  const auto* p = reinterpret_cast<const unsigned char*>(dg.data());
  const size_t clen = dg.size() - 1 - nonce_bytes;
  auto ad = associated_data(frame_sealed, label_);
  std::string plain(clen - tag_bytes, '\0');
  bool opened = false;
  for (auto& k : keys_.keys()) {
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &mlen, nullptr,
          p + 1 + nonce_bytes, clen,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), p + 1,
          k.data())
        == 0) {
      plain.resize(static_cast<size_t>(mlen));
      opened = true;
      break;
    }
  }
  if (!opened)
    return res::failure(ec::auth_failed, "no key of the ring authenticates it");
  // Authentic, so written by a key holder; still checked, never trusted.
  if (plain.size() < frame_header_fixed)
    return res::failure(ec::truncated, "encrypted frame without its header");
  size_t dlen = static_cast<uint8_t>(plain[frame_header_fixed - 1]);
  if (dlen > max_frame_destination || plain.size() < frame_header_fixed + dlen)
    return res::failure(ec::truncated,
                        "encrypted frame header with a bad destination length");
  if (h != nullptr) {
    h->epoch = get_u64(plain.data());
    h->seq = get_u64(plain.data() + 8);
    h->sent_ms = get_u64(plain.data() + 16);
    h->dest.assign(plain.data() + frame_header_fixed, dlen);
  }
  return res::success(plain.substr(frame_header_fixed + dlen));
}

} // namespace pekonode::transport
