#include "node/durable.h"

#include <glog/logging.h>

#include <algorithm>
#include <map>

#include "node/node.h"
#include "storage/lease.h"

namespace pekonode::node {

namespace {

/// HLC lease at start: 10 s of physical time (see metadata::durable_config).
constexpr uint64_t hlc_lease_ms = 10000;

} // namespace

std::string open_data_dir(const std::string& path, const storage::identity& id,
                          uint64_t wall_ms, durable_state& out) {
  auto dir = storage::data_dir::open(path, id);
  if (!dir)
    return dir.message();
  auto opened = storage::store::open(std::move(*dir));
  if (!opened)
    return opened.message();
  auto& st = **opened;
  auto records = std::make_shared<std::vector<storage::record>>();
  if (auto s = st.load([&](storage::record& r) {
        records->push_back(std::move(r));
      });
      !s)
    return s.message;
  durable_state d;
  d.records = std::move(records);
  d.boot_epoch = st.boot_epoch();
  d.hlc_high_water = st.hlc_high_water();
  // The HLC restarts above everything issued before, and above the wall
  // clock; its first lease is durable before any write is taken.
  auto base = std::max(d.hlc_high_water, metadata::make_hlc(wall_ms, 0));
  storage::lease hlc{d.hlc_high_water, storage::hlc_lease_step(hlc_lease_ms)};
  d.hlc_ceiling = hlc.extend_for(base);
  // The incarnation restarts above every one announced before (the durable
  // ceiling covers them); its new ceiling is durable before it is used.
  auto snap = st.membership();
  bool fresh = st.boot_epoch() <= 1 && snap.incarnation == 0;
  d.incarnation = fresh ? 0 : storage::incarnation_after_restart(snap.incarnation);
  storage::lease inc{snap.incarnation, incarnation_lease_step};
  d.incarnation_ceiling = inc.extend_for(d.incarnation);
  for (auto& p : snap.peers)
    if (p.state != "left" && p.name != id.node && !p.addr.empty())
      d.peers.push_back(p.addr);
  snap.incarnation = d.incarnation_ceiling;
  storage::write_batch b;
  b.set_hlc_high_water(d.hlc_ceiling);
  b.set_membership(std::move(snap));
  if (auto s = st.commit(b); !s)
    return s.message;
  d.store = std::make_shared<metadata::durable_store>();
  d.store->store = std::move(*opened);
  d.store->commit = std::make_unique<storage::group_commit>(*d.store->store);
  out = std::move(d);
  return {};
}

storage::membership_snapshot
membership_snapshot_of(const std::vector<membership::member>& members,
                       const std::string& self_name, uint64_t ceiling) {
  storage::membership_snapshot snap;
  snap.incarnation = ceiling;
  std::vector<const membership::member*> peers;
  for (auto& m : members) {
    if (m.name == self_name) {
      storage::lease l{ceiling, incarnation_lease_step};
      if (l.should_extend(m.incarnation))
        snap.incarnation = std::max(ceiling, l.extend_for(m.incarnation));
      continue;
    }
    if (m.state != membership::member_state::left && !m.addr.empty())
      peers.push_back(&m);
  }
  // Alive first (the likeliest to answer a rejoin), then by name: a stable
  // order, so an unchanged view is not written again.
  auto rank = [](const membership::member* m) {
    return m->state == membership::member_state::alive ? 0 : 1;
  };
  std::stable_sort(peers.begin(), peers.end(),
                   [&](auto* a, auto* b) { return rank(a) < rank(b); });
  if (peers.size() > max_snapshot_peers)
    peers.resize(max_snapshot_peers);
  for (auto* m : peers)
    snap.peers.push_back(storage::peer{m->name, m->addr, m->incarnation,
                                       membership::to_string(m->state)});
  return snap;
}

namespace {

struct snapshot_state {
  membership::membership_actor membership;
  std::string self_name;
  std::shared_ptr<metadata::durable_store> store;
  uint64_t ceiling = 0;
  duration interval{};
  /// What was last submitted, without the incarnations of peers (those
  /// change on every refutation and are not needed to rejoin).
  std::vector<std::pair<std::string, std::string>> written;
  uint64_t written_ceiling = 0;
  uint64_t next_id = 1;
  std::map<uint64_t, caf::typed_response_promise<bool>> waiting;
};

/// Submits the snapshot of `members` when it changed (or `force`);
/// `done(ok)` runs once it is durable (at once when nothing was written).
void write_snapshot(snapshot_state& st,
                    const std::vector<membership::member>& members, bool force,
                    std::function<void(bool)> done) {
  auto snap = membership_snapshot_of(members, st.self_name, st.ceiling);
  std::vector<std::pair<std::string, std::string>> view;
  for (auto& p : snap.peers)
    view.emplace_back(p.name, p.addr + "/" + p.state);
  if (!force && view == st.written && snap.incarnation == st.written_ceiling) {
    done(true);
    return;
  }
  st.written = std::move(view);
  st.written_ceiling = snap.incarnation;
  st.ceiling = snap.incarnation;
  storage::write_batch b;
  b.set_membership(std::move(snap));
  st.store->commit->submit(std::move(b), [done](const storage::status& s) {
    if (!s)
      LOG(WARNING) << "membership snapshot not written: "
                               << s.message;
    done(s.ok());
  });
}

caf::behavior
snapshot_behavior(caf::stateful_actor<snapshot_state>* self,
                  membership::membership_actor membership,
                  std::string self_name,
                  std::shared_ptr<metadata::durable_store> store,
                  uint64_t ceiling, duration interval) {
  auto& st = self->state;
  st.membership = std::move(membership);
  st.self_name = std::move(self_name);
  st.store = std::move(store);
  st.ceiling = ceiling;
  st.written_ceiling = ceiling;
  st.interval = interval;
  self->delayed_send(self, interval, nd_tick_atom_v);
  return {
    [self](nd_tick_atom) {
      self->request(self->state.membership, std::chrono::seconds(5),
                    membership::m_members_atom_v)
        .then(
          [self](const std::vector<membership::member>& ms) {
            write_snapshot(self->state, ms, false, [](bool) {});
            self->delayed_send(self, self->state.interval, nd_tick_atom_v);
          },
          [self](const caf::error&) {
            self->delayed_send(self, self->state.interval, nd_tick_atom_v);
          });
    },
    [self](nd_snap_atom) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      auto id = self->state.next_id++;
      self->state.waiting.emplace(id, rp);
      self->request(self->state.membership, std::chrono::seconds(5),
                    membership::m_members_atom_v)
        .then(
          [self, id](const std::vector<membership::member>& ms) {
            // The committer answers on its own thread: back to this actor
            // with a message, which delivers the promise.
            auto me = caf::actor_cast<caf::actor>(self);
            write_snapshot(self->state, ms, true, [me, id](bool ok) {
              caf::anon_send(me, nd_snap_atom_v, id, ok);
            });
          },
          [self, id](const caf::error& e) {
            auto i = self->state.waiting.find(id);
            if (i != self->state.waiting.end()) {
              i->second.deliver(e);
              self->state.waiting.erase(i);
            }
          });
      return rp;
    },
    [self](nd_snap_atom, uint64_t id, bool ok) {
      auto i = self->state.waiting.find(id);
      if (i != self->state.waiting.end()) {
        i->second.deliver(ok);
        self->state.waiting.erase(i);
      }
    },
  };
}

} // namespace

caf::actor spawn_membership_snapshots(
  caf::actor_system& sys, membership::membership_actor membership,
  std::string self_name, std::shared_ptr<metadata::durable_store> store,
  uint64_t ceiling, duration interval) {
  auto a = sys.spawn(snapshot_behavior, membership, std::move(self_name),
                     std::move(store), ceiling, interval);
  compat::link(membership, a);
  return a;
}

} // namespace pekonode::node
