#pragma once
// Error vocabulary of the transport package: one `ec` per reason a datagram
// is dropped or a setup step fails, plus a small result type so pure code
// (codec, crypto, address) needs no CAF. Not a logging or metrics facility.

#include <cstdint>
#include <string>
#include <utility>

namespace pekonode::transport {

/// Why a transport operation failed. `to_string` names are used verbatim as
/// drop-reason labels in `stats::drops`, so they are stable identifiers.
enum class ec : uint8_t {
  none = 0,
  too_large,           ///< datagram or envelope larger than the configured bound
  truncated,           ///< datagram ends inside a field or a length prefix
  malformed,           ///< not a valid envelope (bad wire type, varint, UTF-8)
  bad_version,         ///< envelope or framing version this node does not speak
  too_many_messages,   ///< more layer messages than `limits::max_messages`
  field_too_large,     ///< sender name or body above its bound
  unknown_channel,     ///< a message for a channel this node does not know
  auth_failed,         ///< AEAD tag did not verify under any key of the ring
  wrong_label,         ///< plaintext datagram of another cluster label
  encryption_mismatch, ///< plaintext received with a keyring, or the reverse
  replayed,            ///< encrypted datagram whose sequence number was seen or left the window
  no_subscriber,       ///< no actor subscribed to the message's channel
  bad_address,         ///< address text does not parse
  resolve_failed,      ///< hostname does not resolve
  io_error,            ///< socket or file operation failed
  bad_keyring,         ///< keyring file missing, empty or invalid
  crypto_unavailable,  ///< libsodium failed to initialise
  wrong_destination,   ///< encrypted datagram sealed for another node's address
  stale,               ///< encrypted datagram sealed outside the accepted time window
  key_not_found,       ///< keyring command names a key the ring does not hold
  primary_key,         ///< keyring command would remove the primary key
  keyring_full,        ///< keyring command would exceed max_keyring_keys
};

/// Stable snake_case name of `x` ("too_large", "auth_failed", ...).
const char* to_string(ec x) noexcept;

/// A value or an error code with a human-readable message. Plain C++ so pure
/// code stays free of CAF; shells convert it to `caf::error` at the boundary.
template <class T>
struct result {
  ec code = ec::none;
  std::string message; ///< why, for people; empty on success
  T value{};

  bool ok() const noexcept { return code == ec::none; }
  explicit operator bool() const noexcept { return ok(); }
  T& operator*() noexcept { return value; }
  const T& operator*() const noexcept { return value; }
  T* operator->() noexcept { return &value; }
  const T* operator->() const noexcept { return &value; }

  static result success(T x) {
    result r;
    r.value = std::move(x);
    return r;
  }
  static result failure(ec c, std::string msg = {}) {
    result r;
    r.code = c;
    r.message = std::move(msg);
    return r;
  }
};

} // namespace pekonode::transport
