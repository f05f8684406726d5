// Fuzz target: membership::core::handle and the timers it arms, on a core
// driven into a live state first (members in every state, a probe in flight,
// a relayed ping-req, a suspicion, a leave in progress, a join under way).
// The input format is in membership_ops.h.
//
// Checked after every operation:
//  * the table: size() <= max_members, the per-state counts add up to
//    size(), live_count() = live others + self, members() sorted, unique,
//    every entry within the name/address/tag bounds and equal to find();
//  * self: its incarnation never goes down (a refutation that wraps it would
//    make every later refutation lose), Lifeguard score within its range;
//  * output: every packet on the membership channel, addressed, within
//    max_datagram, parseable, from "me"; one received packet causes at most
//    reply_pages_burst + a few packets (no amplification beyond the budget);
//  * timers: poll(now) moves next_wakeup() past now (no busy loop).

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "fuzz/input.h"
#include "fuzz/protobuf_quiet.h"
#include "fuzz/membership_ops.h"
#include "membership/core.h"
#include "membership/membership.pb.h"
#include "node/options.h"

namespace {

using namespace pekonode;
using namespace pekonode::membership;
namespace ops = pekonode::fuzz::membership_ops;

const time_point t0 = time_point{} + std::chrono::hours(1);

config fuzz_config() {
  auto c = config::lan();
  // Small enough that a fuzzer fills the table and hits table_full.
  c.max_members = 48;
  return c;
}

const config& cfg() {
  static const config c = fuzz_config();
  return c;
}

constexpr int peers = 12;

std::string peer(int i) { return "p" + std::to_string(i); }

// Gossiped addresses must be IP literals: every name of the harness has
// one, 10.9.0.<index>:<port> (index 1-12 p0-p11, 100 me, 101 s1, 102 s2,
// 103 x, 110+k new-k); name_at() maps it back.
int index_of(const std::string& name) {
  if (name.size() > 1 && name[0] == 'p' && name.size() <= 3)
    return 1 + std::stoi(name.substr(1));
  if (name == "me") return 100;
  if (name == "s1") return 101;
  if (name == "s2") return 102;
  if (name.compare(0, 4, "new-") == 0) return 110 + std::stoi(name.substr(4));
  return 103;
}

address addr_of(const std::string& name, int port = 1) {
  return "10.9.0." + std::to_string(index_of(name)) + ":"
         + std::to_string(port);
}

const address extra_addrs[] = {addr_of("s1"), addr_of("s2"), addr_of("x", 9),
                               addr_of("me")};

address pick_addr(uint8_t b) {
  constexpr int n = peers + 4;
  int i = b % n;
  return i < peers ? addr_of(peer(i)) : extra_addrs[i - peers];
}

std::string pick_name(uint8_t b) {
  if (b < 128) {
    int i = b % (peers + 3);
    if (i < peers)
      return peer(i);
    return i == peers ? "me" : i == peers + 1 ? "s1" : "s2";
  }
  return "new-" + std::to_string(b % 64);
}

// Name a reply comes from: the member living at `addr` (port 1 of its
// addr_of() address), else "x".
std::string name_at(const address& addr) {
  const std::string prefix = "10.9.0.";
  if (addr.compare(0, prefix.size(), prefix) != 0
      || addr.size() < prefix.size() + 3
      || addr.compare(addr.size() - 2, 2, ":1") != 0)
    return "x";
  auto idx = addr.substr(prefix.size(), addr.size() - prefix.size() - 2);
  if (idx.empty() || idx.size() > 3
      || idx.find_first_not_of("0123456789") != std::string::npos)
    return "x";
  int i = std::stoi(idx);
  if (i >= 1 && i <= peers) return peer(i - 1);
  if (i == 100) return "me";
  if (i == 101) return "s1";
  if (i == 102) return "s2";
  if (i >= 110 && i < 174) return "new-" + std::to_string(i - 110);
  return "x";
}

Update upd(const std::string& name, uint64_t inc, MemberState st,
           const std::string& from = {}) {
  Update u;
  u.set_name(name);
  u.set_addr(addr_of(name));
  u.set_incarnation(inc);
  u.set_state(st);
  u.set_from(from);
  return u;
}

std::string bytes_of(const Packet& p) { return p.SerializeAsString(); }

struct harness {
  core c{cfg(), "me", addr_of("me"), {{"role", "fuzz"}}, 42};
  outbound_list out;
  std::deque<outbound> history;
  time_point now = t0;
  uint64_t last_inc = 0;
  bool max_claim_about_self = false; // see check_table()
  static constexpr uint64_t near_top = UINT64_MAX - 1024;

