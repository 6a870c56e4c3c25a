"""``amxmodel bench``: the engine against its lean floor and the random-number floor, the
event-level reference, the headline fleet and start-up, measured in one run
(:mod:`amxmodel.runs.bench`)."""

from __future__ import annotations

import argparse
import json

from amxmodel.common.units import format_value, sig
from amxmodel.plot.textfmt import wrap


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel bench``."""
    p.add_argument("--quick", action="store_true",
                   help="small sizes (seconds, to check that it works; targets do not apply)")
    p.add_argument("--full", action="store_true",
                   help="also 100,000 hosts x 1 day and 10,000 hosts x 1 week, each in one "
                        "process (minutes)")
    p.add_argument("--jobs", type=int, default=None,
                   help="processes of the headline run (default 1: in-process, where its "
                        "CPU-seconds target applies)")
    p.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from amxmodel.common.errors import InputError
    from amxmodel.runs.bench import measure

    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: allowed: 1 or more processes")
    res = measure(quick=args.quick, jobs=args.jobs, full=args.full)
    print(report(res, args.format))
    return 0


def report(res: dict, fmt: str) -> str:
    """The measurements as JSON (plain values only: a numpy scalar is an error) or a table."""
    return json.dumps(res, indent=1) if fmt == "json" else render(res)


# (label, key, unit) rows of the table; a key in bench.TARGETS also shows its target
_ROWS = (
    ("engine and floors, CPU seconds (min)", None, ""),
    ("  engine", "engine_cpu_s", "s"),
    ("  lean floor (one batch)", "lean_floor_cpu_s", "s"),
    ("  random-number floor", "rng_floor_cpu_s", "s"),
    ("  engine / lean floor", "engine_floor_ratio", ""),
    ("  engine / random-number floor", "engine_rng_floor_ratio", ""),
    ("  engine vCPU-steps per CPU-s", "engine_vcpu_steps_per_cpu_s", ""),
    ("  floor vCPU-steps per CPU-s", "lean_floor_vcpu_steps_per_cpu_s", ""),
    ("  engine wall s (median)", "engine_wall_s_median", "s"),
    ("  engine random numbers/vCPU-step", "engine_draws_per_vcpu_step", ""),
    ("  engine CPU spent drawing", "engine_rng_time_share", "%"),
    ("event-level reference, small fleet", None, ""),
    ("  reference vCPU-steps/CPU-s", "reference_vcpu_steps_per_s", ""),
    ("  engine vCPU-steps/CPU-s", "reference_engine_vcpu_steps_per_s", ""),
    ("  engine / reference", "reference_speedup", ""),
    ("headline fleet", None, ""),
    ("  vCPUs", "headline_vcpus", ""),
    ("  CPU seconds", "headline_cpu_s", "s"),
    ("  wall seconds", "headline_wall_s", "s"),
    ("  peak memory, process tree (PSS)", "peak_rss_bytes", "bytes"),
    ("  mean-field wall seconds", "mean_field_wall_s", "s"),
    ("one chunk's memory", None, ""),
    ("  traced peak", "chunk_peak_bytes", "bytes"),
    ("  at 4x the steps / at 1x", "memory_steps_ratio", ""),
    ("start-up, wall seconds (min)", None, ""),
    ("  amxmodel --help", "startup_s", "s"),
    ("  python3 -c pass", "python_startup_s", "s"),
)
_SCENARIOS = {"engine and floors, CPU seconds (min)": "throughput_fleet",
              "event-level reference, small fleet": "reference_scenario",
              "headline fleet": "headline_fleet"}


def render(res: dict) -> str:
    """The measurements as a plain-text table with the targets (72 columns)."""
    from amxmodel.runs.bench import TARGETS

    quick = " (quick sizes: targets do not apply)" if res["targets_met"] is None else ""
    head = (f"amxmodel bench: {res['cores']} cores, headline in {res['jobs']} process(es), "
            f"load average {res['load_average_before']:.1f} -> "
            f"{res['load_average_after']:.1f}{quick}")
    lines = [*wrap(head), f"{'':36}{'value':>14}  {'target':>10}  met"]
    for label, key, unit in _ROWS:
        if key is None:
            where = res.get(_SCENARIOS.get(label, ""), "")
            lines += wrap(f"{label}: {where}" if where else label)
            continue
        value = _value(res[key], unit)
        target, ok = "", ""
        if key in TARGETS:
            bound, kind = TARGETS[key]
            target = ("<= " if kind == "max" else ">= ") + _value(bound, unit)
            ok = "-" if res["targets_met"] is None else ("yes" if res["targets_met"][key] else "NO")
        lines.append(f"{label:36}{value:>14}  {target:>10}  {ok}")
    i = 1
    while f"scale{i}_fleet" in res:
        s = f"scale{i}"
        lines += wrap(f"scale: {res[s + '_fleet']}")
        lines.append(f"  {_value(res[s + '_cpu_s'], 's')} CPU, {_value(res[s + '_wall_s'], 's')}"
                     f" wall, peak RSS {_value(res[s + '_peak_rss_bytes'], 'bytes')}")
        i += 1
    lines.append(f"bench wall time {res['bench_wall_s']:.1f} s, bench process peak RSS "
                 f"{format_value(res['bench_peak_rss_bytes'], 'bytes')}")
    return "\n".join(lines)


def _value(x: float, unit: str) -> str:
    if unit == "bytes":
        return format_value(x, "bytes")
    if unit == "%":
        return f"{sig(100 * x)} %"
    return f"{sig(x)} {unit}".rstrip()
