#include "membership/membership_actor.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "common/text.h"
#include "transport/address.h"
#include "transport/resolver.h"

namespace pekonode::membership {

void membership_state::init(actor_config cfg,
                            transport::transport_actor transport,
                            transport::timer_actor timer) {
  cfg_ = std::move(cfg);
  transport_ = std::move(transport);
  core_ = std::make_unique<core>(cfg_.protocol, cfg_.name, cfg_.advertise,
                                 cfg_.tags, cfg_.seed, cfg_.incarnation);
  published_self_ = core_->self();
  timer_ = transport::deadline_reporter{
    std::move(timer), caf::actor_cast<transport::timer_client_actor>(self)};
  self->send(transport_, transport::tx_sub_atom_v, channel::membership,
             caf::actor_cast<transport::inbound_sink_actor>(self));
  self->set_down_handler(
    [this](const caf::down_msg& dm) { subscribers_.remove(dm); });
  outbound_list out;
  core_->poll(now(), out);
  flush(out);
}

void membership_state::flush(outbound_list& out) {
  if (!out.empty())
    self->send(transport_, transport::tx_send_atom_v, std::move(out));
  for (auto& ev : core_->drain_events()) {
    // Names and addresses came from the wire: the codec admits visible
    // ASCII only, and they are escaped here all the same, so no log line
    // ever carries a control character.
    if (ev.kind == event::name_conflict)
      LOG(WARNING) << cfg_.name << ": name conflict: " << escape(ev.m.name)
                   << " also claimed by " << escape(ev.m.addr);
    // Checked first: glog formats a message (its prefix too) before it
    // looks at the level, and a join storm makes N events per node.
    else if (ev.kind != event::updated && FLAGS_minloglevel <= google::GLOG_INFO)
      LOG(INFO) << cfg_.name << ": member " << escape(ev.m.name) << " ("
                << escape(ev.m.addr) << ") " << to_string(ev.kind)
                << " at incarnation " << ev.m.incarnation;
    subscribers_.send(self, m_event_atom_v, ev);
  }
  publish_self();
  report_deadline();
}

void membership_state::publish_self() {
  // The core reports changes of other members only; subscribers also get
  // this node's own, as for others: `updated` for new tags, `left`, and
  // `alive` after a rejoin (an incarnation bump alone is not a change).
  auto& me = core_->self();
  if (me.state == published_self_.state && me.tags == published_self_.tags)
    return;
  auto kind = me.state == member_state::left ? event::left
              : published_self_.state == member_state::left ? event::alive
                                                            : event::updated;
  published_self_ = me;
  subscribers_.send(self, m_event_atom_v, event{kind, me});
}

void membership_state::report_deadline() {
  // While a poll is on its way through the mailbox it will run what is due
  // and report again; while a wake-up is held, the next look at the
  // backlog is at hold_until_.
  if (poll_queued_)
    return;
  timer_.report(self, std::max(hold_until_, next_due()));
}

time_point membership_state::next_due() const {
  return std::min({core_->next_wakeup(), resolve_at_, dns_at_,
                   alone_check_at_});
}

void membership_state::on_wake() {
  timer_.woken();
  if (!cfg_.backlog) {
    run_timers();
    return;
  }
  if (poll_queued_)
    return;
  auto t = now();
  hold_until_ = time_point::min();
  auto due = next_due();
  if (due > t) { // early or stray: nothing to judge yet
    report_deadline();
    return;
  }
  auto oldest = cfg_.backlog->oldest();
  if (oldest < due && t - oldest < cfg_.max_hold) {
    // Datagrams that left the socket before the deadline still wait for
    // the transport actor: an ack among them answers a probe in time.
    // Look again after a quarter of how far behind the transport is
    // (1 to 50 ms), so a deep backlog costs few wake-ups.
    hold_until_ = t + std::clamp<duration>((t - oldest) / 4,
                                           std::chrono::milliseconds(1),
                                           std::chrono::milliseconds(50));
    report_deadline();
    return;
  }
  // Every datagram that left the socket before the deadline has been
  // passed on by the transport: its messages are in this mailbox, ahead of
  // a message sent now.
  poll_queued_ = true;
  poll_sent_ = t;
  // (A datagram that has waited max_hold says nothing about the pace.)
  lag_ = oldest < t && t - oldest < cfg_.max_hold ? t - oldest
                                                   : duration::zero();
  self->send(self, m_poll_atom_v);
}

void membership_state::run_timers() {
  auto t = now();
  hold_until_ = time_point::min();
  if (poll_queued_) {
    poll_queued_ = false;
    // Local health from queue delay: a node that is behind on its input by
    // `lag` (its transport's oldest datagram, or the time this poll took
    // through the mailbox) runs its timers at most once per lag. Its
    // probes, gossip rounds and suspicion checks slow down with it, so
    // the load all nodes of a saturated process offer falls until their
    // queues drain, and a node that is behind judges no one in a hurry.
    auto lag = std::max(lag_, t - poll_sent_);
    lag_ = std::min(lag, cfg_.max_hold);
    if (lag_ >= std::chrono::milliseconds(1))
      hold_until_ = t + lag_;
    // The ping waits in the target's queues and its ack in ours: in one
    // process (or under one overload) they are alike. Not capped at
    // max_hold: a node starved for longer must not accuse anyone either
    // (at most a minute).
    core_->set_local_lag(std::min<duration>(2 * lag, std::chrono::minutes(1)));
  }
  outbound_list out;
  core_->poll(t, out);
  if (resolve_at_ <= t) {
    resolve_at_ = time_point::max();
    start_lookup();
  }
  if (dns_at_ <= t)
    start_dns_lookup();
  check_alone(t);
  flush(out);
}

void membership_state::join(const seed_list& seeds) {
  std::vector<address> literals;
  for (auto& s : seeds.seeds) {
    if (s.compare(0, 4, "dns:") == 0) {
      auto name = s.substr(4);
      if (auto hp = transport::parse_host_port(name)) {
        dns_.emplace(name, transport::resolution{name, {}, "not looked up yet"});
        dns_at_ = now();
      } else {
        LOG(WARNING) << cfg_.name << ": ignoring seed " << quote(s)
                     << ": " << hp.message;
      }
    } else if (auto lit = transport::canonicalize(s)) {
      literals.push_back(*lit);
    } else if (auto hp = transport::parse_host_port(s)) {
      unresolved_.insert(s);
    } else {
      LOG(WARNING) << cfg_.name << ": ignoring seed " << quote(s) << ": "
                   << hp.message;
    }
  }
  if (!seeds.seeds.empty()) {
    seeds_text_.clear();
    for (auto& s : seeds.seeds)
      seeds_text_ += (seeds_text_.empty() ? "" : ", ") + escape(s, 128);
    alone_check_at_ = now() + cfg_.alone_warning;
  }
  outbound_list out;
  core_->join(literals, now(), out);
  flush(out);
  start_lookup();
}

void membership_state::check_alone(time_point t) {
  if (alone_check_at_ > t)
    return;
  if (core_->live_count() > 1) {
    alone_check_at_ = time_point::max();
    return;
  }
  auto waited = std::chrono::duration_cast<std::chrono::seconds>(
    cfg_.alone_warning);
  LOG(WARNING) << cfg_.name << ": no other member answered " << waited.count()
               << "s or more after joining through " << seeds_text_
               << ": the seeds may be down or unreachable (address, port, "
                  "firewall), or run with another gossip key (--keyring_file) "
                  "or --label, which they then log as auth_failed or "
                  "wrong_label; retrying";
  alone_check_at_ = t + 3 * cfg_.alone_warning;
}

void membership_state::start_lookup() {
  if (resolving_ || unresolved_.empty())
    return;
  resolving_ = true;
  resolve_at_ = time_point::max();
  transport::resolutions names;
  for (auto& s : unresolved_)
    names.push_back(transport::resolution{s, {}, {}});
  self
    ->request(resolver(), cfg_.resolve_timeout, transport::tx_resolve_atom_v,
              std::move(names))
    .then([this](transport::resolutions& rs) { on_lookup(rs); },
          [this](caf::error& err) {
            resolving_ = false;
            LOG(WARNING) << cfg_.name << ": seed lookup failed ("
                         << caf::to_string(err) << "), retrying in "
                         << std::chrono::duration_cast<seconds>(
                              cfg_.protocol.reconnect_interval)
                              .count()
                         << " s";
            resolve_at_ = now() + cfg_.protocol.reconnect_interval;
            report_deadline();
          });
}

void membership_state::on_lookup(transport::resolutions& rs) {
  resolving_ = false;
  std::vector<address> found;
  for (auto& r : rs) {
    if (r.addrs.empty()) {
      LOG_EVERY_N(WARNING, 10) << cfg_.name << ": seed " << escape(r.name)
                               << " does not resolve (retrying): " << r.error;
      continue;
    }
    unresolved_.erase(r.name);
    found.push_back(r.addrs.front());
  }
  if (!unresolved_.empty())
    resolve_at_ = now() + cfg_.protocol.reconnect_interval;
  outbound_list out;
  if (!found.empty())
    core_->join(found, now(), out);
  flush(out);
}

transport::resolver_actor membership_state::resolver() {
  if (!cfg_.resolver)
    cfg_.resolver = transport::spawn_linked_resolver(self);
  return cfg_.resolver;
}

void membership_state::start_dns_lookup() {
  dns_at_ = time_point::max();
  if (dns_resolving_ || dns_.empty())
    return;
  dns_resolving_ = true;
  transport::resolutions names;
  for (auto& [name, _] : dns_)
    names.push_back(transport::resolution{name, {}, {}});
  self
    ->request(resolver(), cfg_.resolve_timeout, transport::tx_resolve_atom_v,
              std::move(names))
    .then([this](transport::resolutions& rs) { on_dns_lookup(rs); },
          [this](caf::error& err) {
            dns_resolving_ = false;
            LOG_EVERY_N(WARNING, 10) << cfg_.name << ": DNS discovery lookup "
                                     << "failed (" << caf::to_string(err)
                                     << "), retrying";
            dns_at_ = now() + cfg_.dns_refresh;
            report_deadline();
          });
}

void membership_state::on_dns_lookup(transport::resolutions& rs) {
  dns_resolving_ = false;
  std::vector<address> found;
  for (auto& r : rs) {
    auto it = dns_.find(r.name);
    if (it == dns_.end())
      continue;
    if (r.addrs.empty()) {
      LOG_EVERY_N(WARNING, 10) << cfg_.name << ": DNS discovery: dns:"
                               << r.name << " has no address (" << r.error
                               << "), looking again in "
                               << std::chrono::duration_cast<seconds>(
                                    cfg_.dns_refresh).count() << " s";
    } else if (it->second.addrs != r.addrs) {
      LOG(INFO) << cfg_.name << ": DNS discovery: dns:" << r.name
                << " resolves to " << r.addrs.size() << " address(es)";
    }
    found.insert(found.end(), r.addrs.begin(), r.addrs.end());
    it->second = std::move(r);
  }
  dns_at_ = now() + cfg_.dns_refresh;
  outbound_list out;
  core_->discover(found, now(), out);
  flush(out);
}

membership_actor::behavior_type membership_state::make_behavior() {
  return {
    [this](const transport::inbound& in) {
      outbound_list out;
      core_->handle(in.from, in.payload, in.received, out);
      flush(out);
    },
    [this](transport::tm_wake_atom) { on_wake(); },
    [this](m_poll_atom) { run_timers(); },
    [this](m_join_atom, const seed_list& seeds) { join(seeds); },
    [this](m_leave_atom) {
      outbound_list out;
      core_->leave(now(), out);
      flush(out);
    },
    [this](m_rejoin_atom) -> caf::result<void> {
      outbound_list out;
      auto err = core_->rejoin(now(), out);
      flush(out);
      if (err != ec::none)
        return caf::make_error(err);
      return caf::unit;
    },
    [this](m_tags_atom, tag_set& tags) -> caf::result<void> {
      outbound_list out;
      auto err = core_->set_tags(std::move(tags.tags), now(), out);
      flush(out);
      if (err != ec::none)
        return caf::make_error(err);
      return caf::unit;
    },
    [this](m_fleave_atom, const std::string& name) -> caf::result<void> {
      outbound_list out;
      auto err = core_->force_leave(name, now(), out);
      flush(out);
      if (err != ec::none)
        return caf::make_error(err, name);
      LOG(INFO) << core_->self().name << ": forced member " << escape(name)
                << " to leave";
      return caf::unit;
    },
    [this](m_members_atom) { return core_->members(); },
    [this](m_self_atom) { return core_->self(); },
    [this](m_stats_atom) -> caf::result<core_stats, int32_t> {
      auto s = core_->stats();
      s.broadcast_queue = core_->broadcast_queue();
      s.unconfirmed = core_->unconfirmed_count();
      auto us = [](duration d) {
        return static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(d).count());
      };
      s.rtt_srtt_us = us(core_->rtt_srtt());
      s.rtt_var_us = us(core_->rtt_var());
      s.probe_timeout_us = us(core_->probe_timeout());
      s.probe_miss_ppm = static_cast<uint64_t>(core_->probe_miss_rate() * 1e6);
      s.suspicion_min_us = us(core_->suspicion_min());
      return {std::move(s), int32_t{core_->health_score()}};
    },
    [this](m_dns_atom) {
      dns_report r;
      for (auto& [name, res] : dns_) {
        r.names.push_back(name);
        r.addresses.push_back(res.addrs.size());
        r.errors.push_back(res.addrs.empty() ? res.error : std::string{});
      }
      return r;
    },
    [this](m_sub_atom, member_listener_actor who) {
      if (!who)
        return;
      for (auto& m : core_->members())
        self->send(who, m_event_atom_v, event{event::joined, m});
      subscribers_.add(self, std::move(who));
    },
  };
}

membership_actor::behavior_type
membership_behavior(membership_actor::stateful_pointer<membership_state> self,
                    actor_config cfg, transport::transport_actor transport,
                    transport::timer_actor timer) {
  self->state.init(std::move(cfg), std::move(transport), std::move(timer));
  return self->state.make_behavior();
}

membership_actor spawn_membership(caf::actor_system& sys, actor_config cfg,
                                  transport::transport_actor transport,
                                  transport::timer_actor timer) {
  return sys.spawn(membership_behavior, std::move(cfg), std::move(transport),
                   std::move(timer));
}

} // namespace pekonode::membership
