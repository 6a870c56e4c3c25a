"""Charts of a model run: frames in, altair charts out.

Every builder takes the tidy frames of a run (``summary``, ``hosts``, ``by_class``) or of a
sweep, reduces them in pandas (:mod:`amxmodel.plot.frames`), and returns an altair chart with
a title and a subtitle naming the units and the scenario, e.g. the host CPU overhead of
each policy on a log axis, because ``sync-always`` and ``opt1-exit-clear`` differ by
decades. Policy colors come from :mod:`amxmodel.plot.theme` and do not depend on which
policies a chart shows.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from amxmodel.analysis.breakeven import THRESHOLDS
from amxmodel.common.units import format_value, is_fraction, sig
from amxmodel.plot.frames import (
    HOST_STATS,
    MECHANISM_WORDS,
    MECHANISMS,
    Z95,
    check_kind,
    class_table,
    display_unit,
    host_histogram,
    host_quantiles,
    mechanism_table,
    memory_table,
    metric_title,
    metric_unit,
    overhead_table,
    param_title,
    policy_order,
    sweep_table,
    tornado_table,
    unit_note,
    use_log,
)
from amxmodel.plot.theme import PROMINENT, emphasis, policy_color, policy_scale

# ----------------------------------------------------------------------------- charts

def _log_note(log: bool, full: pd.DataFrame, shown: pd.DataFrame) -> str:
    """' (log scale)', naming the policies a log axis cannot show (all values at 0)."""
    if not log:
        return ""
    gone = [p for p in policy_order(full["policy"]) if p not in set(shown["policy"])]
    return " (log scale" + (f"; at 0, not drawn: {', '.join(gone)}" if gone else "") + ")"


def _titled(chart, title: str, units: str, header: str):
    """The chart with a title and a subtitle naming the units and the scenario (the caption
    wrapped to lines a PNG keeps readable)."""
    lines = [ln for part in units.split("\n") for ln in textwrap.wrap(part, 110)] if units else []
    lines += textwrap.wrap(header, 96, break_on_hyphens=False) if header else []
    return chart.properties(title=alt.Title(title, subtitle=lines, anchor="start"))


def _color(names, legend: bool = True) -> alt.Color:
    if legend:
        return alt.Color("policy:N", scale=policy_scale(names), title="design")
    return alt.Color("policy:N", scale=policy_scale(names), legend=None)


def _policy_y(names) -> alt.Y:
    return alt.Y("policy:N", sort=policy_order(names), title=None)


def _x(field: str, title: str, log: bool = False) -> alt.X:
    if log:
        return alt.X(field, title=title, scale=alt.Scale(type="log"), axis=alt.Axis(tickCount=6))
    return alt.X(field, title=title, scale=alt.Scale(zero=True))


def _bar_base(d: pd.DataFrame, log: bool) -> pd.DataFrame:
    """``d`` with a ``base`` column bars start from: 0, or on a log axis the decade below the
    smallest positive value (a log axis has no zero); rows <= 0 dropped on a log axis."""
    if not log:
        return d.assign(base=0.0)
    d = d[d["shown"] > 0]
    low = d["shown"].min() if len(d) else 1.0
    return d.assign(base=10.0 ** math.floor(math.log10(low)))


def overhead_chart(summary: pd.DataFrame, metric: str = "overhead_fraction",
                   log: bool | None = False, header: str = "") -> alt.LayerChart:
    """Bars per policy with 95% error bars (±1.96 stderr) and the value printed on each bar.

    The axis is linear by default, so a bar twice as long is a design that costs twice as
    much (the message when designs are compared); ``log=True`` or ``None`` (log when the
    values span two decades) for a reader who wants the small ones apart."""
    t = overhead_table(summary, metric)
    log = use_log(t["value"], log)
    raw = metric_unit(summary, metric)
    factor, unit = display_unit(metric, raw)
    err = t["stderr"].fillna(0.0) * Z95
    d = t.assign(shown=t["value"] * factor, lo=(t["value"] - err) * factor,
                 hi=(t["value"] + err) * factor)
    d = _bar_base(d, log)
    d = d.assign(lo=d["lo"].where(d["lo"] > d["base"], d["base"]),
                 label=[format_value(v, raw, metric) for v in d["value"]])
    base = alt.Chart(d).encode(y=_policy_y(d["policy"]))
    axis = f"overhead ({unit_note(metric, raw) or unit}), mean over hosts"
    bars = base.mark_bar().encode(
        x=_x("shown:Q", axis, log), x2="base:Q", color=_color(d["policy"], legend=False),
        opacity=emphasis(1.0, 0.65),
        tooltip=["policy", alt.Tooltip("shown:Q", format=".4~g", title=unit)])
    whiskers = base.mark_rule(color="#222222").encode(x=_x("lo:Q", axis, log), x2="hi:Q")
    labels = base.mark_text(align="left", dx=5, fontSize=11).encode(
        x=_x("hi:Q", axis, log), text="label:N")
    note = f"{unit_note(metric, raw)}, mean over hosts; whiskers: 95% interval"
    return _titled(bars + whiskers + labels,
                   f"{metric_title(metric)} of each design", note + _log_note(log, t, d), header)


def mechanism_chart(summary: pd.DataFrame, header: str = "") -> alt.Chart:
    """Stacked bars: the overhead of each policy split by mechanism (zero mechanisms dropped)."""
    t = mechanism_table(summary)
    live = t.groupby("mechanism")["value"].transform("max") > 0
    d = t[live].assign(shown=lambda x: x["value"] * 100,
                       rank=lambda x: x["mechanism"].map(MECHANISMS.index),
                       what=lambda x: x["mechanism"].map(MECHANISM_WORDS))
    words = [MECHANISM_WORDS[m] for m in MECHANISMS if m in set(d["mechanism"])]
    chart = alt.Chart(d).mark_bar().encode(
        y=_policy_y(t["policy"]), x=alt.X("sum(shown):Q", title="overhead (% of host CPU)"),
        color=alt.Color("what:N", sort=words, scale=alt.Scale(scheme="tableau20"),
                        title="mechanism"),
        order=alt.Order("rank:Q"),
        tooltip=["policy", "what", alt.Tooltip("shown:Q", format=".4~g")])
    return _titled(chart, "Where each design's overhead goes", "% of host CPU, stacked by mechanism", header)


def hosts_chart(hosts: pd.DataFrame | None = None, summary: pd.DataFrame | None = None,
                log: bool | None = None, header: str = "") -> alt.LayerChart:
    """Per-host overhead: p50, p99 and max per policy (a rule from p50 to max)."""
    t = host_quantiles(hosts, summary)
    log = use_log(t["value"], log)
    d = t.assign(shown=t["value"] * 100)
    if log:
        d = d[d["shown"] > 0]
    wide = d.pivot(index="policy", columns="stat", values="shown").reset_index()
    y = _policy_y(t["policy"])
    span = alt.Chart(wide).mark_rule(strokeWidth=2).encode(
        y=y, x=_x("p50:Q", "per-host overhead (% of host CPU)", log), x2="max:Q",
        color=_color(t["policy"]))
    dots = alt.Chart(d).mark_point(filled=True, size=70).encode(
        y=y, x="shown:Q", shape=alt.Shape("stat:N", sort=list(HOST_STATS), title="over hosts"),
        color=alt.Color("policy:N", scale=policy_scale(t["policy"]), legend=None),
        tooltip=["policy", "stat", alt.Tooltip("shown:Q", format=".4~g")])
    return _titled(span + dots, "Overhead across hosts",
                   "% of host CPU per host: p50, p99, max" + _log_note(log, t, d), header)


def host_histogram_chart(hosts: pd.DataFrame, bins: int = 20, log: bool = False,
                         header: str = "") -> alt.FacetChart:
    """A histogram of per-host overhead per design, one row per design, each on its own
    linear axis from 0 to its busiest host (binned in pandas); designs at 0 on every host
    are named in the subtitle instead of drawn as empty panels."""
    d = host_histogram(hosts, bins, log, shared=False)
    zero = [p for p in policy_order(d["policy"]) if not (d.loc[d["policy"] == p, "hi"] > 0).any()]
    d = d[~d["policy"].isin(zero)]
    d = d.assign(lo=d["lo"] * 100, hi=d["hi"] * 100, shown=d["share"])
    d = _merged(d.assign(shown=d["share"] + d["hi"]), ["lo"]).assign(policy=lambda x: x["line"]) \
        if len(d) else d
    order = list(dict.fromkeys(d["policy"]))
    chart = alt.Chart(d).mark_bar().encode(
        x=alt.X("lo:Q", title=None, axis=alt.Axis(tickCount=5, format="~g")), x2="hi:Q",
        y=alt.Y("share:Q", title=None, axis=alt.Axis(format="~%", tickCount=2)), y2=alt.datum(0),
        color=alt.Color("policy:N", legend=None, scale=alt.Scale(
            domain=order, range=[policy_color(p.split(",")[0]) for p in order])),
        tooltip=["policy", alt.Tooltip("lo:Q", format=".3~g", title="from %"),
                 alt.Tooltip("hi:Q", format=".3~g", title="to %"), alt.Tooltip("hosts:Q")],
    ).properties(width=460, height=42)
    chart = chart.facet(row=alt.Row("policy:N", sort=order, title=None,
                                    header=alt.Header(labelAngle=0, labelAlign="left",
                                                      labelLimit=170))
                        ).resolve_scale(x="independent")
    note = ("x: per-host overhead in % of host CPU, each design on its own scale from 0 to its "
            "busiest host; y: share of hosts per bin; designs with the same hosts share a row")
    if zero:
        note += f"; {', '.join(zero)}: 0 on every host"
    return _titled(chart, "How the overhead spreads across hosts", note, header)


def memory_chart(summary: pd.DataFrame, header: str = "") -> alt.Chart:
    """Grouped bars: guest fpstate KiB per vCPU (resident, address space, peak, unused AMX)."""
    t = memory_table(summary)
    kinds = list(dict.fromkeys(t["kind"]))
    chart = alt.Chart(t.assign(kib=t["value"] / 1024)).mark_bar().encode(
        y=_policy_y(t["policy"]), yOffset=alt.YOffset("kind:N", sort=kinds),
        x=alt.X("kib:Q", title="KiB per vCPU"),
        color=alt.Color("kind:N", sort=kinds, scale=alt.Scale(scheme="set2"), title=None),
        tooltip=["policy", "kind", alt.Tooltip("kib:Q", format=".4~g")],
    ).properties(height=alt.Step(5))
    return _titled(chart, "Guest fpstate memory per vCPU",
                   "KiB per vCPU: resident pages, vmalloc address space, peak, AMX never used",
                   header)


def class_chart(by_class: pd.DataFrame, metric: str | None = None, log: bool | None = None,
                header: str = "") -> alt.LayerChart:
    """A table as a chart: one cell per design and workload class, its value printed in it
    and its shade on a log color scale (classes differ by decades); designs at 0 in every
    class are named in the subtitle, not drawn."""
    t, metric = class_table(by_class, metric)
    raw = metric_unit(by_class, metric)
    factor, _ = display_unit(metric, raw)
    zero = [p for p in policy_order(t["policy"]) if not (t.loc[t["policy"] == p, "value"] > 0).any()]
    d = t[~t["policy"].isin(zero)]
    d = d.assign(shown=d["value"] * factor,
                 label=[format_value(v, raw, metric).replace(" %", "") for v in d["value"]])
    pos = d["shown"][d["shown"] > 0]
    lo, hi = (float(pos.min()), float(pos.max())) if len(pos) else (1e-6, 1.0)
    what = unit_note(metric, raw)
    base = alt.Chart(d).encode(
        x=alt.X("workload:N", title="workload class", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("policy:N", sort=policy_order(d["policy"]), title=None))
    cells = base.mark_rect(stroke="white").encode(
        color=alt.condition("datum.shown > 0", alt.Color(
            "shown:Q", scale=alt.Scale(type="log", scheme="blues", domain=[lo, hi]),
            title=what, legend=alt.Legend(format="~g")), alt.value("#f2f2f2")),
        tooltip=["policy", "workload", alt.Tooltip("shown:Q", format=".4~g", title=what)])
    dark = lo * (hi / lo) ** 0.72  # darker cells than this get white text
    text = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(f"datum.shown > {dark}", alt.value("white"), alt.value("black")))
    note = f"{what}: what one tenant's vCPU loses (values in the cells)"
    if zero:
        note += f"; {', '.join(zero)}: 0 in every class"
    return _titled((cells + text).properties(width=alt.Step(92), height=alt.Step(24)),
                   f"{metric_title(metric)} by workload class", note, header)


def _merged(d: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``d`` with designs whose lines are identical drawn once, labelled with all their names
    (``upstream, xcr0-alloc, prealloc``), so the legend lists only lines one can see."""
    order = policy_order(d["policy"])
    series = {p: tuple(float(f"{v:.4g}") for v in  # lines one cannot tell apart
                       d[d["policy"] == p].sort_values(list(keys))["shown"]) for p in order}
    groups: dict[tuple, list[str]] = {}
    for p in order:
        groups.setdefault(series[p], []).append(p)
    label = {p: ", ".join(names) for names in groups.values() for p in names}
    first = {p: names[0] for names in groups.values() for p in names}
    return d.assign(line=d["policy"].map(label), policy=d["policy"].map(first)) \
        .drop_duplicates(["line", *keys])


