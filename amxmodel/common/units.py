"""Numbers with units as people read them: significant digits, percent, binary sizes.

Every table, text chart and printed finding formats values here, so a number reads the
same in a notebook sentence, a run table and a mailed text chart.
"""

from __future__ import annotations

import math

import pandas as pd

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB")
_SHORT = ((" per vCPU-second", "/vCPU-s"), (" per host-hour", "/host-h"),
          ("cycles per VM exit", "cyc/exit"), ("cycles", "cyc"), ("vCPU-steps", "steps"))


def is_fraction(metric: str, unit: str = "") -> bool:
    """Whether a metric is a fraction (shown in percent)."""
    return str(unit).startswith("fraction") or unit == "1" or "fraction" in metric


def sig(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, no trailing zeros (``0.0123``, ``2.1e-07``)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(f"{float(x):.{digits}g}")  # round first: 9.9999e-05 is 0.0001
    if math.isinf(x) or x == 0:
        return "0" if x == 0 else str(x)
    if not 1e-4 <= abs(x) < 1e6:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def short_unit(unit: str) -> str:
    """A unit short enough for a table cell (``exits per vCPU-second`` -> ``exits/vCPU-s``)."""
    for long, short in _SHORT:
        unit = unit.replace(long, short)
    return unit


def format_value(value: float, unit: str = "", metric: str = "") -> str:
    """A value with its unit: fractions in percent (``0.012 %``), bytes binary (``3.1 KiB``)."""
    if value is None or pd.isna(value):
        return "-"
    if is_fraction(metric, unit):
        return f"{sig(value * 100)} %"
    if unit in ("bytes", "B", "GiB"):
        size, step = float(value) * (2**30 if unit == "GiB" else 1), 0
        while abs(size) >= 1024 and step < len(_BINARY) - 1:
            size, step = size / 1024, step + 1
        return f"{sig(size, 2 if abs(size) < 10 else 3)} {_BINARY[step]}"
    return f"{sig(value)} {short_unit(unit)}".rstrip()
