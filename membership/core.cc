// The membership core as a coordinator. Who owns what:
//
//   member_table   members, indexes, counts, digest sums; what a claim changed
//   outbox (codec) packets out, the piggyback queue, request sequence numbers
//   probing        probe round, ping-reqs, relays, Lifeguard, suspicion timers
//   anti_entropy   digest exchange, state pages, reply budgets
//   leave_notices  direct leave notices and acks
//   joiner (join)  join attempts, catch-up window, rejoin targets, reconnects
//   this file      the run state, claims and their consequences (events,
//                  timers, gossip, replies to stale or conflicting claims),
//                  gossip ticks, packet dispatch
//
// Every module draws from the one seeded RNG owned here, so a run is a pure
// function of the seed and the calls; the order of draws within a call is
// part of that (the chaos harness compares runs across versions).

#include "membership/core.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include <google/protobuf/arena.h>

#include "common/hash.h"
#include "membership/admission.h"
#include "membership/anti_entropy.h"
#include "membership/cookie.h"
#include "membership/codec.h"
#include "membership/join.h"
#include "membership/leave_notices.h"
#include "membership/membership.pb.h"
#include "membership/probing.h"

namespace pekonode::membership {

namespace {

// Heal notices and conflict reports sent while handling one packet.
constexpr std::size_t max_heal_notices_per_packet = 32;
// Corrections (our newer record of a member) returned in one reply to a
// packet that carried stale accusations; the rest of the packet's stale
// claims are left to gossip and anti-entropy.
constexpr std::size_t max_corrections_per_packet = 8;

// The next incarnation of this node, saturating at max_incarnation.
uint64_t next_incarnation(uint64_t inc) {
  return inc < max_incarnation ? inc + 1 : max_incarnation;
}

template <class Tags>
std::size_t tags_bytes(const Tags& tags) {
  std::size_t n = 0;
  for (auto& [k, v] : tags) n += k.size() + v.size();
  return n;
}

std::string check(const config& cfg, const std::string& name,
                  const address& advertise, const interned_tags& tags) {
  if (auto err = cfg.validate(); !err.empty()) return err;
  if (!valid_name(name, cfg.max_name_bytes))
    return "node name must be 1..max_name_bytes visible ASCII characters";
  if (advertise.empty() || advertise.size() > cfg.max_addr_bytes)
    return "advertise address empty or longer than max_addr_bytes";
  if (tags_bytes(tags) > cfg.max_tags_bytes) return "tags exceed max_tags_bytes";
  if (!valid_tags(tags, cfg.max_tags_bytes)) return "tags break the tag rules";
  return {};
}

// Where a claim came from: piggybacked gossip, an anti-entropy page, or a
// join reply page (old news to everyone else, so never re-gossiped).
enum class source { gossip, page, join_page };

} // namespace

struct core::impl {
  //   running --leave()--> leaving --leave_drain--> left
  //      ^                    |                       |
  //      +----- rejoin() -----+-----------------------+
  //   inert: the config was rejected; nothing ever happens.
  enum class run_state { running, leaving, left, inert };

  // Declaration order is construction order: each module refers to the
  // members declared before it.
  const config cfg;
  const std::string config_error;
  core_stats stats;
  std::mt19937_64 rng;
  member_table table;
  outbox ob;
  probing prober;
  anti_entropy ae;
  leave_notices leaver;
  joiner join;
  admission adm;
  join_cookies cookies;

  run_state state = run_state::running;
  bool clock_started = false;
  time_point gossip_next{};
  time_point leave_until = time_point::max();
  std::vector<event> events;
  // Per handled packet: budget of heal notices, and the members whose stale
  // accusation it carried and of whom we hold a newer record (returned to
  // the sender at the end of handle(), see send_corrections()).
  std::size_t heal_notices_budget = 0;
  std::vector<std::string> corrections;
  bool conflict_refuted = false;
  time_point last_conflict_refute{};
  // Refutation budget (config::refute_burst, one per probe_interval), and
  // the accusation waiting for it: the next refutation goes above it.
  token_bucket refute_budget;
  bool refute_budget_init = false;
  bool refute_pending = false;
  uint64_t refute_pending_above = 0;
  // Members left by someone else's claim (a force-leave), with the address
  // they had: not re-contacted for healing. Pruned at each reconnect tick
  // to members the table still holds as left.
  std::map<std::string, address> forced_left;

