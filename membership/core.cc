#include "membership/core.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "common/hash.h"
#include "membership/anti_entropy.h"
#include "membership/codec.h"
#include "membership/leave_notices.h"
#include "membership/probing.h"
#include "membership/membership.pb.h"

namespace pekonode::membership {

namespace {

constexpr std::size_t max_heal_notices_per_packet = 32;
// Corrections (our newer record of a member) returned in one reply to a
// packet that carried stale accusations; the rest of the packet's stale
// claims are left to gossip and anti-entropy.
constexpr std::size_t max_corrections_per_packet = 8;
std::size_t tags_bytes(const std::map<std::string, std::string>& tags) {
  std::size_t n = 0;
  for (auto& [k, v] : tags) n += k.size() + v.size();
  return n;
}

// Where a claim came from: piggybacked gossip, an anti-entropy page, or a
// join reply page (old news to everyone else, so never re-gossiped).
enum class source { gossip, page, join_page };

} // namespace

// All mutable protocol state that needs protobuf or is not part of the
// public shape lives here, keeping the header free of generated code.
struct core::impl {
  enum class run_state { running, leaving, left, inert };

  core& c;
  std::mt19937_64 rng;
  run_state state = run_state::running;
  member_table table;
  outbox ob;
  probing prober;
  anti_entropy ae;
  leave_notices leaver;
  std::vector<address> seeds;
  std::vector<address> join_targets;
  time_point join_next = time_point::max();
  duration join_backoff{};
  time_point gossip_next{};
  // Until then this node is catching up after a join: what its pages teach
  // it is old news to the cluster and is not re-gossiped.
  time_point catch_up_until{};
  time_point reconnect_next = time_point::max();
  time_point leave_until = time_point::max();

  std::vector<event> events;
  bool clock_started = false;
  std::size_t heal_notices_budget = 0;
  // Members whose stale accusation arrived in the packet being handled and
  // of whom we hold a newer alive record: returned to the sender at the end
  // of handle() (see send_corrections()).
  std::vector<std::string> corrections;
  bool conflict_refuted = false;
  time_point last_conflict_refute{};

  impl(core& owner, member self, uint64_t seed)
    : c(owner), rng(seed),
      table(std::move(self), owner.cfg_.max_members, owner.cfg_.gossip_to_dead),
      ob(owner.cfg_, table.self().name, owner.stats_, mix64(seed) >> 16,
         [this] { return retransmit_limit(cfg(), table.live_count()); }),
      prober(owner.cfg_, table, ob, rng, owner.stats_),
      ae(owner.cfg_, table, ob, rng, owner.stats_),
      leaver(owner.cfg_, table, ob, rng, owner.stats_) {}

  member& self() { return table.self(); }

  const config& cfg() const { return c.cfg_; }

  // -- helpers ---------------------------------------------------------------

  void start_clocks(time_point now) {
    if (clock_started) return;
    clock_started = true;
    prober.start(now);
    gossip_next = now;
    ae.schedule(now);
    reconnect_next = now + jitter(cfg().reconnect_interval, rng);
  }

  void emit(event::kind_t k, const member& m) { events.push_back({k, m}); }

  void bad(const char* reason) { ++c.stats_.bad_packets[reason]; }

  Update encode(const member& m, std::string_view from) const {
    return membership::encode(m, from);
  }

  void enqueue(const member& m, std::string_view from) { ob.enqueue(m, from); }

  void send(const address& to, const Packet& p, bool piggyback,
            outbound_list& out) {
    if (piggyback) ob.send_piggybacked(to, p, out);
    else ob.send(to, p, out);
  }

  Packet packet() const { return ob.packet(); }

  // -- validation ------------------------------------------------------------

  bool valid(const Update& u) const { return membership::valid(u, cfg()); }

  // -- applying claims -------------------------------------------------------

  void refute(uint64_t above, time_point now) {
    auto& me = self();
    me.incarnation = std::max(me.incarnation, above) + 1;
    me.state_change = now;
    ++c.stats_.refutations;
    enqueue(me, {});
  }