def _line_color(d: pd.DataFrame) -> alt.Color:
    """Colors of merged lines: each line in the color of its first design."""
    rank = {p: i for i, p in enumerate(policy_order(d["policy"]))}
    firsts = d.drop_duplicates("line").assign(rank=lambda x: x["policy"].map(rank))
    lines = list(firsts.sort_values("rank", kind="stable")["line"])
    first = dict(zip(firsts["line"], firsts["policy"]))
    return alt.Color("line:N", sort=lines, title="design", legend=alt.Legend(labelLimit=700, offset=44),
                     scale=alt.Scale(domain=lines, range=[policy_color(first[k]) for k in lines]))


def _x_axis(values, log: bool) -> alt.Axis:
    """Ticks at the swept values when there are few (no colliding labels), else a few."""
    vals = sorted(set(float(v) for v in values))
    fmt = ",~r" if vals and min(vals) >= 1 else "~g"
    if len(vals) <= 7:
        return alt.Axis(values=vals, format=fmt, labelOverlap="greedy", labelFlush=False)
    return alt.Axis(tickCount=5, format=fmt, labelOverlap="greedy", labelFlush=False)


def sweep_chart(sweep: pd.DataFrame, param: str | None = None, metric: str = "overhead_fraction",
                log: bool = True, log_x: bool | None = None,
                thresholds: Sequence[float] = THRESHOLDS, facet: str | None = None,
                header: str = "", exit_rate: float | None = None,
                price_now: float | None = None):
    """A metric against one swept parameter, a line per design (identical lines drawn
    once), one panel per value of a second swept key (``facet``); dashed rules at 0.1 % and
    1 % for fractions, labelled in the right margin. The x axis is logarithmic when
    ``log_x`` or, if None, when the swept values span two decades. Panels with nothing to
    draw are named in the subtitle. A break-even curve (``breakeven_*`` metric) gets
    :func:`breakeven_chart`."""
    if metric.startswith("breakeven_"):
        return breakeven_chart(sweep, param, metric, facet, header, exit_rate, price_now)
    t, param, facet = sweep_table(sweep, param, metric, facet)
    spread = t[param][t[param] > 0]
    if log_x is None and len(spread) and spread.min() > 0 and (t[param] > 0).all():
        log_x = spread.max() / spread.min() >= 20  # a price from 20 to 1,000 cycles: log
    log_x = use_log(t[param], log_x)
    raw = metric_unit(sweep, metric)
    factor, unit = display_unit(metric, raw)
    d = t.rename(columns={param: "x", facet: "panel"}).assign(shown=lambda x: x["value"] * factor)
    if log:
        d = d[d["shown"] > 0]
    keys = ["x", "panel"] if facet else ["x"]
    empty = [str(p) for p in dict.fromkeys(t[facet])] if facet else []
    empty = [p for p in empty if p not in set(d["panel"].astype(str))]
    log_note = _log_note(log, t, d)
    d = _merged(d, keys)
    top = d["policy"].isin(PROMINENT)
    base = alt.Chart(pd.concat([d[~top], d[top]]))  # upstream, sync-always drawn last, on top
    what = unit_note(metric, raw) or unit
    lines = base.mark_line(point=True).encode(
        x=alt.X("x:Q", title=param_title(param), axis=_x_axis(d["x"], log_x),
                scale=alt.Scale(type="log") if log_x else alt.Scale(zero=False)),
        y=alt.Y("shown:Q", title=_y_title(metric, what),
                axis=alt.Axis(tickCount=6, format="~g"),
                scale=alt.Scale(type="log") if log else alt.Scale()),
        color=_line_color(d), strokeWidth=emphasis(3.5, 1.5),
        tooltip=["line", alt.Tooltip("x:Q", title=param), alt.Tooltip("shown:Q", format=".4~g")])
    layers = [lines]
    one = base.transform_aggregate(rows="count()")  # one row (per panel) for the rules
    for level in thresholds if is_fraction(metric, raw) else ():
        y = alt.datum(level * factor)
        layers += [one.mark_rule(strokeDash=[4, 4], color="#555555").encode(y=y),
                   one.mark_text(align="left", baseline="middle", x="width", dx=4,
                                 color="#555555").encode(y=y, text=alt.value(f"{level * factor:g} %"))]
    chart = alt.layer(*layers)
    if facet:
        chart = chart.properties(width=230, height=170).facet(
            facet=alt.Facet("panel:N", title=param_title(facet)), columns=3)
    seeds = sweep.groupby(keys_of(sweep, param, facet))["seed"].nunique().max() \
        if "seed" in sweep and param in sweep else 1
    note = what + ("; mean over seeds per point" if seeds and seeds > 1 else "")
    note += log_note
    if empty:
        note += f"; nothing above 0 in {', '.join(empty)}"
    return _titled(chart, f"{metric_title(metric)} against {param_title(param).split(' (')[0]}",
                   note, header)