  static bool claims_max_about_self(const std::string& payload) {
    Packet p;
    if (!p.ParseFromString(payload))
      return false;
    auto is_max = [](const Update& u) {
      return u.name() == "me" && u.incarnation() >= near_top;
    };
    for (auto& u : p.updates())
      if (is_max(u))
        return true;
    for (auto& u : p.state().members())
      if (is_max(u))
        return true;
    return false;
  }

  // -- setup ------------------------------------------------------------------

  void steady() {
    c.join({}, now, out);
    // Incarnation 1, so a refutation that wraps around is visible.
    c.set_tags({{"role", "fuzz"}, {"zone", "a"}}, now, out);
    // Members are confirmed only by their own word (a claim from a
    // stranger about a third party stays unconfirmed): each peer announces
    // itself from its address, then members accuse others.
    auto from_self = [&](int i, Update u) {
      Packet p;
      p.set_sender(peer(i));
      *p.add_updates() = std::move(u);
      deliver(addr_of(peer(i)), bytes_of(p));
    };
    for (int i = 0; i < peers; ++i) {
      auto u = upd(peer(i), i == 11 ? 0 : 1, ALIVE);
      if (i % 3 == 0)
        (*u.mutable_tags())["zone"] = "z" + std::to_string(i);
      from_self(i, u);
    }
    from_self(10, upd(peer(10), 2, LEFT));
    Packet acc;
    acc.set_sender(peer(3));
    *acc.add_updates() = upd(peer(8), 2, SUSPECT, peer(3));
    deliver(addr_of(peer(3)), bytes_of(acc));
    Packet acc2;
    acc2.set_sender(peer(4));
    *acc2.add_updates() = upd(peer(9), 1, DEAD, peer(4));
    deliver(addr_of(peer(4)), bytes_of(acc2));
    Packet req;
    req.set_sender("p1");
    req.mutable_ping_req()->set_seq(77);
    req.mutable_ping_req()->set_target("p2");
    req.mutable_ping_req()->set_target_addr(addr_of("p2"));
    deliver(addr_of("p1"), bytes_of(req));
    run_until(now + std::chrono::milliseconds(1000));
    FUZZ_CHECK(c.stats().probes >= 1, "scenario: no probe in flight");
    FUZZ_CHECK(c.count(member_state::suspect) >= 1, "scenario: no suspect");
  }

  void setup(uint8_t scenario) {
    switch (scenario % 4) {
      case ops::steady:
        steady();
        break;
      case ops::indirect:
        steady();
        for (int i = 0; i < 2000 && c.stats().indirect_probes == 0; ++i)
          poll_once(c.next_wakeup());
        FUZZ_CHECK(c.stats().indirect_probes > 0, "scenario: no ping-req");
        break;
      case ops::leaving: {
        steady();
        c.leave(now, out);
        settle();
        // One member acknowledges its notice; the others still owe theirs.
        for (auto& o : history) {
          Packet p;
          if (p.ParseFromString(o.payload) && p.has_leave()) {
            Packet ack;
            ack.set_sender(name_at(o.to));
            ack.mutable_leave_ack()->set_seq(p.leave().seq());
            deliver(o.to, bytes_of(ack));
            break;
          }
        }
        FUZZ_CHECK(c.self().state == member_state::left, "scenario: not leaving");
        break;
      }
      default:
        c.join({addr_of("s1"), addr_of("s2")}, now, out);
        settle();
        FUZZ_CHECK(!c.joined(), "scenario: joined without an answer");
        break;
    }
    last_inc = c.self().incarnation;
    c.drain_events();
  }

