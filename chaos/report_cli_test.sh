#!/usr/bin/env bash
# chaos --report end to end: the HTML and SVG files parse as XML and carry
# the run's faults, --report leaves the printed output as it was, and bad
# report paths are refused before any run. Usage: report_cli_test.sh CHAOS
set -euo pipefail
chaos="$1"
dir="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }

args=(--scenario=partition_2way_heal --nodes=6 --seed=3)

# Without and with a report: stdout identical apart from wall-clock times.
strip_wall() { sed -E 's/ in [0-9.e+-]+ s wall\)/)/'; }
"$chaos" "${args[@]}" | strip_wall > "$dir/plain.txt"
"$chaos" "${args[@]}" --report="$dir/run.html" 2> "$dir/err.txt" | strip_wall > "$dir/with.txt"
diff "$dir/plain.txt" "$dir/with.txt" || fail "--report changed the printed output"
grep -q "report written to $dir/run.html" "$dir/err.txt" || fail "no report line on stderr"
"$chaos" "${args[@]}" --quiet --report="$dir/run.svg" > /dev/null 2>&1 \
  || fail "--report=.svg run failed"

python3 - "$dir/run.html" "$dir/run.svg" <<'EOF'
import sys
import xml.etree.ElementTree as ET

html, svg = sys.argv[1], sys.argv[2]
for path in (html, svg):
    text = open(path, encoding="utf-8").read()
    ET.fromstring(text.split("\n", 1)[1] if text.startswith("<!DOCTYPE") else text)
    for bad in ("<script", "src=", "url(", "@import"):
        assert bad not in text, (path, bad)
    assert "2-way partition (3 | 3)" in text, path
    assert "partition_2way_heal" in text, path
h = open(html, encoding="utf-8").read()
assert h.count("<svg") == 1, "one plot per run"
assert "<td>partition</td>" in h, "fault table row"
assert "chaos --scenario=partition_2way_heal --nodes=6 --seed=3" in h
s = open(svg, encoding="utf-8").read()
root = ET.fromstring(s)
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
print("report files parse and carry the partition")
EOF

# Refused before running: wrong extension, unwritable path (exit 2).
set +e
"$chaos" "${args[@]}" --report="$dir/run.png" > /dev/null 2>&1
[[ $? -eq 2 ]] || fail "--report=run.png not refused with exit 2"
"$chaos" "${args[@]}" --report="$dir/no/such/dir/run.html" > /dev/null 2> "$dir/err2.txt"
[[ $? -eq 2 ]] || fail "unwritable report path not refused with exit 2"
set -e
grep -q "cannot write the report" "$dir/err2.txt" || fail "no error line for the bad path"
echo "PASS"
