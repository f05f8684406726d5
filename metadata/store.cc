#include "metadata/store.h"

namespace pekonode::metadata {

const char* to_string(ec code) {
  switch (code) {
    case ec::ok: return "ok";
    case ec::empty_key: return "empty_key";
    case ec::key_too_large: return "key_too_large";
    case ec::value_too_large: return "value_too_large";
    case ec::store_full: return "store_full";
    case ec::too_many_keys: return "too_many_keys";
    case ec::origin_invalid: return "origin_invalid";
    case ec::clock_skew: return "clock_skew";
    case ec::stale: return "stale";
    case ec::bad_tombstone: return "bad_tombstone";
    case ec::not_found: return "not_found";
    case ec::disk_full: return "disk_full";
    case ec::not_durable: return "not_durable";
    case ec::cas_mismatch: return "cas_mismatch";
    case ec::replicas_timeout: return "replicas_timeout";
    case ec::too_few_members: return "too_few_members";
    case ec::too_many_writes: return "too_many_writes";
    case ec::bad_option: return "bad_option";
    case ec::duplicate_key: return "duplicate_key";
    case ec::snapshot_too_large: return "snapshot_too_large";
    case ec::bad_snapshot: return "bad_snapshot";
  }
  return "unknown";
}

ec store::validate_key(std::string_view key) const {
  if (key.empty())
    return ec::empty_key;
  if (key.size() > limits_.max_key_bytes)
    return ec::key_too_large;
  return ec::ok;
}

ec store::validate_origin(std::string_view origin) const {
  if (origin.empty() || origin.size() > limits_.max_origin_bytes)
    return ec::origin_invalid;
  for (unsigned char c : origin)
    if (c < 0x21 || c > 0x7e)
      return ec::origin_invalid;
  return ec::ok;
}

ec store::validate(std::string_view key, size_t value_size, bool tombstone,
                   std::string_view origin) const {
  if (auto err = validate_key(key); err != ec::ok)
    return err;
  if (value_size > limits_.max_value_bytes)
    return ec::value_too_large;
  if (tombstone && value_size != 0)
    return ec::bad_tombstone;
  return validate_origin(origin);
}

size_t store::bucket_of(std::string_view key) {
  return hash64(key, 0x2545f4914f6cdd1dULL) % bucket_count;
}

hash128 store::entry_hash(std::string_view key, const entry& e) {
  // Length-prefixed fields so that no two distinct tuples share an encoding.
  std::string buf;
  buf.reserve(key.size() + e.ver.origin.size() + 32);
  auto put64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i)
      buf.push_back(static_cast<char>(v >> (8 * i)));
  };
  put64(key.size());
  buf.append(key);
  put64(e.ver.hlc);
  put64(e.ver.origin.size());
  buf.append(e.ver.origin);
  buf.push_back(e.tombstone ? 1 : 0);
  return hash_value(buf);
}

void store::account(std::string_view key, const entry& e, bool add) {
  auto h = entry_hash(key, e);
  auto b = bucket_of(key);
  size_t bytes = key.size() + e.value.size() + e.ver.origin.size()
                 + entry_overhead;
  if (add) {
    digest_.lo += h.lo;
    digest_.hi += h.hi;
    bucket_digest_[b] += h.lo;
    total_bytes_ += bytes;
    ++count_;
  } else {
    digest_.lo -= h.lo;
    digest_.hi -= h.hi;
    bucket_digest_[b] -= h.lo;
    total_bytes_ -= bytes;
    --count_;
  }
}

ec store::merge(const std::string& key, entry e) {
  if (auto err = validate(key, e.value.size(), e.tombstone, e.ver.origin);
      err != ec::ok)
    return err;
  auto& b = buckets_[bucket_of(key)];
  auto i = b.find(key);
  size_t new_bytes = key.size() + e.value.size() + e.ver.origin.size()
                     + entry_overhead;
  size_t old_bytes = 0;
  if (i != b.end()) {
    if (!(e.ver > i->second.ver))
      return ec::stale;
    old_bytes = key.size() + i->second.value.size()
                + i->second.ver.origin.size() + entry_overhead;
  } else if (count_ >= limits_.max_keys) {
    return ec::too_many_keys;
  }
  if (total_bytes_ - old_bytes + new_bytes > limits_.max_total_bytes)
    return ec::store_full;
  e.value_hash = hash_value(e.value);
  if (i != b.end()) {
    account(key, i->second, false);
    i->second = std::move(e);
    account(key, i->second, true);
  } else {
    auto j = b.emplace(key, std::move(e)).first;
    account(key, j->second, true);
  }
  return ec::ok;
}

bool store::erase(const std::string& key) {
  auto& b = buckets_[bucket_of(key)];
  auto i = b.find(key);
  if (i == b.end())
    return false;
  account(key, i->second, false);
  b.erase(i);
  return true;
}

const entry* store::find(std::string_view key) const {
  auto& b = buckets_[bucket_of(key)];
  auto i = b.find(key);
  return i == b.end() ? nullptr : &i->second;
}

size_t store::gc(uint64_t horizon_ms, std::vector<std::string>* removed) {
  size_t n = 0;
  for (auto& b : buckets_) {
    for (auto i = b.begin(); i != b.end();) {
      if (i->second.tombstone && hlc_physical(i->second.ver.hlc) < horizon_ms) {
        account(i->first, i->second, false);
        if (removed)
          removed->push_back(i->first);
        i = b.erase(i);
        ++n;
      } else {
        ++i;
      }
    }
  }
  return n;
}

} // namespace pekonode::metadata
