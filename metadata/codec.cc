#include "metadata/codec.h"

#include <algorithm>
#include <utility>

#include "common/varint.h"

namespace pekonode::metadata {

void set_version(Version* out, const version& v) {
  out->set_hlc(v.hlc);
  out->set_origin(v.origin);
}

version get_version(const Version& v) { return {v.hlc(), v.origin()}; }

bool fits_inline(const config& cfg, const std::string& key, const entry& e) {
  if (e.tombstone)
    return true; // key + origin bounded well below max_packet
  if (e.value.size() > cfg.inline_threshold)
    return false;
  // Upper bound of the encoded Entry (hlc varint <= 10 bytes + tag).
  size_t entry_bytes =
    delimited_field_size(key.size())
    + delimited_field_size(delimited_field_size(e.ver.origin.size()) + 11) + 2
    + delimited_field_size(e.value.size());
  return delimited_field_size(entry_bytes) <= body_budget(cfg.max_packet);
}

void add_to_updates(Updates& u, const config& cfg, const std::string& key,
                    const entry& e) {
  if (fits_inline(cfg, key, e)) {
    auto* x = u.add_entries();
    x->set_key(key);
    set_version(x->mutable_version(), e.ver);
    x->set_tombstone(e.tombstone);
    if (!e.tombstone)
      x->set_value(e.value);
  } else {
    auto* a = u.add_announces();
    a->set_key(key);
    set_version(a->mutable_version(), e.ver);
    a->set_size(static_cast<uint32_t>(e.value.size()));
    a->set_hash_lo(e.value_hash.lo);
    a->set_hash_hi(e.value_hash.hi);
    auto target = announce_target_bytes(cfg, key, e.ver.origin);
    auto have = a->ByteSizeLong();
    if (target >= have + 3) { // the pad field: tag, length, bytes
      auto need = target - have;
      a->set_pad(std::string(need - (need - 2 < 128 ? 2 : 3), '\0'));
    }
  }
}

size_t probe_request_bound(const std::string& key,
                           const std::string& origin) {
  return key.size() + origin.size() + 48;
}

size_t announce_target_bytes(const config& cfg, const std::string& key,
                             const std::string& origin) {
  return std::min(2 * probe_request_bound(key, origin),
                  body_budget(cfg.max_packet) - 16);
}

uint32_t chunk_size_for(size_t max_packet, const std::string& key,
                        const version& v) {
  size_t fixed = chunk_fixed_overhead + key.size() + v.origin.size();
  return max_packet > fixed + min_chunk_size
           ? static_cast<uint32_t>(max_packet - fixed)
           : min_chunk_size;
}

size_t chunk_packet_bound(uint32_t chunk_size, const std::string& key,
                          const version& v) {
  return chunk_size + chunk_fixed_overhead + key.size() + v.origin.size();
}

size_t update_bound(const config& cfg, const std::string& key,
                    const entry& e) {
  // Key, origin and value with their tags and lengths, plus 32 bytes for
  // the version, flags, sizes and hashes: an upper bound of either form.
  size_t body = key.size() + e.ver.origin.size() + 32;
  if (fits_inline(cfg, key, e))
    body += e.value.size() + 4;
  else // a padded announce, with its tag and length
    body = std::max(body, announce_target_bytes(cfg, key, e.ver.origin) + 4);
  return std::min(body, cfg.max_packet);
}

Message make_chunk(const std::string& key, const entry& e, uint32_t index,
                   uint32_t chunk_size) {
  Message m;
  auto* c = m.mutable_chunk();
  c->set_key(key);
  set_version(c->mutable_version(), e.ver);
  c->set_index(index);
  c->set_chunk_size(chunk_size);
  c->set_total_size(static_cast<uint32_t>(e.value.size()));
  c->set_hash_lo(e.value_hash.lo);
  c->set_hash_hi(e.value_hash.hi);
  uint64_t off = uint64_t{index} * chunk_size;
  c->set_data(e.value.substr(off, chunk_size));
  return m;
}

bool updates_packer::add(const std::string& key, const entry& e) {
  Updates one;
  add_to_updates(one, cfg_, key, e);
  size_t sz = one.ByteSizeLong();
  if (used_ + sz > budget_)
    return false;
  used_ += sz;
  body_.MergeFrom(one);
  return true;
}

Message updates_packer::take_rumour() {
  Message m;
  m.mutable_rumour()->Swap(&body_);
  body_.Clear();
  used_ = 0;
  return m;
}

Message updates_packer::take_push() {
  Message m;
  m.mutable_push()->Swap(&body_);
  body_.Clear();
  used_ = 0;
  return m;
}

size_t emitter::send(const address& to, const Message& m, const char* kind) {
  std::string payload;
  m.SerializeToString(&payload);
  if (payload.size() > max_packet_) {
    // A bug, never input-driven: sizes are computed before building.
    reject("oversized_outbound");
    return 0;
  }
  auto n = payload.size();
  if (!capped_.empty() && to == capped_) {
    if (static_cast<double>(capped_sent_ + n) > cap_) {
      capped_out_ = true;
      reject("peer_budget");
      return 0;
    }
    capped_sent_ += n;
    ++capped_msgs_;
  }
  stats_.bytes_out[kind] += n;
  stats_.msgs_out[kind] += 1;
  out_.push_back(outbound{to, channel::metadata, std::move(payload)});
  return n;
}

} // namespace pekonode::metadata
