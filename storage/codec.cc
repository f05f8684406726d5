#include "storage/codec.h"

#include "storage/crc32c.h"

namespace pekonode::storage {

void writer::u32(uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void writer::u64(uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void writer::bytes(std::string_view b) {
  u32(static_cast<uint32_t>(b.size()));
  out_.append(b);
}

bool reader::need(size_t n) {
  if (!ok_ || in_.size() - pos_ < n)
    ok_ = false;
  return ok_;
}

uint8_t reader::u8() {
  if (!need(1))
    return 0;
  return static_cast<uint8_t>(in_[pos_++]);
}

uint32_t reader::u32() {
  if (!need(4))
    return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= uint32_t{static_cast<uint8_t>(in_[pos_++])} << (8 * i);
  return v;
}

uint64_t reader::u64() {
  if (!need(8))
    return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t{static_cast<uint8_t>(in_[pos_++])} << (8 * i);
  return v;
}

std::string_view reader::bytes(size_t max) {
  uint32_t n = u32();
  if (!ok_ || n > max || !need(n)) {
    ok_ = false;
    return {};
  }
  auto s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}

void encode_record(const record& r, std::string& out) {
  writer w(out);
  w.bytes(r.key);
  w.u64(r.hlc);
  w.bytes(r.origin);
  w.u8(r.tombstone ? 1 : 0);
  w.u64(r.gc_after_ms);
  w.bytes(r.value);
}

bool decode_record(std::string_view in, size_t max_key, size_t max_value,
                   record& r) {
  reader rd(in);
  r.key = std::string(rd.bytes(max_key));
  r.hlc = rd.u64();
  r.origin = std::string(rd.bytes(max_key));
  uint8_t flags = rd.u8();
  r.gc_after_ms = rd.u64();
  r.value = std::string(rd.bytes(max_value));
  if (!rd.at_end() || flags > 1 || r.key.empty())
    return false;
  r.tombstone = flags == 1;
  return !(r.tombstone && !r.value.empty());
}

uint32_t record_crc(const record& r) {
  // The same canonical layout as encode_record, without copying the value.
  std::string head;
  writer w(head);
  w.bytes(r.key);
  w.u64(r.hlc);
  w.bytes(r.origin);
  w.u8(r.tombstone ? 1 : 0);
  w.u64(r.gc_after_ms);
  w.u32(static_cast<uint32_t>(r.value.size()));
  return crc32c_extend(crc32c(head), r.value);
}

std::string encode_membership(const membership_snapshot& m) {
  std::string out;
  writer w(out);
  w.u64(m.incarnation);
  w.u32(static_cast<uint32_t>(m.peers.size()));
  for (auto& p : m.peers) {
    w.bytes(p.name);
    w.bytes(p.addr);
    w.u64(p.incarnation);
    w.bytes(p.state);
  }
  return out;
}

bool decode_membership(std::string_view in, membership_snapshot& m) {
  reader rd(in);
  membership_snapshot out;
  out.incarnation = rd.u64();
  uint32_t n = rd.u32();
  if (!rd.ok() || n > max_peers)
    return false;
  out.peers.reserve(n);
  for (uint32_t i = 0; i < n && rd.ok(); ++i) {
    peer p;
    p.name = std::string(rd.bytes(max_peer_field_bytes));
    p.addr = std::string(rd.bytes(max_peer_field_bytes));
    p.incarnation = rd.u64();
    p.state = std::string(rd.bytes(max_peer_field_bytes));
    out.peers.push_back(std::move(p));
  }
  if (!rd.at_end())
    return false;
  m = std::move(out);
  return true;
}

} // namespace pekonode::storage
