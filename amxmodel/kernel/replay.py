"""Replaying a trace under every design, and showing the counters side by side.

One checked trace (:mod:`amxmodel.kernel.trace`) goes through one fresh reference model per
policy (:mod:`amxmodel.kernel.designs`); each result is ``{"policy", "errors",
"counters"}``: the errors the kernel returned (index, event, errno), the counts of what the
host executed and their price in cycles under a hardware profile (the one passed in, else
the trace's ``hardware:``, else ``spr``). Baseline VM exits are counted in ``vm_exits`` but
not priced: ``cycles`` is the overhead AMX adds, so ``no-amx`` is 0 on every trace. Of the
XSETBVs of KVM's XCR0 switch (``xsetbv``) only ``xsetbv_amx`` is priced: those that the same
host without AMX in XCR0 (``no-amx``) would not execute.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from amxmodel.common.datafiles import data_dir
from amxmodel.common.errors import InputError
from amxmodel.inputs.designs import resolve_policies
from amxmodel.inputs.hardware import Hardware
from amxmodel.inputs.scenario import load_hardware
from amxmodel.kernel.registry import make_model
from amxmodel.kernel.trace import Trace, load_trace, parse_trace
from amxmodel.kernel.upstream import DEFAULT_KERNEL

TABLE_WIDTH = 100


def _hardware_for(trace: Trace, hardware: Hardware | None) -> Hardware:
    if hardware is not None:
        return hardware
    try:
        return load_hardware(trace.hardware or "spr")
    except InputError as exc:
        raise InputError(f"{trace.where}: {exc}") from None


def replay_trace(trace: Trace | dict, policies=None, hardware: Hardware | None = None,
                 kernel: str = DEFAULT_KERNEL,
                 options: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Replay a trace (checked, or a raw mapping) under ``policies`` (default: all) on host
    kernel ``kernel`` (:data:`amxmodel.kernel.upstream.KERNELS`), with design ``options``
    (:func:`amxmodel.kernel.registry.make_model`)."""
    if not isinstance(trace, Trace):
        trace = parse_trace(trace)
    names = resolve_policies(policies if policies else "all", f"{trace.where}: policies")
    check_work(trace, len(names))
    hw = _hardware_for(trace, hardware)
    results = []
    for name in names:
        model = make_model(name, hw, kernel, options)
        for ev in trace.events:
            model.apply(ev)
        results.append(model.result())
    return results


MAX_STEPS = 20_000_000  # events x policies; about 4 us each on this 2-core machine
STEP_S = 4e-6


def check_work(trace: Trace, policies: int) -> None:
    """Refuse a trace of more than :data:`MAX_STEPS` events x policies
    (``$AMXMODEL_MAX_REPLAY_STEPS`` raises it). An exit's ``count`` is priced in closed form
    once the state repeats (:meth:`amxmodel.kernel.upstream.ReferenceModel.on_exit`)."""
    env = os.environ.get("AMXMODEL_MAX_REPLAY_STEPS", "")
    limit = int(env) if env.isdigit() else MAX_STEPS
    steps = len(trace.events) * policies
    if steps > limit:
        raise InputError(f"{trace.where}: {len(trace.events):,} events x {policies} policies = "
                         f"{steps:,} replay steps, about {steps * STEP_S / 60:,.1f} min; allowed: "
                         f"at most {limit:,} (fewer with --policy NAME, or set "
                         "AMXMODEL_MAX_REPLAY_STEPS to wait that long)")


def replay_file(path: str | Path, policies=None, hardware: Hardware | None = None,
                kernel: str = DEFAULT_KERNEL,
                options: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Load, check and replay a trace file."""
    return replay_trace(load_trace(path), policies, hardware, kernel, options)


def replay(trace: str | Path | dict | Trace, policies=None,
           hardware: str | Hardware | None = None, kernel: str = DEFAULT_KERNEL,
           options: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Replay a trace under ``policies`` (default: all): one result per policy with its
    counters and their price.

    ``trace`` is a file, the name of a shipped trace (``amx_test`` for
    ``data/traces/amx_test.yaml``), a raw mapping or a checked :class:`Trace`; ``hardware``
    a profile name or file, or a loaded profile (default: the trace's, else ``spr``);
    ``kernel`` the host kernel where versions differ, ``options`` design options.
    """
    if isinstance(hardware, (str, Path)):
        hardware = load_hardware(hardware)
    if isinstance(trace, (str, Path)):
        path = Path(trace)
        if not path.exists() and path.suffix == "" and "/" not in str(trace):
            path = data_dir() / "traces" / f"{trace}.yaml"
        return replay_file(path, policies, hardware, kernel, options)
    return replay_trace(trace, policies, hardware, kernel, options)


def _cell(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else str(value)


def _table_block(results: list[dict[str, Any]], label_width: int) -> list[str]:
    names = [r["policy"] for r in results]
    rows = list(results[0]["counters"])
    widths = [max(len(n), *(len(_cell(r["counters"][k])) for k in rows)) for n, r in zip(names, results)]
    line = lambda label, cells: "  ".join([label.ljust(label_width)] + [c.rjust(w) for c, w in zip(cells, widths)])
    out = [line("counter", names), line("-" * label_width, ["-" * w for w in widths])]
    out += [line(k, [_cell(r["counters"][k]) for r in results]) for k in rows]
    return out


def _render_table(results: list[dict[str, Any]]) -> str:
    if not results:
        return "(no policies)"
    label_width = max(len(k) for k in results[0]["counters"])
    blocks, block, used = [], [], label_width
    for r in results:
        width = 2 + max(len(r["policy"]), *(len(_cell(v)) for v in r["counters"].values()))
        if block and used + width > TABLE_WIDTH:
            blocks.append(block)
            block, used = [], label_width
        block.append(r)
        used += width
    blocks.append(block)
    lines: list[str] = []
    for b in blocks:
        lines += _table_block(b, label_width) + [""]
    errors = [f"  {r['policy']}: events[{e['index']}] {e['event']} {e['errno']}"
              for r in results for e in r["errors"]]
    lines += ["errors returned by the kernel:"] + errors if errors else ["errors returned by the kernel: none"]
    return "\n".join(lines)


def render(results: list[dict[str, Any]], fmt: str = "table") -> str:
    """Results as a table (one row per counter, one column per policy, <= 100 columns) or JSON."""
    if fmt == "json":
        return json.dumps(results, indent=2)
    if fmt == "table":
        return _render_table(results)
    raise InputError(f"unknown format '{fmt}'; allowed: table, json")
