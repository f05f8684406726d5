#pragma once
// Wire format of user events and queries (userevents.proto): encoding, and
// decoding with every bound checked, so the core only ever sees valid
// values. Pure: no CAF, no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "userevents/types.h"

namespace pekonode::userevents {

/// Largest layer message we decode; ours stay below config::max_packet_bytes.
inline constexpr size_t max_wire_bytes = 2048;
/// Events in one Gossip; ids in one Sync or Want.
inline constexpr size_t max_wire_events = 32;
inline constexpr size_t max_wire_ids = 256;
/// A query's origin address ("ip:port" or "[ipv6]:port").
inline constexpr size_t max_addr_bytes = 64;

/// An event as it travels: the event and how long the sender has known it.
struct wire_event {
  user_event ev;
  uint32_t age_ms = 0;
};

/// One decoded packet.
struct packet {
  enum class type { gossip, sync, want, ack, response };
  type kind = type::gossip;
  std::vector<wire_event> events; ///< gossip
  std::vector<uint64_t> ids;      ///< sync, want
  uint64_t query_id = 0;          ///< ack, response
  bool responding = false;        ///< ack
  std::string payload;            ///< response
};

/// Decodes and validates; false with a reason in `why` on any violation
/// (size, count, name, kind, fields that do not belong to the kind).
bool decode(std::string_view bytes, packet& out, std::string& why);

/// Checks an event's fields against the limits (what decode checks for each
/// event); false with the reason.
bool valid_event(const user_event& ev, std::string& why);

/// Encoded size of one event inside a Gossip packet.
size_t wire_size(const wire_event& ev);

std::string encode_gossip(const std::vector<wire_event>& events);
std::string encode_sync(const std::vector<uint64_t>& ids);
std::string encode_want(const std::vector<uint64_t>& ids);
std::string encode_ack(uint64_t query_id, bool responding);
std::string encode_response(uint64_t query_id, const std::string& payload);

/// The id anti-entropy uses for the event (origin, id).
uint64_t sync_id(const std::string& origin, uint64_t id);

} // namespace pekonode::userevents
