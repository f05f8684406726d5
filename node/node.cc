#include "node/node.h"

#include <glog/logging.h>

#include <random>
#include <thread>

#include "node/metrics.h"

namespace pekonode::node {

node_handle spawn_node(caf::actor_system& sys, const node_config& cfg,
                       caf::actor transport, address advertise) {
  uint64_t seed = cfg.seed;
  if (seed == 0)
    seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  membership::actor_config mc;
  mc.protocol = cfg.membership;
  mc.name = cfg.name;
  mc.advertise = advertise;
  mc.tags = cfg.tags;
  mc.seed = seed;
  auto membership = membership::spawn_membership(sys, mc, transport);
  metadata::actor_config dc;
  dc.protocol = cfg.metadata;
  dc.node_id = cfg.name;
  dc.self_addr = advertise;
  dc.seed = seed ^ 0x9e3779b97f4a7c15ULL;
  dc.wall_ms = cfg.wall_ms;
  auto metadata = metadata::spawn_metadata(sys, dc, transport, membership);
  // Link the three so that a failure of one stops the node as a whole.
  membership->attach_functor([transport, metadata](const caf::error&) {
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(metadata, caf::exit_reason::user_shutdown);
  });
  // No seeds: a cluster of one, until someone joins through this node.
  caf::anon_send(membership, membership::m_join_atom::value, cfg.seeds);
  return node_handle{transport, membership, metadata, std::move(advertise)};
}

caf::expected<node_handle> start_udp_node(caf::actor_system& sys,
                                          node_config cfg) {
  cfg.transport.wire.name = cfg.name;
  auto tx = transport::make_udp_transport(sys, cfg.transport);
  if (!tx)
    return tx.error();
  caf::scoped_actor self{sys};
  address adv;
  caf::error err;
  self->request(*tx, std::chrono::seconds(5), transport::tx_adv_atom::value)
    .receive([&](const address& a) { adv = a; },
             [&](caf::error& e) { err = std::move(e); });
  if (err) {
    caf::anon_send_exit(*tx, caf::exit_reason::user_shutdown);
    return err;
  }
  return spawn_node(sys, cfg, *tx, adv);
}

// -- facade -------------------------------------------------------------------

facade::facade(caf::actor_system& sys, node_handle node, std::string name,
               duration timeout)
  : sys_(sys), node_(std::move(node)), name_(std::move(name)),
    timeout_(timeout) {
}

namespace {

/// Sends a request and waits for the reply; `on_value` receives it.
template <class... Ts, class F>
result ask(caf::actor_system& sys, const caf::actor& dest, duration timeout,
           F on_value, Ts&&... xs) {
  caf::scoped_actor self{sys};
  result r = result::success();
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive(on_value, [&](caf::error& err) {
      if (err == caf::sec::request_timeout || err == caf::sec::request_receiver_down)
        r = result::error(result_code::unavailable,
                          "node did not answer: " + caf::to_string(err));
      else
        r = result::error(result_code::invalid, metadata::describe(err));
    });
  return r;
}

member_view to_view(const membership::member& m) {
  return member_view{m.name, m.addr, membership::to_string(m.state),
                     m.incarnation, m.tags};
}

} // namespace

result facade::self(self_view& out) {
  return ask(
    sys_, node_.membership, timeout_,
    [&](const membership::member& m) {
      out = self_view{m.name, m.addr, m.incarnation, m.tags};
    },
    membership::m_self_atom::value);
}

result facade::members(std::vector<member_view>& out) {
  return ask(
    sys_, node_.membership, timeout_,
    [&](const std::vector<membership::member>& ms) {
      out.clear();
      for (auto& m : ms)
        out.push_back(to_view(m));
    },
    membership::m_members_atom::value);
}

result facade::kv_list(std::vector<kv_entry_view>& out) {
  return ask(
    sys_, node_.metadata, timeout_,
    [&](const std::vector<metadata::kv_item>& items) {
      out.clear();
      for (auto& it : items)
        out.push_back(kv_entry_view{it.key, it.version, it.origin, it.size,
                                    static_cast<int64_t>(it.updated_ms)});
    },
    metadata::md_list_atom::value);
}

result facade::kv_get(const std::string& key, std::string& value) {
  bool found = false;
  auto r = ask(
    sys_, node_.metadata, timeout_,
    [&](std::vector<std::string>& v) {
      if (!v.empty()) {
        found = true;
        value = std::move(v.front());
      }
    },
    metadata::md_get_atom::value, key);
  if (r.ok() && !found)
    return result::error(result_code::not_found, "no such key: " + key);
  return r;
}

result facade::kv_put(const std::string& key, std::string value) {
  std::string ver;
  auto r = ask(
    sys_, node_.metadata, timeout_, [&](std::string& v) { ver = std::move(v); },
    metadata::md_put_atom::value, key, std::move(value));
  if (r.ok())
    r.detail = ver;
  return r;
}

result facade::kv_del(const std::string& key) {
  std::string ver;
  auto r = ask(
    sys_, node_.metadata, timeout_, [&](std::string& v) { ver = std::move(v); },
    metadata::md_del_atom::value, key);
  if (r.ok())
    r.detail = ver;
  else if (r.detail.rfind("not_found", 0) == 0)
    r.code = result_code::not_found;
  return r;
}

result facade::kv_watch(uint64_t after_index, duration timeout,
                        watch_batch& out) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<metadata::kv_change> changes;
    uint64_t head = 0;
    auto r = ask(
      sys_, node_.metadata, timeout_,
      [&](std::vector<metadata::kv_change>& cs, uint64_t h) {
        changes = std::move(cs);
        head = h;
      },
      metadata::md_changes_atom::value, after_index);
    if (!r.ok())
      return r;
    out.events.clear();
    out.last_index = head;
    // Changes after `after_index` that the bounded log no longer holds, or an
    // index this node never assigned (e.g. from before a restart).
    out.truncated = (!changes.empty() && changes.front().index > after_index + 1)
                    || after_index > head;
    for (auto& c : changes)
      out.events.push_back(watch_event{
        c.index, c.key,
        c.deleted ? watch_event::change::del : watch_event::change::put,
        c.version});
    if (out.truncated)
      return result::success();
    if (!out.events.empty() || stopping_
        || std::chrono::steady_clock::now() >= deadline)
      return result::success();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

result facade::metadata_get(std::string& value) {
  return kv_get(std::string{metadata::well_known_key}, value);
}

result facade::metadata_put(std::string value) {
  return kv_put(std::string{metadata::well_known_key}, std::move(value));
}

result facade::join(const std::vector<std::string>& seeds) {
  auto r = ask(
    sys_, node_.membership, timeout_, [](bool) {},
    membership::m_join_atom::value, seeds);
  if (r.ok())
    r.detail = "contacting " + std::to_string(seeds.size()) + " seed(s)";
  return r;
}

result facade::leave() {
  return ask(
    sys_, node_.membership, timeout_, [](bool) {},
    membership::m_leave_atom::value);
}

result facade::rejoin() {
  return ask(
    sys_, node_.membership, timeout_, [](bool) {},
    membership::m_rejoin_atom::value);
}

result facade::set_tags(const tag_map& tags) {
  return ask(
    sys_, node_.membership, timeout_, [](bool) {},
    membership::m_tags_atom::value, tags);
}

result facade::faults(fault_settings& out) {
  return ask(
    sys_, node_.transport, timeout_,
    [&](double rate, std::vector<address>& blocked) {
      out.drop_rate = rate;
      out.blocked = std::move(blocked);
    },
    transport::tx_fault_atom::value);
}

result facade::set_faults(const fault_settings& s) {
  return ask(
    sys_, node_.transport, timeout_, [](bool) {},
    transport::tx_fault_atom::value, s.drop_rate, s.blocked);
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
    transport::tx_stats_atom::value);
  if (!r.ok())
    return r;
  r = ask(
    sys_, node_.membership, timeout_,
    [&](const membership::core_stats& s, int health) {
      reg.describe("pekonode_membership_health_score", metric_kind::gauge,
                   "Lifeguard local health score (0 = healthy).");
      reg.set("pekonode_membership_health_score", {}, health);
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
    membership::m_stats_atom::value);
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
    },
    metadata::md_stats_atom::value);
  if (r.ok())
    reg.render_to(out);
  return r;
}

bool facade::healthy() {
  return !stopping_;
}

} // namespace pekonode::node
