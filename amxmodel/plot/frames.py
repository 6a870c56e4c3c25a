"""The pandas step behind every chart and text chart: long frames in, small tables out.

A run's ``summary`` frame says, per policy, what fraction of the host CPU goes to keeping
IA32_XFD consistent (``overhead_fraction``, split by mechanism: the RDMSR after each exit,
XFD writes, extra exits, ..., and the XSETBV that AMX in the host XCR0 adds), and how much fpstate memory each vCPU holds. ``hosts`` has
one row per host and policy (tens of thousands of rows): it is reduced here to quantiles
or a histogram, so a chart never embeds it raw (altair refuses more than 5,000 rows).

Each ``*_table`` function feeds one altair chart (:mod:`amxmodel.plot.charts`) and its plain-text
twin (:mod:`amxmodel.plot.textchart`), so a PNG and a mail quote the same numbers. Fractions are
shown in percent, bytes in KiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from amxmodel.common.errors import InputError, unknown
from amxmodel.common.units import is_fraction
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.vocabulary import OVERHEAD_GROUPS

MECHANISMS = tuple(OVERHEAD_GROUPS)  # the XFD mechanisms and, beside them, XSETBV
MEMORY_METRICS = {"fpstate_bytes_per_vcpu": "resident",
                  "fpstate_va_bytes_per_vcpu": "address space",
                  "fpstate_peak_bytes_per_vcpu": "peak (realloc)",
                  "unused_amx_bytes_per_vcpu": "unused AMX"}
MECHANISM_WORDS = {"rdmsr_xfd": "RDMSR XFD after exits", "wrmsr_xfd": "WRMSR XFD",
                   "xfd_err": "XFD_ERR reads and writes", "intercept_exits": "intercepted exits",
                   "nm_exits": "#NM exits", "switch_check": "switch_to() check",
                   "user_exits": "exits to the VMM", "realloc": "reallocations",
                   "xinuse": "XINUSE checks", "xsaves_tiles": "XSAVES of live tiles",
                   "xsetbv": "XSETBV (XCR0 switch)"}
HOST_STATS = ("p50", "p99", "max")
SUMMARY_COLUMNS = ("scenario", "policy", "metric", "value", "stderr", "unit")
Z95 = 1.96


# ----------------------------------------------------------------------------- units


def policy_order(names: Iterable[str]) -> list[str]:
    """Policies in catalogue order, unknown names after them in first-seen order."""
    seen = list(dict.fromkeys(str(n) for n in names))
    return [p for p in POLICY_NAMES if p in seen] + [n for n in seen if n not in POLICY_NAMES]


def display_unit(metric: str, unit: str = "") -> tuple[float, str]:
    """Factor and unit label a metric is drawn in: fractions in %, bytes in KiB."""
    if is_fraction(metric, unit):
        return 100.0, "%"
    if unit in ("bytes", "B", "byte"):
        return 1 / 1024, "KiB"
    return 1.0, unit


def unit_note(metric: str, unit: str) -> str:
    """How a subtitle or mail header names a metric's unit as shown ('% of host CPU')."""
    if not is_fraction(metric, unit):
        return unit
    rest = unit[len("fraction"):].strip() if str(unit).startswith("fraction") else ""
    return f"% {rest or ('of host CPU' if metric.startswith('overhead_fraction') else '')}".strip()


TITLES = {"overhead_fraction": "Host CPU overhead",
          "overhead_fraction_p99": "Host CPU overhead on the p99 host",
          "overhead_fraction_of_vcpu": "Overhead in vCPU time",
          "breakeven_rdmsr_xfd_cycles": "RDMSR(IA32_XFD) price that reaches the threshold",
          "reallocs_per_host_hour": "Guest fpstate reallocations per host-hour",
          "realloc_failures": "Failed guest fpstate reallocations in the fleet",
          "fpstate_bytes_per_vcpu": "Guest fpstate memory per vCPU",
          "unused_amx_bytes_fraction": "AMX memory never used"}
