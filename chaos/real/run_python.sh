#!/usr/bin/env bash
# Runs a Python script of this package with the system python3 (Bazel 4.2.3
# has no usable offline Python toolchain here): run_python.sh SCRIPT ARGS...
set -euo pipefail
script="$1"
shift
exec python3 -B "$script" "$@"
