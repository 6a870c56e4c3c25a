"""The per-policy table that ``amxmodel run`` prints, as text, JSON or CSV."""

from __future__ import annotations

import json
import math

import pandas as pd

from amxmodel.analysis.metrics import wide

# (metric, column title, scale, format) for the text table
COLUMNS = [
    ("overhead_fraction", "ovh %", 100, "{:.4f}"),
    ("overhead_fraction_p99", "p99 %", 100, "{:.4f}"),
    ("overhead_cycles_per_exit", "cyc/exit", 1, "{:.1f}"),
    ("extra_exits_per_vcpu_s", "xexit/vs", 1, "{:.3g}"),
    ("rdmsr_xfd_per_vcpu_s", "rdmsr/vs", 1, "{:.4g}"),
    ("wrmsr_xfd_per_vcpu_s", "wrmsr/vs", 1, "{:.3g}"),
    ("xsetbv_per_vcpu_s", "xsetbv/vs", 1, "{:.4g}"),
    ("reallocs_per_host_hour", "realloc/hh", 1, "{:.3g}"),
    ("fpstate_bytes_per_vcpu", "KiB/vcpu", 1 / 1024, "{:.2f}"),
    ("unused_amx_bytes_fraction", "unused %", 100, "{:.1f}"),
    ("fleet_fpstate_gib", "fleet GiB", 1, "{:.3g}"),
]
JSON_KEYS = ["overhead_fraction", "overhead_fraction_p99", "extra_exits_per_vcpu_s",
             "rdmsr_xfd_per_vcpu_s", "wrmsr_xfd_per_vcpu_s", "xsetbv_per_vcpu_s",
             "reallocs_per_host_hour", "realloc_failures",
             "fpstate_bytes_per_vcpu", "fleet_fpstate_gib", "unused_amx_bytes_fraction", "vcpu_steps"]


def _fmt(v: float, fmt: str, scale: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v * scale)


def render_table(summary: pd.DataFrame, header: str = "") -> str:
    """Aligned text table, one row per policy."""
    w = wide(summary)
    cols = [c for c in COLUMNS if c[0] in w.columns]
    rows = [["policy"] + [c[1] for c in cols]]
    for pol, r in w.iterrows():
        rows.append([pol] + [_fmt(r[c[0]], c[3], c[2]) for c in cols])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [header] if header else []
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)))
    lines.append("ovh: host CPU overhead (mean over hosts); xexit/vs: extra VM exits per "
                 "vCPU-second; xsetbv/vs: XSETBV per vCPU-second that AMX in the host XCR0 "
                 "adds; realloc/hh: per host-hour")
    return "\n".join(lines)


def render_json(summary: pd.DataFrame) -> str:
    """A JSON list, one object per policy: every metric, and its standard error."""
    out = []
    for pol, grp in summary.groupby("policy", sort=False):
        obj = {"policy": pol}
        for r in grp.itertuples():
            obj[r.metric] = None if math.isnan(r.value) else r.value
            if not math.isnan(r.stderr):
                obj[f"{r.metric}_stderr"] = r.stderr
        for k in JSON_KEYS:
            obj.setdefault(k, None)
        out.append(obj)
    return json.dumps(out, indent=1)


def render(summary: pd.DataFrame, fmt: str, header: str = "") -> str:
    if fmt == "json":
        return render_json(summary)
    if fmt == "csv":
        return summary.to_csv(index=False)
    return render_table(summary, header)
