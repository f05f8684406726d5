"""Compare-and-set and write concern against real `pekonode` processes.

The writer is killed with kill -9 right after a `replicas=2` (and 3)
acknowledgement of a 512 KiB value: the value must already be on the
others, and every survivor must end up with it. Without a data dir a node
"holds" a write once it applied it in memory; with --data_dir it means on
disk. Also: a replicas=3 write with one node frozen (SIGSTOP) times out
with 504 saying 2 of 3 held it; more replicas than live nodes is 503 and
writes nothing; CAS across nodes (412 naming the live version); pekoctl.

Usage: write_concern_test.py PEKONODE PEKOCTL
"""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None
VALUE_BYTES = 512 * 1024


def started(n):
    c = Cluster(BINARY, n)
    c.start()
    check(c.wait_until(c.all_alive, 30) is not None, "cluster did not form")
    return c


def value_on(node, key):
    status, body = node.request("GET", f"/v1/kv/{key}", raw=True, timeout=5)
    return body if status == 200 else None


def test_writer_killed_after_replicas_ack_loses_nothing():
    seed = int(os.environ.get("WRITE_CONCERN_SEED", time.time_ns() % 100000))
    print(f"seed {seed}", flush=True)
    rng = random.Random(seed)
    with started(4) as c:
        trials = 0
        for k in (2, 3, 2, 3, 2, 2):
            live = c.live()
            writer = rng.choice(live)
            key = f"wc/{trials}"
            value = rng.randbytes(VALUE_BYTES)
            status, body = writer.request(
                "PUT", f"/v1/kv/{key}?replicas={k}&timeout=10s", value,
                timeout=20)
            # The acknowledgement, then kill -9 at once.
            writer.kill(signal.SIGKILL)
            check(status == 200, f"PUT replicas={k}: {status} {body}")
            check(body["acked"] >= k and body["wanted"] == k,
                  f"acked/wanted: {body}")
            survivors = [n for n in live if n is not writer]
            # Already held by k-1 of the others at the moment of the ack.
            holders = [n.name for n in survivors if value_on(n, key) == value]
            check(len(holders) >= k - 1,
                  f"trial {trials} (k={k}): only {holders} held {key} "
                  f"right after the ack")
            # And the rest converge from them.
            took = c.wait_until(
                lambda: all(value_on(n, key) == value for n in survivors),
                20, poll=0.05)
            check(took is not None, f"trial {trials}: survivors lack {key}")
            # Bring the writer back (a fresh in-memory node) for the next.
            writer.start(seeds=[survivors[0].addr])
            writer.wait_ready()
            check(c.wait_until(c.all_alive, 30) is not None,
                  "restarted writer did not rejoin")
            trials += 1


def test_replicas_timeout_and_too_many_replicas():
    with started(3) as c:
        a, b, frozen = c.nodes
        status, body = a.request("PUT", "/v1/kv/t?replicas=4", b"x")
        check(status == 503 and body["wanted"] == 4 and not body["applied"],
              f"K above live nodes: {status} {body}")
        check(value_on(a, "t") is None, "a refused write was applied")
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            status, body = a.request(
                "PUT", "/v1/kv/t?replicas=3&timeout=700ms", b"y", timeout=10)
            took = time.monotonic() - t0
            check(status == 504, f"frozen target: {status} {body}")
            check(body["acked"] == 2 and body["wanted"] == 3
                  and body["applied"], f"504 body: {body}")
            check("2 of 3" in body["error"], f"error text: {body['error']}")
            check(0.6 < took < 5, f"took {took:.2f}s for a 700ms timeout")
            check(value_on(a, "t") == b"y" and value_on(b, "t") == b"y",
                  "the write did not stay applied")
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
        # Once it runs again, it catches up and K=3 works.
        check(c.wait_until(lambda: value_on(frozen, "t") == b"y", 20)
              is not None, "frozen node did not catch up")
        status, body = a.request("PUT", "/v1/kv/t?replicas=3&timeout=10s",
                                 b"z", timeout=20)
        check(status == 200 and body["acked"] == 3, f"{status} {body}")
        for bad in ("replicas=0", "replicas=17", "replicas=2&timeout=2m",
                    "cas=nope"):
            status, body = a.request("PUT", f"/v1/kv/t?{bad}", b"w")
            check(status == 400, f"{bad}: {status} {body}")


def test_cas_across_nodes():
    with started(2) as c:
        a, b = c.nodes
        status, body = a.request("PUT", "/v1/kv/lock?cas=0", b"a")
        check(status == 200, f"create: {status} {body}")
        v1 = body["version"]
        check(c.wait_until(lambda: value_on(b, "lock") == b"a", 10)
              is not None, "b never saw the lock")
        status, body = b.request("PUT", "/v1/kv/lock?cas=0", b"b")
        check(status == 412 and body["current"] == v1,
              f"create-only on b: {status} {body}")
        status, body = b.request("PUT", f"/v1/kv/lock?cas={v1}", b"b")
        check(status == 200, f"cas on b: {status} {body}")
        v2 = body["version"]
        check(c.wait_until(lambda: value_on(a, "lock") == b"b", 10)
              is not None, "a never saw b's write")
        status, body = a.request("DELETE", f"/v1/kv/lock?cas={v1}")
        check(status == 412 and body["current"] == v2,
              f"stale delete: {status} {body}")
        status, body = a.request("DELETE", f"/v1/kv/lock?cas={v2}")
        check(status == 200, f"delete: {status} {body}")


def test_pekoctl_cas_and_replicas():
    with started(2) as c:
        a, b = c.nodes

        def ctl(*args):
            return subprocess.run([PEKOCTL, f"--addr={a.admin}"] + list(args),
                                  capture_output=True, timeout=30)
        r = ctl("kv", "put", "--replicas=2", "--wait=5s", "--cas=0", "p", "1")
        check(r.returncode == 0, f"put: {r.returncode} {r.stderr}")
        ver = r.stdout.decode().strip()
        check(value_on(b, "p") == b"1", "replicas=2 returned before b held it")
        r = ctl("kv", "put", "--cas=0", "p", "2")
        check(r.returncode == 1 and b"412" in r.stderr and ver.encode()
              in r.stderr, f"create-only again: {r.returncode} {r.stderr}")
        r = ctl("kv", "put", "--replicas=3", "p", "3")
        check(r.returncode == 1 and b"503" in r.stderr,
              f"K=3 of 2: {r.returncode} {r.stderr}")
        r = ctl("kv", "del", f"--cas={ver}", "--replicas=2", "p")
        check(r.returncode == 0, f"del: {r.returncode} {r.stderr}")
        check(value_on(b, "p") is None, "replicated delete not on b")


def main():
    global BINARY, PEKOCTL
    BINARY = os.path.abspath(sys.argv[1])
    PEKOCTL = os.path.abspath(sys.argv[2])
    return junit.run("WriteConcern", [
        ("WriterKilledAfterReplicasAckLosesNothing",
         test_writer_killed_after_replicas_ack_loses_nothing),
        ("ReplicasTimeoutAndTooManyReplicas",
         test_replicas_timeout_and_too_many_replicas),
        ("CasAcrossNodes", test_cas_across_nodes),
        ("PekoctlCasAndReplicas", test_pekoctl_cas_and_replicas),
    ])


if __name__ == "__main__":
    sys.exit(main())
