"""Real `pekonode` processes on loopback, checked through the admin API:
join, kill -9, graceful leave, restart, key/value across processes, large
values, a joining node catching up, bad packets, fault injection.

Bounds here are generous (CI machines are shared); the measured figures come
from chaos/real/real_bench.py.
"""
import base64
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Node  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None


def test_join_all_alive():
    with Cluster(BINARY, 5) as c:
        c.start()
        t = c.wait_until(c.all_alive, 10)
        check(t is not None, "5 nodes did not all see each other alive within 10 s")
        view = c.nodes[1].members()
        check(view["n0"]["addr"] == c.nodes[0].addr, f"wrong addr for n0: {view['n0']}")
        status, me = c.nodes[2].request("GET", "/v1/self")
        check(status == 200 and me["name"] == "n2", f"/v1/self: {status} {me}")


def test_kill_nine_detected_dead():
    with Cluster(BINARY, 5) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        victim = c.nodes[3]
        victim.kill(signal.SIGKILL)
        t = c.wait_until(lambda: c.all_see("n3", "dead"), 20)
        check(t is not None, "kill -9 not seen dead by every node within 20 s")
        print(f"kill -9 seen dead everywhere after {t:.2f} s")


def test_graceful_leave_seen_left():
    with Cluster(BINARY, 5) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        status, _ = c.nodes[4].request("POST", "/v1/leave", b"")
        check(status == 200, f"leave returned {status}")
        observers = c.nodes[:4]
        t = c.wait_until(lambda: c.all_see("n4", "left", observers), 5)
        check(t is not None, "graceful leave not seen as left within 5 s")
        print(f"leave seen everywhere after {t:.3f} s")


def test_restart_alive_again():
    with Cluster(BINARY, 4) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        victim = c.nodes[2]
        victim.kill(signal.SIGKILL)
        check(c.wait_until(lambda: c.all_see("n2", "dead"), 20) is not None,
              "kill not detected")
        victim.start()
        victim.wait_ready()
        t = c.wait_until(c.all_alive, 10)
        check(t is not None, "restarted node not alive everywhere within 10 s")


def test_kv_put_get_delete_across_processes():
    with Cluster(BINARY, 4) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        status, body = c.nodes[0].request("PUT", "/v1/kv/app/config", b"v1")
        check(status == 200, f"put returned {status} {body}")

        def everywhere(value):
            for n in c.nodes:
                s, b = n.request("GET", "/v1/kv/app/config", raw=True)
                if value is None:
                    if s != 404:
                        return False
                elif s != 200 or b != value:
                    return False
            return True

        check(c.wait_until(lambda: everywhere(b"v1"), 5) is not None, "put not everywhere")
        status, _ = c.nodes[2].request("PUT", "/v1/kv/app/config", b"v2")
        check(status == 200, "second put failed")
        check(c.wait_until(lambda: everywhere(b"v2"), 5) is not None, "overwrite not everywhere")
        status, _ = c.nodes[3].request("DELETE", "/v1/kv/app/config")
        check(status == 200, "delete failed")
        check(c.wait_until(lambda: everywhere(None), 5) is not None, "delete not everywhere")
        status, body = c.nodes[1].request("PUT", "/v1/metadata", b"published blob")
        check(status == 200, f"metadata put: {status}")
        check(c.wait_until(lambda: all(
            n.request("GET", "/v1/metadata", raw=True) == (200, b"published blob")
            for n in c.nodes), 5) is not None, "metadata blob not everywhere")


def test_large_value_and_joiner_catch_up():
    with Cluster(BINARY, 3) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        value = os.urandom(512 * 1024)
        status, body = c.nodes[0].request("PUT", "/v1/kv/big", value, timeout=10)
        check(status == 200, f"512 KiB put returned {status} {body}")
        t = c.wait_until(lambda: all(
            n.request("GET", "/v1/kv/big", raw=True, timeout=10) == (200, value)
            for n in c.nodes), 30, poll=0.05)
        check(t is not None, "512 KiB value not on every node within 30 s")
        print(f"512 KiB value everywhere after {t:.2f} s")
        joiner = c.add("late")
        joiner.start()
        joiner.wait_ready()
        t = c.wait_until(lambda: joiner.request(
            "GET", "/v1/kv/big", raw=True, timeout=10) == (200, value), 30, poll=0.05)
        check(t is not None, "joiner did not catch up within 30 s")
        print(f"joiner read the 512 KiB value after {t:.2f} s")


def test_tags_of_several_kib_propagate():
    with Cluster(BINARY, 3) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        tags = {"role": "db", "blob1": "t" * 2000, "blob2": "u" * 1000}
        status, body = c.nodes[1].request("PUT", "/v1/tags", tags)
        check(status == 200, f"tags update: {status} {body}")

        def seen():
            for n in c.nodes:
                view = n.members()
                if view is None or view["n1"]["tags"] != tags:
                    return False
            return True

        t = c.wait_until(seen, 10)
        check(t is not None, "3 KiB tags did not reach every node within 10 s")
        status, body = c.nodes[1].request("PUT", "/v1/tags", {"big": "x" * 5000})
        check(status == 400, f"oversized tags accepted: {status} {body}")


