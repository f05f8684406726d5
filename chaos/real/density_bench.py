"""Many `pekonode` processes on one host: how long they take to join, and
whether any of them suspects another while the host is crowded.

    bazel build -c opt //node:pekonode
    python3 chaos/real/density_bench.py "$(bazel info -c opt bazel-bin)/node/pekonode" \
        [--sizes=30,60] [--profile=lan] [--runs=1] [--settle=10]

For each N, starts N processes on 127.0.0.1 back to back, every one joining
through the first (as a boot of many agents on one host would), and times
from the first start until every node's admin API lists all N alive. A node
whose view is complete is not asked again, so the poller's own load stays
small (the check at the end asks every node once more). Then the cluster is
left alone for --settle seconds and every node's counters are read:
`suspects` is the number of suspicions raised across the cluster (a crowded
host must not make live nodes look dead; the figure should be 0), `cpu%` the
CPU per node over the settle period, and the load average is read at the
end of the join and of the settle period.

Comparison figures for memberlist on a 2-core host (not run here): 30
processes 2.0 s, 60 processes 4.2 s (load average 26).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, metric_sum  # noqa: E402
from cpu_bench import cpu_seconds, rss_mb  # noqa: E402


def complete(node, names):
    view = node.members()
    if view is None:
        return False
    alive = {k for k, m in view.items() if m["state"] == "alive"}
    return names <= alive


def measure(binary, n, profile, settle, timeout):
    with Cluster(binary, n, profile=profile) as c:
        names = {node.name for node in c.nodes}
        t0 = time.monotonic()
        for node in c.nodes:
            node.start()
        started = time.monotonic() - t0
        pending = list(c.nodes)
        joined = None
        while time.monotonic() - t0 < timeout:
            for node in c.nodes:
                if not node.alive():
                    raise RuntimeError(f"N={n}: {node.name} exited: see "
                                       f"{c.workdir}/{node.name}.log")
            pending = [node for node in pending if not complete(node, names)]
            if not pending:
                joined = time.monotonic() - t0
                break
            time.sleep(0.05)
        load_join = os.getloadavg()[0]
        if joined is None:
            raise RuntimeError(f"N={n}: {len(pending)} nodes still incomplete "
                               f"after {timeout} s")
        pids = [node.proc.pid for node in c.nodes]
        c0 = [cpu_seconds(p) for p in pids]
        s0 = time.monotonic()
        time.sleep(settle)
        c1 = [cpu_seconds(p) for p in pids]
        wall = time.monotonic() - s0
        rss = [rss_mb(p) for p in pids]
        load_settle = os.getloadavg()[0]
        still = sum(1 for node in c.nodes if complete(node, names))
        suspects = sum(metric_sum(node, "pekonode_membership_suspects_raised_total") or 0
                       for node in c.nodes)
        deaths = sum(metric_sum(node, "pekonode_membership_deaths_declared_total") or 0
                     for node in c.nodes)
    pct = [100.0 * (b - a) / wall for a, b in zip(c0, c1)]
    return {
        "n": n, "profile": profile, "started": started, "joined": joined,
        "load_join": load_join, "complete": still, "suspects": int(suspects),
        "deaths": int(deaths), "cpu": sum(pct) / len(pct),
        "rss": sum(rss) / len(rss), "load_settle": load_settle,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--sizes", default="30,60")
    ap.add_argument("--profile", default="lan")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    print(f"{'profile':8} {'N':>4} {'started s':>9} {'joined s':>9} "
          f"{'load':>6} {'complete':>8} {'suspects':>8} {'deaths':>6} "
          f"{'cpu%/node':>9} {'RSS MB':>7} {'load':>6}")
    for _ in range(args.runs):
        for n in (int(x) for x in args.sizes.split(",")):
            r = measure(args.binary, n, args.profile, args.settle, args.timeout)
            print(f"{r['profile']:8} {r['n']:>4} {r['started']:>9.2f} "
                  f"{r['joined']:>9.2f} {r['load_join']:>6.1f} "
                  f"{r['complete']:>4}/{r['n']:<3} {r['suspects']:>8} "
                  f"{r['deaths']:>6} {r['cpu']:>9.2f} {r['rss']:>7.1f} "
                  f"{r['load_settle']:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
