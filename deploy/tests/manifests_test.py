"""Offline checks of the deployment files against what the node relies on:
the Kubernetes manifests (deploy/kubernetes/), the container image
(deploy/docker/Dockerfile), the systemd unit and the packaged default config.
No cluster, Docker engine or systemd is needed: the YAML is parsed and every
field the node depends on is checked against the real binary (its flag
table, its config validation, its admin endpoints).

    manifests_test.py PEKONODE_BINARY DEPLOY_DIR
"""
import json
import os
import re
import shlex
import sys
import tempfile

import yaml  # Debian: python3-yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "chaos", "real"))
import junit  # noqa: E402
from junit import check  # noqa: E402
from procs import Node, helpxml_flags, run_exit  # noqa: E402

BINARY = None
DEPLOY = None

# Contract flags (DESIGN: interface contract) that other changes add to the
# binary; the manifests already use them. Checked for shape, not presence.
PENDING_FLAGS = set()
# Contract admin endpoints not yet served by every build.
PENDING_PATHS = set()
CONTRACT_PATHS = {"/v1/health", "/v1/health/ready"}
# membership::config leave_drain per --profile (membership/config.h).
LEAVE_DRAIN_S = {"local": 0.3, "lan": 1.0, "wan": 3.0}
# Room after the drain for the admin server and actors to stop.
STOP_MARGIN_S = 10


def load_k8s():
    kdir = os.path.join(DEPLOY, "kubernetes")
    docs = {}
    for leaf in sorted(os.listdir(kdir)):
        if not leaf.endswith(".yaml"):
            continue
        with open(os.path.join(kdir, leaf)) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.setdefault(doc["kind"], []).append((leaf, doc))
    return kdir, docs


def one(docs, kind):
    check(len(docs.get(kind, [])) == 1, f"want exactly one {kind}: {docs.get(kind)}")
    return docs[kind][0][1]


def parse_args(args):
    """['--a=b', '--c'] -> {'a': 'b', 'c': 'true'}; rejects anything else."""
    out = {}
    for a in args:
        m = re.fullmatch(r"--([a-z_0-9]+)(?:=(.*))?", a)
        check(m is not None, f"argument {a!r} is not --flag=value")
        check(m.group(1) not in out, f"flag given twice: {a}")
        out[m.group(1)] = m.group(2) if m.group(2) is not None else "true"
    return out


def subset(small, big):
    return all(big.get(k) == v for k, v in small.items())


