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
from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from amxmodel.analysis.breakeven import THRESHOLDS
from amxmodel.common.units import is_fraction
from amxmodel.plot.frames import (
    HOST_STATS,
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
    policy_order,
    sweep_table,
    tornado_table,
    unit_note,
    use_log,
)
from amxmodel.plot.theme import PROMINENT, emphasis, policy_scale

# ----------------------------------------------------------------------------- charts

def _log_note(log: bool, full: pd.DataFrame, shown: pd.DataFrame) -> str:
    """' (log scale)', naming the policies a log axis cannot show (all values at 0)."""
    if not log:
        return ""
    gone = [p for p in policy_order(full["policy"]) if p not in set(shown["policy"])]
    return " (log scale" + (f"; {', '.join(gone)} at 0 not shown" if gone else "") + ")"


def _titled(chart, title: str, units: str, header: str):
    """The chart with a title and a subtitle naming the units and the scenario."""
    return chart.properties(title=alt.Title(title, subtitle=[s for s in (units, header) if s]))


def _color(names) -> alt.Color:
    return alt.Color("policy:N", scale=policy_scale(names), title="policy")


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
                   log: bool | None = None, header: str = "") -> alt.LayerChart:
    """Bars per policy with 95% error bars (±1.96 stderr); a log axis when ``log`` or, if
    ``log`` is None, when the values span two decades (see ``use_log``)."""
    t = overhead_table(summary, metric)
    log = use_log(t["value"], log)
    raw = metric_unit(summary, metric)
    factor, unit = display_unit(metric, raw)
    err = t["stderr"].fillna(0.0) * Z95
    d = t.assign(shown=t["value"] * factor, lo=(t["value"] - err) * factor,
                 hi=(t["value"] + err) * factor)
    d = _bar_base(d, log)
    d = d.assign(lo=d["lo"].where(d["lo"] > d["base"], d["base"]))
    base = alt.Chart(d).encode(y=_policy_y(d["policy"]))
    axis = f"{metric} ({unit})"
    bars = base.mark_bar().encode(
        x=_x("shown:Q", axis, log), x2="base:Q", color=_color(d["policy"]),
        opacity=emphasis(1.0, 0.65),
        tooltip=["policy", alt.Tooltip("shown:Q", format=".4~g", title=unit)])
    whiskers = base.mark_rule(color="#222222").encode(x=_x("lo:Q", axis, log), x2="hi:Q")
    labels = base.mark_text(align="left", dx=5, fontSize=11).encode(
        x=_x("hi:Q", axis, log), text=alt.Text("shown:Q", format=".3~g"))
    note = f"{unit_note(metric, raw)}; mean over hosts, whiskers: 95% interval"
    return _titled(bars + whiskers + labels, f"{metric_title(metric)} by policy",
                   note + _log_note(log, t, d), header)


def mechanism_chart(summary: pd.DataFrame, header: str = "") -> alt.Chart:
    """Stacked bars: the overhead of each policy split by mechanism (zero mechanisms dropped)."""
    t = mechanism_table(summary)
    live = t.groupby("mechanism")["value"].transform("max") > 0
    d = t[live].assign(shown=lambda x: x["value"] * 100,
                       rank=lambda x: x["mechanism"].map(MECHANISMS.index))
    chart = alt.Chart(d).mark_bar().encode(
        y=_policy_y(t["policy"]), x=alt.X("sum(shown):Q", title="overhead (% of host CPU)"),
        color=alt.Color("mechanism:N", sort=[m for m in MECHANISMS if m in set(d["mechanism"])],
                        scale=alt.Scale(scheme="tableau10"), title="mechanism"),
        order=alt.Order("rank:Q"),
        tooltip=["policy", "mechanism", alt.Tooltip("shown:Q", format=".4~g")])
    return _titled(chart, "Where the overhead goes", "% of host CPU, stacked by mechanism", header)


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


def host_histogram_chart(hosts: pd.DataFrame, bins: int = 30, log: bool = True,
                         header: str = "") -> alt.FacetChart:
    """A histogram of per-host overhead per policy, binned in pandas, one row per policy."""
    d = host_histogram(hosts, bins, log)
    d = d.assign(lo=d["lo"] * 100, hi=d["hi"] * 100)
    chart = alt.Chart(d).mark_bar().encode(
        x=_x("lo:Q", "per-host overhead (% of host CPU)", log), x2="hi:Q",
        y=alt.Y("share:Q", title=None, axis=alt.Axis(format="~%", tickCount=2)), y2=alt.datum(0),
        color=alt.Color("policy:N", scale=policy_scale(d["policy"]), legend=None),
    ).properties(width=460, height=48)
    chart = chart.facet(row=alt.Row("policy:N", sort=policy_order(d["policy"]), title=None,
                                    header=alt.Header(labelAngle=0, labelAlign="left")))
    return _titled(chart, "Distribution of overhead across hosts",
                   "share of hosts per bin, % of host CPU"
                   + (" (log bins, hosts at 0 left out)" if log else ""), header)


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
                header: str = "") -> alt.FacetChart:
    """Bars per policy, one panel per workload class (default metric: see ``class_table``)."""
    t, metric = class_table(by_class, metric)
    log = use_log(t["value"], log)
    raw = metric_unit(by_class, metric)
    factor, _ = display_unit(metric, raw)
    d = _bar_base(t.assign(shown=t["value"] * factor), log)
    chart = alt.Chart(d).mark_bar().encode(
        y=_policy_y(t["policy"]), x=_x("shown:Q", unit_note(metric, raw), log), x2="base:Q",
        color=_color(t["policy"]),
        tooltip=["policy", "workload", alt.Tooltip("shown:Q", format=".4~g")],
    ).properties(width=150)
    chart = chart.facet(facet=alt.Facet("workload:N", title=None), columns=4)
    return _titled(chart, f"{metric_title(metric)} by workload class",
                   f"{unit_note(metric, raw)}, per workload class" + _log_note(log, t, d), header)


