"""Helpers that notebooks call, so their cells stay short and sweeps can collect results.

A research notebook's first code cell holds its papermill parameters; the next one checks
them through the package, so a bad value stops the run at once with the package's message::

    from amxmodel.runs.notebook_params import check_parameters, export_charts, run_frames, save_summary
    sc = check_parameters(scenario, sets, mode, seed, fixed=[f"fleet.hosts={hosts}"])

A notebook run by ``amxmodel sweep`` receives a ``results_path`` parameter (empty when a
person runs it by hand). Its last cell hands the run's summary back to the sweep::

    save_summary(res, results_path)

``export_charts(frames, out_dir, prefix="01_")`` writes PNG, SVG and 72-column text of its
charts into ``out_dir`` (nothing when it is empty), the files a mail or a report quotes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from amxmodel.common.atomicio import write_parquet
from amxmodel.common.errors import InputError


def save_summary(res: Any, results_path: str | Path | None) -> Path | None:
    """Write ``res.summary`` (or a summary frame) to ``results_path`` atomically.

    Does nothing and returns ``None`` when ``results_path`` is empty.
    """
    if not results_path:
        return None
    summary = res if isinstance(res, pd.DataFrame) else res.summary
    return write_parquet(results_path, summary)


def check_parameters(scenario: Any, sets: Any, mode: str = "sample", seed: Any = None,
                     fixed: Sequence[str] = ()):
    """The notebook's scenario: ``fixed`` overrides, then the seed, then ``sets`` (which win).

    Raises InputError at once for a bad mode, seed or override, naming the allowed values.
    """
    from amxmodel.inputs.modes import check_mode
    from amxmodel.inputs.scenario import load_scenario

    if isinstance(sets, str) or not isinstance(sets, (list, tuple)) \
            or not all(isinstance(s, str) for s in sets):
        raise InputError(f"sets: expected a list of 'key=value' strings, got {sets!r}; with "
                         "papermill: -y 'sets: [hardware.rdmsr_xfd_cycles=100]'")
    check_mode(mode)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise InputError(f"seed: expected a whole number >= 0, got {seed!r}")
    seeded = [] if seed is None else [f"run.seed={seed}"]
    return load_scenario(scenario, [*fixed, *seeded, *sets])


def setup() -> None:
    """Charts in the project theme, drawn as static SVG (kept in the notebook and its HTML,
    which then needs no network); tables show sources in full."""
    import altair as alt

    from amxmodel.plot.theme import register_theme

    register_theme(enable=True)
    alt.renderers.enable("svg")
    pd.set_option("display.max_colwidth", 200)


def run_frames(res: Any) -> dict:
    """The frames of a run for :func:`amxmodel.plot.charts.build_chart` and the exports."""
    return {"summary": res.summary, "hosts": res.hosts, "by_class": res.by_class,
            "scenario": res.record}


def export_charts(frames: Mapping, out_dir: str | Path | None, prefix: str = "",
                  charts: Iterable[str] | Mapping[str, str] | None = None,
                  options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """PNG, SVG and text of the charts into ``out_dir``, files named ``<prefix><chart>.*``.

    Does nothing and returns ``[]`` when ``out_dir`` is empty. ``charts`` defaults to every
    chart the frames allow; a mapping names the files (see :func:`export_results`).
    """
    if not out_dir:
        return []
    from amxmodel.plot.files import export_results

    paths = export_results(frames, out_dir, charts=charts, options=options, prefix=prefix)
    for path in paths:
        print(path)
    return paths


def sweep_points(grid: Mapping | str | Path, sweep_dir: str | Path | None = None) -> pd.DataFrame:
    """Run a sweep grid (see :mod:`amxmodel.runs.grid`) and return every point's summary.

    ``sweep_dir`` keeps the results, and a second call only runs the missing points; when
    empty, a temporary folder is used. A failed point raises InputError with its message.
    """
    from amxmodel.runs.sweep import read_points, run_sweep

    with tempfile.TemporaryDirectory(prefix="amxmodel-sweep-") as tmp:
        outcome = run_sweep(grid, sweep_dir or tmp, progress=False)
        failures = {**outcome.failed_before, **outcome.failed}
        if failures:
            pid, line = next(iter(failures.items()))
            raise InputError(f"sweep: {len(failures)} point(s) failed, e.g. {pid}: {line}")
        return read_points(outcome.out_dir)
