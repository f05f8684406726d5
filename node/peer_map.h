#pragma once
// The one mapping of membership to the metadata layer's peers, shared by the
// node's peer feed actor and the chaos harness's core engine: alive and
// suspect members are peers (a suspect may be merely slow); dead and left
// ones are not. Pure: no CAF.

#include <optional>
#include <string_view>

#include "membership/core.h"
#include "metadata/peer.h"

namespace pekonode::node {

/// Whether a member in state `s` is a live peer for the metadata layer.
inline bool is_live_peer(membership::member_state s) {
  return s == membership::member_state::alive
         || s == membership::member_state::suspect;
}

/// The peer change a member event means for a node called `self_name`;
/// none for the node itself and for a name conflict (the event carries
/// another node's claim, not a change of this node's view).
inline std::optional<metadata::peer_change>
peer_change_of(const membership::event& ev, std::string_view self_name) {
  if (ev.kind == membership::event::name_conflict || ev.m.name == self_name)
    return std::nullopt;
  return metadata::peer_change{ev.m.name, ev.m.addr, is_live_peer(ev.m.state)};
}

} // namespace pekonode::node
