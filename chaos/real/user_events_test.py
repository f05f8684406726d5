"""User events and queries with real `pekonode` processes on 127.0.0.1:
`pekoctl event` is delivered once on every node (its delivery counter),
`pekoctl query --tag=...` is acked by exactly the matching nodes, a killed
matching node is reported as a straggler, and the limits answer 413/429.

Usage: user_events_test.py PEKONODE PEKOCTL
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PEKOCTL = None


def pekoctl(node, *args, stdin=None):
    p = subprocess.run([PEKOCTL, f"--addr={node.admin}", *args],
                       input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def delivered(node):
    """pekonode_user_events_delivered_total of one node, or None."""
    try:
        status, body = node.request("GET", "/metrics", raw=True, timeout=2.0)
    except OSError:
        return None
    if status != 200:
        return None
    m = re.search(rb"^pekonode_user_events_delivered_total (\d+)", body, re.M)
    return int(m.group(1)) if m else None


def web_cluster(n=4):
    """n nodes; even ones tagged role=web, odd ones role=db."""
    c = Cluster(BINARY, n)
    for i, node in enumerate(c.nodes):
        node.extra += [f"--tags=role={'web' if i % 2 == 0 else 'db'},idx={i}"]
    c.start()
    took = c.wait_until(c.all_alive, 30)
    check(took is not None, "cluster did not converge")
    return c


def test_event_is_delivered_once_on_every_node():
    with web_cluster(4) as c:
        code, out, err = pekoctl(c.nodes[1], "event", "deploy", "v42")
        check(code == 0, f"pekoctl event: {code} {out} {err}")
        check(out.startswith("event deploy sent"), out)
        took = c.wait_until(lambda: all(delivered(n) == 1 for n in c.nodes), 10)
        check(took is not None,
              f"not delivered everywhere: {[delivered(n) for n in c.nodes]}")
        # Gossip and anti-entropy keep running: still exactly once.
        time.sleep(2.0)
        counts = [delivered(n) for n in c.nodes]
        check(counts == [1] * 4, f"delivered more than once: {counts}")
        # A payload from stdin, coalesced.
        code, out, err = pekoctl(c.nodes[0], "event", "cfg", "-", "--coalesce",
                                 stdin=b"from stdin")
        check(code == 0, f"pekoctl event -: {code} {out} {err}")
        took = c.wait_until(lambda: all(delivered(n) == 2 for n in c.nodes), 10)
        check(took is not None,
              f"second event: {[delivered(n) for n in c.nodes]}")


def test_event_limits():
    with web_cluster(2) as c:
        n = c.nodes[0]
        code, out, err = pekoctl(n, "event", "big", "x" * 600)
        check(code == 1 and "512" in err, f"oversized event: {code} {out} {err}")
        # The local rate: a burst of 50, then 429 naming the rule.
        start = time.monotonic()
        replies = [n.request("POST", "/v1/event/flood", body=b"")
                   for _ in range(80)]
        elapsed = time.monotonic() - start
        statuses = [s for s, _ in replies]
        ok = statuses.count(200)
        # 10 per second refill while the loop runs.
        check(50 <= ok <= 50 + 10 * elapsed + 1, f"rate limit ({elapsed:.2f}s): {statuses}")
        limited = [b for s, b in replies if s == 429]
        check(limited and all("rate" in b.get("error", "") for b in limited),
              f"429s: {statuses} {limited[:1]}")


def test_query_reaches_the_matching_nodes_and_reports_stragglers():
    with web_cluster(5) as c:
        q = c.nodes[1]
        code, out, err = pekoctl(q, "--json", "query", "uptime", "hi",
                                 "--tag=role=web", "--timeout=1500ms")
        check(code == 0, f"pekoctl query: {code} {out} {err}")
        r = json.loads(out)
        check(r["acks"] == ["n0", "n2", "n4"], f"acks: {r}")
        check(r["stragglers"] == [], f"stragglers: {r}")
        check(r["counts"]["expected"] == 3, f"expected: {r}")
        check(r["responses"] == {}, f"no responder, no responses: {r}")
        # Node and tag filters together, anchored.
        code, out, err = pekoctl(q, "--json", "query", "uptime",
                                 "--node=n[0-3]", "--tag=idx=[0-9]",
                                 "--tag", "role=w.b", "--timeout=1s")
        check(code == 0, f"{code} {out} {err}")
        r = json.loads(out)
        check(r["acks"] == ["n0", "n2"], f"node and tag filter: {r}")
        # The table form names each ack and the totals.
        code, out, err = pekoctl(q, "query", "uptime", "--tag=role=db",
                                 "--timeout=1s")
        check(code == 0 and "ack from n1" in out and "ack from n3" in out
              and "total acks: 2 (expected 2)" in out, f"table: {out} {err}")
        # A matching node that stopped answering is a straggler while the
        # querier still holds it alive.
        c.nodes[4].proc.send_signal(signal.SIGSTOP)
        code, out, err = pekoctl(q, "--json", "query", "uptime",
                                 "--tag=role=web", "--timeout=500ms")
        c.nodes[4].proc.send_signal(signal.SIGCONT)
        check(code == 0, f"{code} {out} {err}")
        r = json.loads(out)
        check(r["acks"] == ["n0", "n2"], f"acks with n4 stopped: {r}")
        check(r["stragglers"] == ["n4"], f"stragglers with n4 stopped: {r}")
        # Bad filters are refused naming the rule.
        code, out, err = pekoctl(q, "query", "x", "--node=(")
        check(code == 1 and "bad_filter" in err, f"bad filter: {code} {out} {err}")


def test_handlers_answer_queries_and_see_user_events_once():
    """--event_handler: a `query` handler's stdout is the node's response
    (run once per query); a `user` handler runs once per event, with the
    payload on stdin."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix="pekonode-handlers-")
    c = Cluster(BINARY, 3)
    for i, node in enumerate(c.nodes):
        log = os.path.join(tmp, f"n{i}")
        node.extra += [
            f"--tags=role={'web' if i < 2 else 'db'}",
            f"--event_handler=query:uptime=echo $PEKONODE_SELF_NAME-up;"
            f" echo q >> {log}.query",
            f"--event_handler=user:deploy=cat >> {log}.user",
        ]
    c.start()
    with c:
        check(c.wait_until(c.all_alive, 30) is not None, "no convergence")
        code, out, err = pekoctl(c.nodes[2], "--json", "query", "uptime",
                                 "--tag=role=web", "--timeout=3s")
        check(code == 0, f"pekoctl query: {code} {out} {err}")
        r = json.loads(out)
        check(r["acks"] == ["n0", "n1"], f"acks: {r}")
        check(r["responses"] == {"n0": "n0-up\n", "n1": "n1-up\n"},
              f"responses from the handlers: {r}")
        for i in (0, 1):
            with open(os.path.join(tmp, f"n{i}.query")) as f:
                check(f.read() == "q\n", f"n{i}: query handler ran once")
        check(not os.path.exists(os.path.join(tmp, "n2.query")),
              "a node outside the filter ran no handler")
        code, out, err = pekoctl(c.nodes[0], "event", "deploy", "v7")
        check(code == 0, f"pekoctl event: {code} {out} {err}")

        def all_ran():
            try:
                return all(open(os.path.join(tmp, f"n{i}.user")).read()
                           == "v7" for i in range(3))
            except OSError:
                return False
        check(c.wait_until(all_ran, 10) is not None,
              "every node ran its user-event handler once with the payload")
        time.sleep(1.5)
        check(all_ran(), "and not again")


def main():
    global BINARY, PEKOCTL
    BINARY, PEKOCTL = (os.path.abspath(a) for a in sys.argv[1:3])
    cases = [(name[len("test_"):], fn) for name, fn in sorted(globals().items())
             if name.startswith("test_") and callable(fn)]
    only = os.environ.get("PEKONODE_ONLY")
    if only:
        cases = [c for c in cases if only in c[0]]
    return junit.run("UserEventsRealProcess", cases)


if __name__ == "__main__":
    sys.exit(main())
