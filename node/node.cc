#include "node/node.h"

#include "transport/keyring_ops.h"

#include <glog/logging.h>

#include <algorithm>
#include <random>

#include "node/cluster_keyring.h"
#include "node/metrics.h"
#include "node/process_metrics.h"
#include "node/version.h"
#include "node/peer_map.h"

namespace pekonode::node {

const char* to_string(ec x) noexcept {
  switch (x) {
    case ec::none: return "none";
    case ec::bad_config: return "bad_config";
    case ec::not_answering: return "not_answering";
    case ec::stopped: return "stopped";
  }
  return "unknown";
}

// -- composition ------------------------------------------------------------------

membership::member_listener_actor::behavior_type
peer_feed_behavior(membership::member_listener_actor::pointer self,
                   metadata::peer_sink_actor sink, std::string self_name) {
  return {
    [self, sink, self_name](membership::m_event_atom,
                            const membership::event& ev) {
      if (auto change = peer_change_of(ev, self_name))
        self->send(sink, metadata::md_peer_atom_v, std::move(*change));
    },
  };
}

node_handle spawn_node(caf::actor_system& sys, const node_config& cfg,
                       transport::transport_actor transport,
                       address advertise) {
  uint64_t seed = cfg.seed;
  if (seed == 0)
    seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  auto timer = transport::make_timer(sys);
  membership::actor_config mc;
  mc.protocol = cfg.membership;
  mc.name = cfg.name;
  mc.advertise = advertise;
  mc.tags = cfg.tags;
  mc.seed = seed;
  mc.dns_refresh = cfg.dns_refresh;
  mc.incarnation = cfg.durable.incarnation;
  mc.backlog = cfg.transport.backlog;
  auto membership = membership::spawn_membership(sys, mc, transport, timer);
  metadata::actor_config dc;
  dc.protocol = cfg.metadata;
  dc.node_id = cfg.name;
  dc.cluster = cfg.transport.label;
  dc.seed = seed ^ 0x9e3779b97f4a7c15ULL;
  dc.wall_ms = cfg.wall_ms;
  if (cfg.durable.store) {
    dc.durable.store = cfg.durable.store;
    dc.durable.records = cfg.durable.records;
    dc.durable.hlc_high_water = cfg.durable.hlc_high_water;
    dc.durable.hlc_ceiling = cfg.durable.hlc_ceiling;
  }
  auto metadata = metadata::spawn_metadata(sys, dc, transport, timer);
  auto feed = sys.spawn(peer_feed_behavior, metadata::peer_sink_actor{metadata},
                        cfg.name);
  userevents::actor_config uc;
  uc.protocol = cfg.user_events;
  uc.name = cfg.name;
  uc.advertise = advertise;
  uc.seed = seed ^ 0x5851f42d4c957f2dULL;
  auto user_events = userevents::spawn_userevents(sys, uc, transport, timer);
  // Cluster-wide keyring commands arrive as an internal query.
  auto keys = sys.spawn(keyring_responder, transport);
  // Fail together: every actor is linked to the membership actor, so one
  // failing stops it, and it stops all the others.
  compat::link(membership, transport);
  compat::link(membership, timer);
  compat::link(membership, metadata);
  compat::link(membership, feed);
  compat::link(membership, user_events);
  compat::link(membership, keys);
  caf::anon_send(user_events, userevents::ue_resp_atom_v,
                 std::string{keyring_query}, keys);
  caf::anon_send(membership, membership::m_sub_atom_v, feed);
  caf::anon_send(membership, membership::m_sub_atom_v,
                 caf::actor_cast<membership::member_listener_actor>(user_events));
  // No seeds: a cluster of one, until someone joins through this node.
  // After a restart with a data dir, the members known before are seeds
  // too: the node rejoins them without --join.
  auto seeds = cfg.seeds;
  for (auto& p : cfg.durable.peers)
    if (p != advertise && std::find(seeds.begin(), seeds.end(), p) == seeds.end())
      seeds.push_back(p);
  caf::anon_send(membership, membership::m_join_atom_v,
                 membership::seed_list{seeds});
  caf::actor snapshots;
  if (cfg.durable.store)
    snapshots = spawn_membership_snapshots(
      sys, membership, cfg.name, cfg.durable.store,
      cfg.durable.incarnation_ceiling, cfg.snapshot_interval);
  node_handle h{std::move(transport), std::move(timer), std::move(membership),
                std::move(metadata), std::move(advertise),
                std::move(user_events)};
  h.snapshots = std::move(snapshots);
  h.boot_epoch = cfg.durable.boot_epoch;
  return h;
}

caf::expected<node_handle> start_udp_node(caf::actor_system& sys,
                                          node_config cfg) {
  if (cfg.name.empty())
    return caf::make_error(ec::bad_config, std::string{"empty node name"});
  cfg.transport.wire.name = cfg.name;
  if (!cfg.transport.backlog)
    cfg.transport.backlog = std::make_shared<transport::inbound_backlog>();
  auto sock = transport::bind_udp(cfg.transport);
  if (!sock)
    return sock.error();
  auto adv = transport::advertise_address(cfg.transport.advertise,
                                          (*sock)->bound);
  transport::transport_actor tx = sys.spawn(transport::udp_transport_behavior,
                                            cfg.transport, std::move(*sock));
  return spawn_node(sys, cfg, std::move(tx), std::move(adv));
}

// -- errors -----------------------------------------------------------------------

namespace {

/// CAF's own request failures in node terms.
caf::error normalize(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return caf::make_error(ec::not_answering);
  if (err == caf::sec::request_receiver_down)
    return caf::make_error(ec::stopped);
  return err;
}

} // namespace

result_code result_code_of(const caf::error& raw) {
  auto err = normalize(raw);
  if (!err)
    return result_code::ok;
  if (auto code = compat::error_code<metadata::ec>(err)) {
    switch (*code) {
      case metadata::ec::ok: return result_code::ok;
      case metadata::ec::not_found: return result_code::not_found;
      case metadata::ec::empty_key:
      case metadata::ec::key_too_large:
      case metadata::ec::value_too_large:
      case metadata::ec::store_full:
      case metadata::ec::too_many_keys:
      case metadata::ec::origin_invalid:
      case metadata::ec::clock_skew:
      case metadata::ec::stale:
      case metadata::ec::bad_tombstone:
      case metadata::ec::bad_option:
      case metadata::ec::duplicate_key:
      case metadata::ec::snapshot_too_large:
      case metadata::ec::bad_snapshot:
        return result_code::invalid;
      case metadata::ec::disk_full:
        return result_code::insufficient_storage;
      case metadata::ec::cas_mismatch:
        return result_code::precondition_failed;
      case metadata::ec::replicas_timeout:
        return result_code::timeout;
      case metadata::ec::too_few_members:
      case metadata::ec::too_many_writes:
      case metadata::ec::not_durable:
        return result_code::unavailable;
    }
    return result_code::invalid;
  }
  if (auto code = compat::error_code<membership::ec>(err)) {
    switch (*code) {
      case membership::ec::none: return result_code::ok;
      case membership::ec::tags_too_large:
      case membership::ec::bad_tag:
      case membership::ec::not_running:
        return result_code::invalid;
      case membership::ec::bad_config:
        return result_code::unavailable;
      case membership::ec::unknown_member:
        return result_code::not_found;
      case membership::ec::not_failed:
      case membership::ec::is_self:
        return result_code::invalid;
    }
    return result_code::invalid;
  }
  if (auto code = compat::error_code<transport::ec>(err)) {
    switch (*code) {
      case transport::ec::bad_address:
      case transport::ec::field_too_large:
      case transport::ec::bad_keyring:
      case transport::ec::primary_key:
      case transport::ec::keyring_full:
      case transport::ec::encryption_mismatch:
        return result_code::invalid;
      case transport::ec::key_not_found:
        return result_code::not_found;
      default:
        return result_code::unavailable;
    }
  }
  if (auto code = compat::error_code<userevents::ec>(err)) {
    switch (*code) {
      case userevents::ec::none: return result_code::ok;
      case userevents::ec::too_large: return result_code::too_large;
      case userevents::ec::rate_limited:
      case userevents::ec::too_many_queries:
        return result_code::rate_limited;
      case userevents::ec::not_running: return result_code::unavailable;
      case userevents::ec::bad_name:
      case userevents::ec::bad_filter:
      case userevents::ec::bad_timeout:
        return result_code::invalid;
    }
    return result_code::invalid;
  }
  if (auto code = compat::error_code<ec>(err)) {
    switch (*code) {
      case ec::none: return result_code::ok;
      case ec::bad_config: return result_code::invalid;
      case ec::not_answering:
      case ec::stopped:
        return result_code::unavailable;
    }
  }
  // Anything else (CAF's own errors, exit reasons): the node cannot serve.
  return result_code::unavailable;
}

std::string describe(const caf::error& raw) {
  auto err = normalize(raw);
  if (!err)
    return {};
  if (compat::is_category<metadata::ec>(err))
    return metadata::describe(err);
  if (auto code = compat::error_code<membership::ec>(err)) {
    // Force-leave names its member: say why it was refused.
    std::string name;
    if (err.context().match_elements<std::string>())
      name = err.context().get_as<std::string>(0);
    switch (*code) {
      case membership::ec::unknown_member:
        return "no member named " + name;
      case membership::ec::not_failed:
        return "member " + name + " is not failed (alive, or left already): "
               "only a dead or suspect member can be forced to leave";
      case membership::ec::is_self:
        return "force-leave names this node: use leave";
      default:
        return to_string(*code);
    }
  }
  if (auto code = compat::error_code<transport::ec>(err)) {
    auto reason = transport::reason_of(err);
    return std::string{to_string(*code)} + (reason.empty() ? "" : ": " + reason);
  }
  if (auto code = compat::error_code<userevents::ec>(err)) {
    auto reason = compat::render_context(err.context());
    std::string name = to_string(*code);
    return reason.empty() || reason == name ? name : name + ": " + reason;
  }
  if (auto code = compat::error_code<ec>(err)) {
    switch (*code) {
      case ec::not_answering: return "node did not answer in time";
      case ec::stopped: return "node stopped";
      default: break;
    }
    auto reason = compat::render_context(err.context());
    return std::string{to_string(*code)} + (reason.empty() ? "" : ": " + reason);
  }
  return caf::to_string(err);
}

// -- facade -------------------------------------------------------------------

facade::facade(caf::actor_system& sys, node_handle node, std::string name,
               duration timeout)
  : sys_(sys), node_(std::move(node)), name_(std::move(name)),
    timeout_(timeout) {
}

namespace {

result failure(const caf::error& err) {
  return result::error(result_code_of(err), describe(err));
}

/// Sends a request and waits for the reply; `on_value` receives it.
template <class Handle, class F, class... Ts>
result ask(caf::actor_system& sys, const Handle& dest, duration timeout,
           F on_value, Ts&&... xs) {
  caf::scoped_actor self{sys};
  result r = result::success();
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive(on_value, [&](caf::error& err) { r = failure(err); });
  return r;
}

member_view to_view(const membership::member& m) {
  return member_view{m.name, m.addr, membership::to_string(m.state),
                     m.incarnation, m.tags.to_map()};
}

watch_event to_watch_event(const metadata::kv_change& c) {
  return watch_event{c.index, c.key,
                     c.deleted ? watch_event::change::del
                               : watch_event::change::put,
                     metadata::to_string(c.ver)};
}

} // namespace

result facade::self(self_view& out) {
  return ask(
    sys_, node_.membership, timeout_,
    [&](const membership::member& m) {
      out = self_view{m.name, m.addr, m.incarnation, m.tags.to_map()};
    },
    membership::m_self_atom_v);
}

result facade::members(std::vector<member_view>& out) {
  return ask(
    sys_, node_.membership, timeout_,
    [&](const std::vector<membership::member>& ms) {
      out.clear();
      for (auto& m : ms)
        out.push_back(to_view(m));
    },
    membership::m_members_atom_v);
}

result facade::kv_list(std::vector<kv_entry_view>& out) {
  return ask(
    sys_, node_.metadata, timeout_,
    [&](const std::vector<metadata::kv_item>& items) {
      out.clear();
      for (auto& it : items)
        out.push_back(kv_entry_view{
          it.key, metadata::to_string(it.ver), it.ver.origin, it.size,
          static_cast<int64_t>(metadata::hlc_physical(it.ver.hlc))});
    },
    metadata::md_list_atom_v);
}

result facade::kv_get(const std::string& key, std::string& value) {
  return ask(
    sys_, node_.metadata, timeout_,
    [&](std::string& v) { value = std::move(v); }, metadata::md_get_atom_v,
    key);
}

result facade::kv_put(const std::string& key, std::string value) {
  metadata::version ver;
  auto r = ask(
    sys_, node_.metadata, timeout_,
    [&](metadata::version& v) { ver = std::move(v); }, metadata::md_put_atom_v,
    key, std::move(value));
  if (r.ok())
    r.detail = metadata::to_string(ver);
  return r;
}

result facade::kv_del(const std::string& key) {
  metadata::version ver;
  auto r = ask(
    sys_, node_.metadata, timeout_,
    [&](metadata::version& v) { ver = std::move(v); }, metadata::md_del_atom_v,
    key);
  if (r.ok())
    r.detail = metadata::to_string(ver);
  return r;
}

result facade::kv_write(const std::string& key, std::string value,
                        const kv_write_options& opts, kv_write_view& out) {
  out = {};
  out.wanted = opts.replicas;
  metadata::write_request req;
  req.key = key;
  req.del = opts.del;
  if (!opts.del)
    req.value = std::move(value);
  if (!opts.cas.empty()) {
    req.has_cas = true;
    if (opts.cas == "0")
      req.create_only = true;
    else if (!metadata::parse_version(opts.cas, req.cas))
      return result::error(result_code::invalid,
                           "cas must be 0 or a version such as "
                           "1732800000123.0@node-1");
  }
  req.replicas = opts.replicas;
  auto ms = std::chrono::duration_cast<milliseconds>(opts.timeout).count();
  req.timeout_ms = ms > 0 ? static_cast<uint64_t>(ms) : 0;
  caf::scoped_actor self{sys_};
  result r = result::success();
  // The metadata actor answers by the write's own deadline; the margin is
  // for a busy node.
  self->request(node_.metadata, timeout_ + opts.timeout,
                metadata::md_write_atom_v, std::move(req))
    .receive(
      [&](metadata::write_reply& w) {
        out.version = metadata::to_string(w.ver);
        out.acked = w.acked;
        out.wanted = w.wanted;
        out.applied = true;
        r.detail = out.version;
      },
      [&](caf::error& err) {
        r = failure(err);
        auto& ctx = err.context();
        switch (compat::error_code<metadata::ec>(err).value_or(
          metadata::ec::ok)) {
          case metadata::ec::cas_mismatch:
            if (ctx.match_elements<std::string, std::string>())
              out.current = ctx.get_as<std::string>(1);
            break;
          case metadata::ec::replicas_timeout:
            if (ctx.match_elements<std::string, std::string, uint64_t,
                                   uint64_t>()) {
              out.version = ctx.get_as<std::string>(1);
              out.acked = static_cast<uint32_t>(ctx.get_as<uint64_t>(2));
              out.wanted = static_cast<uint32_t>(ctx.get_as<uint64_t>(3));
              out.applied = true;
            }
            break;
          default:
            break;
        }
      });
  return r;
}

result facade::kv_watch(uint64_t after_index, duration timeout,
                        watch_batch& out) {
  caf::scoped_actor self{sys_};
  // Subscribe first, then read the log: both go to the metadata actor from
  // this actor, so every change after the log reply is pushed to us.
  self->monitor(node_.metadata);
  self->send(node_.metadata, metadata::md_sub_atom_v,
             caf::actor_cast<metadata::key_listener_actor>(self));
  metadata::change_batch batch;
  result r = result::success();
  self->request(node_.metadata, timeout_, metadata::md_changes_atom_v,
                after_index)
    .receive([&](metadata::change_batch& b) { batch = std::move(b); },
             [&](caf::error& err) { r = failure(err); });
  if (!r.ok())
    return r;
  out.events.clear();
  out.last_index = batch.head;
  // Changes after `after_index` that the bounded log no longer holds, or an
  // index this node never assigned (e.g. from before a restart).
  out.truncated = (!batch.changes.empty()
                   && batch.changes.front().index > after_index + 1)
                  || after_index > batch.head;
  for (auto& c : batch.changes)
    out.events.push_back(to_watch_event(c));
  if (out.truncated || !out.events.empty() || stopping_
      || timeout <= duration::zero())
    return r;
  // Nothing yet: wait for a pushed change, at most `timeout`.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool done = false;
  while (!done) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= duration::zero())
      break;
    self->receive(
      [&](metadata::md_event_atom, metadata::kv_change& c) {
        // Changes up to the log's head were in the reply already.
        if (c.index <= out.last_index)
          return;
        out.events.push_back(to_watch_event(c));
        out.last_index = c.index;
        done = true;
      },
      [&](const caf::down_msg&) {
        r = result::error(result_code::unavailable, describe(ec::stopped));
        done = true;
      },
      caf::after(std::chrono::duration_cast<caf::timespan>(left)) >>
        [&] { done = true; });
  }
  // Take whatever else has been pushed already, without waiting.
  for (bool more = r.ok() && !out.events.empty(); more;) {
    more = false;
    self->receive(
      [&](metadata::md_event_atom, metadata::kv_change& c) {
        if (c.index > out.last_index) {
          out.events.push_back(to_watch_event(c));
          out.last_index = c.index;
        }
        more = true;
      },
      [&](const caf::down_msg&) {},
      caf::after(caf::timespan{0}) >> [] {});
  }
  return r;
}

