#pragma once
// Invariant checks inside fuzz targets: a violated property aborts, so
// libFuzzer (or the plain replay driver) reports it like a crash and keeps
// the input. Always on, unlike assert().

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s (%s)\n",        \
                   __FILE__, __LINE__, #cond, what);                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

#include <set>
#include <string>

namespace pekonode::fuzz {

/// PEKONODE_FUZZ_STRICT=1 turns tolerated known findings (see
/// FUZZ_KNOWN) back into failures: for whoever fixes one.
inline bool strict() {
  static const bool s = std::getenv("PEKONODE_FUZZ_STRICT") != nullptr;
  return s;
}

/// Reports a known finding once per process (fuzz/README.md lists them).
inline void note_known(const char* id) {
  static std::set<std::string> seen;
  if (seen.insert(id).second)
    std::fprintf(stderr, "fuzz: known finding %s reached (tolerated; "
                         "PEKONODE_FUZZ_STRICT=1 fails on it)\n", id);
}

} // namespace pekonode::fuzz

/// A violated invariant that matches the signature of a known finding whose
/// fix lies outside this package: reported once and tolerated unless
/// PEKONODE_FUZZ_STRICT is set; any other violation still aborts.
#define FUZZ_CHECK_KNOWN(cond, known_signature, id, what)                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      if ((known_signature) && !::pekonode::fuzz::strict())                    \
        ::pekonode::fuzz::note_known(id);                                      \
      else                                                                     \
        FUZZ_CHECK(cond, what);                                                \
    }                                                                          \
  } while (false)
