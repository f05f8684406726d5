"""The admin API and pekoctl against real `pekonode` processes on 127.0.0.1:
the browser attacks (CSRF, DNS rebinding) refused, the token enforced, a
remote --admin without a token refused at start, values of any content type
from plain curl, slow clients beside health checks, health after a leave,
SIGHUP, --version/--help, pekoctl join that fails when no seed answers, TLS.

Usage: admin_test.py PEKONODE PEKOCTL TLS_CERT TLS_KEY
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Node  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None
TLS_CERT = None
TLS_KEY = None


def raw_http(port, data, timeout=10.0):
    """Sends exact bytes; returns (status, headers dict, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
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
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return 0, {}, b""
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


def one_node(extra=(), name="a"):
    c = Cluster(BINARY, 0, extra=extra)
    n = c.add(name)
    n.seeds = []
    return c, n


def test_csrf_and_rebinding_requests_refused():
    c, n = one_node()
    with c:
        c.start()
        port = n.admin_port
        # Exactly what a page under a rebinding name sends.
        status, _, body = raw_http(port, (
            "POST /v1/leave HTTP/1.1\r\nHost: rebind.evil.example\r\n"
            "Origin: http://evil.example\r\nContent-Type: text/plain\r\n"
            "Content-Length: 1\r\nConnection: close\r\n\r\nx").encode())
        check(status == 403, f"rebinding request answered {status} {body}")
        check(b"rebind.evil.example" in body, f"reason does not name the host: {body}")
        # A page of another origin aimed at the IP.
        status, _, body = raw_http(port, (
            f"POST /v1/leave HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Origin: http://evil.example\r\nContent-Type: text/plain\r\n"
            "Content-Length: 1\r\nConnection: close\r\n\r\nx").encode())
        check(status == 403, f"cross-origin request answered {status} {body}")
        # An old browser's form post without Origin.
        status, _, body = raw_http(port, (
            f"POST /v1/leave HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 3\r\nConnection: close\r\n\r\na=b").encode())
        check(status == 403, f"form post answered {status} {body}")
        check(b"CSRF" in body, f"reason does not name the rule: {body}")
        view = n.members()
        check(view is not None and view["a"]["state"] == "alive",
              f"the node left after refused requests: {view}")
        check(n.request("GET", "/v1/health")[0] == 200, "node unhealthy")
        # Plain curl -X POST still works.
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            "-X", "POST", f"http://{n.admin}/v1/leave"],
                           capture_output=True, timeout=20)
        check(r.stdout == b"200", f"curl -X POST leave: {r.stdout} {r.stderr}")