  void send_self_to(const address& to, outbound_list& out) {
    if (to.empty() || to == self().addr) return;
    auto p = packet();
    *p.add_updates() = encode(self(), {});
    send(to, p, false, out);
  }

  // A claim about this node: refute accusations, report name conflicts.
  void apply_self(const claim& u, std::string_view sender,
                  const address& from_addr, time_point now,
                  outbound_list& out) {
    if (state != run_state::running) return;
    auto st = u.state;
    auto& me = self();
    if (st == member_state::alive && u.addr != me.addr) {
      if (u.incarnation < me.incarnation) return;
      member conflict;
      conflict.name = std::string(u.name);
      conflict.addr = std::string(u.addr);
      conflict.incarnation = u.incarnation;
      conflict.state = member_state::alive;
      conflict.tags = u.tags;
      conflict.state_change = now;
      ++c.stats_.name_conflicts;
      emit(event::name_conflict, conflict);
      // Rate-limited so two nodes sharing a name cannot drive each other's
      // incarnations up at gossip speed.
      if (conflict_refuted
          && now - last_conflict_refute < cfg().probe_interval * 10)
        return;
      conflict_refuted = true;
      last_conflict_refute = now;
      refute(u.incarnation, now);
      send_self_to(from_addr, out);
      return;
    }
    bool newer = u.incarnation > me.incarnation;
    bool accuses = u.incarnation == me.incarnation && st != member_state::alive;
    if (!newer && !accuses) {
      // A stale accusation straight from its accuser (e.g. a Lifeguard buddy
      // ping): that node missed our refutation and its timer still runs.
      if (st != member_state::alive && !u.from.empty() && u.from == sender)
        send_self_to(from_addr, out);
      return; // otherwise our own echo or stale gossip
    }
    if (st == member_state::suspect || st == member_state::dead)
      prober.self_accused();
    refute(u.incarnation, now);
    send_self_to(from_addr, out);
    // The accuser's timer is the first to fire: tell it directly too.
    if (!u.from.empty() && u.from != sender)
      if (auto* acc = table.find(u.from); acc && is_live(acc->state))
        send_self_to(acc->addr, out);
  }

  // Sends the records collected in `corrections` to `to` in one packet
  // (bounded by max_packet; an oversized record is skipped: gossip and
  // anti-entropy still carry it).
  void send_corrections(const address& to, outbound_list& out) {
    if (corrections.empty()) return;
    auto p = packet();
    std::size_t size = p.ByteSizeLong();
    for (auto& name : corrections) {
      auto* e = table.find(name);
      if (!e || !(e->state == member_state::alive || e->state == member_state::left))
        continue;
      auto u = encode(*e, {});
      auto n = u.ByteSizeLong();
      if (size + n + 4 > cfg().max_packet) continue;
      size += n + 4;
      *p.add_updates() = std::move(u);
    }
    corrections.clear();
    if (p.updates_size() == 0) return;
    ++c.stats_.corrections_sent;
    send(to, p, false, out);
  }

  // Tells `m` (by address) what we believe about it, so it can refute; used
  // when a merge shows it considers itself alive but we hold it dead/left.
  void heal_notice(const member& m, outbound_list& out) {
    if (heal_notices_budget == 0) return;
    --heal_notices_budget;
    ++c.stats_.heal_notices;
    auto p = packet();
    *p.add_updates() = encode(m, self().name);
    send(m.addr, p, false, out);
  }

  // Applies one validated Update from the wire.
  void apply(const Update& u, source src, const std::string& sender,
             const address& from_addr, time_point now, outbound_list& out) {
    auto cl = to_claim(u);
    if (cl.name == self().name)
      apply_self(cl, sender, from_addr, now, out);
    else
      apply(cl, &u, src, sender, from_addr, now, out);
  }

  // This node's own verdict about `m` (suspect after a failed probe, dead
  // when a suspicion expires), applied like gossip from itself.
  void apply_verdict(const member& m, member_state st, time_point now,
                     outbound_list& out) {
    claim cl;
    cl.name = m.name;
    cl.addr = m.addr;
    cl.incarnation = m.incarnation;
    cl.state = st;
    cl.from = self().name;
    apply(cl, nullptr, source::gossip, self().name, {}, now, out);
  }

