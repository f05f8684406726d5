#include "storage/snapshot_codec.h"

#include <unordered_set>

#include "storage/crc32c.h"
#include "storage/data_dir.h"
#include "storage/store.h"

namespace pekonode::storage {

namespace {

// tag + u32 length + u32 checksum around each encoded record; inside it,
// three u32 lengths, two u64 and one flag byte (codec.cc encode_record).
constexpr size_t record_framing = 1 + 4 + 4;
constexpr size_t record_fixed = 4 + 8 + 4 + 1 + 8 + 4;

std::string encode_header(const snapshot_header& h) {
  std::string header;
  writer w(header);
  w.bytes(h.cluster);
  w.bytes(h.node);
  w.u64(h.boot_epoch);
  w.u64(h.hlc_high_water);
  w.u64(h.gc_horizon);
  w.bytes(encode_membership(h.membership));
  return header;
}

} // namespace

size_t snapshot_record_bytes(size_t key, size_t value, size_t origin) {
  return record_framing + record_fixed + key + value + origin;
}

size_t snapshot_record_bytes(const record& r) {
  return snapshot_record_bytes(r.key.size(), r.value.size(), r.origin.size());
}

size_t snapshot_overhead(const snapshot_header& h) {
  // magic, version, header length, header, header crc; 'E', count, crc.
  return snapshot_magic.size() + 4 + 4 + encode_header(h).size() + 4
         + 1 + 8 + 4;
}

snapshot_encoder::snapshot_encoder(const snapshot_header& h) {
  writer w(out_);
  out_.append(snapshot_magic);
  w.u32(format_version);
  auto header = encode_header(h);
  w.bytes(header);
  w.u32(crc32c(header));
}

void snapshot_encoder::add(const record& r) {
  enc_.clear();
  encode_record(r, enc_);
  writer w(out_);
  w.u8('R');
  w.bytes(enc_);
  w.u32(crc32c(enc_));
  ++count_;
}

std::string snapshot_encoder::finish() {
  writer w(out_);
  w.u8('E');
  w.u64(count_);
  w.u32(crc32c(out_));
  return std::move(out_);
}

result<snapshot_contents> decode_snapshot(std::string_view in,
                                          const snapshot_limits& lim) {
  using R = result<snapshot_contents>;
  auto corrupt = [](const std::string& what) {
    return R::failure(ec::corrupt, what);
  };
  if (in.size() < snapshot_magic.size()
      || in.substr(0, snapshot_magic.size()) != snapshot_magic)
    return R::failure(ec::foreign,
                      "not a pekonode snapshot (no \"PEKOSNAP\" magic)");
  reader rd(in.substr(snapshot_magic.size()));
  uint32_t version = rd.u32();
  if (!rd.ok())
    return corrupt("truncated in the format version");
  if (version > format_version)
    return R::failure(ec::unsupported_format,
                      "format " + std::to_string(version)
                        + " is newer than this build reads ("
                        + std::to_string(format_version) + ")");
  if (version != format_version)
    return corrupt("bad format version " + std::to_string(version));
  uint32_t hlen = rd.u32();
  if (!rd.ok())
    return corrupt("truncated in the header length");
  if (hlen > lim.max_header_bytes)
    return corrupt("header length " + std::to_string(hlen)
                   + " above the limit of "
                   + std::to_string(lim.max_header_bytes) + " bytes");
  // Re-read the length-prefixed header now that its bound is known.
  reader hr0(in.substr(snapshot_magic.size() + 4));
  auto header = hr0.bytes(lim.max_header_bytes);
  uint32_t header_crc = hr0.u32();
  if (!hr0.ok())
    return corrupt("truncated in the header");
  if (header_crc != crc32c(header))
    return corrupt("header fails its checksum");
  snapshot_contents out;
  {
    reader hr(header);
    auto& h = out.header;
    h.cluster = std::string(hr.bytes(lim.max_key_bytes));
    h.node = std::string(hr.bytes(lim.max_key_bytes));
    h.boot_epoch = hr.u64();
    h.hlc_high_water = hr.u64();
    h.gc_horizon = hr.u64();
    auto members = hr.bytes(lim.max_header_bytes);
    if (!hr.at_end() || !decode_membership(members, h.membership))
      return corrupt("header does not decode");
  }
  size_t base = snapshot_magic.size() + 4 + 4 + header.size() + 4;
  reader rr(in.substr(base));
  size_t max_rec = 2 * lim.max_key_bytes + lim.max_value_bytes + record_fixed;
  for (;;) {
    auto n = std::to_string(out.records.size() + 1);
    uint8_t tag = rr.u8();
    if (!rr.ok())
      return corrupt("truncated before the end marker (after "
                     + std::to_string(out.records.size()) + " records)");
    if (tag == 'E')
      break;
    if (tag != 'R')
      return corrupt("bad tag at record " + n);
    if (out.records.size() >= lim.max_records)
      return corrupt("more than " + std::to_string(lim.max_records)
                     + " records");
    reader len_rd = rr;
    uint32_t len = len_rd.u32();
    if (len_rd.ok() && len > max_rec)
      return corrupt("record " + n + " length " + std::to_string(len)
                     + " above the limit of " + std::to_string(max_rec)
                     + " bytes");
    auto enc = rr.bytes(max_rec);
    uint32_t crc = rr.u32();
    if (!rr.ok())
      return corrupt("truncated in record " + n);
    if (crc != crc32c(enc))
      return corrupt("record " + n + " fails its checksum");
    record r;
    if (!decode_record(enc, lim.max_key_bytes, lim.max_value_bytes, r))
      return corrupt("record " + n + " does not decode");
    out.records.push_back(std::move(r));
  }
  uint64_t declared = rr.u64();
  size_t covered = base + rr.pos();
  uint32_t file_crc = rr.u32();
  if (!rr.ok())
    return corrupt("truncated in the end marker");
  if (file_crc != crc32c(in.substr(0, covered)))
    return corrupt("fails its whole-file checksum");
  if (declared != out.records.size())
    return corrupt("declares " + std::to_string(declared) + " records, holds "
                   + std::to_string(out.records.size()));
  if (!rr.at_end())
    return corrupt("has bytes after its end");
  std::unordered_set<std::string_view> keys;
  keys.reserve(out.records.size());
  for (size_t i = 0; i < out.records.size(); ++i)
    if (!keys.insert(out.records[i].key).second)
      return corrupt("record " + std::to_string(i + 1)
                     + " repeats a key of an earlier record");
  return R::success(std::move(out));
}

} // namespace pekonode::storage
