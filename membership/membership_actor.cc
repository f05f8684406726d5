#include "membership/membership_actor.h"

#include <glog/logging.h>

#include <set>
#include <utility>

#include "common/core_timer.h"
#include "common/text.h"
#include "common/subscribers.h"
#include "transport/address.h"
#include "transport/transport.h"

namespace pekonode::membership {

namespace {

using m_resolve_atom = caf::atom_constant<caf::atom("m_resolve")>;

caf::error make_error(ec code) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("membership"),
                    caf::make_message(std::string{to_string(code)})};
}

struct membership_state {
  caf::event_based_actor* self;
  std::unique_ptr<core> core_;
  caf::actor transport_;
  core_timer timer_;
  subscribers subscribers_;
  std::set<std::string> unresolved_seeds_;
  duration resolve_retry_ = seconds(5);
  std::string name_;
  member published_self_; // this node's entry as subscribers last saw it

  explicit membership_state(caf::event_based_actor* ptr) : self(ptr) {}

  time_point now() const { return self->clock().now(); }

  /// Sends what the core emitted, publishes its events, re-arms the timer.
  void flush(outbound_list& out) {
    if (!out.empty())
      self->send(transport_, transport::tx_send_atom::value, std::move(out));
    for (auto& ev : core_->drain_events()) {
      // Names and addresses came from the wire: the codec admits visible
      // ASCII only, and they are escaped here all the same, so no log line
      // ever carries a control character.
      if (ev.kind == event::name_conflict)
        LOG(WARNING) << name_ << ": name conflict: " << escape(ev.m.name)
                     << " also claimed by " << escape(ev.m.addr);
      else if (ev.kind != event::updated)
        LOG(INFO) << name_ << ": member " << escape(ev.m.name) << " ("
                  << escape(ev.m.addr) << ") " << to_string(ev.kind)
                  << " at incarnation " << ev.m.incarnation;
      subscribers_.send(self, m_event_atom::value, ev);
    }
    publish_self();
    timer_.arm(self, core_->next_wakeup(), m_wake_atom::value);
  }

  /// The core reports changes of other members only; subscribers also get
  /// this node's own, as for others: `updated` for new tags, `left`, and
  /// `alive` after a rejoin (an incarnation bump alone is not a change).
  void publish_self() {
    auto& me = core_->self();
    if (me.state == published_self_.state && me.tags == published_self_.tags)
      return;
    auto kind = me.state == member_state::left ? event::left
                : published_self_.state == member_state::left ? event::alive
                                                              : event::updated;
    published_self_ = me;
    subscribers_.send(self, m_event_atom::value, event{kind, me});
  }

  /// Resolves seed names; the ones that fail are kept and retried.
  std::vector<address> resolve_seeds(const std::vector<std::string>& seeds) {
    std::vector<address> result;
    for (auto& s : seeds) {
      auto r = transport::resolve(s);
      if (!r || r->empty()) {
        LOG_EVERY_N(WARNING, 10) << name_ << ": seed " << escape(s)
                                 << " does not resolve (retrying): "
                                 << r.message;
        unresolved_seeds_.insert(s);
        continue;
      }
      unresolved_seeds_.erase(s);
      result.push_back(transport::to_address(r->front()));
    }
    if (!unresolved_seeds_.empty())
      self->delayed_send(self, resolve_retry_, m_resolve_atom::value);
    return result;
  }

  caf::behavior make_behavior() {
    return {
      [this](const transport::inbound& in) {
        outbound_list out;
        core_->handle(in.from, in.payload, in.received, out);
        flush(out);
      },
      [this](m_wake_atom, int64_t due) {
        if (!timer_.fire(due))
          return;
        outbound_list out;
        core_->poll(now(), out);
        flush(out);
      },
      [this](m_join_atom, const std::vector<std::string>& seeds) {
        outbound_list out;
        core_->join(resolve_seeds(seeds), now(), out);
        flush(out);
        return true;
      },
      [this](m_resolve_atom) {
        if (unresolved_seeds_.empty())
          return;
        std::vector<std::string> pending(unresolved_seeds_.begin(),
                                         unresolved_seeds_.end());
        auto found = resolve_seeds(pending);
        if (found.empty())
          return;
        outbound_list out;
        core_->join(found, now(), out);
        flush(out);
      },
      [this](m_leave_atom) {
        outbound_list out;
        core_->leave(now(), out);
        flush(out);
        return true;
      },
      [this](m_rejoin_atom) -> caf::result<bool> {
        outbound_list out;
        auto err = core_->rejoin(now(), out);
        flush(out);
        if (err != ec::none)
          return make_error(err);
        return true;
      },
      [this](m_tags_atom,
             std::map<std::string, std::string>& tags) -> caf::result<bool> {
        outbound_list out;
        auto err = core_->set_tags(std::move(tags), now(), out);
        flush(out);
        if (err != ec::none)
          return make_error(err);
        return true;
      },
      [this](m_members_atom) { return core_->members(); },
      [this](m_self_atom) { return core_->self(); },
      [this](m_stats_atom) {
        return caf::make_message(core_->stats(), core_->health_score());
      },
      [this](m_sub_atom, caf::actor who) {
        for (auto& m : core_->members())
          self->send(who, m_event_atom::value, event{event::joined, m});
        subscribers_.add(self, std::move(who));
      },
    };
  }
};

} // namespace

caf::actor spawn_membership(caf::actor_system& sys, actor_config cfg,
                            caf::actor transport) {
  return sys.spawn([cfg = std::move(cfg), transport](
                     caf::stateful_actor<membership_state>* self) mutable {
    auto& st = self->state;
    st.name_ = cfg.name;
    st.transport_ = transport;
    st.resolve_retry_ = cfg.protocol.reconnect_interval;
    st.core_ = std::make_unique<core>(cfg.protocol, cfg.name, cfg.advertise,
                                      cfg.tags, cfg.seed);
    st.published_self_ = st.core_->self();
    self->send(transport, transport::tx_sub_atom::value, channel::membership,
               caf::actor_cast<caf::actor>(self));
    self->set_down_handler(
      [self](const caf::down_msg& dm) { self->state.subscribers_.remove(dm); });
    outbound_list out;
    st.core_->poll(st.now(), out);
    st.flush(out);
    return st.make_behavior();
  });
}

} // namespace pekonode::membership