  // Applies a claim about another member and acts on what changed: events,
  // suspicion timers, the probe round, further gossip (the claim is queued
  // unless it came with a join reply), and the replies a stale or
  // conflicting claim calls for. `wire` is the Update the claim came in;
  // null for this node's verdicts, which are never 'alive' and so never
  // conflict.
  void apply(const claim& cl, const Update* wire, source src,
             std::string_view sender, const address& from_addr,
             time_point now, outbound_list& out) {
    auto s = table.apply(cl, sender, src == source::gossip, now);
    auto gossip_on = [&](const member& m) {
      if (src != source::join_page) enqueue(m, s.accuser);
    };
    switch (s.outcome) {
      case apply_summary::table_full:
        bad("table_full");
        return;
      case apply_summary::added:
        ++c.stats_.updates_applied;
        if (!s.became_live) return; // remembered for healing, not news
        prober.add_target(s.m->name);
        emit(event::joined, *s.m);
        if (s.state == member_state::suspect) {
          emit(event::suspect, *s.m);
          prober.suspect(s.m->name, std::string(s.accuser), now);
        }
        gossip_on(*s.m);
        return;
      case apply_summary::stale:
        on_stale(cl, s, src, sender, from_addr, out);
        return;
      case apply_summary::addr_conflict: {
        // Same name, another address: keep the member we know, report it,
        // and tell the known owner so it can refute.
        bad("addr_conflict");
        ++c.stats_.name_conflicts;
        member conflict = *s.m;
        conflict.addr = std::string(cl.addr);
        conflict.incarnation = cl.incarnation;
        emit(event::name_conflict, conflict);
        if (heal_notices_budget > 0 && wire) {
          --heal_notices_budget;
          auto p = packet();
          *p.add_updates() = *wire;
          send(s.m->addr, p, false, out);
        }
        return;
      }
      case apply_summary::changed:
        break;
    }
    ++c.stats_.updates_applied;
    auto& m = *s.m;
    auto old = s.old_state;
    switch (s.state) {
      case member_state::alive:
        prober.clear(m.name);
        if (old == member_state::suspect) emit(event::alive, m);
        else if (!is_live(old)) {
          prober.add_target(m.name);
          emit(event::joined, m);
        } else if (s.tags_changed || s.addr_changed)
          emit(event::updated, m);
        break;
      case member_state::suspect:
        if (!is_live(old)) prober.add_target(m.name);
        prober.suspect(m.name, std::string(s.accuser), now);
        if (old != member_state::suspect) emit(event::suspect, m);
        break;
      case member_state::dead:
        prober.clear(m.name);
        if (old != member_state::dead) emit(event::dead, m);
        break;
      case member_state::left:
        prober.clear(m.name);
        emit(event::left, m);
        break;
    }
    gossip_on(m);
  }

  // A claim that did not change the view: a new confirmation of a running
  // suspicion, or old news that may call for a reply.
  void on_stale(const claim& cl, const apply_summary& s, source src,
                std::string_view sender, const address& from_addr,
                outbound_list& out) {
    auto& cur = *s.m;
    if (s.state == member_state::suspect && cur.state == member_state::suspect
        && cl.incarnation == cur.incarnation) {
      if (prober.confirm(cur.name, std::string(s.accuser))) {
        ++c.stats_.confirmations;
        if (src != source::join_page) enqueue(cur, s.accuser);
        return;
      }
    }
    ++c.stats_.updates_stale;
    if ((src != source::gossip || cl.name == sender) && is_live(s.state)
        && !is_live(cur.state))
      heal_notice(cur, out);
    // The sender still spreads an accusation that the member already
    // refuted: it missed the refutation, whose retransmissions may all be
    // spent by now, and its own suspicion timer may run out. Hand it the
    // newer record (bounded, one reply per packet; see handle()). Same
    // when the member has left since: the sender missed the leave and
    // suspects the now silent leaver; without the correction it would
    // declare it dead, and dead and left are both outside the anti-entropy
    // digest, so that view would never be repaired.
    if (cfg().refute_assist && src == source::gossip && !from_addr.empty()
        && sender != self().name
        && (s.state == member_state::suspect || s.state == member_state::dead)
        && (cur.state == member_state::alive || cur.state == member_state::left)
        && cur.incarnation > cl.incarnation
        && corrections.size() < max_corrections_per_packet
        && std::find(corrections.begin(), corrections.end(), cur.name)
             == corrections.end())
      corrections.push_back(cur.name);
  }

