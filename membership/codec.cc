#include "membership/codec.h"

#include <utility>

#include "common/text.h"

namespace pekonode::membership {

member_state from_pb(MemberState s) {
  switch (s) {
    case SUSPECT: return member_state::suspect;
    case DEAD: return member_state::dead;
    case LEFT: return member_state::left;
    default: return member_state::alive;
  }
}

MemberState to_pb(member_state s) {
  switch (s) {
    case member_state::suspect: return SUSPECT;
    case member_state::dead: return DEAD;
    case member_state::left: return LEFT;
    default: return ALIVE;
  }
}

Update encode(const member& m, std::string_view from) {
  Update u;
  u.set_name(m.name);
  u.set_addr(m.addr);
  u.set_incarnation(m.incarnation);
  u.set_state(to_pb(m.state));
  if (m.state == member_state::alive)
    for (auto& [k, v] : m.tags) (*u.mutable_tags())[k] = v;
  if (m.state != member_state::alive) u.set_from(std::string(from));
  return u;
}

namespace {

// Field tags of Update (wire type 2: length-delimited, 0: varint).
constexpr char tag_name = (Update::kNameFieldNumber << 3) | 2;
constexpr char tag_addr = (Update::kAddrFieldNumber << 3) | 2;
constexpr char tag_incarnation = (Update::kIncarnationFieldNumber << 3) | 0;
constexpr char tag_state = (Update::kStateFieldNumber << 3) | 0;
constexpr char tag_from = (Update::kFromFieldNumber << 3) | 2;
static_assert(Update::kFromFieldNumber <= 15, "one-byte tags expected");

void append_string_field(std::string& out, char tag, std::string_view v) {
  if (v.empty()) return; // proto3: a default value is not written
  out.push_back(tag);
  append_varint(out, v.size());
  out.append(v.data(), v.size());
}

} // namespace

void encode_to(const member& m, std::string_view from, std::string& out) {
  out.clear();
  if (m.state == member_state::alive && !m.tags.empty()) {
    // Map entries: left to protobuf, whose order of them is its own.
    encode(m, from).SerializeToString(&out);
    return;
  }
  // Field order and defaults as protobuf writes them (fields 1..6).
  append_string_field(out, tag_name, m.name.str());
  append_string_field(out, tag_addr, m.addr.str());
  if (m.incarnation != 0) {
    out.push_back(tag_incarnation);
    append_varint(out, m.incarnation);
  }
  auto st = static_cast<int>(to_pb(m.state));
  if (st != 0) {
    out.push_back(tag_state);
    append_varint(out, static_cast<uint64_t>(st));
  }
  if (m.state != member_state::alive) append_string_field(out, tag_from, from);
}

claim to_claim(const Update& u) {
  claim c;
  c.name = u.name();
  c.addr = u.addr();
  c.incarnation = u.incarnation();
  c.state = from_pb(u.state());
  if (c.state == member_state::alive && u.tags_size() > 0)
    c.tags = std::map<std::string, std::string>(u.tags().begin(),
                                                u.tags().end());
  c.from = u.from();
  return c;
}

const char* update_error(const Update& u, const config& cfg) {
  if (!valid_name(u.name(), cfg.max_name_bytes)) return "bad_update";
  if (!valid_gossip_addr(u.addr(), cfg.max_addr_bytes)) return "bad_update";
  if (!u.from().empty() && !valid_name(u.from(), cfg.max_name_bytes))
    return "bad_update";
  if (!MemberState_IsValid(u.state())) return "bad_update";
  if (u.tags_size() > 0) {
    if (static_cast<std::size_t>(u.tags_size()) > max_tags) return "bad_update";
    std::size_t tb = 0;
    for (auto& [k, v] : u.tags()) {
      if (k.empty() || k.size() > max_tag_key_bytes
          || v.size() > max_tag_value_bytes || !printable(k) || !printable(v))
        return "bad_update";
      tb += k.size() + v.size();
    }
    if (tb > cfg.max_tags_bytes) return "bad_update";
  }
  // Accusations stay below the ceiling, so the accused can always answer
  // with a higher 'alive' (which may reach it).
  if (u.incarnation() > max_incarnation
      || (u.state() != ALIVE && u.incarnation() >= max_incarnation))
    return "incarnation_ceiling";
  return nullptr;
}

bool valid(const Update& u, const config& cfg) {
  return update_error(u, cfg) == nullptr;
}

bool valid(const PingReq& r, const config& cfg) {
  return valid_name(r.target(), cfg.max_name_bytes)
         && valid_gossip_addr(r.target_addr(), cfg.max_addr_bytes);
}

bool valid(const SyncBuckets& b, std::size_t buckets) {
  return static_cast<std::size_t>(b.hashes_size()) == buckets;
}

bool valid(const SyncWant& w, std::size_t buckets) {
  if (static_cast<std::size_t>(w.buckets_size()) > buckets) return false;
  for (auto b : w.buckets())
    if (b >= buckets) return false;
  return true;
}

const char* to_string(decode_error e) {
  switch (e) {
    case decode_error::none: return "none";
    case decode_error::too_large: return "too_large";
    case decode_error::parse: return "parse";
    case decode_error::bad_sender: return "bad_sender";
    case decode_error::empty: return "unknown_type";
  }
  return "unknown";
}

decode_error decode(std::string_view bytes, const config& cfg, Packet& p) {
  if (bytes.size() > cfg.max_datagram) return decode_error::too_large;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return decode_error::parse;
  if (!valid_name(p.sender(), cfg.max_name_bytes))
    return decode_error::bad_sender;
  if (p.body_case() == Packet::BODY_NOT_SET && p.updates_size() == 0)
    return decode_error::empty;
  return decode_error::none;
}

void append_page_member(std::string& members, std::string_view update) {
  members.push_back(page_members_field_tag);
  append_varint(members, update.size());
  members.append(update.data(), update.size());
}

void splice_update(std::string& bytes, std::string_view update) {
  bytes.push_back(updates_field_tag);
  append_varint(bytes, update.size());
  bytes += update;
}

// -- outbox ------------------------------------------------------------------

outbox::outbox(const config& cfg, std::string sender, core_stats& stats,
               uint64_t first_seq, std::function<int()> retransmit_limit)
  : cfg_(cfg), sender_(std::move(sender)), stats_(stats), seq_(first_seq),
    retransmit_limit_(std::move(retransmit_limit)) {}

Packet outbox::packet() const {
  Packet p;
  p.set_sender(sender_);
  return p;
}

void outbox::emit(const address& to, std::string bytes, outbound_list& out) {
  ++stats_.packets_out;
  stats_.bytes_out += bytes.size();
  out.push_back(outbound{to, channel::membership, std::move(bytes)});
}

void outbox::send(const address& to, const Packet& p, outbound_list& out) {
  emit(to, p.SerializeAsString(), out);
}

void outbox::send_state_page(const address& to, uint32_t index,
                             uint32_t total, bool join_reply,
                             std::string_view members, outbound_list& out) {
  constexpr char tag_index = (StatePage::kIndexFieldNumber << 3) | 0;
  constexpr char tag_total = (StatePage::kTotalFieldNumber << 3) | 0;
  constexpr char tag_join_reply = (StatePage::kJoinReplyFieldNumber << 3) | 0;
  constexpr char tag_sender = (Packet::kSenderFieldNumber << 3) | 2;
  constexpr char tag_state = (Packet::kStateFieldNumber << 3) | 2;
  std::size_t body = members.size() + (join_reply ? 2 : 0);
  if (index != 0) body += 1 + varint_size(index);
  if (total != 0) body += 1 + varint_size(total);
  std::string bytes;
  bytes.reserve(delimited_field_size(sender_.size()) + delimited_field_size(body));
  append_string_field(bytes, tag_sender, sender_);
  // A set oneof member is written even when empty.
  bytes.push_back(tag_state);
  append_varint(bytes, body);
  if (index != 0) {
    bytes.push_back(tag_index);
    append_varint(bytes, index);
  }
  if (total != 0) {
    bytes.push_back(tag_total);
    append_varint(bytes, total);
  }
  bytes.append(members.data(), members.size());
  if (join_reply) {
    bytes.push_back(tag_join_reply);
    bytes.push_back(1);
  }
  emit(to, std::move(bytes), out);
}

void outbox::send_piggybacked(const address& to, const Packet& p,
                              outbound_list& out) {
  std::string bytes = p.SerializeAsString();
  if (bytes.size() < cfg_.max_packet && !queue_.empty()) {
    queue_.take_each(cfg_.max_packet - bytes.size(), retransmit_limit_(),
                     [](std::size_t n) { return spliced_size(n); },
                     [&bytes](const std::string& u) { splice_update(bytes, u); });
  }
  emit(to, std::move(bytes), out);
}

void outbox::send_oversize(const address& to, outbound_list& out) {
  std::size_t over = cfg_.max_packet > 64 ? cfg_.max_packet - 64 : 0;
  std::string big;
  if (!queue_.take_oversize(over, retransmit_limit_(), big)) return;
  std::string bytes = packet().SerializeAsString();
  splice_update(bytes, big);
  if (bytes.size() <= cfg_.max_datagram) emit(to, std::move(bytes), out);
}

bool outbox::take_assist(time_point now) {
  if (!assist_init_) {
    auto per_sec = cfg_.assist_per_probe
                   / std::chrono::duration<double>(cfg_.probe_interval).count();
    assist_ = token_bucket(per_sec, cfg_.assist_burst, now);
    assist_init_ = true;
  }
  if (assist_.try_take(1, now)) return true;
  ++stats_.assists_limited;
  return false;
}

void outbox::enqueue(const member& m, std::string_view from) {
  queue_.push(m.name, encode(m, from).SerializeAsString());
}

} // namespace pekonode::membership
