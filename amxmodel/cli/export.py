"""``amxmodel export RESULTS --to DIR``: the charts of a run or sweep as PNG, SVG and text.

Prints one written path per line. Bad input (no such results directory, a damaged
parquet file, an unknown format or chart) ends with one ``amxmodel: error:`` line, exit
status 2, and no file written.
"""

from __future__ import annotations

import argparse

from amxmodel.cli.options import add_force_arg
from amxmodel.plot.frames import CHART_KINDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel export``."""
    p.add_argument("results",
                   help="directory written by 'amxmodel run --out' or 'amxmodel sweep --out'")
    p.add_argument(
        "--to",
        dest="to_dir",
        required=True,
        metavar="DIR",
        help="output directory: a new or empty one, or one amxmodel wrote before; files are "
             "named <chart>.<ext>",
    )
    add_force_arg(p, "--to")
    p.add_argument(
        "--formats",
        default="png,svg,txt",
        metavar="LIST",
        help="comma-separated formats: png, svg, txt (default: all)",
    )
    p.add_argument(
        "--charts",
        default=None,
        metavar="LIST",
        help=f"comma-separated charts (default: all the data allows): {', '.join(CHART_KINDS)}",
    )


def run(args: argparse.Namespace) -> int:
    from amxmodel.plot.files import export_results

    charts = [c.strip() for c in args.charts.split(",") if c.strip()] if args.charts else None
    for path in export_results(args.results, args.to_dir, args.formats, charts,
                               force=args.force):
        print(path)
    return 0
