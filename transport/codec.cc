#include "transport/codec.h"

#include <unordered_map>

#include "common/varint.h"
#include "transport/envelope.pb.h"

namespace pekonode::transport {

namespace {

// Protobuf wire types.
constexpr uint32_t wt_varint = 0;
constexpr uint32_t wt_fixed64 = 1;
constexpr uint32_t wt_len = 2;
constexpr uint32_t wt_fixed32 = 5;

// Cursor over untrusted bytes; every read is bounds-checked.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}

  bool done() const noexcept { return pos_ >= in_.size(); }
  size_t remaining() const noexcept { return in_.size() - pos_; }

  ec varint(uint64_t& out) noexcept {
    out = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= in_.size())
        return ec::truncated;
      auto b = static_cast<uint8_t>(in_[pos_++]);
      if (i == 9 && b > 1)
        return ec::malformed; // would overflow 64 bits
      out |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0)
        return ec::none;
    }
    return ec::malformed;
  }

  // Reads a length prefix and returns the delimited bytes.
  ec delimited(std::string_view& out) noexcept {
    uint64_t len = 0;
    if (auto e = varint(len); e != ec::none)
      return e;
    if (len > remaining())
      return ec::truncated;
    out = in_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return ec::none;
  }

  ec skip(uint32_t wire_type) noexcept {
    uint64_t ignored = 0;
    std::string_view ignored_bytes;
    switch (wire_type) {
      case wt_varint: return varint(ignored);
      case wt_fixed64: return skip_bytes(8);
      case wt_len: return delimited(ignored_bytes);
      case wt_fixed32: return skip_bytes(4);
      default: return ec::malformed; // groups (3, 4) and 6, 7
    }
  }

  // Reads a field key; rejects field number 0 and numbers above 2^29-1.
  ec key(uint32_t& field, uint32_t& wire_type) noexcept {
    uint64_t k = 0;
    if (auto e = varint(k); e != ec::none)
      return e;
    field = static_cast<uint32_t>(k >> 3);
    wire_type = static_cast<uint32_t>(k & 7);
    if (field == 0 || (k >> 3) > 0x1fffffff)
      return ec::malformed;
    return ec::none;
  }

