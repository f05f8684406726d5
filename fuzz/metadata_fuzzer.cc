// Fuzz target: metadata::core::handle (rumours, pushes, anti-entropy steps,
// chunk requests, chunks and their reassembly) and the timers it arms, on a
// core with peers, store contents and a chunked transfer in progress, so
// Chunk messages meet live reassembly state. Input format: metadata_ops.h.
//
// Checked after every operation:
//  * store: at most max_keys entries and max_total_bytes, every entry within
//    the key/value/origin bounds, tombstones without values, digest count =
//    size, list() sorted and equal to get();
//  * transfers: at most max_transfers; when "big" holds the announced
//    version, it holds exactly the announced bytes (unless the input itself
//    sent an inline entry for that key and version, which is then the truth);
//  * local writes: versions strictly increase (HLC);
//  * output: every message on the metadata channel, addressed, within
//    max_packet, parseable; drained events within max_events;
//  * timers: poll(now) moves next_wakeup() past now.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "fuzz/input.h"
#include "fuzz/metadata_ops.h"
#include "fuzz/protobuf_quiet.h"
#include "metadata/core.h"
#include "metadata/metadata.pb.h"

namespace {

using namespace pekonode;
using namespace pekonode::metadata;
namespace ops = pekonode::fuzz::metadata_ops;

constexpr uint64_t wall0 = 1'700'000'000'000ULL;
const time_point t0{std::chrono::seconds(100)};

config fuzz_config() {
  auto c = config::lan();
  // Limits small enough for a fuzzer to reach every one of them.
  c.limits.max_key_bytes = 64;
  c.limits.max_value_bytes = 64 * 1024;
  c.limits.max_total_bytes = 256 * 1024;
  c.limits.max_keys = 64;
  c.limits.max_origin_bytes = 32;
  c.max_rumours = 64;
  c.max_transfers = 4;
  c.max_pending_announces = 16;
  c.max_bulk_queue = 256;
  c.max_events = 64;
  c.max_event_bytes = 128 * 1024;
  return c;
}

const config& cfg() {
  static const config c = fuzz_config();
  return c;
}

const char* const addrs[] = {"a:1", "b:1", "c:1", "x:9"};
const char* const names[] = {"a", "b", "c", "x"};

address pick_addr(uint8_t b) { return addrs[b % 4]; }

std::string pick_key(uint8_t b) {
  static const char* const fixed[] = {"k1", "k2", "k3", "big", "big2", "local-big"};
  if (b < 128)
    return fixed[b % 6];
  return "new-" + std::to_string(b % 128);
}

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(seed + i * 7 + (i >> 8));
  return s;
}

// The value peer a announces under "big".
const std::string& big_value() {
  static const std::string v = pattern(5000, 'b');
  return v;
}

const version& big_version() {
  static const version v{make_hlc(wall0 - 1000, 3), "a"};
  return v;
}

const hash128& big_hash() {
  static const hash128 h = hash_value(big_value());
  return h;
}

void set_ver(Version* out, const version& v) {
  out->set_hlc(v.hlc);
  out->set_origin(v.origin);
}

std::string bytes_of(const Message& m) { return m.SerializeAsString(); }

Message announce_msg(const std::string& key, const std::string& value,
                     const version& v) {
  Message m;
  auto* a = m.mutable_rumour()->add_announces();
  a->set_key(key);
  set_ver(a->mutable_version(), v);
  a->set_size(static_cast<uint32_t>(value.size()));
  auto h = hash_value(value);
  a->set_hash_lo(h.lo);
  a->set_hash_hi(h.hi);
  return m;
}

struct harness {
  core c{cfg(), "me", 7};
  outbound_list out;
  std::deque<outbound> history;
  time_point now = t0;
  uint64_t wall = wall0;
  uint32_t chunk_size = 0; // of "big", from the core's own requests
  version last_local;
  uint64_t last_concern = 0; // id of the latest replicated local write
  bool forged_big = false; // the input sent an inline entry for "big"