  // -- packet handlers -------------------------------------------------------

  void on_state(const std::string& sender, const address& from,
                const StatePage& s, time_point now, outbound_list& out) {
    // The first join reply is old news to everyone else: not re-gossiped.
    // Reconnect replies (partition healing) are, so both sides re-merge.
    bool initial_join = (s.join_reply() && !c.joined_) || now < catch_up_until;
    for (auto& u : s.members()) {
      if (!valid(u)) {
        bad("bad_update");
        continue;
      }
      apply(u, initial_join ? source::join_page : source::page, sender, from,
            now, out);
    }
    if (s.join_reply() && !joined_ref()) {
      joined_ref() = true;
      // Pull what the seed's table missed (members that joined after the
      // reply was cut, gossip that died out while the cluster was small).
      ae.start_quick_syncs(now);
      catch_up_until = now + cfg().join_sync_interval * (2 * cfg().join_syncs + 1);
      join_next = time_point::max();
    }
  }

  bool& joined_ref() { return c.joined_; }

  // -- timers ------------------------------------------------------------------

  void send_join(bool reconnect, const address& to, outbound_list& out) {
    auto p = packet();
    p.mutable_join()->set_reconnect(reconnect);
    *p.add_updates() = encode(self(), {});
    send(to, p, false, out);
  }

  void join_tick(time_point now, outbound_list& out) {
    if (c.joined_ || join_targets.empty() || now < join_next) return;
    ++c.stats_.join_attempts;
    for (auto& s : join_targets)
      if (s != self().addr) send_join(false, s, out);
    join_next = now + jitter(join_backoff * 2, rng) + join_backoff / 4;
    join_backoff = std::min(join_backoff * 2, cfg().join_retry_max);
  }

  void gossip(time_point now, outbound_list& out) {
    if (ob.idle()) return;
    auto targets =
      table.pick(static_cast<std::size_t>(cfg().gossip_fanout), true, now, {}, rng);
    for (auto* t : targets) {
      // Large tags: the update travels alone, bounded by max_datagram.
      ob.send_oversize(t->addr, out);
      if (ob.idle()) break;
      send(t->addr, packet(), true, out);
    }
  }

  // Probe round: a failed probe is this node's verdict 'suspect'; the next
  // probe starts in the same tick, its ping carrying that news.
  void probe_tick(time_point now, outbound_list& out) {
    if (auto* m = prober.check_probe(now, out))
      apply_verdict(*m, member_state::suspect, now, out);
    prober.start_due_probe(now, out);
  }

  // Expired suspicions: this node declares those still suspect dead.
  void suspicion_tick(time_point now, outbound_list& out) {
    for (auto& name : prober.expired(now)) {
      auto* e = table.find(name);
      if (!e || e->state != member_state::suspect) continue;
      ++c.stats_.deaths_declared;
      apply_verdict(*e, member_state::dead, now, out);
    }
  }