  impl(config c, member self, uint64_t seed)
    : cfg(std::move(c)), config_error(check(cfg, self.name, self.addr, self.tags)),
      rng(seed), table(std::move(self), cfg.max_members, cfg.gossip_to_dead),
      ob(cfg, table.self().name, stats, mix64(seed) >> 16,
         [this] { return retransmit_limit(cfg, table.live_count()); }),
      prober(cfg, table, ob, rng, stats), ae(cfg, table, ob, rng, stats),
      leaver(cfg, table, ob, rng, stats), join(cfg, table, ob, rng, stats),
      adm(cfg, table, ob, stats),
      cookies(mix64(seed ^ 0x636f6f6b69653a30ULL), mix64(seed ^ 0x636f6f6b69653a31ULL),
              std::chrono::minutes(1)) {
    if (!config_error.empty()) state = run_state::inert;
    table.set_limits(cfg.max_unconfirmed, cfg.max_table_bytes);
    table.set_index_key(mix64(seed ^ 0x6e616d6569647830ULL),
                        mix64(seed ^ 0x6e616d6569647831ULL));
  }

  member& self() { return table.self(); }

  // Timers start with the first call that has a time: one draw each for the
  // probe, anti-entropy and reconnect schedules, in that order.
  void start_clocks(time_point now) {
    if (clock_started) return;
    clock_started = true;
    prober.start(now);
    gossip_next = now;
    ae.schedule(now);
    join.start(now);
  }

  void emit(event::kind_t k, const member& m) { events.push_back({k, m}); }

  void bad(const char* reason) { ++stats.bad_packets[reason]; }

  // Pushes queued updates to gossip_fanout random members (live, and dead
  // for gossip_to_dead so they can refute).
  void gossip(time_point now, outbound_list& out) {
    if (ob.idle()) return;
    auto targets =
      table.pick(static_cast<std::size_t>(cfg.gossip_fanout), true, now, {}, rng);
    for (auto* t : targets) {
      // Large tags: the update travels alone, bounded by max_datagram.
      ob.send_oversize(t->addr, out);
      if (ob.idle()) break;
      ob.send_piggybacked(t->addr, ob.packet(), out);
    }
  }

  // -- claims about this node ----------------------------------------------------

  // Refutes everything up to `above` now if the refutation budget allows
  // (true), else later, together with what else comes (false).
  bool refute(uint64_t above, time_point now) {
    if (!refute_budget_init) {
      refute_budget = token_bucket(
        1.0 / std::chrono::duration<double>(cfg.probe_interval).count(),
        cfg.refute_burst, now);
      refute_budget_init = true;
    }
    if (refute_pending) above = std::max(above, refute_pending_above);
    if (!refute_budget.try_take(1, now)) {
      if (!refute_pending) ++stats.refutations_deferred;
      refute_pending = true;
      refute_pending_above = above;
      return false;
    }
    refute_pending = false;
    auto& me = self();
    // Saturates: accusations stay below max_incarnation (codec), so the
    // answer is always higher than any accusation we accepted.
    me.incarnation = next_incarnation(std::max(me.incarnation, above));
    me.state_change = now;
    ++stats.refutations;
    ob.enqueue(me, {});
    return true;
  }

  // A deferred refutation, when the budget allows it again.
  void refute_tick(time_point now) {
    if (refute_pending && state == run_state::running
        && refute_budget.available(now) >= 1)
      refute(refute_pending_above, now);
  }

  // Healing, minus the members forced out (see core::force_leave).
  void reconnect_tick(time_point now, outbound_list& out) {
    std::set<address> skip;
    for (auto it = forced_left.begin(); it != forced_left.end();) {
      auto* m = table.find(it->first);
      if (!m || m->state != member_state::left || m->addr != it->second) {
        it = forced_left.erase(it);
        continue;
      }
      skip.insert(it->second);
      ++it;
    }
    join.reconnect_tick(now, out, skip);
  }

  void send_self_to(const address& to, time_point now, outbound_list& out) {
    if (to.empty() || to == self().addr) return;
    if (!ob.take_assist(now)) return;
    auto p = ob.packet();
    *p.add_updates() = encode(self(), {});
    ob.send(to, p, out);
  }

