#include "chaos/huge_pages.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace pekonode::chaos {

void reexec_with_huge_pages(char** argv) {
  if (std::getenv("PEKONODE_SMALL_PAGES") != nullptr) return;
  const char* preload = std::getenv("LD_PRELOAD");
  if (preload != nullptr && std::string(preload).find("vgpreload") != std::string::npos)
    return; // valgrind
  // Tunables set by the caller are the caller's: left as they are (glibc
  // 2.36 keeps only the first of several in the environment it passes on).
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  if (setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // The exec failed: run with small pages (the variable stays set; it only
  // matters at a process start).
}

} // namespace pekonode::chaos
