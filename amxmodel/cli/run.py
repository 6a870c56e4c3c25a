"""``amxmodel run``: one scenario, every policy, a table (or JSON/CSV) and optional parquet."""

from __future__ import annotations

import argparse
import sys

from amxmodel.cli.options import add_executor_args, add_force_arg, add_scenario_args, executor_args
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.inputs.modes import MODES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel run``."""
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario file or name under data/scenarios (default: default)")
    add_scenario_args(p)
    p.add_argument("--policy", action="append", choices=POLICY_NAMES, metavar="NAME",
                   help=f"policy to price (repeatable; default: the scenario's): {', '.join(POLICY_NAMES)}")
    p.add_argument("--seed", type=int, default=None, help="root seed (default: run.seed)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="sample (default) or mean-field")
    p.add_argument("--from", dest="from_dir", default=None, metavar="RESULT_DIR",
                   help="repeat the run recorded in RESULT_DIR/scenario.yaml (its resolved "
                        "scenario, mode and seed) bit for bit; --set/--policy/--seed apply on top")
    add_executor_args(p, "host chunks")
    p.add_argument("--out", default=None,
                   help="write parquet frames and scenario.yaml into this folder: a new or "
                        "empty one, or one amxmodel wrote before")
    add_force_arg(p, "--out")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")


def run(args: argparse.Namespace) -> int:
    import contextlib

    from amxmodel.common.errors import InputError
    from amxmodel.common.outdirs import output_folder
    from amxmodel.plot.runtable import render
    from amxmodel.runs.run import RESULT_NAMES, run, write_results_dir

    if args.seed is not None and not 0 <= args.seed < 2**64:
        raise InputError(f"--seed {args.seed}: allowed: 0 to 2**64-1")
    saved = None
    with contextlib.ExitStack() as stack:
        folder = None
        if args.out:  # checked, created and locked before any computation
            folder = stack.enter_context(output_folder(args.out, "--out", args.force))
            folder.claim(RESULT_NAMES)
        scenario, mode, seed = args.scenario, args.mode or "sample", args.seed
        if args.from_dir is not None:
            scenario, mode, seed = _recorded(args)
        res = run(scenario, args.sets, mode=mode, policies=args.policy, seed=seed,
                  **executor_args(args))
        if folder is not None:
            saved = write_results_dir(args.out, res.result_files(), res.record, folder=folder)
    print(render(res.summary, args.format, res.header, res.facts, order=args.policy))
    if saved is not None:
        print(f"wrote {saved}/ (summary.parquet, hosts.parquet, by_class.parquet, scenario.yaml)",
              file=sys.stderr if args.format != "table" else sys.stdout)
    print(f"run: {res.elapsed_s:.2f} s", file=sys.stderr)
    return 0


def _recorded(args):
    """Scenario, mode and seed of the run recorded in ``--from`` (explicit flags win for the seed)."""
    from amxmodel.common.errors import InputError
    from amxmodel.runs.record import load_record

    if args.scenario is not None:
        raise InputError(f"--from {args.from_dir}: the scenario comes from the record; "
                         f"drop '{args.scenario}'")
    rec = load_record(args.from_dir)
    if args.mode is not None and args.mode != rec.mode:
        raise InputError(f"--mode {args.mode}: the run in {args.from_dir} used --mode {rec.mode}; "
                         "drop --mode to repeat it")
    return rec.scenario, rec.mode, rec.seed if args.seed is None else args.seed
