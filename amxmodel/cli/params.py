"""``amxmodel params``: every parameter with unit, default, allowed and plausible range, source."""

from __future__ import annotations

import argparse
import shutil

from amxmodel.cli.options import add_scenario_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel params``."""
    p.add_argument("scenario", nargs="?", default=None, help="scenario file or name (default: default)")
    add_scenario_args(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="table (wrapped text), json (numbers as numbers) or csv")
    p.add_argument("--width", type=int, default=None, metavar="N",
                   help="wrap the table at N columns (default: the terminal's width)")


def run(args: argparse.Namespace) -> int:
    from amxmodel.inputs.parameter_table import parameter_frame, render_parameters
    from amxmodel.inputs.scenario import load_scenario

    sc = load_scenario(args.scenario, args.sets)
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    print(render_parameters(parameter_frame(sc), args.format, width=width))
    return 0
