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
/// primary everywhere, remove the old one). A key's material (32 random
/// bytes from a keyring file) is turned into the AEAD key with keyed BLAKE2b
/// under a fixed pekonode context, so material reused elsewhere yields an
/// unrelated key here and is itself never sent nor compared. Key material is
/// wiped on destruction.
class keyring {
public:
  using key = std::array<uint8_t, key_bytes>;

  keyring() = default;
  keyring(const keyring&) = default;
  keyring& operator=(const keyring&) = default;
  ~keyring();

  /// Programmatic API for tests and simulations: builds a ring from any
  /// non-empty byte strings, the first primary, without judging how random
  /// they are. Fails on an empty list or an empty secret. Operators' files
  /// must hold random keys and go through parse_keyring_text instead.
  static result<keyring> from_secrets(const std::vector<std::string>& secrets);

  /// The AEAD key of `material` (deterministic; for a keyring file's line,
  /// the 32 decoded key bytes).
  static key derive(std::string_view material) noexcept;

  /// Adds an accepted key derived from `material`; becomes primary if the
  /// ring was empty.
  void add(std::string_view material);

  bool empty() const noexcept { return keys_.empty(); }
  size_t size() const noexcept { return keys_.size(); }
  const key& primary() const noexcept { return keys_.front(); }
  const std::vector<key>& keys() const noexcept { return keys_; }

private:
  std::vector<key> keys_;
};

/// A key whose bytes are at least this many distinct values is not judged
/// weak by that rule (32 random bytes have about 30 distinct values; fewer
/// than 16 happens by chance with probability far below 2^-64).
constexpr size_t min_distinct_key_bytes = 16;

/// Fresh key material: `key_bytes` bytes from libsodium's randombytes.
keyring::key random_key();

/// Standard base64 with padding (44 characters) of a key: the form
/// `pekoctl keygen` prints and keyring files hold.
std::string key_to_base64(const keyring::key& k);

/// Decodes one keyring line (already trimmed) into 32 key bytes. Accepted:
/// standard base64 of 32 bytes, with its '=' padding (44 characters) or
/// without (43), canonical (no stray bits in the last character); or 64 hex
/// digits (either case). Refused as weak although well-formed: fewer than
/// min_distinct_key_bytes distinct byte values, or every byte printable
/// ASCII (a passphrase dressed up as a key). Errors (bad_keyring) are one
/// line saying what is wrong without quoting the line (it may be a secret).
result<keyring::key> decode_key(std::string_view line);

/// Largest keyring file load_keyring_file reads (a keyring holds a handful of
/// short keys; anything this large is a wrong path, not a keyring).
constexpr size_t max_keyring_file_bytes = 1024 * 1024;

/// Parses keyring text: one key per line ('\n'-separated, a final line
/// needs no newline; see decode_key), first is primary; blank lines and
/// lines starting with '#' are ignored; surrounding whitespace (including
/// '\r') is trimmed. Errors (bad_keyring) start with `source` (e.g. "keyring
/// file '/etc/k'"): "<source> holds no keys", or "<source> line N: <why>;
/// make a key with 'pekoctl keygen'" for the first line that is not a key.
/// Decoded key bytes are wiped; `text` is the caller's.
result<keyring> parse_keyring_text(std::string_view text,
                                   std::string_view source = "keyring text");

/// Reads a keyring file and parses it with parse_keyring_text. Errors
/// (bad_keyring) name the path: missing/unreadable file, not a regular
/// file, larger than max_keyring_file_bytes, no keys, a line that is not a
/// key. When `mode_warning` is given it is set to a one-line warning if
/// group or others may read or write the file (else cleared).
result<keyring> load_keyring_file(const std::string& path,
                                  std::string* mode_warning = nullptr);

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
