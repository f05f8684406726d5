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
//   encrypted: [0x03][24-byte random nonce][XChaCha20-Poly1305-IETF ct + tag]
//              associated data = format byte || cluster label
//              plaintext under the AEAD = frame_header || envelope, where
//              frame_header = [sender epoch: 8][sequence: 8][sent at, ms
//              since the Unix epoch: 8][destination length: 1][destination]
//              (integers little-endian)
//   plaintext: [0x01][label length: 1 byte][label][envelope]
// The header lets the receiver refuse replays (transport/replay_guard.h):
// the destination names the address the datagram was sealed for, the epoch
// and sequence number identify it, the time bounds how long it can live.
// 0x02 is the earlier encrypted format without that header; it is refused
// with a reason naming it (bad_version), never opened.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport/error.h"

namespace pekonode::transport {

constexpr uint8_t frame_plain = 0x01;
/// Earlier encrypted format (no replay header); refused, never produced.
constexpr uint8_t frame_xchacha = 0x02;
/// Encrypted format with the replay header.
constexpr uint8_t frame_sealed = 0x03;
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

  /// Moves key `i` to the front (primary); the others keep their order.
  void make_primary(size_t i);

  /// Removes key `i` (wiping its material).
  void erase(size_t i);

  bool empty() const noexcept { return keys_.empty(); }
  size_t size() const noexcept { return keys_.size(); }
  const key& primary() const noexcept { return keys_.front(); }
  const std::vector<key>& keys() const noexcept { return keys_; }
  /// The material each key was derived from (same order as keys()): what
  /// a keyring file holds, kept so a changed ring can be written back and
  /// its keys named by fingerprint. Never sent.
  const std::vector<std::string>& materials() const noexcept {
    return materials_;
  }

private:
  std::vector<key> keys_;
  std::vector<std::string> materials_;
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

/// Longest destination a frame header carries: a canonical "[IPv6]:port"
/// takes at most 47 characters.
constexpr size_t max_frame_destination = 48;
/// Bytes of a frame header before its destination.
constexpr size_t frame_header_fixed = 8 + 8 + 8 + 1;

/// What an encrypted frame says about itself, authenticated by its key.
struct frame_header {
  uint64_t epoch = 0;   ///< sender's boot epoch (one per process start)
  uint64_t seq = 0;     ///< sender's datagram counter within the epoch, from 1
  uint64_t sent_ms = 0; ///< sender's wall clock at sealing, ms since 1970
  std::string dest;     ///< canonical "ip:port" the datagram was sealed for
};

/// A boot epoch for a node without stored state: 64 random bits mixed with
/// the wall clock at start (BLAKE2b), never 0.
uint64_t random_epoch();

/// Seals and opens datagrams for one node. Const members may be used from
/// several threads; set_keys must not run concurrently with them (the
/// transport actors own their framer).
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

  /// Frames `envelope` for the wire (random nonce when encrypted; `h` is
  /// sealed with it then, ignored in plaintext). Fails (field_too_large)
  /// when `h.dest` is longer than max_frame_destination.
  result<std::string> seal(std::string_view envelope,
                           const frame_header& h = {}) const;

  /// Unframes a received datagram: checks format, label or tag (every key
  /// tried), and returns the envelope bytes; when encrypted, `h` (if given)
  /// receives the authenticated header. Reasons: truncated (empty or short,
  /// or a header cut short), bad_version (unknown format byte, or the
  /// earlier encrypted format 0x02), encryption_mismatch, wrong_label,
  /// auth_failed.
  result<std::string> open(std::string_view datagram,
                           frame_header* h = nullptr) const;

  /// Replaces the keys (run-time rotation). An empty ring is refused
  /// (returns false) on an encrypted framer and on a plaintext one: a node
  /// never switches between plaintext and encryption while it runs.
  bool set_keys(keyring keys);
  const keyring& keys() const noexcept { return keys_; }

private:
  keyring keys_;
  std::string label_;
};

} // namespace pekonode::transport
