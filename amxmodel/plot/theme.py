"""The project's altair theme and the one color each policy keeps in every chart.

A reader of a mailing-list thread sees several charts in a row; ``upstream`` (what Linux
merged in 5.17) and ``sync-always`` (tglx's 2021-11-16 proposal) must be the same strong
blue and vermillion in all of them, ``no-amx`` (the zero reference) a quiet grey, and the
other designs colorblind-safe mid tones. Colors follow :data:`POLICY_NAMES` order, so a
chart with three policies colors them exactly as the chart with all ten.

Charts built by :mod:`amxmodel.plot.charts` carry these scales explicitly; the theme adds
readable fonts, sizes and a white background (PNG exports are otherwise transparent).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import altair as alt

from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.plot.frames import policy_order

THEME_NAME = "amxmodel"
FONT = "DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif"

# One color per policy, in POLICY_NAMES order (Okabe-Ito based; no-amx grey).
_PALETTE = (
    "#0072B2",  # upstream: strong blue
    "#D55E00",  # sync-always: vermillion
    "#E69F00",  # opt1-exit-clear
    "#CC79A7",  # opt2-switch-check
    "#009E73",  # lazy-exit-user
    "#56B4E9",  # nm-first-use
    "#8C6D31",  # xcr0-alloc
    "#6A3D9A",  # prealloc
    "#B8A300",  # rfc-switch
    "#9E9E9E",  # no-amx: grey
)
_EXTRA = ("#17BECF", "#7F7F7F", "#BCBD22", "#E377C2", "#393B79")
PROMINENT: tuple[str, ...] = ("upstream", "sync-always")

POLICY_COLORS: dict[str, str] = dict(zip(POLICY_NAMES, _PALETTE))


def policy_color(name: str) -> str:
    """The fixed color of a policy (unknown names get a stable color from their name)."""
    if name in POLICY_COLORS:
        return POLICY_COLORS[name]
    return _EXTRA[sum(name.encode()) % len(_EXTRA)]


def policy_scale(names: Iterable[str]) -> alt.Scale:
    """A color scale mapping each of ``names`` to its fixed color, in catalogue order."""
    domain = policy_order(names)
    return alt.Scale(domain=domain, range=[policy_color(n) for n in domain])


def emphasis(strong: float, weak: float):
    """An altair condition: ``strong`` for the prominent policies, ``weak`` for the others."""
    return alt.condition(alt.FieldOneOfPredicate(field="policy", oneOf=list(PROMINENT)),
                         alt.value(strong), alt.value(weak))


def theme_config() -> dict:
    """The theme as a Vega-Lite top-level dict (fonts, sizes, background, category range)."""
    return {
        "background": "white",
        "padding": 8,
        "config": {
            "font": FONT,
            "view": {"continuousWidth": 460, "continuousHeight": 280, "stroke": None},
            "title": {"fontSize": 16, "subtitleFontSize": 12, "subtitleColor": "#444444",
                      "anchor": "start", "offset": 10},
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "gridColor": "#E6E6E6",
                     "labelLimit": 220},
            "legend": {"labelFontSize": 12, "titleFontSize": 13, "labelLimit": 220},
            "header": {"labelFontSize": 12, "titleFontSize": 13},
            "range": {"category": list(_PALETTE)},
            "bar": {"stroke": None},
            "line": {"strokeWidth": 2},
        },
    }


def register_theme(enable: bool = False) -> str:
    """Register the ``amxmodel`` theme with altair (and enable it if asked); return its name."""
    alt.theme.register(THEME_NAME, enable=enable)(theme_config)
    return THEME_NAME


@contextmanager
def use_theme() -> Iterator[str]:
    """Render with the project theme inside the block, restoring the previous theme after."""
    register_theme()
    with alt.theme.enable(THEME_NAME):
        yield THEME_NAME
