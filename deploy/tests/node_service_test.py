"""The pekonode binary as a service: --config files, SIGHUP reloads,
--log_format=json and systemd's notification protocol, on real processes
bound to 127.0.0.1 (ports picked by the kernel: port 0).

    node_service_test.py PEKONODE_BINARY
"""
import json
import os
import signal
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "chaos", "real"))
import junit  # noqa: E402
from junit import check  # noqa: E402
from procs import Node, run_exit  # noqa: E402

BINARY = None


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def test_config_file_sets_flags_and_command_line_wins():
    d = tempfile.mkdtemp()
    cfg = os.path.join(d, "c.json")
    write_json(cfg, {"name": "from-file", "bind": "127.0.0.1:0",
                     "admin": "127.0.0.1:0", "profile": "local",
                     "tags": {"role": "web", "zone": "a,b"}})
    n = Node(BINARY, [f"--config={cfg}", "--name=from-cli"], d)
    try:
        n.wait_running()
        status, me = n.get("/v1/self")
        check(status == 200, f"/v1/self: {status}")
        check(me["name"] == "from-cli", f"command line must win: {me}")
        check(me["tags"] == {"role": "web", "zone": "a,b"}, f"tags: {me}")
        check(me["addr"].startswith("127.0.0.1:"), f"addr: {me}")
    finally:
        check(n.stop() == 0, "exit code after SIGTERM")


def test_bad_config_is_one_line_and_exit_1():
    d = tempfile.mkdtemp()
    cases = {
        "unknown.json": ({"bnid": "127.0.0.1:0"}, 'unknown key "bnid"'),
        "type.json": ({"bind": 7946}, 'key "bind": expected a string'),
        "tags.json": ({"tags": {"k": [1]}}, 'tag "k"'),
    }
    for leaf, (obj, want) in cases.items():
        path = os.path.join(d, leaf)
        write_json(path, obj)
        code, out = run_exit(BINARY, [f"--config={path}"])
        lines = out.strip().splitlines()
        check(code == 1, f"{leaf}: exit {code}, want 1: {out}")
        check(len(lines) == 1 and want in lines[0] and path in lines[0],
              f"{leaf}: want one line with {want!r} and the path: {out!r}")
    code, out = run_exit(BINARY, [f"--config={d}/missing.json"])
    check(code == 1 and "No such file" in out and len(out.strip().splitlines()) == 1,
          f"missing file: {code} {out!r}")
    with open(os.path.join(d, "broken.json"), "w") as f:
        f.write('{"bind": "127.0.0.1:0",')
    code, out = run_exit(BINARY, [f"--config={d}/broken.json"])
    check(code == 1 and "invalid JSON" in out, f"broken JSON: {code} {out!r}")


def test_flagfile_also_works():
    d = tempfile.mkdtemp()
    ff = os.path.join(d, "flags")
    with open(ff, "w") as f:
        f.write("--name=ff\n--bind=127.0.0.1:0\n--admin=127.0.0.1:0\n--tags=k=v\n")
    n = Node(BINARY, [f"--flagfile={ff}"], d)
    try:
        n.wait_running()
        status, me = n.get("/v1/self")
        check(status == 200 and me["name"] == "ff" and me["tags"] == {"k": "v"},
              f"/v1/self: {status} {me}")
    finally:
        n.stop()


def test_sighup_reloads_tags_and_log_level_and_keeps_running():
    d = tempfile.mkdtemp()
    cfg = os.path.join(d, "c.json")
    base = {"name": "r", "bind": "127.0.0.1:0", "admin": "127.0.0.1:0",
            "profile": "local", "tags": {"role": "web"}}
    write_json(cfg, base)
    n = Node(BINARY, [f"--config={cfg}"], d)
    try:
        n.wait_running()
        _, me = n.get("/v1/self")
        inc0 = me["incarnation"]
        # tags and v change at run time; bind needs a restart.
        write_json(cfg, dict(base, tags={"role": "db", "v": "2"}, v=1,
                             bind="127.0.0.1:1"))
        n.send(signal.SIGHUP)
        n.wait_log(r"reload: .*1? ?applied.*need a restart")
        check(n.alive(), "SIGHUP must not kill the node")
        _, me = n.get("/v1/self")
        check(me["tags"] == {"role": "db", "v": "2"}, f"tags not reloaded: {me}")
        check(me["incarnation"] > inc0, f"new tags need a new incarnation: {me}")
        text = n.text()
        check('applied tags: "role=web" -> "role=db,v=2"' in text, text)
        check('applied v: "0" -> "1"' in text, text)
        check('bind changed "127.0.0.1:0" -> "127.0.0.1:1": needs a restart' in text, text)
        # A broken file changes nothing and the node keeps running.
        with open(cfg, "w") as f:
            f.write("{")
        n.send(signal.SIGHUP)
        n.wait_log(r"reload: .*invalid JSON.*nothing changed")
        check(n.alive(), "a broken file on SIGHUP must not kill the node")
        _, me2 = n.get("/v1/self")
        check(me2["tags"] == me["tags"], f"tags changed by a broken file: {me2}")
        # A burst of HUPs (the kernel may merge them): at least one more
        # reload, and the node still runs.
        write_json(cfg, dict(base, tags={"role": "db", "v": "2"}, v=1))
        for _ in range(3):
            n.send(signal.SIGHUP)
        n.wait_log(r"SIGHUP: reloading", count=3)
        n.wait_log(r"reload: .*: nothing changed")
        check(n.alive(), "repeated SIGHUP")
    finally:
        check(n.stop() == 0, "exit code after SIGTERM")


