"""``amxmodel probe``: the kernel's own AMX/XFD paths through /dev/kvm on this host.

The CLI calls :func:`add_arguments` on its subparser and :func:`run` with the parsed
arguments. Without /dev/kvm (or without permission to open it) the probe prints one line
and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--out", default=None, metavar="PROFILE.yaml",
                   help="write a hardware profile with the measured prices "
                        "(use it with: amxmodel run --set hardware=PROFILE.yaml)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (about a second; wide intervals, to check that it works)")


def run(args: argparse.Namespace) -> int:
    from amxmodel.probe.profile import write_profile
    from amxmodel.probe.render import render
    from amxmodel.probe.runner import probe

    tty = sys.stderr.isatty()

    def say(text: str) -> None:
        if tty:
            print(f"\ramxmodel probe: {text:<50}"[:79], end="", file=sys.stderr, flush=True)

    try:
        report = probe(quick=args.quick, progress=tty, say=say)
    finally:
        if tty:
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)
    if args.out:
        if not report["prices"]:
            from amxmodel.common.errors import InputError

            raise InputError(f"--out {args.out}: nothing was measured on this host, no profile "
                             "written (see 'skipped' in the report)")
        path = write_profile(report, args.out)
        report["profile"] = str(path)
    print(json.dumps(report, indent=1) if args.format == "json" else render(report))
    return 0
