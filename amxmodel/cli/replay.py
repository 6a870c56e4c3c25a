"""``amxmodel replay``: an explicit event trace through the event-level reference model."""

from __future__ import annotations

import argparse

from amxmodel.inputs.designs import POLICY_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel replay``."""
    p.add_argument("trace", help="trace YAML file (see data/traces/)")
    p.add_argument("--policy", action="append", choices=POLICY_NAMES, metavar="NAME",
                   help=f"policy to price (repeatable; default all): {', '.join(POLICY_NAMES)}")
    p.add_argument("--hardware", default=None,
                   help="hardware profile name or file (default: the trace's, else spr)")
    p.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from amxmodel.inputs.scenario import load_hardware
    from amxmodel.kernel.replay import render, replay_file

    hardware = load_hardware(args.hardware) if args.hardware else None
    results = replay_file(args.trace, policies=args.policy, hardware=hardware)
    print(render(results, args.format))
    return 0
