"""Launches local clusters of real `pekonode` processes and talks to their
admin API. Used by the real-process tests and benchmarks; standard library only.

Addresses are on 127.0.0.1 (or inside network namespaces the caller made).
"""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def _port_candidates():
    """Ports below the kernel's ephemeral range, in random order.

    A port from the ephemeral range can be handed to a test's own TCP client
    as its source port while the node is still starting: the client then
    connects to itself and reads back its own request (a "self-connect").
    Ports outside the range never meet that."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 12000)
    ports = list(range(10000, low - 1))
    random.SystemRandom().shuffle(ports)
    return ports


def free_port_pair():
    """A port free for UDP (gossip) and the next one free for TCP (admin)."""
    for port in _port_candidates()[:500]:
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port + 1))
                return port, port + 1
            finally:
                u.close()
                t.close()
        except OSError:
            continue
    raise RuntimeError("no free port pair found")


class Node:
    def __init__(self, binary, name, workdir, seeds=(), profile="local",
                 extra=(), ip="127.0.0.1", netns=None):
        self.binary = binary
        self.name = name
        self.workdir = workdir
        self.profile = profile
        self.extra = list(extra)
        self.ip = ip
        self.netns = netns
        if ip == "127.0.0.1":
            self.port, self.admin_port = free_port_pair()
        else:
            self.port, self.admin_port = 7946, 7947
        self.seeds = list(seeds)
        self.proc = None

    @property
    def addr(self):
        return f"{self.ip}:{self.port}"

    @property
    def admin(self):
        return f"{self.ip}:{self.admin_port}"

    def start(self, seeds=None):
        if seeds is not None:
            self.seeds = list(seeds)
        args = [self.binary, f"--name={self.name}", f"--bind={self.addr}",
                f"--admin={self.admin}", f"--profile={self.profile}",
                "--fault_injection", "--logtostderr"] + self.extra
        if not self.ip.startswith("127."):
            # Inside a private network namespace the test made: no token,
            # no keyring.
            args += ["--admin_insecure_allow_remote", "--insecure_plaintext"]
        if self.seeds:
            args.append("--join=" + ",".join(self.seeds))
        if self.netns:
            args = ["ip", "netns", "exec", self.netns] + args
        log = open(os.path.join(self.workdir, f"{self.name}.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- admin API -------------------------------------------------------
    def request(self, method, path, body=None, timeout=5.0, raw=False,
                headers=None):
        url = f"http://{self.admin}{path}"
        data = body if isinstance(body, (bytes, type(None))) else (
            json.dumps(body).encode() if not isinstance(body, str) else body.encode())
        req = urllib.request.Request(url, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if data is not None and "Content-Type" not in (headers or {}):
            # Never form-encoded: raw bytes (values) or JSON (commands).
            req.add_header("Content-Type", "application/octet-stream"
                           if isinstance(body, bytes) else "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                payload = resp.read()
                return resp.status, payload if raw else _maybe_json(payload)
        except urllib.error.HTTPError as e:
            payload = e.read()
            return e.code, payload if raw else _maybe_json(payload)

    def members(self):
        try:
            status, body = self.request("GET", "/v1/members", timeout=2.0)
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            return None
        if status != 200:
            return None
        return {m["name"]: m for m in body["members"]}

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: see {self.workdir}/{self.name}.log")
            try:
                if self.request("GET", "/v1/health", timeout=1.0)[0] == 200:
                    return
            except (OSError, urllib.error.URLError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} not ready after {timeout}s")


def parse_metrics(text):
    """Prometheus text exposition -> {series as written (name and labels): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        try:
            out[series] = float(value)
        except ValueError:
            continue
    return out


def metrics(node):
    """The node's /metrics as parse_metrics gives it; None if unreachable."""
    try:
        status, body = node.request("GET", "/metrics", timeout=5.0, raw=True)
    except (OSError, urllib.error.URLError, http.client.HTTPException):
        return None
    return parse_metrics(body.decode()) if status == 200 else None


def series_sum(samples, name):
    """Sum over every label set of metric `name` in parse_metrics output, or
    the one series `name` when it names its labels."""
    return sum(v for k, v in samples.items()
               if k == name or (k.startswith(name + "{") and "{" not in name))


def metric_sum(node, name):
    """series_sum of the node's /metrics; None if unreachable."""
    samples = metrics(node)
    return None if samples is None else series_sum(samples, name)


def _maybe_json(payload):
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return payload


class Cluster:
    """N nodes joining through the first; stops them all on exit."""

    def __init__(self, binary, n, profile="local", extra=()):
        self.workdir = tempfile.mkdtemp(prefix="pekonode-cluster-")
        self.binary = binary
        self.profile = profile
        self.extra = list(extra)
        self.nodes = []
        for i in range(n):
            self.add(f"n{i}")

    def add(self, name):
        seeds = [self.nodes[0].addr] if self.nodes else []
        node = Node(self.binary, name, self.workdir, seeds, self.profile, self.extra)
        self.nodes.append(node)
        return node

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready()
        return self

    def stop(self):
        for n in self.nodes:
            n.kill(signal.SIGKILL)

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def wait_until(self, pred, timeout, poll=0.01):
        """Polls pred() until true; returns seconds taken or None on timeout."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if pred():
                return time.monotonic() - start
            time.sleep(poll)
        return None

    def all_see(self, name, state, observers=None):
        for n in observers or self.live():
            if n.name == name:
                continue
            view = n.members()
            if view is None:
                return False
            m = view.get(name)
            if state is None:
                if m is not None:
                    return False
            elif m is None or m["state"] != state:
                return False
        return True

    def all_alive(self, observers=None):
        names = {n.name for n in self.live()}
        for n in observers or self.live():
            view = n.members()
            if view is None:
                return False
            alive = {k for k, m in view.items() if m["state"] == "alive"}
            if not names <= alive:
                return False
        return True
