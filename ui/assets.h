#pragma once
// The live cluster view's static files (ui/assets), built into the binary
// so /ui/ works offline and without a file system layout.

#include <cstddef>
#include <string_view>

namespace pekonode::ui {

struct asset {
  std::string_view name;         ///< path below /ui/, e.g. "app.js"
  std::string_view content_type;
  std::string_view etag;         ///< quoted, changes with the content
  const char* data;
  size_t size;
};

/// The asset served at /ui/`name` ("index.html" for /ui/), or nullptr.
const asset* find_asset(std::string_view name);

} // namespace pekonode::ui