  void setup() {
    for (int i = 0; i < 3; ++i)
      c.member_changed(names[i], addrs[i], true);
    local_put("k1", "v1");
    static const std::string k2 = pattern(200, 'k');
    static const std::string local_big = pattern(3000, 'L');
    local_put("k2", k2);
    local_put("k3", "gone");
    c.del("k3", wall, now, out);
    local_put("local-big", local_big);
    settle();
    // The same bytes for every input: hashing 14 KB per run would dominate.
    static const std::string big_announce =
      bytes_of(announce_msg("big", big_value(), big_version()));
    static const std::string big2_announce = bytes_of(announce_msg(
      "big2", pattern(9000, '2'), version{make_hlc(wall0 - 500, 0), "b"}));
    deliver("a:1", big_announce);
    deliver("b:1", big2_announce);
    run_until(now + std::chrono::milliseconds(50));
    for (auto& o : history) {
      Message m;
      if (m.ParseFromString(o.payload) && m.has_chunk_request()
          && m.chunk_request().key() == "big")
        chunk_size = m.chunk_request().chunk_size();
    }
    FUZZ_CHECK(c.active_transfers() >= 1, "scenario: no transfer in progress");
    FUZZ_CHECK(chunk_size > 0, "scenario: no chunk request for big");
    c.drain_events();
  }

  void local_put(const std::string& key, std::string value) {
    auto r = c.put(key, std::move(value), wall, now, out);
    if (r.code == ec::ok) {
      FUZZ_CHECK(last_local.origin.empty() || r.ver > last_local,
                 "local versions do not increase");
      FUZZ_CHECK(r.ver.origin == "me", "local version origin");
      last_local = r.ver;
    }
  }

  // -- driving ----------------------------------------------------------------

  void deliver(const address& from, const std::string& payload) {
    note_forgery(payload);
    c.handle(from, payload, wall, now, out);
    settle();
  }

  void note_forgery(const std::string& payload) {
    Message m;
    if (!m.ParseFromString(payload))
      return;
    for (auto* u : {&m.rumour(), &m.push()})
      for (auto& e : u->entries())
        if (e.key() == "big")
          forged_big = true;
  }

