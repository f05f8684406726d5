#!/usr/bin/python3
"""Plots of pekonode's benchmark figures for docs/BENCHMARKS.md.

    python3 tools/plot_benchmarks.py [--data=docs/data] [--out=docs/img]
                                     [--format=svg|png]

Needs matplotlib: `apt-get install python3-matplotlib` (Debian 12 ships
3.6; tools/setup.sh installs it because a CI test runs this script). Reads
only the benchmark outputs saved under docs/data, so the plots are redrawn
in seconds without re-running hours of benchmarks; fails with a message
naming the file when a figure it plots is missing from them.

The saved outputs, and how each was produced (every file starts with
`#` lines giving its command, build, date and the machine's load; the rest
is the program's output as printed):

  membership_bench.txt  bazel run -c opt //membership:membership_bench
  metadata_bench.txt    bazel run -c opt //metadata:metadata_bench -- --seeds=5
  chaos_crash_n100.txt  bazel run -c opt //chaos:chaos -- --scenario=crash
                        --nodes=100 --seed=1 --seeds=30 --quiet
  real_bench.txt        bazel build -c opt //node:pekonode && python3
                        chaos/real/real_bench.py
                        "$(bazel info -c opt bazel-bin)/node/pekonode" --runs=20
  cpu_bench.txt         bazel build -c opt //node:pekonode && python3
                        chaos/real/cpu_bench.py
                        "$(bazel info -c opt bazel-bin)/node/pekonode"
                        --seconds=20 --profiles=lan,local --sizes=1,3,10
  inproc_rate.txt       bazel run -c opt //chaos/inproc:inproc_bench --
                        --profile=lan --sizes= --rate_sizes=10,50,100
  memberlist.txt        the figures measured for memberlist on the same kind
                        of machine, as docs/BENCHMARKS.md quotes them (typed
                        in; no program here produces them)

To refresh one, run its command with its output appended to a file that
starts with the same `#` header lines, then re-run this script.

Plots written (SVG by default):

  memberlist_ratio      pekonode / memberlist time per operation
  real_latencies        every real-process run per operation, memberlist marked
  detection_times       crash detection: simulator seeds and kill -9 runs
  bytes_per_node        steady-state bytes/s per node against N
  idle_cpu              idle CPU per node of real processes
"""
import argparse
import math
import os
import re
import sys


class DataError(Exception):
    pass


def read(path):
    """The lines of a saved output without its '#' header/footer lines."""
    try:
        with open(path, encoding="utf-8") as f:
            return [ln.rstrip("\n") for ln in f if not ln.startswith("#")]
    except OSError as e:
        raise DataError(f"{path}: {e.strerror}") from e


def need(value, path, what):
    if value is None or (isinstance(value, (list, dict)) and not value):
        raise DataError(f"{path}: no {what} found")
    return value


# -- parsers (each takes the lines of one file) --------------------------------

