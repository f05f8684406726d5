"""Starting a `pekonode` binary for the deploy tests and talking to it.
Standard library only; every wait is bounded."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

def clean_env(env=None):
    """The environment a node gets in production: without the test runner's
    TEST_TMPDIR / GOOGLE_LOG_DIR, from which glog would take a --log_dir."""
    env = dict(os.environ if env is None else env)
    for k in ("TEST_TMPDIR", "GOOGLE_LOG_DIR"):
        env.pop(k, None)
    return env


RUNNING = re.compile(r"running at (\S+?)(?: admin on (\S+?))?(?:\"|$|\s)", re.M)


class Node:
    """One pekonode process; stderr goes to a file in `workdir`."""

    def __init__(self, binary, args, workdir=None, env=None, name="node"):
        self.workdir = workdir or tempfile.mkdtemp(prefix="pekonode-deploy-")
        self.log = os.path.join(self.workdir, f"{name}.log")
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen([binary] + list(args), stdout=f,
                                         stderr=subprocess.STDOUT,
                                         env=clean_env(env))
        self.gossip = None
        self.admin = None

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_running(self, timeout=20.0):
        """Waits for the 'running at' line; returns (gossip, admin)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = RUNNING.search(self.text())
            if m:
                self.gossip, self.admin = m.group(1), m.group(2)
                return self.gossip, self.admin
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.02)
        raise AssertionError(f"not running after {timeout}s:\n{self.text()}")

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Waits until `pattern` (a regex) matched `count` times in the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.text(), re.M)) >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} (x{count}) in the log:\n{self.text()}")

    def get(self, path, timeout=3.0):
        """(status, parsed JSON or bytes) of GET http://admin/path."""
        try:
            with urllib.request.urlopen(f"http://{self.admin}{path}",
                                        timeout=timeout) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def send(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends `sig`, waits for the exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"did not exit {timeout}s after signal {sig}")
        return self.proc.returncode


def run_exit(binary, args, timeout=20.0):
    """Runs the binary to its exit; returns (code, combined output)."""
    r = subprocess.run([binary] + list(args), capture_output=True,
                       timeout=timeout, env=clean_env())
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def helpxml_flags(binary):
    """{flag name: {"type", "default", "file"}} from `--helpxml`."""
    import xml.etree.ElementTree as ET
    out = subprocess.run([binary, "--helpxml"], capture_output=True,
                         timeout=30, env=clean_env()).stdout
    flags = {}
    for el in ET.fromstring(out).iter("flag"):
        flags[el.findtext("name")] = {k: el.findtext(k) or ""
                                      for k in ("type", "default", "file")}
    return flags
