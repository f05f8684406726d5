#!/usr/bin/env bash
# Runs a Python test with Debian's python3 and its matplotlib (Bazel 4.2.3
# has no usable offline Python toolchain here; a python3 earlier on PATH,
# e.g. from pyenv, has no python3-matplotlib): SCRIPT ARGS...
set -euo pipefail
export MPLCONFIGDIR="${TEST_TMPDIR:-/tmp}/matplotlib"
py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
exec "$py" -B "$@"