  void reconnect_tick(time_point now, outbound_list& out) {
    if (now < reconnect_next) return;
    reconnect_next = now + jitter(cfg().reconnect_interval * 2, rng);
    auto known = table.sweep(now, cfg().dead_retention);
    auto& cands = known.remembered;
    for (auto& s : seeds)
      if (s != self().addr && !known.live.count(s)) cands.push_back(s);
    if (cands.empty()) return;
    std::uniform_int_distribution<std::size_t> d(0, cands.size() - 1);
    ++c.stats_.reconnects;
    send_join(true, cands[d(rng)], out);
  }
};

// -- core ----------------------------------------------------------------------

core::core(config cfg, std::string name, address advertise,
           std::map<std::string, std::string> tags, uint64_t seed)
  : cfg_(std::move(cfg)) {
  config_error_ = cfg_.validate();
  if (config_error_.empty() && (name.empty() || name.size() > cfg_.max_name_bytes))
    config_error_ = "node name empty or longer than max_name_bytes";
  if (config_error_.empty()
      && (advertise.empty() || advertise.size() > cfg_.max_addr_bytes))
    config_error_ = "advertise address empty or longer than max_addr_bytes";
  if (config_error_.empty() && tags_bytes(tags) > cfg_.max_tags_bytes)
    config_error_ = "tags exceed max_tags_bytes";
  member me;
  me.name = std::move(name);
  me.addr = std::move(advertise);
  me.tags = std::move(tags);
  me.state = member_state::alive;
  impl_ = std::make_unique<impl>(*this, std::move(me), seed);
  if (!config_error_.empty()) impl_->state = impl::run_state::inert;
}

core::~core() = default;

void core::join(const std::vector<address>& seeds, time_point now,
                outbound_list& out) {
  auto& d = *impl_;
  if (d.state != impl::run_state::running) return;
  d.start_clocks(now);
  d.self().state_change = now;
  for (auto& s : seeds)
    if (!s.empty() && s.size() <= cfg_.max_addr_bytes
        && std::find(d.seeds.begin(), d.seeds.end(), s) == d.seeds.end()
        && s != d.self().addr)
      d.seeds.push_back(s);
  d.enqueue(d.self(), {});
  if (d.seeds.empty()) {
    joined_ = true;
    return;
  }
  joined_ = false;
  d.join_targets = d.seeds;
  d.join_backoff = cfg_.join_retry_initial;
  d.join_next = now;
  d.join_tick(now, out);
}

void core::leave(time_point now, outbound_list& out) {
  auto& d = *impl_;
  if (d.state != impl::run_state::running) return;
  d.start_clocks(now);
  d.self().incarnation += 1;
  d.self().state = member_state::left;
  d.self().state_change = now;
  d.enqueue(d.self(), {});
  d.state = impl::run_state::leaving;
  d.leave_until = now + cfg_.leave_drain;
  d.prober.stop();
  d.gossip(now, out);
  d.leaver.start(now);
  d.leaver.tick(now, out);
  d.gossip_next = now + cfg_.gossip_interval;
}

ec core::rejoin(time_point now, outbound_list& out) {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert) return ec::bad_config;
  if (d.state == impl::run_state::running) return ec::none;
  d.state = impl::run_state::running;
  d.self().incarnation += 1;
  d.self().state = member_state::alive;
  d.self().state_change = now;
  d.ob.clear_queue();
  d.enqueue(d.self(), {});
  d.join_targets = d.seeds;
  if (d.join_targets.empty())
    for (auto* m : d.table.pick(3, false, now, {}, d.rng))
      d.join_targets.push_back(m->addr);
  d.leave_until = time_point::max();
  d.leaver.stop();
  d.prober.resume(now);
  d.ae.schedule(now);
  d.reconnect_next = now + jitter(cfg_.reconnect_interval, d.rng);
  if (d.join_targets.empty()) {
    joined_ = true;
    return ec::none;
  }
  joined_ = false;
  d.join_backoff = cfg_.join_retry_initial;
  d.join_next = now;
  d.join_tick(now, out);
  return ec::none;
}

ec core::set_tags(std::map<std::string, std::string> tags, time_point now,
                  outbound_list& out) {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert) return ec::bad_config;
  for (auto& [k, _] : tags)
    if (k.empty()) return ec::bad_tag;
  if (tags_bytes(tags) > cfg_.max_tags_bytes) return ec::tags_too_large;
  if (d.state != impl::run_state::running) return ec::not_running;
  d.start_clocks(now);
  d.self().tags = std::move(tags);
  d.self().incarnation += 1;
  d.self().state_change = now;
  d.enqueue(d.self(), {});
  d.gossip(now, out);
  d.gossip_next = now + cfg_.gossip_interval;
  return ec::none;
}

