"""Durability with real `pekonode` processes and --data_dir: kill -9 of every
node at random moments during writes and deletes, then a restart of all
without --join (every acknowledged write and delete on every node, no
deleted key back); the HLC and the incarnation never go backwards across
restarts; a corrupt, foreign or locked data dir is refused with one line; a
full disk fails writes with 507 while reads and gossip go on and nothing
acknowledged is lost.

PEKONODE_DURABLE_OPS sets the number of operations of the crash test (200 by
default, which keeps CI fast; 1000 as in the acceptance run). Every run
prints its seed; PEKONODE_DURABLE_SEED replays one.
"""
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Node  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
BIG = 512 * 1024


def parse_version(v):
    """'phys.logical@origin' -> a tuple ordered like metadata::version."""
    hlc, origin = v.split("@", 1)
    phys, logical = hlc.split(".")
    return (int(phys), int(logical), origin)


class DurableNode(Node):
    def __init__(self, name, workdir, extra=()):
        self.data_dir = os.path.join(workdir, name + ".data")
        super().__init__(BINARY, name, workdir, (), "local",
                         ["--data_dir=" + self.data_dir] + list(extra))

    def try_request(self, method, path, body=None, timeout=10.0, raw=False):
        try:
            return self.request(method, path, body, timeout=timeout, raw=raw)
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            return None, None

    def get(self, key):
        return self.try_request("GET", "/v1/kv/" + key, raw=True, timeout=5.0)


