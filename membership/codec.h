#pragma once
// Wire codec of the membership protocol: members to and from `Update`s, the
// bounds every inbound packet must meet before the core acts on it, and the
// outbox that builds this node's Packets and splices pre-encoded
// piggybacked updates into them. It makes no protocol decision: what to
// send, and whether a claim changes the view, is the core's.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/token_bucket.h"
#include "common/types.h"
#include "common/varint.h"
#include "membership/broadcast_queue.h"
#include "membership/config.h"
#include "membership/member_table.h"
#include "membership/membership.pb.h"
#include "membership/types.h"

namespace pekonode::membership {

member_state from_pb(MemberState s);
MemberState to_pb(member_state s);

/// `m` as an Update. Tags travel on alive claims only, `from` (who raised
/// the claim) on all others only.
Update encode(const member& m, std::string_view from);

/// Replaces `out` with the bytes of `encode(m, from).SerializeAsString()`,
/// written directly (no Update, no allocation beyond `out`'s growth) when
/// the claim carries no tags; with tags, through the Update. State pages
/// of a large table are built from these (anti_entropy).
void encode_to(const member& m, std::string_view from, std::string& out);

/// The claim an Update makes, viewing `u`'s strings (valid while `u` is).
/// Tags are copied for alive claims only, as encode() sends them.
claim to_claim(const Update& u);

// -- validation of inbound packets --------------------------------------------

/// Why an Update is refused (the stats().bad_packets reason), or nullptr
/// when it is within the limits: a valid name (visible ASCII, at most
/// max_name_bytes; `from` likewise when set), a canonical IP-literal
/// address (valid_gossip_addr), a known state, tags as valid_tags() wants
/// them ("bad_update" otherwise), and an incarnation at most
/// max_incarnation, below it for accusations ("incarnation_ceiling").
const char* update_error(const Update& u, const config& cfg);

/// update_error(u, cfg) == nullptr.
bool valid(const Update& u, const config& cfg);

/// A PingReq naming a valid target and its IP-literal address.
bool valid(const PingReq& r, const config& cfg);

/// A bucket list with exactly `buckets` hashes.
bool valid(const SyncBuckets& b, std::size_t buckets);

/// A want list of at most `buckets` entries, each below `buckets`.
bool valid(const SyncWant& w, std::size_t buckets);

/// Why decode() refused a datagram, checked in this order.
enum class decode_error : uint8_t {
  none,
  too_large,  ///< above config::max_datagram (checked before parsing)
  parse,      ///< not a Packet
  bad_sender, ///< sender not a valid name (valid_name, max_name_bytes)
  empty,      ///< no body and no updates (e.g. only unknown fields)
};

/// The stats().bad_packets reason: "too_large", "parse", "bad_sender",
/// "unknown_type" (for empty).
const char* to_string(decode_error e);

/// Parses one datagram payload into `p`, bounding it first. Every check
/// is O(payload); nothing is allocated before the size check.
decode_error decode(std::string_view bytes, const config& cfg, Packet& p);

// -- encoding ----------------------------------------------------------------

/// Tag byte of Packet.updates (field 15, length-delimited).
inline constexpr char updates_field_tag =
  static_cast<char>((Packet::kUpdatesFieldNumber << 3) | 2);
static_assert(Packet::kUpdatesFieldNumber <= 15, "one-byte tag expected");

/// Bytes splice_update() appends for an encoded update of `n` bytes.
constexpr std::size_t spliced_size(std::size_t n) {
  return delimited_field_size(n);
}

/// Tag byte of StatePage.members (field 3, length-delimited).
inline constexpr char page_members_field_tag =
  static_cast<char>((StatePage::kMembersFieldNumber << 3) | 2);
static_assert(StatePage::kMembersFieldNumber <= 15, "one-byte tag expected");

/// Appends the encoded Update `update` to `members` as one more
/// StatePage.members entry (spliced_size(update.size()) bytes).
void append_page_member(std::string& members, std::string_view update);

/// Appends the encoded Update `update` to the serialised Packet `bytes` as
/// one more Packet.updates entry: the result parses as the same packet
/// with that update added last. No re-encoding of either part.
void splice_update(std::string& bytes, std::string_view update);

/// Builds this node's Packets and appends them to outbound lists, counting
/// them in core_stats (packets_out, bytes_out). Owns the piggyback queue
/// (broadcast_queue: transmit-limited, newest first, one entry per member)
/// and the sequence numbers of this node's requests (pings, ping-reqs,
/// leave notices), so sequence numbers never repeat across kinds.
class outbox {
public:
  /// `retransmit_limit` returns the current per-update transmit limit
  /// (retransmit_limit(cfg, live members)); `first_seq` seeds the sequence.
  outbox(const config& cfg, std::string sender, core_stats& stats,
         uint64_t first_seq, std::function<int()> retransmit_limit);

  /// An empty packet from this node.
  Packet packet() const;

  /// Sends `p` as it is.
  void send(const address& to, const Packet& p, outbound_list& out);

  /// Sends the packet `Packet{sender, state: StatePage{index, total,
  /// members, join_reply}}`, with `members` the StatePage.members entries
  /// already encoded (each a tag, a length and an encoded Update: see
  /// append_page_member). The bytes are those protobuf would write for the
  /// same packet.
  void send_state_page(const address& to, uint32_t index, uint32_t total,
                       bool join_reply, std::string_view members,
                       outbound_list& out);

  /// Sends `p` with its spare room up to config::max_packet filled with
  /// queued updates (fewest transmits first); each one taken counts as a
  /// transmit.
  void send_piggybacked(const address& to, const Packet& p,
                        outbound_list& out);

  /// If some queued update is too large to share a packet (above
  /// max_packet - 64 bytes), sends the largest alone, in a packet of at
  /// most max_datagram bytes (a larger one is dropped but still counts as
  /// a transmit).
  void send_oversize(const address& to, outbound_list& out);

  /// Queues `m` for piggybacking, replacing any queued claim about it.
  void enqueue(const member& m, std::string_view from);

  /// Whether no update is queued.
  bool idle() const { return queue_.empty(); }

  /// Updates queued for piggybacking (a gauge for metrics).
  std::size_t queued() const { return queue_.size(); }

  /// Forgets every queued update.
  void clear_queue() { queue_ = broadcast_queue{}; }

  /// A fresh request sequence number.
  uint64_t next_seq() { return seq_++; }

  /// Takes one token of the unsolicited-reply budget (config::assist_burst,
  /// assist_per_probe per probe_interval) shared by every module; false
  /// (counted in assists_limited) when it is spent.
  bool take_assist(time_point now);

private:
  void emit(const address& to, std::string bytes, outbound_list& out);

  const config& cfg_;
  std::string sender_;
  core_stats& stats_;
  uint64_t seq_;
  std::function<int()> retransmit_limit_;
  broadcast_queue queue_;
  token_bucket assist_;
  bool assist_init_ = false;
};

} // namespace pekonode::membership
