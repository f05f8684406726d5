#pragma once
// pekonode's version: the single place it is written. The node binary
// (--version), pekoctl (--version) and the admin API's Server header print it.

#define PEKONODE_VERSION "0.1.0"

namespace pekonode {

/// The release this build belongs to (semantic versioning).
inline constexpr const char* version = PEKONODE_VERSION;

} // namespace pekonode