# Axis titles of swept parameters, in words with their unit.
PARAM_TITLES = {
    "exits_per_vcpu_s": "fleet-mean VM exits per vCPU-second",
    "hardware.rdmsr_xfd_cycles": "RDMSR(IA32_XFD) price (cycles)",
    "rdmsr_xfd_cycles": "RDMSR(IA32_XFD) price (cycles)",
    "hardware.wrmsr_xfd_cycles": "WRMSR(IA32_XFD) price (cycles)",
    "wrmsr_xfd_cycles": "WRMSR(IA32_XFD) price (cycles)",
    "workloads.*.vm_lifetime_s.median": "median VM lifetime (seconds)",
    "fleet.realloc_fail_prob": "probability that one reallocation fails",
    "workloads.*.exits_per_vcpu_s.median": "median VM exits per vCPU-second",
    "workloads.*.p_uses_amx": "share of VMs that run AMX code",
    "workload": "workload class",
    "threshold": "threshold (share of host CPU)",
}


def param_title(param: str) -> str:
    """An axis title in words for a swept key (its catalogue unit when not listed)."""
    if param in PARAM_TITLES:
        return PARAM_TITLES[param]
    from amxmodel.inputs import catalog

    name = param.split(".")[-1] if not param.endswith((".median", ".sigma")) \
        else param.split(".")[-2]
    for section in ("hardware", "fleet", "run", "workload"):
        spec = catalog.section(section).get(name)
        if spec is not None:
            words = name.replace("_", " ")
            return f"{words} ({spec.unit})" if spec.unit else words
    return param.replace("_", " ")
CLASS_METRICS = ("overhead_fraction", "overhead_fraction_of_vcpu")


def metric_title(metric: str) -> str:
    """A chart title for a metric ('Host CPU overhead' for ``overhead_fraction``)."""
    return TITLES.get(metric, metric)


def use_log(values, log: bool | None = None) -> bool:
    """``log`` when given; else whether the positive values span two decades or more."""
    if log is not None:
        return bool(log)
    v = np.asarray(values, dtype=float)
    pos = v[v > 0]
    return len(pos) > 1 and pos.max() / pos.min() >= 100


def metric_unit(df: pd.DataFrame, metric: str) -> str:
    """The ``unit`` recorded for ``metric`` in a long frame ('' when absent)."""
    if "unit" not in df:
        return ""
    units = df.loc[df["metric"] == metric, "unit"].dropna()
    return str(units.iloc[0]) if len(units) else ""


# ----------------------------------------------------------------------------- tables


def one_scenario(df: pd.DataFrame, scenario: str | None = None) -> pd.DataFrame:
    """Rows of one scenario (the only one, or ``scenario``); InputError when ambiguous."""
    if "scenario" not in df or df.empty:
        return df
    names = list(dict.fromkeys(df["scenario"].astype(str)))
    if scenario is None and len(names) > 1:
        raise InputError(f"frame holds scenarios {', '.join(names)}; pass scenario=<name>")
    if scenario is not None and scenario not in names:
        raise InputError(f"no scenario '{scenario}' in frame; allowed: {', '.join(names)}")
    return df[df["scenario"].astype(str) == (scenario or names[0])]


