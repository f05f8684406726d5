#include "transport/timer.h"

#include <algorithm>
#include <random>
#include <unordered_map>

namespace pekonode::transport {

namespace {

using tm_fire_atom = caf::atom_constant<caf::atom("tm_fire")>;

struct schedule {
  caf::actor target;
  caf::message tick;
  caf::timespan period{0};
  double jitter = 0.0;
  bool periodic = false;
  bool missed = false; // came due while held
};

struct timer_state {
  caf::stateful_actor<timer_state>* self;
  std::mt19937_64 rng;
  std::unordered_map<uint64_t, schedule> schedules;
  uint64_t next_id = 1;
  bool held = false;

  explicit timer_state(caf::stateful_actor<timer_state>* ptr) : self(ptr) {}

  caf::timespan interval(const schedule& s) {
    if (s.jitter <= 0.0)
      return s.period;
    std::uniform_real_distribution<double> u{1.0 - s.jitter, 1.0 + s.jitter};
    auto ns = static_cast<int64_t>(static_cast<double>(s.period.count()) * u(rng));
    return caf::timespan{std::max<int64_t>(ns, 1)};
  }

  void arm(uint64_t id, caf::timespan delay) {
    self->delayed_send(self, delay, tm_fire_atom::value, id);
  }

  uint64_t add(schedule s, caf::timespan first) {
    auto id = next_id++;
    self->monitor(s.target);
    schedules.emplace(id, std::move(s));
    arm(id, first);
    return id;
  }

  void fire(uint64_t id) {
    auto i = schedules.find(id);
    if (i == schedules.end())
      return; // cancelled; its last delayed message is ignored
    auto& s = i->second;
    if (held) {
      s.missed = true;
      if (!s.periodic)
        return; // stays until released
    } else {
      self->send(s.target, s.tick);
    }
    if (s.periodic)
      arm(id, interval(s));
    else if (!held)
      schedules.erase(i);
  }

  void release() {
    held = false;
    for (auto i = schedules.begin(); i != schedules.end();) {
      if (!i->second.missed) {
        ++i;
        continue;
      }
      i->second.missed = false;
      self->send(i->second.target, i->second.tick);
      if (i->second.periodic)
        ++i;
      else
        i = schedules.erase(i);
    }
  }

  caf::behavior make_behavior() {
    self->set_down_handler([this](const caf::down_msg& msg) {
      for (auto i = schedules.begin(); i != schedules.end();) {
        if (i->second.target.address() == msg.source)
          i = schedules.erase(i);
        else
          ++i;
      }
    });
    return {
      [this](tm_every_atom, caf::actor target, caf::message tick,
             caf::timespan period, double jitter) -> caf::result<uint64_t> {
        if (period.count() <= 0 || !target)
          return caf::sec::invalid_argument;
        schedule s{std::move(target), std::move(tick), period,
                   std::clamp(jitter, 0.0, 0.9), true, false};
        auto first = interval(s);
        return add(std::move(s), first);
      },
      [this](tm_once_atom, caf::actor target, caf::message tick,
             caf::timespan delay) -> caf::result<uint64_t> {
        if (!target)
          return caf::sec::invalid_argument;
        schedule s{std::move(target), std::move(tick), delay, 0.0, false, false};
        return add(std::move(s), std::max(delay, caf::timespan{0}));
      },
      [this](tm_cancel_atom, uint64_t id) { schedules.erase(id); },
      [this](tm_cancel_atom, const caf::actor& target) {
        for (auto i = schedules.begin(); i != schedules.end();) {
          if (i->second.target == target)
            i = schedules.erase(i);
          else
            ++i;
        }
      },
      [this](tm_hold_atom, bool on) {
        if (on)
          held = true;
        else if (held)
          release();
      },
      [this](tm_count_atom) -> uint64_t { return schedules.size(); },
      [this](tm_fire_atom, uint64_t id) { fire(id); },
    };
  }
};

} // namespace

caf::actor make_timer(caf::actor_system& sys, timer_config cfg) {
  return sys.spawn([cfg](caf::stateful_actor<timer_state>* self) {
    self->state.rng.seed(cfg.seed);
    return self->state.make_behavior();
  });
}

} // namespace pekonode::transport
