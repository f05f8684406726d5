"""Real `pekonode` processes on lossy, slow test hosts: one network namespace
per node (as chaos/real/netns_test.py), 10% i.i.d. input loss on every host
(nftables), and 50 ms +/- 40 ms inbound delay on every node: `tc netem` on
each host's interface where the kernel has the netem qdisc, otherwise the
node's own `POST /v1/faults {"delay_ms":50,"jitter_ms":40}`. Not a CI test:
a benchmark, run by hand as root.

    bazel build -c opt //node:pekonode
    sudo nice python3 chaos/real/lossy_bench.py "$(bazel info -c opt bazel-bin)/node/pekonode" \\
        [--nodes=10] [--minutes=3] [--profiles=local,lan,wan] [--remerge=10]

Per profile, under the faults for --minutes:
- false deaths: `pekonode_membership_deaths_declared_total` summed over all
  nodes (no node is down, so every one is false), plus every (observer,
  member) pair seen `dead` by the 1 s poll of every node's view; suspicions
  raised and refutations (metrics) for context;
- a write's propagation: a PUT on one node every 20 s, time until every node
  reads it (50 ms polling);
- kill -9 detection under the same faults: time until every other node sees
  the killed one dead.
With --remerge=R (no loss, no delay): R times, cut the hosts into two
halves (nftables), wait until each side sees the other dead, hold 2 s, heal,
and time until every node sees every other alive (one view); p50/p99/max.
"""
import argparse
import os
import signal
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns_test as ns  # noqa: E402
from cluster import Node, metrics, series_sum  # noqa: E402
import tempfile  # noqa: E402

DELAY_MS, JITTER_MS, LOSS_PCT = 50, 40, 10


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def fmt(x):
    return "-" if x is None else f"{x:.2f}"


def netem_works():
    """True if `tc qdisc add ... netem` works on this kernel (tried on a
    throwaway namespace's loopback)."""
    if shutil.which("tc") is None:
        return False
    probe = f"{ns.TAG}probe"
    ns.sh("ip", "netns", "add", probe)
    try:
        ns.sh("ip", "link", "set", "lo", "up", ns=probe)
        r = ns.sh("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
                  ns=probe, check_rc=False)
        return r.returncode == 0
    finally:
        ns.sh("ip", "netns", "del", probe, check_rc=False)


def host_dev(i):
    return f"{ns.TAG}v{i}a"


