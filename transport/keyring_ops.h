#pragma once
// Run-time keyring changes: the pure rules for listing, installing, using
// (making primary) and removing keys, fingerprints that name a key without
// revealing it, and the atomic rewrite of a keyring file. The transport
// actors apply these on `tx_keyring_atom` (transport.h); the admin API and
// cluster-wide queries send that message. No CAF, no sockets.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "transport/crypto.h"
#include "transport/error.h"

namespace pekonode::transport {

/// Most keys a ring holds (a rotation needs two; a handful covers slow
/// rollouts). Installing beyond it is refused (keyring_full).
constexpr size_t max_keyring_keys = 16;

/// Characters of a key fingerprint (hex of 8 bytes).
constexpr size_t fingerprint_chars = 16;

/// The fingerprint of a key's material: 16 hex digits of keyed BLAKE2b
/// under a fixed pekonode context. Names a key in lists and commands; it
/// reveals nothing usable about the key (a one-way function of 256 random
/// bits) and differs from every AEAD key derived from it.
std::string key_fingerprint(std::string_view material);

/// What a keyring command does.
enum class keyring_action : uint8_t {
  list,    ///< change nothing, answer the keys
  install, ///< add `key` (a key, base64 or hex) as a secondary key
  use,     ///< make the installed key `key` (key or fingerprint) primary
  remove,  ///< remove the installed, non-primary key `key` (key or fingerprint)
  reload,  ///< re-read the transport's keyring file (SIGHUP)
};

/// "list", "install", "use", "remove", "reload".
const char* to_string(keyring_action a) noexcept;

/// Applies install/use/remove to `ring`, returning the new ring and setting
/// `changed` (false when the ring already was so: installing a present key,
/// using the primary). Errors: bad_keyring (not a key; weak key; a
/// fingerprint where a key is needed), key_not_found (use/remove of a key
/// not in the ring), primary_key (removing the primary), keyring_full
/// (install beyond max_keyring_keys). list and reload are not changes:
/// bad_keyring.
result<keyring> change_keyring(const keyring& ring, keyring_action action,
                               std::string_view key, bool& changed);

/// The keyring file text of `ring`: a comment line, then one base64 key
/// per line, primary first. Fails (bad_keyring) for a ring built from
/// secrets that are not 32-byte keys (from_secrets), which no file holds.
result<std::string> keyring_file_text(const keyring& ring);

/// Overwrites `s` with zeros (key text that is no longer needed).
void wipe_text(std::string& s) noexcept;

/// Replaces the file at `path` with `text` atomically: written to a
/// temporary file of mode 0600 in the same directory, flushed to disk,
/// renamed over `path`, directory flushed. Errors (io_error) name the path
/// and the system's reason; the old file stays intact on any failure.
result<bool> write_file_atomically(const std::string& path,
                                   std::string_view text);

} // namespace pekonode::transport
