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
from amxmodel.common.units import format_value, is_fraction, short_unit, sig
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
              log: bool | None = False) -> str:
    s = frames["summary"]
    t, unit = cd.overhead_table(s, metric), _unit(s, metric)
    table = pd.DataFrame({"design": t["policy"], "mean": t["value"],
                          "95% +-": t["stderr"] * cd.Z95})
    log = cd.use_log(t["value"], log)
    bars = text_bars(t["policy"], t["value"], unit=unit, log=log)
    scale = "" if log else "\nbars: linear, the longest is the largest value"
    return _doc(f"{cd.metric_title(metric)} of each design (mean over hosts)", metric, unit,
                params, text_table(table, {"mean": unit, "95% +-": unit}), bars + scale)


def _mechanisms(frames: Mapping, params: str) -> str:
    t = cd.mechanism_table(frames["summary"])
    live = [m for m in cd.MECHANISMS if (t.loc[t["mechanism"] == m, "value"] > 0).any()]
    wide = _wide(t, "mechanism", live)
    bars = text_bars(wide["policy"], wide[live].to_numpy(), unit="fraction",
                     chars="".join(MECH_CHARS[m] for m in live), log=False)
    legend = "\n".join(wrap("; ".join(f"{MECH_CHARS[m]}\xa0=\xa0{cd.MECHANISM_WORDS[m]}"
                                      for m in live)))
    table = wide.rename(columns={**MECH_SHORT, "policy": "design"})
    units = dict.fromkeys(table.columns[1:], "fraction")
    return _doc("Where each design's overhead goes (bars stacked by mechanism, linear)",
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


def _host_histogram(frames: Mapping, params: str, bins: int = 20, log: bool = False) -> str:
    h = cd.host_histogram(frames["hosts"], bins, log, shared=False)
    names = cd.policy_order(h["policy"])
    zero = [n for n in names if not (h.loc[h["policy"] == n, "hi"] > 0).any()]
    names = [n for n in names if n not in zero]
    lw = min(max((len(n) for n in names), default=8), 18)
    lines = wrap(f"each row: per-host overhead from 0 (left) to that design's busiest "
                 f"host (right), {bins} bins; shade: share of hosts '{RAMP}'")
    wide = pd.DataFrame({n: np.r_[h.loc[h["policy"] == n, "share"].to_numpy(),
                                  h.loc[h["policy"] == n, "hi"].max()] for n in names})
    merged, legend = _groups(wide)
    for name in merged.columns:
        g = h[h["policy"] == name.split(" (+")[0]]
        shades = sparkline(g["share"], 0.0, float(g["share"].max()) or 1.0)
        top = format_value(g["hi"].max(), "fraction")
        lines.append(fit(f"{fit(name, lw):<{lw}} |{shades}| 0 .. {top}", WIDTH))
    lines += legend
    if zero:
        lines += wrap(f"{', '.join(zero)}: 0 on every host")
    return _doc("How the overhead spreads across hosts", "overhead_fraction per host",
                "fraction", params, "\n".join(lines))


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
    zero = [p for p in cd.policy_order(t["policy"])
            if not (t.loc[t["policy"] == p, "value"] > 0).any()]
    t = t[~t["policy"].isin(zero)]
    wide = _wide(t, "workload").rename(columns={"policy": "design"})
    worst = t.loc[t.groupby("policy", sort=False)["value"].idxmax()]
    worst = pd.DataFrame({"design": worst["policy"].to_numpy(),
                          "worst class": worst["workload"].to_numpy(),
                          "there": worst["value"].to_numpy()})
    note = f"{', '.join(zero)}: 0 in every class" if zero else ""
    what = cd.unit_note(metric, unit)
    blocks = [text_table(wide, dict.fromkeys(wide.columns[1:], unit)),
              text_table(worst, {"there": unit})]
    blocks.append("\n".join(wrap(f"values: {what}, what one tenant's vCPU loses"
                                  + (f"; {note}" if note else ""))))
    return _doc(f"{cd.metric_title(metric)} by workload class", metric, unit, params, *blocks)


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


def _groups(wide: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Columns of identical series merged: labelled ``first (+n)``, with legend lines naming
    every design of a merged label in words."""
    seen: dict[tuple, list[str]] = {}
    for p in wide.columns:
        seen.setdefault(tuple(float(f"{v:.4g}") for v in wide[p].to_numpy(float)), []).append(p)
    out, legend = {}, []
    for names in seen.values():
        label = names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1})"
        out[label] = wide[names[0]]
        if len(names) > 1:
            legend += wrap(f"{label}: {', '.join(names)} (the same to 4 digits)")
    return pd.DataFrame(out, index=wide.index), legend


def _few_points(wide: pd.DataFrame, param: str, unit: str) -> str:
    """A sweep of a few points as a table: a row per design, a column per swept value, the
    unit named once above it."""
    table = pd.DataFrame({"design": list(wide.columns)})
    percent = is_fraction("", unit)
    for x in wide.index:
        table[f"at {sig(x)}"] = wide.loc[x].to_numpy(float) * (100 if percent else 1)
    head = wrap(f"columns: {cd.param_title(param)}; values in "
                f"{'%' if percent else short_unit(unit)}")
    return "\n".join(head) + "\n" + text_table(table)


def _crossings(wide: pd.DataFrame, levels: Sequence[float]) -> str:
    """Where each design first reaches each level along the swept axis (designs that reach
    none are left out), or one line saying that none does."""
    x = wide.index.to_numpy(dtype=float)
    rows = {p: [_crossing(x, wide[p].to_numpy(float), level) for level in levels]
            for p in wide.columns}
    rows = {p: r for p, r in rows.items() if any(c != "never" for c in r)}
    if not rows:
        return "\n".join(wrap(f"no design reaches {format_value(levels[0], 'fraction')} in "
                               "the swept range"))
    table = pd.DataFrame({"design": list(rows)})
    for i, level in enumerate(levels):
        table[f"reaches {format_value(level, 'fraction')} at"] = [r[i] for r in rows.values()]
    return text_table(table)


def _sweep(frames: Mapping, params: str, param: str | None = None,
           metric: str = "overhead_fraction", log: bool = True,
           thresholds: Sequence[float] = THRESHOLDS, facet: str | None = None) -> str:
    t, param, facet = cd.sweep_table(frames["sweep"], param or frames.get("sweep_param"),
                                     metric, facet)
    unit = _unit(frames["sweep"], metric)
    if metric.startswith("breakeven_"):
        return _breakeven(frames, params, t, param, facet, metric, unit)
    levels = thresholds if is_fraction(metric, unit) else ()
    span = value_span(t["value"], log)
    blocks: list[str] = []
    legend: list[str] = []
    for panel in list(dict.fromkeys(t[facet])) if facet else [None]:
        sub = t if panel is None else t[t[facet] == panel]
        wide = sub.pivot(index=param, columns="policy", values="value").sort_index()
        wide, more = _groups(wide[cd.policy_order(wide.columns)])
        legend += [line for line in more if line not in legend]
        x = wide.index.to_numpy(dtype=float)
        if len(x) <= 6:
            body = _few_points(wide, param, unit)
        else:
            body = text_sweep(x, {p: wide[p] for p in wide.columns}, param=cd.param_title(param),
                              unit=unit, log=log, span=span)
        if levels:
            body += "\n\n" + _crossings(wide, levels)
        blocks.append(body if panel is None else f"{cd.param_title(facet)}: {panel}\n{body}")
    if legend:
        blocks.append("\n".join(legend))
    return _doc(f"{cd.metric_title(metric)} against {cd.param_title(param)}", metric, unit,
                params, *blocks)


def _breakeven(frames: Mapping, params: str, t: pd.DataFrame, param: str, facet: str | None,
               metric: str, unit: str) -> str:
    """The break-even curve in text: shades on a fixed 10..10^6 cycle scale, the plausible
    price band and the fleet's exit rate named, 'already above' instead of 0 cycles."""
    from amxmodel.inputs import catalog

    name = metric[len("breakeven_"):]
    spec = catalog.section("hardware").get(name)
    rec = frames.get("scenario") if isinstance(frames.get("scenario"), Mapping) else {}
    rate = rec.get("exits_per_vcpu_s")
    blocks = []
    facts = []
    if spec is not None and spec.plausible:
        facts.append(f"plausible {cd.param_title(name).split(' (')[0]}: "
                     f"{spec.plausible[0]:g} to {spec.plausible[1]:g} cycles")
    if isinstance(rate, (int, float)) and rate > 0:
        facts.append(f"this fleet's mean: {sig(rate)} VM exits per vCPU-second")
    blocks.append("\n".join(wrap("; ".join(facts)))) if facts else None
    for panel in list(dict.fromkeys(t[facet])) if facet else [None]:
        sub = t if panel is None else t[t[facet] == panel]
        wide = sub.pivot(index=param, columns="policy", values="value").sort_index()
        wide = wide[cd.policy_order(wide.columns)]
        x = wide.index.to_numpy(dtype=float)
        spark = text_sweep(x, {p: wide[p].clip(lower=0.0) for p in wide.columns},
                           param="fleet-mean exits/vCPU-s", unit="cycles", log=True,
                           span=(10.0, 1e6))
        head = "" if panel is None else f"reaches {panel} of host CPU\n"
        rows = pd.DataFrame({"design": list(wide.columns)})
        if isinstance(rate, (int, float)) and x.min() <= rate <= x.max():
            rows[f"at {sig(rate)}/vCPU-s"] = [_at(x, wide[p].to_numpy(float), rate)
                                              for p in wide.columns]
        rows[f"at {sig(x[-1])}/vCPU-s"] = [_cycles(v) for v in wide.iloc[-1]]
        above = [p for p in wide.columns if (wide[p] <= 0).any()]
        note = ("already above at any price (blank): " + ", ".join(
            f"{p} from {sig(x[np.flatnonzero(wide[p].to_numpy() <= 0)[0]])} exits/vCPU-s"
            for p in above)) if above else "already above at any price: none"
        blocks.append(head + spark + "\n" + "\n".join(wrap(note)) + "\n\n" + text_table(rows))
    return _doc("RDMSR(IA32_XFD) price at which each design becomes noticeable", metric, unit,
                params, *blocks)


def _cycles(v: float) -> str:
    return "already above" if v <= 0 else ("never" if not np.isfinite(v) else f"{sig(v)} cyc")


def _at(x: np.ndarray, v: np.ndarray, rate: float) -> str:
    """The break-even at exit rate ``rate``, interpolated on log axes."""
    if (v <= 0).any() and rate >= x[np.flatnonzero(v <= 0)[0]]:
        return "already above"
    ok = v > 0
    return _cycles(float(np.exp(np.interp(np.log(rate), np.log(x[ok]), np.log(v[ok])))))


def _tornado(frames: Mapping, params: str, metric: str = "overhead_fraction",
             unit: str = "fraction") -> str:
    t = cd.tornado_table(frames["tornado"])
    lw = min(max(len(p) for p in t["parameter"]), 30)
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
        moved = row.swing > (t["swing"].max() or 1.0) * 1e-6
        bar = f"{''.join(left)}|{''.join(right)}" if moved else f"{' ' * half}| no effect"
        lines.append(fit(f"{label:>{lw}} {bar}".rstrip(), WIDTH))
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
