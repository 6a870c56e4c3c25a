"""``amxmodel calibrate``: a workload class from a host's VM exit statistics.

Prints what it read (exits per vCPU-second by reason and their kinds) and where it wrote;
warnings (unknown reasons, assumed splits) go to stderr. Bad input exits with status 2 and
leaves no output file behind.
"""

from __future__ import annotations

import argparse
import sys

from amxmodel.calibrate.detect import TOOLS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel calibrate``."""
    p.add_argument("file", help="the tool's text output")
    p.add_argument("--tool", choices=[*TOOLS, "auto"], default="auto",
                   help="which tool wrote FILE (default: auto)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="length of the measured interval, when FILE does not say it "
                   "(perf kvm stat report, debugfs counters, kvmexit stopped with Ctrl-C)")
    p.add_argument("--vcpus", type=int, metavar="N",
                   help="vCPUs measured, when FILE does not say it (kvm_stat, reports for all vCPUs)")
    p.add_argument("--out", required=True, metavar="PATH.yaml",
                   help="workload file to write, e.g. data/workloads/myhost.yaml (the one "
                        "place inside the package's folders where amxmodel writes: "
                        "--set workload=myhost then finds it; elsewhere any folder outside the "
                        "checkout)")
    p.add_argument("--base", default="web", metavar="CLASS",
                   help="workload class (name or file) that gives the fields not measured (default: web)")
    p.add_argument("--name", default=None, help="class name (default: the stem of --out)")
    p.add_argument("--sigma", type=float, default=None,
                   help="spread of exits_per_vcpu_s (sigma of the log), instead of the measured one")
    p.add_argument("--mapping", default=None, metavar="FILE",
                   help="exit reason -> kinds table (default: data/calibrate/exit_reasons.yaml)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists and amxmodel calibrate wrote it "
                        "(a file it did not write is never replaced)")


def run(args: argparse.Namespace) -> int:
    from amxmodel.calibrate import calibrate
    from amxmodel.calibrate.report import render, warnings

    res = calibrate(args.file, args.out, tool=args.tool, duration=args.duration,
                    vcpus=args.vcpus, base=args.base, name=args.name, sigma=args.sigma,
                    mapping=args.mapping, force=args.force)
    print(render(res))
    for w in warnings(res):
        print(f"amxmodel: warning: {w}", file=sys.stderr)
    return 0
