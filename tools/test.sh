#!/usr/bin/env bash
# Runs every test suite (unit and chaos). Installs what is missing first.
# The last line printed is 'tests: N passed, M failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh || exit 1
exec bash tools/ci_test.sh "$@"
