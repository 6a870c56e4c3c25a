"""Text layout for mail: numbers with units, aligned tables, ``#`` bars, ASCII sparklines.

The building blocks of :mod:`amxmodel.plot.textchart`. Everything returns plain ASCII that fits
:data:`WIDTH` (72) columns, the width a kernel developer quotes in a reply: labels are
shortened with ``~``, wide tables are split into blocks that repeat the first column, and
bars are ``#`` characters, for example::

    upstream     | ########################              0.0619 %
    sync-always  | ##################################### 2.12 %

Numbers keep three significant digits; fractions print in percent (``0.012 %``), bytes
with binary units (``3.1 KiB``), and sweeps use the ramp :data:`RAMP` (``" .:-=+*#%@"``).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from amxmodel.common.units import format_value, sig

WIDTH = 72
RAMP = " .:-=+*#%@"
_UNIT_GAP = re.compile(r"(\d) (%|[KMGT]?i?B\b|cyc\b|/)")


# ----------------------------------------------------------------------------- layout


def fit(text: str, width: int, keep: str = "start") -> str:
    """``text`` cut to ``width`` columns with a ``~`` where it was cut (``keep`` start or end)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "~"[:width]
    return text[: width - 1] + "~" if keep == "start" else "~" + text[len(text) - width + 1:]


def wrap(text: str, width: int = WIDTH) -> list[str]:
    """Lines of ``text`` wrapped at ``width``, never between a number and its unit."""
    glued = _UNIT_GAP.sub("\\1\xa0\\2", text)
    lines = textwrap.wrap(glued, width, break_on_hyphens=False) or [""]
    return [line.replace("\xa0", " ") for line in lines]


def header_lines(title: str, metric: str, unit: str, params: str, width: int = WIDTH) -> list[str]:
    """The header of a text chart: title, metric with unit, parameter set."""
    return [*wrap(title, width), *wrap(f"metric {metric}, {unit}", width), *wrap(params, width)]


def _label_width(labels: Sequence[str], room: int, cap: int = 24, floor: int = 8) -> int:
    return max(1, min(max((len(s) for s in labels), default=1), cap, max(room, floor)))


def text_table(df: pd.DataFrame, units: Mapping[str, str] | None = None,
               width: int = WIDTH) -> str:
    """An aligned table of ``df`` (numbers with ``units[col]``), in blocks that fit ``width``."""
    units = units or {}
    cols = [str(c) for c in df.columns]
    cells: list[list[str]] = []
    numeric = []
    for col in df.columns:
        num = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
        numeric.append(num)
        cells.append([format_value(v, units.get(col, "")) if num else str(v)
                      for v in df[col]])
    widths = [max([len(c), *map(len, col)]) for c, col in zip(cols, cells)]
    widest = max(widths[1:], default=0)
    widths[0] = min(widths[0], max(width - widest - 2, 8))
    widths = [min(w, width) for w in widths]
    blocks, current = [], [0]
    for i in range(1, len(cols)):
        if sum(widths[j] + 2 for j in current) + widths[i] > width and len(current) > 1:
            blocks.append(current)
            current = [0]
        current.append(i)
    blocks.append(current)
    out: list[str] = []
    for block in blocks:
        if out:
            out.append("")
        rows = [cols, ["-" * widths[i] for i in range(len(cols))],
                *[[cells[i][r] for i in range(len(cols))] for r in range(len(df))]]
        for row in rows:
            parts = [fit(row[i], widths[i]).rjust(widths[i]) if numeric[i]
                     else fit(row[i], widths[i]).ljust(widths[i]) for i in block]
            out.append(fit("  ".join(parts).rstrip(), width))
    return "\n".join(out)


def _log_span(values: np.ndarray) -> tuple[float, float]:
    pos = values[values > 0]
    if not len(pos):
        return 0.0, 1.0
    lo, hi = math.floor(math.log10(pos.min())), math.ceil(math.log10(pos.max()))
    return lo, max(hi, lo + 1)


def _lengths(values: np.ndarray, room: int, log: bool) -> np.ndarray:
    """Bar lengths in characters for non-negative ``values`` (log: decades from the smallest)."""
    if log:
        lo, hi = _log_span(values)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.where(values > 0, values, 1.0))
            frac = np.where(values > 0, (logs - lo) / (hi - lo), 0.0)
        return np.where(values > 0, np.maximum(1, np.round(frac * room)), 0).astype(int)
    top = np.nanmax(values) if len(values) and np.nanmax(values) > 0 else 1.0
    return np.round(np.clip(np.nan_to_num(values), 0, None) / top * room).astype(int)


