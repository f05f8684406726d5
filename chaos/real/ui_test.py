"""The live cluster view (/ui/) in a real browser: headless Chromium from
Debian, driven over the DevTools protocol on a pipe, loads the page of a
running 5-node cluster, sees every member alive and a key written through
the API, then watches a node die after a kill -9, all on the same page
without a reload. No script error, no Content-Security-Policy violation.
A node whose reads need the token shows a token form; the token entered
there makes the members appear. The screenshot of the page after the death
lands in the test's outputs; with $PEKONODE_UI_SCREENSHOT set, the page
first gathers $PEKONODE_UI_HISTORY_SECONDS (120) of history and writes, and
the screenshot is copied there (docs/img/ui.png is made that way).

Usage: ui_test.py PEKONODE
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None


class Browser:
    """Headless Chromium and one page, over --remote-debugging-pipe (the
    protocol's JSON messages, each ended by a NUL byte, on fds 3 and 4)."""

    def __init__(self, width=1280, height=1100):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise RuntimeError("chromium not installed (tools/setup.sh installs it)")
        self.profile = tempfile.mkdtemp(prefix="pekonode-ui-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds():
            # Through fresh descriptors first: a pipe end may itself be 3 or 4.
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-sync",
             f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=self.log, stderr=self.log, pass_fds=(3, 4),
            preexec_fn=fds)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget",
                                 targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable", session=True)

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, session=False, timeout=30.0, **params):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def navigate(self, url):
        self.call("Page.navigate", session=True, url=url)

    def eval(self, expression):
        r = self.call("Runtime.evaluate", session=True, expression=expression,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.eval(expression)
            except RuntimeError as e:  # the page is still loading
                last = str(e)[:200]
                time.sleep(0.1)
                continue
            if last:
                return last
            time.sleep(0.1)
        raise AssertionError(f"page never showed {what} in {timeout}s (last: {last!r})")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png",
                         captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def problems(self):
        """Script exceptions, console errors and CSP violations seen so far."""
        out = []
        for ev in self.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"])[:300])
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                text = p["entry"].get("text", "")
                # A dead node's poll failing is not a page problem; the page
                # under test only talks to the live node that served it.
                out.append("log: " + text[:300])
            elif m == "Runtime.consoleAPICalled" and p["type"] == "error":
                out.append("console: " + json.dumps(p["args"])[:300])
        return out

    def close(self):
        try:
            self.call("Browser.close", timeout=5.0)
        except Exception:  # noqa: BLE001 - killed below either way
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def member_states(browser):
    return browser.eval(
        "Object.fromEntries([...document.querySelectorAll('#members tbody tr')]"
        ".map(tr => [tr.dataset.member, tr.dataset.state]))")


def ring_states(browser):
    return browser.eval(
        "Object.fromEntries([...document.querySelectorAll('#ring circle.node')]"
        ".map(c => [c.dataset.member, c.dataset.state]))")


def outputs_dir():
    return os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or tempfile.mkdtemp()


def test_page_follows_a_live_cluster_and_shows_a_death():
    with Cluster(BINARY, 5) as c:
        c.start()
        check(c.wait_until(c.all_alive, 30) is not None, "cluster never converged")
        n0 = c.nodes[0]
        status, _ = n0.request("PUT", "/v1/kv/config/feature-x", body=b"on")
        check(status == 200, f"PUT answered {status}")
        b = Browser()
        try:
            b.navigate(f"http://{n0.admin}/ui/")
            names = {n.name for n in c.nodes}
            b.wait_for(
                "document.querySelectorAll('#members tbody tr[data-state=alive]').length == 5",
                20, "five alive members in the table")
            check(set(member_states(b)) == names, f"table rows: {member_states(b)}")
            check(ring_states(b) == {k: "alive" for k in names},
                  f"ring: {ring_states(b)}")
            check(b.eval("document.getElementById('self-name').textContent") == "n0",
                  "the header does not name the node that served the page")
            b.wait_for("!!document.querySelector('#key-list tr[data-key=\"config/feature-x\"]')",
                       15, "the key written before the page loaded")
            # A write after the page loaded arrives through the watch.
            status, _ = n0.request("PUT", "/v1/kv/config/feature-y", body=b"off")
            check(status == 200, f"PUT answered {status}")
            b.wait_for("!!document.querySelector('#key-list tr[data-key=\"config/feature-y\"]')",
                       15, "a key written while the page was open")
            b.eval("document.querySelector('#key-list tr[data-key=\"config/feature-y\"]').click()")
            b.wait_for("document.getElementById('value').textContent == 'off'", 10,
                       "the selected key's value")
            # Timelines have points once two metrics samples were taken.
            b.wait_for("!!document.querySelector('#chart-datagrams path[data-series=dgIn]')",
                       15, "a datagrams/s timeline")
            check(b.eval("document.querySelector('#chart-members path[data-series=alive]')"
                         ".dataset.last") == "5", "members timeline does not end at 5 alive")

            if os.environ.get("PEKONODE_UI_SCREENSHOT"):
                # For the docs: some minutes of history and writes first.
                for i in range(int(os.environ.get("PEKONODE_UI_HISTORY_SECONDS", "120"))):
                    if i % 3 == 0:
                        c.nodes[i % 5].request("PUT", f"/v1/kv/demo/k{i % 17}",
                                               body=str(i).encode())
                    time.sleep(1)

            victim = c.nodes[3]
            killed_at = time.monotonic()
            victim.kill()
            b.wait_for("document.querySelector('#members tr[data-member=n3]').dataset.state"
                       " == 'dead'", 60, "n3 dead in the members table")
            seen_after = time.monotonic() - killed_at
            check(ring_states(b).get("n3") == "dead", f"ring: {ring_states(b)}")
            check(b.eval("document.getElementById('count-dead').textContent") == "1",
                  "dead count is not 1")
            changes = b.eval("document.getElementById('changes').textContent")
            check("n3 alive" in changes and "dead" in changes,
                  f"the change list does not show n3's death: {changes!r}")
            check(all(v == "alive" for k, v in member_states(b).items() if k != "n3"),
                  f"others not alive: {member_states(b)}")
            print(f"page showed n3 dead {seen_after:.1f} s after kill -9", flush=True)
            if os.environ.get("PEKONODE_UI_SCREENSHOT"):
                time.sleep(5)
            shot = os.path.join(outputs_dir(), "ui.png")
            b.screenshot(shot)
            check(os.path.getsize(shot) > 10000, "screenshot suspiciously small")
            if os.environ.get("PEKONODE_UI_SCREENSHOT"):
                shutil.copy(shot, os.environ["PEKONODE_UI_SCREENSHOT"])
            problems = b.problems()
            check(not problems, f"page problems: {problems}")
        finally:
            b.close()


def test_token_form_when_reads_need_the_token():
    token = "ui-test-token-0123456789abcdef"
    workdir = tempfile.mkdtemp(prefix="pekonode-ui-token-")
    path = os.path.join(workdir, "token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    with Cluster(BINARY, 1, extra=[f"--admin_token_file={path}",
                                   "--admin_token_reads"]) as c:
        c.start()
        n0 = c.nodes[0]
        b = Browser()
        try:
            b.navigate(f"http://{n0.admin}/ui/")
            b.wait_for("!document.getElementById('token-form').hidden", 15,
                       "the token form")
            check(member_states(b) == {}, "members shown without the token")
            b.eval(f"document.getElementById('token').value = {json.dumps(token)};"
                   "document.getElementById('token-form').requestSubmit(); true")
            b.wait_for("document.querySelectorAll('#members tbody tr').length == 1",
                       15, "the member after the token was given")
            check(b.eval("document.getElementById('token-form').hidden"),
                  "token form still shown")
        finally:
            b.close()


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    return junit.run("ui_test", [
        ("page_follows_a_live_cluster_and_shows_a_death",
         test_page_follows_a_live_cluster_and_shows_a_death),
        ("token_form_when_reads_need_the_token",
         test_token_form_when_reads_need_the_token),
    ])


if __name__ == "__main__":
    sys.exit(main())
