#include "metadata/metadata_actor.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "common/text.h"
#include "storage/snapshot_codec.h"

namespace pekonode::metadata {

std::string to_string(const version& v) {
  return std::to_string(hlc_physical(v.hlc)) + "."
         + std::to_string(hlc_logical(v.hlc)) + "@" + v.origin;
}

std::string describe_context(const caf::message& ctx) {
  // ("why", reason): a free-text reason (snapshots, restores).
  if (ctx.match_elements<std::string, std::string>()
      && ctx.get_as<std::string>(0) == "why")
    return ctx.get_as<std::string>(1);
  if (ctx.match_elements<uint64_t, uint64_t>())
    return "snapshot would be " + std::to_string(ctx.get_as<uint64_t>(0))
           + " bytes, limit " + std::to_string(ctx.get_as<uint64_t>(1));
  if (ctx.match_elements<std::string, std::string>())
    return "key '" + ctx.get_as<std::string>(0) + "': "
           + ctx.get_as<std::string>(1);
  if (ctx.match_elements<std::string, uint64_t, uint64_t>())
    return "key '" + ctx.get_as<std::string>(0) + "' is "
           + std::to_string(ctx.get_as<uint64_t>(1)) + " bytes, limit "
           + std::to_string(ctx.get_as<uint64_t>(2));
  if (ctx.match_elements<std::string>())
    return "key '" + ctx.get_as<std::string>(0) + "'";
  return compat::render_context(ctx);
}

bool parse_version(const std::string& text, version& out) {
  // physical "." logical "@" origin, digits only in the numbers.
  auto dot = text.find('.');
  auto at = text.find('@');
  if (dot == std::string::npos || at == std::string::npos || dot == 0
      || at <= dot + 1 || at + 1 >= text.size() || text.size() - at - 1 > 128)
    return false;
  auto number = [](const std::string& s, uint64_t max, uint64_t& v) {
    if (s.empty() || s.size() > 20)
      return false;
    v = 0;
    for (char c : s) {
      if (c < '0' || c > '9')
        return false;
      auto d = static_cast<uint64_t>(c - '0');
      if (v > (max - d) / 10)
        return false;
      v = v * 10 + d;
    }
    return true;
  };
  uint64_t phys = 0, logical = 0;
  if (!number(text.substr(0, dot), hlc_max_physical, phys)
      || !number(text.substr(dot + 1, at - dot - 1), hlc_logical_mask,
                 logical))
    return false;
  auto origin = text.substr(at + 1);
  for (char c : origin)
    if (c < 0x21 || c > 0x7e)
      return false;
  out = version{make_hlc(phys, static_cast<uint16_t>(logical)), origin};
  return true;
}

namespace {

/// The context of the write concern and compare-and-set errors, whose
/// element types other codes use with other meanings.
std::string describe_write_context(ec code, const caf::message& ctx) {
  switch (code) {
    case ec::cas_mismatch:
      if (ctx.match_elements<std::string, std::string>()) {
        auto& cur = ctx.get_as<std::string>(1);
        return "key '" + ctx.get_as<std::string>(0) + "' "
               + (cur.empty() ? std::string{"has no live value"}
                              : "is at version " + cur);
      }
      break;
    case ec::replicas_timeout:
      if (ctx.match_elements<std::string, std::string, uint64_t, uint64_t>())
        return std::to_string(ctx.get_as<uint64_t>(2)) + " of "
               + std::to_string(ctx.get_as<uint64_t>(3))
               + " nodes held key '" + ctx.get_as<std::string>(0)
               + "' at version " + ctx.get_as<std::string>(1)
               + " within the timeout; the write stays applied here and "
                 "spreads as usual";
      break;
    case ec::too_few_members:
      if (ctx.match_elements<std::string, uint64_t, uint64_t>())
        return std::to_string(ctx.get_as<uint64_t>(1))
               + " replicas asked for key '" + ctx.get_as<std::string>(0)
               + "' but only " + std::to_string(ctx.get_as<uint64_t>(2))
               + " nodes are live (this one included); nothing written";
      break;
    case ec::too_many_writes:
      if (ctx.match_elements<std::string, uint64_t>())
        return "key '" + ctx.get_as<std::string>(0) + "': "
               + std::to_string(ctx.get_as<uint64_t>(1))
               + " writes already wait for replicas; nothing written";
      break;
    case ec::bad_option:
      if (ctx.match_elements<std::string>())
        return ctx.get_as<std::string>(0);
      break;
    default:
      break;
  }
  return describe_context(ctx);
}

} // namespace

std::string describe(const caf::error& err) {
  auto code = compat::error_code<ec>(err);
  if (!code)
    return {};
  std::string out = to_string(*code);
  if (auto ctx = describe_write_context(*code, err.context()); !ctx.empty()) {
    out += ": " + ctx;
    return out;
  }
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

entry entry_of(storage::record&& r) {
  entry e;
  e.value = std::move(r.value);
  e.ver = version{r.hlc, std::move(r.origin)};
  e.tombstone = r.tombstone;
  return e;
}

storage::record record_of(const std::string& key, const entry& e,
                          uint64_t tombstone_ttl_ms) {
  storage::record r;
  r.key = key;
  r.value = e.value;
  r.hlc = e.ver.hlc;
  r.origin = e.ver.origin;
  r.tombstone = e.tombstone;
  // A tombstone is collected once its HLC time is older than the TTL.
  r.gc_after_ms = e.tombstone ? hlc_physical(e.ver.hlc) + tombstone_ttl_ms : 0;
  return r;
}

void metadata_state::init(actor_config cfg,
                          transport::transport_actor transport,
                          transport::timer_actor timer) {
  if (!cfg.wall_ms)
    cfg.wall_ms = system_wall_ms;
  cfg_ = std::move(cfg);
  transport_ = std::move(transport);
  core_ = std::make_unique<core>(cfg_.protocol, cfg_.node_id, cfg_.seed);
  // Changes are always recorded: on_durable reports the entries applied
  // from peers, with or without a data dir.
  core_->track_changes(true);
  if (durable()) {
    core_->hold_local_rumours(true);
    size_t loaded = 0, refused = 0;
    if (auto& records = cfg_.durable.records) {
      for (auto& r : *records) {
        auto key = r.key;
        auto err = core_->restore(key, entry_of(std::move(r)));
        if (err == ec::ok)
          ++loaded;
        else if (err != ec::stale)
          ++refused;
      }
      records->clear();
      cfg_.durable.records.reset();
    }
    core_->drain_changed();
    core_->observe_hlc(cfg_.durable.hlc_high_water);
    hlc_lease_.emplace(std::max(cfg_.durable.hlc_ceiling,
                                cfg_.durable.hlc_high_water),
                       storage::hlc_lease_step(cfg_.durable.hlc_lease_ms));
    LOG(INFO) << cfg_.node_id << ": loaded " << loaded
              << " entries from the data dir";
    if (refused > 0)
      LOG(WARNING) << cfg_.node_id << ": " << refused
                   << " entries of the data dir exceed this node's limits "
                      "and were not loaded";
  }
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

void metadata_state::flush(outbound_list& out, pending_write* local) {
  publish(out);
  persist(local);
}

uint64_t metadata_state::persist(pending_write* local) {
  auto keys = core_->drain_changed();
  bool retry = !retry_.empty() && now() >= next_retry_;
  if (keys.empty() && !retry && local == nullptr && held_waiting_.empty())
    return 0;
  if (retry) {
    keys.insert(keys.end(), retry_.begin(), retry_.end());
    retry_.clear();
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  }
  durable_batch b;
  if (local != nullptr)
    b.local.push_back(std::move(*local));
  b.held = std::move(held_waiting_);
  held_waiting_.clear();
  storage::write_batch wb;
  auto ttl = core_->cfg().tombstone_ttl_ms;
  for (auto& key : keys) {
    auto e = core_->data().find(key);
    if (e != nullptr) {
      if (durable())
        wb.put(record_of(key, *e, ttl));
      if (e->ver.origin != cfg_.node_id)
        b.remote.emplace_back(key, e->ver);
    } else if (durable()) {
      wb.erase(key);
    }
  }
  b.keys = std::move(keys);
  if (!durable()) {
    on_durable(b);
    return 0;
  }
  if (hlc_lease_->should_extend(core_->hlc_last())) {
    b.hlc_ceiling = hlc_lease_->extend_for(core_->hlc_last());
    wb.set_hlc_high_water(b.hlc_ceiling);
  }
  if (core_->gc_horizon() > gc_horizon_written_) {
    gc_horizon_written_ = core_->gc_horizon();
    wb.set_gc_horizon(gc_horizon_written_);
  }
  for (auto& w : b.local)
    ++key_writes_[w.key].inflight;
  auto id = next_batch_++;
  inflight_.emplace(id, std::move(b));
  auto me = caf::actor_cast<metadata_actor>(self);
  cfg_.durable.store->commit->submit(
    std::move(wb), [me, id](const storage::status& st) {
      caf::anon_send(me, md_durable_atom_v, id,
                     static_cast<uint64_t>(st.code), st.message);
    });
  return id;
}

void metadata_state::on_durable(durable_batch& b) {
  outbound_list out;
  for (auto& w : b.local) {
    if (durable())
      core_->release_local(w.key, w.ver, now(), out);
    if (w.promise.pending())
      w.promise.deliver(w.ver);
    if (w.write_promise.pending())
      w.write_promise.deliver(write_reply{w.ver, 1, 1});
    if (w.concern != 0) {
      auto i = writes_.find(w.concern);
      if (i != writes_.end()) {
        i->second.durable = true;
        if (i->second.done) {
          if (*i->second.done)
            i->second.promise.deliver(**i->second.done);
          else
            i->second.promise.deliver(i->second.done->error());
          writes_.erase(i);
        }
      }
    }
  }
  if (!b.held.empty())
    on_durable(b.held);
  publish(out);
}

void metadata_state::on_not_durable(durable_batch& b, storage::ec code,
                                    const std::string& reason) {
  LOG_EVERY_N(WARNING, 100)
    << cfg_.node_id << ": write of " << b.keys.size()
    << " keys not durable: " << reason << " (" << google::COUNTER << " so far)";
  auto err = code == storage::ec::full ? ec::disk_full : ec::not_durable;
  for (auto& w : b.local) {
    // Undo the write; when what it replaced failed too, go back through
    // the chain of failed writes to the last entry that reached the disk.
    auto& kw = key_writes_[w.key];
    const std::optional<entry>* target = &w.prev;
    for (size_t hops = 0; target->has_value() && hops <= kw.failed.size();
         ++hops) {
      auto f = kw.failed.find((*target)->ver);
      if (f == kw.failed.end())
        break;
      target = &f->second;
    }
    core_->revert_local(w.key, w.ver,
                        target->has_value() ? &**target : nullptr);
    kw.failed.emplace(w.ver, std::move(w.prev));
    auto failure = caf::make_error(err, w.key, reason);
    if (w.promise.pending())
      w.promise.deliver(failure);
    if (w.write_promise.pending())
      w.write_promise.deliver(failure);
    if (w.concern != 0) {
      auto i = writes_.find(w.concern);
      if (i != writes_.end()) {
        i->second.promise.deliver(failure);
        writes_.erase(i);
      }
    }
  }
  // Entries from peers stay in memory (they are served and gossiped) and
  // are written again later; so are reverted keys (harmlessly).
  for (auto& k : b.keys)
    retry_.insert(k);
  next_retry_ = now() + cfg_.durable.retry_interval;
  outbound_list out;
  publish(out);
}

void metadata_state::on_batch_done(uint64_t id, uint64_t code,
                                   const std::string& reason) {
  auto i = inflight_.find(id);
  if (i == inflight_.end())
    return;
  auto b = std::move(i->second);
  inflight_.erase(i);
  std::vector<std::string> written;
  for (auto& w : b.local)
    written.push_back(w.key);
  if (code == 0) {
    if (b.hlc_ceiling != 0)
      hlc_lease_->made_durable(b.hlc_ceiling);
    on_durable(b);
  } else {
    on_not_durable(b, static_cast<storage::ec>(code), reason);
  }
  for (auto& k : written) {
    auto kw = key_writes_.find(k);
    if (kw != key_writes_.end() && kw->second.inflight > 0
        && --kw->second.inflight == 0)
      key_writes_.erase(kw);
  }
  timer_.report(self, core_->next_wakeup());
}

void metadata_state::publish(outbound_list& out) {
  if (!out.empty())
    self->send(transport_, transport::tx_send_atom_v, std::move(out));
  // Entries a peer asked us to hold that we held already, then everything
  // applied now: durable as soon as applied while the store is in memory.
  std::vector<held_entry> applied = core_->drain_held();
  for (auto& ev : core_->drain_events()) {
    applied.push_back(held_entry{ev.key, ev.value.ver});
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
  if (!applied.empty()) {
    if (durable()) // acknowledged from the batch that carries them to disk
      held_waiting_.insert(held_waiting_.end(), applied.begin(),
                           applied.end());
    else
      on_durable(applied);
  }
  finish_writes();
  // The core's next_wakeup() may say "now" (a time at or before now, e.g.
  // time_point::min()) or "nothing due" (time_point::max()); the timer
  // treats the first as "at once" and the second as "no deadline".
  timer_.report(self, core_->next_wakeup());
}

void metadata_state::on_durable(const std::vector<held_entry>& entries) {
  outbound_list out;
  core_->on_durable(entries, out);
  if (!out.empty())
    self->send(transport_, transport::tx_send_atom_v, std::move(out));
}

void metadata_state::finish_writes() {
  for (auto& d : core_->drain_concerns()) {
    auto i = writes_.find(d.id);
    if (i == writes_.end())
      continue;
    caf::expected<write_reply> answer = write_reply{};
    if (d.ok()) {
      answer = write_reply{d.ver, static_cast<uint32_t>(d.acked),
                           static_cast<uint32_t>(d.wanted)};
    } else {
      // Keys are data: escaped. One line in ten at most under a burst of
      // timeouts (each is also counted in writes_replica_timeouts).
      LOG_EVERY_N(WARNING, 10)
        << cfg_.node_id << ": key " << quote(d.key, 64) << " at "
        << to_string(d.ver) << " held by " << d.acked << " of " << d.wanted
        << " nodes at its deadline (logged every 10th)";
      answer = caf::make_error(
        ec::replicas_timeout, d.key, to_string(d.ver),
        static_cast<uint64_t>(d.acked), static_cast<uint64_t>(d.wanted));
    }
    if (!i->second.durable) { // answered once the local batch is on disk
      i->second.done = std::move(answer);
      continue;
    }
    if (answer)
      i->second.promise.deliver(*answer);
    else
      i->second.promise.deliver(answer.error());
    writes_.erase(i);
  }
}

caf::result<write_reply> metadata_state::write(write_request& req) {
  auto& pc = core_->cfg();
  auto max_ms = std::chrono::duration_cast<milliseconds>(pc.max_write_timeout)
                  .count();
  if (req.replicas == 0 || req.replicas > pc.max_replicas)
    return caf::make_error(ec::bad_option,
                           "replicas must be 1.." + std::to_string(
                                                      pc.max_replicas));
  if (req.timeout_ms == 0 || req.timeout_ms > static_cast<uint64_t>(max_ms))
    return caf::make_error(ec::bad_option,
                           "timeout must be 1 ms.." + std::to_string(max_ms)
                             + " ms");
  write_options o;
  o.del = req.del;
  o.has_cas = req.has_cas;
  o.create_only = req.create_only;
  o.cas = req.cas;
  o.replicas = req.replicas;
  o.deadline = now() + milliseconds{req.timeout_ms};
  auto size = static_cast<uint64_t>(req.value.size());
  std::optional<entry> prev;
  if (durable())
    if (auto e = core_->data().find(req.key))
      prev = *e;
  outbound_list out;
  auto r = core_->write(req.key, req.del ? std::string{} : std::move(req.value),
                        o, wall(), now(), out);
  switch (r.code) {
    case ec::ok:
      break;
    case ec::value_too_large:
      flush(out);
      return caf::make_error(r.code, req.key, size,
                             static_cast<uint64_t>(pc.limits.max_value_bytes));
    case ec::cas_mismatch:
      flush(out);
      return caf::make_error(r.code, req.key,
                             r.current.origin.empty() ? std::string{}
                                                      : to_string(r.current));
    case ec::too_few_members:
      flush(out);
      return caf::make_error(r.code, req.key,
                             static_cast<uint64_t>(req.replicas),
                             static_cast<uint64_t>(core_->peer_count() + 1));
    case ec::too_many_writes:
      flush(out);
      return caf::make_error(r.code, req.key,
                             static_cast<uint64_t>(pc.max_pending_writes));
    default:
      flush(out);
      return caf::make_error(r.code, req.key);
  }
  pending_write w{req.key, r.ver, std::move(prev), {}};
  w.md_write = true;
  w.concern = r.concern;
  if (!durable() && r.concern == 0) {
    flush(out, &w);
    return write_reply{r.ver, 1, 1};
  }
  auto rp = self->make_response_promise<write_reply>();
  if (r.concern != 0)
    writes_.emplace(r.concern, waiting_write{rp, !durable(), std::nullopt});
  else
    w.write_promise = rp;
  flush(out, &w);
  return rp;
}

caf::result<version> metadata_state::reply(const write_result& r,
                                           const std::string& key) {
  if (r.code != ec::ok)
    return caf::make_error(r.code, key);
  return r.ver;
}

caf::result<version> metadata_state::answer_write(const write_result& r,
                                                 const std::string& key,
                                                 std::optional<entry> prev,
                                                 outbound_list& out) {
  if (r.code != ec::ok) {
    flush(out);
    return reply(r, key);
  }
  pending_write w{key, r.ver, std::move(prev), {}};
  if (!durable()) {
    flush(out, &w);
    return r.ver;
  }
  w.promise = self->make_response_promise<version>();
  auto promise = w.promise;
  flush(out, &w);
  return promise;
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
      std::optional<entry> prev;
      if (durable())
        if (auto e = core_->data().find(key))
          prev = *e;
      auto r = core_->put(key, std::move(value), wall(), now(), out);
      if (r.code == ec::value_too_large) {
        flush(out);
        return caf::make_error(
          r.code, key, size,
          static_cast<uint64_t>(core_->cfg().limits.max_value_bytes));
      }
      return answer_write(r, key, std::move(prev), out);
    },
    [this](md_del_atom, const std::string& key) -> caf::result<version> {
      outbound_list out;
      std::optional<entry> prev;
      if (durable())
        if (auto e = core_->data().find(key))
          prev = *e;
      auto r = core_->del(key, wall(), now(), out);
      return answer_write(r, key, std::move(prev), out);
    },
    [this](md_write_atom, write_request& req) -> caf::result<write_reply> {
      return write(req);
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
    [this](md_durable_atom, uint64_t batch, uint64_t code,
           const std::string& reason) { on_batch_done(batch, code, reason); },
    [this](md_stats_atom) {
      auto s = core_->get_stats();
      s.tombstones = core_->tombstones();
      s.keys_live = core_->data().size() - s.tombstones;
      s.store_bytes = core_->data().total_bytes();
      s.transfers_active = core_->active_transfers();
      s.rumour_queue = core_->rumours_queued();
      s.bulk_queue = core_->bulk_queued();
      return s;
    },
    [this](md_snap_atom, uint64_t max_bytes) -> caf::result<std::string> {
      return snapshot(max_bytes);
    },
    [this](md_restore_atom,
           const std::string& file) -> caf::result<restore_summary> {
      return restore(file);
    },
  };
}

// -- snapshot save / restore --------------------------------------------------

caf::result<std::string> metadata_state::snapshot(uint64_t max_bytes) {
  auto ttl = core_->cfg().tombstone_ttl_ms;
  storage::snapshot_header h;
  h.cluster = cfg_.cluster;
  h.node = cfg_.node_id;
  h.hlc_high_water = core_->clock_last();
  h.gc_horizon = wall() > ttl ? wall() - ttl : 0;
  uint64_t total = storage::snapshot_overhead(h);
  core_->data().for_each([&](const std::string& k, const entry& e) {
    total += storage::snapshot_record_bytes(k.size(), e.value.size(),
                                            e.ver.origin.size());
  });
  if (total > max_bytes)
    return caf::make_error(ec::snapshot_too_large, total, max_bytes);
  storage::snapshot_encoder enc(h);
  enc.reserve(total);
  storage::record r;
  core_->data().for_each([&](const std::string& k, const entry& e) {
    r.key = k;
    r.value = e.value;
    r.hlc = e.ver.hlc;
    r.origin = e.ver.origin;
    r.tombstone = e.tombstone;
    r.gc_after_ms = e.tombstone ? hlc_physical(e.ver.hlc) + ttl : 0;
    enc.add(r);
  });
  VLOG(1) << cfg_.node_id << ": snapshot of " << enc.records()
          << " entries, " << total << " bytes";
  return enc.finish();
}

caf::result<restore_summary> metadata_state::restore(const std::string& file) {
  auto& lim = core_->cfg().limits;
  storage::snapshot_limits sl;
  sl.max_key_bytes = std::max(lim.max_key_bytes, lim.max_origin_bytes);
  sl.max_value_bytes = lim.max_value_bytes;
  sl.max_records = lim.max_keys;
  auto d = storage::decode_snapshot(file, sl);
  if (!d)
    return caf::make_error(ec::bad_snapshot, std::string{"why"}, d.message());
  restore_summary sum;
  sum.records = d->records.size();
  sum.source_node = d->header.node;
  sum.source_cluster = d->header.cluster;
  std::vector<restore_item> items;
  items.reserve(d->records.size());
  for (auto& r : d->records) {
    restore_item it;
    it.key = std::move(r.key);
    it.value.value = std::move(r.value);
    it.value.ver = version{r.hlc, std::move(r.origin)};
    it.value.tombstone = r.tombstone;
    items.push_back(std::move(it));
  }
  outbound_list out;
  auto res = core_->restore(std::move(items), wall(), now(), out);
  flush(out);
  if (res.code != ec::ok) {
    if (!res.key.empty())
      return caf::make_error(res.code, res.key);
    return caf::make_error(
      res.code, std::string{"why"},
      "restoring would exceed the store's bounds (max_keys "
        + std::to_string(lim.max_keys) + ", max_total_bytes "
        + std::to_string(lim.max_total_bytes) + ")");
  }
  sum.applied = res.applied;
  sum.stale = res.stale;
  sum.tombstones = res.tombstones;
  LOG(INFO) << cfg_.node_id << ": restored a snapshot of " << sum.records
            << " entries from node '" << sum.source_node << "': "
            << sum.applied << " applied, " << sum.stale
            << " older than what this node holds";
  return sum;
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
