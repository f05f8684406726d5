#pragma once
// CAF view of common/types.h: inspectors and the first type-ID block of
// pekonode (`pekonode_common`), for the vocabulary every actor interface
// uses. The cores include common/types.h only and never see CAF.

#include "common/caf_compat.h"
#include "common/types.h"

#include <string>

namespace pekonode {

/// "membership", "metadata", "user_events" or the number of an unknown channel.
inline std::string to_string(channel c) {
  switch (c) {
    case channel::membership: return "membership";
    case channel::metadata: return "metadata";
    case channel::user_events: return "user_events";
  }
  return std::to_string(static_cast<uint32_t>(c));
}

template <class Inspector>
PEKONODE_INSPECT_RESULT(Inspector) inspect(Inspector& f, outbound& x) {
  return compat::inspect_object(
    f, x, "outbound",
    compat::field("to", x.to),
    compat::field("chan", x.chan),
    compat::field("payload", x.payload));
}

} // namespace pekonode

CAF_BEGIN_TYPE_ID_BLOCK(pekonode_common, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(pekonode_common, (pekonode::channel))
  CAF_ADD_TYPE_ID(pekonode_common, (pekonode::outbound))
  CAF_ADD_TYPE_ID(pekonode_common, (pekonode::outbound_list))

CAF_END_TYPE_ID_BLOCK(pekonode_common)
