"""Plain-text twins of the charts, ready to paste into a reply on a kernel list.

``chart_text("overhead", frames, header)`` gives, for a run, what the overhead PNG shows:
a header naming the metric, its unit and the parameter set (``scenario default, seed
20211116, rdmsr_xfd=50 cyc, wrmsr_xfd=200 cyc``), an aligned table, and a ``#`` bar chart,
all within 72 columns and in ASCII. Each chart kind of :mod:`amxmodel.plot.charts` has one
renderer here, fed by the same tables (:mod:`amxmodel.plot.frames`), so the mail and the PNG
quote the same numbers. The layout primitives live in :mod:`amxmodel.plot.textfmt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from amxmodel.analysis.breakeven import THRESHOLDS
from amxmodel.common.units import format_value, is_fraction, sig
from amxmodel.plot import frames as cd
from amxmodel.plot.textfmt import (
    RAMP,
    WIDTH,
    fit,
    header_lines,
    sparkline,
    text_bars,
    text_sweep,
    text_table,
    value_span,
    wrap,
)

__all__ = ["chart_text", "format_value", "text_bars", "text_sweep", "text_table"]

MECH_CHARS = dict(zip(cd.MECHANISMS, "RWEINSUAXTB", strict=True))
MECH_SHORT = {"rdmsr_xfd": "rdmsr", "wrmsr_xfd": "wrmsr", "intercept_exits": "intercept",
              "nm_exits": "nm", "switch_check": "switch", "user_exits": "user",
              "xsaves_tiles": "xsaves", "xsetbv": "xsetbv"}


def _unit(df: pd.DataFrame, metric: str) -> str:
    return cd.metric_unit(df, metric) or ("fraction" if is_fraction(metric) else "")


def _doc(title: str, metric: str, unit: str, params: str, *blocks: str) -> str:
    label = cd.unit_note(metric, unit)
    lines = header_lines(title, metric, label, params)
    for block in blocks:
        lines += ["", block]
    return "\n".join(lines)


def _wide(t: pd.DataFrame, column: str, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Policy rows (catalogue order) by ``column`` values, ``policy`` as first column."""
    wide = t.pivot(index="policy", columns=column, values="value")
    wide = wide.reindex(index=cd.policy_order(t["policy"]),
                        columns=list(names or dict.fromkeys(t[column])))
    return wide.rename_axis(columns=None).reset_index()


def _overhead(frames: Mapping, params: str, metric: str = "overhead_fraction",
              log: bool | None = None) -> str:
    s = frames["summary"]
    t, unit = cd.overhead_table(s, metric), _unit(s, metric)
    table = pd.DataFrame({"policy": t["policy"], "mean": t["value"],
                          "95% +-": t["stderr"] * cd.Z95})
    bars = text_bars(t["policy"], t["value"], unit=unit,
                     log=cd.use_log(t["value"], log))
    return _doc(f"{cd.metric_title(metric)} by policy (mean over hosts)", metric, unit, params,
                text_table(table, {"mean": unit, "95% +-": unit}), bars)


def _mechanisms(frames: Mapping, params: str) -> str:
    t = cd.mechanism_table(frames["summary"])
    live = [m for m in cd.MECHANISMS if (t.loc[t["mechanism"] == m, "value"] > 0).any()]
    wide = _wide(t, "mechanism", live)
    bars = text_bars(wide["policy"], wide[live].to_numpy(), unit="fraction",
                     chars="".join(MECH_CHARS[m] for m in live),
                     log=cd.use_log(wide[live].sum(axis=1)))
    legend = "\n".join(wrap("  ".join(f"{MECH_CHARS[m]}\xa0{m}" for m in live)))
    table = wide.rename(columns=MECH_SHORT)
    units = dict.fromkeys(table.columns[1:], "fraction")
    return _doc("Where the overhead goes (bars stacked by mechanism)",
                "overhead_fraction_<mechanism>", "fraction", params,
                bars + "\n" + legend, text_table(table, units))


