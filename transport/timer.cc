#include "transport/timer.h"

#include <utility>

namespace pekonode::transport {

void timer_state::set_deadline(const deadline& d) {
  if (!d.client)
    return;
  auto addr = d.client.address();
  auto i = clients.find(addr);
  if (i == clients.end()) {
    if (d.at == time_point::max())
      return; // nothing to forget, nothing to do
    client c;
    c.addr = addr;
    c.id = next_id++;
    self->monitor(d.client);
    by_id.emplace(c.id, addr);
    i = clients.emplace(addr, std::move(c)).first;
  }
  auto& c = i->second;
  c.due = d.at;
  if (d.at == time_point::max()) {
    c.owed = false; // the client has nothing due any more
    return;
  }
  auto now = self->clock().now();
  if (d.at <= now)
    wake(c);
  else if (d.at < c.armed)
    arm(c, d.at);
  // Otherwise the pending timeout comes first and re-arms for `due`.
}

void timer_state::arm(client& c, time_point at) {
  c.armed = at;
  ++c.generation;
  auto now = self->clock().now();
  self->delayed_send(self, at > now ? at - now : duration::zero(),
                     tm_fire_atom_v, c.id, c.generation);
}

void timer_state::fire(uint64_t id, uint64_t generation) {
  auto j = by_id.find(id);
  if (j == by_id.end())
    return; // the client terminated
  auto& c = clients.at(j->second);
  if (generation != c.generation || c.armed == time_point::max())
    return; // superseded by an earlier deadline (CAF 0.17 cannot cancel)
  c.armed = time_point::max();
  if (c.due == time_point::max())
    return;
  if (c.due <= self->clock().now())
    wake(c);
  else
    arm(c, c.due);
}

void timer_state::wake(client& c) {
  c.due = time_point::max();
  if (held) {
    c.owed = true;
    return;
  }
  auto hdl = caf::actor_cast<timer_client_actor>(c.addr);
  if (!hdl)
    return; // terminating; its down message follows
  ++wakes;
  self->send(hdl, tm_wake_atom_v);
}

void timer_state::hold(bool on) {
  if (on) {
    held = true;
    return;
  }
  if (!held)
    return;
  held = false;
  for (auto& [id, addr] : by_id) { // in client order: deterministic
    auto& c = clients.at(addr);
    if (c.owed) {
      c.owed = false;
      wake(c);
    }
  }
}

void timer_state::forget(const caf::actor_addr& who) {
  auto i = clients.find(who);
  if (i == clients.end())
    return;
  by_id.erase(i->second.id);
  clients.erase(i);
}

timer_stats timer_state::snapshot() const {
  timer_stats st;
  for (auto& [addr, c] : clients) {
    if (c.due != time_point::max() || c.owed)
      ++st.clients;
    if (c.armed != time_point::max())
      ++st.armed;
  }
  st.wakes = wakes;
  st.held = held;
  return st;
}

timer_impl_actor::behavior_type timer_state::make_behavior() {
  self->set_down_handler(
    [this](const caf::down_msg& dm) { forget(dm.source); });
  return {
    [this](tm_due_atom, const deadline& d) { set_deadline(d); },
    [this](tm_hold_atom, bool on) { hold(on); },
    [this](tm_stats_atom) { return snapshot(); },
    [this](tm_fire_atom, uint64_t id, uint64_t generation) {
      fire(id, generation);
    },
  };
}

timer_impl_actor::behavior_type
timer_behavior(timer_impl_actor::stateful_pointer<timer_state> self) {
  return self->state.make_behavior();
}

timer_actor make_timer(caf::actor_system& sys) {
  return sys.spawn(timer_behavior);
}

} // namespace pekonode::transport
