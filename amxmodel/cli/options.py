"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): the overrides every scenario-reading command takes."""
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. hardware.rdmsr_xfd_cycles=100 (repeatable)")


def add_force_arg(p: argparse.ArgumentParser, flag: str = "--out") -> None:
    """``--force``: write into a ``flag`` folder that holds other files (the rule of
    :mod:`amxmodel.common.outdirs`)."""
    p.add_argument("--force", action="store_true",
                   help=f"write into a {flag} folder that holds other files too (they are kept; "
                        "a file amxmodel did not write is never replaced)")
