"""The cost of durability, measured on real `pekonode` processes on loopback
through the admin API (HTTP keep-alive, one connection per client thread):

    bazel build -c opt //node:pekonode
    python3 chaos/real/durable_bench.py "$(bazel info -c opt bazel-bin)/node/pekonode" [--dir=PATH]

Each figure is taken with and without --data_dir on one node: sequential
put latency (100 B and 512 KiB values), put throughput with 16 concurrent
clients (100 B), and the time from starting the process to serving a key
of a data dir holding 10 MiB (10,240 values of 1 KiB), after kill -9.
--dir puts the data dirs on another file system (default: the temp dir).
"""
import argparse
import http.client
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Node  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Client:
    def __init__(self, node):
        self.conn = http.client.HTTPConnection("127.0.0.1", node.admin_port, timeout=30)

    def put(self, key, value):
        self.conn.request("PUT", "/v1/kv/" + key, body=value,
                          headers={"Content-Type": "application/octet-stream"})
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"put {key}: {r.status}")

    def get_status(self, key):
        self.conn.request("GET", "/v1/kv/" + key)
        r = self.conn.getresponse()
        r.read()
        return r.status


def start(binary, work, name, durable):
    extra = ["--data_dir=" + os.path.join(work, name + ".data")] if durable else []
    n = Node(binary, name, work, (), "local", extra)
    n.start(seeds=[])
    n.wait_ready()
    return n


def latency(node, size, count):
    c = Client(node)
    value = b"v" * size
    xs = []
    for i in range(count):
        t = time.perf_counter()
        c.put(f"lat/{size}/{i % 64}", value)
        xs.append((time.perf_counter() - t) * 1000)
    return xs


def throughput(node, threads=16, seconds=3.0):
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(t):
        c = Client(node)
        i = 0
        while time.monotonic() < stop:
            c.put(f"tp/{t}/{i % 256}", b"x" * 100)
            i += 1
        done[t] = i

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.monotonic() - t0)


def restart_to_serving(binary, work):
    n = start(binary, work, "r0", True)
    c = Client(n)
    value = b"r" * 1024
    t = time.monotonic()
    for i in range(10240):
        c.put(f"data/{i:05d}", value)
    fill = time.monotonic() - t
    n.kill(signal.SIGKILL)
    size = sum(os.path.getsize(os.path.join(n.extra[0].split("=", 1)[1], f))
               for f in os.listdir(n.extra[0].split("=", 1)[1]))
    times = []
    for _ in range(3):
        t = time.monotonic()
        n.start(seeds=[])
        while True:
            try:
                if Client(n).get_status("data/10239") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.005)
        times.append(time.monotonic() - t)
        n.kill(signal.SIGKILL)
    empty = []
    for i in range(3):
        t = time.monotonic()
        m = start(binary, work, f"e{i}", False)
        empty.append(time.monotonic() - t)
        m.kill(signal.SIGKILL)
    return fill, size, times, empty


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--count", type=int, default=500)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    print(f"load before: {open('/proc/loadavg').read().split()[:3]}, "
          f"{os.cpu_count()} CPUs")
    for durable in (False, True):
        work = tempfile.mkdtemp(prefix="pekonode-dbench-", dir=a.dir)
        label = "data dir" if durable else "memory  "
        n = start(binary, work, "b0", durable)
        try:
            small = latency(n, 100, a.count)
            big = latency(n, 512 * 1024, max(20, a.count // 10))
            tp = throughput(n)
            print(f"{label}: put 100 B p50 {pct(small, 50):.2f} ms p99 {pct(small, 99):.2f} ms; "
                  f"512 KiB p50 {pct(big, 50):.2f} ms p99 {pct(big, 99):.2f} ms; "
                  f"16 clients x 100 B: {tp:.0f} puts/s", flush=True)
        finally:
            n.kill(signal.SIGKILL)
            shutil.rmtree(work, ignore_errors=True)
    work = tempfile.mkdtemp(prefix="pekonode-dbench-", dir=a.dir)
    try:
        fill, size, times, empty = restart_to_serving(binary, work)
        print(f"10 MiB (10,240 x 1 KiB) written in {fill:.1f} s, data dir {size / 2**20:.1f} MiB; "
              f"start to serving after kill -9: {', '.join(f'{t:.3f}' for t in times)} s "
              f"(median {statistics.median(times):.3f} s); an empty node without a data dir: "
              f"{statistics.median(empty):.3f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
