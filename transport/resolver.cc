#include "transport/resolver.h"

namespace pekonode::transport {

resolver_actor::behavior_type resolver_behavior(resolver_actor::pointer,
                                                resolve_function fn) {
  return {
    [fn](tx_resolve_atom, resolutions& names) {
      for (auto& r : names) {
        r.addrs.clear();
        r.error.clear();
        auto eps = fn(r.name);
        if (!eps) {
          r.error = eps.message;
          continue;
        }
        for (auto& ep : *eps)
          r.addrs.push_back(to_address(ep));
        if (r.addrs.empty())
          r.error = "'" + r.name + "' has no address";
      }
      return std::move(names);
    },
  };
}

resolver_actor spawn_resolver(caf::actor_system& sys, resolve_function fn) {
  if (!fn)
    fn = [](std::string_view name) { return resolve(name); };
  return sys.spawn<caf::detached>(resolver_behavior, std::move(fn));
}

} // namespace pekonode::transport
