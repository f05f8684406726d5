#pragma once
// Helpers for the storage tests: fresh temporary directories under the test's
// TEST_TMPDIR, file surgery, and a fixed identity.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "storage/data_dir.h"

namespace pekonode::storage::testing {

inline std::string tmp_root() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t && *t ? t : "/tmp";
}

/// A new empty directory (0700) under the test's temp dir.
inline std::string make_temp_dir(const std::string& prefix = "st") {
  std::string tmpl = tmp_root() + "/" + prefix + "XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  return p ? std::string(p) : std::string();
}

/// A path that does not exist yet, inside a new temp dir.
inline std::string fresh_data_dir() { return make_temp_dir() + "/data"; }

inline identity test_id(std::string node = "n1") { return {"c1", std::move(node)}; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline off_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

} // namespace pekonode::storage::testing
