#pragma once
// Fuzz targets feed protobuf ill-formed strings on purpose; its ERROR log
// line per rejected string would drown libFuzzer's output.

#include <google/protobuf/stubs/logging.h>

namespace pekonode::fuzz {

inline void quiet_protobuf() {
  static const bool done = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void) done;
}

} // namespace pekonode::fuzz