def _y_title(metric: str, what: str) -> str:
    """'overhead (% of host CPU)' for fractions; the unit in words otherwise (it says what
    is counted: 'reallocations per host-hour')."""
    if what.startswith("%"):
        return f"{metric_title(metric).split()[-1].lower()} ({what})"
    return what


def _first_lower(text: str) -> str:
    """'Host CPU overhead' stays, 'Failed reallocations' becomes 'failed reallocations'."""
    head = text.split(" ", 1)[0]
    return text if head.isupper() or any(c.isupper() for c in head[1:]) else \
        text[:1].lower() + text[1:]


def keys_of(sweep: pd.DataFrame, param: str, facet: str | None) -> list[str]:
    """The columns that identify a point of a sweep frame (the swept keys present)."""
    return [k for k in (param, facet) if k and k in sweep]


def _above_now(t: pd.DataFrame, facet: str | None, rate: float, price: float) -> list[str]:
    """'design at panel' for each line whose break-even price at exit rate ``rate``
    (interpolated on log axes) is at or below ``price``: above the threshold today."""
    out = []
    for panel, grp in (t.groupby(facet, sort=False) if facet else [(None, t)]):
        for pol in policy_order(grp["policy"]):
            g = grp[grp["policy"] == pol].sort_values("x")
            x, v = g["x"].to_numpy(float), g["value"].to_numpy(float)
            if not len(x) or rate < x.min() or rate > x.max():
                continue
            at = float(np.exp(np.interp(np.log(rate), np.log(x), np.log(np.maximum(v, 1e-300)))))
            if at <= price:
                out.append(f"{pol}" + (f" at {panel}" if panel is not None else ""))
    return out


