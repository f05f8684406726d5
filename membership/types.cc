#include "membership/types.h"

namespace pekonode::membership {

const char* to_string(member_state s) {
  switch (s) {
    case member_state::alive: return "alive";
    case member_state::suspect: return "suspect";
    case member_state::dead: return "dead";
    case member_state::left: return "left";
  }
  return "unknown";
}

const char* to_string(ec e) {
  switch (e) {
    case ec::none: return "none";
    case ec::tags_too_large: return "tags_too_large";
    case ec::bad_tag: return "bad_tag";
    case ec::not_running: return "not_running";
    case ec::bad_config: return "bad_config";
  }
  return "unknown";
}

const char* to_string(event::kind_t k) {
  switch (k) {
    case event::joined: return "joined";
    case event::suspect: return "suspect";
    case event::alive: return "alive";
    case event::dead: return "dead";
    case event::left: return "left";
    case event::updated: return "updated";
    case event::name_conflict: return "name_conflict";
  }
  return "unknown";
}

} // namespace pekonode::membership
