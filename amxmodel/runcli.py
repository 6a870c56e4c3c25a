"""``amxmodel run``: one scenario, every policy, a table (or JSON/CSV) and optional parquet."""

from __future__ import annotations

from .cli import _add_scenario_args, command, extra_parser
from .executor import add_executor_args, executor_args
from .policies import POLICY_NAMES


@extra_parser
def _parser(sub) -> None:
    p = sub.add_parser("run", help="run a scenario and print the per-policy table")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario file or name under data/scenarios (default: default)")
    _add_scenario_args(p)
    p.add_argument("--policy", action="append", choices=POLICY_NAMES, metavar="NAME",
                   help=f"policy to price (repeatable; default: the scenario's): {', '.join(POLICY_NAMES)}")
    p.add_argument("--seed", type=int, default=None, help="root seed (default: run.seed)")
    p.add_argument("--mode", choices=["sample", "mean-field"], default="sample")
    add_executor_args(p, "host chunks")
    p.add_argument("--out", default=None, help="write parquet frames and scenario.yaml here")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")


@command("run")
def _run(args) -> int:
    from .errors import InputError
    from .model import run
    from .outdirs import check_out_dir
    from .report import render

    if args.seed is not None and args.seed < 0:
        raise InputError(f"--seed {args.seed}: allowed: 0 or more")
    if args.out:
        check_out_dir(args.out, "--out")
    res = run(args.scenario, args.sets, mode=args.mode, policies=args.policy, seed=args.seed,
              **executor_args(args))
    if args.out:
        res.save(args.out)
    sc = res.scenario
    header = (f"scenario {sc.name}, {args.mode}, seed {sc.run['seed']}, {sc.fleet['hosts']} hosts x "
              f"{sc.run['steps']} steps of {sc.run['step_s']:g} s, hardware {sc.hardware.name}, "
              f"{res.elapsed_s:.2f} s")
    print(render(res.summary, args.format, header))
    return 0