def test_value_too_large_rejected():
    with Cluster(BINARY, 1) as c:
        c.start()
        status, body = c.nodes[0].request("PUT", "/v1/kv/huge", b"x" * (2 * 1024 * 1024), timeout=10)
        check(status in (400, 413), f"oversized value accepted: {status}")
        check(c.nodes[0].request("GET", "/v1/health")[0] == 200, "node unhealthy")


def test_garbage_datagrams_counted_not_fatal():
    with Cluster(BINARY, 2) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        target = ("127.0.0.1", c.nodes[0].port)
        for i in range(300):
            s.sendto(os.urandom(i % 1500), target)
        s.sendto(b"", target)
        s.close()
        time.sleep(0.5)
        check(c.nodes[0].alive(), "node died on garbage input")
        status, text = c.nodes[0].request("GET", "/metrics", raw=True)
        check(status == 200, "metrics unavailable")
        drops = 0
        for line in text.decode().splitlines():
            if line.startswith("pekonode_transport_dropped_datagrams_total"):
                drops += float(line.rsplit(" ", 1)[1])
        check(drops >= 250, f"garbage not counted as drops: {drops}")
        check(c.all_alive(), "cluster broken by garbage")


def test_bad_flags_and_busy_port_exit_nonzero():
    r = subprocess.run([BINARY, "--name=x", "--bind=not-an-address"],
                       capture_output=True, timeout=20)
    check(r.returncode != 0, "bad --bind accepted")
    check(b"bind" in r.stderr, f"error does not name the flag: {r.stderr[-300:]}")
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    r = subprocess.run([BINARY, "--name=x", f"--bind=127.0.0.1:{port}"],
                       capture_output=True, timeout=20)
    busy.close()
    check(r.returncode != 0, "busy port accepted")
    lines = [l for l in r.stderr.decode().splitlines() if l.strip()]
    check(lines and str(port) in lines[-1], f"unclear error: {lines[-3:]}")


def test_loss_via_fault_endpoint_no_false_dead():
    with Cluster(BINARY, 5) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        for n in c.nodes:
            status, body = n.request("POST", "/v1/faults", {"drop_rate": 0.1, "blocked": []})
            check(status == 200, f"faults: {status} {body}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for n in c.nodes:
                view = n.members()
                check(view is not None, "node unreachable")
                dead = [k for k, m in view.items() if m["state"] in ("dead",)]
                check(not dead, f"{n.name} declared healthy nodes dead at 10% loss: {dead}")
            time.sleep(0.2)


def test_partition_and_heal_via_fault_endpoint():
    with Cluster(BINARY, 4) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        a, b = c.nodes[:2], c.nodes[2:]
        for side, other in ((a, b), (b, a)):
            for n in side:
                n.request("POST", "/v1/faults", {"drop_rate": 0, "blocked": [o.addr for o in other]})
        t = c.wait_until(lambda: c.all_see("n2", "dead", a) and c.all_see("n0", "dead", b), 30)
        check(t is not None, "partition not detected within 30 s")
        for n in c.nodes:
            n.request("POST", "/v1/faults", {"drop_rate": 0, "blocked": []})
        t = c.wait_until(c.all_alive, 60)
        check(t is not None, "partition did not heal within 60 s")
        print(f"partition healed after {t:.2f} s")


def test_joiner_alone_logs_the_likely_causes():
    """A node whose seeds never answer (one nobody listens on, one with
    another gossip key) says so in its own log, naming the causes."""
    c = Cluster(BINARY, 2)
    keyring = os.path.join(c.workdir, "keyring")
    with open(keyring, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    os.chmod(keyring, 0o600)
    c.nodes[1].extra += [f"--keyring_file={keyring}"]
    try:
        c.nodes[0].start()
        c.nodes[0].wait_ready()
        c.nodes[1].start(seeds=[c.nodes[0].addr, "127.0.0.1:9"])
        c.nodes[1].wait_ready()
        log = os.path.join(c.workdir, "n1.log")

        def warned():
            with open(log, "rb") as f:
                return b"no other member answered" in f.read()
        check(c.wait_until(warned, 20, poll=0.2) is not None,
              "a lone joiner logs that nobody answered")
        with open(log, "rb") as f:
            text = f.read().decode(errors="replace")
        check("127.0.0.1:9" in text and "--keyring_file" in text,
              "the warning names the seeds and the key as a cause")
    finally:
        c.stop()


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    cases = [(name[len("test_"):], fn) for name, fn in sorted(globals().items())
             if name.startswith("test_") and callable(fn)]
    only = os.environ.get("PEKONODE_ONLY")
    if only:
        cases = [c for c in cases if only in c[0]]
    return junit.run("RealProcess", cases)


if __name__ == "__main__":
    sys.exit(main())