def breakeven_chart(curve: pd.DataFrame, param: str | None = None,
                    metric: str = "breakeven_rdmsr_xfd_cycles", facet: str | None = None,
                    header: str = "", exit_rate: float | None = None,
                    price_now: float | None = None):
    """The break-even curve: for each fleet-mean exit rate, the price at which each design
    reaches 0.1 % (and 1 %) of host CPU, on log axes clipped to 10..10^6 cycles. The shaded
    band is the catalogue's plausible price range, the vertical rule the fleet's own exit
    rate; designs already above the threshold at every price (a break-even of 0) are named
    in the subtitle, since a log axis cannot draw them."""
    from amxmodel.inputs import catalog

    t, param, facet = sweep_table(curve, param, metric, facet)
    name = metric[len("breakeven_"):]
    spec = catalog.section("hardware").get(name)
    band = spec.plausible if spec is not None and spec.plausible else None
    d = t.rename(columns={param: "x", facet: "panel"}).assign(shown=lambda x: x["value"])
    keys = ["x", "panel"] if facet else ["x"]
    above = []
    for panel, grp in (d.groupby("panel", sort=False) if facet else [(None, d)]):
        for pol in policy_order(grp["policy"]):
            g = grp[grp["policy"] == pol]
            if (g["shown"] <= 0).any():
                from_x = g.loc[g["shown"] <= 0, "x"].min()
                where = f" at {panel}" if panel is not None else ""
                above.append(f"{pol}{where} from {sig(from_x)} exits/vCPU-s on")
    d = _merged(d[d["shown"] > 0], keys)
    lo_y, hi_y = 10.0, 1e6
    price_title = param_title(name)
    lines = alt.Chart(d).mark_line(point=True, clip=True).encode(
        x=alt.X("x:Q", title=param_title(param), scale=alt.Scale(type="log"),
                axis=alt.Axis(tickCount=4, format="~s", labelOverlap="greedy")),
        y=alt.Y("shown:Q", title=price_title,
                scale=alt.Scale(type="log", domain=[lo_y, hi_y], clamp=False),
                axis=alt.Axis(format="~s", values=[10, 100, 1000, 10000, 100000, 1000000])),
        color=_line_color(d), strokeWidth=emphasis(3.5, 1.5),
        tooltip=["line", alt.Tooltip("x:Q", format=".3~g", title=param),
                 alt.Tooltip("shown:Q", format=".3~g", title="cycles")])
    layers = []
    base = alt.Chart(d)
    if band:
        span = base.transform_aggregate(x0="min(x)", x1="max(x)")
        layers.append(span.mark_rect(color="#9ecae1", opacity=0.35).encode(
            x="x0:Q", x2="x1:Q", y=alt.datum(band[0]), y2=alt.datum(band[1])))
        layers.append(span.mark_text(align="left", baseline="bottom", dx=3, dy=-2,
                                     color="#31708f").encode(
            x="x0:Q", y=alt.datum(band[1]),
            text=alt.value(f"plausible price {band[0]:g}-{band[1]:g} cycles")))
    if exit_rate:
        one = base.transform_aggregate(rows="count()")
        layers.append(one.mark_rule(strokeDash=[5, 3], color="#333333").encode(
            x=alt.datum(exit_rate)))
        layers.append(one.mark_text(align="left", dx=4, y=8, color="#333333").encode(
            x=alt.datum(exit_rate), text=alt.value(f"this fleet: {sig(exit_rate)}")))
    chart = alt.layer(*layers, lines, data=d) if layers else lines
    if facet:
        chart = chart.properties(width=280, height=220).facet(
            facet=alt.Facet("panel:N", title="reaches this share of host CPU"), columns=3)
    note = ["below a line the design stays under the threshold; shaded: plausible price; "
            "dashed: this fleet's mean exit rate"]
    note.append("already above at any price: " + ("; ".join(above) if above else "none"))
    if exit_rate and price_now is not None:
        now = _above_now(t.rename(columns={param: "x"}), facet, exit_rate, price_now)
        note[1] += (f"; above at this fleet's rate and today's {sig(price_now)} cycles: "
                    + (", ".join(now) if now else "none"))
    return _titled(chart, "RDMSR(IA32_XFD) price at which each design becomes noticeable",
                   note[0] + "\n" + note[1], header)


