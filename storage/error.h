#pragma once
// Error vocabulary of the storage package: one `ec` per way a data dir, the
// durable store or a snapshot file can fail, and small result types, so the
// layer needs no CAF. Shells convert to `caf::error` at the boundary. Every
// failure message is one line naming the path it concerns
// ("data_dir /var/lib/pekonode: ...", "snapshot /tmp/s.peko: ...").

#include <cstdint>
#include <string>
#include <utility>

namespace pekonode::storage {

/// Why a storage operation failed. `to_string` names are stable identifiers
/// (metric labels); callers decide by code, never by message text.
enum class ec : uint8_t {
  none = 0,
  bad_path,           ///< empty path, missing parent, not a directory
  permission,         ///< wrong owner or mode, or access denied by the OS
  locked,             ///< another process (or opener) holds the data dir
  foreign,            ///< not a pekonode data dir, or another node's/cluster's
  unsupported_format, ///< written by a newer format this build cannot read
  corrupt,            ///< a marker, the database or a snapshot fails a check
  full,               ///< disk full or the size limit reached: writes fail, reads work
  io_error,           ///< any other operating-system or engine failure
  invalid_argument,   ///< a record or batch beyond the configured bounds
  overloaded,         ///< the group-commit queue is at its byte bound
  closed,             ///< the committer is stopping
};

/// Stable snake_case name of `x` ("locked", "full", ...).
const char* to_string(ec x) noexcept;

/// Success, or an error code with a one-line message for people.
struct status {
  ec code = ec::none;
  std::string message; ///< empty on success

  bool ok() const noexcept { return code == ec::none; }
  explicit operator bool() const noexcept { return ok(); }

  static status success() { return {}; }
  static status failure(ec c, std::string msg) {
    return status{c, std::move(msg)};
  }
};

/// A value or a failure status.
template <class T>
struct result {
  storage::status status;
  T value{};

  bool ok() const noexcept { return status.ok(); }
  explicit operator bool() const noexcept { return ok(); }
  ec code() const noexcept { return status.code; }
  const std::string& message() const noexcept { return status.message; }
  T& operator*() noexcept { return value; }
  const T& operator*() const noexcept { return value; }
  T* operator->() noexcept { return &value; }
  const T* operator->() const noexcept { return &value; }

  static result success(T x) {
    result r;
    r.value = std::move(x);
    return r;
  }
  static result failure(storage::status s) {
    result r;
    r.status = std::move(s);
    return r;
  }
  static result failure(ec c, std::string msg) {
    return failure(status::failure(c, std::move(msg)));
  }
};

} // namespace pekonode::storage
