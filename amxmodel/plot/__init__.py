"""Charts of a run for a notebook or a mail: altair charts with 72-column text twins.

>>> import amxmodel as amx
>>> from amxmodel import plot
>>> res = amx.run("default", sets=["fleet.hosts=20"])
>>> plot.show("overhead", res)            # prints the text twin, returns the altair chart
>>> plot.export(res, "reports", prefix="01_")

``show`` and ``export`` take a :class:`amxmodel.runs.run.Results`, or a run record (a
mapping) for charts of frames that come without a run (a sweep's points). The frame of a
``sweep`` or ``tornado`` chart (a break-even curve, a price scan, a sweep's points, a
tornado frame) is passed as ``data``. Importing this package does not import altair;
the first chart does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from amxmodel.plot.frames import CHART_KINDS, chart_caption, tornado_table

__all__ = ["CHART_KINDS", "export", "frames_of", "reply", "setup", "show", "table", "text",
           "tornado_table"]

_DATA_KINDS = ("sweep", "tornado")


def setup() -> None:
    """Charts in the project theme, drawn as static SVG (kept in the notebook and its HTML,
    which then needs no network); tables show sources in full."""
    import altair as alt

    from amxmodel.plot.theme import register_theme

    register_theme(enable=True)
    alt.renderers.enable("svg")
    pd.set_option("display.max_colwidth", 200)


def frames_of(results: Any, data: pd.DataFrame | None = None, kind: str = "sweep") -> dict:
    """The frames a chart is drawn from: a run's (or a bare record's), plus ``data`` as ``kind``."""
    if isinstance(results, Mapping):
        frames: dict = {"scenario": dict(results)}
    elif results is None:
        frames = {}
    else:
        frames = dict(results.frames)
    if data is not None:
        frames[kind if kind in _DATA_KINDS else "sweep"] = data
    return frames


def text(kind: str, results: Any, data: pd.DataFrame | None = None, **options) -> str:
    """The 72-column text form of chart ``kind`` (what a plain-text mail can quote)."""
    from amxmodel.plot.textchart import chart_text

    frames = frames_of(results, data, kind)
    return chart_text(kind, frames, chart_caption(kind, frames), **options)


def show(kind: str, results: Any, data: pd.DataFrame | None = None, **options):
    """Print chart ``kind``'s text twin and return the altair chart (a notebook draws it)."""
    from amxmodel.plot.charts import build_chart

    print(text(kind, results, data, **options))
    frames = frames_of(results, data, kind)
    return build_chart(kind, frames, chart_caption(kind, frames), **dict(options))


def table(results: Any) -> str:
    """The per-design table that ``amxmodel run`` prints, captioned with the run's scenario."""
    from amxmodel.plot.runtable import render_table

    facts = getattr(results, "facts", "")
    return render_table(results.summary, results.header, facts)


def reply(results: Any, out_dir: str | Path | None, tornado: pd.DataFrame | None = None,
          policy: str = "sync-always") -> str:
    """The plain-text reply to the seed mail (87k0h85m65.ffs@tglx) for this run; written to
    ``out_dir/reply.txt`` when ``out_dir`` is not empty (its path printed). ``tornado``: a
    tornado frame of ``policy`` for the assumptions that matter most."""
    from amxmodel.common.outdirs import output_folder
    from amxmodel.plot.reply import reply_text

    body = reply_text(results, tornado, policy)
    if out_dir:
        with output_folder(out_dir, "out_dir") as folder:  # the rule of every writer
            print(folder.write_text("reply.txt", body))
    return body


def export(results: Any, out_dir: str | Path | None, prefix: str = "",
           charts: Iterable[str] | Mapping[str, str] | None = None,
           data: pd.DataFrame | None = None,
           options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """PNG, SVG and 72-column text of the charts into ``out_dir``, files ``<prefix><chart>.*``.

    Does nothing and returns ``[]`` when ``out_dir`` is empty. ``charts`` defaults to every
    chart the frames allow; a mapping names the files (``{"sweep": "breakeven"}``).
    ``data`` is the frame of the ``sweep`` or ``tornado`` chart named in ``charts``.
    ``options`` gives keyword options per chart kind. Prints each path written.
    """
    if not out_dir:
        return []
    from amxmodel.plot.files import export_results

    kind = next((k for k in (charts or ()) if k in _DATA_KINDS), "sweep")
    paths = export_results(frames_of(results, data, kind), out_dir, charts=charts,
                           options=options, prefix=prefix)
    for path in paths:
        print(path)
    return paths