  // Refutes accusations, reports another node using our name.
  void apply_self(const claim& c, std::string_view sender,
                  const address& from_addr, time_point now,
                  outbound_list& out) {
    if (state != run_state::running) return;
    auto& me = self();
    if (c.state == member_state::alive && c.addr != me.addr) {
      if (c.incarnation < me.incarnation) return;
      member conflict;
      conflict.name = std::string(c.name);
      conflict.addr = std::string(c.addr);
      conflict.incarnation = c.incarnation;
      conflict.state = member_state::alive;
      conflict.tags = c.tags;
      conflict.state_change = now;
      ++stats.name_conflicts;
      emit(event::name_conflict, conflict);
      // Rate-limited so two nodes sharing a name cannot drive each other's
      // incarnations up at gossip speed.
      if (conflict_refuted && now - last_conflict_refute < cfg.probe_interval * 10)
        return;
      conflict_refuted = true;
      last_conflict_refute = now;
      if (refute(c.incarnation, now)) send_self_to(from_addr, now, out);
      return;
    }
    bool newer = c.incarnation > me.incarnation;
    bool accuses = c.incarnation == me.incarnation && c.state != member_state::alive;
    if (!newer && !accuses) {
      // A stale accusation straight from its accuser (e.g. a Lifeguard buddy
      // ping): that node missed our refutation and its timer still runs.
      if (c.state != member_state::alive && !c.from.empty() && c.from == sender)
        send_self_to(from_addr, now, out);
      return; // otherwise our own echo or stale gossip
    }
    if (c.state == member_state::suspect || c.state == member_state::dead)
      prober.self_accused();
    if (!refute(c.incarnation, now)) return;
    send_self_to(from_addr, now, out);
    // The accuser's timer is the first to fire: tell it directly too.
    if (!c.from.empty() && c.from != sender)
      if (auto* acc = table.find(c.from); acc && is_live(acc->state))
        send_self_to(acc->addr, now, out);
  }

  // -- claims about other members ------------------------------------------------

  // Applies one validated Update from the wire.
  void apply(const Update& u, source src, const std::string& sender,
             const address& from_addr, time_point now, outbound_list& out) {
    auto c = to_claim(u);
    if (c.name == self().name) {
      // Before we joined (a restart meets its old, higher incarnation in
      // the cluster's view) any accepted incarnation is believable.
      if (join.joined() && !join.catching_up(false, now)
          && c.incarnation > self().incarnation + cfg.max_incarnation_jump) {
        bad("incarnation_jump");
        return;
      }
      apply_self(c, sender, from_addr, now, out);
      return;
    }
    // Only the member raises its incarnation, a step at a time: a larger
    // jump must come from the member itself, at the address we know. An
    // accusation by anyone else names the incarnation its accuser holds,
    // which is at most one step ahead of ours unless we missed news; we
    // wait for that news rather than let accusations walk the number up
    // faster than the member can refute.
    // One lookup of the member for the whole claim: the checks here, the
    // admission budgets and the table's apply all read this slot.
    auto where = table.locate(c.name);
    if (auto* cur = table.get(where);
        cur && c.incarnation > cur->incarnation
                                 + (c.state == member_state::alive
                                      ? cfg.max_incarnation_jump
                                      : 1)
        && !(c.name == sender && cur->addr == from_addr)) {
      bad("incarnation_jump");
      return;
    }
    apply(c, where, &u, src, sender, from_addr, now, out);
  }

  // This node's own verdict about `m` (suspect after a failed probe, dead
  // when a suspicion expires), applied like gossip from itself.
  void apply_verdict(const member& m, member_state st, time_point now,
                     outbound_list& out) {
    claim c;
    c.name = m.name;
    c.addr = m.addr;
    c.incarnation = m.incarnation;
    c.state = st;
    c.from = self().name;
    apply(c, table.locate(c.name), nullptr, source::gossip, self().name, {},
          now, out);
  }

