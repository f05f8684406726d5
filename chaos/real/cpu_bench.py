"""CPU and memory of real `pekonode` processes at rest and in a steady cluster.

    bazel build -c opt //node:pekonode
    python3 chaos/real/cpu_bench.py "$(bazel info -c opt bazel-bin)/node/pekonode" \
        [--seconds=20] [--profiles=lan,local] [--sizes=1,3,10]

For each profile and cluster size N, starts N nodes on 127.0.0.1 joining
through the first, waits until every node sees every other alive, lets the
cluster settle for 2 s, then samples each process's CPU time (the scheduler's
run time of every thread, /proc/PID/task/*/schedstat, in nanoseconds: the
clock-tick counts of /proc/PID/stat are too coarse for a node that runs a
few milliseconds a second), its wake-ups (voluntary context switches of
every thread) and RSS over --seconds. Prints one row per (profile, N): CPU
per node as a percentage of one core (mean and max over the nodes), RSS,
the machine's load average while it ran, so that a figure taken on a busy
machine can be read as such, and wake-ups per second per node (mean), which
unlike CPU time hardly depends on what else the machine runs. Every node
serves its admin API (which the benchmark polls only until the cluster has
converged).

Comparison figures for memberlist (same machine kind, 3 idle nodes, local
config): 0.7-1.3% of a core per node.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tasks(pid):
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def cpu_seconds(pid):
    """Run time of the process's live threads (schedstat, ns resolution);
    falls back to utime + stime (clock ticks) where schedstat is missing."""
    total, seen = 0, False
    for tid in _tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
                seen = True
        except (OSError, ValueError, IndexError):
            pass
    if seen:
        return total / 1e9
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wakeups(pid):
    """Voluntary context switches of the process's live threads: each is a
    thread going to sleep, so one wake-up before it ran again."""
    total = 0
    for tid in _tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def rss_mb(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / (1 << 20)


def measure(binary, profile, n, seconds):
    with Cluster(binary, n, profile=profile) as c:
        c.start()
        if n > 1 and c.wait_until(c.all_alive, 60, poll=0.05) is None:
            raise RuntimeError(f"{profile} N={n}: cluster did not converge")
        time.sleep(2.0)
        pids = [node.proc.pid for node in c.nodes]
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        c0 = [cpu_seconds(p) for p in pids]
        w0 = [wakeups(p) for p in pids]
        time.sleep(seconds)
        c1 = [cpu_seconds(p) for p in pids]
        w1 = [wakeups(p) for p in pids]
        wall = time.monotonic() - t0
        rss = [rss_mb(p) for p in pids]
        load1 = os.getloadavg()[0]
    pct = [100.0 * (b - a) / wall for a, b in zip(c0, c1)]
    return {
        "profile": profile, "n": n,
        "cpu_mean": sum(pct) / len(pct), "cpu_max": max(pct),
        "rss_mean": sum(rss) / len(rss), "load": (load0 + load1) / 2,
        "wakeups": sum(b - a for a, b in zip(w0, w1)) / len(pids) / wall,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--profiles", default="lan,local")
    ap.add_argument("--sizes", default="1,3,10")
    args = ap.parse_args()
    print(f"{'profile':8} {'N':>4} {'cpu%/node mean':>15} {'max':>6} "
          f"{'RSS MB':>7} {'load avg':>9} {'wakeups/s':>9}")
    for profile in args.profiles.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            r = measure(args.binary, profile, n, args.seconds)
            print(f"{r['profile']:8} {r['n']:>4} {r['cpu_mean']:>15.2f} "
                  f"{r['cpu_max']:>6.2f} {r['rss_mean']:>7.1f} {r['load']:>9.2f} "
                  f"{r['wakeups']:>9.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
