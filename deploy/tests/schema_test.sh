#!/usr/bin/env bash
# Schema validation of deploy/kubernetes/*.yaml with the Kubernetes JSON
# schemas bundled in the npm package kubernetes-models (Debian 12 packages
# no kubeconform or kubeval). Installs the pinned packages from the npm
# registry into the test's temporary directory (npm ci), then validates.
#   schema_test.sh MANIFEST_DIR SCHEMA_DIR
set -euo pipefail
manifests="$(cd "$1" && pwd)"
schema="$(cd "$2" && pwd)"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "schema_test: $tool not found" >&2; exit 1; }
done
work="${TEST_TMPDIR:-$(mktemp -d)}/schema"
mkdir -p "$work"
cp "$schema/package.json" "$schema/package-lock.json" "$schema/validate.mjs" "$work/"
cd "$work"
for attempt in 1 2; do
  if npm ci --no-audit --no-fund --loglevel=error; then break; fi
  [[ $attempt == 2 ]] && { echo "schema_test: npm ci failed" >&2; exit 1; }
done
node validate.mjs "$manifests"
