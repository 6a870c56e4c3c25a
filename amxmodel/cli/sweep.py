"""``amxmodel sweep GRID.yaml --out DIR``: run every point of a grid once, resumable.

Exit status 0 when every point has a result, 1 when some failed (listed), 2 on bad input
(checked before anything is written). See :mod:`amxmodel.runs.grid` for the grid format.
"""

from __future__ import annotations

import argparse
import sys

from amxmodel.cli.options import add_executor_args, add_force_arg, executor_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel sweep``."""
    p.add_argument("grid", help="grid YAML file (see data/sweeps/)")
    p.add_argument("--out", required=True,
                   help="output folder (points/*.parquet, sweep.yaml, ...): a new or empty one, "
                        "or one this sweep wrote before (resumed)")
    add_force_arg(p, "--out")
    add_executor_args(p, "points")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the points that failed before (default: skip and report them)")


def run(args: argparse.Namespace) -> int:
    from amxmodel.runs.sweep import run_sweep

    res = run_sweep(args.grid, args.out, retry_failed=args.retry_failed, force=args.force,
                    **executor_args(args))
    for pid, why in res.rerun.items():
        print(f"amxmodel: point {pid} ran again: its file {why}", file=sys.stderr)
    print(f"sweep {args.grid}: {res.total} points: {len(res.ran)} ran, {len(res.skipped)} "
          f"already done, {len(res.failed)} failed, {len(res.failed_before)} failed before "
          f"(skipped); {res.elapsed_s:.1f} s; results in {res.out_dir / 'points'}")
    failures = {**res.failed_before, **res.failed}
    for pid, line in failures.items():
        print(f"  failed {pid}: {line}", file=sys.stderr)
    if res.failed_before:
        print("  (run again with --retry-failed to retry; records in "
              f"{res.out_dir / 'failed'})", file=sys.stderr)
    return res.exit_status