def _hosts(frames: Mapping, params: str, log: bool | None = None) -> str:
    t = cd.host_quantiles(frames.get("hosts"), frames.get("summary"))
    wide = _wide(t, "stat")
    bars = text_bars(wide["policy"], wide["p99"], unit="fraction",
                     log=cd.use_log(wide["p99"], log))
    return _doc("Overhead across hosts: p50, p99, max (bars: p99)", "overhead_fraction per host",
                "fraction", params, text_table(wide, dict.fromkeys(wide.columns[1:], "fraction")),
                bars)


def _host_histogram(frames: Mapping, params: str, bins: int = 30, log: bool = True) -> str:
    h = cd.host_histogram(frames["hosts"], bins, log)
    names = cd.policy_order(h["policy"])
    lw = min(max(len(n) for n in names), 18)
    lines = wrap(f"x: per-host overhead from {format_value(h['lo'].min(), 'fraction')} to "
                 f"{format_value(h['hi'].max(), 'fraction')}, {bins} {'log' if log else 'linear'}"
                 f" bins, left to right; shade: share of hosts '{RAMP}'")
    top = h["share"].max() or 1.0
    for name in names:
        g = h[h["policy"] == name]
        peak = g.loc[g["share"].idxmax()]
        mid = (peak["lo"] * peak["hi"]) ** 0.5 if log else (peak["lo"] + peak["hi"]) / 2
        mode = f"mode ~{format_value(mid, 'fraction')}" if g["hosts"].sum() else "no host in range"
        shades = sparkline(g["share"], 0.0, top)
        lines.append(fit(f"{fit(name, lw):<{lw}} |{shades}| {mode}", WIDTH))
    return _doc("Distribution of overhead across hosts", "overhead_fraction per host", "fraction",
                params, "\n".join(lines))


def _memory(frames: Mapping, params: str) -> str:
    t = cd.memory_table(frames["summary"])
    wide = _wide(t, "kind")
    bars = text_bars(wide["policy"], wide["resident"], unit="bytes")
    return _doc("Guest fpstate memory per vCPU (bars: resident)", "fpstate_*_bytes_per_vcpu",
                "bytes per vCPU", params,
                text_table(wide, dict.fromkeys(wide.columns[1:], "bytes")), bars)


def _by_class(frames: Mapping, params: str, metric: str | None = None,
              log: bool | None = None) -> str:
    df = frames["by_class"]
    t, metric = cd.class_table(df, metric)
    unit = _unit(df, metric)
    wide = _wide(t, "workload")
    worst = t.loc[t.groupby("policy", sort=False)["value"].idxmax()]
    labels = [f"{p} ({w})" for p, w in zip(worst["policy"], worst["workload"])]
    bars = text_bars(labels, worst["value"], unit=unit,
                     log=cd.use_log(worst["value"], log))
    return _doc(f"{cd.metric_title(metric)} by workload class (bars: worst class)", metric, unit,
                params, text_table(wide, dict.fromkeys(wide.columns[1:], unit)), bars)


def _crossing(x: np.ndarray, v: np.ndarray, level: float) -> str:
    """Where a sweep line first reaches ``level`` (interpolated), ``never`` if it does not."""
    above = np.flatnonzero(v >= level)
    if not len(above):
        return "never"
    i = above[0]
    if i == 0:
        return f"<= {sig(x[0])}"
    x0, x1, v0, v1 = x[i - 1], x[i], v[i - 1], v[i]
    return f"~{sig(x0 + (level - v0) / (v1 - v0) * (x1 - x0))}"


