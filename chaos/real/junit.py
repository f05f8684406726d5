"""A tiny test runner that writes JUnit XML (read by tools/test_summary.py via
Bazel's XML_OUTPUT_FILE) so each case counts on its own."""
import os
import sys
import time
import traceback
from xml.sax.saxutils import escape, quoteattr


def run(suite, cases):
    """cases: list of (name, callable). A case that returns "skipped" (after
    printing why) is reported as skipped. Returns the process exit code."""
    results = []
    for name, fn in cases:
        start = time.monotonic()
        print(f"[ RUN      ] {suite}.{name}", flush=True)
        skipped = False
        try:
            skipped = fn() == "skipped"
            err = None
            print(f"[  {'SKIPPED' if skipped else '     OK'} ] {suite}.{name} "
                  f"({time.monotonic() - start:.2f} s)", flush=True)
        except Exception:  # noqa: BLE001 - a failing case must not stop the suite
            err = traceback.format_exc()
            print(err, flush=True)
            print(f"[  FAILED  ] {suite}.{name}", flush=True)
        results.append((name, time.monotonic() - start, err, skipped))
    failed = sum(1 for r in results if r[2])
    out = os.environ.get("XML_OUTPUT_FILE")
    if out:
        with open(out, "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            f.write(f'<testsuites tests="{len(results)}" failures="{failed}">\n')
            f.write(f'<testsuite name={quoteattr(suite)} tests="{len(results)}" failures="{failed}">\n')
            for name, secs, err, skipped in results:
                f.write(f'<testcase name={quoteattr(name)} classname={quoteattr(suite)} time="{secs:.3f}">')
                if skipped:
                    f.write('<skipped/>')
                if err:
                    f.write(f'<failure message="failed">{escape(err)}</failure>')
                f.write("</testcase>\n")
            f.write("</testsuite>\n</testsuites>\n")
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
