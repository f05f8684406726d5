#!/usr/bin/env bash
# Fails when fuzz/corpus differs from what fuzz/gen_corpus.cc writes (files
# named regress-* are kept by hand and not compared). Fix: run
#   bazel run //fuzz:gen_corpus -- "$PWD/fuzz/corpus"
set -euo pipefail
gen="$1"
committed="$2"
fresh="${TEST_TMPDIR:-$(mktemp -d)}/corpus"
"$gen" "$fresh" >/dev/null
if ! diff -r -x 'regress-*' "$fresh" "$committed"; then
  echo "fuzz/corpus is stale: bazel run //fuzz:gen_corpus -- \"\$PWD/fuzz/corpus\"" >&2
  exit 1
fi
echo "corpus matches gen_corpus ($(find "$fresh" -type f | wc -l) seeds)"
