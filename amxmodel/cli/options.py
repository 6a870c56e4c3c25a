"""Options shared by several commands."""

from __future__ import annotations

import argparse
from typing import Any

from amxmodel.runs.executors import CLUSTER_EXTRA


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): the overrides every scenario-reading command takes."""
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. hardware.rdmsr_xfd_cycles=100 (repeatable)")


def add_executor_args(p: argparse.ArgumentParser, unit: str) -> None:
    """The flags that say where ``unit`` run: ``--jobs``, ``--scheduler``, ``--dask-local``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--jobs", type=int, default=None, metavar="N",
                   help=f"local processes over {unit} (default: all cores, when the time of "
                        "the first one says a pool pays for starting; else this process)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"run the {unit} on the dask cluster at ADDRESS, e.g. tcp://host:8786 "
                        f"({CLUSTER_EXTRA})")
    g.add_argument("--dask-local", type=int, default=None, metavar="N",
                   help=f"run the {unit} on a dask LocalCluster of N worker processes")


def executor_args(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed flags of :func:`add_executor_args` as keyword arguments of ``using``."""
    return {"jobs": args.jobs, "scheduler": args.scheduler, "dask_local": args.dask_local}
def add_force_arg(p: argparse.ArgumentParser, flag: str = "--out") -> None:
    """``--force``: write into a ``flag`` folder that holds other files (the rule of
    :mod:`amxmodel.common.outdirs`)."""
    p.add_argument("--force", action="store_true",
                   help=f"write into a {flag} folder that holds other files too (they are kept; "
                        "a file amxmodel did not write is never replaced)")
