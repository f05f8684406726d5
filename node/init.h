#pragma once
// The one call that prepares an actor system configuration for pekonode:
// registers every type-ID block (common, transport, membership, metadata,
// node) and the error categories of the four layers, so that the system can
// serialize and print pekonode's messages and render its errors
// ("metadata: not_found (...)"). Call it once per configuration, before the
// actor system is constructed; the pekonode binary, the tests and every
// embedder do the same.

#include <caf/all.hpp>

namespace pekonode {

/// Registers pekonode's types and error categories with `cfg`.
void init(caf::actor_system_config& cfg);

/// Whether `sys` was configured by `init` (its error categories are known).
bool initialized(const caf::actor_system& sys);

} // namespace pekonode