def _metric_rows(df: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    rows = df[df["metric"].isin(metrics)]
    if rows.empty:
        raise InputError(f"no rows for metric {', '.join(metrics)} in the frame")
    return rows


def _ordered(df: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Rows sorted by policy (catalogue order) then ``by``; categorical columns back to str."""
    order = {p: i for i, p in enumerate(policy_order(df["policy"]))}
    out = df.sort_values(["policy", *by], kind="stable",
                         key=lambda s: s.map(order) if s.name == "policy" else s)
    cats = {c: out[c].astype(str) for c in by if isinstance(out[c].dtype, pd.CategoricalDtype)}
    return out.assign(**cats).reset_index(drop=True)


def _labelled(df: pd.DataFrame, names: Mapping[str, str], column: str) -> pd.DataFrame:
    """Rows of the metrics in ``names`` as policy, ``column`` (their label), value; in order."""
    rows = _metric_rows(one_scenario(df), list(names))
    order = list(dict.fromkeys(names.values()))
    labels = pd.Categorical(rows["metric"].map(names), categories=order)
    return _ordered(rows.assign(**{column: labels})[["policy", column, "value"]], [column])


def overhead_table(summary: pd.DataFrame, metric: str = "overhead_fraction") -> pd.DataFrame:
    """Columns policy, value, stderr for one metric, in catalogue order."""
    rows = _metric_rows(one_scenario(summary), [metric])
    return _ordered(rows[["policy", "value"]].assign(stderr=rows.get("stderr", np.nan)))


def mechanism_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Columns policy, mechanism, value: the overhead split (mechanisms present in the frame)."""
    return _labelled(summary, {f"overhead_fraction_{m}": m for m in MECHANISMS}, "mechanism")


def host_quantiles(hosts: pd.DataFrame | None = None,
                   summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Columns policy, stat (p50, p99, max), value: per-host overhead, from hosts or summary."""
    if hosts is None or hosts.empty:
        if summary is None:
            raise InputError("per-host chart needs a hosts frame or a summary frame")
        return _labelled(summary, {f"overhead_fraction_{s}": s for s in HOST_STATS}, "stat")
    g = hosts.groupby("policy", sort=False)["overhead_fraction"]
    wide = pd.DataFrame({"p50": g.quantile(0.5), "p99": g.quantile(0.99), "max": g.max()})
    out = wide.reset_index().melt(id_vars="policy", var_name="stat", value_name="value")
    return _ordered(out.assign(stat=pd.Categorical(out["stat"], categories=HOST_STATS)), ["stat"])


def host_histogram(hosts: pd.DataFrame, bins: int = 30, log: bool = False,
                   shared: bool = True) -> pd.DataFrame:
    """Columns policy, lo, hi, hosts, share: per-policy histogram on shared bin edges, or
    (``shared=False``) on linear edges from 0 to each policy's busiest host."""
    if not shared:
        parts = []
        for policy, grp in hosts.groupby("policy", sort=False):
            v = grp["overhead_fraction"].to_numpy(dtype=float)
            top = float(v.max()) if len(v) and v.max() > 0 else 0.0
            edges = np.linspace(0.0, top, bins + 1) if top > 0 else np.zeros(bins + 1)
            counts = np.histogram(v, bins=edges)[0] if top > 0 else \
                np.r_[len(v), np.zeros(bins - 1, int)]
            parts.append(pd.DataFrame({"policy": policy, "lo": edges[:-1], "hi": edges[1:],
                                       "hosts": counts, "share": counts / max(len(v), 1)}))
        return _ordered(pd.concat(parts, ignore_index=True), ["lo"])
    values = hosts["overhead_fraction"].to_numpy(dtype=float)
    if log:
        pos = values[values > 0]
        if not len(pos):
            raise InputError("log histogram needs positive per-host overheads")
        edges = np.geomspace(pos.min(), pos.max() * (1 + 1e-9), bins + 1)
    else:
        edges = np.histogram_bin_edges(values, bins=bins)
    parts = []
    for policy, grp in hosts.groupby("policy", sort=False):
        counts, _ = np.histogram(grp["overhead_fraction"], bins=edges)
        parts.append(pd.DataFrame({"policy": policy, "lo": edges[:-1], "hi": edges[1:],
                                   "hosts": counts, "share": counts / max(len(grp), 1)}))
    return _ordered(pd.concat(parts, ignore_index=True), ["lo"])


def memory_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Columns policy, kind, value (bytes per vCPU): resident, address space, peak, unused AMX."""
    return _labelled(summary, MEMORY_METRICS, "kind")


def class_table(by_class: pd.DataFrame, metric: str | None = None) -> tuple[pd.DataFrame, str]:
    """(columns policy, workload, value; the metric): one metric per workload class, by
    default the first of :data:`CLASS_METRICS` in the frame."""
    if metric is None:
        have = set(by_class["metric"])
        metric = next((m for m in CLASS_METRICS if m in have), CLASS_METRICS[0])
    rows = _metric_rows(by_class, [metric])
    return _ordered(rows[["policy", "workload", "value"]], ["workload"]), metric


def swept_parameters(sweep: pd.DataFrame) -> list[str]:
    """Columns of a sweep frame that hold parameters varied by the sweep."""
    extra = [c for c in sweep.columns if c not in SUMMARY_COLUMNS and c not in ("point_id", "seed")]
    return [c for c in extra if sweep[c].nunique(dropna=True) > 1]


def sweep_table(sweep: pd.DataFrame, param: str | None = None, metric: str = "overhead_fraction",
                facet: str | None = None) -> tuple[pd.DataFrame, str, str | None]:
    """(columns <param>, [<facet>], policy, value averaged over seeds; param; facet).

    ``param`` defaults to the one numeric swept key; a second swept key (the workload class
    of ``data/sweeps/rdmsr_x_exits.yaml``) becomes ``facet``, one panel per value."""
    varied = swept_parameters(sweep)
    if param is None:
        numeric = [c for c in varied if c != facet and pd.api.types.is_numeric_dtype(sweep[c])]
        if len(numeric) == 2 and facet is None and len(varied) == 2:
            numeric, facet = numeric[:1], numeric[1]  # two numbers: x and one panel per value
        if len(numeric) != 1:
            varies = ", ".join(varied) or "no parameter"
            raise InputError(f"sweep varies {varies}; choose the x axis with --param (param= "
                             "in Python) and the panels with --facet (facet=)")
        param = numeric[0]
    for key in (param, facet):
        if key is not None and key not in sweep:
            raise InputError(f"sweep has no column '{key}'; swept: {', '.join(varied) or 'none'}")
    others = [c for c in varied if c not in (param, facet)]
    if facet is None and len(others) == 1:
        facet, others = others[0], []
    if others:
        raise InputError(f"sweep also varies {', '.join(others)}; filter to one value of it first")
    keys = [param, facet] if facet else [param]
    rows = _metric_rows(sweep, [metric])
    out = rows.groupby([*keys, "policy"], sort=False, as_index=False)["value"].mean()
    return _ordered(out, keys[::-1]), param, facet


def tornado_table(df: pd.DataFrame) -> pd.DataFrame:
    """The tornado input sorted by swing (largest first), with a ``swing`` column."""
    need = ["parameter", "low_value", "high_value", "metric_low", "metric_high", "baseline"]
    missing = [c for c in need if c not in df]
    if missing:
        raise InputError(f"tornado frame lacks column(s) {', '.join(missing)}; "
                         f"needs {', '.join(need)}")
    out = df[need].assign(swing=(df["metric_high"] - df["metric_low"]).abs())
    return out.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


# Chart kinds and the frames each needs (any one of the alternatives in a tuple).
CHART_KINDS: dict[str, tuple[str, ...]] = {
    "overhead": ("summary",), "mechanisms": ("summary",), "hosts": ("hosts", "summary"),
    "host_histogram": ("hosts",), "memory": ("summary",), "by_class": ("by_class",),
    "sweep": ("sweep",), "tornado": ("tornado",),
}


def available_kinds(frames: Mapping) -> list[str]:
    """The chart kinds whose input frames are present and not empty (a summary stands in for
    the hosts frame only when it has per-host quantiles: sampled runs, not mean-field)."""
    def have(key: str, kind: str) -> bool:
        df = frames.get(key)
        if not isinstance(df, pd.DataFrame) or df.empty:
            return False
        if kind == "hosts" and key == "summary":
            return f"overhead_fraction_{HOST_STATS[0]}" in set(df["metric"])
        return True
    return [k for k, keys in CHART_KINDS.items() if any(have(key, k) for key in keys)]


def check_kind(kind: str, frames: Mapping) -> None:
    """InputError unless ``kind`` is a chart kind whose frames are present."""
    if kind not in CHART_KINDS:
        raise unknown("chart", kind, CHART_KINDS)
    if kind not in available_kinds(frames):
        raise InputError(f"chart '{kind}' needs frame {' or '.join(CHART_KINDS[kind])}")


def chart_caption(kind: str, frames: Mapping) -> str:
    """The caption of chart ``kind``: the run's, and for a sweep also the keys it varies
    (a fixed value the sweep overrides is not claimed as the chart's)."""
    from amxmodel.runs.caption import scenario_header

    meta = frames.get("scenario")
    sweep = frames.get("sweep")
    if kind != "sweep" or not isinstance(sweep, pd.DataFrame) or not isinstance(meta, Mapping):
        return scenario_header(meta)
    varied = [c for c in swept_parameters(sweep) if c != "threshold"]
    changes = meta.get("changes")
    if changes is not None:
        changes = [c for c in changes if c.split("=", 1)[0] not in varied
                   and c.split("=", 1)[0].split(".")[-1] not in varied]
    swept = list(dict.fromkeys([*(meta.get("swept") or []), *varied]))
    return scenario_header({**meta, "swept": swept,
                            **({"changes": changes} if changes is not None else {})})
