#include "metadata/anti_entropy.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "common/varint.h"
#include "metadata/codec.h"

namespace pekonode::metadata {

size_t buckets_per_ack(size_t max_packet) {
  // first_bucket, the packed list's tag and length, the two nonces and
  // the Message wrapper take at most 16 + 2 * nonce_field_bytes bytes.
  return std::min<size_t>(bucket_count,
                          (max_packet - 16 - 2 * nonce_field_bytes) / 8);
}

size_t ack_pages(size_t max_packet) {
  auto per_page = buckets_per_ack(max_packet);
  return (bucket_count + per_page - 1) / per_page;
}

namespace {

Message make_syn(const store_digest& d, uint64_t nonce, uint64_t cookie) {
  Message m;
  auto* s = m.mutable_syn();
  s->set_digest_lo(d.hash.lo);
  s->set_digest_hi(d.hash.hi);
  s->set_count(d.count);
  s->set_nonce(nonce);
  s->set_cookie(cookie);
  // A SYN without the responder's cookie draws a SynCookie at most, which
  // is sent only when no larger than the SYN: pad one that is smaller (an
  // empty store's digest fields are all zero, so not encoded). The pad
  // field costs its tag and length byte besides its body, and an empty one
  // is not encoded at all: at least one byte.
  auto size = m.ByteSizeLong();
  if (size < syn_cookie_bytes) {
    auto missing = syn_cookie_bytes - size;
    s->set_pad(std::string(missing >= 3 ? missing - 2 : 1, '\0'));
  }
  return m;
}

} // namespace

size_t anti_entropy::syn(const address& to, uint64_t nonce, uint64_t cookie,
                         emitter& tx) const {
  return tx.send(to, make_syn(store_.digest(), nonce, cookie), "syn");
}

size_t anti_entropy::syn_size(bool with_cookie) const {
  return make_syn(store_.digest(), ~uint64_t{0},
                  with_cookie ? ~uint64_t{0} : 0)
    .ByteSizeLong();
}

bool anti_entropy::in_sync(const Syn& s) const {
  auto d = store_.digest();
  return s.digest_lo() == d.hash.lo && s.digest_hi() == d.hash.hi
         && s.count() == d.count;
}

void anti_entropy::on_syn(const address& from, const Syn& s,
                          uint64_t reply_nonce, emitter& tx) const {
  if (in_sync(s))
    return; // in sync: the round cost one small packet
  size_t per_page = buckets_per_ack(cfg_.max_packet);
  for (size_t first = 0; first < bucket_count; first += per_page) {
    Message a;
    auto* ack = a.mutable_ack();
    ack->set_first_bucket(static_cast<uint32_t>(first));
    ack->set_nonce(s.nonce());
    ack->set_reply_nonce(reply_nonce);
    for (size_t b = first; b < std::min(bucket_count, first + per_page); ++b)
      ack->add_buckets(store_.bucket_digest(b));
    tx.send(from, a, "ack");
    if (tx.capped_out())
      return; // the peer's reply budget is spent
  }
}

void anti_entropy::on_ack(const address& from, const Ack& a,
                          emitter& tx) const {
  if (a.first_bucket() >= bucket_count
      || a.buckets_size() > static_cast<int>(bucket_count - a.first_bucket())) {
    tx.reject("bad_ack");
    return;
  }
  size_t pages = 0;
  size_t budget = body_budget(cfg_.max_packet) - nonce_field_bytes;
  Message msg;
  size_t used = 0;
  auto flush = [&] {
    if (used > 0 && pages < cfg_.max_ae_pages) {
      msg.mutable_ack2()->set_nonce(a.reply_nonce());
      tx.send(from, msg, "ack2");
      ++pages;
      if (tx.capped_out())
        pages = cfg_.max_ae_pages; // budget spent: as if out of pages
    }
    msg.Clear();
    used = 0;
  };
  for (int i = 0; i < a.buckets_size(); ++i) {
    size_t b = a.first_bucket() + i;
    if (a.buckets(i) == store_.bucket_digest(b))
      continue;
    auto& bucket = store_.bucket(b);
    auto it = bucket.begin();
    bool from_start = true;
    std::string after;
    do {
      Range r;
      r.set_bucket(static_cast<uint32_t>(b));
      r.set_from_start(from_start);
      if (!from_start)
        r.set_after(after);
      size_t base = r.ByteSizeLong() + 8;
      if (used + base > budget)
        flush();
      size_t room = budget - used - base;
      size_t taken = 0;
      for (; it != bucket.end(); ++it) {
        KeyVersion kv;
        kv.set_key(it->first);
        set_version(kv.mutable_version(), it->second.ver);
        size_t sz = delimited_field_size(kv.ByteSizeLong());
        if (taken + sz > room)
          break;
        taken += sz;
        *r.add_keys() = std::move(kv);
      }
      r.set_to_end(it == bucket.end());
      if (r.keys_size() == 0 && !r.to_end()) {
        if (used == 0) {
          tx.reject("ae_entry_too_large"); // cannot happen with sane limits
          break;
        }
        flush(); // no room for even one key: next packet
        if (pages >= cfg_.max_ae_pages)
          return;
        continue;
      }
      if (r.keys_size() > 0) {
        after = r.keys(r.keys_size() - 1).key();
        from_start = false;
      }
      used += delimited_field_size(r.ByteSizeLong());
      *msg.mutable_ack2()->add_ranges() = std::move(r);
      if (it != bucket.end())
        flush();
      if (pages >= cfg_.max_ae_pages)
        return;
    } while (it != bucket.end());
  }
  flush();
}

push_list anti_entropy::on_ack2(const address& from, const Ack2& a2,
                                emitter& tx) const {
  push_list pushes;
  Message want;
  size_t used = 0;
  size_t pages = 0;
  size_t budget = body_budget(cfg_.max_packet) - nonce_field_bytes;
  auto want_key = [&](const std::string& k) {
    size_t sz = delimited_field_size(k.size());
    if (used + sz > budget) {
      want.mutable_want()->set_nonce(a2.nonce());
      if (pages < cfg_.max_ae_pages && !tx.capped_out())
        tx.send(from, want, "want");
      ++pages;
      want.Clear();
      used = 0;
    }
    want.mutable_want()->add_keys(k);
    used += sz;
  };
  for (auto& r : a2.ranges()) {
    if (r.bucket() >= bucket_count) {
      tx.reject("bad_ack2");
      pushes.well_formed = false;
      return pushes;
    }
    auto& bucket = store_.bucket(r.bucket());
    // The peer's listed keys must lie in this bucket, sorted, in range.
    std::map<std::string_view, version> theirs;
    bool ok = true;
    for (auto& kv : r.keys()) {
      if (store_.validate_key(kv.key()) != ec::ok
          || store_.validate_origin(kv.version().origin()) != ec::ok
          || store::bucket_of(kv.key()) != r.bucket()
          || (!r.from_start() && kv.key() <= r.after())) {
        ok = false;
        break;
      }
      theirs.emplace(kv.key(), get_version(kv.version()));
    }
    if (!ok) {
      tx.reject("bad_ack2");
      pushes.well_formed = false;
      continue;
    }
    auto lo = r.from_start() ? bucket.begin() : bucket.upper_bound(r.after());
    auto hi = bucket.end();
    if (!r.to_end()) {
      if (theirs.empty()) {
        tx.reject("bad_ack2");
        pushes.well_formed = false;
        continue;
      }
      hi = bucket.upper_bound(theirs.rbegin()->first);
    }
    // Ours in range: push what they lack or hold older.
    for (auto i = lo; i != hi; ++i) {
      auto t = theirs.find(i->first);
      if (t == theirs.end() || i->second.ver > t->second)
        pushes.keys.push_back(i->first);
    }
    // Theirs: want what we lack or hold older.
    for (auto& [k, v] : theirs) {
      auto mine = store_.find(k);
      if (!mine || v > mine->ver)
        want_key(std::string{k});
    }
  }
  if (used > 0 && pages < cfg_.max_ae_pages && !tx.capped_out()) {
    want.mutable_want()->set_nonce(a2.nonce());
    tx.send(from, want, "want");
  }
  return pushes;
}

push_list anti_entropy::on_want(const Want& w, emitter& tx) const {
  push_list pushes;
  for (auto& k : w.keys()) {
    if (store_.validate_key(k) != ec::ok) {
      tx.reject("bad_want");
      pushes.well_formed = false;
      return pushes;
    }
    if (store_.find(k))
      pushes.keys.push_back(k);
  }
  return pushes;
}

} // namespace pekonode::metadata