  // Applies a claim about another member and acts on what changed: events,
  // suspicion timers, the probe round, further gossip (unless it came with
  // a join reply), and the replies a stale or conflicting claim calls for.
  // `wire` is the Update the claim came in: null for this node's verdicts,
  // which are never 'alive' and so never conflict. `where` is
  // table.locate(c.name).
  void apply(const claim& c, member_table::slot where, const Update* wire,
             source src,
             std::string_view sender, const address& from_addr,
             time_point now, outbound_list& out) {
    // Our own verdicts come without an address; everything else from the
    // wire is admitted first (per-source budgets). A member new to us is
    // confirmed when the claim comes from the member itself or from a
    // member we know at the packet's source address; learnt from anyone
    // else, it stays unconfirmed until it answers us.
    bool verdict = from_addr.empty();
    bool direct = !verdict && c.name == sender && c.addr == from_addr;
    bool member_sent = !verdict && verified_member(std::string(sender), from_addr);
    if (!verdict && !admit(c, table.get(where), src, member_sent, from_addr, now))
      return;
    bool vouched = verdict || direct || member_sent;
    auto s = table.apply(c, where, sender, src == source::gossip, now, vouched);
    if (s.outcome == apply_summary::stale && !s.confirmed) {
      if (vouched) on_confirmed(std::string(c.name), now);
      else ++stats.updates_stale;
      return;
    }
    switch (s.outcome) {
      case apply_summary::table_full:
        bad("table_full");
        return;
      case apply_summary::unconfirmed_full:
        bad("unconfirmed_full");
        return;
      case apply_summary::over_bytes:
        bad("table_bytes");
        return;
      case apply_summary::stale:
        on_stale(c, s, src, sender, from_addr, now, out);
        return;
      case apply_summary::addr_conflict:
        on_addr_conflict(c, s, wire, now, out);
        return;
      case apply_summary::added:
      case apply_summary::changed:
        break;
    }
    if (!s.confirmed) {
      // Not news for anyone until the member answers, or a member vouches
      // for it: no events, no gossip.
      if (vouched) {
        on_confirmed(std::string(c.name), now);
        return;
      }
      ++stats.updates_applied;
      if (s.outcome == apply_summary::added) ++stats.unconfirmed_added;
      adm.learnt(std::string(c.name), now);
      return;
    }
    ++stats.updates_applied;
    auto& m = *s.m;
    if (s.outcome == apply_summary::added && !s.became_live)
      return; // remembered for healing, not news
    if (s.became_live) {
      prober.add_target(m.name);
      // News of a join by gossip: others may have missed it (churn syncs).
      if (src == source::gossip) ae.note_join(now);
    }
    switch (s.state) {
      case member_state::alive:
        prober.clear(m.name);
        if (s.old_state == member_state::suspect) emit(event::alive, m);
        else if (s.became_live) emit(event::joined, m);
        else if (s.tags_changed || s.addr_changed) emit(event::updated, m);
        break;
      case member_state::suspect:
        if (s.outcome == apply_summary::added) emit(event::joined, m);
        if (s.outcome == apply_summary::added || s.old_state != member_state::suspect)
          emit(event::suspect, m);
        prober.suspect(m.name, std::string(s.accuser), now);
        break;
      case member_state::dead:
        prober.clear(m.name);
        if (s.old_state != member_state::dead) emit(event::dead, m);
        break;
      case member_state::left:
        prober.clear(m.name);
        emit(event::left, m);
        if (s.accuser != m.name) forced_left[m.name] = m.addr;
        break;
    }
    if (src != source::join_page) ob.enqueue(m, s.accuser);
  }

  // Per-source budgets: members new to the table (for senders that are not
  // members we know at that address; a join reply we asked for is exempt
  // too), and tag bytes a claim would store (every sender).
  // `cur`: the claim's member as held now (unconfirmed included), or null.
  bool admit(const claim& c, const member* cur, source src, bool member_sent,
             const address& from_addr, time_point now) {
    if (!cur && !member_sent
        && !(src == source::join_page && join.awaiting_reply_from(from_addr))
        && !adm.take_member(from_addr, now)) {
      bad("source_budget");
      return false;
    }
    if (c.state == member_state::alive && !c.tags.empty()
        && (!cur || (c.incarnation > cur->incarnation && c.tags != cur->tags))
        && !adm.take_tag_bytes(from_addr, tags_bytes(c.tags), now)) {
      bad("source_budget");
      return false;
    }
    return true;
  }

  // An unconfirmed member answered (an ack to a confirmation ping, or a
  // packet of its own from its address): it becomes a member, and news.
  void on_confirmed(const std::string& name, time_point now) {
    adm.confirmed(name);
    auto* m = table.confirm(name);
    if (!m) return;
    ++stats.members_confirmed;
    if (!is_live(m->state)) return; // remembered for healing, not news
    prober.add_target(m->name);
    ae.note_join(now);
    emit(event::joined, *m);
    if (m->state == member_state::suspect) {
      emit(event::suspect, *m);
      prober.suspect(m->name, {}, now);
      return;
    }
    ob.enqueue(*m, {});
  }

  // A packet's sender, if we hold it unconfirmed at the packet's source
  // address, has just shown it is there.
  void confirm_sender(const std::string& sender, const address& from,
                      time_point now) {
    if (!table.unconfirmed(sender)) return;
    if (table.find_any(sender)->addr == from) on_confirmed(sender, now);
  }

  // Whether `sender` is a member we hold dead, at `from`.
  bool held_dead(const std::string& sender, const address& from) const {
    auto* m = table.find(sender);
    return m && m->state == member_state::dead && m->addr == from
           && sender != table.self().name;
  }