void core::handle(const address& from, std::string_view payload,
                  time_point now, outbound_list& out) {
  auto& d = *impl_;
  ++stats_.packets_in;
  if (d.state == impl::run_state::leaving) {
    d.leaver.handle(payload, now, out);
    return;
  }
  if (d.state != impl::run_state::running) return;
  d.start_clocks(now);
  Packet p;
  if (auto err = decode(payload, cfg_, p); err != decode_error::none) {
    d.bad(to_string(err));
    return;
  }
  d.heal_notices_budget = max_heal_notices_per_packet;
  for (auto& u : p.updates()) {
    if (!d.valid(u)) {
      d.bad("bad_update");
      continue;
    }
    d.apply(u, source::gossip, p.sender(), from, now, out);
  }
  d.send_corrections(from, out);
  d.prober.notice_suspect_sender(p.sender(), from, now, out);
  switch (p.body_case()) {
    case Packet::kPing: d.prober.on_ping(from, p.ping(), out); break;
    case Packet::kAck: d.prober.on_ack(p.ack(), out); break;
    case Packet::kNack: d.prober.on_nack(p.nack()); break;
    case Packet::kPingReq: d.prober.on_ping_req(from, p.ping_req(), now, out); break;
    case Packet::kJoin: d.ae.send_table(from, now, out); break;
    case Packet::kState: d.on_state(p.sender(), from, p.state(), now, out); break;
    case Packet::kDigest: d.ae.on_digest(from, p.digest(), now, out); break;
    case Packet::kBuckets: d.ae.on_buckets(from, p.buckets(), now, out); break;
    case Packet::kWant: d.ae.on_want(from, p.want(), now, out); break;
    case Packet::kLeave: d.leaver.on_notice(p.sender(), from, p.leave(), out); break;
    case Packet::kLeaveAck: break; // late: we rejoined since
    case Packet::BODY_NOT_SET: break;
  }
}

void core::poll(time_point now, outbound_list& out) {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert || d.state == impl::run_state::left)
    return;
  d.start_clocks(now);
  if (d.state == impl::run_state::leaving) {
    if (now >= d.leave_until) {
      d.state = impl::run_state::left;
      d.leave_until = time_point::max();
      d.leaver.stop();
      return;
    }
    if (now >= d.gossip_next) {
      d.gossip(now, out);
      d.leaver.tick(now, out);
      d.gossip_next = now + cfg_.gossip_interval;
    }
    return;
  }
  d.join_tick(now, out);
  d.prober.relay_tick(now, out);
  d.probe_tick(now, out);
  d.suspicion_tick(now, out);
  if (now >= d.gossip_next && !d.ob.idle()) {
    d.gossip(now, out);
    d.gossip_next = now + cfg_.gossip_interval;
  }
  d.ae.tick(now, out);
  d.reconnect_tick(now, out);
}

time_point core::next_wakeup() const {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert || d.state == impl::run_state::left)
    return time_point::max();
  if (!d.clock_started) return time_point::max();
  if (d.state == impl::run_state::leaving)
    return std::min(d.leave_until,
                    d.ob.idle() && !d.leaver.pending() ? time_point::max()
                                                                : d.gossip_next);
  time_point t = std::min(d.ae.next_wakeup(), d.reconnect_next);
  if (!joined_ && !d.join_targets.empty()) t = std::min(t, d.join_next);
  t = std::min(t, d.prober.next_wakeup());
  if (!d.ob.idle()) t = std::min(t, d.gossip_next);
  return t;
}

std::vector<member> core::members() const { return impl_->table.members(); }

const member* core::find(const std::string& name) const {
  return impl_->table.find(name);
}

std::size_t core::count(member_state s) const { return impl_->table.count(s); }

std::size_t core::size() const { return impl_->table.size(); }

const member& core::self() const { return impl_->table.self(); }

std::size_t core::live_count() const { return impl_->table.live_count(); }

int core::health_score() const { return impl_->prober.health_score(); }

std::vector<event> core::drain_events() {
  std::vector<event> r;
  r.swap(impl_->events);
  return r;
}

} // namespace pekonode::membership
