#include "transport/error.h"

namespace pekonode::transport {

const char* to_string(ec x) noexcept {
  switch (x) {
    case ec::none: return "none";
    case ec::too_large: return "too_large";
    case ec::truncated: return "truncated";
    case ec::malformed: return "malformed";
    case ec::bad_version: return "bad_version";
    case ec::too_many_messages: return "too_many_messages";
    case ec::field_too_large: return "field_too_large";
    case ec::unknown_channel: return "unknown_channel";
    case ec::auth_failed: return "auth_failed";
    case ec::wrong_label: return "wrong_label";
    case ec::encryption_mismatch: return "encryption_mismatch";
    case ec::replayed: return "replayed";
    case ec::no_subscriber: return "no_subscriber";
    case ec::bad_address: return "bad_address";
    case ec::resolve_failed: return "resolve_failed";
    case ec::io_error: return "io_error";
    case ec::bad_keyring: return "bad_keyring";
    case ec::crypto_unavailable: return "crypto_unavailable";
    case ec::wrong_destination: return "wrong_destination";
    case ec::stale: return "stale";
    case ec::key_not_found: return "key_not_found";
    case ec::primary_key: return "primary_key";
    case ec::keyring_full: return "keyring_full";
  }
  return "unknown";
}

} // namespace pekonode::transport
