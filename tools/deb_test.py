#!/usr/bin/env python3
"""The Debian package, end to end, on this machine (as root; outside Bazel,
whose sandbox cannot run dpkg): build it with tools/build_deb.sh, install it
with dpkg, run the installed /usr/bin/pekonode as a 3-node cluster on
127.0.0.1 from config files, check membership with the installed pekoctl,
verify the systemd unit offline (systemd does not run as PID 1 here, so the
unit is not started), then remove and purge the package.

    tools/deb_test.py            (JUnit XML to $XML_OUTPUT_FILE if set)

Exit status 0 when every case passed, 1 otherwise.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "chaos", "real"))
sys.path.insert(0, os.path.join(ROOT, "deploy", "tests"))
import junit  # noqa: E402
from cluster import free_port_pair  # noqa: E402
from junit import check  # noqa: E402
from procs import Node  # noqa: E402

WORK = tempfile.mkdtemp(prefix="pekonode-deb-test-")
DEB = None
INSTALLED = False
FILES = ["/usr/bin/pekonode", "/usr/bin/pekoctl",
         "/lib/systemd/system/pekonode.service", "/etc/pekonode/config.json",
         "/usr/share/man/man1/pekonode.1.gz",
         "/usr/share/doc/pekonode/DEPLOY.md"]


def run(args, timeout=120, **kw):
    r = subprocess.run(args, capture_output=True, timeout=timeout, **kw)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def need_deb():
    check(DEB is not None, "the package was not built")


def need_installed():
    check(INSTALLED, "the package is not installed")


def test_builds_with_depends_from_the_binaries():
    global DEB
    code, out, err = run(["bash", os.path.join(ROOT, "tools", "build_deb.sh"),
                          f"--out={WORK}"], timeout=1800, cwd=ROOT)
    check(code == 0, f"build_deb.sh failed ({code}):\n{err[-3000:]}")
    DEB = out.strip().splitlines()[-1]
    check(os.path.isfile(DEB), f"no .deb at {DEB}")
    _, control, _ = run(["dpkg-deb", "-f", DEB])
    fields = dict(re.findall(r"^(\S+): (.*)$", control, re.M))
    check(fields.get("Package") == "pekonode", control)
    depends = {d.strip().split()[0] for d in fields.get("Depends", "").split(",")}
    _, listing, _ = run(["dpkg-deb", "-c", DEB])
    for f in FILES:
        check(f" .{f}" in listing, f"{f} not in the package")
    # Every shared library the binaries need comes from a package in Depends.
    tree = os.path.join(WORK, "tree")
    run(["dpkg-deb", "-x", DEB, tree])
    for binary in ("usr/bin/pekonode", "usr/bin/pekoctl"):
        _, dyn, _ = run(["readelf", "-d", os.path.join(tree, binary)])
        for soname in re.findall(r"\(NEEDED\).*\[(.+)\]", dyn):
            code, owners, _ = run(["dpkg-query", "-S", f"*/{soname}"])
            check(code == 0, f"no package ships {soname}")
            pkgs = {line.split(":")[0].strip() for line in owners.splitlines()
                    if line and not line.startswith("diversion")}
            check(pkgs & depends, f"{binary} needs {soname} ({pkgs}), not in Depends {depends}")
    print(f"Depends: {fields.get('Depends')}")


def test_installs_binaries_unit_config_and_man_page():
    global INSTALLED
    need_deb()
    code, out, err = run(["dpkg", "-i", DEB], timeout=300)
    check(code == 0, f"dpkg -i failed:\n{out}\n{err}")
    INSTALLED = True
    for f in FILES:
        check(os.path.exists(f), f"{f} missing after install")
    check(os.access("/usr/bin/pekonode", os.X_OK), "pekonode executable")
    _, conffiles, _ = run(["dpkg-query", "-W", "-f=${Conffiles}", "pekonode"])
    check("/etc/pekonode/config.json" in conffiles, f"conffile: {conffiles!r}")
    code, ldd, _ = run(["ldd", "/usr/bin/pekonode"])
    check(code == 0 and "not found" not in ldd, f"libraries:\n{ldd}")
    code, out, _ = run(["/usr/bin/pekonode", "--version"])
    check(code == 0 and "pekonode" in out, f"--version: {code} {out}")
    if shutil.which("man"):
        code, out, _ = run(["man", "-w", "pekonode"])
        check(code == 0 and "pekonode.1" in out, f"man -w pekonode: {code} {out}")


def test_installed_node_runs_a_three_node_cluster_from_config_files():
    need_installed()
    ports = [free_port_pair() for _ in range(3)]
    nodes = []
    try:
        for i, (gossip, admin) in enumerate(ports):
            cfg = {"name": f"deb{i}", "bind": f"127.0.0.1:{gossip}",
                   "admin": f"127.0.0.1:{admin}", "profile": "local",
                   "tags": {"role": "test", "index": i}}
            if i:
                cfg["join"] = [f"127.0.0.1:{ports[0][0]}"]
            path = os.path.join(WORK, f"deb{i}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            nodes.append((path, cfg, Node("/usr/bin/pekonode", [f"--config={path}"],
                                          WORK, name=f"deb{i}")))
        for _, _, n in nodes:
            n.wait_running()

        def members(i):
            admin = nodes[i][1]["admin"]
            code, out, err = run(["/usr/bin/pekoctl", f"--addr={admin}", "--json",
                                  "members"], timeout=10)
            check(code == 0, f"pekoctl members on deb{i}: {code} {err}")
            return {m["name"]: m for m in json.loads(out)["members"]}

        def wait(pred, what, timeout=15):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if pred():
                    return
                time.sleep(0.1)
            check(False, f"{what} within {timeout}s: {[members(i) for i in range(len(nodes))]}")

        wait(lambda: all(len(members(i)) == 3 and
                         all(m["state"] == "alive" for m in members(i).values())
                         for i in range(3)), "all 3 alive everywhere")
        view = members(1)
        check(view["deb2"]["tags"] == {"role": "test", "index": "2"}, f"tags: {view}")
        # The human form too.
        code, out, _ = run(["/usr/bin/pekoctl", f"--addr={nodes[0][1]['admin']}",
                            "members"], timeout=10)
        check(code == 0 and len(re.findall(r"\balive\b", out)) == 3, out)
        # Reload: new tags on deb2 reach deb0 by gossip.
        path, cfg, n2 = nodes[2]
        with open(path, "w") as f:
            json.dump(dict(cfg, tags={"role": "reloaded"}), f)
        n2.send(signal.SIGHUP)
        wait(lambda: members(0)["deb2"]["tags"] == {"role": "reloaded"},
             "reloaded tags of deb2 seen by deb0")
        check(n2.alive(), "SIGHUP kept deb2 running")
        # SIGTERM = graceful leave.
        check(n2.stop() == 0, "deb2 exits 0 after SIGTERM")
        wait(lambda: members(0)["deb2"]["state"] == "left", "deb2 left, seen by deb0",
             timeout=5)
    finally:
        for _, _, n in nodes:
            n.stop(signal.SIGKILL)


def test_systemd_unit_verifies():
    need_installed()
    if shutil.which("systemd-analyze") is None:
        print("note: systemd-analyze not installed; unit not verified")
        return
    unit = "/lib/systemd/system/pekonode.service"
    code, out, err = run(["systemd-analyze", "verify", unit], timeout=60)
    check(code == 0, f"systemd-analyze verify: {code}\n{out}{err}")
    code, out, err = run(["systemd-analyze", "security", "--offline=yes", unit],
                         timeout=60)
    m = re.search(r"Overall exposure level for pekonode.service: ([0-9.]+)", out + err)
    check(m is not None, f"no exposure level:\n{out}{err}")
    check(float(m.group(1)) <= 2.0, f"exposure {m.group(1)} > 2.0 (hardening lost?)")
    print(f"systemd-analyze security: exposure {m.group(1)}")


def test_remove_keeps_the_config_and_purge_deletes_it():
    global INSTALLED
    need_installed()
    code, out, err = run(["dpkg", "-r", "pekonode"], timeout=300)
    check(code == 0, f"dpkg -r: {out}{err}")
    for f in ("/usr/bin/pekonode", "/usr/bin/pekoctl",
              "/lib/systemd/system/pekonode.service"):
        check(not os.path.exists(f), f"{f} left after dpkg -r")
    check(os.path.exists("/etc/pekonode/config.json"), "dpkg -r keeps the conffile")
    code, out, err = run(["dpkg", "-P", "pekonode"], timeout=300)
    check(code == 0, f"dpkg -P: {out}{err}")
    INSTALLED = False
    check(not os.path.exists("/etc/pekonode/config.json"), "purge removes the conffile")


def main():
    start = time.monotonic()
    try:
        return junit.run("DebPackage", [
            ("BuildsWithDependsFromTheBinaries",
             test_builds_with_depends_from_the_binaries),
            ("InstallsBinariesUnitConfigAndManPage",
             test_installs_binaries_unit_config_and_man_page),
            ("InstalledNodeRunsAThreeNodeClusterFromConfigFiles",
             test_installed_node_runs_a_three_node_cluster_from_config_files),
            ("SystemdUnitVerifies", test_systemd_unit_verifies),
            ("RemoveKeepsTheConfigAndPurgeDeletesIt",
             test_remove_keeps_the_config_and_purge_deletes_it),
        ])
    finally:
        if INSTALLED:
            run(["dpkg", "-P", "pekonode"], timeout=300)
        shutil.rmtree(WORK, ignore_errors=True)
        print(f"deb_test: {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
