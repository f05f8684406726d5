"""Replays of captured datagrams against a keyed 3-node cluster of real
`pekonode` processes. The datagrams are captured on the loopback interface
(an AF_PACKET socket: needs root or CAP_NET_RAW; the cases report
themselves skipped without it) while a write spreads, then sent again:
to their destination at once, to another node, after the destination
restarts, after every node restarts, and as a flood. None has any effect
(the values written since stay, members stay alive) and every one is
counted in /metrics.

Usage: replay_test.py PEKONODE
"""
import base64
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
ETH_P_ALL = 0x0003


def random_key():
    while True:
        k = os.urandom(32)
        if len(set(k)) >= 16 and not all(32 <= b < 127 for b in k):
            return base64.b64encode(k).decode()


class Capture:
    """UDP payloads on loopback to `dst_port` from any of `src_ports`."""

    def __init__(self, dst_port, src_ports):
        self.dst_port = dst_port
        self.src_ports = set(src_ports)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.1)
        self.payloads = []
        self.seen = set()
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag:
            try:
                frame = self.sock.recv(70000)
            except socket.timeout:
                continue
            # Loopback frames: a 14-byte Ethernet header of zeros, IPv4.
            if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            if ip[9] != 17:
                continue
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            if dport != self.dst_port or sport not in self.src_ports:
                continue
            payload = bytes(ip[ihl + 8:])
            # Each loopback packet is seen going out and coming in.
            if payload in self.seen:
                continue
            self.seen.add(payload)
            self.payloads.append(payload)

    def stop(self):
        self.stop_flag = True
        self.thread.join()
        self.sock.close()
        return self.payloads


def drops(node, reason):
    s, body = node.request("GET", "/metrics", raw=True)
    check(s == 200, f"/metrics of {node.name}: {s}")
    want = ('pekonode_transport_dropped_datagrams_total{reason="'
            + reason + '"}')
    for line in body.decode().splitlines():
        if line.startswith(want):
            return int(float(line.split()[-1]))
    return 0


