"""The per-design table that ``amxmodel run`` prints, as text, JSON or CSV.

The text form is for a reader who has not seen the code: the scenario caption first, then
two tables (host CPU, then memory) whose columns have short names with their unit on the
line below, every number with three significant digits, and a legend that explains each
column in words. It fits 72 columns, so it can be pasted into a mail as it is::

    design             mean   p99 host  per exit
                    % of CPU  % of CPU    cycles
    upstream          0.00429    0.0139      0.84
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pandas as pd

from amxmodel.analysis.metrics import wide
from amxmodel.common.units import sig
from amxmodel.plot.textfmt import WIDTH, wrap

# Three tables that each fit 72 columns; per column: metric, name, unit line, scale, legend.
TABLES = {
    "Host CPU the design spends (XFD handling and the XCR0 switch)": [
        ("overhead_fraction", "mean", "% of CPU", 100,
         "host CPU the design spends, % of all hardware threads, mean over hosts"),
        ("overhead_fraction_p99", "p99 host", "% of CPU", 100,
         "the same on the 99th-percentile host (sampled runs only)"),
        ("overhead_cycles_per_exit", "per exit", "cycles", 1,
         "the design's cycles spread over all VM exits, fastpath ones included")],
    "What the design does, per vCPU": [
        ("extra_exits_per_vcpu_s", "extra exits", "/vCPU-s", 1,
         "VM exits the design adds (intercepts, #NM, exits to the VMM), per vCPU-second"),
        ("rdmsr_xfd_per_vcpu_s", "RDMSR XFD", "/vCPU-s", 1,
         "reads of IA32_XFD after VM exits, per vCPU-second"),
        ("wrmsr_xfd_per_vcpu_s", "WRMSR XFD", "/vCPU-s", 1,
         "writes of IA32_XFD and XFD_ERR, per vCPU-second"),
        ("xsetbv_per_vcpu_s", "XSETBV", "/vCPU-s", 1,
         "XCR0 switches that AMX in the host XCR0 adds (guests whose XCR0 lacks AMX), "
         "per vCPU-second")],
    "Guest fpstate memory and reallocations": [
        ("fpstate_bytes_per_vcpu", "fpstate", "KiB/vCPU", 1 / 1024,
         "guest fpstate memory resident per vCPU, time-averaged"),
        ("unused_amx_bytes_fraction", "unused AMX", "% of AMX", 100,
         "share of the memory held for AMX tiles by vCPUs that never used AMX"),
        ("fleet_fpstate_gib", "fleet fpstate", "GiB", 1,
         "guest fpstate memory of the whole fleet"),
        ("reallocs_per_host_hour", "reallocs", "/host-h", 1,
         "guest fpstate reallocations while guests run, per host-hour")],
}
COLUMNS = [c for cols in TABLES.values() for c in cols]
JSON_KEYS = ["overhead_fraction", "overhead_fraction_p99", "extra_exits_per_vcpu_s",
             "rdmsr_xfd_per_vcpu_s", "wrmsr_xfd_per_vcpu_s", "xsetbv_per_vcpu_s",
             "reallocs_per_host_hour", "realloc_failures",
             "fpstate_bytes_per_vcpu", "fleet_fpstate_gib", "unused_amx_bytes_fraction", "vcpu_steps"]


def _cell(v, scale: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return sig(float(v) * scale)


def _ordered(w: pd.DataFrame, order: Sequence[str] | None) -> pd.DataFrame:
    """Rows in ``order`` (the user's ``--policy`` order) first, the rest after."""
    if not order:
        return w
    first = [p for p in dict.fromkeys(order) if p in w.index]
    return w.reindex(first + [p for p in w.index if p not in first])


def _block(w: pd.DataFrame, columns: list, title: str) -> list[str]:
    cols = [c for c in columns if c[0] in w.columns]
    if not cols:
        return []
    rows = [[str(p)] + [_cell(r[c[0]], c[3]) for c in cols] for p, r in w.iterrows()]
    heads = [["design"] + [c[1] for c in cols], [""] + [c[2] for c in cols]]
    widths = [max(len(row[i]) for row in rows + heads) for i in range(len(cols) + 1)]
    widths[0] = min(widths[0], 18)
    lines = [title]
    for row in heads + [["-" * w for w in widths]] + rows:
        cells = [row[0][:widths[0]].ljust(widths[0])] + \
                [cell.rjust(widths[i + 1]) for i, cell in enumerate(row[1:])]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    for _, name, unit, _, legend in cols:
        lines += wrap(f"{name} ({unit}): {legend}", WIDTH)
    return lines


def render_table(summary: pd.DataFrame, header: str = "", facts: str = "",
                 order: Sequence[str] | None = None) -> str:
    """The caption (wrapped to 72 columns), the scenario facts, a host CPU table and a
    memory table with a legend for every column; rows in ``order`` when given."""
    w = _ordered(wide(summary), order)
    lines = [*wrap(header, WIDTH)] if header else []
    if facts:
        lines += wrap(facts, WIDTH)
    if lines:
        lines.append("")
    for title, columns in TABLES.items():
        block = _block(w, columns, title)
        if block:
            lines += ["", *block] if lines and lines[-1] else block
    return "\n".join(lines)


def render_json(summary: pd.DataFrame, order: Sequence[str] | None = None) -> str:
    """A JSON list, one object per policy: every metric, and its standard error."""
    out = []
    groups = dict(list(summary.groupby("policy", sort=False)))
    names = list(_ordered(pd.DataFrame(index=list(groups)), order).index)
    for pol in names:
        grp = groups[pol]
        obj = {"policy": pol}
        for r in grp.itertuples():
            obj[r.metric] = None if math.isnan(r.value) else r.value
            if not math.isnan(r.stderr):
                obj[f"{r.metric}_stderr"] = r.stderr
        for k in JSON_KEYS:
            obj.setdefault(k, None)
        out.append(obj)
    return json.dumps(out, indent=1)


def render(summary: pd.DataFrame, fmt: str, header: str = "", facts: str = "",
           order: Sequence[str] | None = None) -> str:
    """The table in ``fmt`` (table, json or csv)."""
    if fmt == "json":
        return render_json(summary, order)
    if fmt == "csv":
        if order:
            rank = {p: i for i, p in enumerate(dict.fromkeys(order))}
            summary = summary.sort_values("policy", kind="stable",
                                          key=lambda s: s.map(lambda p: rank.get(p, len(rank))))
        return summary.to_csv(index=False)
    return render_table(summary, header, facts, order)
