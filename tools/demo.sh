#!/usr/bin/env bash
# Starts a local demo cluster: NODES pekonode processes on 127.0.0.1 that join
# through the first one, then shows each node's member view and a key written
# on one node read back on every other. Installs what is missing first.
#
#   tools/demo.sh [--nodes=5] [--keep]      (--keep: leave the cluster running)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=5
keep=false
for arg in "$@"; do
  case "$arg" in
    --nodes=*) nodes="${arg#--nodes=}" ;;
    --keep) keep=true ;;
    *) echo "demo: unknown argument $arg (use --nodes=N, --keep)" >&2; exit 2 ;;
  esac
done
[[ "$nodes" =~ ^[0-9]+$ ]] && ((nodes >= 1 && nodes <= 50)) \
  || { echo "demo: --nodes must be 1..50" >&2; exit 2; }

bash tools/setup.sh
bazel build -c opt //node:pekonode //tools:pekoctl
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
pekonode="$bin/node/pekonode"
pekoctl="$bin/tools/pekoctl"

workdir="$(mktemp -d /tmp/pekonode-demo.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
if ! $keep; then trap cleanup EXIT; fi

# Pick free ports by letting each node bind port 0 is not possible for the
# seed address others need, so use a base that is checked to be free.
base=$((17000 + RANDOM % 20000))
gossip_port() { echo $((base + 2 * $1)); }
admin_port() { echo $((base + 2 * $1 + 1)); }

for ((i = 0; i < nodes; i++)); do
  args=(--name="node-$i" --bind="127.0.0.1:$(gossip_port "$i")"
        --admin="127.0.0.1:$(admin_port "$i")" --profile=local
        --tags="role=demo,index=$i")
  if ((i > 0)); then args+=(--join="127.0.0.1:$(gossip_port 0)"); fi
  "$pekonode" "${args[@]}" --log_dir="$workdir" >"$workdir/node-$i.out" 2>&1 &
  pids+=($!)
done

echo "demo: started $nodes nodes (logs in $workdir); waiting for the views to converge"
for ((t = 0; t < 50; t++)); do
  sleep 0.1
  done_count=0
  for ((i = 0; i < nodes; i++)); do
    n=$("$pekoctl" --addr="127.0.0.1:$(admin_port "$i")" members --json 2>/dev/null \
        | grep -o '"state":"alive"' | wc -l || true)
    ((n == nodes)) && done_count=$((done_count + 1))
  done
  ((done_count == nodes)) && break
done

for ((i = 0; i < nodes; i++)); do
  echo
  echo "== member view of node-$i (admin 127.0.0.1:$(admin_port "$i"))"
  "$pekoctl" --addr="127.0.0.1:$(admin_port "$i")" members
done

echo
echo "== put greeting=hello on node-0, read it on every node"
"$pekoctl" --addr="127.0.0.1:$(admin_port 0)" kv put greeting hello
sleep 0.5
for ((i = 0; i < nodes; i++)); do
  printf 'node-%d: ' "$i"
  "$pekoctl" --addr="127.0.0.1:$(admin_port "$i")" kv get greeting || echo "(missing)"
  echo
done

if $keep; then
  echo
  echo "demo: cluster left running (pids ${pids[*]}); try:"
  echo "  open http://127.0.0.1:$(admin_port 0)/ui/ in a browser: the live cluster view"
  echo "  $pekoctl --addr=127.0.0.1:$(admin_port 1) members"
  echo "  kill ${pids[*]}"
else
  echo
  echo "demo: run tools/demo.sh --keep to leave the cluster running and watch it"
  echo "  live at http://127.0.0.1:$(admin_port 0)/ui/ in a browser"
fi