def sweep_chart(sweep: pd.DataFrame, param: str | None = None, metric: str = "overhead_fraction",
                log: bool = True, log_x: bool | None = None,
                thresholds: Sequence[float] = THRESHOLDS, facet: str | None = None,
                header: str = ""):
    """A metric against one swept parameter, a line per policy, one panel per value of a
    second swept key (``facet``); dashed rules at 0.1 % and 1 % for fractions. The x axis
    is logarithmic when ``log_x`` or, if None, when the swept values span two decades."""
    t, param, facet = sweep_table(sweep, param, metric, facet)
    log_x = use_log(t[param], log_x)
    raw = metric_unit(sweep, metric)
    factor, unit = display_unit(metric, raw)
    d = t.rename(columns={param: "x", facet: "panel"}).assign(shown=lambda x: x["value"] * factor)
    if log:
        d = d[d["shown"] > 0]
    names = d["policy"]
    top = d["policy"].isin(PROMINENT)
    base = alt.Chart(pd.concat([d[~top], d[top]]))  # upstream, sync-always drawn last, on top
    lines = base.mark_line(point=True).encode(
        x=_x("x:Q", param, log_x),
        y=alt.Y("shown:Q", title=f"{metric} ({unit})", axis=alt.Axis(tickCount=6),
                scale=alt.Scale(type="log") if log else alt.Scale()),
        color=_color(names), strokeWidth=emphasis(3.5, 1.5),
        tooltip=["policy", alt.Tooltip("x:Q", title=param), alt.Tooltip("shown:Q", format=".4~g")])
    layers = [lines]
    one = base.transform_aggregate(rows="count()")  # one row (per panel) for the rules
    for level in thresholds if is_fraction(metric, raw) else ():
        y = alt.datum(level * factor)
        layers += [one.mark_rule(strokeDash=[4, 4], color="#555555").encode(y=y),
                   one.mark_text(align="left", dy=-6, x=4, color="#555555").encode(
                       y=y, text=alt.value(f"{level * factor:g} %"))]
    chart = alt.layer(*layers)
    if facet:
        chart = chart.properties(width=230, height=170).facet(
            facet=alt.Facet("panel:N", title=facet), columns=3)
    return _titled(chart, f"{metric_title(metric)} against {param}",
                   f"{unit_note(metric, raw)}; mean over seeds per point" + _log_note(log, t, d),
                   header)


def tornado_chart(df: pd.DataFrame, metric: str = "overhead_fraction", unit: str = "fraction",
                  header: str = "") -> alt.LayerChart:
    """Horizontal bars from the baseline to the metric at each parameter's low and high value."""
    t = tornado_table(df)
    factor, shown_unit = display_unit(metric, unit)
    long = pd.concat([
        pd.DataFrame({"parameter": t["parameter"], "end": side, "setting": t[f"{side}_value"],
                      "start": t["baseline"] * factor, "stop": t[f"metric_{side}"] * factor})
        for side in ("low", "high")], ignore_index=True)
    long["label"] = [f"{v:g}" for v in long["setting"]]
    y = alt.Y("parameter:N", sort=list(t["parameter"]), title=None)
    base = alt.Chart(long).encode(y=y)
    bars = base.mark_bar(height=14).encode(
        x=alt.X("start:Q", title=f"{metric} ({shown_unit})",
                scale=alt.Scale(zero=False, padding=40, nice=False)),
        x2="stop:Q", color=alt.Color("end:N", sort=["low", "high"], title="parameter at",
                                     scale=alt.Scale(range=["#9ECAE1", "#08519C"])))
    right = base.transform_filter("datum.stop >= datum.start").mark_text(align="left", dx=4)
    left = base.transform_filter("datum.stop < datum.start").mark_text(align="right", dx=-4)
    texts = [m.encode(x="stop:Q", text="label:N") for m in (right, left)]
    baseline = pd.DataFrame({"b": [t["baseline"].iloc[0] * factor]})
    rule = alt.Chart(baseline).mark_rule().encode(x="b:Q")
    return _titled(alt.layer(bars, *texts, rule), f"Sensitivity: {metric_title(metric)}",
                   f"{unit_note(metric, unit)}; bars from the baseline to the metric at "
                   "the parameter's low and high value", header)


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
                                     header=header, **options),
        "tornado": lambda: tornado_chart(f["tornado"], header=header, **options),
    }
    check_kind(kind, frames)
    return builders[kind]()