  void poll_at(time_point t) {
    if (t > now) {
      wall += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count());
      now = t;
    }
    c.poll(wall, now, out);
    settle(false);
  }

  void run_until(time_point until) {
    int stuck = 0;
    for (int i = 0; i < 5000; ++i) {
      auto w = c.next_wakeup();
      if (w > until)
        break;
      poll_at(w);
      if (c.next_wakeup() <= now)
        FUZZ_CHECK(++stuck < 16, "poll does not move next_wakeup past now");
      else
        stuck = 0;
    }
    if (until > now)
      poll_at(until);
    check_state();
  }

  void settle(bool state = true) {
    // The shell's part: what was applied is durable at once (no data dir),
    // so owed hold acknowledgements go out now.
    auto ev = c.drain_events();
    std::vector<held_entry> held = c.drain_held();
    FUZZ_CHECK(held.size() <= cfg().max_owed_holds, "held above max_owed_holds");
    for (auto& e : ev)
      held.push_back(held_entry{e.key, e.value.ver});
    c.on_durable(held, out);
    for (auto& d : c.drain_concerns()) {
      FUZZ_CHECK(d.wanted >= 2 && d.acked >= 1, "concern counts out of range");
      FUZZ_CHECK(d.acked <= d.wanted, "concern acked above wanted");
    }
    FUZZ_CHECK(c.owed_holds() <= cfg().max_owed_holds, "owed holds unbounded");
    FUZZ_CHECK(c.pending_writes() <= cfg().max_pending_writes,
               "pending writes unbounded");
    for (auto& o : out) {
      FUZZ_CHECK(o.chan == channel::metadata, "wrong channel");
      FUZZ_CHECK(!o.to.empty(), "message without destination");
      FUZZ_CHECK(o.payload.size() <= cfg().max_packet, "message above max_packet");
      Message m;
      FUZZ_CHECK(m.ParseFromString(o.payload), "unparseable message sent");
      history.push_back(std::move(o));
      if (history.size() > 64)
        history.pop_front();
    }
    out.clear();
    FUZZ_CHECK(ev.size() <= cfg().max_events, "events above max_events");
    for (auto& e : ev)
      FUZZ_CHECK(!e.key.empty(), "event without key");
    if (state)
      check_state();
  }

  void check_state() {
    auto& st = c.data();
    const auto& lim = cfg().limits;
    FUZZ_CHECK(st.size() <= lim.max_keys, "store above max_keys");
    FUZZ_CHECK(st.total_bytes() <= lim.max_total_bytes,
               "store above max_total_bytes");
    FUZZ_CHECK(st.digest().count == st.size(), "digest count");
    size_t n = 0;
    st.for_each([&](const std::string& k, const entry& e) {
      ++n;
      FUZZ_CHECK(!k.empty() && k.size() <= lim.max_key_bytes, "key bounds");
      FUZZ_CHECK(e.value.size() <= lim.max_value_bytes, "value bound");
      FUZZ_CHECK(!e.ver.origin.empty()
                   && e.ver.origin.size() <= lim.max_origin_bytes,
                 "origin bounds");
      FUZZ_CHECK(!e.tombstone || e.value.empty(), "tombstone with a value");
    });
    FUZZ_CHECK(n == st.size(), "size() differs from the entries");
    auto live = c.list();
    for (size_t i = 0; i < live.size(); ++i) {
      if (i > 0)
        FUZZ_CHECK(live[i - 1].first < live[i].first, "list() not sorted");
      FUZZ_CHECK(c.get(live[i].first) == live[i].second, "list() and get()");
      FUZZ_CHECK(!live[i].second->tombstone, "list() shows a tombstone");
    }
    FUZZ_CHECK(c.active_transfers() <= cfg().max_transfers,
               "transfers above max_transfers");
    auto* big = st.find("big");
    if (big && big->ver == big_version() && !forged_big)
      FUZZ_CHECK(big->value == big_value(),
                 "reassembled value differs from the announced one");
  }

  // -- operations -------------------------------------------------------------

  Message big_chunk(uint32_t index) const {
    Message m;
    auto* ch = m.mutable_chunk();
    ch->set_key("big");
    set_ver(ch->mutable_version(), big_version());
    ch->set_index(index);
    ch->set_chunk_size(chunk_size);
    ch->set_total_size(static_cast<uint32_t>(big_value().size()));
    ch->set_hash_lo(big_hash().lo);
    ch->set_hash_hi(big_hash().hi);
    uint64_t off = uint64_t{index} * chunk_size;
    if (off < big_value().size())
      ch->set_data(big_value().substr(off, chunk_size));
    return m;
  }

  void op_chunk(pekonode::fuzz::input& in) {
    auto from = pick_addr(in.u8());
    uint8_t idx = in.u8();
    uint8_t how = in.u8();
    uint64_t x = in.u64();
    uint32_t chunks = (static_cast<uint32_t>(big_value().size()) + chunk_size - 1)
                      / chunk_size;
    auto m = big_chunk(idx % chunks);
    auto* ch = m.mutable_chunk();
    switch (how % 8) {
      case ops::flip_bit:
        if (!ch->data().empty())
          (*ch->mutable_data())[x % ch->data().size()] ^=
            static_cast<char>(1u << ((x >> 32) % 8));
        break;
      case ops::wrong_total: ch->set_total_size(static_cast<uint32_t>(x)); break;
      case ops::wrong_index: ch->set_index(static_cast<uint32_t>(x)); break;
      case ops::wrong_chunk_size: ch->set_chunk_size(static_cast<uint32_t>(x)); break;
      case ops::wrong_hash: ch->set_hash_lo(x); break;
      case ops::wrong_version: ch->mutable_version()->set_hlc(x); break;
      case ops::cut_short:
        if (!ch->data().empty())
          ch->mutable_data()->resize(x % ch->data().size());
        break;
      default: break;
    }
    deliver(from, bytes_of(m));
  }

  void op_advance(pekonode::fuzz::input& in) {
    uint16_t n = in.u16();
    bool jump = in.flag();
    if (jump) {
      poll_at(now + std::chrono::seconds(n)); // a stalled node wakes up
      check_state();
    } else {
      run_until(now + std::chrono::milliseconds(n % 10000));
    }
  }

  void op_local(pekonode::fuzz::input& in) {
    uint8_t call = in.u8();
    auto key = pick_key(in.u8());
    auto value = in.blob();
    switch (call % 4) {
      case ops::put:
        local_put(key, std::string{value});
        break;
      case ops::write: {
        uint8_t v0 = value.size() > 0 ? static_cast<uint8_t>(value[0]) : 0;
        uint8_t v1 = value.size() > 1 ? static_cast<uint8_t>(value[1]) : 0;
        write_options o;
        o.replicas = 1 + v0 % 4;
        o.del = (v0 & 0x10) != 0;
        o.deadline = now + std::chrono::milliseconds(50 + v1);
        auto* cur = c.data().find(key);
        switch (v1 % 4) {
          case 1: o.has_cas = o.create_only = true; break;
          case 2:
            o.has_cas = true;
            if (cur) o.cas = cur->ver;
            break;
          case 3:
            o.has_cas = true;
            o.cas = version{1, "a"};
            break;
          default: break;
        }
        bool live = cur && !cur->tombstone;
        auto before = cur ? cur->ver : version{};
        auto r = c.write(key, std::string{value}, o, wall, now, out);
        if (r.code == ec::ok) {
          FUZZ_CHECK(r.ver > last_local, "local versions do not increase");
          last_local = r.ver;
          FUZZ_CHECK(!o.has_cas || (o.create_only ? !live
                                                  : live && before == o.cas),
                     "cas write passed a failing check");
          FUZZ_CHECK((r.concern != 0) == (o.replicas > 1),
                     "concern id without replicas");
          if (r.concern != 0)
            last_concern = r.concern;
        } else if (r.code == ec::cas_mismatch) {
          FUZZ_CHECK(o.has_cas, "cas_mismatch without cas");
          FUZZ_CHECK(c.data().find(key) == nullptr
                       || c.data().find(key)->ver == before,
                     "a failed cas changed the key");
        }
        break;
      }
      case ops::del: {
        auto r = c.del(key, wall, now, out);
        if (r.code == ec::ok) {
          FUZZ_CHECK(r.ver > last_local, "local versions do not increase");
          last_local = r.ver;
          FUZZ_CHECK(c.get(key) == nullptr, "deleted key still live");
        }
        break;
      }
      default: {
        auto* e = c.get(key);
        FUZZ_CHECK(!e || !e->tombstone, "get() returned a tombstone");
        break;
      }
    }
    settle();
  }

  void op_member(pekonode::fuzz::input& in) {
    uint8_t n = in.u8();
    bool live = in.flag();
    std::string name = n < 128 ? names[n % 4] : "m" + std::to_string(n % 16);
    c.member_changed(name, pick_addr(n >> 2), live);
    settle();
  }

  void op_body(pekonode::fuzz::input& in) {
    auto from = pick_addr(in.u8());
    uint8_t kind = in.u8();
    auto key = pick_key(in.u8());
    uint64_t a = in.u64();
    uint64_t b = in.u64();
    auto blob = std::string{in.blob()};
    // Versions near the current clock, in the past, or from the operand.
    version v{(a & 1) ? make_hlc(wall - (b % 100000), static_cast<uint16_t>(a >> 48))
                      : a,
              std::string{names[b % 4]}};
    Message m;
    switch (kind % 12) {
      case ops::b_rumour_entry:
      case ops::b_push_entry:
      case ops::b_tombstone: {
        auto* u = kind % 12 == ops::b_push_entry ? m.mutable_push()
                                                 : m.mutable_rumour();
        auto* e = u->add_entries();
        e->set_key(key);
        set_ver(e->mutable_version(), v);
        e->set_tombstone(kind % 12 == ops::b_tombstone);
        e->set_value(blob);
        break;
      }
      case ops::b_hold: {
        m.mutable_hold()->set_id(a);
        auto* u = m.mutable_hold()->mutable_updates();
        auto* e = u->add_entries();
        e->set_key(key);
        set_ver(e->mutable_version(), v);
        e->set_value(blob);
        if (b & 1) // two entries: malformed
          u->add_entries()->set_key(key);
        break;
      }
      case ops::b_hold_ack: {
        auto* h = m.mutable_hold_ack();
        h->set_id((a & 1) ? last_concern : a);
        h->set_key(key);
        auto* e = c.data().find(key);
        set_ver(h->mutable_version(), (e && (b & 1)) ? e->ver : v);
        break;
      }
      case ops::b_announce:
        m = announce_msg(key, blob.empty() ? pattern(b % 70000, 'n') : blob, v);
        if (a & 2)
          m.mutable_rumour()->mutable_announces(0)->set_size(
            static_cast<uint32_t>(b));
        break;
      case ops::b_syn:
        m.mutable_syn()->set_digest_lo(a);
        m.mutable_syn()->set_digest_hi(b);
        m.mutable_syn()->set_count(a % 128);
        break;
      case ops::b_ack:
        m.mutable_ack()->set_first_bucket(static_cast<uint32_t>(a % 300));
        for (uint64_t i = 0; i < b % 300; ++i)
          m.mutable_ack()->add_buckets(a * (i + 1));
        break;
      case ops::b_ack2: {
        auto* r = m.mutable_ack2()->add_ranges();
        r->set_bucket(static_cast<uint32_t>(a % 300));
        r->set_from_start(b & 1);
        r->set_to_end(b & 2);
        r->set_after(blob.substr(0, 8));
        auto* kv = r->add_keys();
        kv->set_key(key);
        set_ver(kv->mutable_version(), v);
        break;
      }
      case ops::b_want:
        m.mutable_want()->add_keys(key);
        if (a & 1)
          m.mutable_want()->add_keys(blob);
        break;
      case ops::b_chunk_request: {
        auto* r = m.mutable_chunk_request();
        r->set_key(key);
        auto* e = c.data().find(key);
        set_ver(r->mutable_version(), (e && (a & 1)) ? e->ver : v);
        r->set_chunk_size(static_cast<uint32_t>((a & 2) ? b : 64 + b % 2000));
        for (uint64_t i = 0; i < a % 40; ++i)
          r->add_indices(static_cast<uint32_t>((b >> i) % 64));
        break;
      }
      default: // b_chunk_gone
        m.mutable_chunk_gone()->set_key(key);
        set_ver(m.mutable_chunk_gone()->mutable_version(),
                (a & 1) ? big_version() : v);
        break;
    }
    deliver(from, bytes_of(m));
  }

  void op_reply(pekonode::fuzz::input& in) {
    uint8_t pick = in.u8();
    if (history.empty())
      return;
    const auto o = history[pick % history.size()];
    Message sent;
    if (!sent.ParseFromString(o.payload))
      return;
    if (sent.has_chunk_request() && sent.chunk_request().key() == "big"
        && sent.chunk_request().chunk_size() == chunk_size) {
      for (auto i : sent.chunk_request().indices())
        if (uint64_t{i} * chunk_size < big_value().size())
          deliver(o.to, bytes_of(big_chunk(i)));
      return;
    }
    if (sent.has_syn() && (pick & 0x80)) {
      // A peer without our cookie... as the core answers: its cookie,
      // echoing the SYN's nonce (the core sends the SYN again with it).
      Message sc;
      sc.mutable_syn_cookie()->set_cookie(sent.syn().nonce() | 1);
      sc.mutable_syn_cookie()->set_nonce(sent.syn().nonce());
      deliver(o.to, bytes_of(sc));
      return;
    }
    if (sent.has_syn_cookie()) {
      // The core's cookie for o.to: a differing SYN that carries it.
      Message syn;
      syn.mutable_syn()->set_digest_lo(pick);
      syn.mutable_syn()->set_count(1);
      syn.mutable_syn()->set_nonce(sent.syn_cookie().nonce());
      syn.mutable_syn()->set_cookie(sent.syn_cookie().cookie());
      deliver(o.to, bytes_of(syn));
      return;
    }
    deliver(o.to, o.payload); // echo: a peer with the same view answers so
  }

  void run(pekonode::fuzz::input& in) {
    for (int i = 0; i < ops::max_ops && !in.empty(); ++i) {
      switch (in.u8() % 8) {
        case ops::chunk: op_chunk(in); break;
        case ops::advance: op_advance(in); break;
        case ops::local: op_local(in); break;
        case ops::member: op_member(in); break;
        case ops::body: op_body(in); break;
        case ops::reply: op_reply(in); break;
        default: {
          auto from = pick_addr(in.u8());
          deliver(from, std::string{in.blob()});
          break;
        }
      }
    }
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pekonode::fuzz::quiet_protobuf();
  pekonode::fuzz::input in{data, size};
  harness h;
  h.setup();
  h.run(in);
  return 0;
}