def send_all(payloads, node, times=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(times):
        for p in payloads:
            s.sendto(p, ("127.0.0.1", node.port))
    s.close()


def value(node, key):
    s, body = node.request("GET", "/v1/kv/" + key, raw=True)
    return body if s == 200 else None


def test_captured_datagrams_replayed_have_no_effect_and_are_counted():
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                              socket.htons(ETH_P_ALL))
        probe.close()
    except (PermissionError, OSError) as e:
        print(f"skipped: cannot capture on loopback here ({e}); needs root "
              "or CAP_NET_RAW")
        return
    c = Cluster(BINARY, 3)
    with c:
        keyring = os.path.join(c.workdir, "keyring")
        with open(keyring, "w") as f:
            f.write(random_key() + "\n")
        os.chmod(keyring, 0o600)
        for n in c.nodes:
            n.extra.append(f"--keyring_file={keyring}")
        n0, n1, n2 = c.nodes
        c.start()
        check(c.wait_until(c.all_alive, 30) is not None,
              "the keyed cluster did not form")
        # Capture what n0 and n1 send n2 while a write and a delete spread.
        cap = Capture(n2.port, [n0.port, n1.port])
        check(n0.request("PUT", "/v1/kv/k", b"v1")[0] == 200, "PUT k=v1")
        check(n0.request("PUT", "/v1/kv/gone", b"x")[0] == 200, "PUT gone")
        check(c.wait_until(lambda: value(n2, "k") == b"v1"
                           and value(n2, "gone") == b"x", 20) is not None,
              "n2 never got k=v1")
        time.sleep(0.5)
        captured = cap.stop()
        check(len(captured) >= 2, f"captured only {len(captured)} datagrams")
        check(all(p[0] == 0x03 for p in captured),
              "a captured datagram is not an encrypted format-3 frame")
        print(f"captured {len(captured)} datagrams to n2")
        # What happened since: k overwritten, gone deleted.
        check(n1.request("PUT", "/v1/kv/k", b"v2")[0] == 200, "PUT k=v2")
        check(n1.request("DELETE", "/v1/kv/gone")[0] == 200, "DELETE gone")
        settled = lambda: all(value(n, "k") == b"v2" and value(n, "gone") is None
                              for n in c.nodes)
        check(c.wait_until(settled, 20) is not None, "v2 did not spread")

        def unchanged(what):
            time.sleep(1.0)  # anything taken would have spread by now
            check(settled(), f"{what}: a replay changed the data: "
                             f"{[(value(n, 'k'), value(n, 'gone')) for n in c.nodes]}")
            check(c.all_alive(), f"{what}: members not all alive")

        # 1. To their destination at once: each already taken.
        before = drops(n2, "replayed")
        send_all(captured, n2)
        check(c.wait_until(lambda: drops(n2, "replayed") - before
                           >= len(captured), 10) is not None,
              f"n2 counted {drops(n2, 'replayed') - before} of "
              f"{len(captured)} replays")
        unchanged("replay to n2")
        # 2. To another node: sealed for n2's address.
        before = drops(n0, "wrong_destination")
        send_all(captured, n0)
        check(c.wait_until(lambda: drops(n0, "wrong_destination") - before
                           >= len(captured), 10) is not None,
              "n0 did not count the datagrams for n2 as wrong_destination")
        unchanged("replay to n0")
        # 3. A flood, then the oldest datagram alone. What the kernel or the
        # receive queue drops under load is counted too (kernel_overflow,
        # overload): every datagram is accounted for, none taken.
        reasons = ("replayed", "stale", "kernel_overflow", "overload")

        def counted():
            return {r: drops(n2, r) for r in reasons}

        before = counted()
        flood = max(1, 20000 // len(captured))
        send_all(captured, n2, times=flood)
        send_all(captured[:1], n2)
        total = flood * len(captured) + 1

        def accounted():
            now = counted()
            return sum(now[r] - before[r] for r in reasons)

        c.wait_until(lambda: accounted() >= total, 20)
        after = counted()
        delta = {r: after[r] - before[r] for r in reasons}
        print(f"flood: {total} sent; {delta}")
        # At least: the cluster's own datagrams dropped by the full queue
        # during the flood count as overload too.
        check(accounted() >= total,
              f"{accounted()} of {total} flood datagrams accounted for: {delta}")
        check(delta["replayed"] + delta["stale"] > 0, f"none refused: {delta}")
        unchanged("flood")
        # 4. After n2 restarts: sealed before its start.
        n2.kill()
        n2.start(seeds=[n0.addr])
        n2.wait_ready()
        check(c.wait_until(c.all_alive, 30) is not None, "n2 did not rejoin")
        check(c.wait_until(lambda: value(n2, "k") == b"v2", 20) is not None,
              "n2 did not catch up after its restart")
        before = drops(n2, "stale")
        send_all(captured, n2)
        check(c.wait_until(lambda: drops(n2, "stale") - before
                           >= len(captured), 10) is not None,
              "restarted n2 did not count the replays as stale")
        unchanged("replay after n2's restart")
        # 5. After every node restarts: nothing stored survives, so a
        # replayed write would bring k=v1 and gone=x back everywhere.
        for n in c.nodes:
            n.kill()
        n0.start(seeds=[])
        n1.start(seeds=[n0.addr])
        n2.start(seeds=[n0.addr])
        for n in c.nodes:
            n.wait_ready()
        check(c.wait_until(c.all_alive, 30) is not None, "cluster did not re-form")
        check(n0.request("PUT", "/v1/kv/k", b"v3")[0] == 200, "PUT k=v3")
        check(c.wait_until(lambda: all(value(n, "k") == b"v3" for n in c.nodes),
                           20) is not None, "v3 did not spread")
        before = drops(n2, "stale")
        send_all(captured, n2)
        check(c.wait_until(lambda: drops(n2, "stale") - before
                           >= len(captured), 10) is not None,
              "after every restart n2 did not count the replays as stale")
        time.sleep(1.0)
        vals = [(value(n, "k"), value(n, "gone")) for n in c.nodes]
        check(all(v == (b"v3", None) for v in vals),
              f"a replay after every restart changed the data: {vals}")
        check(c.all_alive(), "members not all alive after the last replay")


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    return junit.run("Replay", [
        ("CapturedDatagramsReplayedHaveNoEffectAndAreCounted",
         test_captured_datagrams_replayed_have_no_effect_and_are_counted),
    ])


if __name__ == "__main__":
    sys.exit(main())
