#include "metadata/metadata_actor.h"

#include <glog/logging.h>

#include <deque>
#include <map>
#include <utility>

#include "common/core_timer.h"
#include "common/subscribers.h"
#include "membership/membership_actor.h"
#include "transport/transport.h"

namespace pekonode::metadata {

std::string to_string(const version& v) {
  return std::to_string(hlc_physical(v.hlc)) + "."
         + std::to_string(hlc_logical(v.hlc)) + "@" + v.origin;
}

std::string describe(const caf::error& err) {
  if (err.category() == caf::atom("metadata")) {
    auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      return ctx.get_as<std::string>(0);
  }
  return caf::to_string(err);
}

namespace {

caf::error make_error(ec code, std::string what) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("metadata"),
                    caf::make_message(std::move(what))};
}

uint64_t system_wall_ms() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

std::string hex(uint64_t x) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, x >>= 4)
    s[i] = digits[x & 0xf];
  return s;
}

struct metadata_state {
  caf::event_based_actor* self;
  std::unique_ptr<core> core_;
  caf::actor transport_;
  core_timer timer_;
  actor_config cfg_;
  std::deque<kv_change> log_;
  uint64_t next_index_ = 1;
  subscribers subscribers_;

  explicit metadata_state(caf::event_based_actor* ptr) : self(ptr) {}

  time_point now() const { return self->clock().now(); }
  uint64_t wall() const { return cfg_.wall_ms(); }

  void flush(outbound_list& out) {
    if (!out.empty())
      self->send(transport_, transport::tx_send_atom::value, std::move(out));
    for (auto& ev : core_->drain_events()) {
      kv_change ch;
      ch.index = next_index_++;
      ch.key = std::move(ev.key);
      ch.deleted = ev.value.tombstone;
      ch.version = to_string(ev.value.ver);
      ch.origin = ev.value.ver.origin;
      ch.local = ev.origin == change_origin::local;
      VLOG(1) << cfg_.node_id << ": key " << ch.key
              << (ch.deleted ? " deleted" : " set") << " at " << ch.version;
      subscribers_.send(self, md_event_atom::value, ch);
      log_.push_back(std::move(ch));
      if (log_.size() > cfg_.change_log)
        log_.pop_front();
    }
    timer_.arm(self, core_->next_wakeup(), md_wake_atom::value);
  }

  void on_member(const membership::event& ev) {
    const auto& m = ev.m;
    // A name conflict carries the other claimant, not a change of the view.
    if (m.name == cfg_.node_id || ev.kind == membership::event::name_conflict)
      return;
    bool live = m.state == membership::member_state::alive
                || m.state == membership::member_state::suspect;
    // A peer that just appeared may be behind: let anti-entropy run soon.
    if (core_->member_changed(m.name, m.addr, live))
      timer_.arm(self, core_->next_wakeup(), md_wake_atom::value);
  }

  caf::result<std::string> reply(const write_result& r,
                                 const std::string& key) {
    if (r.code != ec::ok)
      return make_error(r.code, std::string{to_string(r.code)} + ": key '"
                                  + key + "'");
    return to_string(r.ver);
  }

  caf::behavior make_behavior() {
    return {
      [this](const transport::inbound& in) {
        outbound_list out;
        core_->handle(in.from, in.payload, wall(), in.received, out);
        flush(out);
      },
      [this](md_wake_atom, int64_t due) {
        if (!timer_.fire(due))
          return;
        outbound_list out;
        core_->poll(wall(), now(), out);
        flush(out);
      },
      [this](membership::m_event_atom, const membership::event& ev) {
        on_member(ev);
      },
      [this](md_put_atom, const std::string& key,
             std::string& value) -> caf::result<std::string> {
        outbound_list out;
        auto size = value.size();
        auto r = core_->put(key, std::move(value), wall(), now(), out);
        flush(out);
        if (r.code == ec::value_too_large)
          return make_error(r.code, "value_too_large: value is "
                                      + std::to_string(size)
                                      + " bytes, limit "
                                      + std::to_string(
                                        core_->cfg().limits.max_value_bytes));
        return reply(r, key);
      },
      [this](md_del_atom, const std::string& key) -> caf::result<std::string> {
        outbound_list out;
        auto r = core_->del(key, wall(), now(), out);
        flush(out);
        return reply(r, key);
      },
      [this](md_get_atom, const std::string& key) {
        std::vector<std::string> result;
        if (auto e = core_->get(key))
          result.push_back(e->value);
        return result;
      },
      [this](md_list_atom) {
        std::vector<kv_item> result;
        for (auto& [key, e] : core_->list()) {
          kv_item it;
          it.key = key;
          it.version = to_string(e->ver);
          it.origin = e->ver.origin;
          it.size = e->value.size();
          it.updated_ms = hlc_physical(e->ver.hlc);
          result.push_back(std::move(it));
        }
        return result;
      },
      [this](md_changes_atom, uint64_t after) {
        std::vector<kv_change> result;
        for (auto& ch : log_) {
          if (ch.index > after) {
            result.push_back(ch);
            if (result.size() >= 1024)
              break;
          }
        }
        return caf::make_message(std::move(result), next_index_ - 1);
      },
      [this](md_sub_atom, caf::actor who) {
        subscribers_.add(self, std::move(who));
      },
      [this](md_digest_atom) {
        auto d = core_->digest();
        return std::to_string(d.count) + ":" + hex(d.hash.hi) + hex(d.hash.lo);
      },
      [this](md_stats_atom) { return core_->get_stats(); },
    };
  }
};

} // namespace

caf::actor spawn_metadata(caf::actor_system& sys, actor_config cfg,
                          caf::actor transport, caf::actor membership) {
  if (!cfg.wall_ms)
    cfg.wall_ms = system_wall_ms;
  return sys.spawn([cfg = std::move(cfg), transport, membership](
                     caf::stateful_actor<metadata_state>* self) mutable {
    auto& st = self->state;
    st.transport_ = transport;
    st.core_ = std::make_unique<core>(cfg.protocol, cfg.node_id, cfg.seed);
    st.cfg_ = std::move(cfg);
    self->send(transport, transport::tx_sub_atom::value, channel::metadata,
               caf::actor_cast<caf::actor>(self));
    self->send(membership, membership::m_sub_atom::value,
               caf::actor_cast<caf::actor>(self));
    self->set_down_handler(
      [self](const caf::down_msg& dm) { self->state.subscribers_.remove(dm); });
    outbound_list out;
    st.core_->poll(st.wall(), st.now(), out);
    st.flush(out);
    return st.make_behavior();
  });
}

} // namespace pekonode::metadata
