#include "transport/keyring_ops.h"

#include <sodium.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pekonode::transport {

namespace {

constexpr std::string_view fingerprint_context = "pekonode/keyring/fingerprint/v1";

bool is_fingerprint(std::string_view s) {
  if (s.size() != fingerprint_chars)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
          || (c >= 'A' && c <= 'F')))
      return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Index of the key `key` names (its text or its fingerprint) in `ring`,
// or an error.
result<size_t> find_key(const keyring& ring, std::string_view key) {
  std::string fp;
  if (is_fingerprint(key)) {
    fp = lower(key);
  } else {
    auto k = decode_key(key);
    if (!k)
      return result<size_t>::failure(
        ec::bad_keyring, "not a key or a key fingerprint (" + k.message + ")");
    fp = key_fingerprint(std::string_view{reinterpret_cast<const char*>(k->data()),
                                          k->size()});
    sodium_memzero(k->data(), k->size());
  }
  for (size_t i = 0; i < ring.size(); ++i)
    if (key_fingerprint(ring.materials()[i]) == fp)
      return result<size_t>::success(i);
  return result<size_t>::failure(ec::key_not_found,
                                 "no key with fingerprint " + fp
                                   + " is installed");
}

std::string errno_text(int err) {
  return std::strerror(err);
}

} // namespace

std::string key_fingerprint(std::string_view material) {
  crypto_init();
  unsigned char out[fingerprint_chars / 2];
  crypto_generichash(out, sizeof(out),
                     reinterpret_cast<const unsigned char*>(material.data()),
                     material.size(),
                     reinterpret_cast<const unsigned char*>(
                       fingerprint_context.data()),
                     fingerprint_context.size());
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (auto b : out) {
    s.push_back(hex[b >> 4]);
    s.push_back(hex[b & 15]);
  }
  return s;
}

const char* to_string(keyring_action a) noexcept {
  switch (a) {
    case keyring_action::list: return "list";
    case keyring_action::install: return "install";
    case keyring_action::use: return "use";
    case keyring_action::remove: return "remove";
    case keyring_action::reload: return "reload";
  }
  return "unknown";
}

result<keyring> change_keyring(const keyring& ring, keyring_action action,
                               std::string_view key, bool& changed) {
  using res = result<keyring>;
  changed = false;
  switch (action) {
    case keyring_action::install: {
      if (is_fingerprint(key))
        return res::failure(ec::bad_keyring,
                            "install needs the key itself, not its fingerprint");
      auto k = decode_key(key);
      if (!k)
        return res::failure(ec::bad_keyring,
                            k.message + "; make a key with 'pekoctl keygen'");
      std::string_view material{reinterpret_cast<const char*>(k->data()),
                                k->size()};
      auto fp = key_fingerprint(material);
      for (auto& m : ring.materials())
        if (key_fingerprint(m) == fp) {
          sodium_memzero(k->data(), k->size());
          return res::success(ring);
        }
      if (ring.size() >= max_keyring_keys) {
        sodium_memzero(k->data(), k->size());
        return res::failure(ec::keyring_full,
                            "the keyring holds " + std::to_string(ring.size())
                              + " keys, the most allowed; remove one first");
      }
      keyring out = ring;
      out.add(material);
      sodium_memzero(k->data(), k->size());
      changed = true;
      return res::success(std::move(out));
    }
    case keyring_action::use: {
      auto i = find_key(ring, key);
      if (!i)
        return res::failure(i.code, i.message);
      if (*i == 0)
        return res::success(ring);
      keyring out = ring;
      out.make_primary(*i);
      changed = true;
      return res::success(std::move(out));
    }
    case keyring_action::remove: {
      auto i = find_key(ring, key);
      if (!i)
        return res::failure(i.code, i.message);
      if (*i == 0)
        return res::failure(ec::primary_key,
                            "key " + key_fingerprint(ring.materials()[0])
                              + " is the primary key: use another key first");
      keyring out = ring;
      out.erase(*i);
      changed = true;
      return res::success(std::move(out));
    }
    case keyring_action::list:
    case keyring_action::reload:
      break;
  }
  return res::failure(ec::bad_keyring,
                      std::string{"'"} + to_string(action)
                        + "' does not change a keyring");
}

result<std::string> keyring_file_text(const keyring& ring) {
  std::string text = "# pekonode keyring: first key primary; written by the "
                     "keyring API\n";
  for (auto& m : ring.materials()) {
    if (m.size() != key_bytes)
      return result<std::string>::failure(
        ec::bad_keyring, "the keyring holds a secret that is not a 32-byte "
                         "key; it cannot be written to a keyring file");
    keyring::key k{};
    std::memcpy(k.data(), m.data(), key_bytes);
    text += key_to_base64(k);
    text += '\n';
    sodium_memzero(k.data(), k.size());
  }
  return result<std::string>::success(std::move(text));
}

void wipe_text(std::string& s) noexcept {
  if (!s.empty())
    sodium_memzero(s.data(), s.size());
}

result<bool> write_file_atomically(const std::string& path,
                                   std::string_view text) {
  using res = result<bool>;
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty())
    dir = "/";
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0)
    return res::failure(ec::io_error, "cannot create a temporary file next to '"
                                        + path + "': " + errno_text(errno));
  auto fail = [&](const std::string& what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return res::failure(ec::io_error, what + " '" + path + "': " + errno_text(err));
  };
  if (::fchmod(fd, 0600) != 0)
    return fail("cannot set mode 0600 for");
  size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0)
    return fail("cannot flush");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return res::failure(ec::io_error, "cannot close the temporary file for '"
                                        + path + "': " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return res::failure(ec::io_error, "cannot replace '" + path
                                        + "': " + errno_text(err));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return res::success(true);
}

} // namespace pekonode::transport
