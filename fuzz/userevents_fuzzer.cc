// Fuzz target: userevents::decode and userevents::core::handle (gossip,
// anti-entropy, query acks and responses) with local publishes, queries,
// responder answers and time passing, on a core with three members.
//
// Input: a sequence of operations, each an opcode byte and its operands
// (fuzz/input.h: blobs are 16-bit length-prefixed):
//   0 packet from member n1 at its address (blob)
//   1 packet from a non-member (blob)
//   2 advance time by u16 ms, then poll
//   3 publish (name blob, payload blob, coalesce flag)
//   4 query (name blob, node pattern blob, tag key blob, tag pattern blob,
//     timeout u16 ms)
//   5 answer the last delivered query that asked for a response (blob)
//
// Checked:
//  * decode: every decoded event passes valid_event; a decoded gossip packet
//    re-encodes to one that decodes to the same number of events;
//  * output: every message on the user-events channel, to a member's or the
//    querier's address, decodable, within max_wire_bytes;
//  * deliveries: valid events; each (origin, id) delivered once until the
//    dedup buffer may have forgotten it (offer_window + dedup_margin);
//  * bounds: buffer within max_buffer, live queries within
//    max_live_queries; poll(now) moves next_wakeup() past now.

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "fuzz/check.h"
#include "fuzz/input.h"
#include "fuzz/protobuf_quiet.h"
#include "userevents/codec.h"
#include "userevents/core.h"

namespace {

using namespace pekonode;
using namespace pekonode::userevents;

const time_point t0{std::chrono::seconds(100)};

config fuzz_config() {
  auto c = config::lan();
  c.max_buffer = 64;
  c.max_live_queries = 4;
  c.max_pending_answers = 8;
  c.origin_events_burst = 16;
  c.total_events_burst = 64;
  return c;
}

void check_decoded(std::string_view bytes) {
  packet p;
  std::string why;
  if (!decode(bytes, p, why))
    return;
  for (auto& w : p.events)
    FUZZ_CHECK(valid_event(w.ev, why), "decoded an invalid event");
  if (p.kind == packet::type::gossip) {
    packet again;
    FUZZ_CHECK(decode(encode_gossip(p.events), again, why),
               "re-encoded gossip does not decode");
    FUZZ_CHECK(again.events.size() == p.events.size(), "event count changed");
  }
}

const address self_addr = "10.0.0.1:7946";
const std::map<std::string, address> member_addrs{{"n1", "10.0.0.2:7946"},
                                                  {"n2", "10.0.0.3:7946"}};

// The core every input starts from, built once: each input works on a copy
// (the core is a plain value), so the setup is not re-run per input.
const core& prepared() {
  static const core proto = [] {
    core c{fuzz_config(), "n0", self_addr, 7};
    c.set_member("n0", self_addr, true, {{"role", "web"}});
    for (auto& [n, a] : member_addrs)
      c.set_member(n, a, true, {});
    c.set_responder(true);
    return c;
  }();
  return proto;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pekonode::fuzz::quiet_protobuf();
  pekonode::fuzz::input in{data, size};
  static const config cfg = fuzz_config();
  core c = prepared();
  auto members = member_addrs;
  auto now = t0;
  std::map<std::pair<std::string, uint64_t>, time_point> seen;
  std::pair<std::string, uint64_t> last_query;
  bool have_query = false;
  for (int steps = 0; !in.empty() && steps < 256; ++steps) {
    outbound_list out;
    switch (in.u8() % 6) {
      case 0: {
        auto b = in.blob();
        check_decoded(b);
        c.handle(members["n1"], "n1", b, now, out);
        break;
      }
      case 1: {
        auto b = in.blob();
        check_decoded(b);
        auto before = c.buffered();
        c.handle("10.9.9.9:1", "stranger", b, now, out);
        FUZZ_CHECK(c.buffered() == before, "a non-member changed the buffer");
        FUZZ_CHECK(out.empty(), "a non-member was answered");
        break;
      }
      case 2:
        now += std::chrono::milliseconds(in.u16());
        c.poll(now, out);
        FUZZ_CHECK(c.next_wakeup() > now, "poll left work due");
        break;
      case 3: {
        std::string name{in.blob()};
        std::string payload{in.blob()};
        c.publish(name, payload, in.flag(), now, out);
        break;
      }
      case 4: {
        query_params q;
        q.name = std::string{in.blob()};
        q.node_filter = std::string{in.blob()};
        std::string k{in.blob()};
        std::string v{in.blob()};
        if (!k.empty())
          q.tags.emplace_back(k, v);
        q.timeout = std::chrono::milliseconds(in.u16());
        uint64_t id = 0;
        std::string why;
        c.start_query(q, now, out, id, why);
        break;
      }
      case 5: {
        std::string payload{in.blob()};
        if (have_query)
          c.respond(last_query.first, last_query.second, payload, now, out);
        break;
      }
    }
    for (auto& o : out) {
      FUZZ_CHECK(o.chan == channel::user_events, "wrong channel");
      FUZZ_CHECK(o.payload.size() <= max_wire_bytes, "packet too large");
      bool known = o.to == self_addr;
      for (auto& [n, a] : members)
        known = known || o.to == a;
      FUZZ_CHECK(known, "sent to an address that is not a member's");
      packet p;
      std::string why;
      if (!decode(o.payload, p, why))
        std::fprintf(stderr, "undecodable: %s\n", why.c_str());
      FUZZ_CHECK(decode(o.payload, p, why), "sent a packet we cannot decode");
    }
    for (auto& d : c.drain_deliveries()) {
      std::string why;
      FUZZ_CHECK(valid_event(d.ev, why), "delivered an invalid event");
      auto k = std::make_pair(d.ev.origin, d.ev.id);
      auto it = seen.find(k);
      if (it != seen.end())
        FUZZ_CHECK(now - it->second >= cfg.offer_window + cfg.dedup_margin,
                   "an event delivered twice");
      seen[k] = now;
      if (d.ask_responder) {
        last_query = k;
        have_query = true;
      }
    }
    c.drain_finished();
    FUZZ_CHECK(c.buffered() <= cfg.max_buffer, "buffer above its bound");
    FUZZ_CHECK(c.live_queries() <= cfg.max_live_queries,
               "live queries above their bound");
  }
  return 0;
}
