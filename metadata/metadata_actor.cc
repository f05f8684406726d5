#include "metadata/metadata_actor.h"

#include <glog/logging.h>

#include <utility>

namespace pekonode::metadata {

std::string to_string(const version& v) {
  return std::to_string(hlc_physical(v.hlc)) + "."
         + std::to_string(hlc_logical(v.hlc)) + "@" + v.origin;
}

std::string describe_context(const caf::message& ctx) {
  if (ctx.match_elements<std::string, uint64_t, uint64_t>())
    return "key '" + ctx.get_as<std::string>(0) + "' is "
           + std::to_string(ctx.get_as<uint64_t>(1)) + " bytes, limit "
           + std::to_string(ctx.get_as<uint64_t>(2));
  if (ctx.match_elements<std::string>())
    return "key '" + ctx.get_as<std::string>(0) + "'";
  return compat::render_context(ctx);
}

std::string describe(const caf::error& err) {
  auto code = compat::error_code<ec>(err);
  if (!code)
    return {};
  std::string out = to_string(*code);
  if (auto ctx = describe_context(err.context()); !ctx.empty())
    out += ": " + ctx;
  return out;
}

namespace {

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

} // namespace

void metadata_state::init(actor_config cfg,
                          transport::transport_actor transport,
                          transport::timer_actor timer) {
  if (!cfg.wall_ms)
    cfg.wall_ms = system_wall_ms;
  cfg_ = std::move(cfg);
  transport_ = std::move(transport);
  core_ = std::make_unique<core>(cfg_.protocol, cfg_.node_id, cfg_.seed);
  timer_ = transport::deadline_reporter{
    std::move(timer), caf::actor_cast<transport::timer_client_actor>(self)};
  self->send(transport_, transport::tx_sub_atom_v, channel::metadata,
             caf::actor_cast<transport::inbound_sink_actor>(self));
  self->set_down_handler(
    [this](const caf::down_msg& dm) { subscribers_.remove(dm); });
  outbound_list out;
  core_->poll(wall(), now(), out);
  flush(out);
}

void metadata_state::flush(outbound_list& out) {
  if (!out.empty())
    self->send(transport_, transport::tx_send_atom_v, std::move(out));
  for (auto& ev : core_->drain_events()) {
    kv_change ch;
    ch.index = next_index_++;
    ch.key = std::move(ev.key);
    ch.deleted = ev.value.tombstone;
    ch.ver = std::move(ev.value.ver);
    ch.local = ev.origin == change_origin::local;
    ch.size = ch.deleted ? 0 : ev.value.value.size();
    VLOG(1) << cfg_.node_id << ": key " << ch.key
            << (ch.deleted ? " deleted" : " set") << " at "
            << to_string(ch.ver);
    subscribers_.send(self, md_event_atom_v, ch);
    log_.push_back(std::move(ch));
    if (log_.size() > cfg_.change_log)
      log_.pop_front();
  }
  // The core's next_wakeup() may say "now" (a time at or before now, e.g.
  // time_point::min()) or "nothing due" (time_point::max()); the timer
  // treats the first as "at once" and the second as "no deadline".
  timer_.report(self, core_->next_wakeup());
}

caf::result<version> metadata_state::reply(const write_result& r,
                                           const std::string& key) {
  if (r.code != ec::ok)
    return caf::make_error(r.code, key);
  return r.ver;
}

metadata_actor::behavior_type metadata_state::make_behavior() {
  return {
    [this](const transport::inbound& in) {
      outbound_list out;
      core_->handle(in.from, in.payload, wall(), in.received, out);
      flush(out);
    },
    [this](transport::tm_wake_atom) {
      timer_.woken();
      outbound_list out;
      core_->poll(wall(), now(), out);
      flush(out);
    },
    [this](md_peer_atom, const peer_change& p) {
      if (p.name == cfg_.node_id)
        return; // this node is never its own peer
      // A peer that just appeared may be behind: the core then wants to run
      // anti-entropy soon, and the new deadline goes to the timer.
      core_->member_changed(p.name, p.addr, p.live);
      timer_.report(self, core_->next_wakeup());
    },
    [this](md_put_atom, const std::string& key,
           std::string& value) -> caf::result<version> {
      outbound_list out;
      auto size = static_cast<uint64_t>(value.size());
      auto r = core_->put(key, std::move(value), wall(), now(), out);
      flush(out);
      if (r.code == ec::value_too_large)
        return caf::make_error(
          r.code, key, size,
          static_cast<uint64_t>(core_->cfg().limits.max_value_bytes));
      return reply(r, key);
    },
    [this](md_del_atom, const std::string& key) -> caf::result<version> {
      outbound_list out;
      auto r = core_->del(key, wall(), now(), out);
      flush(out);
      return reply(r, key);
    },
    [this](md_get_atom, const std::string& key) -> caf::result<std::string> {
      if (auto e = core_->get(key))
        return e->value;
      return caf::make_error(ec::not_found, key);
    },
    [this](md_list_atom) {
      std::vector<kv_item> result;
      for (auto& [key, e] : core_->list())
        result.push_back(kv_item{key, e->ver, e->value.size()});
      return result;
    },
    [this](md_changes_atom, uint64_t after) {
      change_batch batch;
      for (auto& ch : log_) {
        if (ch.index > after) {
          batch.changes.push_back(ch);
          if (batch.changes.size() >= 1024)
            break;
        }
      }
      batch.head = next_index_ - 1;
      return batch;
    },
    [this](md_sub_atom, key_listener_actor who) {
      subscribers_.add(self, std::move(who));
    },
    [this](md_digest_atom) {
      auto d = core_->digest();
      return std::to_string(d.count) + ":" + hex(d.hash.hi) + hex(d.hash.lo);
    },
    [this](md_stats_atom) { return core_->get_stats(); },
  };
}

metadata_actor::behavior_type
metadata_behavior(metadata_actor::stateful_pointer<metadata_state> self,
                  actor_config cfg, transport::transport_actor transport,
                  transport::timer_actor timer) {
  self->state.init(std::move(cfg), std::move(transport), std::move(timer));
  return self->state.make_behavior();
}

metadata_actor spawn_metadata(caf::actor_system& sys, actor_config cfg,
                              transport::transport_actor transport,
                              transport::timer_actor timer) {
  return sys.spawn(metadata_behavior, std::move(cfg), std::move(transport),
                   std::move(timer));
}

} // namespace pekonode::metadata
