"""``amxmodel bench``: the engine's speed against the RNG limit, the event-level reference
and the headline fleet, measured in one run (:mod:`amxmodel.runs.bench`)."""

from __future__ import annotations

import argparse
import json

from amxmodel.common.units import format_value, sig
from amxmodel.plot.textfmt import wrap


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel bench``."""
    p.add_argument("--quick", action="store_true",
                   help="small sizes (seconds, to check that it works; targets do not apply)")
    p.add_argument("--jobs", type=int, default=None, help="local processes (default: all cores)")
    p.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from amxmodel.common.errors import InputError
    from amxmodel.runs.bench import measure

    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: allowed: 1 or more processes")
    res = measure(quick=args.quick, jobs=args.jobs)
    print(json.dumps(res, indent=1) if args.format == "json" else render(res))
    return 0


# (label, key, unit) rows of the table; a key in bench.TARGETS also shows its target
_ROWS = (
    ("engine, default mix, all policies", None, ""),
    ("  vCPU-steps/s", "engine_vcpu_steps_per_s", ""),
    ("RNG baseline: per-step draws only", None, ""),
    ("  vCPU-steps/s", "rng_baseline_vcpu_steps_per_s", ""),
    ("  engine / baseline", "rng_limit_ratio", ""),
    ("random numbers per vCPU-step", None, ""),
    ("  baseline (per step)", "rng_baseline_draws_per_vcpu_step", ""),
    ("  engine (per VM segment)", "engine_draws_per_vcpu_step", ""),
    ("  engine time spent drawing", "engine_rng_time_share", "%"),
    ("event-level reference, small fleet", None, ""),
    ("  reference vCPU-steps/s", "reference_vcpu_steps_per_s", ""),
    ("  engine vCPU-steps/s", "reference_engine_vcpu_steps_per_s", ""),
    ("  engine / reference", "reference_speedup", ""),
    ("headline fleet", None, ""),
    ("  vCPUs", "headline_vcpus", ""),
    ("  wall time", "headline_wall_s", "s"),
    ("  vCPU-steps/s", "headline_vcpu_steps_per_s", ""),
    ("  peak RSS, run + workers", "peak_rss_bytes", "bytes"),
    ("  mean-field wall time", "mean_field_wall_s", "s"),
    ("one chunk's memory", None, ""),
    ("  traced peak", "chunk_peak_bytes", "bytes"),
    ("  at 4x the steps / at 1x", "memory_steps_ratio", ""),
)
_SCENARIOS = {"engine, default mix, all policies": "throughput_fleet",
              "RNG baseline: per-step draws only": "throughput_fleet",
              "event-level reference, small fleet": "reference_scenario",
              "headline fleet": "headline_fleet"}


def render(res: dict) -> str:
    """The measurements as a plain-text table with the targets (72 columns)."""
    from amxmodel.runs.bench import TARGETS

    quick = " (quick sizes: targets do not apply)" if res["quick"] else ""
    head = (f"amxmodel bench: {res['cores']} cores, {res['jobs']} processes, load average "
            f"{res['load_average_before']:.1f} -> {res['load_average_after']:.1f}{quick}")
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
    lines.append(f"bench wall time {res['bench_wall_s']:.1f} s, bench process peak RSS "
                 f"{format_value(res['bench_peak_rss_bytes'], 'bytes')}")
    return "\n".join(lines)


def _value(x: float, unit: str) -> str:
    if unit == "bytes":
        return format_value(x, "bytes")
    if unit == "%":
        return f"{sig(100 * x)} %"
    return f"{sig(x)} {unit}".rstrip()
