#pragma once
// Huge pages for the simulator's heap. A simulated cluster keeps one member
// table per node (N² entries) and reads them at random, so with 4 KiB pages
// almost every name lookup also misses the TLB; glibc's malloc backs its
// heap with transparent huge pages when GLIBC_TUNABLES asks for it
// (glibc.malloc.hugetlb=1, glibc >= 2.35; older ones ignore the name). The
// tunable is read when the process starts, so the program re-executes
// itself once with it set. At N=1000 this took 10–21 % off the wall time
// (docs/BENCHMARKS.md).

namespace pekonode::chaos {

/// Re-executes the running program (same arguments) with
/// GLIBC_TUNABLES=glibc.malloc.hugetlb=1, unless GLIBC_TUNABLES is set
/// already (the caller's choice stands), PEKONODE_SMALL_PAGES is set, or
/// the program runs under valgrind (which would not follow the exec).
/// Returns only when it did not re-execute (or the exec failed): the caller
/// then goes on as it is.
void reexec_with_huge_pages(char** argv);

} // namespace pekonode::chaos
