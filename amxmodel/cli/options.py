"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): the overrides every scenario-reading command takes."""
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. hardware.rdmsr_xfd_cycles=100 (repeatable)")
