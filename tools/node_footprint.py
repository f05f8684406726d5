#!/usr/bin/env python3
"""Resources of real pekonode processes, for sizing deployments (systemd
limits, Kubernetes requests/limits): resident memory and threads idle, CPU
while idle, and resident memory holding a given amount of key/value data.
Three nodes on 127.0.0.1 (lan profile); Linux /proc only.

    tools/node_footprint.py PEKONODE [--idle=30] [--values=20] [--value_kib=512]

Prints one line per figure. Build with -c opt for figures worth quoting.
"""
import argparse
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "chaos", "real"))
from cluster import Cluster  # noqa: E402


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--idle", type=float, default=30)
    ap.add_argument("--values", type=int, default=20)
    ap.add_argument("--value_kib", type=int, default=512)
    a = ap.parse_args()
    with Cluster(os.path.abspath(a.binary), 3, profile="lan") as c:
        c.start()
        if c.wait_until(c.all_alive, 20) is None:
            sys.exit("no convergence")
        time.sleep(2)
        pids = [n.proc.pid for n in c.nodes]
        rss = [status(p, "VmRSS") / 1024 for p in pids]
        threads = [status(p, "Threads") for p in pids]
        print(f"idle RSS per node: {min(rss):.1f}-{max(rss):.1f} MiB, threads {max(threads)}")
        t0 = [cpu_seconds(p) for p in pids]
        time.sleep(a.idle)
        cpu = [(cpu_seconds(p) - s) / a.idle * 1000 for p, s in zip(pids, t0)]
        print(f"idle CPU per node over {a.idle:.0f} s: {min(cpu):.0f}-{max(cpu):.0f} millicores")
        value = os.urandom(a.value_kib * 1024)
        for i in range(a.values):
            status_code, _ = c.nodes[0].request("PUT", f"/v1/kv/footprint/{i}", value)
            if status_code != 200:
                sys.exit(f"put failed: {status_code}")
        want = a.values
        done = c.wait_until(lambda: all(
            len((n.request("GET", "/v1/kv")[1] or {}).get("keys", [])) >= want
            for n in c.nodes), 60, poll=0.2)
        if done is None:
            sys.exit("values did not reach every node")
        time.sleep(2)
        rss = [status(p, "VmRSS") / 1024 for p in pids]
        hwm = [status(p, "VmHWM") / 1024 for p in pids]
        mib = a.values * a.value_kib / 1024
        print(f"RSS holding {mib:.0f} MiB of values: {min(rss):.1f}-{max(rss):.1f} MiB "
              f"(peak {max(hwm):.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
