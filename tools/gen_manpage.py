#!/usr/bin/env python3
"""Writes the pekonode(1) man page from the binary's own flag table.

    gen_manpage.py PEKONODE_BINARY [VERSION] > pekonode.1

Reads `pekonode --helpxml` (gflags), so every flag the binary defines in
node/ appears with its help text and default, and the page cannot drift
from the code. glog's commonly used flags follow in their own section.
Standard library only.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

# glog flags worth listing (the binary accepts all of glog's flags).
LOG_FLAGS = ["log_format", "v", "vmodule", "minloglevel", "logtostderr",
             "log_dir", "stderrthreshold", "alsologtostderr"]


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def flag_entry(f):
    name, kind, default = f["name"], f["type"], f["default"]
    if kind == "bool":
        head = f"\\fB\\-\\-{roff(name)}\\fR"
    else:
        head = f"\\fB\\-\\-{roff(name)}\\fR=\\fI{kind.upper() if kind != 'string' else 'VALUE'}\\fR"
    shown = f'"{default}"' if kind == "string" else default
    return (f".TP\n{head}\n{roff(f['meaning'])}\n"
            f"Default: {roff(shown if default != '' else 'empty')}.\n")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: gen_manpage.py PEKONODE_BINARY [VERSION]")
    binary = sys.argv[1]
    version = sys.argv[2] if len(sys.argv) > 2 else ""
    # --helpxml prints the table and exits with status 1 (gflags' choice).
    # glog takes --log_dir's default from these variables: drop them so the
    # page shows the real defaults.
    env = {k: v for k, v in os.environ.items()
           if k not in ("TEST_TMPDIR", "GOOGLE_LOG_DIR")
           and not k.startswith("GLOG_")}
    out = subprocess.run([binary, "--helpxml"], capture_output=True,
                         timeout=30, env=env).stdout
    root = ET.fromstring(out)
    flags = []
    for el in root.iter("flag"):
        flags.append({k: (el.findtext(k) or "") for k in
                      ("file", "name", "meaning", "default", "type")})
    if not flags:
        sys.exit("gen_manpage: no flags in --helpxml output")
    node_flags = sorted((f for f in flags if f["file"].startswith("node/")
                         and f["name"] != "log_format"),
                        key=lambda f: f["name"])
    by_name = {f["name"]: f for f in flags}
    log_flags = [by_name[n] for n in LOG_FLAGS if n in by_name]
    usage = root.findtext("usage") or "pekonode [FLAGS]"

    page = [
        f'.TH PEKONODE 1 "" "pekonode {roff(version)}" "User Commands"',
        ".SH NAME",
        "pekonode \\- gossip membership and cluster metadata node",
        ".SH SYNOPSIS",
        f"\\fB{roff(usage)}\\fR",
        ".br",
        "\\fBpekonode \\-\\-config=\\fIFILE\\fR [\\fIFLAGS\\fR]",
        ".SH DESCRIPTION",
        "\\fBpekonode\\fR runs one member of a gossip cluster: it keeps the list "
        "of members with failure detection (SWIM with Lifeguard, graceful leave, "
        "re\\-merge after partitions) and a copy of the cluster's key/value "
        "metadata, which converges on every node. An optional admin HTTP API "
        "(\\fB\\-\\-admin\\fR) serves members, keys and metrics; "
        "\\fBpekoctl\\fR(1) is its command\\-line client.",
        ".SH OPTIONS",
        "Flags take the form \\fB\\-\\-name=value\\fR (\\fB\\-\\-flag\\fR alone "
        "sets a boolean). Bad flags, an unreadable file or an address that "
        "cannot be bound end the process with one line on standard error and "
        "exit status 1.",
    ]
    page += [flag_entry(f) for f in node_flags]
    page += [".SH LOGGING", "Log lines go to standard error.",
             ] + [flag_entry(f) for f in log_flags]
    page += [
        ".SH CONFIGURATION FILE",
        "\\fB\\-\\-config=\\fIFILE\\fR reads a JSON object whose keys are flag "
        "names without dashes. Strings, numbers and booleans are taken as the "
        "flag's type; \\fBjoin\\fR also takes an array of \"host:port\" "
        "strings and \\fBtags\\fR an object of tags. The file's values are "
        "defaults: a flag given on the command line wins. Unknown keys, wrong "
        "types and unreadable files are errors. Example:",
        ".PP",
        ".nf",
        ".RS",
        roff('{"name": "a", "bind": "10.0.0.5:7946", "join": ["10.0.0.6:7946"],\n'
             ' "tags": {"role": "web"}, "admin": "127.0.0.1:7947"}'),
        ".RE",
        ".fi",
        ".PP",
        "\\fB\\-\\-flagfile=\\fIFILE\\fR also works: one \\fB\\-\\-flag=value\\fR "
        "per line, applied like command\\-line flags.",
        ".SH SIGNALS",
        ".TP",
        "\\fBSIGTERM\\fR, \\fBSIGINT\\fR",
        "Leave the cluster gracefully (the others see the node as left, not "
        "failed), then exit 0.",
        ".TP",
        "\\fBSIGHUP\\fR",
        "Re\\-read the \\fB\\-\\-config\\fR file. Tags (\\fBtags\\fR) and the "
        "log level (\\fBv\\fR, \\fBminloglevel\\fR) change at once; every "
        "other changed setting is logged as needing a restart. A broken file "
        "changes nothing.",
        ".SH SYSTEMD",
        "Started by systemd with \\fBType=notify\\fR, the node reports READY=1 "
        "once bound and serving, RELOADING=1 around a reload and STOPPING=1 "
        "when it leaves, and answers \\fBWatchdogSec=\\fR while its actors "
        "respond.",
        ".SH FILES",
        ".TP",
        "\\fI/etc/pekonode/config.json\\fR",
        "Configuration read by the packaged systemd unit (loopback\\-only "
        "defaults).",
        ".TP",
        "\\fI/lib/systemd/system/pekonode.service\\fR",
        "The systemd unit.",
        ".SH EXIT STATUS",
        "0 after a graceful leave; 1 on bad flags or configuration, when an "
        "address cannot be bound, or when \\fB\\-\\-bind\\fR is not a "
        "loopback address and neither \\fB\\-\\-keyring_file\\fR nor "
        "\\fB\\-\\-insecure_plaintext\\fR is given (keys: "
        "\\fBpekoctl keygen\\fR).",
        ".SH SEE ALSO",
        "\\fBpekoctl\\fR(1) (\\fBpekoctl \\-\\-help\\fR), "
        "\\fI/usr/share/doc/pekonode/DEPLOY.md\\fR",
    ]
    sys.stdout.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
