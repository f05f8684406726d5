"""The event stream and event handlers with real `pekonode` processes on
127.0.0.1: `pekoctl monitor` sees a join, a kill -9 turning into a death and
a key written on another node; a handler script writes a file per event with
its environment and stdin; a hanging handler does not stop the node from
serving; a resume from an index the ring dropped starts with a reset; SIGHUP
reloads the handlers from --config.

Usage: events_test.py PEKONODE PEKOCTL
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Monitor:
    """`pekoctl monitor` in the background; its stdout lines collected."""

    def __init__(self, node, *args):
        self.proc = subprocess.Popen(
            [PEKOCTL, f"--addr={node.admin}", "monitor", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def events(self):
        with self.lock:
            return [json.loads(x) for x in self.lines]

    def has(self, type_, subject):
        return any(e.get("type") == type_ and e.get("subject") == subject
                   for e in self.events())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


HANDLER = r"""#!/bin/sh
# One file per event: its environment and what came on stdin.
f="$EVENT_DIR/$PEKONODE_EVENT_INDEX.$PEKONODE_EVENT"
env | grep '^PEKONODE_' | sort > "$f.env"
cat > "$f.stdin"
"""


def test_monitor_and_handlers_on_three_nodes():
    work = tempfile.mkdtemp(prefix="pekonode-events-")
    events_dir = os.path.join(work, "events")
    os.mkdir(events_dir)
    script = os.path.join(work, "handler.sh")
    with open(script, "w") as f:
        f.write(HANDLER)
    os.chmod(script, 0o755)
    os.environ["EVENT_DIR"] = events_dir
    c = Cluster(BINARY, 0)
    try:
        n0 = c.add("n0")
        n0.extra = [f"--event_handler={script}",
                    # Hangs on every death: the node must keep serving.
                    "--event_handler=member-dead=echo $$ > "
                    f"{work}/hang.pid; exec sleep 600",
                    "--event_handler_timeout=120s"]
        n0.start()
        n0.wait_ready()
        mon = Monitor(n0, "--json", "--index=0")
        wait_for(lambda: mon.has("member-join", "n0"), 20, "n0's own join")
        n1 = c.add("n1")
        n2 = c.add("n2")
        for n in (n1, n2):
            n.start()
        for n in (n1, n2):
            n.wait_ready()
        wait_for(lambda: mon.has("member-join", "n1")
                 and mon.has("member-join", "n2"), 30, "joins of n1 and n2")
        # A key written on n1 reaches n0's stream with its fields.
        status, _ = n1.request("PUT", "/v1/kv/app/config", b"0123456789")
        check(status == 200, f"put on n1: {status}")
        wait_for(lambda: mon.has("key-put", "app/config"), 30,
                 "key-put of app/config on n0")
        put = [e for e in mon.events() if e["type"] == "key-put"][0]
        check(put["origin"] == "n1" and put["size"] == 10
              and put["local"] is False, f"key-put fields: {put}")
        # kill -9: n0 sees n2 suspect, then dead.
        n2.kill(signal.SIGKILL)
        wait_for(lambda: mon.has("member-dead", "n2"), 60, "n2 dead on n0")
        types = [e["type"] for e in mon.events() if e.get("subject") == "n2"]
        check(types.index("member-join") < types.index("member-dead"),
              f"n2's events out of order: {types}")
        idx = [e["index"] for e in mon.events()]
        check(idx == sorted(idx) and len(set(idx)) == len(idx),
              f"indexes not increasing: {idx}")
        # The hanging member-dead handler runs; the node keeps serving.
        def running():
            _, text = n0.request("GET", "/metrics", raw=True)
            for line in text.decode().splitlines():
                if line.startswith("pekonode_event_handler_running "):
                    return float(line.split()[1]) >= 1
            return False
        wait_for(running, 30, "the hanging handler to run")
        t0 = time.monotonic()
        status, _ = n0.request("PUT", "/v1/kv/after-death", b"x", timeout=5)
        check(status == 200, f"put during a hanging handler: {status}")
        status, _ = n0.request("GET", "/v1/health", timeout=5)
        check(status == 200, f"health during a hanging handler: {status}")
        check(time.monotonic() - t0 < 5, "node slow during a hanging handler")
        wait_for(lambda: mon.has("key-put", "after-death"), 30,
                 "key-put after the death")
        # The handler script wrote one file per event.
        def files_for(type_, subject):
            for e in mon.events():
                if e["type"] == type_ and e["subject"] == subject:
                    base = os.path.join(events_dir, f"{e['index']}.{type_}")
                    if os.path.exists(base + ".env") and os.path.exists(
                            base + ".stdin"):
                        return base
            return None
        wait_for(lambda: files_for("member-dead", "n2") and files_for(
            "key-put", "app/config") and files_for("member-join", "n1"), 30,
            "handler files")
        base = files_for("member-join", "n1")
        env = open(base + ".env").read()
        check("PEKONODE_EVENT=member-join" in env
              and "PEKONODE_NODE_NAME=n1" in env
              and "PEKONODE_SELF_NAME=n0" in env
              and f"PEKONODE_NODE_ADDR={n1.addr}" in env, env)
        base = files_for("key-put", "app/config")
        env = open(base + ".env").read()
        check("PEKONODE_KEY=app/config" in env and "PEKONODE_KEY_SIZE=10" in env
              and "PEKONODE_KEY_ORIGIN=n1" in env, env)
        payload = json.loads(open(base + ".stdin").read())
        check(payload["subject"] == "app/config" and payload["size"] == 10,
              f"stdin: {payload}")
        env = open(files_for("member-dead", "n2") + ".env").read()
        check("PEKONODE_NODE_STATE=dead" in env, env)
        # The text form, filtered: one line per member event of n1.
        text = subprocess.Popen(
            [PEKOCTL, f"--addr={n0.admin}", "monitor", "--type=member",
             "--prefix=n1", "--index=0"], stdout=subprocess.PIPE, text=True)
        line = text.stdout.readline()
        text.send_signal(signal.SIGTERM)
        text.wait(timeout=10)
        check("  member-join  n1  " in line and "state=alive" in line,
              f"monitor text line: {line!r}")
        mon.stop()
        # A graceful stop kills the handler still running.
        pid = int(open(f"{work}/hang.pid").read())
        os.kill(pid, 0)
        n0.kill(signal.SIGTERM)

        def gone():
            try:
                os.kill(pid, 0)
                return False
            except ProcessLookupError:
                return True
        wait_for(gone, 20, "the hanging handler to be killed at stop")
    finally:
        c.stop()
        try:
            os.kill(int(open(f"{work}/hang.pid").read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_resume_from_an_index_the_ring_dropped_starts_with_reset():
    c = Cluster(BINARY, 0, extra=["--event_log_size=16"])
    try:
        n = c.add("solo")
        n.start()
        n.wait_ready()
        for i in range(40):
            status, _ = n.request("PUT", f"/v1/kv/k{i}", b"v")
            check(status == 200, f"put {i}: {status}")
        req = urllib.request.Request(
            f"http://{n.admin}/v1/events?index=1&type=key")
        with urllib.request.urlopen(req, timeout=10) as resp:
            check(resp.headers["Content-Type"] == "application/x-ndjson",
                  resp.headers["Content-Type"])
            first = json.loads(resp.readline())
            check(first["type"] == "reset", f"first line: {first}")
            check(first["index"] == 1 and first["oldest"] > 1, str(first))
            nxt = json.loads(resp.readline())
            check(nxt["type"] == "key-put" and nxt["index"] >= first["oldest"],
                  str(nxt))
        # Bad parameters are a 400 naming the rule.
        status, body = n.request("GET", "/v1/events?type=nonsense")
        check(status == 400 and "unknown event type" in body["error"],
              f"{status} {body}")
    finally:
        c.stop()


def test_sighup_reloads_event_handlers():
    work = tempfile.mkdtemp(prefix="pekonode-events-hup-")
    cfg = os.path.join(work, "node.json")

    def write(marker):
        with open(cfg, "w") as f:
            json.dump({"event_handler": [
                f"key-put=touch {work}/{marker}.$PEKONODE_KEY"]}, f)
    write("first")
    c = Cluster(BINARY, 0, extra=[f"--config={cfg}"])
    try:
        n = c.add("hup")
        n.start()
        n.wait_ready()
        n.request("PUT", "/v1/kv/a", b"1")
        wait_for(lambda: os.path.exists(f"{work}/first.a"), 20,
                 "first handler")
        write("second")
        n.proc.send_signal(signal.SIGHUP)
        log = os.path.join(c.workdir, "hup.log")
        wait_for(lambda: "reload: applied event_handler" in open(log).read(),
                 20, "reload log line")
        n.request("PUT", "/v1/kv/b", b"1")
        wait_for(lambda: os.path.exists(f"{work}/second.b"), 20,
                 "second handler")
        check(not os.path.exists(f"{work}/first.b"),
              "the old handler ran after the reload")
        check(n.alive(), "SIGHUP ended the node")
    finally:
        c.stop()


def main():
    global BINARY, PEKOCTL
    BINARY, PEKOCTL = (os.path.abspath(a) for a in sys.argv[1:3])
    cases = [(name[len("test_"):], fn) for name, fn in sorted(globals().items())
             if name.startswith("test_") and callable(fn)]
    only = os.environ.get("PEKONODE_ONLY")
    if only:
        cases = [c for c in cases if only in c[0]]
    return junit.run("EventsRealProcess", cases)


if __name__ == "__main__":
    sys.exit(main())
