"""pekonode's benchmark suite in one command: runs every benchmark, saves
each one's output under docs/data/ and rewrites the summary table of
docs/BENCHMARKS.md, then redraws the plots.

    bazel run -c opt //chaos:bench [-- --quick] [-- --only=idle,real,...]

Sections (each saved as docs/data/<file> with a header giving the command,
build, commit, date, machine and the load average at start and end):

  idle     cpu_bench.py: CPU, wake-ups and RSS per idle node (lan, local;
           1, 3 and 10 processes)                          -> cpu_bench.txt
  density  density_bench.py: 30 and 60 lan processes on this host
                                                           -> density_bench.txt
  real     real_bench.py: join, kill -9, leave, rejoin, put, delete,
           512 KiB value and late joiner on real processes -> real_bench.txt
  inproc   inproc_bench: N real-UDP nodes in one process (lan 100 and 1000,
           local 200), crash, leave, puts, bytes/s and CPU
                                                           -> inproc_bench.txt
  rate     inproc_bench: steady bytes/s per node at N=10/50/100
                                                           -> inproc_rate.txt
  sim      the whole-cluster simulator: crash scenario at each of
           --sim_sizes, x real time and peak memory        -> sim_bench.txt

--quick shrinks every section (fewer runs, sizes and seconds) to check the
suite itself in a few minutes; its figures are not the record. Timings
depend on the machine and its load: the header of every file and the table
say what both were. Must be run with -c opt (the figures are of the
optimised build; the suite refuses a fastbuild).
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
SECTIONS = ["idle", "density", "real", "inproc", "rate", "sim"]


class Suite:
    def __init__(self, args, plots):
        self.args = args
        self.plots = plots  # tools/plot_benchmarks.py as a module
        self.data = os.path.join(args.workspace, "docs", "data")
        self.commit = git(args.workspace, "rev-parse", "--short", "HEAD") or "unknown"
        if git(args.workspace, "status", "--porcelain", "--untracked-files=no"):
            self.commit += " (with uncommitted changes)"
        self.loads = {}  # section -> (load at start, load at end)
        self.errors = []

    # -- running one benchmark ---------------------------------------------

    def run(self, section, filename, shown_cmd, argv, timeout):
        """Runs argv, saves header + output + footer as docs/data/filename,
        returns (output lines, peak RSS of the child in MB, wall seconds);
        None if it failed (the failure is reported, the suite goes on)."""
        load0 = os.getloadavg()
        t0 = time.monotonic()
        print(f"bench: {section}: {shown_cmd}", flush=True)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        except OSError as e:
            self.errors.append(f"{section}: {e}")
            return None
        chunks = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()))
        reader.start()
        # Reaped here with wait4 for the child's own peak RSS (ru_maxrss).
        status, usage = None, None
        while status is None:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, usage = st, ru
            elif time.monotonic() - t0 > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                reader.join()
                self.errors.append(f"{section}: timed out after {timeout} s")
                return None
            else:
                time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join()
        out = "".join(chunks)
        wall = time.monotonic() - t0
        load1 = os.getloadavg()
        self.loads[section] = (load0[0], load1[0])
        peak_mb = usage.ru_maxrss / 1024
        if proc.returncode != 0:
            self.errors.append(f"{section}: exit status {proc.returncode}")
        header = [
            f"# command: {shown_cmd}",
            f"# build: -c opt, commit {self.commit}",
            f"# date: {utc_now()}",
            f"# machine: {machine()}",
            f"# load average at start: {fmt_load(load0)}",
        ]
        footer = [f"# wall: {wall:.0f} s", f"# load average at end: {fmt_load(load1)}"]
        if self.args.write:
            with open(os.path.join(self.data, filename), "w", encoding="utf-8") as f:
                f.write("\n".join(header) + "\n" + out.rstrip("\n") + "\n"
                        + "\n".join(footer) + "\n")
        return out.splitlines(), peak_mb, wall

    # -- the sections ---------------------------------------------------------

    def idle(self):
        q = self.args.quick
        extra = ["--seconds=5", "--sizes=1,3"] if q else \
            ["--seconds=20", "--profiles=lan,local", "--sizes=1,3,10"]
        r = self.script("idle", "cpu_bench.txt", "cpu_bench.py", extra, 900)
        return self.plots.parse_cpu_bench(r[0], "cpu_bench.txt") if r else None

    def density(self):
        extra = ["--sizes=10", "--settle=3"] if self.args.quick else \
            ["--sizes=30,60", "--settle=10"]
        r = self.script("density", "density_bench.txt", "density_bench.py", extra, 900)
        if not r:
            return None
        rows = {}
        for ln in r[0]:
            f = ln.split()
            if len(f) == 11 and f[0] in ("lan", "local", "wan") and f[1].isdigit():
                rows[int(f[1])] = {"joined": float(f[3]), "suspects": int(f[6]),
                                   "deaths": int(f[7]), "cpu": float(f[8])}
        return rows

    def real(self):
        runs = 2 if self.args.quick else 10
        r = self.script("real", "real_bench.txt", "real_bench.py",
                        [f"--runs={runs}"], 300 + 90 * runs)
        return self.plots.parse_real_bench(r[0], "real_bench.txt") if r else None

    def inproc(self):
        q = self.args.quick
        runs = [("lan", "100" if q else "100,1000", "10" if q else "60"),
                ("local", "" if q else "200", "")]
        out = []
        for profile, sizes, window in runs:
            if not sizes:
                continue
            flags = [f"--profile={profile}", f"--sizes={sizes}",
                     f"--rate_sizes={sizes if profile == 'lan' else ''}",
                     "--crash_reps=1", "--puts=5", f"--rate_window_s={window or 10}",
                     "--timeout_s=180"]
            r = self.binary("inproc", f"inproc_bench_{profile}.txt",
                            "//chaos/inproc:inproc_bench", self.args.inproc, flags, 1800)
            if r:
                out += [(profile, ln) for ln in r[0]]
        return parse_inproc_table(out)

    def rate(self):
        flags = ["--profile=lan", "--sizes=", "--rate_sizes=10,50,100"]
        if self.args.quick:
            flags.append("--rate_window_s=5")
        r = self.binary("rate", "inproc_rate.txt", "//chaos/inproc:inproc_bench",
                        self.args.inproc, flags, 900)
        return self.plots.parse_inproc_rate(r[0], "inproc_rate.txt") if r else None

    def sim(self):
        sizes = [int(x) for x in self.args.sim_sizes.split(",") if x]
        if self.args.quick:
            sizes = [n for n in sizes if n <= 100] or [30]
        rows = {}
        for n in sizes:
            flags = ["--scenario=crash", f"--nodes={n}", "--seed=1", "--quiet"]
            r = self.binary("sim", f"sim_bench_n{n}.txt", "//chaos:chaos",
                            self.args.chaos, flags, 7200)
            if not r:
                continue
            out, peak_mb, wall = r
            row = parse_sim(out)
            if row:
                row["peak_mb"], row["wall"] = peak_mb, wall
                rows[n] = row
        return rows

    def script(self, section, filename, script, extra, timeout):
        path = os.path.join(self.args.scripts, script)
        shown = (f"python3 chaos/real/{script} "
                 f"\"$(bazel info -c opt bazel-bin)/node/pekonode\" {' '.join(extra)}")
        return self.run(section, filename, shown,
                        [sys.executable, "-B", path, self.args.pekonode] + extra, timeout)

    def binary(self, section, filename, label, path, flags, timeout):
        shown = f"bazel run -c opt {label} -- {' '.join(flags)}"
        return self.run(section, filename, shown, [path] + flags, timeout)


# -- parsing --------------------------------------------------------------------

def parse_inproc_table(tagged_lines):
    """(profile, N, scenario) -> {outcome, p50, p99, max, cpu, note} from
    inproc_bench's closing table (fixed columns; times in seconds, rates in
    B/s)."""
    rows = {}
    in_table = False
    for profile, ln in tagged_lines:
        if ln.startswith("scenario "):
            in_table = True
            continue
        if not in_table or len(ln) < 18 or not ln[11:16].strip().isdigit():
            continue
        scenario, n = ln[:10].strip(), int(ln[11:16])
        row = {"outcome": ln[18:40].strip(), "note": ln[86:].strip()}
        for key, col in (("p50", ln[41:55]), ("p99", ln[56:70]), ("max", ln[71:85])):
            m = re.match(r"\s*([\d.]+) (ms|B/s)", col)
            if m:
                row[key] = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        cpu = re.search(r"process CPU ([\d.]+)%", row["note"])
        if cpu:
            row["cpu"] = float(cpu.group(1))
        rows[(profile, n, scenario)] = row
    return rows


def parse_sim(lines):
    row = {}
    for ln in lines:
        m = re.match(r"=== crash .*\((PASS|FAIL), ([\d.]+) s virtual in ([\d.]+) s wall\)", ln)
        if m:
            row.update(verdict=m.group(1), virtual=float(m.group(2)),
                       sim_wall=float(m.group(3)))
        f = ln.split()
        if len(f) >= 12 and f[0] == "crash" and f[1].isdigit():
            row["detect"] = None if f[3] == "never" else float(f[3].rstrip("s"))
            row["bytes"] = int(f[6])
    return row if "virtual" in row else None


# -- the table ------------------------------------------------------------------

def summary(res, memberlist):
    """Markdown rows: figure, measured, target, memberlist."""
    rows = []

    def add(figure, value, target="", ml=""):
        rows.append((figure, value, target, ml))

    def ml_fig(key):
        v = memberlist.get(key)
        if not v:
            return ""
        return f"{v[0]:g} s" if v[0] == v[1] else f"{v[0]:g}–{v[1]:g} s"

    idle = res.get("idle")
    if idle:
        for (profile, n), (mean, mx, rss, _load) in sorted(idle.items()):
            target = {("lan", 1): "≤ 0.5 %", ("local", 1): "≤ 1 %",
                      ("lan", 10): "≤ 1 %"}.get((profile, n), "")
            ml = "0.7–1.3 % (3 nodes)" if (profile, n) == ("local", 3) else ""
            add(f"CPU per node, {n} idle `{profile}` process{'es' if n > 1 else ''}",
                f"{mean:.2f} % (max {mx:.2f} %), RSS {rss:.0f} MB", target, ml)
    dens = res.get("density")
    if dens:
        for n, d in sorted(dens.items()):
            ml = {30: "2.0 s", 60: "4.2 s"}.get(n, "")
            add(f"{n} `lan` processes on one host: first start → all see all",
                f"{d['joined']:.2f} s, {d['suspects']} suspicions, "
                f"{d['cpu']:.2f} % CPU per node after", ml and f"≤ {ml}", ml)
    real = res.get("real")
    if real:
        labels = [("launch", "10 processes: launch → every node sees all", "≤ 0.5 s", "0.5 s"),
                  ("join", "10 processes: all up → every node sees all", "", ml_fig("real.join")),
                  ("kill9", "`kill -9` seen dead by all 10", "≤ 2.45 s", ml_fig("real.kill9")),
                  ("leave", "graceful leave seen by all", "", ml_fig("real.leave")),
                  ("restart", "restarted node alive everywhere", "", ml_fig("real.restart")),
                  ("put", "small put visible on 5 nodes", "", ml_fig("real.put")),
                  ("delete", "delete visible on 5 nodes", "", ml_fig("real.delete")),
                  ("512KiB", "512 KiB value on 5 nodes", "", ml_fig("real.512KiB")),
                  ("joiner", "late joiner reads the 512 KiB value", "≤ 0.11 s",
                   ml_fig("real.joiner"))]
        for key, label, target, ml in labels:
            xs = [x for x in real.get(key, []) if x is not None]
            missing = len(real.get(key, [])) - len(xs)
            if not xs:
                add(label, "timeout", target, ml)
                continue
            add(label, f"median {statistics.median(xs):.3f} s, max {max(xs):.3f} s"
                + (f", {missing} timed out" if missing else ""), target, ml)
    inproc = res.get("inproc") or {}
    for (profile, n, scenario), r in sorted(inproc.items()):
        what = {"join": "join through one seed, all see all",
                "crash": "crash seen dead by all", "rejoin": "restarted node alive everywhere",
                "leave": "graceful leave seen by all", "broadcast": "puts reaching every node",
                "bytes/s": "steady state: bytes/s sent per node"}.get(scenario, scenario)
        label = f"{n} nodes in one process (`{profile}`): {what}"
        if scenario == "bytes/s":
            value = (f"mean {r.get('p50', 0):.0f} B/s, max {r.get('max', 0):.0f} B/s"
                     + (f"; process CPU {r['cpu']:.1f} % of one core" if "cpu" in r else ""))
            target = "~200 B/s, ≤ 50 % CPU" if n >= 1000 else ""
        elif r["outcome"] != "ok" and "p50" not in r:
            value = r["outcome"]
            target = ""
        else:
            value = (f"p50 {r.get('p50', 0):.3f} s, max {r.get('max', 0):.3f} s"
                     + ("" if r["outcome"] == "ok" else f" ({r['outcome']})"))
            target = ""
        ml = {("join", 100): "2.6 s", ("join", 200): "5.6 s",
              ("crash", 100): "10.2 s"}.get((scenario, n), "")
        add(label, value, target, ml)
    rate = res.get("rate")
    if rate:
        add("steady state bytes/s sent per node, N = "
            + " / ".join(str(n) for n in sorted(rate)),
            " / ".join(f"{rate[n][0]:.0f}" for n in sorted(rate)), "flat in N")
    for n, s in sorted((res.get("sim") or {}).items()):
        speed = s["virtual"] / s["sim_wall"] if s["sim_wall"] > 0 else 0
        target = "≥ 20× real time" if n == 1000 else ("< 24 GiB" if n >= 10000 else "")
        add(f"simulator, {n} nodes (`crash`, every node's cores)",
            f"{speed:.1f}× real time ({s['virtual']:.0f} s in {s['sim_wall']:.1f} s), "
            f"peak {s['peak_mb'] / 1024:.2f} GB, crash seen dead by all in "
            f"{s['detect'] if s['detect'] is not None else 'never'} s, "
            f"{s['bytes']} B/node/s, {s['verdict']}", target)
    return rows


def render(suite, rows):
    a = suite.args
    loads = ", ".join(f"{k} {v[0]:.1f}→{v[1]:.1f}" for k, v in suite.loads.items())
    out = [BEGIN,
           f"Written by `bazel run -c opt //chaos:bench{' -- --quick' if a.quick else ''}` "
           f"on {utc_now()}: commit {suite.commit}, -c opt, {machine()}. "
           f"Load average (1 min) at the start → end of each section: {loads}. "
           "Raw outputs: `docs/data/` (files named in `chaos/bench.py`).",
           ""]
    if a.quick:
        out += ["**Quick run (`--quick`): reduced sizes, not the record.**", ""]
    if suite.errors:
        out += ["Failed: " + "; ".join(suite.errors), ""]
    out += ["| figure | measured | target | memberlist |", "|---|---|---|---|"]
    out += [f"| {f} | {v} | {t} | {m} |" for f, v, t, m in rows]
    out.append(END)
    return "\n".join(out)


def write_table(path, block):
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        raise SystemExit(f"bench: {path} has no {BEGIN} ... {END} markers")
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)


# -- helpers ----------------------------------------------------------------------

def git(cwd, *args):
    try:
        return subprocess.run(["git", "-C", cwd] + list(args), capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def fmt_load(load):
    return " ".join(f"{x:.2f}" for x in load)


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    model = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores"
            + (f" ({model})" if model else "") + f", {mem:.0f} GiB")


def load_plots(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("plot_benchmarks", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pekonode", required=True)
    ap.add_argument("--inproc", required=True)
    ap.add_argument("--chaos", required=True)
    ap.add_argument("--scripts", required=True, help="directory of chaos/real/*.py")
    ap.add_argument("--plot", required=True, help="tools/plot_benchmarks.py")
    ap.add_argument("--compilation_mode", default="opt")
    ap.add_argument("--workspace", default=os.environ.get("BUILD_WORKSPACE_DIRECTORY", ""))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--sim_sizes", default="100,1000",
                    help="simulated cluster sizes for the sim section (e.g. 100,1000,10000)")
    ap.add_argument("--no-write", dest="write", action="store_false",
                    help="print the table; change nothing under docs/")
    args = ap.parse_args()
    if args.compilation_mode != "opt":
        raise SystemExit("bench: build with -c opt (bazel run -c opt //chaos:bench)")
    if not args.workspace or not os.path.isdir(os.path.join(args.workspace, "docs")):
        raise SystemExit("bench: run through `bazel run` or give --workspace=DIR")
    only = [s for s in args.only.split(",") if s]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        raise SystemExit(f"bench: unknown section {', '.join(bad)}; sections: "
                         + ", ".join(SECTIONS))
    plots = load_plots(args.plot)
    suite = Suite(args, plots)
    memberlist = plots.parse_memberlist(
        plots.read(os.path.join(suite.data, "memberlist.txt")))
    results = {}
    for section in SECTIONS:
        if section in only:
            results[section] = getattr(suite, section)()
    block = render(suite, summary(results, memberlist))
    print(block)
    if args.write:
        write_table(os.path.join(args.workspace, "docs", "BENCHMARKS.md"), block)
        # Debian's python3 has python3-matplotlib; another python3 first
        # on PATH may not.
        py = next((p for p in ("/usr/bin/python3", sys.executable)
                   if os.path.exists(p) and subprocess.run(
                       [p, "-c", "import matplotlib"], capture_output=True).returncode == 0),
                  None)
        if py:
            subprocess.run([py, "-B", args.plot, f"--data={suite.data}",
                            f"--out={os.path.join(args.workspace, 'docs', 'img')}"],
                           check=False)
        else:
            print("bench: python3-matplotlib missing: plots not redrawn", flush=True)
    if suite.errors:
        print("bench: failed sections: " + "; ".join(suite.errors), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
