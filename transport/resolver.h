#pragma once
// The resolver actor: runs blocking name lookups (getaddrinfo) on a thread
// of its own and replies with the results, so that no actor on the
// scheduler's threads ever waits on DNS. Not a cache: callers keep what they
// learn and decide when to ask again.

#include <functional>
#include <string_view>
#include <vector>

#include "transport/address.h"
#include "transport/transport.h"

namespace pekonode::transport {

/// How one "host:port" is turned into endpoints; the default is `resolve`
/// (getaddrinfo; IP literals return at once). Tests pass slow or failing
/// functions.
using resolve_function =
  std::function<result<std::vector<endpoint>>(std::string_view)>;

/// Behaviour of a resolver: answers `(tx_resolve_atom, resolutions)` by
/// calling `fn` for each name in turn. Spawn it `caf::detached` (see
/// spawn_resolver): `fn` blocks.
resolver_actor::behavior_type resolver_behavior(resolver_actor::pointer self,
                                                resolve_function fn);

/// Spawns a detached resolver (its own thread). `fn` defaults to `resolve`.
resolver_actor spawn_resolver(caf::actor_system& sys,
                              resolve_function fn = {});

/// Spawns a detached resolver linked to `self` (it ends with its owner) from
/// inside an actor.
template <class Self>
resolver_actor spawn_linked_resolver(Self* self, resolve_function fn = {}) {
  if (!fn)
    fn = [](std::string_view name) { return resolve(name); };
  return self->template spawn<caf::detached + caf::linked>(resolver_behavior,
                                                          std::move(fn));
}

} // namespace pekonode::transport
