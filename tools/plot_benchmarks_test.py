"""tools/plot_benchmarks.py: its parsers read the benchmarks' printed
formats, refuse data missing a plotted figure, and the script draws every
plot from the committed docs/data into well-formed SVG files.

    python3 tools/plot_benchmarks_test.py PLOT_SCRIPT DATA_DIR
"""
import importlib.util
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

SCRIPT, DATA = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
spec = importlib.util.spec_from_file_location("plot_benchmarks", SCRIPT)
pb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pb)

PLOTS = ["memberlist_ratio", "real_latencies", "detection_times",
         "bytes_per_node", "idle_cpu"]


class Parsers(unittest.TestCase):
    def test_membership_bench_lines(self):
        lines = [
            "profile lan, seeds 12345 777 4242",
            "join N=100 through one seed (3 seeds): all see 100 alive after max 0.40 s; "
            "all see all 100 alive after p50 0.89 s, max 1.05 s  [target: ...]",
            "join N=200 through one seed (3 seeds): all see 100 alive after max 0.40 s; "
            "all see all 200 alive after p50 1.01 s, max 1.11 s  [target: ...]",
            "crash detection N=100 (3 seeds, 297 observations): p50 10.40 s, "
            "p99 10.95 s, max 11.02 s  [target p99 <= 16 s]",
            "steady state N=10: mean 188 B/s, max 250 B/s per node (incl. 76 B/datagram)"
            "  [target <= 250]",
        ]
        d = pb.parse_membership_bench(lines)
        self.assertEqual(d["join"][100], (0.89, 1.05))
        self.assertEqual(d["join"][200], (1.01, 1.11))
        self.assertEqual(d["crash"]["obs"], 297)
        self.assertEqual(d["crash"]["p99"], 10.95)
        self.assertEqual(d["bytes"], {10: (188.0, 250.0)})
        with self.assertRaises(pb.DataError):
            pb.parse_membership_bench(lines[:2])

    def test_metadata_idle_rows_only_in_their_section(self):
        lines = ["== joiner", "N=5 1.0 B/s  9.00 datagrams/s",
                 "== steady state, stores agree (metadata only)",
                 "N=10        98.0 B/s    1.00 datagrams/s per node (sent; converged: yes)",
                 "N=1000      98.2 B/s    1.00 datagrams/s per node (sent; converged: yes)"]
        self.assertEqual(pb.parse_metadata_bench(lines)["idle"], {10: 98.0, 1000: 98.2})
        with self.assertRaises(pb.DataError):
            pb.parse_metadata_bench(lines[:2])

    def test_chaos_table(self):
        lines = [
            "scenario               seed                 nodes  mem_conv  rounds   "
            "md_conv  mem_B/n/s  md_B/n/s  FP INC LOST verdict",
            "crash                  1                      100      8.5s     8.5      "
            "0.0s        336       242   0   0    0 PASS",
            "crash                  2                      100     never       -      "
            "0.0s        336       242   0   0    0 FAIL",
            "crash_other            3                      100      1.0s     1.0      "
            "0.0s        336       242   0   0    0 PASS",
        ]
        rows = pb.parse_chaos_table(lines, "crash")
        self.assertEqual(rows[1], {"mem_conv": 8.5, "nodes": 100, "verdict": "PASS"})
        self.assertIsNone(rows[2]["mem_conv"])
        self.assertNotIn(3, rows)

    def test_real_bench_runs_and_timeouts(self):
        lines = ["  processes up after 0.4 s",
                 "run 1: launch 0.550 s, join 0.140 s, kill9 0.930 s, restart 0.100 s, "
                 "leave 0.061 s, put 0.014 s, delete 0.013 s, 512KiB 0.200 s, joiner 0.270 s",
                 "run 2: launch 0.600 s, join 0.150 s, kill9 timeout, restart 0.110 s, "
                 "leave 0.070 s, put 0.015 s, delete 0.012 s, 512KiB 0.210 s, joiner 0.280 s"]
        runs = pb.parse_real_bench(lines)
        self.assertEqual(runs["kill9"], [0.93, None])
        self.assertEqual(runs["512KiB"], [0.2, 0.21])
        self.assertAlmostEqual(pb.median(runs["join"]), 0.145)
        with self.assertRaises(pb.DataError):
            pb.parse_real_bench(lines[:2] + ["run 2: launch 0.600 s"])

    def test_cpu_and_inproc_rows(self):
        cpu = pb.parse_cpu_bench([
            "profile     N  cpu%/node mean    max  RSS MB  load avg",
            "lan         3            0.31   0.40    16.9      9.50"])
        self.assertEqual(cpu[("lan", 3)], (0.31, 0.40, 16.9, 9.5))
        cpu = pb.parse_cpu_bench([
            "profile     N  cpu%/node mean    max  RSS MB  load avg wakeups/s",
            "local       1            0.02   0.02    17.3      3.10       1.5"])
        self.assertEqual(cpu[("local", 1)], (0.02, 0.02, 17.3, 3.1))
        rate = pb.parse_inproc_rate([
            "  bytes/s    N=50   mean 105 B/s        p99 130 B/s        max 131 B/s"
            "        out per node (mean in p50); in 104 B/s, 1.4 dgram/s out"])
        self.assertEqual(rate, {50: (105.0, 130.0, 131.0)})

    def test_memberlist_figures_and_ranges(self):
        d = pb.parse_memberlist(["real.put 0.1 1.6", "real.join 0.18", ""])
        self.assertEqual(d["real.put"], (0.1, 1.6))
        self.assertEqual(d["real.join"], (0.18, 0.18))
        with self.assertRaises(pb.DataError):
            pb.parse_memberlist(["real.put fast"])


class CommittedData(unittest.TestCase):
    def test_every_plot_is_drawn_from_docs_data(self):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as out:
            self.assertEqual(pb.main(["--data", DATA, "--out", out]), 0)
            for name in PLOTS:
                path = os.path.join(out, name + ".svg")
                self.assertTrue(os.path.exists(path), path)
                root = ET.parse(path).getroot()
                self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
                self.assertGreater(os.path.getsize(path), 5000, path)

    def test_missing_file_is_a_clear_error(self):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as d:
            self.assertEqual(pb.main(["--data", d, "--out", d]), 1)


if __name__ == "__main__":
    os.environ.setdefault("MPLCONFIGDIR",
                          os.path.join(os.environ.get("TEST_TMPDIR", tempfile.gettempdir()),
                                       "mpl"))
    unittest.main()