  // -- driving ----------------------------------------------------------------

  void deliver(const address& from, const std::string& payload) {
    max_claim_about_self = max_claim_about_self || claims_max_about_self(payload);
    c.handle(from, payload, now, out);
    FUZZ_CHECK(out.size() <= cfg().reply_pages_burst + 24,
               "one packet caused too many packets");
    settle();
  }

  void poll_once(time_point t) {
    if (t > now)
      now = t;
    c.poll(now, out);
    settle(false);
  }

  // Polls at every wake-up up to `until`, as the actor shell's timer does.
  void run_until(time_point until) {
    int stuck = 0;
    for (int i = 0; i < 5000; ++i) {
      auto w = c.next_wakeup();
      if (w > until)
        break;
      poll_once(w);
      if (c.next_wakeup() <= now)
        FUZZ_CHECK(++stuck < 16, "poll does not move next_wakeup past now");
      else
        stuck = 0;
    }
    if (until > now)
      now = until;
    check_table();
  }

  // Checks the output of the last step (and the table, when `table`), then
  // files the output.
  void settle(bool table = true) {
    for (auto& o : out) {
      FUZZ_CHECK(o.chan == channel::membership, "wrong channel");
      FUZZ_CHECK(!o.to.empty(), "packet without destination");
      FUZZ_CHECK(o.payload.size() <= cfg().max_datagram,
                 "packet above max_datagram");
      Packet p;
      FUZZ_CHECK(p.ParseFromString(o.payload), "unparseable packet sent");
      FUZZ_CHECK(p.sender() == "me", "packet with a foreign sender");
      history.push_back(std::move(o));
      if (history.size() > 64)
        history.pop_front();
    }
    out.clear();
    if (table)
      check_table();
  }

  void check_table() {
    auto ms = c.members();
    FUZZ_CHECK(ms.size() == c.size(), "members() and size() disagree");
    FUZZ_CHECK(c.size() <= cfg().max_members, "table above max_members");
    size_t sum = 0;
    for (auto s : {member_state::alive, member_state::suspect,
                   member_state::dead, member_state::left})
      sum += c.count(s);
    FUZZ_CHECK(sum == c.size(), "state counts do not add up to size()");
    // live_count() counts self whatever its state (the log N formulas keep
    // working while it leaves), and the other members while alive or suspect.
    bool self_live = c.self().state == member_state::alive
                     || c.self().state == member_state::suspect;
    FUZZ_CHECK(c.live_count() == c.count(member_state::alive)
                                   + c.count(member_state::suspect)
                                   - (self_live ? 1 : 0) + 1,
               "live_count() is not the live members plus self");
    for (size_t i = 0; i < ms.size(); ++i) {
      auto& m = ms[i];
      if (i > 0)
        FUZZ_CHECK(ms[i - 1].name < m.name, "members() not sorted and unique");
      FUZZ_CHECK(!m.name.empty() && m.name.size() <= cfg().max_name_bytes,
                 "name bounds");
      FUZZ_CHECK(!m.addr.empty() && m.addr.size() <= cfg().max_addr_bytes,
                 "address bounds");
      size_t tb = 0;
      for (auto& [k, v] : m.tags)
        tb += k.size() + v.size();
      FUZZ_CHECK(tb <= cfg().max_tags_bytes, "tag bounds");
      auto* f = c.find(m.name);
      FUZZ_CHECK(f != nullptr && f->state == m.state
                   && f->incarnation == m.incarnation && f->addr == m.addr,
                 "find() disagrees with members()");
    }
    FUZZ_CHECK(c.self().name == "me", "self renamed");
    // Known finding M1 (fuzz/README.md): self's incarnation is bumped with
    // a plain +1 (refute: max(own, claimed) + 1; leave, set_tags, rejoin:
    // += 1), so a claim about self near UINT64_MAX makes it wrap to 0.
    FUZZ_CHECK_KNOWN(c.self().incarnation >= last_inc,
                     max_claim_about_self || last_inc >= near_top,
                     "M1-membership-incarnation-wrap",
                     "self incarnation went down");
    last_inc = c.self().incarnation;
    FUZZ_CHECK(c.health_score() >= 0 && c.health_score() < cfg().awareness_max,
               "health score out of range");
  }

