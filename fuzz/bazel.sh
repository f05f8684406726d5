#!/usr/bin/env bash
# Runs Bazel with the fuzzing configuration (fuzz/fuzz.bazelrc: clang-14,
# libFuzzer, ASan + UBSan) in an output base of its own, so switching between
# it and the default gcc build never discards either build's outputs.
#   fuzz/bazel.sh test //fuzz/...        # every fuzz target, bounded runs
#   fuzz/bazel.sh build //fuzz:codec_fuzzer
# PEKONODE_FUZZ_OUTPUT_BASE overrides the output base.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if (($# == 0)); then
  echo "usage: fuzz/bazel.sh COMMAND [ARGS...]" >&2
  exit 2
fi
hash="$(printf '%s' "$root" | md5sum | cut -c1-32)"
base="${PEKONODE_FUZZ_OUTPUT_BASE:-${XDG_CACHE_HOME:-$HOME/.cache}/pekonode-fuzz/$hash}"
cmd="$1"
shift
# A short idle time: the second Bazel server (~300 MB) should not linger on a
# shared CI machine after the fuzz pass.
exec bazel --output_base="$base" --bazelrc="$root/fuzz/fuzz.bazelrc" \
  --max_idle_secs=300 "$cmd" --config=fuzz "$@"
