#include "storage/error.h"

namespace pekonode::storage {

const char* to_string(ec x) noexcept {
  switch (x) {
    case ec::none: return "none";
    case ec::bad_path: return "bad_path";
    case ec::permission: return "permission";
    case ec::locked: return "locked";
    case ec::foreign: return "foreign";
    case ec::unsupported_format: return "unsupported_format";
    case ec::corrupt: return "corrupt";
    case ec::full: return "full";
    case ec::io_error: return "io_error";
    case ec::invalid_argument: return "invalid_argument";
    case ec::overloaded: return "overloaded";
    case ec::closed: return "closed";
  }
  return "unknown";
}

} // namespace pekonode::storage