result facade::metadata_get(std::string& value) {
  return kv_get(std::string{metadata::well_known_key}, value);
}

result facade::metadata_put(std::string value) {
  return kv_put(std::string{metadata::well_known_key}, std::move(value));
}

result facade::join(const std::vector<std::string>& seeds) {
  auto r = ask(
    sys_, node_.membership, timeout_, [] {}, membership::m_join_atom_v,
    membership::seed_list{seeds});
  if (r.ok())
    r.detail = "contacting " + std::to_string(seeds.size()) + " seed(s)";
  return r;
}

result facade::leave() {
  return ask(sys_, node_.membership, timeout_, [] {},
             membership::m_leave_atom_v);
}

result facade::rejoin() {
  return ask(sys_, node_.membership, timeout_, [] {},
             membership::m_rejoin_atom_v);
}

result facade::set_tags(const tag_map& tags) {
  return ask(sys_, node_.membership, timeout_, [] {},
             membership::m_tags_atom_v, membership::tag_set{tags});
}

result facade::faults(fault_settings& out) {
  return ask(
    sys_, node_.transport, timeout_,
    [&](transport::faults& f) {
      out.drop_rate = f.drop_rate;
      out.blocked = std::move(f.blocked);
      out.delay_ms = f.delay_ms;
      out.jitter_ms = f.jitter_ms;
    },
    transport::tx_fault_atom_v);
}

