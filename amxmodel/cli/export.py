"""``amxmodel export RESULTS --to DIR``: the charts of a run or sweep as PNG, SVG and text.

A sweep is drawn as one line per design against its swept parameter; a sweep that varies
two parameters gets one panel per value of the second (``--param`` picks the x axis,
``--facet`` the panels, ``--metric`` what is drawn).

Prints one written path per line. Bad input (no such results directory, a damaged
parquet file, an unknown format or chart) ends with one ``amxmodel: error:`` line, exit
status 2, and no file written.
"""

from __future__ import annotations

import argparse
import sys

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
    p.add_argument("--param", default=None, metavar="KEY",
                   help="sweeps: the swept key on the x axis, e.g. hardware.rdmsr_xfd_cycles "
                        "(default: the one numeric swept key, or the first of two)")
    p.add_argument("--facet", default=None, metavar="KEY",
                   help="sweeps that vary two parameters: one panel per value of KEY, e.g. "
                        "workload (default: the other swept key)")
    p.add_argument("--metric", default=None, metavar="NAME",
                   help="sweeps: the metric drawn (default: overhead_fraction), e.g. "
                        "overhead_fraction_p99, reallocs_per_host_hour")


def run(args: argparse.Namespace) -> int:
    from amxmodel.plot.files import export_results

    charts = [c.strip() for c in args.charts.split(",") if c.strip()] if args.charts else None
    sweep = {k: v for k, v in (("param", args.param), ("facet", args.facet),
                                ("metric", args.metric)) if v}
    options = {"sweep": sweep} if sweep else None
    if sys.stderr.isatty():
        print(f"export: drawing charts of {args.results} ...", file=sys.stderr, flush=True)
    for path in export_results(args.results, args.to_dir, args.formats, charts, options,
                               force=args.force):
        print(path)
    return 0
