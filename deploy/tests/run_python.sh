#!/usr/bin/env bash
# Runs a Python test with Debian's python3 (its python3-yaml is what the
# manifest checks import): run_python.sh SCRIPT ARGS...
set -euo pipefail
script="$1"
shift
py=python3
if [[ -x /usr/bin/python3 ]]; then py=/usr/bin/python3; fi
exec "$py" -B "$script" "$@"
