"""Backup, restore and force-leave with real `pekonode` processes and
pekoctl on 127.0.0.1: a snapshot saved from cluster A is restored into a new
cluster B and reaches every node of B, where newer writes keep winning and
restored deletes delete older values; damaged files are refused with a 400
naming what is wrong and change nothing; a killed member is forced out.

Usage: snapshot_test.py PEKONODE PEKOCTL
"""
import base64
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None


def pekoctl(node, *args):
    r = subprocess.run([PEKOCTL, f"--addr={node.admin}", *args],
                       capture_output=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def put(node, key, value):
    status, body = node.request("PUT", f"/v1/kv/{key}", value)
    check(status == 200, f"put {key} on {node.name}: {status} {body}")


def get(node, key):
    status, body = node.request("GET", f"/v1/kv/{key}", raw=True)
    return body if status == 200 else None


def keys_of(node):
    status, body = node.request("GET", "/v1/kv")
    check(status == 200, f"list on {node.name}: {status} {body}")
    return {k["key"] for k in body["keys"]}


BIG = os.urandom(300 * 1024)


def declared_upload(node, length):
    """PUT /v1/snapshot declaring `length` bytes and waiting for 100
    Continue: returns (status, body) of the node's answer."""
    s = socket.create_connection(("127.0.0.1", node.admin_port), timeout=10)
    s.sendall((f"PUT /v1/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Content-Type: application/octet-stream\r\n"
               f"Content-Length: {length}\r\nExpect: 100-continue\r\n"
               f"Connection: close\r\n\r\n").encode())
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), body
    except (IndexError, ValueError):
        return 0, buf


def test_restore_into_a_new_cluster_reaches_every_node():
    with Cluster(BINARY, 3) as a, Cluster(BINARY, 3) as b:
        a.start()
        b.start()
        check(a.wait_until(a.all_alive, 30), "cluster A did not form")
        check(b.wait_until(b.all_alive, 30), "cluster B did not form")
        # B holds a value of a key that A later deletes: the restored
        # tombstone is newer and deletes it.
        put(b.nodes[0], "shared-deleted", b"written in B first")
        for i in range(40):
            put(a.nodes[i % 3], f"app/k{i}", f"value {i}".encode())
        put(a.nodes[1], "app/big", BIG)
        put(a.nodes[0], "shared-newer", b"old, from A")
        put(a.nodes[0], "shared-deleted", b"A's value")
        for i in range(5):
            status, _ = a.nodes[2].request("DELETE", f"/v1/kv/app/k{i}")
            check(status == 200, f"delete app/k{i}: {status}")
        status, _ = a.nodes[2].request("DELETE", "/v1/kv/shared-deleted")
        check(status == 200, "delete shared-deleted")
        expected = {f"app/k{i}" for i in range(5, 40)} | {"app/big", "shared-newer"}
        check(a.wait_until(lambda: all(keys_of(n) == expected for n in a.nodes), 30),
              "cluster A did not converge before the snapshot")
        snap = os.path.join(a.workdir, "backup.snap")
        rc, out = pekoctl(a.nodes[1], "snapshot", "save", snap)
        check(rc == 0, f"snapshot save: {rc} {out}")
        with open(snap, "rb") as f:
            data = f.read()
        check(data.startswith(b"PEKOSNAP"), "the file is not a snapshot")
        check(oct(os.stat(snap).st_mode & 0o777) == "0o600", "snapshot file mode")
        # After the snapshot, B writes a key the snapshot also holds.
        put(b.nodes[1], "shared-newer", b"new, from B")
        rc, out = pekoctl(b.nodes[2], "snapshot", "restore", snap)
        check(rc == 0, f"snapshot restore: {rc} {out}")
        check("from node n1" in out, out)
        rc, out = pekoctl(b.nodes[2], "--json", "snapshot", "restore", snap)
        check(rc == 0, out)
        check('"applied":0' in out, f"restoring twice applied something: {out}")

        want = expected  # shared-deleted gone, shared-newer B's

        def converged():
            for n in b.nodes:
                if keys_of(n) != want:
                    return False
                if get(n, "shared-newer") != b"new, from B":
                    return False
                if get(n, "app/big") != BIG or get(n, "app/k7") != b"value 7":
                    return False
            return True
        took = b.wait_until(converged, 60, poll=0.1)
        check(took is not None,
              "cluster B did not converge on the restored data: "
              + repr([sorted(keys_of(n) ^ want) for n in b.nodes]))
        print(f"every node of B holds the restored data {took:.2f} s after the restore")
        for n in b.nodes:
            check(get(n, "shared-newer") == b"new, from B",
                  f"{n.name}: the restored older version overwrote a newer write")
            check(get(n, "shared-deleted") is None,
                  f"{n.name}: the restored tombstone did not delete the older value")