class LossyCluster:
    def __init__(self, binary, n, profile, delay_by):
        self.workdir = tempfile.mkdtemp(prefix="pekonode-lossy-")
        self.delay_by = delay_by
        self.nodes = []
        for i in range(n):
            seeds = [f"{ns.host_ip(0)}:7946"] if i else []
            self.nodes.append(Node(binary, f"h{i}", self.workdir, seeds, profile,
                                   ip=ns.host_ip(i), netns=ns.host_ns(i)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for n in self.nodes:
            n.kill(signal.SIGKILL)
        self.faults(False)

    def start(self):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready()

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def views(self):
        return {n.name: n.members() for n in self.live()}

    def one_view(self):
        names = {n.name for n in self.live()}
        for v in self.views().values():
            if v is None or not names <= {k for k, m in v.items() if m["state"] == "alive"}:
                return False
        return True

    def wait(self, pred, timeout, poll=0.05):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred():
                return time.monotonic() - t0
            time.sleep(poll)
        return None

    def faults(self, on):
        """10% input loss on every host; delay by netem or /v1/faults."""
        for i, n in enumerate(self.nodes):
            ns.set_rules(i, [f"udp dport 7946 numgen random mod 100 < {LOSS_PCT} drop"]
                         if on else [])
            if self.delay_by == "netem":
                # Egress of the host's interface: every datagram it sends is
                # delayed once, so each one-way trip gets 50 +/- 40 ms, as with
                # the inbound delay of /v1/faults.
                if on:
                    ns.sh("tc", "qdisc", "replace", "dev", host_dev(i), "root", "netem",
                          "delay", f"{DELAY_MS}ms", f"{JITTER_MS}ms", ns=ns.host_ns(i))
                else:
                    ns.sh("tc", "qdisc", "del", "dev", host_dev(i), "root",
                          ns=ns.host_ns(i), check_rc=False)
            elif n.alive():
                body = {"delay_ms": DELAY_MS, "jitter_ms": JITTER_MS} if on else \
                    {"delay_ms": 0, "jitter_ms": 0}
                status, reply = n.request("POST", "/v1/faults", body)
                if status != 200:
                    raise RuntimeError(f"{n.name}: /v1/faults {status} {reply}")


def total(snaps, name):
    return sum(series_sum(x, name) for x in snaps)


def lossy_run(binary, n, profile, minutes, delay_by):
    res = {"profile": profile}
    with LossyCluster(binary, n, profile, delay_by) as c:
        c.start()
        if c.wait(c.one_view, 60) is None:
            raise RuntimeError(f"{profile}: no convergence in 60 s")
        c.faults(True)
        before = [metrics(x) or {} for x in c.nodes]
        t_end = time.monotonic() + minutes * 60
        seen_dead = set()
        seen_suspect = 0
        writes = []
        next_write = time.monotonic()
        k = 0
        while time.monotonic() < t_end:
            if time.monotonic() >= next_write:
                key, val = f"/v1/kv/lossy-{k}", f"v{k}".encode()
                k += 1
                writer = c.nodes[k % n]
                t0 = time.monotonic()
                if writer.request("PUT", key, val)[0] == 200:
                    t = c.wait(lambda: all(x.request("GET", key, raw=True) == (200, val)
                                           for x in c.nodes), 30)
                    writes.append(None if t is None else time.monotonic() - t0)
                next_write = t0 + 20
            for obs, view in c.views().items():
                for name, m in (view or {}).items():
                    if m["state"] == "dead":
                        if (obs, name) not in seen_dead:
                            print(f"  {profile}: {obs} sees {name} dead", flush=True)
                        seen_dead.add((obs, name))
                    elif m["state"] == "suspect":
                        seen_suspect += 1
            time.sleep(1.0)
        after = [metrics(x) or {} for x in c.nodes]
        key = "pekonode_membership_%s_total"
        for what in ("deaths_declared", "suspects_raised", "refutations"):
            res[what] = int(total(after, key % what) - total(before, key % what))
        res["delay_overflow"] = int(total(
            after, 'pekonode_transport_dropped_datagrams_total{reason="delay_overflow"}'))
        srtt = [s.get('pekonode_membership_rtt_seconds{stat="srtt"}') for s in after]
        pto = [s.get("pekonode_membership_probe_timeout_seconds") for s in after]
        srtt, pto = [x for x in srtt if x is not None], [x for x in pto if x is not None]
        res["srtt_ms"] = 1000 * sum(srtt) / len(srtt) if srtt else None
        res["probe_timeout_ms"] = 1000 * sum(pto) / len(pto) if pto else None
        res["dead_pairs"] = len(seen_dead)
        res["suspect_samples"] = seen_suspect
        ok = [w for w in writes if w is not None]
        res["writes"] = len(writes)
        res["writes_lost"] = len(writes) - len(ok)
        res["write_p50"], res["write_max"] = pct(ok, 50), (max(ok) if ok else None)
        # kill -9 under the same faults.
        victim = c.nodes[-1]
        victim.kill(signal.SIGKILL)
        others = c.nodes[:-1]

        def all_see_dead():
            for x in others:
                v = x.members()
                if v is None or v.get(victim.name, {}).get("state") not in ("dead",):
                    return False
            return True
        res["kill9"] = c.wait(all_see_dead, 120, poll=0.02)
    return res


def remerge_runs(binary, n, profile, reps):
    times, detect = [], []
    with LossyCluster(binary, n, profile, "none") as c:
        c.start()
        if c.wait(c.one_view, 60) is None:
            raise RuntimeError("no convergence")
        left, right = list(range(n // 2)), list(range(n // 2, n))
        for r in range(reps):
            for side, other in ((left, right), (right, left)):
                cut = "ip saddr { " + ", ".join(ns.host_ip(j) for j in other) + " } drop"
                for i in side:
                    ns.set_rules(i, [cut])

            def split():
                for side, other in ((left, right), (right, left)):
                    for i in side:
                        v = c.nodes[i].members()
                        if v is None or any(v.get(c.nodes[j].name, {}).get("state") != "dead"
                                            for j in other):
                            return False
                return True
            # wan: a whole half is declared dead by every node of the
            # other in 85-120 s (its suspicion timeouts are long).
            t = c.wait(split, 300)
            if t is None:
                raise RuntimeError(f"rep {r}: partition not detected in 300 s")
            detect.append(t)
            time.sleep(2)
            for i in range(n):
                ns.set_rules(i, [])
            t = c.wait(c.one_view, 120, poll=0.02)
            print(f"  remerge {profile} rep {r}: sides dead after {detect[-1]:.2f} s, "
                  f"one view {fmt(t)} s after the heal", flush=True)
            times.append(t)
            time.sleep(1)
    ok = [t for t in times if t is not None]
    return {"profile": profile, "reps": reps, "failed": reps - len(ok),
            "p50": pct(ok, 50), "p99": pct(ok, 99), "max": max(ok) if ok else None,
            "detect_p50": pct(detect, 50)}


def inner(args):
    delay_by = "netem" if netem_works() else "faults"
    print(f"delay by: {delay_by} (netem qdisc {'available' if delay_by == 'netem' else 'missing'})",
          flush=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for p in args.profiles.split(","):
        if args.minutes > 0:
            print(f"== {p}: {args.nodes} nodes, {LOSS_PCT}% loss, {DELAY_MS}+/-{JITTER_MS} ms, "
                  f"{args.minutes} min", flush=True)
            r = lossy_run(args.binary, args.nodes, p, args.minutes, delay_by)
            print(f"RESULT lossy {p}: deaths_declared={r['deaths_declared']} "
                  f"dead_pairs_seen={r['dead_pairs']} suspects_raised={r['suspects_raised']} "
                  f"refutations={r['refutations']} suspect_samples={r['suspect_samples']} "
                  f"delay_overflow={r['delay_overflow']} writes={r['writes']} "
                  f"lost={r['writes_lost']} write_p50={fmt(r['write_p50'])}s "
                  f"write_max={fmt(r['write_max'])}s kill9_all_dead={fmt(r['kill9'])}s "
                  f"srtt={fmt(r['srtt_ms'])}ms probe_timeout={fmt(r['probe_timeout_ms'])}ms "
                  f"load={os.getloadavg()[0]:.2f}", flush=True)
    if args.remerge > 0:
        for p in args.remerge_profiles.split(","):
            r = remerge_runs(args.binary, args.nodes, p, args.remerge)
            print(f"RESULT remerge {p}: reps={r['reps']} failed={r['failed']} "
                  f"p50={fmt(r['p50'])}s p99={fmt(r['p99'])}s max={fmt(r['max'])}s "
                  f"(partition seen by both sides p50 {fmt(r['detect_p50'])}s) "
                  f"load={os.getloadavg()[0]:.2f}", flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--profiles", default="local,lan,wan")
    ap.add_argument("--remerge", type=int, default=0)
    ap.add_argument("--remerge_profiles", default="local")
    ap.add_argument("--inner", action="store_true")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    if not 2 <= args.nodes <= 20:
        ap.error("--nodes must be in [2, 20]")
    ns.N = args.nodes
    if args.inner:
        return inner(args)
    missing = [t for t in ("ip", "nft") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"needs root and iproute2/nftables (missing: {missing})")
        return 2
    try:
        ns.setup()
        r = subprocess.run(["ip", "netns", "exec", ns.HUB, sys.executable, "-B",
                            os.path.abspath(__file__), "--inner"] + sys.argv[1:])
        return r.returncode
    finally:
        ns.teardown()


if __name__ == "__main__":
    sys.exit(main())