  // A packet from a member we held dead when it arrived (a healed
  // partition, a false death): tell it what we hold, if its packet did not
  // already refute it, so it refutes; and pull its table with a reconnect
  // request (config::dead_probe_interval), so every member it knows that
  // we hold dead comes back in one exchange instead of one gossip or sync
  // at a time.
  void heard_from_dead(const std::string& sender, const address& from,
                       time_point now, outbound_list& out) {
    if (auto* m = table.find(sender); m && m->state == member_state::dead)
      heal_notice(*m, now, out);
    join.dead_contact(from, now, out);
  }

  // Whether `sender` is a confirmed live member at `from`.
  bool verified_member(const std::string& sender, const address& from) const {
    auto* m = table.find(sender);
    return m && is_live(m->state) && m->addr == from && sender != table.self().name;
  }

  // A claim that did not change the view: a new confirmation of a running
  // suspicion, or old news that may call for a reply.
  void on_stale(const claim& c, const apply_summary& s, source src,
                std::string_view sender, const address& from_addr,
                time_point now, outbound_list& out) {
    auto& cur = *s.m;
    if (s.state == member_state::suspect && cur.state == member_state::suspect
        && c.incarnation == cur.incarnation
        && prober.confirm(cur.name, std::string(s.accuser))) {
      ++stats.confirmations;
      if (src != source::join_page) ob.enqueue(cur, s.accuser);
      return;
    }
    ++stats.updates_stale;
    // It considers itself (or a page shows it) alive, but we hold it
    // dead/left: tell it, so it can refute.
    if ((src != source::gossip || c.name == sender) && is_live(s.state)
        && !is_live(cur.state))
      heal_notice(cur, now, out);
    // The sender still spreads an accusation that the member already
    // refuted: it missed the refutation, whose retransmissions may all be
    // spent by now, and its own suspicion timer may run out. Hand it the
    // newer record (bounded, one reply per packet; see handle()). Same
    // when the member has left since: the sender missed the leave and
    // suspects the now silent leaver; without the correction it would
    // declare it dead, and dead and left are both outside the anti-entropy
    // digest, so that view would never be repaired.
    if (cfg.refute_assist && src == source::gossip && !from_addr.empty()
        && sender != self().name
        && (s.state == member_state::suspect || s.state == member_state::dead)
        && (cur.state == member_state::alive || cur.state == member_state::left)
        && cur.incarnation > c.incarnation
        && corrections.size() < max_corrections_per_packet
        && std::find(corrections.begin(), corrections.end(), cur.name)
             == corrections.end())
      corrections.push_back(cur.name);
  }

  // Same name, another address: keep the member we know, report it, and
  // tell the known owner so it can refute.
  void on_addr_conflict(const claim& c, const apply_summary& s,
                        const Update* wire, time_point now,
                        outbound_list& out) {
    bad("addr_conflict");
    ++stats.name_conflicts;
    member conflict = *s.m;
    conflict.addr = std::string(c.addr);
    conflict.incarnation = c.incarnation;
    emit(event::name_conflict, conflict);
    if (heal_notices_budget == 0 || !wire || !ob.take_assist(now)) return;
    --heal_notices_budget;
    auto p = ob.packet();
    *p.add_updates() = *wire;
    ob.send(s.m->addr, p, out);
  }

  // Tells `m` (by address) what we believe about it; at most
  // max_heal_notices_per_packet per handled packet.
  void heal_notice(const member& m, time_point now, outbound_list& out) {
    if (heal_notices_budget == 0 || !ob.take_assist(now)) return;
    --heal_notices_budget;
    ++stats.heal_notices;
    auto p = ob.packet();
    *p.add_updates() = encode(m, self().name);
    ob.send(m.addr, p, out);
  }

  // Sends the records collected in `corrections` to `to` in one packet
  // (bounded by max_packet; an oversized record is skipped: gossip and
  // anti-entropy still carry it).
  void send_corrections(const address& to, time_point now, outbound_list& out) {
    if (corrections.empty()) return;
    if (!ob.take_assist(now)) {
      corrections.clear();
      return;
    }
    auto p = ob.packet();
    std::size_t size = p.ByteSizeLong();
    for (auto& name : corrections) {
      auto* e = table.find(name);
      if (!e || !(e->state == member_state::alive || e->state == member_state::left))
        continue;
      auto u = encode(*e, {});
      auto n = u.ByteSizeLong();
      if (size + n + 4 > cfg.max_packet) continue;
      size += n + 4;
      *p.add_updates() = std::move(u);
    }
    corrections.clear();
    if (p.updates_size() == 0) return;
    ++stats.corrections_sent;
    ob.send(to, p, out);
  }