def test_damaged_or_foreign_files_are_refused_and_change_nothing():
    with Cluster(BINARY, 1) as a:
        a.nodes[0].seeds = []
        a.start()
        n = a.nodes[0]
        for i in range(20):
            put(n, f"k{i}", f"v{i}".encode())
        status, snap = n.request("GET", "/v1/snapshot", raw=True)
        check(status == 200 and snap.startswith(b"PEKOSNAP"), f"save: {status}")
        with Cluster(BINARY, 1) as b:
            b.nodes[0].seeds = []
            b.start()
            m = b.nodes[0]
            put(m, "mine", b"x")
            flipped = bytearray(snap)
            flipped[len(snap) // 2] ^= 0x01
            cases = [
                (bytes(flipped), "fails its checksum"),
                (snap[:-10], "truncated"),
                (snap + b"junk", "bytes after its end"),
                (b'{"not": "a snapshot"}', "not a pekonode snapshot"),
                (snap[:8] + b"\x09\x00\x00\x00" + snap[12:], "newer than this build"),
            ]
            for body, why in cases:
                status, reply = m.request("PUT", "/v1/snapshot", body)
                check(status == 400, f"{why}: answered {status} {reply}")
                check(why in reply.get("error", ""), f"{why}: reason {reply}")
            check(keys_of(m) == {"mine"}, f"a refused restore changed the store: {keys_of(m)}")
            # pekoctl reports the node's reason, exit 1.
            bad = os.path.join(b.workdir, "bad.snap")
            with open(bad, "wb") as f:
                f.write(snap[:-3])
            rc, out = pekoctl(m, "snapshot", "restore", bad)
            check(rc == 1 and "HTTP 400" in out and "truncated" in out, f"{rc} {out}")
            # A restore body above the limit: 413 naming it, before the body.
            status, reply = declared_upload(m, 65 * 1024 * 1024)
            check(status == 413 and b"max_snapshot_bytes" in reply,
                  f"oversize: {status} {reply}")
            check(keys_of(m) == {"mine"}, "the oversize body changed the store")


def test_force_leave_of_a_killed_member():
    with Cluster(BINARY, 3) as c:
        c.start()
        check(c.wait_until(c.all_alive, 30), "cluster did not form")
        rc, out = pekoctl(c.nodes[0], "force-leave", "n1")
        check(rc == 1 and "HTTP 400" in out and "not failed" in out,
              f"force-leave of an alive member: {rc} {out}")
        rc, out = pekoctl(c.nodes[0], "force-leave", "nobody")
        check(rc == 1 and "HTTP 404" in out, f"unknown member: {rc} {out}")
        c.nodes[2].kill()
        check(c.wait_until(lambda: c.all_see("n2", "dead"), 30),
              "the killed member was not declared dead")
        rc, out = pekoctl(c.nodes[0], "force-leave", "n2")
        check(rc == 0 and "n2" in out, f"force-leave: {rc} {out}")
        took = c.wait_until(lambda: c.all_see("n2", "left"), 10)
        check(took is not None, "not every node sees the member left")
        print(f"every node sees n2 left {took:.2f} s after the force-leave")


def main():
    global BINARY, PEKOCTL
    BINARY, PEKOCTL = sys.argv[1], sys.argv[2]
    return junit.run("snapshot_test", [
        ("RestoreIntoANewClusterReachesEveryNode",
         test_restore_into_a_new_cluster_reaches_every_node),
        ("DamagedOrForeignFilesAreRefusedAndChangeNothing",
         test_damaged_or_foreign_files_are_refused_and_change_nothing),
        ("ForceLeaveOfAKilledMember", test_force_leave_of_a_killed_member),
    ])


if __name__ == "__main__":
    sys.exit(main())