result facade::set_faults(const fault_settings& s) {
  return ask(sys_, node_.transport, timeout_, [] {}, transport::tx_fault_atom_v,
             transport::faults{s.drop_rate, s.blocked, s.delay_ms,
                               s.jitter_ms});
}

result facade::keyring(keyring_op op, const std::string& key,
                       keyring_view& out) {
  transport::keyring_request req;
  switch (op) {
    case keyring_op::list:
      req.action = static_cast<uint8_t>(transport::keyring_action::list);
      break;
    case keyring_op::install:
      req.action = static_cast<uint8_t>(transport::keyring_action::install);
      break;
    case keyring_op::use:
      req.action = static_cast<uint8_t>(transport::keyring_action::use);
      break;
    case keyring_op::remove:
      req.action = static_cast<uint8_t>(transport::keyring_action::remove);
      break;
    case keyring_op::reload:
      req.action = static_cast<uint8_t>(transport::keyring_action::reload);
      break;
  }
  req.key = key;
  out = keyring_view{};
  return ask(
    sys_, node_.transport, timeout_,
    [&](transport::keyring_reply& r) {
      for (auto& k : r.keys)
        out.keys.push_back(keyring_key_view{k.fingerprint, k.primary});
      out.changed = r.changed;
      out.persisted = r.persisted;
    },
    transport::tx_keyring_atom_v, std::move(req));
}