def test_token_required_for_mutations():
    workdir = tempfile.mkdtemp(prefix="pekonode-token-")
    token = "real-process-token-0123456789"
    path = os.path.join(workdir, "token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o644)  # draws a warning
    c, n = one_node(extra=[f"--admin_token_file={path}"])
    with c:
        c.start()
        status, body = n.request("POST", "/v1/leave", b"")
        check(status == 401, f"leave without token: {status} {body}")
        status, body = n.request("PUT", "/v1/kv/k", b"v",
                                 headers={"Authorization": "Bearer wrong-token-0123456789"})
        check(status == 401, f"wrong token: {status} {body}")
        check(n.request("GET", "/v1/members")[0] == 200, "reads need no token by default")
        status, body = n.request("PUT", "/v1/kv/k", b"v",
                                 headers={"Authorization": f"Bearer {token}"})
        check(status == 200, f"put with token: {status} {body}")
        env = dict(os.environ, PEKOCTL_TOKEN_FILE=path)
        r = subprocess.run([PEKOCTL, f"--addr={n.admin}", "kv", "put", "k2", "v2"],
                           capture_output=True, timeout=20, env=env)
        check(r.returncode == 0, f"pekoctl with $PEKOCTL_TOKEN_FILE: {r.stdout} {r.stderr}")
        r = subprocess.run([PEKOCTL, f"--addr={n.admin}", "leave"],
                           capture_output=True, timeout=20)
        check(r.returncode == 1 and b"401" in r.stderr,
              f"pekoctl without token: {r.returncode} {r.stderr}")
        log = open(os.path.join(c.workdir, "a.log"), errors="replace").read()
        check("chmod 600" in log, "no warning about a token file others can read")
    shutil.rmtree(workdir, ignore_errors=True)


def test_remote_admin_without_token_refuses_to_start():
    r = subprocess.run([BINARY, "--name=x", "--bind=127.0.0.1:0",
                        "--admin=0.0.0.0:0"], capture_output=True, timeout=20)
    lines = [l for l in r.stderr.decode().splitlines() if l.strip()]
    check(r.returncode == 1, f"started anyway: {r.returncode}")
    check(len(lines) == 1, f"not one line: {lines}")
    check("--admin_token_file" in lines[0] and "--admin_insecure_allow_remote" in lines[0],
          f"line does not name the flags: {lines[0]}")
    for bad in (["--admin=127.0.0.1:0", "--admin_token_reads"],
                ["--admin=127.0.0.1:0", f"--admin_tls_cert={TLS_CERT}"],
                ["--admin=127.0.0.1:0", "--admin_allowed_hosts=a:1"],
                ["--admin=127.0.0.1:0", "--admin_token_file=/nonexistent"]):
        r = subprocess.run([BINARY, "--name=x", "--bind=127.0.0.1:0"] + bad,
                           capture_output=True, timeout=20)
        check(r.returncode == 1, f"{bad} accepted")
        check(b"--admin" in r.stderr, f"{bad}: unclear error {r.stderr}")


def test_curl_values_any_content_type_up_to_the_limit():
    c, n = one_node()
    with c:
        c.start()
        workdir = tempfile.mkdtemp(prefix="pekonode-curl-")
        for size, want in ((1024, b"200"), (10 * 1024, b"200"),
                           (512 * 1024, b"200"), (512 * 1024 + 1, b"413")):
            path = os.path.join(workdir, f"v{size}")
            with open(path, "wb") as f:
                f.write(os.urandom(size))
            # curl's default for --data-binary: application/x-www-form-urlencoded.
            r = subprocess.run(["curl", "-s", "-X", "PUT", "--data-binary", f"@{path}",
                                "-w", "\n%{http_code}", f"http://{n.admin}/v1/kv/k"],
                               capture_output=True, timeout=30)
            body, _, code = r.stdout.rpartition(b"\n")
            check(code == want, f"{size} bytes: HTTP {code} {body[:200]}")
            if want == b"200":
                s, value = n.request("GET", "/v1/kv/k", raw=True, timeout=10)
                check(s == 200 and len(value) == size, f"{size}: read back {s} {len(value)}")
            else:
                check(b"limit of 524288 bytes" in body, f"413 does not name the limit: {body}")
        shutil.rmtree(workdir, ignore_errors=True)


def test_version_headers_prefix_and_recurse():
    c, n = one_node()
    with c:
        c.start()
        versions = {}
        for key, value in (("app/a", b"one"), ("app/b", b"two"), ("db/x", b"three")):
            status, body = n.request("PUT", f"/v1/kv/{key}", value)
            check(status == 200, f"put {key}: {status} {body}")
            versions[key] = body["version"]
        req = urllib.request.Request(f"http://{n.admin}/v1/kv/app/a")
        with urllib.request.urlopen(req, timeout=5) as resp:
            check(resp.headers["X-Pekonode-Version"] == versions["app/a"],
                  f"version header {resp.headers['X-Pekonode-Version']} != {versions['app/a']}")
            check(int(resp.headers["X-Pekonode-Index"]) >= 3, "index header too small")
        status, body = n.request("GET", "/v1/kv?prefix=app/")
        check(status == 200 and [k["key"] for k in body["keys"]] == ["app/a", "app/b"],
              f"prefix listing: {body}")
        status, body = n.request("GET", "/v1/kv?prefix=app/&recurse")
        check(status == 200 and body["keys"][1]["value"] == "dHdv", f"recurse: {body}")
        r = subprocess.run([PEKOCTL, f"--addr={n.admin}", "kv", "get", "--recurse", "app/"],
                           capture_output=True, timeout=20)
        check(r.stdout == b"app/a:one\napp/b:two\n", f"pekoctl kv get --recurse: {r.stdout}")
        r = subprocess.run([PEKOCTL, f"--addr={n.admin}", "kv", "del", "nothing"],
                           capture_output=True, timeout=20)
        check(r.returncode == 0, f"idempotent delete failed: {r.stderr}")


def test_health_after_leave_and_readiness():
    with Cluster(BINARY, 2) as c:
        c.start()
        check(c.wait_until(c.all_alive, 10) is not None, "no convergence")
        n1 = c.nodes[1]
        status, body = n1.request("GET", "/v1/health/ready")
        check(status == 200 and body["status"] == "joined", f"ready: {status} {body}")
        check(n1.request("POST", "/v1/leave", b"")[0] == 200, "leave failed")
        status, body = n1.request("GET", "/v1/health")
        check(status == 503 and body["status"] == "left", f"health after leave: {status} {body}")
        status, body = n1.request("GET", "/v1/health/ready")
        check(status == 503 and body["status"] == "left", f"ready after leave: {status} {body}")
        check(n1.request("POST", "/v1/rejoin", b"")[0] == 200, "rejoin failed")
        t = c.wait_until(lambda: n1.request("GET", "/v1/health")[0] == 200, 10)
        check(t is not None, "health not 200 after rejoin")


def test_joining_node_is_not_ready_until_a_seed_answers():
    c = Cluster(BINARY, 0)
    with c:
        n = c.add("lonely")
        n.seeds = ["127.0.0.1:1"]  # nothing there
        c.start()
        status, body = n.request("GET", "/v1/health/ready")
        check(status == 503 and body["status"] == "joining", f"ready: {status} {body}")
        check(n.request("GET", "/v1/health")[0] == 200, "a joining node is still healthy")


def test_sighup_does_not_kill_the_node():
    c, n = one_node()
    with c:
        c.start()
        for _ in range(3):
            n.proc.send_signal(signal.SIGHUP)
            time.sleep(0.1)
        check(n.alive(), "SIGHUP killed the node")
        check(n.request("GET", "/v1/health")[0] == 200, "unhealthy after SIGHUP")
        log = open(os.path.join(c.workdir, "a.log"), errors="replace").read()
        check("nothing to reload" in log, "SIGHUP not logged")


def test_version_and_help():
    r = subprocess.run([BINARY, "--version"], capture_output=True, timeout=20)
    out = r.stdout.decode()
    check(r.returncode == 0 and out.startswith("pekonode ") and out.strip()[-1].isdigit(),
          f"--version: {r.returncode} {out!r}")
    r = subprocess.run([BINARY, "--help"], capture_output=True, timeout=20)
    out = r.stdout.decode()
    check(r.returncode == 0, f"--help exit {r.returncode}")
    flags = [l.strip().split()[0] for l in out.splitlines() if l.startswith("    -")]
    check(flags and flags[0] == "-admin", f"first flag is not pekonode's: {flags[:3]}")
    check("-admin_token_file" in flags and "-logtostderr" not in flags,
          f"--help lists: {flags}")
    r = subprocess.run([BINARY, "--helpfull"], capture_output=True, timeout=20)
    out = r.stdout.decode()
    check(r.returncode == 0 and "-logtostderr" in out, "--helpfull lacks glog's flags")
    check(out.index("-admin_token_file") < out.index("-logtostderr"),
          "--helpfull does not list pekonode's flags first")
    r = subprocess.run([PEKOCTL, "--version"], capture_output=True, timeout=20)
    check(r.returncode == 0 and r.stdout.startswith(b"pekoctl "), f"pekoctl --version: {r}")


def test_pekoctl_join_fails_when_no_seed_answers():
    with Cluster(BINARY, 1) as c:
        c.start()
        lonely = c.add("lonely")
        lonely.seeds = []
        lonely.start()
        lonely.wait_ready()
        r = subprocess.run([PEKOCTL, f"--addr={lonely.admin}", "join", "127.0.0.1:1",
                            "--wait=2s"], capture_output=True, timeout=30)
        check(r.returncode == 1, f"join to nothing exited {r.returncode}: {r.stdout}")
        check(b"no seed answered within 2 s" in r.stderr, f"unclear: {r.stderr}")
        r = subprocess.run([PEKOCTL, f"--addr={lonely.admin}", "join", c.nodes[0].addr,
                            "--wait=10s"], capture_output=True, timeout=30)
        check(r.returncode == 0 and r.stdout.startswith(b"joined: n0"),
              f"join to n0: {r.returncode} {r.stdout} {r.stderr}")


def test_health_answers_beside_64_slow_clients():
    c, n = one_node()
    with c:
        c.start()
        port = n.admin_port
        slow = []
        for _ in range(64):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /v1/members HTTP/1.1\r\nX-Slow: ")
            slow.append(s)
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                for s in slow:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
                stop.wait(0.05)

        t = threading.Thread(target=trickle)
        t.start()
        try:
            times = []
            for _ in range(7):
                t0 = time.monotonic()
                status, _, _ = raw_http(port, b"GET /v1/health HTTP/1.1\r\n"
                                              b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
                times.append((time.monotonic() - t0) * 1000)
                check(status == 200, f"health answered {status}")
            print("real node, health beside 64 slow clients, ms: "
                  + " ".join(f"{ms:.1f}" for ms in times))
            check(max(times) < 1000, f"health starved: {times}")
        finally:
            stop.set()
            t.join()
            for s in slow:
                s.close()


def test_tls_admin_api():
    c, n = one_node(extra=[f"--admin_tls_cert={TLS_CERT}", f"--admin_tls_key={TLS_KEY}"])
    with c:
        n.start()
        ctx = ssl.create_default_context(cafile=TLS_CERT)
        deadline = time.monotonic() + 20
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"https://{n.admin}/v1/self", context=ctx,
                                            timeout=2) as resp:
                    body = json.loads(resp.read())
            except OSError:
                time.sleep(0.05)
        check(body is not None and body["name"] == "a", f"https /v1/self: {body}")
        r = subprocess.run([PEKOCTL, f"--addr=https://{n.admin}", f"--ca_file={TLS_CERT}",
                            "health"], capture_output=True, timeout=20)
        check(r.returncode == 0, f"pekoctl over https: {r.stdout} {r.stderr}")


def main():
    global BINARY, PEKOCTL, TLS_CERT, TLS_KEY
    BINARY, PEKOCTL, TLS_CERT, TLS_KEY = (os.path.abspath(a) for a in sys.argv[1:5])
    cases = [(name[len("test_"):], fn) for name, fn in sorted(globals().items())
             if name.startswith("test_") and callable(fn)]
    only = os.environ.get("PEKONODE_ONLY")
    if only:
        cases = [c for c in cases if only in c[0]]
    return junit.run("AdminRealProcess", cases)


if __name__ == "__main__":
    sys.exit(main())