def test_json_log_format_is_one_object_per_line():
    d = tempfile.mkdtemp()
    n = Node(BINARY, ["--name=j", "--bind=127.0.0.1:0", "--admin=127.0.0.1:0",
                      "--log_format=json", "--tags=weird=a\\\"b"], d)
    try:
        n.wait_running()
        n.send(signal.SIGHUP)  # no --config: a WARNING line
        n.wait_log("nothing to reload")
    finally:
        check(n.stop() == 0, "exit code after SIGTERM")
    lines = [l for l in n.text().splitlines() if l.strip()]
    check(len(lines) >= 4, f"too few lines: {lines}")
    levels = set()
    for line in lines:
        rec = json.loads(line)  # raises on any non-JSON line
        check(list(rec) == ["time", "level", "caller", "thread", "message"],
              f"fields: {rec}")
        check(rec["time"].endswith("Z") and "T" in rec["time"], rec)
        check(":" in rec["caller"] and isinstance(rec["thread"], int), rec)
        levels.add(rec["level"])
    check({"INFO", "WARNING"} <= levels, f"levels seen: {levels}")
    check(any("leaving the cluster" in json.loads(l)["message"] for l in lines),
          "the leave is logged")


def test_systemd_notifications_ready_reload_watchdog_stopping():
    d = tempfile.mkdtemp()
    name = f"pekonode-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)  # abstract: no path length limit
    sock.settimeout(20)
    cfg = os.path.join(d, "c.json")
    write_json(cfg, {"name": "s", "bind": "127.0.0.1:0",
                     "admin": "127.0.0.1:0", "profile": "local"})
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="400000")
    # WATCHDOG_PID must be the node's pid: let a shell set it, then exec.
    n = Node("/bin/sh", ["-c", f'WATCHDOG_PID=$$ exec "$0" "$@"', BINARY,
                         f"--config={cfg}"], d, env=env)
    msgs = []

    def until(prefix):
        while True:
            m = sock.recv(4096).decode()
            msgs.append(m)
            if m.startswith(prefix):
                return m

    try:
        ready = until("READY=1")
        check("STATUS=running at 127.0.0.1:" in ready, ready)
        # READY means serving: the admin API answers at once.
        n.wait_running(timeout=2)
        status, _ = n.get("/v1/health")
        check(status == 200, f"/v1/health right after READY=1: {status}")
        until("WATCHDOG=1")
        n.send(signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1")
        n.send(signal.SIGTERM)
        until("STOPPING=1")
        check(n.proc.wait(timeout=15) == 0, "exit code")
    finally:
        n.stop(signal.SIGKILL)
        sock.close()
    check(sum(m == "WATCHDOG=1" for m in msgs) >= 1, f"messages: {msgs}")


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    return junit.run("NodeService", [
        ("ConfigFileSetsFlagsAndCommandLineWins",
         test_config_file_sets_flags_and_command_line_wins),
        ("BadConfigIsOneLineAndExit1", test_bad_config_is_one_line_and_exit_1),
        ("FlagfileAlsoWorks", test_flagfile_also_works),
        ("SighupReloadsTagsAndLogLevelAndKeepsRunning",
         test_sighup_reloads_tags_and_log_level_and_keeps_running),
        ("JsonLogFormatIsOneObjectPerLine",
         test_json_log_format_is_one_object_per_line),
        ("SystemdNotificationsReadyReloadWatchdogStopping",
         test_systemd_notifications_ready_reload_watchdog_stopping),
    ])


if __name__ == "__main__":
    sys.exit(main())