result facade::cluster_keyring(keyring_op op, const std::string& key,
                               duration timeout, cluster_keyring_view& out) {
  out = cluster_keyring_view{};
  auto payload = encode_keyring_command(op, key);
  if (payload.empty())
    return result::error(result_code::invalid,
                         "a keyring reload is per node (SIGHUP or ?local)");
  userevents::query_params p;
  p.name = std::string{keyring_query};
  p.payload = std::move(payload);
  p.timeout = timeout;
  p.internal = true;
  return ask(
    sys_, node_.userevents, timeout + timeout_,
    [&](const userevents::query_result& r) { out = tally_keyring_query(r); },
    userevents::ue_query_atom_v, std::move(p));
}

result facade::metrics(std::string& out) {
  metrics_registry reg;
  auto r = ask(
    sys_, node_.transport, timeout_,
    [&](const transport::stats& s) {
      reg.describe("pekonode_transport_datagrams_total", metric_kind::counter,
                   "UDP datagrams by direction.");
      reg.set("pekonode_transport_datagrams_total", {{"direction", "in"}},
              s.datagrams_in);
      reg.set("pekonode_transport_datagrams_total", {{"direction", "out"}},
              s.datagrams_out);
      reg.describe("pekonode_transport_bytes_total", metric_kind::counter,
                   "UDP payload bytes by direction.");
      reg.set("pekonode_transport_bytes_total", {{"direction", "in"}},
              s.bytes_in);
      reg.set("pekonode_transport_bytes_total", {{"direction", "out"}},
              s.bytes_out);
      reg.describe("pekonode_transport_send_errors_total",
                   metric_kind::counter, "sendto() failures.");
      reg.set("pekonode_transport_send_errors_total", {}, s.send_errors);
      reg.describe("pekonode_transport_dropped_datagrams_total",
                   metric_kind::counter,
                   "Inbound datagrams dropped, by reason.");
      for (auto& [reason, n] : s.drops)
        reg.set("pekonode_transport_dropped_datagrams_total",
                {{"reason", reason}}, n);
    },
    transport::tx_stats_atom_v);
  if (!r.ok())
    return r;
  r = ask(
    sys_, node_.membership, timeout_,
    [&](const membership::core_stats& s, int32_t health) {
      reg.describe("pekonode_membership_health_score", metric_kind::gauge,
                   "Lifeguard local health score (0 = healthy).");
      reg.set("pekonode_membership_health_score", {}, health);
      auto seconds = [](uint64_t us) { return static_cast<double>(us) / 1e6; };
      reg.describe("pekonode_membership_rtt_seconds", metric_kind::gauge,
                   "Round trip of direct probes, one estimate per cluster "
                   "(RFC 6298): smoothed (srtt) and its variation (rttvar).");
      reg.set("pekonode_membership_rtt_seconds", {{"stat", "srtt"}},
              seconds(s.rtt_srtt_us));
      reg.set("pekonode_membership_rtt_seconds", {{"stat", "rttvar"}},
              seconds(s.rtt_var_us));
      reg.describe("pekonode_membership_probe_timeout_seconds",
                   metric_kind::gauge,
                   "Direct probe timeout of the next probe: srtt + 4 rttvar "
                   "within the profile's bounds, times the health multiplier.");
      reg.set("pekonode_membership_probe_timeout_seconds", {},
              seconds(s.probe_timeout_us));
      reg.describe("pekonode_membership_probe_miss_ratio", metric_kind::gauge,
                   "Smoothed share of first direct pings not answered within "
                   "the direct probe timeout (lost or late).");
      reg.set("pekonode_membership_probe_miss_ratio", {},
              static_cast<double>(s.probe_miss_ppm) / 1e6);
      reg.describe("pekonode_membership_suspicion_timeout_seconds",
                   metric_kind::gauge,
                   "Minimum suspicion timeout a suspicion started now gets: "
                   "suspicion_mult * log10(N) * probe_interval, stretched by "
                   "1 / (1 - miss ratio) up to 4x.");
      reg.set("pekonode_membership_suspicion_timeout_seconds", {},
              seconds(s.suspicion_min_us));
      auto counter = [&](const char* name, const char* help, uint64_t v) {
        std::string full = std::string{"pekonode_membership_"} + name
                           + "_total";
        reg.describe(full, metric_kind::counter, help);
        reg.set(full, {}, v);
      };
      counter("probes", "Direct probes started.", s.probes);
      counter("probe_failures", "Probes that ended without an ack.",
              s.probe_failures);
      counter("indirect_probes", "Ping-requests sent.", s.indirect_probes);
      counter("probe_retries", "Direct pings sent again after the direct "
              "timeout.", s.probe_retries);
      counter("rtt_samples", "Acks of first direct pings timed as round "
              "trips.", s.rtt_samples);
      counter("suspicion_checks", "Pings to members held suspect, carrying "
              "the suspicion.", s.suspicion_checks);
      counter("indirect_suspicion_checks", "Suspicion checks sent through "
              "another member as a ping-request carrying the suspicion.",
              s.indirect_suspicion_checks);
      counter("suspects_raised", "Suspicions this node started.",
              s.suspects_raised);
      counter("deaths_declared", "Suspicion timeouts expired here.",
              s.deaths_declared);
      counter("refutations", "Claims about this node it refuted.",
              s.refutations);
      counter("updates_applied", "Membership updates that changed the view.",
              s.updates_applied);
      counter("name_conflicts", "Other nodes claiming this node's name.",
              s.name_conflicts);
      counter("leave_notices_sent",
              "Direct leave notices this node sent while leaving.",
              s.leave_notices_sent);
      counter("leave_acks_received", "Leave notices acknowledged to this node.",
              s.leave_acks_received);
      counter("leave_acks_sent", "Leave notices of others acknowledged here.",
              s.leave_acks_sent);
      counter("refutations_deferred",
              "Accusations answered later by one refutation (budget spent).",
              s.refutations_deferred);
      counter("assists_limited",
              "Unsolicited replies skipped by the assist budget.",
              s.assists_limited);
      counter("unconfirmed_added", "Members learnt second-hand, unconfirmed.",
              s.unconfirmed_added);
      counter("members_confirmed", "Unconfirmed members that answered.",
              s.members_confirmed);
      counter("unconfirmed_expired",
              "Unconfirmed members forgotten without an answer.",
              s.unconfirmed_expired);
      counter("confirm_probes", "Confirmation pings sent.", s.confirm_probes);
      counter("join_challenges",
              "Join requests answered with a cookie challenge.",
              s.join_challenges);
      reg.describe("pekonode_membership_bad_packets_total",
                   metric_kind::counter,
                   "Membership payloads dropped, by reason.");
      for (auto& [reason, n] : s.bad_packets)
        reg.set("pekonode_membership_bad_packets_total", {{"reason", reason}},
                n);
    },
    membership::m_stats_atom_v);
  if (!r.ok())
    return r;
  r = ask(
    sys_, node_.membership, timeout_,
    [&](const membership::dns_report& d) {
      if (d.names.empty())
        return;
      reg.describe("pekonode_join_dns_addresses", metric_kind::gauge,
                   "Addresses the last lookup of each --join=dns: seed "
                   "returned.");
      for (size_t i = 0; i < d.names.size(); ++i)
        reg.set("pekonode_join_dns_addresses", {{"name", d.names[i]}},
                d.addresses[i]);
    },
    membership::m_dns_atom_v);
  if (!r.ok())
    return r;
  r = ask(
    sys_, node_.metadata, timeout_,
    [&](const metadata::stats& s) {
      reg.describe("pekonode_metadata_bytes_out_total", metric_kind::counter,
                   "Metadata bytes sent, by message kind.");
      for (auto& [kind, n] : s.bytes_out)
        reg.set("pekonode_metadata_bytes_out_total", {{"kind", kind}}, n);
      reg.describe("pekonode_metadata_rejects_total", metric_kind::counter,
                   "Metadata input rejected, by reason.");
      for (auto& [reason, n] : s.rejects)
        reg.set("pekonode_metadata_rejects_total", {{"reason", reason}}, n);
      reg.describe("pekonode_metadata_applied_total", metric_kind::counter,
                   "Writes applied, by origin.");
      reg.set("pekonode_metadata_applied_total", {{"origin", "local"}},
              s.applied_local);
      reg.set("pekonode_metadata_applied_total", {{"origin", "remote"}},
              s.applied_remote);
      reg.describe("pekonode_metadata_transfers_total", metric_kind::counter,
                   "Chunked value transfers, by outcome.");
      reg.set("pekonode_metadata_transfers_total", {{"outcome", "started"}},
              s.transfers_started);
      reg.set("pekonode_metadata_transfers_total", {{"outcome", "completed"}},
              s.transfers_completed);
      reg.set("pekonode_metadata_transfers_total", {{"outcome", "abandoned"}},
              s.transfers_abandoned);
      reg.describe("pekonode_metadata_replicated_writes_total",
                   metric_kind::counter,
                   "Writes with replicas=K > 1 written here, by outcome.");
      reg.set("pekonode_metadata_replicated_writes_total",
              {{"outcome", "ok"}}, s.writes_replicated);
      reg.set("pekonode_metadata_replicated_writes_total",
              {{"outcome", "timeout"}}, s.writes_replica_timeouts);
      reg.describe("pekonode_metadata_holds_acked_total", metric_kind::counter,
                   "Writes of other nodes this node acknowledged holding.");
      reg.set("pekonode_metadata_holds_acked_total", {}, s.holds_acked);
      add_metadata_gauges(reg, s);
    },
    metadata::md_stats_atom_v);
  if (!r.ok())
    return r;
  r = add_gauges(reg);
  if (r.ok() && node_.userevents)
    r = user_event_metrics(reg);
  if (r.ok())
    reg.render_to(out);
  return r;
}

