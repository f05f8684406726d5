#pragma once
// Envelope codec: turns layer messages into the protobuf wire envelope and
// back, with every size and count bounded before anything is allocated, and
// packs outbound messages per destination into datagram-sized envelopes.
// Pure: no CAF, no sockets, no crypto (see crypto.h for the outer framing).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "transport/error.h"

namespace pekonode::transport {

/// Envelope format version this build writes and accepts.
constexpr uint32_t envelope_version = 1;

/// Bounds applied to every datagram before parsing. Defaults suit a UDP
/// transport; tighten them for exposed deployments.
struct limits {
  /// Largest envelope accepted, in bytes. Default 65507, the largest IPv4 UDP
  /// payload; anything above cannot be a datagram we sent. Lower it to cap
  /// per-datagram work; it must stay >= the sender's `max_datagram`.
  size_t max_datagram = 65507;
  /// Most layer messages in one envelope. Default 64: a 1400-byte datagram
  /// rarely holds more than ~20 useful messages, and the bound caps the
  /// per-datagram allocation at 64 small strings.
  size_t max_messages = 64;
  /// Longest sender name in bytes. Default 128.
  size_t max_sender = 128;
  /// Largest single layer body in bytes. Default 65507 (no extra bound
  /// beyond the datagram); layers with smaller messages may lower it.
  size_t max_body = 65507;
};

/// True for channels this build delivers (see common/types.h `channel`).
bool is_known_channel(uint32_t chan) noexcept;

/// One layer message inside an envelope.
struct envelope_message {
  channel chan = channel::membership;
  std::string body;
};

/// A decoded envelope: the sender's node name and its messages in order.
struct envelope {
  uint32_t version = envelope_version;
  std::string sender;
  std::vector<envelope_message> messages;
};

/// Serialises `env` to protobuf wire bytes (no bounds applied: we trust
/// ourselves; the receiver applies its own limits).
std::string encode(const envelope& env);

/// Parses one envelope. Checks, in order and before allocating: size
/// (too_large / truncated for empty), then a walk of the wire format that
/// bounds every length prefix (truncated), rejects bad wire types and varints
/// (malformed), counts messages (too_many_messages) and bounds the sender and
/// each body (field_too_large); then the version (bad_version) and channels
/// (unknown_channel). Unknown fields with valid wire types are skipped.
result<envelope> decode(std::string_view bytes, const limits& lim = {});

/// Exact encoded size of an envelope header with this sender name.
size_t header_wire_size(size_t sender_len) noexcept;

/// Exact number of bytes one message with `body_len` bytes of body adds to an
/// envelope.
size_t message_wire_size(channel chan, size_t body_len) noexcept;

/// One envelope ready to be framed and sent to `to`.
struct packed_datagram {
  address to;
  std::string bytes;      ///< encoded envelope
  size_t messages = 0;    ///< layer messages inside
};

/// Result of `pack`: the envelopes plus the messages that could not be sent.
struct pack_result {
  std::vector<packed_datagram> datagrams;
  size_t dropped = 0; ///< messages too large even alone, or empty `to`
};

/// Groups `out` by destination (first-appearance order, message order kept)
/// and greedily packs each group into envelopes whose encoded size stays
/// within `budget` bytes and `lim.max_messages` messages. A message too big
/// for `budget` is still sent alone when its envelope fits `hard_limit`;
/// otherwise it is dropped and counted. `budget` and `hard_limit` are
/// envelope sizes, i.e. the datagram size minus the framing overhead.
pack_result pack(std::string_view sender, const outbound_list& out,
                 size_t budget, size_t hard_limit, const limits& lim = {});

} // namespace pekonode::transport
