#include "node/event_feed.h"

#include <caf/all.hpp>

#include "common/caf_compat.h"

namespace pekonode::node {

const char* event_type_of(membership::event::kind_t kind) {
  using k = membership::event;
  switch (kind) {
    case k::joined: return event_types::member_join;
    case k::suspect: return event_types::member_suspect;
    case k::alive: return event_types::member_alive;
    case k::dead: return event_types::member_dead;
    case k::left: return event_types::member_left;
    case k::updated: return event_types::member_update;
    case k::name_conflict: return event_types::member_conflict;
  }
  return event_types::member_update;
}

nlohmann::json member_payload(const membership::member& m) {
  return nlohmann::json{{"name", m.name},
                        {"addr", m.addr},
                        {"state", membership::to_string(m.state)},
                        {"incarnation", m.incarnation},
                        {"tags", m.tags}};
}

nlohmann::json key_payload(const metadata::kv_change& c) {
  return nlohmann::json{{"key", c.key},
                        {"version", metadata::to_string(c.ver)},
                        {"origin", c.ver.origin},
                        {"size", c.size},
                        {"local", c.local}};
}

namespace {

using feed_actor = membership::member_listener_actor::extend_with<
  metadata::key_listener_actor>;

feed_actor::behavior_type feed_behavior(feed_actor::pointer, event_log* log) {
  return {
    [log](membership::m_event_atom, const membership::event& ev) {
      log->append(event_type_of(ev.kind), ev.m.name, member_payload(ev.m));
    },
    [log](metadata::md_event_atom, const metadata::kv_change& c) {
      log->append(c.deleted ? event_types::key_delete : event_types::key_put,
                  c.key, key_payload(c));
    },
  };
}

} // namespace

void attach_event_feed(caf::actor_system& sys, const node_handle& node,
                       event_log& log) {
  auto feed = sys.spawn(feed_behavior, &log);
  compat::link(node.membership, feed);
  caf::anon_send(node.membership, membership::m_sub_atom_v,
                 caf::actor_cast<membership::member_listener_actor>(feed));
  caf::anon_send(node.metadata, metadata::md_sub_atom_v,
                 caf::actor_cast<metadata::key_listener_actor>(feed));
}

} // namespace pekonode::node
