// Test helper for huge_pages_test.sh: calls reexec_with_huge_pages, then
// prints GLIBC_TUNABLES as the process was started with (from
// /proc/self/environ, which setenv does not change: it differs from the
// parent's only if the process was re-executed) and its arguments.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "chaos/huge_pages.h"

int main(int argc, char** argv) {
  pekonode::chaos::reexec_with_huge_pages(argv);
  std::ifstream env("/proc/self/environ", std::ios::binary);
  std::string var, tunables;
  while (std::getline(env, var, '\0'))
    if (var.rfind("GLIBC_TUNABLES=", 0) == 0) tunables = var.substr(15);
  std::printf("tunables=%s\n", tunables.c_str());
  for (int i = 1; i < argc; ++i) std::printf("arg=%s\n", argv[i]);
  return 0;
}
