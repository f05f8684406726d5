#pragma once
// The --config file applied to the binary's gflags, and its reload on SIGHUP.
// Start-up: the file's values become the flags' defaults, so flags given on
// the command line (or in a --flagfile) win. Reload: the file is read again
// and each changed setting is either applied through its row of the reload
// table or reported as needing a restart. Not thread-safe: used by main()'s
// thread only.

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "node/config_file.h"

namespace pekonode::node {

/// Flags whose config-file value may be a list (array) or a map (object);
/// every other flag takes the JSON type of its gflags type.
inline const std::set<std::string>& list_flags() {
  static const std::set<std::string> names{"join"};
  return names;
}
/// Repeatable flags: several values are joined with newlines.
inline const std::set<std::string>& line_list_flags() {
  static const std::set<std::string> names{"event_handler"};
  return names;
}
inline const std::set<std::string>& map_flags() {
  static const std::set<std::string> names{"tags"};
  return names;
}

/// A spec for every flag registered with gflags (the node's and glog's),
/// except the reserved ones (see reserved_key).
std::vector<flag_spec> registered_flag_specs();

/// Where each flag's value came from at start-up.
struct flag_state {
  std::string config_path;            ///< empty: no --config
  std::set<std::string> command_line; ///< set on the command line / flagfile
  flag_values builtin_defaults;       ///< before the config file was applied
  flag_values file;                   ///< the config file's values
  flag_values running;                ///< every flag's value after start-up
};

/// Call right after gflags::ParseCommandLineFlags. Reads `config_path` (if
/// not empty) and makes its values the defaults of the flags the command line
/// did not set. Returns "" or one line starting with "--config=PATH: ".
std::string apply_config(const std::string& config_path, flag_state& state);

/// SIGHUP: re-reads the config file and applies what can change at run time.
/// The reload table maps a flag to the function that applies its new value;
/// any other changed flag is logged as needing a restart.
class config_reloader {
public:
  /// Applies a new value (flag text form); returns "" or why it could not.
  using apply_fn = std::function<std::string(const std::string& value)>;

  explicit config_reloader(flag_state state);

  /// Adds a row to the reload table. A successful apply also sets the flag.
  void add(const std::string& flag, apply_fn fn);

  /// Re-reads the file and applies the changes. Every outcome is logged
  /// (INFO: applied / unchanged; WARNING: needs a restart, ignored, failed)
  /// and also returned, one line each.
  std::vector<std::string> reload();

  /// Flags in the reload table.
  std::set<std::string> reloadable() const;

private:
  flag_state state_;
  std::vector<std::pair<std::string, apply_fn>> table_;
};

/// Reload-table rows for the log level: --v and --minloglevel (0..3).
void add_log_level_settings(config_reloader& reloader);

} // namespace pekonode::node