def text_bars(labels: Sequence[str], values: Sequence[float] | Sequence[Sequence[float]], *,
              unit: str = "", metric: str = "", log: bool = False, chars: str = "#",
              width: int = WIDTH) -> str:
    """A horizontal ``#`` bar per label; a row of values is stacked with one char per part."""
    parts = np.atleast_2d(np.asarray(values, dtype=float).T).T if len(values) else np.zeros((0, 1))
    totals = np.nansum(parts, axis=1) if parts.size else np.zeros(0)
    shown = [format_value(v, unit, metric) for v in totals]
    vw = max((len(s) for s in shown), default=1)
    lw = _label_width(labels, width - vw - 14)
    room = max(1, width - lw - vw - 4)
    lines = []
    lengths = _lengths(totals, room, log)
    for label, row, total, n, text in zip(labels, parts, totals, lengths, shown):
        bar = "".join(chars[i % len(chars)] * c for i, c in enumerate(_split(row, total, n)))
        bar = bar or ("." if total > 0 else "")
        lines.append(fit(f"{fit(str(label), lw):<{lw}} | {bar:<{room}} {text}", width))
    if log and len(totals):
        lo, hi = _log_span(totals)
        scale = f"log scale: bars span {format_value(10**lo, unit, metric)} to " \
                f"{format_value(10**hi, unit, metric)}"
        lines.append(fit(f"{'':<{lw}} | {scale}", width))
    return "\n".join(lines)


def _split(row: np.ndarray, total: float, n: int) -> list[int]:
    """Split ``n`` characters among the parts of ``row`` in proportion (cumulative rounding)."""
    if total <= 0 or n <= 0:
        return [0] * len(row)
    edges = np.round(np.cumsum(np.nan_to_num(row)) / total * n).astype(int)
    return list(np.diff(np.concatenate([[0], edges])))


def sparkline(values: Sequence[float], lo: float, hi: float, log: bool = False) -> str:
    """One :data:`RAMP` character per value between ``lo`` and ``hi`` (``?`` for missing)."""
    def level(v: float) -> str:
        if v is None or math.isnan(v):
            return "?"
        if log:
            if v <= 0 or lo <= 0:
                return RAMP[0]
            t = (math.log10(v) - math.log10(lo)) / max(math.log10(hi) - math.log10(lo), 1e-12)
        else:
            t = (v - lo) / (hi - lo) if hi > lo else 1.0
        return RAMP[round(min(max(t, 0.0), 1.0) * (len(RAMP) - 1))]
    return "".join(level(float(v)) for v in values)


def value_span(values: Sequence[float], log: bool = False) -> tuple[float, float]:
    """The smallest and largest finite value, else (0, 1); for ``log`` positive values and at
    most four decades below the largest, so ten levels keep a useful resolution."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if not len(v):
        return 0.0, 1.0
    hi = float(v.max())
    return (max(float(v.min()), hi * 1e-4) if log else float(v.min())), hi


def text_sweep(x: Sequence[float], series: Mapping[str, Sequence[float]], *, param: str,
               unit: str = "", metric: str = "", log: bool = True,
               span: tuple[float, float] | None = None, width: int = WIDTH) -> str:
    """One sparkline per series (values at ``x``, left to right) with its min and max;
    ``span`` fixes the range of the levels (to compare several blocks)."""
    x = np.asarray(x, dtype=float)
    data = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    every = np.concatenate([v for v in data.values()]) if data else np.zeros(0)
    lo, hi = span or value_span(every, log)
    ranges = {k: f"{format_value(np.nanmin(v), unit, metric)} .. "
                 f"{format_value(np.nanmax(v), unit, metric)}" for k, v in data.items()}
    rw = max((len(r) for r in ranges.values()), default=0)
    lw = _label_width(list(data), width - rw - 24, cap=18)
    room = max(1, min(len(x), width - lw - rw - 5))
    groups = np.array_split(np.arange(len(x)), room) if len(x) else []
    repeat = max(1, min(4, (width - lw - rw - 5) // max(len(groups), 1)))
    lines = wrap(f"x: {param} from {sig(x.min())} to {sig(x.max())}, {len(x)} points, "
                 f"left to right" if len(x) else f"x: {param}, no points", width)
    for name, v in data.items():
        shades = sparkline([np.nanmean(v[g]) for g in groups], lo, hi, log)
        line = "".join(c * repeat for c in shades)
        lines.append(fit(f"{fit(name, lw):<{lw}} |{line}| {ranges[name]}", width))
    lines += wrap(f"levels '{RAMP}' from {format_value(lo, unit, metric)} to "
                  f"{format_value(hi, unit, metric)}, {'log' if log else 'linear'}", width)
    return "\n".join(lines)
