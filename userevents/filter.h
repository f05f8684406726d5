#pragma once
// Query filters: a pattern on the node name and patterns on tag values, as
// `serf query -node= -tag=`. Patterns are RE2 (linear time, bounded memory),
// because they arrive from the network; each must match the whole text.
// Pure: no CAF, no I/O.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "userevents/types.h"

namespace re2 {
class RE2;
}

namespace pekonode::userevents {

class filter {
public:
  filter();
  ~filter();
  filter(filter&&) noexcept;
  filter& operator=(filter&&) noexcept;

  /// Compiles the filters; on failure returns false with the reason in
  /// `why` (which pattern, why, or which bound). Checks the byte and count
  /// bounds (max_filter_bytes, max_tag_filters) first.
  bool compile(const std::string& node, const tag_filters& tags,
               std::string& why);

  /// True when `name` matches the node pattern (or there is none) and every
  /// tag filter's key exists in `tags` with a matching value.
  bool matches(const std::string& name,
               const std::map<std::string, std::string>& tags) const;

private:
  std::unique_ptr<re2::RE2> node_;
  std::vector<std::pair<std::string, std::unique_ptr<re2::RE2>>> tags_;
};

} // namespace pekonode::userevents
