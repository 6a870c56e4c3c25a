"""``amxmodel replay``: an explicit event trace through the event-level reference model."""

from __future__ import annotations

import argparse

from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.upstream import DEFAULT_KERNEL, KERNELS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel replay``."""
    p.add_argument("trace", help="trace YAML file, or the name of a shipped trace (amx_test, "
                                 "linux-guest-boot-never-uses-amx, ...: see data/traces/)")
    p.add_argument("--policy", action="append", choices=POLICY_NAMES, metavar="NAME",
                   help=f"policy to price (repeatable; default all): {', '.join(POLICY_NAMES)}")
    p.add_argument("--hardware", default=None,
                   help="hardware profile name or file (default: the trace's, else spr)")
    p.add_argument("--kernel", choices=KERNELS, default=DEFAULT_KERNEL,
                   help="host kernel whose behaviour to replay where versions differ "
                        f"(XCR0 switch in the fastpath loop up to 6.18; default {DEFAULT_KERNEL})")
    p.add_argument("--option", action="append", metavar="POLICY.KEY=VALUE",
                   help="a design option, e.g. sync-always.xfd_reset=init (repeatable)")
    p.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from amxmodel.kernel.registry import parse_options
    from amxmodel.kernel.replay import render, replay

    results = replay(args.trace, policies=args.policy, hardware=args.hardware,
                     kernel=args.kernel, options=parse_options(args.option))
    print(render(results, args.format))
    return 0