def value_for(i, big):
    body = f"value-{i}-".encode()
    if big:
        return (body * (BIG // len(body) + 1))[:BIG]
    return body * (1 + i % 7)


def all_alive(nodes):
    names = {n.name for n in nodes}
    for n in nodes:
        view = n.members()
        if view is None:
            return False
        if not names <= {k for k, m in view.items() if m["state"] == "alive"}:
            return False
    return True


def wait_until(pred, timeout, poll=0.1):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(poll)
    return None


def test_kill_every_node_then_restart_all_without_join():
    ops = int(os.environ.get("PEKONODE_DURABLE_OPS", "200"))
    seed = int(os.environ.get("PEKONODE_DURABLE_SEED", str(random.randrange(1 << 30))))
    print(f"seed {seed}, {ops} operations")
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="pekonode-durable-")
    nodes = [DurableNode(f"d{i}", work) for i in range(5)]
    try:
        nodes[0].start()
        nodes[0].wait_ready()
        for n in nodes[1:]:
            n.start(seeds=[nodes[0].addr])
        for n in nodes[1:]:
            n.wait_ready()
        check(wait_until(lambda: all_alive(nodes), 20) is not None, "no convergence")
        # Let one membership snapshot of the full view reach every disk.
        time.sleep(2.5)

        keys = [f"k/{i:03d}" for i in range(max(20, ops // 4))]
        # Per key: acknowledged outcomes [(version, value or None)], and
        # values of writes whose outcome is unknown (the node died under it).
        acked = {k: [] for k in keys}
        maybe = {k: [] for k in keys}
        # Every node is killed once at a random moment, restarted without
        # --join 0-1 s later; the last kill of all comes after the last op.
        kill_at = {rng.randrange(ops // 10, ops): n for n in nodes}
        restarts = []  # (due time, node)
        big_every = max(1, ops // 8)
        acks = uncertain = 0
        for i in range(ops):
            now = time.monotonic()
            for due, n in list(restarts):
                if due <= now:
                    n.start(seeds=[])
                    restarts.remove((due, n))
            if i in kill_at:
                victim = kill_at[i]
                victim.kill(signal.SIGKILL)
                restarts.append((now + rng.uniform(0, 1.0), victim))
            live = [n for n in nodes if n.alive()]
            if not live:  # every node is down: bring back the first due
                due, n = min(restarts, key=lambda r: r[0])
                time.sleep(max(0.0, due - time.monotonic()))
                n.start(seeds=[])
                restarts.remove((due, n))
                live = [n]
            node = rng.choice(live)
            key = rng.choice(keys)
            if rng.random() < 0.7 or not acked[key]:
                val = value_for(i, i % big_every == 0)
                status, body = node.try_request("PUT", "/v1/kv/" + key, val)
                outcome = val
            else:
                status, body = node.try_request("DELETE", "/v1/kv/" + key)
                outcome = None
            if status == 200:
                acked[key].append((parse_version(body["version"]), outcome))
                acks += 1
            elif status == 404 and outcome is None:
                pass  # nothing to delete on that node: no write happened
            elif status in (None, 503):
                maybe[key].append(outcome)
                uncertain += 1
            else:
                check(False, f"op {i} on {node.name}: {status} {body}")
        print(f"{acks} acknowledged, {uncertain} outcomes unknown "
              f"(node killed or starting)")
        for due, n in restarts:
            n.start(seeds=[])
        for n in nodes:
            if n.alive():
                n.wait_ready()
        # The last crash: every node at once, at a random moment.
        time.sleep(rng.uniform(0, 0.5))
        for n in nodes:
            n.kill(signal.SIGKILL)
        start = time.monotonic()
        for n in nodes:
            n.start(seeds=[])  # no --join: the data dir knows the peers
        for n in nodes:
            n.wait_ready()
        print(f"all 5 serving {time.monotonic() - start:.2f} s after the restart")

        expected = {}
        for k in keys:
            if acked[k]:
                expected[k] = max(acked[k], key=lambda x: x[0])[1]
            elif not maybe[k]:
                expected[k] = None

        def bad_keys(n):
            bad = []
            for k in keys:
                status, body = n.get(k)
                if status is None:
                    return ["unreachable"]
                got = body if status == 200 else None
                allowed = [expected[k]] if k in expected else []
                allowed += maybe[k]
                if k not in expected and not acked[k]:
                    allowed.append(None)
                if got not in allowed:
                    bad.append(k)
            return bad

        t = wait_until(lambda: all_alive(nodes), 60, poll=0.2)
        check(t is not None, "restarted nodes did not find each other without --join")
        print(f"all alive again after {t:.2f} s, without --join")
        t = wait_until(lambda: all(not bad_keys(n) for n in nodes), 60, poll=0.5)
        if t is None:
            for n in nodes:
                b = bad_keys(n)
                check(not b, f"{n.name}: wrong or lost keys {b[:10]} "
                             f"(expected {[(k, expected.get(k) and len(expected[k])) for k in b[:5]]})")
        print(f"every acknowledged write and delete on every node "
              f"{t:.2f} s after all were alive")
        # No deleted key comes back later either.
        time.sleep(2)
        for n in nodes:
            check(not bad_keys(n), f"{n.name}: a key changed after convergence")
    finally:
        for n in nodes:
            n.kill(signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


def test_hlc_and_incarnation_never_go_backwards_across_restarts():
    work = tempfile.mkdtemp(prefix="pekonode-durable-")
    n = DurableNode("h0", work)
    try:
        highest = None
        inc = -1
        for round_ in range(5):
            n.start(seeds=[])
            n.wait_ready()
            status, me = n.request("GET", "/v1/self")
            check(status == 200, f"/v1/self: {status}")
            check(me["incarnation"] > inc,
                  f"round {round_}: incarnation {me['incarnation']} not above {inc}")
            inc = me["incarnation"]
            for j in range(3):
                status, body = n.request("PUT", f"/v1/kv/r{round_}/{j}", b"x")
                check(status == 200, f"put: {status} {body}")
                v = parse_version(body["version"])
                check(highest is None or v > highest,
                      f"round {round_}: version {v} not above {highest}")
                highest = v
            # Killed at once after the acknowledgement: the next start must
            # still issue higher versions, even in the same millisecond.
            n.kill(signal.SIGKILL)
        n.start(seeds=[])
        n.wait_ready()
        status, body = n.request("GET", "/v1/kv?recurse")
        check(status == 200 and len(body["keys"]) == 15,
              f"keys after 5 restarts: {status} {body if status != 200 else len(body['keys'])}")
    finally:
        n.kill(signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


def start_refused(args, timeout=20):
    r = subprocess.run([BINARY] + args, capture_output=True, timeout=timeout)
    lines = [l for l in r.stderr.decode(errors="replace").splitlines()
             if l.startswith("pekonode:")]
    return r.returncode, lines, r.stderr.decode(errors="replace")


def test_corrupt_foreign_or_locked_data_dir_refused_with_one_line():
    work = tempfile.mkdtemp(prefix="pekonode-durable-")
    n = DurableNode("c0", work)
    try:
        n.start(seeds=[])
        n.wait_ready()
        marker = b"MARKER-of-a-row-" * 64
        status, _ = n.request("PUT", "/v1/kv/row", marker)
        check(status == 200, f"put: {status}")
        base = ["--name=c0", "--bind=127.0.0.1:0", "--logtostderr"]
        # Locked: the running node holds it.
        rc, lines, err = start_refused(base + ["--data_dir=" + n.data_dir])
        check(rc != 0 and len(lines) == 1 and "in use by another process" in lines[0],
              f"locked dir: rc {rc}, {err!r}")
        n.kill(signal.SIGTERM)  # closes the store: the row is in store.db
        # Foreign: another node's dir.
        rc, lines, err = start_refused(["--name=other", "--bind=127.0.0.1:0",
                                        "--data_dir=" + n.data_dir])
        check(rc != 0 and len(lines) == 1 and "belongs to node" in lines[0],
              f"foreign dir: rc {rc}, {err!r}")
        # Not a data dir at all.
        junk = os.path.join(work, "junk")
        os.mkdir(junk, 0o700)
        with open(os.path.join(junk, "notes.txt"), "w") as f:
            f.write("x")
        rc, lines, err = start_refused(base + ["--data_dir=" + junk])
        check(rc != 0 and len(lines) == 1 and "not a pekonode data dir" in lines[0],
              f"junk dir: rc {rc}, {err!r}")
        # A flipped byte inside a stored value.
        copy = os.path.join(work, "copy")
        shutil.copytree(n.data_dir, copy)
        os.remove(os.path.join(copy, "LOCK"))
        db = os.path.join(copy, "store.db")
        data = bytearray(open(db, "rb").read())
        at = data.find(marker[:64])
        check(at >= 0, "the value is not in store.db after a clean stop")
        data[at + 10] ^= 0x20
        open(db, "wb").write(bytes(data))
        rc, lines, err = start_refused(base + ["--data_dir=" + copy])
        check(rc != 0 and len(lines) == 1 and "corrupt" in lines[0],
              f"corrupt row: rc {rc}, {err!r}")
        print(lines[0])
        # A damaged FORMAT marker.
        fmt = os.path.join(n.data_dir, "FORMAT")
        text = bytearray(open(fmt, "rb").read())
        text[3] ^= 0x01
        open(fmt, "wb").write(bytes(text))
        rc, lines, err = start_refused(base + ["--data_dir=" + n.data_dir])
        check(rc != 0 and len(lines) == 1 and "data_dir" in lines[0],
              f"damaged FORMAT: rc {rc}, {err!r}")
        print(lines[0])
    finally:
        n.kill(signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


def mount_tmpfs(path, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                        "tmpfs", path], capture_output=True)
    return r.returncode == 0, r.stderr.decode(errors="replace").strip()


def test_disk_full_fails_writes_reads_and_gossip_go_on():
    work = tempfile.mkdtemp(prefix="pekonode-durable-")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt, 0o700)
    ok, why = mount_tmpfs(mnt, "8m") if os.geteuid() == 0 else (False, "not root")
    if not ok:
        print(f"skipped: cannot mount a small tmpfs here ({why})")
        return "skipped"
    full = DurableNode("f0", mnt)
    peer = DurableNode("f1", work)
    try:
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"b" * (2 << 20))
        full.start(seeds=[])
        full.wait_ready()
        peer.start(seeds=[full.addr])
        peer.wait_ready()
        check(wait_until(lambda: all_alive([full, peer]), 20) is not None, "no convergence")
        acked = {}
        refused = None
        for i in range(40):
            key = f"big/{i}"
            val = value_for(i, True)
            status, body = full.request("PUT", "/v1/kv/" + key, val, timeout=20)
            if status == 200:
                acked[key] = val
                continue
            check(status == 507, f"write on a full disk: {status} {body}")
            check("disk" in body["error"] and "full" in body["error"],
                  f"507 without the reason: {body}")
            refused = key
            print(f"after {len(acked)} writes of 512 KiB: {status} {body['error']}")
            break
        check(refused is not None, "the 8 MiB disk never filled")
        check(len(acked) > 0, "no write fit before the disk was full")
        # Reads go on, and the refused write is not visible.
        for k, v in acked.items():
            status, got = full.get(k)
            check(status == 200 and got == v, f"read of {k} on the full node: {status}")
        status, _ = full.get(refused)
        check(status == 404, f"the refused write is readable: {status}")
        # Gossip goes on both ways: the peer has every acknowledged write,
        # and a write on the peer reaches the full node's memory.
        check(wait_until(lambda: all(peer.get(k) == (200, v) for k, v in acked.items()), 30)
              is not None, "acknowledged writes did not reach the peer")
        status, _ = peer.request("PUT", "/v1/kv/from-peer", b"small")
        check(status == 200, f"put on the peer: {status}")
        check(wait_until(lambda: full.get("from-peer") == (200, b"small"), 20) is not None,
              "gossip from the peer did not reach the full node")
        check(peer.get(refused)[0] == 404, "the refused write reached the peer")
        # Space freed: writes are taken again.
        os.remove(ballast)
        status, body = full.request("PUT", "/v1/kv/after", b"room again", timeout=20)
        check(status == 200, f"write after freeing space: {status} {body}")
        acked["after"] = b"room again"
        # Nothing acknowledged is lost across a crash.
        full.kill(signal.SIGKILL)
        peer.kill(signal.SIGKILL)
        full.start(seeds=[])
        full.wait_ready()
        for k, v in acked.items():
            check(full.get(k) == (200, v), f"{k} lost after the restart")
    finally:
        full.kill(signal.SIGKILL)
        peer.kill(signal.SIGKILL)
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    cases = [(name[len("test_"):], fn) for name, fn in sorted(globals().items())
             if name.startswith("test_") and callable(fn)]
    only = os.environ.get("PEKONODE_ONLY")
    if only:
        cases = [c for c in cases if only in c[0]]
    return junit.run("Durable", cases)


if __name__ == "__main__":
    sys.exit(main())
