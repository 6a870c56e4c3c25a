"""The parameter listing behind ``amxmodel params``: one tidy frame, every parameter.

Each row is a parameter with its section, unit, default, allowed and plausible range and
source. Workload parameters have one row per shipped workload class (their defaults are
per class).
"""

from __future__ import annotations

import pandas as pd

from amxmodel.inputs import catalog
from amxmodel.inputs.distributions import Fixed
from amxmodel.inputs.scenario import load_scenario


def _describe(dist) -> str:
    if isinstance(dist, Fixed):
        return f"{dist.value:g}"
    d = dist.model_dump()
    kind = d.pop("dist")
    return kind + "(" + ", ".join(f"{k}={v}" for k, v in d.items() if v is not None) + ")"


def parameter_frame(scenario=None) -> pd.DataFrame:
    """All parameters of a scenario (default: the default scenario) as a tidy frame."""
    sc = scenario or load_scenario()
    rows = []
    current = {"hardware": sc.hardware.values, "fleet": sc.fleet, "run": sc.run}
    for section in ("hardware", "fleet", "run"):
        for name, spec in catalog.section(section).items():
            rows.append({
                "section": section, "name": name, "unit": spec.unit,
                "value": f"{current[section][name]:g}" if isinstance(current[section][name], float)
                else str(current[section][name]),
                "allowed": f"{spec.allowed[0]:g}..{spec.allowed[1]:g}",
                "plausible": f"{spec.plausible[0]:g}..{spec.plausible[1]:g}" if spec.plausible else "",
                "source": spec.source or "assumption",
            })
    for cls_name, cls in sc.workloads.items():
        for name, spec in catalog.section("workload").items():
            f = cls.fields[name]
            rows.append({
                "section": f"workload:{cls_name}", "name": name, "unit": spec.unit,
                "value": _describe(f.value),
                "allowed": f"{spec.allowed[0]:g}..{spec.allowed[1]:g}",
                "plausible": f"{f.plausible[0]:g}..{f.plausible[1]:g}" if f.plausible else "",
                "source": f.source,
            })
    return pd.DataFrame(rows)


def render_parameters(df: pd.DataFrame, fmt: str = "table") -> str:
    """The frame as an aligned text table, JSON or CSV."""
    if fmt == "json":
        return df.to_json(orient="records", indent=1)
    if fmt == "csv":
        return df.to_csv(index=False)
    lines = []
    for section, grp in df.groupby("section", sort=False):
        lines.append(f"[{section}]")
        w = max(len(n) for n in grp["name"])
        for r in grp.itertuples():
            lines.append(f"  {r.name:<{w}}  {r.value:>28} {r.unit:<12} allowed {r.allowed:<16}"
                         f" plausible {r.plausible:<14} source: {r.source}")
    return "\n".join(lines)
