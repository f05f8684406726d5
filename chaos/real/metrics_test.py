"""/metrics of a real `pekonode` process under `promtool check metrics`
(Debian's prometheus package ships promtool): the text a Prometheus server
scrapes, gauges included, must pass its linter. Also checks the gauges move
with the cluster (members by state after a kill, keys after writes).
Skipped, with the reason printed, when promtool is not installed.

Usage: metrics_test.py PEKONODE
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, parse_metrics  # noqa: E402
import junit  # noqa: E402
from junit import check  # noqa: E402

BINARY = None
PROMTOOL = None


def scrape(node):
    status, body = node.request("GET", "/metrics", raw=True)
    check(status == 200, f"/metrics answered {status}")
    return body


def sample(text, series):
    return parse_metrics(text.decode()).get(series)


def test_promtool_accepts_metrics_of_a_busy_cluster():
    with Cluster(BINARY, 3) as c:
        c.start()
        check(c.wait_until(c.all_alive, 30), "cluster did not form")
        n = c.nodes[0]
        for i in range(10):
            status, _ = n.request("PUT", f"/v1/kv/k{i}", b"v" * 100)
            check(status == 200, "put")
        status, _ = n.request("DELETE", "/v1/kv/k0")
        check(status == 200, "delete")
        c.nodes[2].kill()
        check(c.wait_until(lambda: c.all_see("n2", "dead", observers=c.nodes[:2]), 30),
              "n2 not declared dead")
        text = scrape(n)
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                           capture_output=True, timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace")
        check(r.returncode == 0, f"promtool check metrics failed:\n{out}")
        check(sample(text, 'pekonode_members{state="alive"}') == 2, "alive members")
        check(sample(text, 'pekonode_members{state="dead"}') == 1, "dead members")
        check(sample(text, 'pekonode_metadata_keys{kind="live"}') == 9, "live keys")
        check(sample(text, 'pekonode_metadata_keys{kind="tombstone"}') == 1, "tombstones")
        miss = sample(text, "pekonode_membership_probe_miss_ratio")
        check(miss is not None and 0 <= miss <= 1, f"probe miss ratio {miss}")
        sus = sample(text, "pekonode_membership_suspicion_timeout_seconds")
        check(sus is not None and sus > 0, f"suspicion timeout {sus}")
        check((sample(text, "process_resident_memory_bytes") or 0) > 1 << 20, "rss")
        check((sample(text, "process_open_fds") or 0) > 3, "open fds")
        build = [line for line in text.decode().splitlines()
                 if line.startswith("pekonode_build_info{version=")]
        check(len(build) == 1 and build[0].endswith("} 1"), f"build info: {build}")
        print(f"promtool: clean; {len(text.splitlines())} lines")


def main():
    global BINARY, PROMTOOL
    BINARY = sys.argv[1]
    PROMTOOL = shutil.which("promtool")
    if PROMTOOL is None:
        print("skipped: promtool is not installed (Debian package 'prometheus'; "
              "tools/setup.sh installs it)")
        return junit.run("metrics_test", [])
    return junit.run("metrics_test", [
        ("PromtoolAcceptsMetricsOfABusyCluster",
         test_promtool_accepts_metrics_of_a_busy_cluster),
    ])


if __name__ == "__main__":
    sys.exit(main())
