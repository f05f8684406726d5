#pragma once
// Datagram framing: authenticated encryption with a rotating keyring, or a
// plaintext frame tagged with the cluster label. Seals/opens whole envelopes;
// knows nothing about their content, sockets or actors.
//
// Why libsodium rather than OpenSSL: its AEAD API has one obvious, misuse-
// resistant way to call it (no context objects, no IV-length or tag-length
// knobs to get wrong); XChaCha20-Poly1305's 192-bit nonces are safe to draw at
// random, so no nonce counter has to survive restarts or be shared between
// processes using the same key; and Debian maintains it (libsodium-dev 1.0.18).
//
// Frame formats (first byte is the format version, authenticated either way):
//   encrypted: [0x02][24-byte random nonce][XChaCha20-Poly1305-IETF ct + tag]
//              associated data = format byte || cluster label
//   plaintext: [0x01][label length: 1 byte][label][envelope]
// Replays: the framer is stateless; the transport shells drop repeats of a
// recent nonce (wire.h `replay_filter`), which stops duplicates and quick
// replays but not a datagram replayed much later (no timestamp is framed).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport/error.h"

namespace pekonode::transport {

constexpr uint8_t frame_plain = 0x01;
constexpr uint8_t frame_xchacha = 0x02;
constexpr size_t key_bytes = 32;
constexpr size_t nonce_bytes = 24;
constexpr size_t tag_bytes = 16;
/// Longest cluster label (it is length-prefixed with one byte).
constexpr size_t max_label = 255;

/// Initialises libsodium once (thread-safe). False if it cannot be used.
bool crypto_init() noexcept;

/// Symmetric keys accepted by this node: the primary encrypts, every key
/// decrypts, so keys rotate without downtime (add new key everywhere, make it
/// primary everywhere, remove the old one). Keys are derived from secrets
/// with keyed BLAKE2b under a fixed pekonode context, so the secret itself is
/// never sent nor compared. Key material is wiped on destruction.
class keyring {
public:
  using key = std::array<uint8_t, key_bytes>;

  keyring() = default;
  keyring(const keyring&) = default;
  keyring& operator=(const keyring&) = default;
  ~keyring();

  /// Builds a ring from secrets; the first is primary. Fails on an empty list
  /// or an empty secret.
  static result<keyring> from_secrets(const std::vector<std::string>& secrets);

  /// Derives the 32-byte key of `secret` (deterministic).
  static key derive(std::string_view secret) noexcept;

  /// Adds an accepted key; becomes primary if the ring was empty.
  void add(std::string_view secret);

  bool empty() const noexcept { return keys_.empty(); }
  size_t size() const noexcept { return keys_.size(); }
  const key& primary() const noexcept { return keys_.front(); }
  const std::vector<key>& keys() const noexcept { return keys_; }

private:
  std::vector<key> keys_;
};

/// Largest keyring file load_keyring_file reads (a keyring holds a handful of
/// short secrets; anything this large is a wrong path, not a keyring).
constexpr size_t max_keyring_file_bytes = 1024 * 1024;

/// Parses keyring text: one secret per line ('\n'-separated, a final line
/// needs no newline), first is primary; blank lines and lines starting with
/// '#' are ignored; surrounding whitespace (including '\r') is trimmed.
/// Errors (bad_keyring) name `source` (e.g. "keyring file '/etc/k'"): no
/// secrets. Secrets copied out of `text` are wiped; `text` is the caller's.
result<keyring> parse_keyring_text(std::string_view text,
                                   std::string_view source = "keyring text");

/// Reads a keyring file and parses it with parse_keyring_text. Errors
/// (bad_keyring) name the path: missing/unreadable file, larger than
/// max_keyring_file_bytes, no secrets.
result<keyring> load_keyring_file(const std::string& path);

/// Seals and opens datagrams for one node. Immutable after construction, so
/// one instance may be used from several threads.
class framer {
public:
  /// Plaintext framing when `keys` is empty, encryption otherwise. Labels
  /// longer than `max_label` are truncated to it (validate earlier if needed).
  framer(keyring keys, std::string label);
  framer() : framer(keyring{}, std::string{}) {}

  bool encrypted() const noexcept { return !keys_.empty(); }
  const std::string& label() const noexcept { return label_; }

  /// Bytes the frame adds to an envelope.
  size_t overhead() const noexcept;

  /// Frames `envelope` for the wire (random nonce when encrypted).
  result<std::string> seal(std::string_view envelope) const;

  /// Unframes a received datagram: checks format, label or tag (every key
  /// tried), and returns the envelope bytes. Reasons: truncated (empty or
  /// short), bad_version (unknown format byte), encryption_mismatch,
  /// wrong_label, auth_failed.
  result<std::string> open(std::string_view datagram) const;

private:
  keyring keys_;
  std::string label_;
};

} // namespace pekonode::transport
