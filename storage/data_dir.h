#pragma once
// The data directory of one node (`--data_dir=DIR`): creates or opens it,
// checks its permissions (0700, owned by this user), holds an exclusive lock
// for the life of the object, and reads or writes the FORMAT marker that
// names the format version and the cluster and node the directory belongs
// to. It knows nothing of the engine inside (see store.h).
//
// Layout:
//   DIR/LOCK       flock()ed exclusively while open; holds the owner's pid
//   DIR/FORMAT     marker, written last at initialisation (text, CRC-32C)
//   DIR/store.db*  the durable store (store.h)

#include <memory>
#include <string>
#include <string_view>

#include "storage/error.h"

namespace pekonode::storage {

/// Format version of the directory and everything in it. A newer version
/// is refused; an older one would be migrated here.
inline constexpr uint32_t format_version = 1;

/// First line of FORMAT.
inline constexpr std::string_view format_magic = "pekonode data dir";

/// Whose data this is. A directory of another cluster or another node is
/// refused, so a mis-typed --data_dir never mixes two nodes' state.
struct identity {
  std::string cluster; ///< cluster label (may be empty)
  std::string node;    ///< node name (not empty)

  friend bool operator==(const identity& a, const identity& b) {
    return a.cluster == b.cluster && a.node == b.node;
  }
};

/// An open, locked data directory. Not thread-safe; move-only through its
/// unique_ptr. The lock is released when it is destroyed (or the process dies).
class data_dir {
public:
  /// Opens `path`, creating it (mode 0700; its parent must exist) when
  /// missing and `create` is set. Fails with a one-line message starting
  /// "data_dir PATH: " for: a bad path, a wrong owner or mode, a lock held by
  /// another opener, a non-empty directory without FORMAT, a FORMAT of
  /// another cluster or node, of a newer version, or failing its checksum.
  static result<std::unique_ptr<data_dir>> open(const std::string& path,
                                                const identity& id,
                                                bool create = true);

  ~data_dir();
  data_dir(const data_dir&) = delete;
  data_dir& operator=(const data_dir&) = delete;

  const std::string& path() const { return path_; }
  const identity& id() const { return id_; }

  /// Whether FORMAT exists, i.e. initialisation completed once. Until then
  /// the store creates its files and calls mark_initialised() last.
  bool initialised() const { return initialised_; }

  /// Writes FORMAT atomically (temp file, fsync, rename, fsync of the dir).
  status mark_initialised();

  /// DIR/name.
  std::string file(std::string_view name) const;

  /// "data_dir PATH: " + what.
  std::string error(std::string_view what) const;

  /// fsync of the directory itself (after creating or renaming files in it).
  status sync_dir() const;

private:
  data_dir(std::string path, identity id) : path_(std::move(path)), id_(std::move(id)) {}

  std::string path_;
  identity id_;
  int lock_fd_ = -1;
  bool initialised_ = false;
};

/// The FORMAT file's text for `id` (exposed for tests).
std::string format_text(const identity& id);

/// Escapes bytes outside printable ASCII, '%' and spaces as %XX (one-line
/// fields of FORMAT and of error messages naming untrusted text).
std::string escape_field(std::string_view s);

} // namespace pekonode::storage
