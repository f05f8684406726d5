#!/usr/bin/env bash
# reexec_with_huge_pages: the program runs again, once, with its arguments
# and GLIBC_TUNABLES=glibc.malloc.hugetlb=1 in the environment it starts
# with; tunables the caller set and PEKONODE_SMALL_PAGES are left alone.
# Usage: huge_pages_test.sh PROBE
set -euo pipefail
probe="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$(env -u GLIBC_TUNABLES -u PEKONODE_SMALL_PAGES "$probe" a "b c")
[[ "$out" == $'tunables=glibc.malloc.hugetlb=1\narg=a\narg=b c' ]] \
  || fail "plain run: $out"

out=$(env -u PEKONODE_SMALL_PAGES GLIBC_TUNABLES=glibc.malloc.arena_max=2 "$probe")
[[ "$out" == "tunables=glibc.malloc.arena_max=2" ]] \
  || fail "the caller's tunables changed: $out"

out=$(env -u GLIBC_TUNABLES PEKONODE_SMALL_PAGES=1 "$probe")
[[ "$out" == "tunables=" ]] || fail "PEKONODE_SMALL_PAGES ignored: $out"
echo PASS