  // -- operations -------------------------------------------------------------

  void op_claim(pekonode::fuzz::input& in) {
    auto from = pick_addr(in.u8());
    auto name = pick_name(in.u8());
    uint8_t kind = in.u8();
    uint64_t raw = in.u64();
    uint8_t st = in.u8();
    auto tags = in.blob();
    uint64_t cur = 0;
    if (auto* m = c.find(name))
      cur = m->incarnation;
    uint64_t inc = raw;
    switch ((kind & 0x0f) % 5) {
      case ops::inc_current: inc = cur; break;
      case ops::inc_next: inc = cur + 1; break;
      case ops::inc_max: inc = UINT64_MAX; break;
      case ops::inc_zero: inc = 0; break;
      default: break;
    }
    Update u;
    u.set_name(name);
    u.set_addr(addr_of(name, (kind & 0x10) ? 2 : 1)); // :2 conflicts
    u.set_incarnation(inc);
    u.set_state(static_cast<MemberState>(st % 5)); // 4 is not a state
    if (kind & 0x20)
      u.set_from(name_at(from));
    if (!tags.empty()) {
      auto half = tags.size() / 2;
      (*u.mutable_tags())[std::string{tags.substr(0, half)}] =
        std::string{tags.substr(half)};
    }
    Packet p;
    p.set_sender(name_at(from));
    *p.add_updates() = u;
    deliver(from, bytes_of(p));
  }

  void op_reply(pekonode::fuzz::input& in) {
    uint8_t pick = in.u8();
    auto extra = in.blob();
    if (history.empty())
      return;
    const auto o = history[pick % history.size()];
    bool alt = (pick & 0x80) != 0;
    Packet sent;
    if (!sent.ParseFromString(o.payload))
      return;
    Packet r;
    r.set_sender(name_at(o.to));
    if (sent.has_ping()) {
      if (alt)
        r.mutable_nack()->set_seq(sent.ping().seq());
      else
        r.mutable_ack()->set_seq(sent.ping().seq());
    } else if (sent.has_ping_req()) {
      if (alt)
        r.mutable_nack()->set_seq(sent.ping_req().seq());
      else
        r.mutable_ack()->set_seq(sent.ping_req().seq());
    } else if (sent.has_leave()) {
      r.mutable_leave_ack()->set_seq(sent.leave().seq());
    } else if (sent.has_join()) {
      auto* page = r.mutable_state();
      page->set_index(0);
      page->set_total(1);
      page->set_join_reply(true);
      *page->add_members() = upd(r.sender(), 1, ALIVE);
      if (alt)
        *page->add_members() = upd("new-" + std::to_string(pick % 64), 0, ALIVE);
    } else {
      r = sent; // echo a digest, buckets, want or state page back
      r.set_sender(name_at(o.to));
    }
    Packet more;
    if (!extra.empty() && more.ParseFromArray(extra.data(),
                                              static_cast<int>(extra.size())))
      for (auto& u : more.updates())
        *r.add_updates() = u;
    deliver(o.to, bytes_of(r));
  }

  void op_advance(pekonode::fuzz::input& in) {
    uint16_t n = in.u16();
    bool jump = in.flag();
    if (jump) {
      poll_once(now + std::chrono::seconds(n)); // a stalled node wakes up
      check_table();
    } else {
      run_until(now + std::chrono::milliseconds(n % 10000));
    }
  }

