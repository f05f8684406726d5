#!/usr/bin/env python3
"""Builds examples/embed (its own workspace, pekonode as an external
repository) and runs it against a real `pekonode` process on 127.0.0.1.

Passes when the example exits 0 (it saw the real node alive, wrote its key
and left) and the real node, asked through its admin API, holds the key with
the example's value and sees the example as `left`.

    tools/embed_check.py PEKONODE_BINARY [BAZEL_FLAG...]

BAZEL_FLAGs (e.g. --config=ci) go to the example's `bazel build`.

Prints one line 'embed_check: PASSED' or 'embed_check: FAILED (reason)' and
exits 0 (passed), 1 (the example did not build) or 3 (it ran and failed).
A nested Bazel cannot run inside a `bazel test` sandbox, hence a script.
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "chaos", "real"))
from cluster import Node  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "embed")
NAME = "embedded-ci"


def verdict(ok, reason=""):
    print("embed_check: " + ("PASSED" if ok else f"FAILED ({reason})"),
          flush=True)


def build(bazel_args):
    cmd = ["bazel", "build"] + bazel_args + ["//:embed_example"]
    r = subprocess.run(cmd, cwd=EXAMPLE)
    if r.returncode != 0:
        return None
    out = subprocess.run(["bazel", "info", "bazel-bin"], cwd=EXAMPLE,
                         capture_output=True, text=True)
    path = os.path.join(out.stdout.strip(), "embed_example")
    return path if os.path.exists(path) else None


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = argv[1]
    bazel_args = argv[2:]
    example = build(bazel_args)
    if example is None:
        verdict(False, "examples/embed did not build")
        return 1
    with tempfile.TemporaryDirectory() as work:
        seed = Node(binary, "ci-seed", work).start()
        try:
            seed.wait_ready()
            run = subprocess.run([example, seed.addr, NAME], timeout=120,
                                 capture_output=True, text=True)
            sys.stdout.write(run.stdout)
            if run.returncode != 0:
                sys.stdout.write(run.stderr[-2000:])
                verdict(False, f"example exited {run.returncode}")
                return 3
            status, value = seed.request("GET", f"/v1/kv/embed-{NAME}",
                                         raw=True)
            if status != 200 or value != f"hello from {NAME}".encode():
                verdict(False, f"the real node lacks the key: {status} {value!r}")
                return 3
            # The leave reaches the real node as 'left' (direct notices).
            state = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                members = seed.members() or {}
                state = members.get(NAME, {}).get("state")
                if state == "left":
                    break
                time.sleep(0.1)
            if state != "left":
                verdict(False, f"the real node sees {NAME} as {state}")
                return 3
        finally:
            seed.kill()
            subprocess.run(["bazel", "shutdown"], cwd=EXAMPLE,
                           capture_output=True)
    verdict(True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
