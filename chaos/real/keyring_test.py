"""Run-time key rotation on keyed clusters of real `pekonode` processes,
through the admin API and pekoctl.

- Cluster-wide (10 nodes): install a new key, make it primary, remove the
  old one, each step one command to one node that reaches every node (an
  internal query), answered with how many nodes hold each key.
- One node at a time (3 nodes, `?local` / `--local`): the same three steps
  on every node in turn.

Checked in both: no node suspects or declares any other dead (metrics and
member views polled throughout), every node's keyring file is rewritten
(mode 0600) and holds what the API reports, a node whose file was the old
key alone cannot join afterwards, the API never shows key bytes; and SIGHUP
re-reads an edited keyring file.

Usage: keyring_test.py PEKONODE PEKOCTL
"""
import base64
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Node, metric_sum  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None


def keygen():
    r = subprocess.run([PEKOCTL, "keygen"], capture_output=True, timeout=20)
    check(r.returncode == 0, f"pekoctl keygen: {r.returncode} {r.stderr}")
    return r.stdout.decode().strip()


def pekoctl(node, *args):
    r = subprocess.run([PEKOCTL, f"--addr={node.admin}"] + list(args),
                       capture_output=True, timeout=20)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def membership_counter(node, name):
    total = metric_sum(node, f"pekonode_membership_{name}_total")
    check(total is not None, f"/metrics of {node.name}")
    return int(total)


def alarm_counters(c):
    """Every node's suspicions, deaths and refutations so far."""
    return {(n.name, k): membership_counter(n, k) for n in c.nodes
            for k in ("suspects_raised", "deaths_declared", "refutations")}


def keyring(node):
    s, body = node.request("GET", "/v1/keyring?local")
    check(s == 200, f"GET /v1/keyring on {node.name}: {s} {body}")
    return body


def file_keys(path):
    lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    return lines