def parse_membership_bench(lines, path="membership_bench.txt"):
    out = {"join": {}, "bytes": {}}
    for ln in lines:
        m = re.search(r"join N=(\d+) through one seed .*all see all \d+ alive after "
                      r"p50 ([\d.]+) s, max ([\d.]+) s", ln)
        if m:
            out["join"][int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
        m = re.search(r"crash detection N=(\d+) \(\d+ seeds, (\d+) observations\): "
                      r"p50 ([\d.]+) s, p99 ([\d.]+) s, max ([\d.]+) s", ln)
        if m:
            out["crash"] = {"n": int(m.group(1)), "obs": int(m.group(2)),
                            "p50": float(m.group(3)), "p99": float(m.group(4)),
                            "max": float(m.group(5))}
        m = re.search(r"steady state N=(\d+): mean ([\d.]+) B/s, max ([\d.]+) B/s", ln)
        if m:
            out["bytes"][int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    need(out["join"].get(100), path, "'join N=100' line")
    need(out["join"].get(200), path, "'join N=200' line")
    need(out.get("crash"), path, "'crash detection' line")
    need(out["bytes"], path, "'steady state N=...' lines")
    return out


def parse_metadata_bench(lines, path="metadata_bench.txt"):
    idle = {}
    in_section = False
    for ln in lines:
        if ln.startswith("== "):
            in_section = ln.startswith("== steady state")
            continue
        m = re.match(r"N=(\d+)\s+([\d.]+) B/s\s+([\d.]+) datagrams/s", ln)
        if in_section and m:
            idle[int(m.group(1))] = float(m.group(2))
    return {"idle": need(idle, path, "'== steady state' rows")}


def parse_chaos_table(lines, scenario, path="chaos table"):
    """Verdict rows of `scenario`: seed -> mem_conv seconds (None: never)."""
    rows = {}
    for ln in lines:
        f = ln.split()
        if len(f) >= 12 and f[0] == scenario and f[1].isdigit() and f[-1] in ("PASS", "FAIL"):
            conv = None if f[3] == "never" else float(f[3].rstrip("s"))
            rows[int(f[1])] = {"mem_conv": conv, "nodes": int(f[2]), "verdict": f[-1]}
    return need(rows, path, f"verdict rows of {scenario}")


REAL_KEYS = ["launch", "join", "kill9", "restart", "leave", "put", "delete",
             "512KiB", "joiner"]


def parse_real_bench(lines, path="real_bench.txt"):
    """Per measure, the value of every run (None where it timed out)."""
    runs = {k: [] for k in REAL_KEYS}
    n = 0
    for ln in lines:
        if not re.match(r"run \d+: ", ln):
            continue
        n += 1
        for key, val in re.findall(r"(\w+) (timeout|[\d.]+ s)", ln.split(":", 1)[1]):
            if key in runs:
                runs[key].append(None if val == "timeout" else float(val[:-2]))
    need(n or None, path, "'run N:' lines")
    for k, v in runs.items():
        if len(v) != n:
            raise DataError(f"{path}: measure {k} in {len(v)} of {n} runs")
    return runs


def parse_cpu_bench(lines, path="cpu_bench.txt"):
    """(profile, N) -> (cpu % of a core mean, max, RSS MB, load average).
    Later runs end each row with wake-ups per second, which is not plotted."""
    out = {}
    for ln in lines:
        f = ln.split()
        if len(f) in (6, 7) and f[0] in ("lan", "local", "wan") and f[1].isdigit():
            out[(f[0], int(f[1]))] = tuple(float(x) for x in f[2:6])
    return need(out, path, "profile rows")


def parse_inproc_rate(lines, path="inproc_rate.txt"):
    """N -> (mean, p99, max) bytes/s sent per node on real UDP."""
    out = {}
    for ln in lines:
        m = re.search(r"bytes/s\s+N=(\d+)\s+mean ([\d.]+) B/s\s+p99 ([\d.]+) B/s\s+"
                      r"max ([\d.]+) B/s", ln)
        if m:
            out[int(m.group(1))] = tuple(float(m.group(i)) for i in (2, 3, 4))
    return need(out, path, "'bytes/s N=...' lines")


def parse_memberlist(lines, path="memberlist.txt"):
    """name -> (low, high): one figure, or a range that was measured."""
    out = {}
    for ln in lines:
        f = ln.split()
        if not f:
            continue
        try:
            vals = [float(x) for x in f[1:3]]
        except ValueError as e:
            raise DataError(f"{path}: bad line {ln!r}") from e
        if not vals:
            raise DataError(f"{path}: no figure on line {ln!r}")
        out[f[0]] = (vals[0], vals[-1])
    return need(out, path, "figures")


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


# -- plots ---------------------------------------------------------------------

# (real_bench measure, memberlist figure, label)
REAL_VS_MEMBERLIST = [
    ("join", "real.join", "join: 10 nodes up → full view"),
    ("kill9", "real.kill9", "crash (kill -9) seen dead by all"),
    ("leave", "real.leave", "graceful leave seen by all"),
    ("restart", "real.restart", "rejoin: restarted node alive everywhere"),
    ("put", "real.put", "small put on 5 nodes"),
    ("512KiB", "real.512KiB", "512 KiB value on 5 nodes"),
    ("delete", "real.delete", "delete on 5 nodes"),
    ("joiner", "real.joiner", "seed blob: joiner reads 512 KiB"),
]


def fmt_s(x):
    return f"{x:.2g} s" if x < 1 else f"{x:.3g} s"


def plot_memberlist_ratio(plt, d, out):
    real, ml, mb = d["real"], d["memberlist"], d["membership"]
    rows = []  # (label, pekonode, (ml lo, ml hi))
    for key, mkey, label in REAL_VS_MEMBERLIST:
        rows.append((label, need(median(real[key]), "real_bench.txt", key),
                     need(ml.get(mkey), "memberlist.txt", mkey)))
    sim = [
        ("join N=100 (simulator, p50)", mb["join"][100][0], ml.get("sim.join100")),
        ("join N=200 (simulator, p50)", mb["join"][200][0], ml.get("sim.join200")),
        ("crash seen dead, N=100 (sim. p50)", mb["crash"]["p50"], ml.get("sim.crash100")),
    ]
    for label, p, m in sim:
        rows.append((label, p, need(m, "memberlist.txt", label)))
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    ys = list(range(len(rows)))[::-1]
    for y, (label, p, (lo, hi)) in zip(ys, rows):
        r_best, r_worst = p / hi, p / lo  # memberlist's range as a range of ratios
        colour = "#2e7d32" if r_worst < 1 else ("#c62828" if r_best > 1 else "#888888")
        # From parity (1) to the ratio: left of 1 is faster.
        ax.barh(y, r_worst - 1, left=1, color=colour, alpha=0.75, height=0.6)
        if hi != lo:
            ax.plot([r_best, r_worst], [y, y], color="black", lw=1.2)
            ax.plot([r_best], [y], "|", color="black", ms=10)
        span = f"{fmt_s(lo)}" if lo == hi else f"{lo:g}–{hi:g} s"
        ax.text(max(r_worst, r_best, 1) * 1.15, y, f"{fmt_s(p)} vs {span}",
                va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(3e-4, 100)
    ax.axvline(1, color="black", lw=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([r[0] for r in rows], fontsize=8.5)
    ax.set_xlabel("pekonode time / memberlist time (log; left of 1: pekonode faster)")
    ax.set_title("pekonode / memberlist: top 8 on real processes (loopback, local "
                 "profile, median of 20 runs),\nlast 3 in the simulator (lan "
                 "profile); whiskers span memberlist's measured range",
                 fontsize=9)
    ax.grid(axis="x", which="major", color="#dddddd")
    fig.tight_layout()
    return save(plt, fig, out, "memberlist_ratio")


def plot_real_latencies(plt, d, out):
    real, ml = d["real"], d["memberlist"]
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    ys = list(range(len(REAL_VS_MEMBERLIST)))[::-1]
    for y, (key, mkey, label) in zip(ys, REAL_VS_MEMBERLIST):
        vals = [v for v in real[key] if v is not None]
        n = len(vals)
        jitter = [((i * 37) % 11 - 5) / 40 for i in range(n)]
        ax.scatter(vals, [y + j for j in jitter], s=10, color="#2c6fbb", alpha=0.7,
                   label="pekonode, one run" if y == ys[0] else None, zorder=3)
        med = median(vals)
        ax.plot([med, med], [y - 0.3, y + 0.3], color="#2c6fbb", lw=2,
                label="pekonode median" if y == ys[0] else None, zorder=3)
        lo, hi = ml[mkey]
        ax.plot([lo, hi] if hi != lo else [lo], [y] * (2 if hi != lo else 1),
                marker="D", color="#c62828", lw=2, ms=5,
                label="memberlist" if y == ys[0] else None, zorder=2)
        missed = len(real[key]) - n
        if missed:
            ax.text(2e3, y, f"{missed} timed out", fontsize=7, va="center")
    ax.set_xscale("log")
    ax.set_yticks(ys)
    ax.set_yticklabels([r[2] for r in REAL_VS_MEMBERLIST], fontsize=8.5)
    ax.set_xlabel("seconds (log)")
    ax.set_title(f"Real processes on loopback (local profile): every one of "
                 f"{len(real['join'])} runs", fontsize=9)
    ax.grid(axis="x", which="both", color="#eeeeee")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save(plt, fig, out, "real_latencies")


def ecdf(ax, xs, **kw):
    xs = sorted(xs)
    n = len(xs)
    ax.step([xs[0]] + xs, [0] + [(i + 1) / n for i in range(n)], where="post", **kw)


def plot_detection(plt, d, out):
    chaos, mb, ml, real = d["chaos_crash"], d["membership"], d["memberlist"], d["real"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    conv = [r["mem_conv"] for r in chaos.values() if r["mem_conv"] is not None]
    never = len(chaos) - len(conv)
    n = next(iter(chaos.values()))["nodes"]
    ecdf(a, conv, color="#2c6fbb", lw=2,
         label=f"chaos crash, N={n}: {len(chaos)} seeds")
    c = mb["crash"]
    for q, style in (("p50", ":"), ("p99", "--")):
        a.axvline(c[q], color="#555555", ls=style, lw=1,
                  label=f"membership_bench per observer {q} ({c[q]:.2f} s)")
    lo, hi = ml["sim.crash100"]
    a.axvline(lo, color="#c62828", lw=1.5, label=f"memberlist, N=100 ({lo:g} s)")
    a.set_xlabel("crash → seen dead by every node (s, virtual)")
    a.set_ylabel("share of runs")
    a.set_title("Simulator, lan profile" + (f" ({never} never)" if never else ""),
                fontsize=9)
    a.legend(fontsize=7, loc="upper left")
    a.grid(color="#eeeeee")
    kills = [v for v in real["kill9"] if v is not None]
    ecdf(b, kills, color="#2c6fbb", lw=2, label=f"pekonode: {len(kills)} runs")
    lo, hi = ml["real.kill9"]
    b.axvline(lo, color="#c62828", lw=1.5, label=f"memberlist ({lo:g} s)")
    b.set_xlabel("kill -9 → seen dead by all 9 others (s)")
    b.set_title("Real processes, 10 nodes, loopback, local profile", fontsize=9)
    b.set_xlim(0, max(lo, max(kills)) * 1.1)
    b.legend(fontsize=7, loc="lower right")
    b.grid(color="#eeeeee")
    fig.tight_layout()
    return save(plt, fig, out, "detection_times")


def plot_bytes(plt, d, out):
    mb, md, inproc = d["membership"], d["metadata"], d["inproc"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ns = sorted(mb["bytes"])
    ax.plot(ns, [mb["bytes"][n][0] for n in ns], "o-", color="#2c6fbb",
            label="membership, simulator: mean")
    ax.plot(ns, [mb["bytes"][n][1] for n in ns], "o:", color="#2c6fbb", alpha=0.6,
            label="membership, simulator: busiest node")
    ns = sorted(md["idle"])
    ax.plot(ns, [md["idle"][n] for n in ns], "s-", color="#e67e22",
            label="metadata when stores agree, simulator")
    ns = sorted(inproc)
    ax.plot(ns, [inproc[n][0] for n in ns], "^-", color="#2e7d32",
            label="both layers, real UDP in one process: mean")
    ax.axhline(250, color="#c62828", ls="--", lw=1, label="membership target (250 B/s)")
    ax.set_xscale("log")
    ax.set_ylim(0, max(400, ax.get_ylim()[1]))
    ax.set_xlabel("cluster size N (log)")
    ax.set_ylabel("bytes/s sent per node")
    ax.set_title("Steady-state traffic per node does not grow with N "
                 "(lan profile; incl. IP/UDP/envelope)", fontsize=9)
    ax.legend(fontsize=7.5)
    ax.grid(color="#eeeeee")
    fig.tight_layout()
    return save(plt, fig, out, "bytes_per_node")


def plot_cpu(plt, d, out):
    cpu, ml = d["cpu"], d["memberlist"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    profiles = sorted({p for p, _ in cpu})
    sizes = sorted({n for _, n in cpu})
    width = 0.8 / len(profiles)
    colours = {"lan": "#2c6fbb", "local": "#e67e22", "wan": "#2e7d32"}
    for k, p in enumerate(profiles):
        xs = [i + (k - (len(profiles) - 1) / 2) * width for i in range(len(sizes))]
        means = [cpu[(p, n)][0] * 10 if (p, n) in cpu else 0 for n in sizes]
        maxes = [cpu[(p, n)][1] * 10 if (p, n) in cpu else 0 for n in sizes]
        ax.bar(xs, means, width=width * 0.9, color=colours.get(p, "#888888"),
               label=f"pekonode, {p} profile: mean")
        ax.plot(xs, maxes, "_", color="black", ms=12,
                label="busiest node" if k == 0 else None)
    lo, hi = ml["idle_cpu_percent"]
    ax.axhspan(lo * 10, hi * 10, color="#c62828", alpha=0.15,
               label=f"memberlist, 3 idle nodes, local config ({lo * 10:g}–{hi * 10:g})")
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels([f"N={n}" for n in sizes])
    ax.set_ylabel("CPU per node (millicores)")
    loads = [v[3] for v in cpu.values()]
    ax.set_title("Idle CPU per real process (1000 millicores = one core; "
                 f"load average {min(loads):.0f}–{max(loads):.0f} during the runs)",
                 fontsize=9)
    ax.legend(fontsize=7.5)
    ax.grid(axis="y", color="#eeeeee")
    fig.tight_layout()
    return save(plt, fig, out, "idle_cpu")


FORMAT = "svg"


def save(plt, fig, out, name):
    path = os.path.join(out, f"{name}.{FORMAT}")
    # No creation date: the same data gives the same file.
    meta = {"Date": None} if FORMAT == "svg" else {}
    fig.savefig(path, format=FORMAT, metadata=meta, dpi=110)
    plt.close(fig)
    return path


def load(data):
    p = lambda name: os.path.join(data, name)  # noqa: E731
    return {
        "membership": parse_membership_bench(read(p("membership_bench.txt")),
                                             p("membership_bench.txt")),
        "metadata": parse_metadata_bench(read(p("metadata_bench.txt")),
                                         p("metadata_bench.txt")),
        "chaos_crash": parse_chaos_table(read(p("chaos_crash_n100.txt")), "crash",
                                         p("chaos_crash_n100.txt")),
        "real": parse_real_bench(read(p("real_bench.txt")), p("real_bench.txt")),
        "cpu": parse_cpu_bench(read(p("cpu_bench.txt")), p("cpu_bench.txt")),
        "inproc": parse_inproc_rate(read(p("inproc_rate.txt")), p("inproc_rate.txt")),
        "memberlist": parse_memberlist(read(p("memberlist.txt")), p("memberlist.txt")),
    }


def main(argv=None):
    global FORMAT
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(root, "docs", "data"))
    ap.add_argument("--out", default=os.path.join(root, "docs", "img"))
    ap.add_argument("--format", choices=("svg", "png"), default="svg")
    args = ap.parse_args(argv)
    FORMAT = args.format
    try:
        d = load(args.data)
    except DataError as e:
        print(f"plot_benchmarks: {e}", file=sys.stderr)
        return 1
    try:
        import matplotlib
    except ImportError:
        print("plot_benchmarks: needs matplotlib (apt-get install python3-matplotlib)",
              file=sys.stderr)
        return 1
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"      # text stays text
    matplotlib.rcParams["svg.hashsalt"] = "pekonode"  # stable element ids
    import matplotlib.pyplot as plt
    os.makedirs(args.out, exist_ok=True)
    try:
        for f in (plot_memberlist_ratio, plot_real_latencies, plot_detection,
                  plot_bytes, plot_cpu):
            print(f(plt, d, args.out))
    except DataError as e:
        print(f"plot_benchmarks: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
