#include "userevents/userevents_actor.h"

#include <glog/logging.h>

#include <utility>

#include "common/text.h"

namespace pekonode::userevents {

void userevents_state::init(actor_config cfg,
                            transport::transport_actor transport,
                            transport::timer_actor timer) {
  cfg_ = std::move(cfg);
  transport_ = std::move(transport);
  core_ = std::make_unique<core>(cfg_.protocol, cfg_.name, cfg_.advertise,
                                 cfg_.seed);
  timer_ = transport::deadline_reporter{
    std::move(timer), caf::actor_cast<transport::timer_client_actor>(self)};
  self->send(transport_, transport::tx_sub_atom_v, channel::user_events,
             caf::actor_cast<transport::inbound_sink_actor>(self));
  self->set_down_handler([this](const caf::down_msg& dm) {
    subscribers_.remove(dm);
    if (responder_ && responder_.address() == dm.source) {
      responder_ = nullptr;
      core_->set_responder(false);
    }
    for (auto i = internal_.begin(); i != internal_.end();) {
      if (i->second.address() == dm.source) {
        core_->set_internal_responder(i->first, false);
        i = internal_.erase(i);
      } else {
        ++i;
      }
    }
  });
  outbound_list out;
  core_->poll(now(), out);
  flush(out);
}

void userevents_state::ask(const query_responder_actor& who,
                           const user_event& ev, time_point answer_by) {
  auto remaining = answer_by - now();
  if (remaining <= duration::zero()) {
    core_->decline(ev.origin, ev.id);
    return;
  }
  self->request(who, remaining, ue_answer_atom_v, ev)
    .then(
      [this, origin = ev.origin, id = ev.id](std::string& payload) {
        outbound_list out;
        if (payload.size() > max_response_bytes) {
          LOG_EVERY_N(WARNING, 100)
            << cfg_.name << ": response to query from " << escape(origin)
            << " is " << payload.size() << " bytes, limit "
            << max_response_bytes << ": not sent";
        }
        core_->respond(origin, id, payload, now(), out);
        flush(out);
      },
      [this, origin = ev.origin, id = ev.id](caf::error&) {
        core_->decline(origin, id);
      });
}

void userevents_state::flush(outbound_list& out) {
  if (!out.empty())
    self->send(transport_, transport::tx_send_atom_v, std::move(out));
  for (auto& d : core_->drain_deliveries()) {
    VLOG(1) << cfg_.name << ": " << to_string(d.ev.kind) << " event "
            << escape(d.ev.name) << " from " << escape(d.ev.origin);
    const query_responder_actor* who = &responder_;
    if (reserved_name(d.ev.name)) {
      // pekonode's own queries: their payload may hold a key; they go to
      // their internal responder alone.
      auto i = internal_.find(d.ev.name);
      who = i == internal_.end() ? nullptr : &i->second;
    } else {
      subscribers_.send(self, ue_deliver_atom_v, d.ev);
    }
    if (d.ask_responder) {
      if (who && *who)
        ask(*who, d.ev, d.answer_by);
      else
        core_->decline(d.ev.origin, d.ev.id);
    }
  }
  for (auto& r : core_->drain_finished()) {
    auto i = waiting_.find(r.id);
    if (i == waiting_.end())
      continue;
    i->second.deliver(std::move(r));
    waiting_.erase(i);
  }
  timer_.report(self, core_->next_wakeup());
}

userevents_actor::behavior_type userevents_state::make_behavior() {
  return {
    [this](ue_pub_atom, const std::string& name, const std::string& payload,
           bool coalesce) -> caf::result<user_event> {
      outbound_list out;
      user_event raised;
      auto e = core_->publish(name, payload, coalesce, now(), out, &raised);
      flush(out);
      if (e != ec::none)
        return caf::make_error(e, std::string{to_string(e)});
      return raised;
    },
    [this](ue_query_atom, const query_params& q) -> caf::result<query_result> {
      outbound_list out;
      uint64_t id = 0;
      std::string why;
      auto e = core_->start_query(q, now(), out, id, why);
      if (e != ec::none) {
        flush(out);
        return caf::make_error(e, why.empty() ? std::string{to_string(e)}
                                              : why);
      }
      auto rp = self->make_response_promise<query_result>();
      waiting_.emplace(id, rp);
      flush(out);
      return rp;
    },
    [this](ue_sub_atom, event_listener_actor who) {
      subscribers_.add(self, std::move(who));
    },
    [this](ue_resp_atom, query_responder_actor who) {
      if (!who)
        return;
      self->monitor(who);
      responder_ = std::move(who);
      core_->set_responder(true);
    },
    [this](ue_resp_atom, const std::string& name, query_responder_actor who) {
      if (!who || !reserved_name(name) || !valid_name(name))
        return;
      self->monitor(who);
      internal_[name] = std::move(who);
      core_->set_internal_responder(name, true);
    },
    [this](ue_stats_atom) { return core_->counters(); },
    [this](membership::m_event_atom, const membership::event& ev) {
      if (ev.kind == membership::event::name_conflict)
        return;
      bool live = ev.m.state == membership::member_state::alive
                  || ev.m.state == membership::member_state::suspect;
      core_->set_member(ev.m.name, ev.m.addr, live, ev.m.tags.to_map());
      if (ev.m.name == cfg_.name)
        core_->set_running(ev.m.state != membership::member_state::left);
      timer_.report(self, core_->next_wakeup());
    },
    [this](const transport::inbound& in) {
      outbound_list out;
      core_->handle(in.from, in.sender, in.payload, in.received, out);
      flush(out);
    },
    [this](transport::tm_wake_atom) {
      timer_.woken();
      outbound_list out;
      core_->poll(now(), out);
      flush(out);
    },
  };
}

userevents_actor::behavior_type
userevents_behavior(userevents_actor::stateful_pointer<userevents_state> self,
                    actor_config cfg, transport::transport_actor transport,
                    transport::timer_actor timer) {
  self->state.init(std::move(cfg), std::move(transport), std::move(timer));
  return self->state.make_behavior();
}

userevents_actor spawn_userevents(caf::actor_system& sys, actor_config cfg,
                                  transport::transport_actor transport,
                                  transport::timer_actor timer) {
  return sys.spawn(userevents_behavior, std::move(cfg), std::move(transport),
                   std::move(timer));
}

} // namespace pekonode::userevents
