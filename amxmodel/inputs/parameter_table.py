"""The parameter listing behind ``amxmodel params``: one tidy frame, every parameter.

Each row is a parameter with its section, the full key ``--set`` takes, unit, value,
allowed and plausible range, what it means (``help``) and its source. Workload parameters
have one row per workload class of the scenario (their values are per class); the mix is
listed too. Every value is printed in a form ``--set`` accepts back (``3e+09``), and a
distribution names the key of its median, so the output can be copied into an override::

    [hardware] profile spr
      rdmsr_xfd_cycles = 50 cycles  (--set hardware.rdmsr_xfd_cycles=50)
          RDMSR IA32_XFD (0x1C4), fpu_sync_guest_vmexit_xfd_state()
          allowed 0 to 1e+05, plausible 20 to 200
          source: docs/parameters.md, Per-event costs: inferred; ...
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pandas as pd

from amxmodel.inputs import catalog
from amxmodel.inputs.distributions import Fixed
from amxmodel.inputs.scenario import load_scenario


def _num(v) -> str:
    """A number as ``--set`` takes it back (``3e+09``, ``0.05``, ``200``)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.12g}" if abs(v) < 1e6 else f"{v:g}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _describe(dist) -> str:
    if isinstance(dist, Fixed):
        return _num(dist.value)
    d = dist.model_dump()
    kind = d.pop("dist")
    return kind + "(" + ", ".join(f"{k}={v}" for k, v in d.items() if v is not None) + ")"


def _plain(dist):
    """A distribution as JSON data: a number for a fixed value, else its parameters."""
    if isinstance(dist, Fixed):
        return dist.value
    return {k: v for k, v in dist.model_dump().items() if v is not None}


def _dist_hint(key: str, dist) -> str:
    """How to override a field given as a distribution (its median, or a constant)."""
    d = dist.model_dump()
    if d.get("dist") == "lognormal":
        factor = math.exp(float(d["sigma"]) ** 2 / 2)
        return (f"--set {key}.median={_num(float(d['median']))} keeps the log-normal spread "
                f"(mean {factor:.2g}x the median); --set {key}=X makes it X for every VM")
    return f"--set {key}=X makes it X for every VM"


def parameter_frame(scenario=None) -> pd.DataFrame:
    """All parameters of a scenario (default: the default scenario) as a tidy frame."""
    sc = scenario or load_scenario()
    rows = []
    current = {"hardware": sc.hardware.values, "fleet": sc.fleet, "run": sc.run}
    for section in ("hardware", "fleet", "run"):
        for name, spec in catalog.section(section).items():
            value = current[section][name]
            key = f"{section}.{name}"
            rows.append({
                "section": section, "name": name, "key": key, "unit": spec.unit,
                "value": _num(value), "number": value,
                "allowed": f"{spec.allowed[0]:g}..{spec.allowed[1]:g}",
                "plausible": f"{spec.plausible[0]:g}..{spec.plausible[1]:g}" if spec.plausible else "",
                "allowed_range": list(spec.allowed),
                "plausible_range": list(spec.plausible) if spec.plausible else None,
                "help": spec.help, "set": f"{key}={_num(value)}",
                "source": spec.source or "assumption",
            })
    for cls_name, cls in sc.workloads.items():
        for name, spec in catalog.section("workload").items():
            f = cls.fields[name]
            key = f"workloads.{cls_name}.{name}"
            fixed = isinstance(f.value, Fixed)
            rows.append({
                "section": f"workload:{cls_name}", "name": name, "key": key, "unit": spec.unit,
                "value": _describe(f.value), "number": _plain(f.value),
                "allowed": f"{spec.allowed[0]:g}..{spec.allowed[1]:g}",
                "plausible": f"{f.plausible[0]:g}..{f.plausible[1]:g}" if f.plausible else "",
                "allowed_range": list(spec.allowed),
                "plausible_range": list(f.plausible) if f.plausible else None,
                "help": spec.help,
                "set": f"{key}={_num(f.value.value)}" if fixed else _dist_hint(key, f.value),
                "source": f.source,
            })
    for cls_name, share in sc.mix.items():
        rows.append({
            "section": "mix", "name": cls_name, "key": f"mix.{cls_name}", "unit": "share",
            "value": _num(round(share, 4)), "number": share, "allowed": "0..1",
            "plausible": "", "allowed_range": [0, 1], "plausible_range": None,
            "help": f"share of vCPU slots run by workload class {cls_name} (normalized to 1)",
            "set": f"mix.{cls_name}={_num(round(share, 4))}",
            "source": f"fleet file {Path(str(sc.sources.get('fleet', 'inline'))).name}: "
                      "assumption (docs/parameters.md, The fleet mix)",
        })
    return pd.DataFrame(rows)


TEXT_COLUMNS = ["section", "name", "key", "unit", "value", "allowed", "plausible", "help",
                "source"]


def _json_rows(df: pd.DataFrame) -> list[dict]:
    return [{"section": r["section"], "name": r["name"], "key": r["key"], "unit": r["unit"],
             "value": r["number"], "allowed": r["allowed_range"],
             "plausible": r["plausible_range"], "help": r["help"], "set": r["set"],
             "source": r["source"]} for r in df.to_dict("records")]


def render_parameters(df: pd.DataFrame, fmt: str = "table", width: int = 100) -> str:
    """The frame as text wrapped to ``width`` columns, JSON (numbers as numbers) or CSV."""
    if fmt == "json":
        return json.dumps(_json_rows(df), indent=1)
    if fmt == "csv":
        return df[TEXT_COLUMNS].to_csv(index=False)
    width = max(int(width), 40)
    lines = []

    def para(text: str, indent: str) -> None:
        lines.extend(textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                                   break_on_hyphens=False, break_long_words=True) or [indent])

    for section, grp in df.groupby("section", sort=False):
        if lines:
            lines.append("")
        title = {"mix": "[mix] share of vCPU slots by workload class"}.get(section, f"[{section}]")
        lines.append(title)
        for r in grp.to_dict("records"):
            unit = f" {r['unit']}" if r["unit"] and r["unit"] != "share" else ""
            setting = r["set"] if r["set"].startswith("--set") else f"--set {r['set']}"
            para(f"{r['name']} = {r['value']}{unit}", "  ")
            para(setting, "      ")
            if r["help"]:
                para(r["help"], "      ")
            ranges = f"allowed {r['allowed'].replace('..', ' to ')}"
            if r["plausible"]:
                ranges += f", plausible {r['plausible'].replace('..', ' to ')}"
            para(ranges, "      ")
            para(f"source: {r['source']}", "      ")
    return "\n".join(lines)
