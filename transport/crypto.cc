#include "transport/crypto.h"

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace pekonode::transport {

namespace {

// Domain separation for key derivation (used as the BLAKE2b key): a secret
// reused elsewhere yields an unrelated key here.
constexpr std::string_view kdf_context = "pekonode/transport/datagram-key/v1";

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos)
    return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

} // namespace

bool crypto_init() noexcept {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

keyring::~keyring() {
  for (auto& k : keys_)
    sodium_memzero(k.data(), k.size());
}

keyring::key keyring::derive(std::string_view secret) noexcept {
  crypto_init();
  key k{};
  crypto_generichash(k.data(), k.size(),
                     reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(),
                     reinterpret_cast<const unsigned char*>(kdf_context.data()),
                     kdf_context.size());
  return k;
}

void keyring::add(std::string_view secret) {
  keys_.push_back(derive(secret));
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

result<keyring> parse_keyring_text(std::string_view text,
                                   std::string_view source) {
  std::vector<std::string> secrets;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto t = trim(line);
    if (t.empty() || t.front() == '#')
      continue;
    secrets.emplace_back(t);
  }
  if (secrets.empty())
    return result<keyring>::failure(ec::bad_keyring,
                                    std::string{source} + " holds no secrets");
  auto res = keyring::from_secrets(secrets);
  for (auto& s : secrets)
    sodium_memzero(s.data(), s.size());
  return res;
}

result<keyring> load_keyring_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return result<keyring>::failure(ec::bad_keyring,
                                    "cannot open keyring file '" + path
                                      + "': " + std::strerror(errno));
  // One byte more than the cap tells "too large" from "exactly the cap".
  std::string text(max_keyring_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    sodium_memzero(text.data(), text.size());
    return result<keyring>::failure(ec::bad_keyring,
                                    "error reading keyring file '" + path + "'");
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_keyring_file_bytes) {
    sodium_memzero(text.data(), text.size());
    return result<keyring>::failure(
      ec::bad_keyring, "keyring file '" + path + "' is larger than "
                         + std::to_string(max_keyring_file_bytes) + " bytes");
  }
  auto res = parse_keyring_text(text, "keyring file '" + path + "'");
  sodium_memzero(text.data(), text.size());
  return res;
}

framer::framer(keyring keys, std::string label)
  : keys_(std::move(keys)), label_(std::move(label)) {
  if (label_.size() > max_label)
    label_.resize(max_label);
  crypto_init();
}

size_t framer::overhead() const noexcept {
  if (encrypted())
    return 1 + nonce_bytes + tag_bytes;
  return 2 + label_.size();
}

result<std::string> framer::seal(std::string_view envelope) const {
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
  out.resize(overhead() + envelope.size());
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = frame_xchacha;
  randombytes_buf(p + 1, nonce_bytes);
  std::string ad;
  ad.reserve(1 + label_.size());
  ad.push_back(static_cast<char>(frame_xchacha));
  ad.append(label_);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    p + 1 + nonce_bytes, &clen,
    reinterpret_cast<const unsigned char*>(envelope.data()), envelope.size(),
    reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
    p + 1, keys_.primary().data());
  out.resize(1 + nonce_bytes + static_cast<size_t>(clen));
  return res::success(std::move(out));
}

result<std::string> framer::open(std::string_view dg) const {
  using res = result<std::string>;
  if (dg.empty())
    return res::failure(ec::truncated, "empty datagram");
  auto format = static_cast<uint8_t>(dg[0]);
  if (format != frame_plain && format != frame_xchacha)
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
  std::string ad;
  ad.reserve(1 + label_.size());
  ad.push_back(static_cast<char>(frame_xchacha));
  ad.append(label_);
  std::string plain(clen - tag_bytes, '\0');
  for (auto& k : keys_.keys()) {
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &mlen, nullptr,
          p + 1 + nonce_bytes, clen,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), p + 1,
          k.data())
        == 0) {
      plain.resize(static_cast<size_t>(mlen));
      return res::success(std::move(plain));
    }
  }
  return res::failure(ec::auth_failed, "no key of the ring authenticates it");
}

} // namespace pekonode::transport