// -- gauges: members by state, queues, build and process ------------------------

void facade::add_metadata_gauges(metrics_registry& reg,
                                 const metadata::stats& s) {
  reg.describe("pekonode_metadata_keys", metric_kind::gauge,
               "Entries in the metadata store, by kind (live keys, "
               "tombstones not yet collected).");
  reg.set("pekonode_metadata_keys", {{"kind", "live"}}, s.keys_live);
  reg.set("pekonode_metadata_keys", {{"kind", "tombstone"}}, s.tombstones);
  reg.describe("pekonode_metadata_store_bytes", metric_kind::gauge,
               "Bytes the metadata store charges against its bound (keys, "
               "values, origins and 64 bytes per entry).");
  reg.set("pekonode_metadata_store_bytes", {}, s.store_bytes);
  reg.describe("pekonode_metadata_pending_transfers", metric_kind::gauge,
               "Chunked value transfers in progress.");
  reg.set("pekonode_metadata_pending_transfers", {}, s.transfers_active);
  reg.describe("pekonode_queue_depth", metric_kind::gauge,
               "Items waiting in a bounded queue, by queue.");
  reg.set("pekonode_queue_depth", {{"queue", "metadata_rumours"}},
          s.rumour_queue);
  reg.set("pekonode_queue_depth", {{"queue", "metadata_bulk"}}, s.bulk_queue);
}

