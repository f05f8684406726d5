"""The gossip port's keys against real `pekonode` processes: a non-loopback
--bind without --keyring_file refuses to start (one line naming
--insecure_plaintext and pekoctl keygen, exit 1); --insecure_plaintext
starts it with a warning (inside a private network namespace, so the
wildcard bind reaches no real network); keyring files made by
`pekoctl keygen` warn about a mode others can read and let two nodes on
127.0.0.1 form a cluster; a weak or malformed key is refused naming its line.

Usage: gossip_key_test.py PEKONODE PEKOCTL
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Node  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None

# base64 of "password" x4: 32 bytes, but only 7 distinct values.
WEAK_KEY = "cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ="


def stderr_lines(r):
    return [l for l in r.stderr.decode(errors="replace").splitlines() if l.strip()]


def keygen():
    r = subprocess.run([PEKOCTL, "keygen"], capture_output=True, timeout=20)
    check(r.returncode == 0, f"pekoctl keygen: {r.returncode} {r.stderr}")
    return r.stdout.decode()


def write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_non_loopback_bind_without_keyring_refuses_to_start():
    workdir = tempfile.mkdtemp(prefix="pekonode-key-")
    config = os.path.join(workdir, "config.json")
    write(config, '{"bind": "0.0.0.0:0"}', 0o600)
    # Refused before anything is bound, so these touch no network.
    for args in (["--bind=0.0.0.0:0"], ["--bind=[::]:0"],
                 ["--bind=192.0.2.1:0", "--admin=127.0.0.1:0"],
                 [f"--config={config}"], []):  # [] = the default 0.0.0.0:7946
        r = subprocess.run([BINARY, "--name=x"] + args, capture_output=True,
                           timeout=20)
        lines = stderr_lines(r)
        check(r.returncode == 1, f"{args}: exit {r.returncode}, {lines}")
        check(len(lines) == 1, f"{args}: not one line: {lines}")
        check("--insecure_plaintext" in lines[0] and "pekoctl keygen" in lines[0]
              and "--keyring_file" in lines[0],
              f"{args}: line does not name the way out: {lines[0]}")
    shutil.rmtree(workdir, ignore_errors=True)


def private_netns_prefix():
    """A command prefix running a program in a new network namespace (only
    a down loopback inside), or None when this machine does not allow it."""
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        try:
            if subprocess.run(prefix + ["true"], capture_output=True,
                              timeout=20).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def test_insecure_plaintext_runs_with_a_warning():
    prefix = private_netns_prefix()
    if prefix is None:
        print("skipped: cannot create a network namespace here (needs "
              "unshare and root or user namespaces)")
        return
    workdir = tempfile.mkdtemp(prefix="pekonode-key-")
    log_path = os.path.join(workdir, "x.log")
    with open(log_path, "wb") as log:
        # unshare execs the node itself: the signal below reaches it.
        p = subprocess.Popen(prefix + [BINARY, "--name=x", "--bind=0.0.0.0:0",
                                       "--insecure_plaintext", "--logtostderr"],
                             stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline and p.poll() is None:
            text = open(log_path, errors="replace").read()
            if "running at" in text:
                break
            time.sleep(0.05)
        check(p.poll() is None, f"exited {p.returncode}: {text}")
        check("running at" in text, f"not running after 30 s: {text}")
        warnings = [l for l in text.splitlines()
                    if "--insecure_plaintext" in l and "plaintext" in l]
        check(len(warnings) == 1 and warnings[0].startswith("W"),
              f"no plaintext warning: {text}")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=30) == 0, f"exit code {p.returncode} after SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(workdir, ignore_errors=True)


def test_keygen_keyrings_warn_on_mode_and_form_a_cluster():
    key = keygen()
    check(len(key) == 45 and key.endswith("=\n"), f"keygen output {key!r}")
    check(keygen() != key, "two keygen runs gave the same key")
    c = Cluster(BINARY, 0)
    with c:
        loose = os.path.join(c.workdir, "keyring-0644")
        tight = os.path.join(c.workdir, "keyring-0600")
        write(loose, "# made by pekoctl keygen\n" + key, 0o644)
        write(tight, key, 0o600)
        a = Node(BINARY, "a", c.workdir, extra=[f"--keyring_file={loose}"])
        b = Node(BINARY, "b", c.workdir, seeds=[a.addr],
                 extra=[f"--keyring_file={tight}"])
        c.nodes += [a, b]
        c.start()
        took = c.wait_until(c.all_alive, 30)
        check(took is not None, f"a and b never saw each other alive: "
                                f"{a.members()} {b.members()}")
        alog = open(os.path.join(c.workdir, "a.log"), errors="replace").read()
        blog = open(os.path.join(c.workdir, "b.log"), errors="replace").read()
        check("--keyring_file" in alog and "(mode 0644)" in alog
              and loose in alog, f"no mode warning for the 0644 file: {alog[-2000:]}")
        check("(mode 0" not in blog and "chmod 600" not in blog,
              f"warning for the 0600 file: {blog[-2000:]}")
        check("plaintext" not in alog + blog, "a keyed node warned about plaintext")
        # Encrypted: a plaintext node's join attempts are dropped, and it
        # never becomes a member.
        stranger = Node(BINARY, "stranger", c.workdir, seeds=[a.addr])
        c.nodes.append(stranger)
        stranger.start()
        stranger.wait_ready()

        def mismatches():
            s, body = a.request("GET", "/metrics", raw=True)
            for line in body.decode().splitlines():
                if line.startswith("pekonode_transport_dropped_datagrams_total"
                                   '{reason="encryption_mismatch"}'):
                    return int(float(line.split()[-1]))
            return 0

        check(c.wait_until(lambda: mismatches() >= 2, 30) is not None,
              "a did not drop the plaintext node's datagrams")
        check("stranger" not in (a.members() or {}),
              f"a node without the key joined: {a.members()}")
        check("a" not in (stranger.members() or {}),
              f"the plaintext node sees a: {stranger.members()}")


def test_weak_or_malformed_key_refused_naming_the_line():
    workdir = tempfile.mkdtemp(prefix="pekonode-key-")
    good = keygen()
    cases = [
        ("# primary\n" + WEAK_KEY + "\n", "line 2: weak key"),
        (good + "\n# old\n" + "password" * 4 + "\n", "line 4: 32 characters"),
        (good.strip() + "0\n", "line 1: 45 characters"),
    ]
    for i, (text, want) in enumerate(cases):
        path = os.path.join(workdir, f"keyring-{i}")
        write(path, text, 0o600)
        r = subprocess.run([BINARY, "--name=x", "--bind=127.0.0.1:0",
                            f"--keyring_file={path}"], capture_output=True,
                           timeout=20)
        lines = stderr_lines(r)
        check(r.returncode == 1, f"case {i}: exit {r.returncode} {lines}")
        check(len(lines) == 1, f"case {i}: not one line: {lines}")
        check(path in lines[0] and want in lines[0] and "pekoctl keygen" in lines[0],
              f"case {i}: want {want!r} and the path: {lines[0]}")
        check("password" not in lines[0], f"case {i}: the key is echoed: {lines[0]}")
    shutil.rmtree(workdir, ignore_errors=True)


def main():
    global BINARY, PEKOCTL
    BINARY = os.path.abspath(sys.argv[1])
    PEKOCTL = os.path.abspath(sys.argv[2])
    return junit.run("GossipKeys", [
        ("NonLoopbackBindWithoutKeyringRefusesToStart",
         test_non_loopback_bind_without_keyring_refuses_to_start),
        ("InsecurePlaintextRunsWithAWarning",
         test_insecure_plaintext_runs_with_a_warning),
        ("KeygenKeyringsWarnOnModeAndFormACluster",
         test_keygen_keyrings_warn_on_mode_and_form_a_cluster),
        ("WeakOrMalformedKeyRefusedNamingTheLine",
         test_weak_or_malformed_key_refused_naming_the_line),
    ])


if __name__ == "__main__":
    sys.exit(main())
