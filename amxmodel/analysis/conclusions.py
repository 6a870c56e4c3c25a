"""The conclusions of notebooks 02 to 04, computed: sentences with this run's numbers.

A notebook's prose explains why; what the numbers say (which design holds more memory,
which parameter moves the answer most, which class reaches 0.1 % of host CPU in a sweep)
changes with every ``--set``, so it is printed from the results here and never typed into
a markdown cell. :func:`amxmodel.analysis.breakeven.findings` and
:func:`~amxmodel.analysis.breakeven.verdict` do the same for notebook 01.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amxmodel.analysis.breakeven import THRESHOLDS, threshold_label
from amxmodel.common.units import format_value, sig


def _mix_mean(sc, field: str) -> float:
    return float(sum(share * sc.workloads[c].mean(field) for c, share in sc.mix.items()))


def memory_findings(res, eager: str = "upstream", lazy: str = "lazy-exit-user",
                    xcr0: str = "xcr0-alloc") -> str:
    """Eager against lazy allocation in this run: memory held, memory never used for AMX,
    what the XCR0-time design saves, and the price the lazy design pays in reallocations."""
    w, sc = res.wide(), res.scenario
    listed = _mix_mean(sc, "p_cpuid_amx")
    uses = float(sum(share * sc.workloads[c].mean("p_cpuid_amx")
                     * sc.workloads[c].mean("p_guest_aware") * sc.workloads[c].mean("p_uses_amx")
                     for c, share in sc.mix.items()))
    text = (f"In this fleet {sig(listed * 100)} % of VMs list AMX in CPUID and "
            f"{sig(uses * 100)} % run AMX code.")
    if eager in w.index:
        e = w.loc[eager]
        text += (f" {eager} holds {format_value(e['fpstate_bytes_per_vcpu'], 'bytes')} of guest "
                 f"fpstate per vCPU ({format_value(e['fleet_fpstate_gib'], 'GiB')} for the "
                 f"fleet); {sig(e['unused_amx_bytes_fraction'] * 100)} % of the memory it holds "
                 "for AMX tiles belongs to vCPUs that never used AMX.")
    if eager in w.index and lazy in w.index:
        e, z = w.loc[eager], w.loc[lazy]
        saved = e["fpstate_bytes_per_vcpu"] - z["fpstate_bytes_per_vcpu"]
        text += (f" {lazy} holds {format_value(z['fpstate_bytes_per_vcpu'], 'bytes')} per vCPU "
                 f"({format_value(saved, 'bytes')} less) and reallocates "
                 f"{sig(z['reallocs_per_host_hour'])} times per host-hour while guests run "
                 f"({eager}: {sig(e['reallocs_per_host_hour'])}, at KVM_SET_CPUID2).")
    if eager in w.index and xcr0 in w.index:
        e, x = w.loc[eager], w.loc[xcr0]
        share = 1 - x["fpstate_bytes_per_vcpu"] / e["fpstate_bytes_per_vcpu"] \
            if e["fpstate_bytes_per_vcpu"] else 0.0
        text += (f" {xcr0} saves {sig(share * 100)} % of {eager}'s fpstate memory: "
                 f"{sig(_mix_mean(sc, 'p_guest_aware') * 100)} % of guests are AMX-aware and "
                 "enable AMX in XCR0 at boot.")
    return text


def sensitivity_findings(tornado: pd.DataFrame, label: str, top: int = 3,
                         threshold: float = THRESHOLDS[0]) -> str:
    """The parameters that move ``label`` most (a tornado frame), and whether any of them
    alone brings it to ``threshold`` of host CPU within its plausible range."""
    t = tornado.assign(swing=(tornado["metric_high"] - tornado["metric_low"]).abs()) \
        .sort_values("swing", ascending=False, kind="stable")
    moving = t[t["swing"] > 0]
    names = ", ".join(f"{r.parameter} ({format_value(r.metric_low, 'fraction')} to "
                      f"{format_value(r.metric_high, 'fraction')})"
                      for r in moving.head(top).itertuples())
    base = float(t["baseline"].iloc[0]) if len(t) else float("nan")
    text = (f"{label} is {format_value(base, 'fraction')} of host CPU at the baseline; the "
            f"parameters that move it most, each alone over its plausible range: "
            f"{names or 'none'}.")
    over = t[(t["metric_low"] >= threshold) | (t["metric_high"] >= threshold)]
    level = threshold_label(threshold)
    if base >= threshold:
        text += f" It is above {level} already at the baseline."
    elif len(over):
        text += (f" Alone, {', '.join(over['parameter'])} can bring it to {level} within "
                 "the plausible range.")
    else:
        text += f" No parameter alone brings it to {level} within its plausible range."
    flips = t[(np.sign(t["metric_low"]) != np.sign(base)) | (np.sign(t["metric_high"]) != np.sign(base))]
    if base != 0 and len(flips):
        text += f" {', '.join(flips['parameter'])} can flip its sign."
    return text


def _first_crossing(x: np.ndarray, v: np.ndarray, level: float) -> float | None:
    above = np.flatnonzero(v >= level)
    if not len(above):
        return None
    i = above[0]
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (level - v[i - 1]) / (v[i] - v[i - 1]) * (x[i] - x[i - 1]))


def sweep_findings(points: pd.DataFrame, param: str, facet: str | None = None,
                   policies: tuple[str, ...] = ("upstream", "sync-always"),
                   metric: str = "overhead_fraction",
                   threshold: float = THRESHOLDS[0]) -> str:
    """Per panel of a sweep: where each of ``policies`` first reaches ``threshold`` along
    ``param`` (averaged over seeds), or that it does not within the swept range."""
    rows = points[points["metric"] == metric]
    level = threshold_label(threshold)
    keys = [param, facet] if facet else [param]
    mean = rows.groupby([*keys, "policy"], as_index=False)["value"].mean()
    out = []
    for panel, grp in (mean.groupby(facet, sort=False) if facet else [(None, mean)]):
        reached = []
        for pol in policies:
            g = grp[grp["policy"] == pol].sort_values(param)
            if g.empty:
                continue
            x = _first_crossing(g[param].to_numpy(float), g["value"].to_numpy(float), threshold)
            if x is not None:
                reached.append(f"{pol} from {param} = {sig(x)}")
        where = f"{facet} {panel}: " if facet else ""
        out.append(where + (", ".join(reached) if reached else f"no {' or '.join(policies)} "
                            f"reaches {level} in the swept range"))
    lo, hi = points[param].min(), points[param].max()
    return (f"Where {' and '.join(policies)} reach {level} of host CPU ({param} swept from "
            f"{sig(lo)} to {sig(hi)}): " + "; ".join(out) + ".")
