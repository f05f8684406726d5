"""pekonode(1), generated from the binary's flag table by
tools/gen_manpage.py: every flag the node defines is documented, and the
page renders without roff warnings.

    manpage_test.py PEKONODE_BINARY GEN_MANPAGE
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "chaos", "real"))
import junit  # noqa: E402
from junit import check  # noqa: E402
from procs import helpxml_flags  # noqa: E402

BINARY = GEN = None


def page():
    r = subprocess.run([sys.executable, GEN, BINARY, "1.2.3"],
                       capture_output=True, timeout=60)
    check(r.returncode == 0, f"gen_manpage failed: {r.stderr.decode()}")
    return r.stdout.decode()


def test_every_node_flag_is_documented():
    text = page()
    flags = helpxml_flags(BINARY)
    node_flags = [n for n, f in flags.items() if f["file"].startswith("node/")]
    check(len(node_flags) >= 12, f"node flags: {node_flags}")
    for name in node_flags + ["v", "minloglevel"]:
        check(f"\\fB\\-\\-{name.replace('-', chr(92) + '-')}\\fR" in text,
              f"--{name} missing from the page")
    for section in ("SYNOPSIS", "OPTIONS", "CONFIGURATION FILE", "SIGNALS",
                    "FILES", "EXIT STATUS"):
        check(f".SH {section}" in text, f"section {section}")
    check("flagfile" in text and "SIGHUP" in text, "--flagfile and SIGHUP documented")
    check('"pekonode 1.2.3"' in text, "version in the header")


def test_page_renders_without_warnings():
    if shutil.which("groff") is None:
        print("note: groff not installed; rendering not checked")
        return
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"],
                       input=page().encode(), capture_output=True, timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(),
          f"groff warnings: {r.stderr.decode()}")


def main():
    global BINARY, GEN
    BINARY, GEN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    return junit.run("ManPage", [
        ("EveryNodeFlagIsDocumented", test_every_node_flag_is_documented),
        ("PageRendersWithoutWarnings", test_page_renders_without_warnings),
    ])


if __name__ == "__main__":
    sys.exit(main())