private:
  ec skip_bytes(size_t n) noexcept {
    if (n > remaining())
      return ec::truncated;
    pos_ += n;
    return ec::none;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

bool valid_utf8(std::string_view s) noexcept {
  size_t i = 0;
  const auto n = s.size();
  while (i < n) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

// Walks one Message; checks its body bound and channel.
ec scan_message(std::string_view bytes, const limits& lim) {
  reader r{bytes};
  uint64_t chan = 0;
  while (!r.done()) {
    uint32_t field = 0;
    uint32_t wt = 0;
    if (auto e = r.key(field, wt); e != ec::none)
      return e;
    if (field == 1) {
      if (wt != wt_varint)
        return ec::malformed;
      if (auto e = r.varint(chan); e != ec::none)
        return e;
    } else if (field == 2) {
      if (wt != wt_len)
        return ec::malformed;
      std::string_view body;
      if (auto e = r.delimited(body); e != ec::none)
        return e;
      if (body.size() > lim.max_body)
        return ec::field_too_large;
    } else if (auto e = r.skip(wt); e != ec::none) {
      return e;
    }
  }
  if (chan > UINT32_MAX || !is_known_channel(static_cast<uint32_t>(chan)))
    return ec::unknown_channel;
  return ec::none;
}

// Walks the whole envelope without allocating; returns the first violation.
ec scan_envelope(std::string_view bytes, const limits& lim) {
  reader r{bytes};
  uint64_t version = 0;
  size_t count = 0;
  while (!r.done()) {
    uint32_t field = 0;
    uint32_t wt = 0;
    if (auto e = r.key(field, wt); e != ec::none)
      return e;
    switch (field) {
      case 1:
        if (wt != wt_varint)
          return ec::malformed;
        if (auto e = r.varint(version); e != ec::none)
          return e;
        break;
      case 2: {
        if (wt != wt_len)
          return ec::malformed;
        std::string_view sender;
        if (auto e = r.delimited(sender); e != ec::none)
          return e;
        if (sender.size() > lim.max_sender)
          return ec::field_too_large;
        if (!valid_utf8(sender))
          return ec::malformed;
        break;
      }
      case 3: {
        if (wt != wt_len)
          return ec::malformed;
        if (++count > lim.max_messages)
          return ec::too_many_messages;
        std::string_view msg;
        if (auto e = r.delimited(msg); e != ec::none)
          return e;
        if (auto e = scan_message(msg, lim); e != ec::none)
          return e;
        break;
      }
      default:
        if (auto e = r.skip(wt); e != ec::none)
          return e;
    }
  }
  if (version != envelope_version)
    return ec::bad_version;
  return ec::none;
}

std::string describe_scan_error(ec e, size_t size, const limits& lim) {
  auto n = std::to_string(size);
  switch (e) {
    case ec::truncated:
      return "envelope of " + n + " bytes ends inside a field";
    case ec::malformed:
      return "envelope of " + n + " bytes is not valid protobuf/UTF-8";
    case ec::too_many_messages:
      return "envelope carries more than " + std::to_string(lim.max_messages)
             + " messages";
    case ec::field_too_large:
      return "sender above " + std::to_string(lim.max_sender)
             + " bytes or body above " + std::to_string(lim.max_body);
    case ec::unknown_channel:
      return "message for a channel this node does not know";
    case ec::bad_version:
      return "envelope version is not " + std::to_string(envelope_version);
    default:
      return to_string(e);
  }
}

} // namespace

bool is_known_channel(uint32_t chan) noexcept {
  return chan == static_cast<uint32_t>(channel::membership)
         || chan == static_cast<uint32_t>(channel::metadata)
         || chan == static_cast<uint32_t>(channel::user_events);
}

std::string encode(const envelope& env) {
  Envelope pb;
  pb.set_version(env.version);
  pb.set_sender(env.sender);
  for (auto& m : env.messages) {
    auto* out = pb.add_messages();
    out->set_channel(static_cast<uint32_t>(m.chan));
    out->set_body(m.body);
  }
  return pb.SerializeAsString();
}

result<envelope> decode(std::string_view bytes, const limits& lim) {
  using res = result<envelope>;
  if (bytes.empty())
    return res::failure(ec::truncated, "empty envelope");
  if (bytes.size() > lim.max_datagram)
    return res::failure(ec::too_large, "envelope of " + std::to_string(bytes.size())
                                         + " bytes exceeds "
                                         + std::to_string(lim.max_datagram));
  if (auto e = scan_envelope(bytes, lim); e != ec::none)
    return res::failure(e, describe_scan_error(e, bytes.size(), lim));
  Envelope pb;
  if (!pb.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return res::failure(ec::malformed, "protobuf parse failed");
  envelope env;
  env.version = pb.version();
  env.sender = std::move(*pb.mutable_sender());
  env.messages.reserve(static_cast<size_t>(pb.messages_size()));
  for (auto& m : *pb.mutable_messages())
    env.messages.push_back(envelope_message{static_cast<channel>(m.channel()),
                                            std::move(*m.mutable_body())});
  return res::success(std::move(env));
}

size_t header_wire_size(size_t sender_len) noexcept {
  // version is never 0, so always written; an empty sender is omitted.
  size_t n = 1 + varint_size(envelope_version);
  if (sender_len > 0)
    n += 1 + varint_size(sender_len) + sender_len;
  return n;
}

size_t message_wire_size(channel chan, size_t body_len) noexcept {
  size_t inner = 0;
  auto c = static_cast<uint32_t>(chan);
  if (c != 0)
    inner += 1 + varint_size(c);
  if (body_len > 0)
    inner += 1 + varint_size(body_len) + body_len;
  return 1 + varint_size(inner) + inner;
}

pack_result pack(std::string_view sender, const outbound_list& out,
                 size_t budget, size_t hard_limit, const limits& lim) {
  pack_result res;
  std::vector<std::vector<const outbound*>> groups;
  std::unordered_map<std::string_view, size_t> index;
  for (auto& o : out) {
    if (o.to.empty()) {
      ++res.dropped;
      continue;
    }
    auto [it, added] = index.emplace(o.to, groups.size());
    if (added)
      groups.emplace_back();
    groups[it->second].push_back(&o);
  }
  const size_t header = header_wire_size(sender.size());
  const size_t max_messages = lim.max_messages == 0 ? 1 : lim.max_messages;
  for (auto& group : groups) {
    envelope cur;
    cur.sender = std::string{sender};
    size_t cur_size = header;
    auto flush = [&] {
      if (cur.messages.empty())
        return;
      packed_datagram d;
      d.to = group.front()->to;
      d.messages = cur.messages.size();
      d.bytes = encode(cur);
      res.datagrams.push_back(std::move(d));
      cur.messages.clear();
      cur_size = header;
    };
    for (auto* o : group) {
      auto add = message_wire_size(o->chan, o->payload.size());
      if (header + add > hard_limit || o->payload.size() > lim.max_body) {
        ++res.dropped;
        continue;
      }
      if (!cur.messages.empty()
          && (cur_size + add > budget || cur.messages.size() >= max_messages))
        flush();
      cur.messages.push_back(envelope_message{o->chan, o->payload});
      cur_size += add;
    }
    flush();
  }
  return res;
}

} // namespace pekonode::transport