  // A join or reconnect request: the table for an address that returned our
  // cookie; a challenge, never larger than the request, for any other.
  void on_join(const std::string& sender, const address& from,
               const JoinRequest& j, std::size_t request_bytes,
               time_point now, outbound_list& out) {
    if (cookies.valid(j.cookie(), from, now)) {
      ae.send_table(from, now, out);
      return;
    }
    auto p = ob.packet();
    p.mutable_challenge()->set_cookie(cookies.issue(from, now));
    if (p.ByteSizeLong() > request_bytes) {
      bad("short_join");
      return;
    }
    ++stats.join_challenges;
    ob.send(from, p, out);
  }

  // State pages: a join reply (the first is old news to everyone else and
  // not re-gossiped; reconnect replies are, so both sides re-merge) or an
  // anti-entropy answer.
  void on_state(const std::string& sender, const address& from,
                const StatePage& s, time_point now, outbound_list& out) {
    auto src = join.catching_up(s.join_reply(), now) ? source::join_page : source::page;
    for (auto& u : s.members()) {
      if (auto* err = update_error(u, cfg)) {
        bad(err);
        continue;
      }
      apply(u, src, sender, from, now, out);
    }
    // Joined: pull what the seed's table missed (members that joined after
    // the reply was cut, gossip that died out while the cluster was small).
    if (s.join_reply() && join.on_join_reply(now)) ae.start_quick_syncs(now);
    // A reconnect answered: two views merged. Members that miss the
    // merge's gossip (each update is relayed a bounded number of times)
    // would wait for the next sync period; quick syncs find them.
    else if (s.join_reply() && src == source::page) ae.merge_syncs(now);
  }

  // -- timers ------------------------------------------------------------------------

  // A failed probe is this node's verdict 'suspect'; the next probe starts
  // in the same tick, its ping carrying that news.
  void probe_tick(time_point now, outbound_list& out) {
    if (auto* m = prober.check_probe(now, out))
      apply_verdict(*m, member_state::suspect, now, out);
    prober.start_due_probe(now, out);
    prober.check_suspects(now, out);
  }

  // Expired suspicions: this node declares those still suspect dead.
  void suspicion_tick(time_point now, outbound_list& out) {
    for (auto& name : prober.expired(now)) {
      auto* e = table.find(name);
      if (!e || e->state != member_state::suspect) continue;
      ++stats.deaths_declared;
      apply_verdict(*e, member_state::dead, now, out);
    }
  }
};

// -- core ------------------------------------------------------------------------------

core::core(config cfg, std::string name, address advertise,
           std::map<std::string, std::string> tags, uint64_t seed,
           uint64_t incarnation) {
  member me;
  me.name = std::move(name);
  me.incarnation = std::min(incarnation, max_incarnation - 1);
  me.addr = std::move(advertise);
  me.tags = std::move(tags);
  me.state = member_state::alive;
  impl_ = std::make_unique<impl>(std::move(cfg), std::move(me), seed);
}

core::~core() = default;

void core::join(const std::vector<address>& seeds, time_point now,
                outbound_list& out) {
  auto& d = *impl_;
  if (d.state != impl::run_state::running) return;
  d.start_clocks(now);
  d.self().state_change = now;
  d.ob.enqueue(d.self(), {});
  d.join.join(seeds, now, out);
}

std::size_t core::discover(const std::vector<address>& found, time_point now,
                           outbound_list& out) {
  auto& d = *impl_;
  if (d.state != impl::run_state::running) return 0;
  d.start_clocks(now);
  return d.join.discover(found, out);
}

void core::leave(time_point now, outbound_list& out) {
  auto& d = *impl_;
  if (d.state != impl::run_state::running) return;
  d.start_clocks(now);
  auto& me = d.self();
  // Below the ceiling: a 'left' at max_incarnation is refused by receivers.
  if (me.incarnation + 1 < max_incarnation) me.incarnation += 1;
  me.state = member_state::left;
  me.state_change = now;
  d.ob.enqueue(me, {});
  d.state = impl::run_state::leaving;
  d.refute_pending = false;
  d.leave_until = now + d.cfg.leave_drain;
  d.prober.stop();
  d.gossip(now, out);
  d.leaver.start(now);
  d.leaver.tick(now, out);
  d.gossip_next = now + d.cfg.gossip_interval;
}

ec core::rejoin(time_point now, outbound_list& out) {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert) return ec::bad_config;
  if (d.state == impl::run_state::running) return ec::none;
  d.state = impl::run_state::running;
  d.refute_pending = false;
  auto& me = d.self();
  me.incarnation = next_incarnation(me.incarnation);
  me.state = member_state::alive;
  me.state_change = now;
  d.ob.clear_queue();
  d.ob.enqueue(me, {});
  d.join.choose_rejoin_targets(now);
  d.leave_until = time_point::max();
  d.leaver.stop();
  d.prober.resume(now);
  d.ae.schedule(now);
  d.join.restart(now, out);
  return ec::none;
}

