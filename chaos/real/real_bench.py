"""Measures real `pekonode` processes on loopback through the admin API.

    bazel build -c opt //node:pekonode
    python3 chaos/real/real_bench.py "$(bazel info -c opt bazel-bin)/node/pekonode" [--runs=5]

Membership (10 nodes, local profile): join to full view, kill -9 seen dead
by every node, graceful leave seen, restarted node alive again everywhere.
Metadata (5 nodes): small put / delete visible everywhere, 512 KiB value
everywhere, a joining node reading the 512 KiB value.
Times are measured by polling every node's admin API every 10 ms, so each
figure carries up to ~10 ms of polling granularity plus the HTTP round trips.
"""
import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402


def pct(xs, p):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def membership_run(binary, n, profile):
    out = {}
    with Cluster(binary, n, profile=profile) as c:
        t0 = time.monotonic()
        for node in c.nodes:
            node.start()
        for node in c.nodes:
            node.wait_ready()
        ready = time.monotonic()
        t = c.wait_until(c.all_alive, 30, poll=0.005)
        out["launch"] = None if t is None else time.monotonic() - t0
        out["join"] = t
        print(f"  processes up after {ready - t0:.3f} s", flush=True)
        victim = c.nodes[-1]
        victim.kill(signal.SIGKILL)
        out["kill9"] = c.wait_until(lambda: c.all_see(victim.name, "dead"), 60, poll=0.01)
        victim.start()
        victim.wait_ready()
        out["restart"] = c.wait_until(c.all_alive, 30, poll=0.005)
        leaver = c.nodes[-2]
        leaver.request("POST", "/v1/leave", b"")
        others = [x for x in c.nodes if x is not leaver]
        out["leave"] = c.wait_until(lambda: c.all_see(leaver.name, "left", others), 30, poll=0.005)
    return out


def metadata_run(binary, n, profile):
    out = {}
    with Cluster(binary, n, profile=profile) as c:
        c.start()
        c.wait_until(c.all_alive, 30)

        def everywhere(key, value):
            for node in c.nodes:
                s, b = node.request("GET", "/v1/kv/" + key, raw=True, timeout=10)
                if value is None and s != 404:
                    return False
                if value is not None and (s != 200 or b != value):
                    return False
            return True

        c.nodes[0].request("PUT", "/v1/kv/small", b"x" * 100)
        out["put"] = c.wait_until(lambda: everywhere("small", b"x" * 100), 10, poll=0.005)
        c.nodes[1].request("DELETE", "/v1/kv/small")
        out["delete"] = c.wait_until(lambda: everywhere("small", None), 10, poll=0.005)
        big = os.urandom(512 * 1024)
        c.nodes[2].request("PUT", "/v1/kv/big", big, timeout=10)
        out["512KiB"] = c.wait_until(lambda: everywhere("big", big), 30, poll=0.01)
        joiner = c.add("joiner")
        t0 = time.monotonic()
        joiner.start()
        joiner.wait_ready()
        t = c.wait_until(lambda: joiner.request("GET", "/v1/kv/big", raw=True, timeout=10)
                         == (200, big), 30, poll=0.01)
        out["joiner"] = None if t is None else time.monotonic() - t0
    return out


def fmt(x):
    return "timeout" if x is None else f"{x:.3f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--profile", default="local")
    args = ap.parse_args()
    print(f"command: python3 chaos/real/real_bench.py {args.binary} --runs={args.runs} "
          f"--nodes={args.nodes} --profile={args.profile}", flush=True)
    results = {}
    for r in range(args.runs):
        m = membership_run(args.binary, args.nodes, args.profile)
        d = metadata_run(args.binary, 5, args.profile)
        for k, v in list(m.items()) + list(d.items()):
            results.setdefault(k, []).append(v)
        print(f"run {r + 1}: " + ", ".join(f"{k} {fmt(v)}" for k, v in {**m, **d}.items()),
              flush=True)
    print()
    print(f"{'measure':<34} {'median':>10} {'max':>10}")
    labels = {
        "launch": f"{args.nodes} nodes: launch to full view",
        "join": f"{args.nodes} nodes: all up to full view",
        "kill9": "kill -9 seen dead by all",
        "leave": "graceful leave seen by all",
        "restart": "restarted node alive everywhere",
        "put": "small put visible on 5 nodes",
        "delete": "delete visible on 5 nodes",
        "512KiB": "512 KiB value on 5 nodes",
        "joiner": "joiner reads 512 KiB value",
    }
    for k, label in labels.items():
        xs = results.get(k, [])
        ok = [x for x in xs if x is not None]
        med = statistics.median(ok) if ok else None
        mx = None if len(ok) < len(xs) or not ok else max(ok)
        print(f"{label:<34} {fmt(med):>10} {fmt(mx):>10}")


if __name__ == "__main__":
    main()