  void op_api(pekonode::fuzz::input& in) {
    uint8_t call = in.u8();
    auto arg = in.blob();
    switch (call % 4) {
      case ops::set_tags: {
        std::map<std::string, std::string> tags;
        if (!arg.empty())
          tags[std::string{arg.substr(0, 1)}] = std::string{arg.substr(1)};
        // Tags reach the core through node::validate_tags (--tags, PUT
        // /v1/tags); the core itself does not check their encoding.
        if (node::validate_tags(tags).empty())
          c.set_tags(std::move(tags), now, out);
        break;
      }
      case ops::leave:
        c.leave(now, out);
        break;
      case ops::rejoin:
        c.rejoin(now, out);
        break;
      default: {
        std::vector<address> seeds{addr_of("s1")};
        if (!arg.empty())
          seeds.emplace_back(arg);
        c.join(seeds, now, out);
        break;
      }
    }
    settle();
  }

  void op_body(pekonode::fuzz::input& in) {
    auto from = pick_addr(in.u8());
    uint8_t kind = in.u8();
    uint64_t a = in.u64();
    uint64_t b = in.u64();
    auto name = pick_name(in.u8());
    Packet p;
    p.set_sender(name_at(from));
    switch (kind % 11) {
      case ops::b_ping:
        p.mutable_ping()->set_seq(a);
        p.mutable_ping()->set_target(name);
        break;
      case ops::b_ack: p.mutable_ack()->set_seq(a); break;
      case ops::b_nack: p.mutable_nack()->set_seq(a); break;
      case ops::b_ping_req:
        p.mutable_ping_req()->set_seq(a);
        p.mutable_ping_req()->set_target(name);
        p.mutable_ping_req()->set_target_addr(addr_of(name));
        break;
      case ops::b_join:
        p.mutable_join()->set_reconnect(a & 1);
        *p.add_updates() = upd(p.sender(), b % 4, ALIVE);
        break;
      case ops::b_state: {
        auto* s = p.mutable_state();
        s->set_index(static_cast<uint32_t>(a % 4));
        s->set_total(static_cast<uint32_t>(b % 4));
        s->set_join_reply(a & 0x10);
        *s->add_members() = upd(name, b, static_cast<MemberState>(a % 4));
        break;
      }
      case ops::b_digest:
        p.mutable_digest()->set_hash(a);
        p.mutable_digest()->set_count(static_cast<uint32_t>(b % 64));
        break;
      case ops::b_buckets:
        for (uint64_t i = 0; i < a % 70; ++i)
          p.mutable_buckets()->add_hashes(b + i);
        break;
      case ops::b_want:
        for (uint64_t i = 0; i < a % 9; ++i)
          p.mutable_want()->add_buckets(static_cast<uint32_t>((b >> (i * 7)) & 0x7f));
        break;
      case ops::b_leave:
        p.mutable_leave()->set_seq(a);
        if (b & 1)
          *p.add_updates() = upd(p.sender(), b >> 1, LEFT);
        break;
      default:
        p.mutable_leave_ack()->set_seq(a);
        break;
    }
    deliver(from, bytes_of(p));
  }

  void run(pekonode::fuzz::input& in) {
    for (int i = 0; i < ops::max_ops && !in.empty(); ++i) {
      switch (in.u8() % 8) {
        case ops::claim: op_claim(in); break;
        case ops::reply: op_reply(in); break;
        case ops::advance: op_advance(in); break;
        case ops::api: op_api(in); break;
        case ops::body: op_body(in); break;
        default: { // packet, packet2, packet3
          auto from = pick_addr(in.u8());
          deliver(from, std::string{in.blob()});
          break;
        }
      }
      c.drain_events();
    }
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pekonode::fuzz::quiet_protobuf();
  pekonode::fuzz::input in{data, size};
  harness h;
  h.setup(in.u8());
  h.run(in);
  return 0;
}
