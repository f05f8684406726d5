"""Seed discovery by DNS (`--join=dns:NAME:PORT`) against a real DNS server:
dnsmasq from Debian answers for `pekonode.test` inside a hub network
namespace this test creates, and every node runs in a namespace of its own
whose resolv.conf names that server (`ip netns exec` mounts
/etc/netns/NS/resolv.conf). Records are added and removed while the nodes
run. Needs root, iproute2 and dnsmasq; reports its cases as skipped
otherwise. Addresses live only inside the namespaces this test creates.

Cases:
- nodes started while the name has no record each stay alone; once the
  records appear, the next re-resolution joins them into one cluster;
- a node added later (the set scaled up) is found through the name, and a
  node killed and restarted (a restarted pod) is back without any --join
  naming it;
- the resolved addresses the node reports follow records being removed.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Node  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

N = 5
NAME = "pekonode.test"
REFRESH = "2s"
_ID = int(os.environ.setdefault("PEKONODE_DNS_ID", str(os.getpid() % 100000)))
TAG = f"pd{_ID}"
HUB = f"{TAG}hub"
SUBNET = f"10.214.{_ID % 250}"
DNS_IP = f"{SUBNET}.254"
STATE = os.environ.setdefault("PEKONODE_DNS_STATE", tempfile.mkdtemp(prefix="pekonode-dns-"))
HOSTS = os.path.join(STATE, "hosts")
PIDFILE = os.path.join(STATE, "dnsmasq.pid")


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
    sh("ip", "addr", "add", f"{DNS_IP}/24", "dev", "br0", ns=HUB)
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
        # What `ip netns exec` mounts over /etc/resolv.conf and /etc/hosts.
        etc = f"/etc/netns/{ns}"
        os.makedirs(etc, exist_ok=True)
        with open(f"{etc}/resolv.conf", "w") as f:
            f.write(f"nameserver {DNS_IP}\noptions timeout:1 attempts:2\n")
        with open(f"{etc}/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n")
    set_records([])
    proc = subprocess.Popen(
        ["ip", "netns", "exec", HUB, "dnsmasq", "--keep-in-foreground",
         "--no-resolv", "--no-hosts", f"--addn-hosts={HOSTS}",
         "--local=/test/", f"--listen-address={DNS_IP}", "--bind-interfaces",
         "--port=53", "--local-ttl=0", "--neg-ttl=1", "--user=root",
         f"--pid-file={PIDFILE}", f"--log-facility={STATE}/dnsmasq.log",
         "--log-queries"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(PIDFILE) or not open(PIDFILE).read().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("dnsmasq did not start: see " + STATE)
        time.sleep(0.05)
    return proc


def teardown(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
    for i in range(N):
        sh("ip", "netns", "del", host_ns(i), check_rc=False)
        shutil.rmtree(f"/etc/netns/{host_ns(i)}", ignore_errors=True)
    sh("ip", "netns", "del", HUB, check_rc=False)


def set_records(hosts):
    """Makes NAME resolve to the addresses of `hosts` (indexes) and tells
    dnsmasq (SIGHUP re-reads --addn-hosts)."""
    tmp = HOSTS + ".tmp"
    with open(tmp, "w") as f:
        for i in hosts:
            f.write(f"{host_ip(i)} {NAME}\n")
    os.replace(tmp, HOSTS)
    if os.path.exists(PIDFILE):
        pid = open(PIDFILE).read().strip()
        if pid:
            os.kill(int(pid), signal.SIGHUP)


def resolved(node):
    """The addresses the node says NAME resolved to, from /metrics."""
    status, body = node.request("GET", "/metrics", raw=True)
    if status != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith("pekonode_join_dns_addresses{") and f'name="{NAME}:7946"' in line:
            return int(float(line.split()[-1]))
    return None


class DnsCluster(Cluster):
    def __init__(self, binary):
        self.workdir = tempfile.mkdtemp(prefix="pekonode-dns-cluster-")
        self.binary = binary
        self.nodes = []
        for i in range(N):
            self.nodes.append(Node(binary, f"h{i}", self.workdir,
                                   [f"dns:{NAME}:7946"], "local",
                                   extra=[f"--join_dns_refresh={REFRESH}"],
                                   ip=host_ip(i), netns=host_ns(i)))

    def start_some(self, idx):
        for i in idx:
            self.nodes[i].start()
        for i in idx:
            self.nodes[i].wait_ready()


def views_are(c, idx):
    """Every node of idx sees exactly the nodes of idx alive."""
    want = {c.nodes[i].name for i in idx}
    for i in idx:
        view = c.nodes[i].members()
        if view is None:
            return False
        alive = {k for k, m in view.items() if m["state"] == "alive"}
        if alive != want:
            return False
    return True


def test_records_added_later_join_everyone():
    set_records([])
    with DnsCluster(BINARY) as c:
        c.start_some([0, 1, 2])
        time.sleep(3)
        for i in (0, 1, 2):
            check(views_are(c, [i]), f"h{i} joined something with no record: "
                  f"{c.nodes[i].members()}")
        set_records([0, 1, 2])
        t = c.wait_until(lambda: views_are(c, [0, 1, 2]), 30, poll=0.1)
        check(t is not None, "records appeared but the nodes did not join within 30 s")
        print(f"one cluster {t:.2f} s after the records appeared (refresh {REFRESH})",
              flush=True)
        check(c.wait_until(lambda: all(resolved(c.nodes[i]) == 3 for i in (0, 1, 2)), 10)
              is not None, f"resolved counts: {[resolved(c.nodes[i]) for i in (0, 1, 2)]}")


def test_scale_up_restart_and_removed_records():
    set_records([0, 1, 2])
    with DnsCluster(BINARY) as c:
        c.start_some([0, 1, 2])
        check(c.wait_until(lambda: views_are(c, [0, 1, 2]), 30) is not None,
              "first three never converged")
        # Scale up: records first (as a StatefulSet's headless Service does
        # once the pod is ready, a new pod may start before: both work).
        c.start_some([3, 4])
        set_records([0, 1, 2, 3, 4])
        t = c.wait_until(lambda: views_are(c, [0, 1, 2, 3, 4]), 30, poll=0.1)
        check(t is not None, "scaled-up set not one cluster within 30 s")
        print(f"five nodes one cluster {t:.2f} s after scaling up", flush=True)
        # A restarted pod: kill -9, the others see it dead, it starts again
        # with the same --join=dns: and is alive everywhere.
        c.nodes[2].kill()
        check(c.wait_until(lambda: c.all_see("h2", "dead"), 30) is not None,
              "h2 not seen dead")
        c.nodes[2].start()
        c.nodes[2].wait_ready()
        t = c.wait_until(lambda: views_are(c, [0, 1, 2, 3, 4]), 30, poll=0.1)
        check(t is not None, "restarted h2 not back within 30 s")
        print(f"restarted node alive everywhere after {t:.2f} s", flush=True)
        # Records removed: the resolved set follows.
        set_records([0, 1, 2])
        t = c.wait_until(lambda: all(resolved(n) == 3 for n in c.nodes), 20, poll=0.2)
        check(t is not None, f"resolved counts after removal: {[resolved(n) for n in c.nodes]}")
        set_records([])
        t = c.wait_until(lambda: all(resolved(n) == 0 for n in c.nodes), 20, poll=0.2)
        check(t is not None, f"resolved counts with no record: {[resolved(n) for n in c.nodes]}")
        # Membership does not depend on DNS once joined.
        check(views_are(c, [0, 1, 2, 3, 4]), "the cluster fell apart when DNS emptied")


def main():
    global BINARY
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        BINARY = sys.argv[2]
        return junit.run("DnsDiscovery", [
            ("records_added_later_join_everyone", test_records_added_later_join_everyone),
            ("scale_up_restart_and_removed_records", test_scale_up_restart_and_removed_records),
        ])
    binary = os.path.abspath(sys.argv[1])
    missing = [t for t in ("ip", "dnsmasq") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"skipped: needs root, iproute2 and dnsmasq (missing: {missing})")
        return junit.run("DnsDiscovery", [])
    proc = None
    try:
        proc = setup()
    except RuntimeError as e:
        print(f"skipped: cannot create network namespaces or start dnsmasq here: {e}")
        teardown(proc)
        return junit.run("DnsDiscovery", [])
    try:
        r = subprocess.run(["ip", "netns", "exec", HUB, sys.executable, "-B",
                            os.path.abspath(__file__), "--inner", binary])
        return r.returncode
    finally:
        teardown(proc)
        shutil.rmtree(STATE, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