def tornado_chart(df: pd.DataFrame, metric: str = "overhead_fraction", unit: str = "fraction",
                  header: str = "") -> alt.LayerChart:
    """Horizontal bars from the baseline to the metric at each parameter's low and high
    value, the parameter's value printed at the bar's end; rows that do not move the metric
    say so once instead of printing both values on top of each other."""
    t = tornado_table(df)
    factor, shown_unit = display_unit(metric, unit)
    long = pd.concat([
        pd.DataFrame({"parameter": t["parameter"], "end": side, "setting": t[f"{side}_value"],
                      "start": t["baseline"] * factor, "stop": t[f"metric_{side}"] * factor,
                      "swing": t["swing"]})
        for side in ("low", "high")], ignore_index=True)
    long["label"] = [f"{sig(v)}" for v in long["setting"]]
    top = float(t["swing"].max()) if len(t) else 0.0
    moves = long["swing"] > top * 1e-6
    y = alt.Y("parameter:N", sort=list(t["parameter"]), title=None)
    what = unit_note(metric, unit) or shown_unit
    bars = alt.Chart(long[moves]).mark_bar(height=14).encode(
        y=y, x=alt.X("start:Q", title=f"{metric} ({what})",
                     scale=alt.Scale(zero=False, padding=40, nice=False)),
        x2="stop:Q", color=alt.Color("end:N", sort=["low", "high"], title="parameter at its",
                                     scale=alt.Scale(range=["#9ECAE1", "#08519C"])))
    ends = (long["stop"] - long["start"]).abs() > top * factor * 1e-6
    base = alt.Chart(long[moves & ends]).encode(y=y)
    right = base.transform_filter("datum.stop >= datum.start").mark_text(align="left", dx=4)
    left = base.transform_filter("datum.stop < datum.start").mark_text(align="right", dx=-4)
    texts = [m.encode(x="stop:Q", text="label:N") for m in (right, left)]
    still = long[~moves].drop_duplicates("parameter")
    flat = alt.Chart(still).mark_text(align="left", dx=6, color="#777777").encode(
        y=y, x="start:Q", text=alt.value("no effect"))
    baseline = pd.DataFrame({"b": [t["baseline"].iloc[0] * factor]})
    rule = alt.Chart(baseline).mark_rule().encode(x="b:Q")
    return _titled(alt.layer(bars, *texts, flat, rule), f"Sensitivity: {metric}",
                   f"{what}; bars from the baseline (black rule) to the value with the "
                   "parameter alone at the low and the high end of its plausible range", header)


