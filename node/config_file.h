#pragma once
// The pekonode binary's --config file: a JSON object keyed by flag names
// (without dashes) turned into flag values, and the plan of a reload (which
// changed settings apply at run time, which need a restart). Pure: no gflags,
// no logging; node/config_flags.h applies the result to the flags.

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pekonode::node {

/// The JSON types a flag accepts in a config file.
enum class flag_kind {
  boolean,     ///< true / false
  int32,       ///< an integer in range
  uint32,
  int64,
  uint64,
  floating,    ///< any number
  string,      ///< a string
  string_list, ///< a string ("a,b") or an array of strings (["a", "b"])
  string_map,  ///< a string ("k=v,k2=v2") or an object ({"k": "v"}); --tags
  line_list,   ///< a string, or an array of strings joined with newlines
               ///< (a repeatable flag such as --event_handler)
};

/// One flag a config file may set.
struct flag_spec {
  std::string name;
  flag_kind kind = flag_kind::string;
};

/// Flag name -> value in the flag's text form ("true", "42", "a,b", "k=v").
using flag_values = std::map<std::string, std::string>;

/// A config file larger than this is refused (it is a handful of flags).
constexpr size_t max_config_bytes = 1 << 20;

/// True for keys that control flag parsing itself (config, flagfile,
/// fromenv, tryfromenv, undefok, help*, version): a config file cannot set
/// them.
bool reserved_key(std::string_view name);

/// Parses a config file's text against `specs`. Every key must name a spec
/// and hold a value of its kind (numbers must be integral and in range for
/// integer flags; null is never a value). string_map values are checked as
/// tags (node/options.h) and put in canonical form (sorted, escaped).
/// Returns "" on success, else one line naming the offending key.
std::string parse_config(std::string_view text,
                         const std::vector<flag_spec>& specs,
                         flag_values& out);

/// Reads `path` (at most max_config_bytes) and parses it; the reason on
/// failure starts with the path.
std::string load_config_file(const std::string& path,
                             const std::vector<flag_spec>& specs,
                             flag_values& out);

/// Tags in the --tags text form: "k=v,k2=v2", keys sorted, and `,` `=` `\`
/// escaped with a backslash (parse_tags reads it back unchanged).
std::string format_tags(const std::map<std::string, std::string>& tags);

/// One setting whose value changes.
struct setting_change {
  std::string flag;
  std::string from;
  std::string to;
};

/// What re-reading the config file changes.
struct reload_plan {
  std::vector<setting_change> apply;      ///< reloadable: apply now
  std::vector<setting_change> restart;    ///< takes effect at the next start
  std::vector<setting_change> overridden; ///< set on the command line: ignored
  bool empty() const {
    return apply.empty() && restart.empty() && overridden.empty();
  }
};

/// Plans a reload. A flag's value after the reload is the command line's if
/// the command line (or a --flagfile) set it, else the new file's, else its
/// built-in default; it changes when that differs from `running`. Changes
/// of flags in `reloadable` go to `apply`, the others to `restart`; a flag
/// set on the command line whose file value changed goes to `overridden`.
/// Only flags named by the old or the new file are considered. Sorted by
/// flag name.
reload_plan plan_reload(const flag_values& running,
                        const flag_values& builtin_defaults,
                        const std::set<std::string>& command_line,
                        const flag_values& old_file,
                        const flag_values& new_file,
                        const std::set<std::string>& reloadable);

} // namespace pekonode::node