def statefulset_parts():
    _, docs = load_k8s()
    sts = one(docs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    containers = pod["containers"]
    check(len(containers) == 1, "one container")
    c = containers[0]
    return docs, sts, pod, c, parse_args(c["args"])


def container_port(c, name, protocol):
    ports = [p for p in c["ports"] if p["name"] == name]
    check(len(ports) == 1, f"container port {name}")
    check(ports[0].get("protocol", "TCP") == protocol, f"{name} protocol")
    return ports[0]["containerPort"]


def env_source(c, var):
    for e in c.get("env", []):
        if e["name"] == var:
            return e["valueFrom"]["fieldRef"]["fieldPath"]
    return None


def configmap_config(docs, pod, c, args):
    """The config.json the pod reads through --config, from the ConfigMap."""
    path = args["config"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    mount = next((m for p, m in mounts.items()
                  if path.startswith(p.rstrip("/") + "/")), None)
    check(mount is not None, f"--config={path} is not under a volume mount")
    check(mount.get("readOnly") is True, "config mount read-only")
    check("subPath" not in mount,
          "a subPath mount never sees ConfigMap updates (SIGHUP reload)")
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    cm_name = vol["configMap"]["name"]
    cms = [d for _, d in docs["ConfigMap"] if d["metadata"]["name"] == cm_name]
    check(len(cms) == 1, f"ConfigMap {cm_name} is in the manifests")
    key = os.path.relpath(path, mount["mountPath"])
    check(key in cms[0]["data"], f"ConfigMap {cm_name} has key {key}")
    return json.loads(cms[0]["data"][key])


# -- Kubernetes ----------------------------------------------------------------

def test_every_manifest_parses_and_kustomization_lists_them():
    kdir, docs = load_k8s()
    for kind in ("StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap",
                 "Kustomization"):
        check(kind in docs, f"no {kind}")
    kust = one(docs, "Kustomization")
    files = {leaf for leaf in os.listdir(kdir)
             if leaf.endswith(".yaml") and leaf != "kustomization.yaml"}
    check(set(kust["resources"]) == files,
          f"kustomization resources {kust['resources']} != files {files}")
    for kind, items in docs.items():
        for leaf, d in items:
            check("apiVersion" in d and ("metadata" in d or kind == "Kustomization"),
                  f"{leaf}: {kind} lacks apiVersion/metadata")
    check(one(docs, "StatefulSet")["apiVersion"] == "apps/v1", "apps/v1")
    check(one(docs, "PodDisruptionBudget")["apiVersion"] == "policy/v1", "policy/v1")


def test_labels_selectors_and_the_headless_service_match():
    docs, sts, pod, c, args = statefulset_parts()
    labels = sts["spec"]["template"]["metadata"]["labels"]
    sel = sts["spec"]["selector"]["matchLabels"]
    check(sel and subset(sel, labels), f"StatefulSet selector {sel} vs labels {labels}")
    svc = one(docs, "Service")
    check(svc["metadata"]["name"] == sts["spec"]["serviceName"],
          "StatefulSet.serviceName names the headless Service")
    check(svc["spec"].get("clusterIP") == "None", "headless Service")
    check(svc["spec"].get("publishNotReadyAddresses") is True,
          "seeds must resolve before pods are ready")
    check(svc["spec"]["selector"] and subset(svc["spec"]["selector"], labels),
          "Service selects the pods")
    pdb = one(docs, "PodDisruptionBudget")
    psel = pdb["spec"]["selector"]["matchLabels"]
    check(psel and subset(psel, labels), f"PDB selector {psel} selects the set")
    check(pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"],
          "one voluntary disruption at a time")
    check(sts["spec"]["replicas"] >= 3, "at least 3 replicas")


def test_ports_match_the_flags_and_the_service():
    docs, sts, pod, c, args = statefulset_parts()
    gossip = container_port(c, "gossip", "UDP")
    admin = container_port(c, "admin", "TCP")
    bind_ip, bind_port = args["bind"].rsplit(":", 1)
    admin_ip, admin_port = args["admin"].rsplit(":", 1)
    check(int(bind_port) == gossip, f"--bind port {bind_port} != gossip {gossip}")
    check(int(admin_port) == admin, f"--admin port {admin_port} != admin {admin}")
    # The pod IP: reachable by peers and by the kubelet's probes (loopback
    # would fail the probes; a wildcard would also expose other interfaces).
    check(bind_ip == "$(POD_IP)" and admin_ip == "$(POD_IP)",
          f"bind/admin on the pod IP: {args['bind']} {args['admin']}")
    check(env_source(c, "POD_IP") == "status.podIP", "POD_IP from status.podIP")
    check(args["name"] == "$(POD_NAME)" and
          env_source(c, "POD_NAME") == "metadata.name", "node name = pod name")
    svc = one(docs, "Service")
    sports = {p["name"]: p for p in svc["spec"]["ports"]}
    check(sports["gossip"]["port"] == gossip and
          sports["gossip"]["protocol"] == "UDP" and
          sports["gossip"]["targetPort"] in ("gossip", gossip), "Service gossip port")
    check(sports["admin"]["port"] == admin and
          sports["admin"]["targetPort"] in ("admin", admin), "Service admin port")
    # Every $(VAR) in the args is defined (Kubernetes leaves others verbatim).
    defined = {e["name"] for e in c.get("env", [])}
    for a in c["args"]:
        for var in re.findall(r"\$\(([A-Z_0-9]+)\)", a):
            check(var in defined, f"{a}: $({var}) is not in env")


def test_join_uses_dns_seeds_of_the_headless_service():
    docs, sts, pod, c, args = statefulset_parts()
    svc = one(docs, "Service")["metadata"]["name"]
    gossip = container_port(c, "gossip", "UDP")
    want = f"dns:{svc}.$(POD_NAMESPACE).svc.cluster.local:{gossip}"
    check(args["join"] == want, f"--join={args['join']}, want {want}")
    check(env_source(c, "POD_NAMESPACE") == "metadata.namespace", "POD_NAMESPACE")


def test_data_dir_is_on_a_volume_of_each_pod():
    docs, sts, pod, c, args = statefulset_parts()
    check("data_dir" in args, "--data_dir is given")
    claims = {t["metadata"]["name"]: t
              for t in sts["spec"].get("volumeClaimTemplates", [])}
    mounts = [m for m in c["volumeMounts"] if m["name"] in claims]
    check(len(mounts) == 1, f"one claimed volume mounted: {mounts}")
    mount = mounts[0]["mountPath"].rstrip("/")
    parent = os.path.dirname(args["data_dir"].rstrip("/"))
    check(parent == mount,
          f"--data_dir={args['data_dir']} sits directly in the volume {mount}"
          " (its parent must exist)")
    check(not mounts[0].get("readOnly", False), "the volume is writable")


def test_flags_exist_and_the_config_map_is_accepted_by_the_binary():
    docs, sts, pod, c, args = statefulset_parts()
    known = helpxml_flags(BINARY)
    for flag in args:
        check(flag in known or flag in PENDING_FLAGS,
              f"--{flag} is not a pekonode flag")
    for flag in sorted(PENDING_FLAGS & set(known)):
        print(f"note: --{flag} is now implemented; drop it from PENDING_FLAGS")
    cfg = configmap_config(docs, pod, c, args)
    for key in cfg:
        check(key in known, f"ConfigMap key {key!r} is not a flag")
    # The binary itself must accept the file (types, tags, values).
    d = tempfile.mkdtemp()
    path = os.path.join(d, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    n = Node(BINARY, [f"--config={path}", "--name=k8s", "--bind=127.0.0.1:0",
                      "--admin=127.0.0.1:0"], d)
    try:
        n.wait_running()
    finally:
        check(n.stop() == 0, "clean exit")


def test_probes_hit_real_admin_endpoints():
    docs, sts, pod, c, args = statefulset_parts()
    ready = c["readinessProbe"]["httpGet"]
    live = c["livenessProbe"]["httpGet"]
    check(ready["path"] == "/v1/health/ready", f"readiness {ready}")
    check(live["path"] == "/v1/health", f"liveness {live}")
    for probe in (ready, live):
        check(probe["port"] in ("admin", container_port(c, "admin", "TCP")),
              f"probe port {probe['port']} is the admin port")
        check("host" not in probe, "probes go to the pod IP (where --admin binds)")
        check(probe["path"] in CONTRACT_PATHS, f"{probe['path']} not in the contract")
    # Ask a real node.
    d = tempfile.mkdtemp()
    n = Node(BINARY, ["--name=p", "--bind=127.0.0.1:0", "--admin=127.0.0.1:0",
                      "--profile=local"], d)
    try:
        n.wait_running()
        status, _ = n.get(live["path"])
        check(status == 200, f"GET {live['path']}: {status}")
        # A lone node without seeds may or may not count as ready; the
        # endpoint must exist either way.
        status, _ = n.get(ready["path"])
        if status == 404 and ready["path"] in PENDING_PATHS:
            print(f"note: {ready['path']} is not served by this build yet")
        else:
            check(status in (200, 503), f"GET {ready['path']}: {status}")
    finally:
        n.stop()
    # Liveness must not kill a node in its leave drain: it tolerates a
    # failing /v1/health for longer than any drain.
    lp = c["livenessProbe"]
    check(lp["periodSeconds"] * lp["failureThreshold"] > max(LEAVE_DRAIN_S.values()),
          "liveness tolerates the leave drain")


def test_grace_period_exceeds_the_leave_drain():
    docs, sts, pod, c, args = statefulset_parts()
    cfg = configmap_config(docs, pod, c, args)
    profile = args.get("profile", cfg.get("profile", "lan"))
    check(profile in LEAVE_DRAIN_S, f"profile {profile}")
    grace = pod["terminationGracePeriodSeconds"]
    need = LEAVE_DRAIN_S[profile] + STOP_MARGIN_S
    check(grace >= need, f"terminationGracePeriodSeconds {grace} < drain + margin {need}")
    check(grace >= LEAVE_DRAIN_S["wan"] + STOP_MARGIN_S,
          "room for the slowest profile too")
    check("preStop" not in c.get("lifecycle", {}),
          "SIGTERM itself makes the node leave; no preStop hook")


def test_secrets_are_mounted_read_only_files_matching_the_flags():
    docs, sts, pod, c, args = statefulset_parts()
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    for flag in ("keyring_file", "admin_token_file"):
        path = args.get(flag)
        check(path, f"--{flag} is set")
        mount = next((m for m in mounts.values()
                      if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
        check(mount is not None, f"--{flag}={path} is not under a mount")
        check(mount.get("readOnly") is True, f"{mount['name']} read-only")
        secret = vols[mount["name"]].get("secret")
        check(secret is not None, f"--{flag} comes from a Secret")
        check(secret.get("defaultMode") == 0o400, f"{mount['name']}: mode 0400")
        rel = os.path.relpath(path, mount["mountPath"])
        items = {i["path"]: i["key"] for i in secret.get("items", [])}
        check(rel in items, f"Secret {secret['secretName']} maps a key to {rel}")
    # The pod IP is not loopback: gossip must be keyed, never plaintext.
    check("insecure_plaintext" not in args, "--insecure_plaintext in the pod's args")
    check(pod["securityContext"].get("fsGroup") == pod["securityContext"].get("runAsGroup"),
          "the node's group can read the 0400 secret files (fsGroup)")


def test_pod_runs_unprivileged_with_sized_resources():
    docs, sts, pod, c, args = statefulset_parts()
    psc, csc = pod["securityContext"], c["securityContext"]
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0, "non-root")
    check(csc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    check(csc.get("readOnlyRootFilesystem") is True, "read-only root")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"], "no capabilities")
    res = c["resources"]

    def mib(q):
        m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
        check(m is not None, f"memory quantity {q}")
        return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)

    req, lim = mib(res["requests"]["memory"]), mib(res["limits"]["memory"])
    # docs/BENCHMARKS.md: ~17 MiB idle; the store alone may hold 64 MiB.
    check(req >= 32, f"memory request {req} Mi below the idle footprint")
    check(lim >= 64 + 64, f"memory limit {lim} Mi leaves no room for a full store")
    check(req <= lim, "request <= limit")
    check(res["requests"].get("cpu"), "a CPU request")


def test_dockerfile_installs_the_package_and_matches_the_pod():
    with open(os.path.join(DEPLOY, "docker", "Dockerfile")) as f:
        lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    text = "\n".join(lines)
    froms = [l.split()[1] for l in lines if l.startswith("FROM ")]
    check(froms and re.fullmatch(r"debian:12(-slim)?(@sha256:[0-9a-f]+)?", froms[0]),
          f"Debian 12 base: {froms}")
    check(re.search(r"apt-get install .*/tmp/pekonode_\*\.deb", text),
          "installs the .deb through apt (pulls its Depends)")
    user = [l.split()[1] for l in lines if l.startswith("USER ")]
    _, sts, pod, c, args = statefulset_parts()
    check(user and user[-1].split(":")[0] == str(pod["securityContext"]["runAsUser"]),
          f"USER {user} matches runAsUser")
    ep = [l for l in lines if l.startswith("ENTRYPOINT ")]
    check(ep and json.loads(ep[0][len("ENTRYPOINT "):]) == ["/usr/bin/pekonode"],
          f"ENTRYPOINT {ep}")
    exposed = set(" ".join(l[len("EXPOSE "):] for l in lines
                           if l.startswith("EXPOSE ")).split())
    want = {f"{container_port(c, 'gossip', 'UDP')}/udp",
            f"{container_port(c, 'admin', 'TCP')}/tcp"}
    check(exposed == want, f"EXPOSE {exposed} != {want}")


# -- systemd and the packaged config -------------------------------------------

def unit_directives():
    path = os.path.join(DEPLOY, "systemd", "pekonode.service")
    section, out = None, {}
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def test_systemd_unit_runs_the_packaged_node_safely():
    u = unit_directives()

    def get(key, section="Service"):
        v = u.get((section, key))
        check(v, f"[{section}] {key}= missing")
        return v[-1]

    exec_start = shlex.split(get("ExecStart"))
    check(exec_start[0] == "/usr/bin/pekonode", f"ExecStart {exec_start}")
    flags = parse_args(exec_start[1:])
    check(flags.get("config") == "/etc/pekonode/config.json", "ExecStart reads the config")
    check(get("Type") == "notify" and get("NotifyAccess") == "main", "Type=notify")
    check(re.fullmatch(r"/bin/kill -(HUP|s HUP) \$MAINPID", get("ExecReload")),
          f"ExecReload sends SIGHUP: {get('ExecReload')}")
    check(get("KillSignal") == "SIGTERM", "stop = SIGTERM = leave")
    stop = get("TimeoutStopSec").rstrip("s")
    check(float(stop) >= LEAVE_DRAIN_S["wan"] + STOP_MARGIN_S, "stop timeout > drain")
    wd = float(get("WatchdogSec").rstrip("s"))
    check(wd >= 10, "a watchdog long enough for a loaded machine")
    for key, want in [("DynamicUser", "yes"), ("NoNewPrivileges", "yes"),
                      ("ProtectSystem", "strict"), ("StateDirectory", "pekonode"),
                      ("CapabilityBoundingSet", ""), ("PrivateTmp", "yes"),
                      ("ProtectHome", "yes"), ("PrivateDevices", "yes"),
                      ("RestrictNamespaces", "yes"), ("LockPersonality", "yes"),
                      ("MemoryDenyWriteExecute", "yes")]:
        check(get(key) == want, f"{key}={get(key)}, want {want!r}")
    families = set(get("RestrictAddressFamilies").split())
    check({"AF_INET", "AF_INET6", "AF_UNIX"} <= families, f"families {families}")
    check(families <= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"},
          f"no other families: {families}")
    check("@system-service" in u[("Service", "SystemCallFilter")], "syscall filter")
    check(get("WantedBy", "Install") == "multi-user.target", "WantedBy")


def test_default_config_is_loopback_only_and_accepted():
    path = os.path.join(DEPLOY, "config", "config.json")
    with open(path) as f:
        cfg = json.load(f)
    for key in ("bind", "admin"):
        check(key in cfg, f"the default config sets {key}")
        ip = cfg[key].rsplit(":", 1)[0].strip("[]")
        check(ip.startswith("127.") or ip == "::1", f"{key}={cfg[key]} is not loopback")
    check("advertise" not in cfg or cfg["advertise"].startswith("127."),
          "advertise stays on loopback")
    check(not cfg.get("fault_injection"), "no fault injection by default")
    # The binary accepts it (ports overridden on the command line).
    d = tempfile.mkdtemp()
    n = Node(BINARY, [f"--config={path}", "--name=default",
                      "--bind=127.0.0.1:0", "--admin=127.0.0.1:0"], d)
    try:
        n.wait_running()
        status, me = n.get("/v1/self")
        check(status == 200 and me["addr"].startswith("127.0.0.1:"), f"{status} {me}")
    finally:
        check(n.stop() == 0, "clean exit")


def main():
    global BINARY, DEPLOY
    BINARY = os.path.abspath(sys.argv[1])
    DEPLOY = os.path.abspath(sys.argv[2])
    return junit.run("Deploy", [
        ("EveryManifestParsesAndKustomizationListsThem",
         test_every_manifest_parses_and_kustomization_lists_them),
        ("LabelsSelectorsAndTheHeadlessServiceMatch",
         test_labels_selectors_and_the_headless_service_match),
        ("PortsMatchTheFlagsAndTheService", test_ports_match_the_flags_and_the_service),
        ("JoinUsesDnsSeedsOfTheHeadlessService",
         test_join_uses_dns_seeds_of_the_headless_service),
        ("FlagsExistAndTheConfigMapIsAcceptedByTheBinary",
         test_flags_exist_and_the_config_map_is_accepted_by_the_binary),
        ("ProbesHitRealAdminEndpoints", test_probes_hit_real_admin_endpoints),
        ("GracePeriodExceedsTheLeaveDrain", test_grace_period_exceeds_the_leave_drain),
        ("SecretsAreMountedReadOnlyFilesMatchingTheFlags",
         test_secrets_are_mounted_read_only_files_matching_the_flags),
        ("PodRunsUnprivilegedWithSizedResources",
         test_pod_runs_unprivileged_with_sized_resources),
        ("DockerfileInstallsThePackageAndMatchesThePod",
         test_dockerfile_installs_the_package_and_matches_the_pod),
        ("SystemdUnitRunsThePackagedNodeSafely",
         test_systemd_unit_runs_the_packaged_node_safely),
        ("DefaultConfigIsLoopbackOnlyAndAccepted",
         test_default_config_is_loopback_only_and_accepted),
    ])


if __name__ == "__main__":
    sys.exit(main())
