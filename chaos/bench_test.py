"""Tests of chaos/bench.py on saved outputs: its parsers, the summary table
and how the table replaces the marked block of BENCHMARKS.md. No benchmark
is run."""
import argparse
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

PLOTS = bench.load_plots(os.path.join(os.path.dirname(HERE), "tools", "plot_benchmarks.py"))

INPROC = """\
== N=100 (lan)
  join       N=100  ok (100/100)         p50 340.1 ms ...

command: inproc_bench --profile=lan --sizes=100,1000
scenario       N  outcome                p50            p99            max            note
join         100  ok                     340.1 ms       780.0 ms       820.5 ms       all N see all N alive; no drops
crash         99  ok                     9120.0 ms      9900.0 ms      10030.0 ms     node-7: others see dead
broadcast     99  5/5 reached all        110.0 ms       160.0 ms       160.0 ms       time to all nodes per put
join        1000  timeout (0/1000)                                                    all N see all N alive; drops: (stats unanswered)=803
bytes/s     1000  ok                     212 B/s        260 B/s        301 B/s        out per node (mean in p50); in 210 B/s, 3.1 dgram/s out; process CPU 41.5% of one core
""".splitlines()

SIM = """\
=== crash  seed=1  nodes=1000  engine=cores  (PASS, 262.5 s virtual in 60.25 s wall)
  reproduce: chaos --scenario=crash --nodes=1000 --seed=1

scenario               seed                 nodes  mem_conv  rounds   md_conv  mem_B/n/s  md_B/n/s  FP INC LOST verdict
crash                  1                     1000     15.5s    15.5      0.0s        431       355   0   0    0 PASS
1 passed, 0 failed
""".splitlines()

REAL = """\
run 1: launch 0.456 s, join 0.069 s, kill9 0.855 s, restart 0.012 s, leave 0.011 s, put 0.006 s, delete 0.005 s, 512KiB 0.125 s, joiner 0.075 s
run 2: launch 0.872 s, join timeout, kill9 1.283 s, restart 0.027 s, leave 0.013 s, put 0.005 s, delete 0.005 s, 512KiB 0.156 s, joiner 0.063 s
""".splitlines()


def suite(quick=False, errors=()):
    args = argparse.Namespace(quick=quick, workspace=HERE, write=False)
    s = bench.Suite.__new__(bench.Suite)
    s.args, s.plots, s.commit = args, PLOTS, "abc1234"
    s.loads = {"inproc": (1.5, 2.5)}
    s.errors = list(errors)
    return s


class Parsers(unittest.TestCase):
    def test_inproc_table_rows(self):
        rows = bench.parse_inproc_table([("lan", ln) for ln in INPROC])
        self.assertEqual(rows[("lan", 100, "join")]["p50"], 0.3401)
        self.assertEqual(rows[("lan", 100, "join")]["max"], 0.8205)
        self.assertEqual(rows[("lan", 99, "broadcast")]["outcome"], "5/5 reached all")
        self.assertEqual(rows[("lan", 1000, "join")]["outcome"], "timeout (0/1000)")
        self.assertNotIn("p50", rows[("lan", 1000, "join")])
        rate = rows[("lan", 1000, "bytes/s")]
        self.assertEqual((rate["p50"], rate["max"], rate["cpu"]), (212, 301, 41.5))
        self.assertEqual(len(rows), 5, "progress lines before the table are not rows")

    def test_sim_run(self):
        row = bench.parse_sim(SIM)
        self.assertEqual(row["verdict"], "PASS")
        self.assertEqual((row["virtual"], row["sim_wall"]), (262.5, 60.25))
        self.assertEqual((row["detect"], row["bytes"]), (15.5, 431))
        self.assertIsNone(bench.parse_sim(["garbage", ""]))


class Table(unittest.TestCase):
    def rows(self):
        res = {
            "inproc": bench.parse_inproc_table([("lan", ln) for ln in INPROC]),
            "real": PLOTS.parse_real_bench(REAL),
            "sim": {1000: dict(bench.parse_sim(SIM), peak_mb=700.0, wall=61.0)},
            "idle": {("lan", 1): (0.01, 0.02, 17.3, 1.0)},
        }
        memberlist = {"real.kill9": (4.9, 4.9), "real.put": (0.1, 1.6)}
        return bench.summary(res, memberlist)

    def test_figures_targets_and_memberlist(self):
        rows = {r[0]: r[1:] for r in self.rows()}
        self.assertEqual(rows["`kill -9` seen dead by all 10"],
                         ("median 1.069 s, max 1.283 s", "≤ 2.45 s", "4.9 s"))
        self.assertEqual(rows["small put visible on 5 nodes"][2], "0.1–1.6 s")
        self.assertEqual(rows["10 processes: all up → every node sees all"][0],
                         "median 0.069 s, max 0.069 s, 1 timed out")
        self.assertEqual(rows["1000 nodes in one process (`lan`): join through one seed, "
                              "all see all"][0], "timeout (0/1000)")
        rate = rows["1000 nodes in one process (`lan`): steady state: bytes/s sent per node"]
        self.assertIn("process CPU 41.5 % of one core", rate[0])
        sim = rows["simulator, 1000 nodes (`crash`, every node's cores)"]
        self.assertTrue(sim[0].startswith("4.4× real time (262 s in 60.2 s), peak 0.68 GB"))
        self.assertEqual(sim[1], "≥ 20× real time")
        self.assertEqual(rows["CPU per node, 1 idle `lan` process"][1], "≤ 0.5 %")

    def test_render_and_replace(self):
        block = bench.render(suite(quick=True, errors=["sim: timed out after 5 s"]),
                             self.rows())
        self.assertTrue(block.startswith(bench.BEGIN) and block.endswith(bench.END))
        self.assertIn("Quick run", block)
        self.assertIn("Failed: sim: timed out after 5 s", block)
        self.assertIn("inproc 1.5→2.5", block)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "B.md")
            with open(path, "w") as f:
                f.write(f"# title\n\n{bench.BEGIN}\nold\n{bench.END}\n\n## rest\n")
            bench.write_table(path, block)
            with open(path) as f:
                doc = f.read()
            self.assertTrue(doc.startswith("# title\n\n" + bench.BEGIN))
            self.assertNotIn("\nold\n", doc)
            self.assertTrue(doc.endswith(bench.END + "\n\n## rest\n"))
            with open(path, "w") as f:
                f.write("# no markers\n")
            with self.assertRaises(SystemExit):
                bench.write_table(path, block)

    def test_checked_in_document_has_the_markers(self):
        with open(os.path.join(os.path.dirname(HERE), "docs", "BENCHMARKS.md")) as f:
            doc = f.read()
        self.assertEqual(doc.count(bench.BEGIN), 1)
        self.assertEqual(doc.count(bench.END), 1)


if __name__ == "__main__":
    unittest.main()