ec core::force_leave(const std::string& name, time_point now,
                     outbound_list& out) {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert) return ec::bad_config;
  if (d.state != impl::run_state::running) return ec::not_running;
  if (name == d.self().name) return ec::is_self;
  auto* m = d.table.find(name);
  if (!m) return ec::unknown_member;
  if (m->state != member_state::dead && m->state != member_state::suspect)
    return ec::not_failed;
  d.start_clocks(now);
  member failed = *m;
  d.apply_verdict(failed, member_state::left, now, out);
  d.gossip(now, out);
  d.gossip_next = now + d.cfg.gossip_interval;
  return ec::none;
}

ec core::set_tags(std::map<std::string, std::string> tags, time_point now,
                  outbound_list& out) {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert) return ec::bad_config;
  for (auto& [k, _] : tags)
    if (k.empty()) return ec::bad_tag;
  if (tags_bytes(tags) > d.cfg.max_tags_bytes) return ec::tags_too_large;
  // The rules every receiver applies to tags from the wire.
  if (!valid_tags(tags, d.cfg.max_tags_bytes)) return ec::bad_tag;
  if (d.state != impl::run_state::running) return ec::not_running;
  d.start_clocks(now);
  auto& me = d.self();
  me.tags = std::move(tags);
  me.incarnation = next_incarnation(me.incarnation);
  me.state_change = now;
  d.ob.enqueue(me, {});
  d.gossip(now, out);
  d.gossip_next = now + d.cfg.gossip_interval;
  return ec::none;
}

void core::handle(const address& from, std::string_view bytes, time_point now,
                  outbound_list& out) {
  auto& d = *impl_;
  ++d.stats.packets_in;
  if (d.state == impl::run_state::leaving) {
    d.leaver.handle(bytes, now, out);
    return;
  }
  if (d.state != impl::run_state::running) return;
  d.start_clocks(now);
  // The decoded packet lives on an arena whose first block is on the
  // stack: parsing a packet of updates costs no malloc per field.
  alignas(std::max_align_t) char arena_block[8192];
  google::protobuf::ArenaOptions arena_opts;
  arena_opts.initial_block = arena_block;
  arena_opts.initial_block_size = sizeof arena_block;
  google::protobuf::Arena arena(arena_opts);
  Packet& p = *google::protobuf::Arena::CreateMessage<Packet>(&arena);
  if (auto err = decode(bytes, d.cfg, p); err != decode_error::none) {
    d.bad(to_string(err));
    return;
  }
  // Whether the sender is a member we know at this address, judged before
  // the packet's own claims (which may introduce it) are applied.
  bool member = d.verified_member(p.sender(), from);
  bool from_dead = d.cfg.dead_probe_interval > duration::zero()
                   && d.held_dead(p.sender(), from);
  // Claims first (the body may depend on them: a leave notice's 'left'),
  // then the replies they call for, then the body.
  d.heal_notices_budget = max_heal_notices_per_packet;
  // A sender we hold unconfirmed, writing from its address, is confirmed
  // first: then it vouches for what it carries.
  d.confirm_sender(p.sender(), from, now);
  for (auto& u : p.updates()) {
    if (auto* err = update_error(u, d.cfg)) {
      d.bad(err);
      continue;
    }
    d.apply(u, source::gossip, p.sender(), from, now, out);
  }
  d.send_corrections(from, now, out);
  d.prober.notice_suspect_sender(p.sender(), from, now, out);
  switch (p.body_case()) {
    case Packet::kPing:
      d.prober.on_ping(from, p.ping(), member,
                       d.table.find_any(p.sender()) == nullptr, out);
      break;
    case Packet::kAck:
      if (auto* name = d.adm.on_ack(p.ack().seq()))
        d.on_confirmed(std::string(*name), now);
      else
        d.prober.on_ack(p.ack(), now, out);
      // A member that does not know us (it restarted after our view of it
      // was built, or a partition made it forget us): introduce ourselves
      // with a reconnect request, so it learns us and what we know.
      if (p.ack().stranger() && member)
        d.join.dead_contact(from, now, out);
      break;
    case Packet::kNack: d.prober.on_nack(p.nack()); break;
    case Packet::kPingReq:
      // Probing a third party on request: for members only, or anyone
      // could aim our pings at any address.
      if (d.verified_member(p.sender(), from))
        d.prober.on_ping_req(from, p.ping_req(), now, out);
      else
        d.bad("unverified");
      break;
    case Packet::kJoin:
      d.on_join(p.sender(), from, p.join(), bytes.size(), now, out);
      break;
    case Packet::kChallenge:
      d.join.on_challenge(from, p.challenge().cookie(), out);
      break;
    case Packet::kState: d.on_state(p.sender(), from, p.state(), now, out); break;
    case Packet::kDigest:
      d.ae.on_digest(from, p.digest(), member, now, out);
      // A node that holds us in its view but is not in ours (two views
      // that lost each other): answer with a reconnect request no larger
      // than its digest; the cookie round trip then merges the views.
      if (auto* m = d.table.find(p.sender());
          !member && (!m || !is_live(m->state)) && d.ob.take_assist(now))
        d.join.hello(from, bytes.size(), out);
      break;
    case Packet::kBuckets: d.ae.on_buckets(from, p.buckets(), now, out); break;
    case Packet::kWant: d.ae.on_want(from, p.want(), member, now, out); break;
    case Packet::kLeave: d.leaver.on_notice(p.sender(), from, p.leave(), out); break;
    case Packet::kLeaveAck: break; // late: we rejoined since
    case Packet::BODY_NOT_SET: break;
  }
  // Join traffic and state pages are a merge in progress already; a
  // digest got its reconnect request above.
  if (from_dead && p.body_case() != Packet::kJoin
      && p.body_case() != Packet::kChallenge && p.body_case() != Packet::kState
      && p.body_case() != Packet::kDigest)
    d.heard_from_dead(p.sender(), from, now, out);
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
      d.gossip_next = now + d.cfg.gossip_interval;
    }
    return;
  }
  d.refute_tick(now);
  d.join.tick(now, out);
  d.prober.relay_tick(now, out);
  d.probe_tick(now, out);
  d.suspicion_tick(now, out);
  d.adm.tick(now, out);
  if (now >= d.gossip_next && !d.ob.idle()) {
    d.gossip(now, out);
    d.gossip_next = now + d.cfg.gossip_interval;
  }
  d.ae.tick(now, out);
  d.reconnect_tick(now, out);
  d.join.dead_probe_tick(now, out);
}

