"""Packet-level chaos on real `pekonode` processes: one network namespace per
node ("test host"), each with a veth into a bridge in a hub namespace where
this checker runs, and nftables rules dropping packets on each host's input
hook. Needs root, iproute2 and nftables; reports the cases as skipped
otherwise. Addresses live only inside the namespaces this test creates.

Cases: a 2-way partition held until both sides declare the other dead, then
healed (one view again, measured); 10% i.i.d. loss on every host plus 50 ms
+/- 40 ms inbound delay on every node (`POST /v1/faults`; these kernels have
no netem qdisc) for 20 s: no healthy node declared dead, and a metadata
write still reaches every node. The same faults for minutes per profile,
with kill -9 detection and repeated partition heals, are the benchmark
chaos/real/lossy_bench.py.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Node  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

N = 6
# Names and subnet come from the outer process (the inner one, run inside the
# hub namespace, inherits them through the environment).
_ID = int(os.environ.setdefault("PEKONODE_NETNS_ID", str(os.getpid() % 100000)))
TAG = f"pk{_ID}"
HUB = f"{TAG}hub"
SUBNET = f"10.213.{_ID % 250}"


def sh(*args, ns=None, check_rc=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def host_ns(i):
    return f"{TAG}n{i}"


def host_ip(i):
    return f"{SUBNET}.{i + 1}"


def setup():
    sh("ip", "netns", "add", HUB)
    sh("ip", "link", "set", "lo", "up", ns=HUB)
    sh("ip", "link", "add", "br0", "type", "bridge", ns=HUB)
    sh("ip", "addr", "add", f"{SUBNET}.254/24", "dev", "br0", ns=HUB)
    sh("ip", "link", "set", "br0", "up", ns=HUB)
    for i in range(N):
        ns = host_ns(i)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        a, b = f"{TAG}v{i}a", f"{TAG}v{i}b"
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", a, "netns", ns)
        sh("ip", "link", "set", b, "netns", HUB)
        sh("ip", "link", "set", b, "master", "br0", ns=HUB)
        sh("ip", "link", "set", b, "up", ns=HUB)
        sh("ip", "addr", "add", f"{host_ip(i)}/24", "dev", a, ns=ns)
        sh("ip", "link", "set", a, "up", ns=ns)
        sh("nft", "add", "table", "inet", "chaos", ns=ns)
        sh("nft", "add", "chain", "inet", "chaos", "input",
           "{ type filter hook input priority 0 ; }", ns=ns)


def teardown():
    for i in range(N):
        sh("ip", "netns", "del", host_ns(i), check_rc=False)
    sh("ip", "netns", "del", HUB, check_rc=False)


def set_rules(i, rules):
    ns = host_ns(i)
    sh("nft", "flush", "chain", "inet", "chaos", "input", ns=ns)
    for rule in rules:
        sh("nft", "add", "rule", "inet", "chaos", "input", *rule.split(), ns=ns)


class NsCluster(Cluster):
    def __init__(self, binary):
        self.workdir = tempfile.mkdtemp(prefix="pekonode-netns-")
        self.binary = binary
        self.nodes = []
        for i in range(N):
            seeds = [f"{host_ip(0)}:7946"] if i else []
            self.nodes.append(Node(binary, f"h{i}", self.workdir, seeds, "local",
                                   ip=host_ip(i), netns=host_ns(i)))


def test_partition_then_heal():
    with NsCluster(BINARY) as c:
        c.start()
        check(c.wait_until(c.all_alive, 20) is not None, "no convergence")
        left, right = list(range(N // 2)), list(range(N // 2, N))
        for side, other in ((left, right), (right, left)):
            cut = "ip saddr { " + ", ".join(host_ip(j) for j in other) + " } drop"
            for i in side:
                set_rules(i, [cut])
        lnodes = [c.nodes[i] for i in left]
        rnodes = [c.nodes[i] for i in right]
        t = c.wait_until(lambda: all(c.all_see(c.nodes[j].name, "dead", lnodes) for j in right)
                         and all(c.all_see(c.nodes[j].name, "dead", rnodes) for j in left), 60)
        check(t is not None, "partition not detected by both sides within 60 s")
        print(f"both sides saw the other dead after {t:.2f} s; holding 5 s more", flush=True)
        time.sleep(5)
        for i in range(N):
            set_rules(i, [])
        t = c.wait_until(c.all_alive, 60, poll=0.05)
        check(t is not None, "still partitioned 60 s after the heal")
        print(f"one view again {t:.2f} s after the heal", flush=True)


def test_ten_percent_loss():
    with NsCluster(BINARY) as c:
        c.start()
        check(c.wait_until(c.all_alive, 20) is not None, "no convergence")
        for i in range(N):
            set_rules(i, ["udp dport 7946 numgen random mod 100 < 10 drop"])
            status, body = c.nodes[i].request("POST", "/v1/faults",
                                              {"delay_ms": 50, "jitter_ms": 40})
            check(status == 200 and body["delay_ms"] == 50, f"faults: {status} {body}")
        status, _ = c.nodes[0].request("PUT", "/v1/kv/under-loss", b"still arrives")
        check(status == 200, "put failed")
        deadline = time.monotonic() + 20
        reached = None
        start = time.monotonic()
        while time.monotonic() < deadline:
            for n in c.nodes:
                view = n.members()
                check(view is not None, f"{n.name} unreachable")
                dead = [k for k, m in view.items() if m["state"] == "dead"]
                check(not dead, f"{n.name} declared healthy nodes dead at 10% loss, "
                      f"50+/-40 ms: {dead}")
            if reached is None and all(
                    n.request("GET", "/v1/kv/under-loss", raw=True) == (200, b"still arrives")
                    for n in c.nodes):
                reached = time.monotonic() - start
            time.sleep(0.2)
        check(reached is not None, "write did not reach every node under 10% loss")
        print(f"write reached all {N} nodes after {reached:.2f} s; no false dead in 20 s "
              f"at 10% loss and 50+/-40 ms")


def main():
    global BINARY
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        BINARY = sys.argv[2]
        cases = [("partition_then_heal", test_partition_then_heal),
                 ("ten_percent_loss", test_ten_percent_loss)]
        return junit.run("NetnsChaos", cases)
    binary = os.path.abspath(sys.argv[1])
    missing = [t for t in ("ip", "nft") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"skipped: needs root and iproute2/nftables (missing: {missing})")
        return junit.run("NetnsChaos", [])
    try:
        setup()
    except RuntimeError as e:
        print(f"skipped: cannot create network namespaces here: {e}")
        teardown()
        return junit.run("NetnsChaos", [])
    try:
        r = subprocess.run(["ip", "netns", "exec", HUB, sys.executable, "-B",
                            os.path.abspath(__file__), "--inner", binary])
        return r.returncode
    finally:
        teardown()


if __name__ == "__main__":
    sys.exit(main())