result facade::add_gauges(metrics_registry& reg) {
  reg.describe("pekonode_build_info", metric_kind::gauge,
               "Build of this node (always 1).");
  reg.set("pekonode_build_info", {{"version", PEKONODE_VERSION}}, 1);
  add_process_metrics(reg);
  auto r = ask(
    sys_, node_.membership, timeout_,
    [&](const std::vector<membership::member>& ms) {
      std::map<std::string, uint64_t> by_state{
        {"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
      for (auto& m : ms)
        ++by_state[membership::to_string(m.state)];
      reg.describe("pekonode_members", metric_kind::gauge,
                   "Members this node knows (itself included), by state.");
      for (auto& [state, n] : by_state)
        reg.set("pekonode_members", {{"state", state}}, n);
    },
    membership::m_members_atom_v);
  if (!r.ok())
    return r;
  r = ask(
    sys_, node_.membership, timeout_,
    [&](const membership::core_stats& s, int32_t) {
      reg.describe("pekonode_queue_depth", metric_kind::gauge,
                   "Items waiting in a bounded queue, by queue.");
      reg.set("pekonode_queue_depth", {{"queue", "membership_broadcast"}},
              s.broadcast_queue);
      reg.describe("pekonode_members_unconfirmed", metric_kind::gauge,
                   "Members learnt second-hand and not confirmed yet.");
      reg.set("pekonode_members_unconfirmed", {}, s.unconfirmed);
    },
    membership::m_stats_atom_v);
  if (!r.ok())
    return r;
  return ask(
    sys_, node_.transport, timeout_,
    [&](const transport::stats& s) {
      reg.set("pekonode_queue_depth", {{"queue", "transport_inbound"}},
              s.inbound_pending);
      reg.set("pekonode_queue_depth", {{"queue", "transport_delayed"}},
              s.inbound_delayed);
    },
    transport::tx_stats_atom_v);
}

bool facade::healthy() {
  return !stopping_;
}

// Snapshots of a full store (64 MiB by default) take longer than a key.
result facade::force_leave(const std::string& name) {
  auto r = ask(sys_, node_.membership, timeout_, [] {},
               membership::m_fleave_atom_v, name);
  if (r.ok())
    r.detail = "member " + name + " marked left";
  return r;
}

result facade::snapshot_save(uint64_t max_bytes, std::string& out) {
  return ask(
    sys_, node_.metadata, std::max<duration>(timeout_, std::chrono::seconds(30)),
    [&](std::string& file) { out = std::move(file); },
    metadata::md_snap_atom_v, max_bytes);
}

result facade::snapshot_restore(std::string file, restore_view& out) {
  return ask(
    sys_, node_.metadata, std::max<duration>(timeout_, std::chrono::seconds(30)),
    [&](metadata::restore_summary& s) {
      out = restore_view{s.records, s.applied, s.stale, s.tombstones,
                         std::move(s.source_node), std::move(s.source_cluster)};
    },
    metadata::md_restore_atom_v, std::move(file));
}

// -- user events and queries ----------------------------------------------------

result facade::user_event_metrics(metrics_registry& reg) {
  return ask(
    sys_, node_.userevents, timeout_,
    [&](const userevents::stats& s) {
      auto counter = [&](const char* name, const char* help,
                         std::vector<std::pair<std::string, uint64_t>> vs,
                         const char* label) {
        std::string full = std::string{"pekonode_user_events_"} + name
                           + "_total";
        reg.describe(full, metric_kind::counter, help);
        for (auto& [l, v] : vs)
          reg.set(full, l.empty() ? metric_labels{} : metric_labels{{label, l}},
                  v);
      };
      counter("raised", "User events and queries raised here, by kind.",
              {{"user", s.events_sent}, {"query", s.queries_sent}}, "kind");
      counter("delivered", "User events and queries delivered here.",
              {{"", s.delivered}}, "");
      counter("coalesced", "User events superseded by a newer one of the "
              "same name within a coalescing window.",
              {{"", s.coalesced}}, "");
      counter("dropped", "Inbound user events and packets dropped, by reason.",
              {{"duplicate", s.duplicates},
               {"too_old", s.too_old},
               {"rate_limited", s.rate_limited},
               {"buffer_full", s.buffer_full},
               {"malformed", s.malformed},
               {"unverified", s.unverified},
               {"filtered_out", s.filtered_out}},
              "reason");
      counter("query_replies", "Query acks and responses, by kind and "
              "direction; rejected: forged, late or repeated.",
              {{"ack_sent", s.acks_sent},
               {"response_sent", s.responses_sent},
               {"ack_received", s.acks_received},
               {"response_received", s.responses_received},
               {"rejected", s.responses_rejected}},
              "kind");
      counter("bytes_out", "User-event layer bytes sent.",
              {{"", s.bytes_out}}, "");
    },
    userevents::ue_stats_atom_v);
}

result facade::send_event(const std::string& name, const std::string& payload,
                          bool coalesce, user_event_view& out) {
  return ask(
    sys_, node_.userevents, timeout_,
    [&](const userevents::user_event& ev) {
      out = user_event_view{userevents::to_string(ev.kind), ev.name,
                            ev.payload, ev.origin, ev.ltime,
                            userevents::id_text(ev.id), ev.coalesce};
    },
    userevents::ue_pub_atom_v, name, payload, coalesce);
}

result facade::run_query(const query_request& q, query_outcome& out) {
  userevents::query_params p;
  p.name = q.name;
  p.payload = q.payload;
  p.node_filter = q.node_filter;
  p.tags = q.tags;
  p.timeout = q.timeout;
  // The reply comes at the query's deadline.
  return ask(
    sys_, node_.userevents, q.timeout + timeout_,
    [&](userevents::query_result& r) {
      out = query_outcome{userevents::id_text(r.id), std::move(r.acks),
                          std::move(r.responses), std::move(r.stragglers),
                          r.expected};
    },
    userevents::ue_query_atom_v, p);
}

} // namespace pekonode::node