def _exit_rate(frames: Mapping) -> float | None:
    """The run's fleet-mean VM exits per vCPU-second, from its record (None without one)."""
    rec = frames.get("scenario")
    value = rec.get("exits_per_vcpu_s") if isinstance(rec, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _price_now(frames: Mapping, metric: str) -> float | None:
    """The run's price of the hardware parameter a ``breakeven_<name>`` metric solves for."""
    rec = frames.get("scenario")
    if not metric.startswith("breakeven_") or not isinstance(rec, Mapping):
        return None
    values = ((rec.get("scenario") or {}).get("hardware") or {}).get("values") or {}
    value = values.get(metric[len("breakeven_"):])
    return float(value) if isinstance(value, (int, float)) else None


def build_chart(kind: str, frames: Mapping, header: str = "", **options):
    """The chart ``kind`` (a key of :data:`CHART_KINDS`) drawn from a dict of frames."""
    f = frames
    builders = {
        "overhead": lambda: overhead_chart(f["summary"], header=header, **options),
        "mechanisms": lambda: mechanism_chart(f["summary"], header=header),
        "hosts": lambda: hosts_chart(f.get("hosts"), f.get("summary"), header=header, **options),
        "host_histogram": lambda: host_histogram_chart(f["hosts"], header=header, **options),
        "memory": lambda: memory_chart(f["summary"], header=header),
        "by_class": lambda: class_chart(f["by_class"], header=header, **options),
        "sweep": lambda: sweep_chart(f["sweep"], options.pop("param", f.get("sweep_param")),
                                     header=header, exit_rate=_exit_rate(f),
                                     price_now=_price_now(f, options.get("metric", "")), **options),
        "tornado": lambda: tornado_chart(f["tornado"], header=header, **options),
    }
    check_kind(kind, frames)
    return builders[kind]()
