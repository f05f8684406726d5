#pragma once
// Permissions of files that hold secrets (the admin token, the gossip
// keyring): the one warning a node logs when group or others may read or
// write such a file. Reads nothing itself: callers pass the mode they got
// from fstat() on the file they opened.

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "common/text.h"

namespace pekonode {

/// A one-line warning naming `path` and its mode when `mode` (an st_mode)
/// gives group or others any access; empty when only the owner has any.
inline std::string secret_file_mode_warning(const std::string& path,
                                            mode_t mode) {
  if ((mode & (S_IRWXG | S_IRWXO)) == 0)
    return {};
  char octal[8];
  std::snprintf(octal, sizeof(octal), "%04o",
                static_cast<unsigned>(mode & 07777));
  return quote(path) + " (mode " + octal
         + ") can be read or written by group or others; chmod 600 it";
}

} // namespace pekonode