def _sweep(frames: Mapping, params: str, param: str | None = None,
           metric: str = "overhead_fraction", log: bool = True,
           thresholds: Sequence[float] = THRESHOLDS, facet: str | None = None) -> str:
    t, param, facet = cd.sweep_table(frames["sweep"], param or frames.get("sweep_param"),
                                     metric, facet)
    unit = _unit(frames["sweep"], metric)
    levels = thresholds if is_fraction(metric, unit) else ()
    span = value_span(t["value"], log)
    blocks, tables = [], {None: {}, **{level: {} for level in levels}}
    for panel in list(dict.fromkeys(t[facet])) if facet else [None]:
        sub = t if panel is None else t[t[facet] == panel]
        wide = sub.pivot(index=param, columns="policy", values="value").sort_index()
        wide = wide[cd.policy_order(wide.columns)]
        x = wide.index.to_numpy(dtype=float)
        spark = text_sweep(x, {p: wide[p] for p in wide.columns}, param=param, unit=unit,
                           log=log, span=span)
        blocks.append(spark if panel is None else f"{facet} = {panel}\n{spark}")
        for level in levels:
            tables[level][panel] = [_crossing(x, wide[p].to_numpy(), level) for p in wide.columns]
        tables[None][panel] = wide.iloc[-1].to_numpy()
        if panel is None:  # one panel: one table with both ends and the crossings
            table = pd.DataFrame({"policy": wide.columns, f"at {sig(x[0])}": wide.iloc[0],
                                  f"at {sig(x[-1])}": wide.iloc[-1]}).reset_index(drop=True)
            for level in levels:
                table[f"reaches {format_value(level, 'fraction')}"] = tables[level][None]
            blocks.append(text_table(table, dict.fromkeys(table.columns[1:3], unit)))
    if facet:  # per facet value: where each policy reaches each threshold
        names = cd.policy_order(t["policy"])
        for level in levels or [None]:
            title = (f"reaches {format_value(level, 'fraction')}" if level is not None
                     else f"at {param} = {sig(t[param].max())}")
            table = pd.DataFrame({title: names, **tables[level]})
            if level is not None and (table.iloc[:, 1:] == "never").all(axis=None):
                blocks.append(f"no policy {title} in any {facet} of this sweep")
            else:
                blocks.append(text_table(table, dict.fromkeys(tables[level], unit)))
    return _doc(f"{cd.metric_title(metric)} against {param}", metric, unit, params, *blocks)


def _tornado(frames: Mapping, params: str, metric: str = "overhead_fraction",
             unit: str = "fraction") -> str:
    t = cd.tornado_table(frames["tornado"])
    lw = min(max(len(p) for p in t["parameter"]), 28)
    half = (WIDTH - lw - 2) // 2
    deltas = np.concatenate([t["metric_low"] - t["baseline"], t["metric_high"] - t["baseline"]])
    scale = np.nanmax(np.abs(deltas)) or 1.0
    lines = []
    for row in t.itertuples():
        left, right = [" "] * half, [" "] * half
        ends = sorted([(row.metric_low - row.baseline, "="), (row.metric_high - row.baseline, "#")],
                      key=lambda e: -abs(e[0]))
        for delta, char in ends:
            n = round(abs(delta) / scale * half)
            side = right if delta >= 0 else left
            for i in range(n):
                side[i if delta >= 0 else half - 1 - i] = char
        label = fit(row.parameter, lw, keep="end")
        lines.append(fit(f"{label:>{lw}} {''.join(left)}|{''.join(right)}".rstrip(), WIDTH))
    lines += ["'=' parameter at its low value, '#' at its high value",
              (f"'|' baseline {format_value(t['baseline'].iloc[0], unit, metric)}, "
               f"a half line is {format_value(scale, unit, metric)}")]
    table = t[["parameter", "low_value", "high_value", "metric_low", "metric_high"]].rename(
        columns={"low_value": "low", "high_value": "high", "metric_low": "at low",
                 "metric_high": "at high"})
    return _doc(f"Sensitivity: {cd.metric_title(metric)}", metric, unit, params, "\n".join(lines),
                text_table(table, {"at low": unit, "at high": unit}))


TEXT_KINDS = {"overhead": _overhead, "mechanisms": _mechanisms, "hosts": _hosts,
              "host_histogram": _host_histogram, "memory": _memory, "by_class": _by_class,
              "sweep": _sweep, "tornado": _tornado}


def chart_text(kind: str, frames: Mapping, header: str = "", **options) -> str:
    """The text form of chart ``kind`` (as in :mod:`amxmodel.plot.charts`), every line <= 72 columns."""
    cd.check_kind(kind, frames)
    text = TEXT_KINDS[kind](frames, header, **options)
    return "\n".join(fit(line, WIDTH) for line in text.splitlines())