time_point core::next_wakeup() const {
  auto& d = *impl_;
  if (d.state == impl::run_state::inert || d.state == impl::run_state::left
      || !d.clock_started)
    return time_point::max();
  if (d.state == impl::run_state::leaving)
    return std::min(d.leave_until, d.ob.idle() && !d.leaver.pending()
                                     ? time_point::max()
                                     : d.gossip_next);
  auto t = std::min({d.ae.next_wakeup(), d.join.next_wakeup(),
                     d.prober.next_wakeup()});
  if (d.refute_pending) t = std::min(t, d.refute_budget.when_available(1));
  t = std::min(t, d.adm.next_wakeup());
  // Gossip is due only while updates are queued and someone could receive
  // them: a node alone (self only) sends nothing, so its queue does not keep
  // it waking every gossip interval. The first member makes gossip_next
  // (left in the past) due at once.
  if (!d.ob.idle() && d.table.size() > 1) t = std::min(t, d.gossip_next);
  return t;
}

std::vector<member> core::members() const { return impl_->table.members(); }

const member* core::find(const std::string& name) const {
  return impl_->table.find(name);
}

std::size_t core::count(member_state s) const { return impl_->table.count(s); }

std::size_t core::size() const { return impl_->table.size(); }

const member& core::self() const { return impl_->table.self(); }

std::vector<event> core::drain_events() {
  std::vector<event> r;
  r.swap(impl_->events);
  return r;
}

const core_stats& core::stats() const { return impl_->stats; }

int core::health_score() const { return impl_->prober.health_score(); }

void core::set_local_lag(duration lag) { impl_->prober.set_local_lag(lag); }

duration core::rtt_srtt() const { return impl_->prober.rtt().srtt(); }

duration core::rtt_var() const { return impl_->prober.rtt().rttvar(); }

duration core::probe_timeout() const { return impl_->prober.probe_timeout(); }

double core::probe_miss_rate() const { return impl_->prober.miss_rate(); }

duration core::suspicion_min() const { return impl_->prober.suspicion_min(); }

bool core::joined() const { return impl_->join.joined(); }

const std::string& core::config_error() const { return impl_->config_error; }

std::size_t core::live_count() const { return impl_->table.live_count(); }

std::size_t core::unconfirmed_count() const {
  return impl_->table.unconfirmed_count();
}

std::size_t core::broadcast_queue() const { return impl_->ob.queued(); }

std::size_t core::table_bytes() const { return impl_->table.bytes(); }

} // namespace pekonode::membership