class Watcher:
    """Polls every node's member view; records any member not alive."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.bad = []
        self.stop_flag = False
        self.polls = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        names = {n.name for n in self.cluster.nodes}
        while not self.stop_flag:
            for n in self.cluster.nodes:
                view = n.members()
                if view is None:
                    continue
                for name in names:
                    m = view.get(name)
                    if m is None or m["state"] != "alive":
                        self.bad.append((n.name, name, m and m["state"]))
            self.polls += 1
            time.sleep(0.05)

    def stop(self):
        self.stop_flag = True
        self.thread.join()
        return self.bad


def keyed_cluster(n, key):
    """A cluster of n nodes whose keyring files hold `key`; the files."""
    c = Cluster(BINARY, n)
    files = {}
    for node in c.nodes:
        files[node.name] = write_keyring(c, f"keyring-{node.name}", key)
        node.extra.append(f"--keyring_file={files[node.name]}")
    return c, files


def write_keyring(c, name, key):
    path = os.path.join(c.workdir, name)
    with open(path, "w") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)
    return path


def check_kept_out(c, key):
    """A node holding only `key` cannot join the cluster."""
    path = write_keyring(c, "keyring-stale", key)
    stale = Node(BINARY, "stale", c.workdir, seeds=[c.nodes[0].addr],
                 extra=[f"--keyring_file={path}"])
    c.nodes.append(stale)
    stale.start()
    stale.wait_ready()
    time.sleep(2.0)
    check("stale" not in (c.nodes[0].members() or {}),
          "a node with the removed key joined")
    stale.kill()
    c.nodes.remove(stale)


def test_rotation_one_node_at_a_time_without_suspicion():
    old = keygen()
    new = keygen()
    c, files = keyed_cluster(3, old)
    with c:
        c.start()
        check(c.wait_until(c.all_alive, 30) is not None, "cluster did not form")
        time.sleep(1.0)
        before = alarm_counters(c)
        old_fp = keyring(c.nodes[0])["primary"]
        check(len(old_fp) == 16, f"fingerprint {old_fp!r}")
        watcher = Watcher(c)
        t0 = time.monotonic()
        # 1. Install the new key everywhere (n0 through pekoctl).
        for i, n in enumerate(c.nodes):
            if i == 0:
                rc, out, err = pekoctl(n, "keyring", "install", new, "--local")
                check(rc == 0, f"pekoctl keyring install: {rc} {err}")
                check(new not in out, "pekoctl printed the key")
            else:
                s, body = n.request("POST", "/v1/keyring?local", {"install": new})
                check(s == 200 and body["changed"] and body["persisted"],
                      f"install on {n.name}: {s} {body}")
                check(new not in json.dumps(body), "the API echoed the key")
            time.sleep(0.3)
        new_fp = [k["fingerprint"] for k in keyring(c.nodes[1])["keys"]
                  if not k["primary"]]
        check(len(new_fp) == 1, f"keys after install: {keyring(c.nodes[1])}")
        new_fp = new_fp[0]
        # 2. Make it primary everywhere, by fingerprint (n1 through pekoctl).
        for i, n in enumerate(c.nodes):
            if i == 1:
                rc, out, err = pekoctl(n, "keyring", "use", new_fp, "--local")
                check(rc == 0 and f"{new_fp}  primary" in out,
                      f"pekoctl keyring use: {rc} {out} {err}")
            else:
                s, body = n.request("POST", "/v1/keyring?local", {"use": new_fp})
                check(s == 200 and body["primary"] == new_fp,
                      f"use on {n.name}: {s} {body}")
            time.sleep(0.3)
        # 3. Remove the old key everywhere (n2 through pekoctl).
        for i, n in enumerate(c.nodes):
            if i == 2:
                rc, out, err = pekoctl(n, "keyring", "remove", old_fp, "--local")
                check(rc == 0, f"pekoctl keyring remove: {rc} {out} {err}")
            else:
                s, body = n.request("DELETE", "/v1/keyring?local", {"key": old})
                check(s == 200 and [k["fingerprint"] for k in body["keys"]]
                      == [new_fp], f"remove on {n.name}: {s} {body}")
            time.sleep(0.3)
        took = time.monotonic() - t0
        time.sleep(2.0)  # a node cut off by the change would be suspected by now
        bad = watcher.stop()
        print(f"rotation of 3 nodes (9 calls): {took:.2f} s, {watcher.polls} "
              f"view polls, {len(bad)} non-alive observations")
        check(not bad, f"members not alive during the rotation: {bad[:10]}")
        after = alarm_counters(c)
        delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        check(not delta, f"suspicions, deaths or refutations: {delta}")
        # Files rewritten, owner-only, holding the new key alone.
        for n in c.nodes:
            mode = stat.S_IMODE(os.stat(files[n.name]).st_mode)
            check(mode == 0o600, f"{files[n.name]} mode {oct(mode)}")
            check(file_keys(files[n.name]) == [new],
                  f"{n.name}'s keyring file: {file_keys(files[n.name])}")
        # Errors are clear: the primary cannot go, unknown keys are 404.
        s, body = c.nodes[0].request("DELETE", "/v1/keyring?local", {"key": new_fp})
        check(s == 400 and "primary" in body["error"], f"remove primary: {s} {body}")
        s, body = c.nodes[0].request("POST", "/v1/keyring?local", {"use": old_fp})
        check(s == 404, f"use of a removed key: {s} {body}")
        rc, out, err = pekoctl(c.nodes[0], "keyring", "install", "password", "--local")
        check(rc == 1 and "password" not in err, f"weak key via pekoctl: {rc} {err}")
        check_kept_out(c, old)
        # SIGHUP re-reads an edited file: add a third key by hand on n0.
        third = keygen()
        n0 = c.nodes[0]
        with open(files["n0"], "a") as f:
            f.write(third + "\n")
        n0.proc.send_signal(signal.SIGHUP)
        check(c.wait_until(lambda: len(keyring(n0)["keys"]) == 2, 10) is not None,
              f"SIGHUP did not reload the keyring: {keyring(n0)}")
        check(keyring(n0)["primary"] == new_fp, "the primary changed on reload")
        # A broken file keeps the keys.
        with open(files["n0"], "w") as f:
            f.write("not a key\n")
        n0.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        check(len(keyring(n0)["keys"]) == 2, f"broken file applied: {keyring(n0)}")
        check(n0.alive(), "n0 exited on a broken keyring file")
        check(c.all_alive(), "members not alive at the end")


def test_cluster_wide_rotation_without_suspicion():
    nodes = 10
    old = keygen()
    new = keygen()
    c, files = keyed_cluster(nodes, old)
    with c:
        c.start()
        check(c.wait_until(c.all_alive, 60) is not None, "cluster did not form")
        time.sleep(1.0)
        before = alarm_counters(c)
        s, body = c.nodes[3].request("GET", "/v1/keyring")
        check(s == 200 and body["nodes"] == nodes and body["responded"] == nodes
              and len(body["keys"]) == 1 and body["keys"][0]["nodes"] == nodes,
              f"cluster list: {s} {body}")
        old_fp = body["primary"]
        watcher = Watcher(c)
        steps = []
        t0 = time.monotonic()
        # 1. install through pekoctl on n0 (the key from stdin).
        t = time.monotonic()
        r = subprocess.run([PEKOCTL, f"--addr={c.nodes[0].admin}", "keyring",
                            "install", "-"], input=(new + "\n").encode(),
                           capture_output=True, timeout=30)
        steps.append(("install", time.monotonic() - t))
        out = r.stdout.decode()
        check(r.returncode == 0, f"pekoctl keyring install: {r.returncode} "
              f"{out} {r.stderr}")
        check(new not in out and f"{nodes} of {nodes} nodes answered" in out
              and f"{nodes} changed" in out, f"install output: {out}")
        s, body = c.nodes[5].request("GET", "/v1/keyring")
        check(s == 200 and len(body["keys"]) == 2
              and all(k["nodes"] == nodes for k in body["keys"]),
              f"after install: {s} {body}")
        new_fp = [k["fingerprint"] for k in body["keys"]
                  if k["fingerprint"] != old_fp][0]
        # 2. use, through the API of n4, by fingerprint.
        t = time.monotonic()
        s, body = c.nodes[4].request("POST", "/v1/keyring", {"use": new_fp})
        steps.append(("use", time.monotonic() - t))
        check(s == 200 and body["primary"] == new_fp and body["changed"] == nodes
              and body["persisted"] == nodes, f"use: {s} {body}")
        check(new not in json.dumps(body), "the API echoed the key")
        # 3. remove, through pekoctl on n9.
        t = time.monotonic()
        rc, out, err = pekoctl(c.nodes[9], "keyring", "remove", old_fp)
        steps.append(("remove", time.monotonic() - t))
        check(rc == 0 and f"{nodes} of {nodes} nodes answered" in out,
              f"pekoctl keyring remove: {rc} {out} {err}")
        took = time.monotonic() - t0
        time.sleep(2.0)  # a node cut off by the change would be suspected by now
        bad = watcher.stop()
        after = alarm_counters(c)
        delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        print(f"cluster-wide rotation of {nodes} nodes (3 commands): "
              f"{took:.2f} s (" + ", ".join(f"{k} {v:.3f} s" for k, v in steps)
              + f"), {watcher.polls} view polls, {len(bad)} non-alive "
              f"observations, suspicions/deaths/refutations: {sum(delta.values())}")
        check(not bad, f"members not alive during the rotation: {bad[:10]}")
        check(not delta, f"suspicions, deaths or refutations: {delta}")
        for n in c.nodes:
            check(file_keys(files[n.name]) == [new],
                  f"{n.name}'s keyring file: {file_keys(files[n.name])}")
            mode = stat.S_IMODE(os.stat(files[n.name]).st_mode)
            check(mode == 0o600, f"{files[n.name]} mode {oct(mode)}")
        # A step every node refuses: 500, each node's reason, pekoctl exits 1.
        s, body = c.nodes[1].request("DELETE", "/v1/keyring", {"key": new_fp})
        check(s == 500 and len(body["errors"]) == nodes
              and all("primary" in e for e in body["errors"].values()),
              f"cluster remove of the primary: {s} {body}")
        rc, out, err = pekoctl(c.nodes[2], "keyring", "use", old_fp)
        check(rc == 1 and "failed on n0" in out and "did not take" in err,
              f"pekoctl use of a removed key: {rc} {out} {err}")
        # Reserved names cannot be sent as user events or queries.
        s, body = c.nodes[0].request("POST", "/v1/query/_pekonode-keyring",
                                     b"install\n" + new.encode())
        check(s == 400 and "reserved" in body["error"], f"reserved: {s} {body}")
        check_kept_out(c, old)


def test_plaintext_node_has_no_keyring():
    c = Cluster(BINARY, 1)
    with c:
        c.start()
        s, body = c.nodes[0].request("GET", "/v1/keyring?local")
        check(s == 400 and "plaintext" in body["error"], f"{s} {body}")
        s, body = c.nodes[0].request("GET", "/v1/keyring")
        check(s == 500 and "plaintext" in body["errors"].get("n0", ""),
              f"cluster-wide: {s} {body}")
        rc, out, err = pekoctl(c.nodes[0], "keyring", "list")
        check(rc == 1 and "plaintext" in out, f"pekoctl: {rc} {out} {err}")


def main():
    global BINARY, PEKOCTL
    BINARY = os.path.abspath(sys.argv[1])
    PEKOCTL = os.path.abspath(sys.argv[2])
    return junit.run("Keyring", [
        ("ClusterWideRotationWithoutSuspicion",
         test_cluster_wide_rotation_without_suspicion),
        ("RotationOneNodeAtATimeWithoutSuspicion",
         test_rotation_one_node_at_a_time_without_suspicion),
        ("PlaintextNodeHasNoKeyring", test_plaintext_node_has_no_keyring),
    ])


if __name__ == "__main__":
    sys.exit(main())
