#!/usr/bin/env bash
# The long fuzzing campaign: every target, one after another, one process
# each (2-core machines: never more than one fuzzer at a time), each until
# --runs executions or --max-time seconds, whichever comes first. A crash
# does not end a target's turn: its input is kept and the target restarts
# with the remaining budget (at most --max-crashes times).
#
#   fuzz/campaign.sh [--runs=N] [--max-time=S] [--work=DIR] [TARGET[:S]...]
#
# Defaults: --runs=10000000 --max-time=5400 (90 min per target),
# --work=$HOME/.cache/pekonode-fuzz-campaign, every *_fuzzer target.
# TARGET:S gives that target its own time budget of S seconds.
# The corpus under DIR/corpus/<target> grows across campaigns (seeded from
# fuzz/corpus); findings land in DIR/artifacts/<target>/; DIR/report.md
# gets one table row per target (executions, exec/s, edges, features,
# corpus size, findings). Runs under `nice`; build first with
# fuzz/bazel.sh (clang-14, libFuzzer, ASan, UBSan).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

runs=10000000
max_time=5400
max_crashes=5
work="${HOME}/.cache/pekonode-fuzz-campaign"
targets=()
for arg in "$@"; do
  case "$arg" in
    --runs=*) runs="${arg#*=}" ;;
    --max-time=*) max_time="${arg#*=}" ;;
    --max-crashes=*) max_crashes="${arg#*=}" ;;
    --work=*) work="${arg#*=}" ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "campaign: unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
# The sanitizer settings of the bounded test runs (fuzz/fuzz.bazelrc),
# detect_stack_use_after_return included (it costs about a quarter of the
# protocol cores' rate, and catches references to dead stack frames). The
# libFuzzer defaults the targets add themselves are in fuzz/driver.cc
# (-entropic_feature_frequency_threshold=1: docs/SECURITY.md, "Fuzzing").
export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

if ((${#targets[@]} == 0)); then
  # The protocol cores first: they are the slowest to fuzz and the most
  # likely to need a diagnosis; the fast decoders reach --runs quickly.
  # admin_http_fuzzer (every input through the HTTP server on loopback)
  # last: it starts from the corpus admin_fuzzer grew.
  targets=(membership_fuzzer metadata_fuzzer userevents_fuzzer admin_fuzzer
           codec_fuzzer wire_fuzzer wire_keyed_fuzzer options_fuzzer
           keyring_fuzzer replay_fuzzer admin_http_fuzzer)
fi

# TARGET:S -> names and per-target budgets.
budgets=()
for i in "${!targets[@]}"; do
  spec="${targets[$i]}"
  if [[ "$spec" == *:* ]]; then
    budgets[$i]="${spec#*:}"
    targets[$i]="${spec%%:*}"
  else
    budgets[$i]="$max_time"
  fi
  [[ "${budgets[$i]}" =~ ^[0-9]+$ ]] || { echo "campaign: bad budget in $spec" >&2; exit 2; }
done

labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:$t"); done
mkdir -p "$work/bin" "$work/logs"
echo "campaign: building ${targets[*]}" >&2
fuzz/bazel.sh build "${labels[@]}" >"$work/build.log" 2>&1 || {
  echo "campaign: build failed, see $work/build.log" >&2
  exit 1
}
bin_dir="$(fuzz/bazel.sh info bazel-bin 2>/dev/null)/fuzz"

# Copies, so a rebuild during the campaign does not change what runs.
for t in "${targets[@]}"; do cp -f "$bin_dir/$t" "$work/bin/$t"; done

report="$work/report.md"
{
  echo "# Fuzzing campaign $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown);" \
       "budget per target: $runs executions or the row's seconds; $(nproc) cores," \
       "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| target | budget s | executions | exec/s | edges (cov) | features (ft) | corpus | seconds | findings |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
} >"$report"

# Seed directories of a target (fuzz.bzl: corpus = name without _fuzzer;
# admin_http_fuzzer shares admin's, and starts from what admin_fuzzer's
# faster turn found when that ran first in this work directory).
seeds_of() {
  case "$1" in
    admin_http_fuzzer)
      echo "fuzz/corpus/admin"
      if [[ -d "$work/corpus/admin_fuzzer" ]]; then echo "$work/corpus/admin_fuzzer"; fi ;;
    *) echo "fuzz/corpus/${1%_fuzzer}" ;;
  esac
}

for i in "${!targets[@]}"; do
  t="${targets[$i]}"
  budget="${budgets[$i]}"
  corpus="$work/corpus/$t"
  artifacts="$work/artifacts/$t"
  log="$work/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  mapfile -t seeds < <(seeds_of "$t")
  : >"$log"
  total=0
  crashes=0
  start=$(date +%s)
  while :; do
    now=$(date +%s)
    left_time=$((budget - (now - start)))
    left_runs=$((runs - total))
    ((left_time > 0 && left_runs > 0)) || break
    echo "campaign: $t: $left_runs runs / $left_time s left" >&2
    nice -n 10 "$work/bin/$t" -runs="$left_runs" -max_total_time="$left_time" \
      -timeout=20 -rss_limit_mb=2048 -use_value_profile=1 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "$corpus" "${seeds[@]}" >>"$log" 2>&1
    rc=$?
    done_now=$(grep -a '^stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
    total=$((total + ${done_now:-0}))
    # Count this run's units only once: mark the line as read.
    sed -i 's/^stat::number_of_executed_units:/stat::counted_executed_units:/' "$log"
    ((rc == 0)) && break
    crashes=$((crashes + 1))
    echo "campaign: $t: exit $rc (finding $crashes), continuing" >&2
    ((crashes >= max_crashes)) && break
  done
  secs=$(($(date +%s) - start))
  last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  rate=$((secs > 0 ? total / secs : 0))
  list=$(cd "$artifacts" && ls -t 2>/dev/null | head -5 | tr '\n' ' ')
  known=$(grep -ao 'known finding [A-Za-z0-9-]*' "$log" | sort -u | sed 's/known finding //' | tr '\n' ' ')
  findings="${crashes} crash(es)${list:+: $list}${known:+; known (tolerated): $known}"
  echo "| $t | $budget | $total | $rate | ${cov:-?} | ${ft:-?} | $files | $secs | $findings |" >>"$report"
  echo "campaign: $t done: $total executions in $secs s, cov ${cov:-?}, $crashes crash(es)" >&2
done
echo "campaign: report in $report" >&2
cat "$report"
