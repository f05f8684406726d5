"""Measures what write concern costs: PUT latency through the admin API of
real `pekonode` processes on loopback, for replicas=1 (local), 2 and 3,
with small and 512 KiB values, plus the compare-and-set path.

    bazel build -c opt //node:pekonode
    python3 chaos/real/write_concern_bench.py \\
        "$(bazel info -c opt bazel-bin)/node/pekonode" [--nodes=3] \\
        [--writes=50] [--profile=lan]

Each figure is the client-side time of one PUT (HTTP round trip included),
writes one after another from one client to one node; p50 / p90 / max in
milliseconds. Rows start on a settled cluster (every node lists the same
versions): a replicated large write queued behind a transfer backlog waits
for it (bulk traffic is capped per node, 4 MiB/s on lan).
"""
import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def settled(c):
    """Every node lists the same keys at the same versions."""
    views = []
    for n in c.nodes:
        status, body = n.request("GET", "/v1/kv", timeout=5)
        if status != 200:
            return False
        views.append(sorted((k["key"], k["version"]) for k in body["keys"]))
    return all(v == views[0] for v in views)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--writes", type=int, default=50)
    ap.add_argument("--profile", default="lan")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    print(f"seed {a.seed}, {a.nodes} nodes, profile {a.profile}, "
          f"{a.writes} writes per row, load {os.getloadavg()[0]:.1f}")
    with Cluster(os.path.abspath(a.binary), a.nodes, profile=a.profile) as c:
        c.start()
        if c.wait_until(c.all_alive, 60) is None:
            sys.exit("cluster did not form")
        w = c.nodes[0]
        print(f"{'value':>8} {'query':<24} {'p50 ms':>8} {'p90 ms':>8} "
              f"{'max ms':>8}")
        for size in (1024, 512 * 1024):
            for row, query in enumerate(
                    ("", "?replicas=2&timeout=10s",
                     f"?replicas={a.nodes}&timeout=10s", "?cas=V")):
                times = []
                ver = None
                for i in range(a.writes):
                    # Large values overwrite a few keys: the store stays
                    # far below its 64 MiB limit.
                    key = f"bench/{size}/{row}/{i if size < 4096 else i % 4}"
                    q = query
                    if query == "?cas=V":
                        # Over the version of the previous write of one key.
                        key = f"bench/{size}/cas"
                        q = f"?cas={ver}" if ver else "?cas=0"
                    value = rng.randbytes(size)
                    t0 = time.monotonic()
                    status, body = w.request("PUT", f"/v1/kv/{key}{q}", value,
                                             timeout=30)
                    times.append((time.monotonic() - t0) * 1000)
                    if status != 200:
                        sys.exit(f"PUT {key}{q}: {status} {body}")
                    ver = body["version"]
                label = query or "(local)"
                print(f"{size:>8} {label:<24} {pct(times, 50):8.2f} "
                      f"{pct(times, 90):8.2f} {max(times):8.2f}")
                sys.stdout.flush()
                # Each row starts on a settled cluster: no transfer backlog
                # from the row before.
                if c.wait_until(lambda: settled(c), 120, poll=0.2) is None:
                    sys.exit("cluster did not settle")


if __name__ == "__main__":
    main()
