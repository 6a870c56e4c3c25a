"""Writing a run's charts to files: PNG and SVG without a browser, text for mail.

``export_results("runs/default", "out/")`` reads the directory written by ``amxmodel run
--out`` (``summary.parquet``, optionally ``hosts.parquet``, ``by_class.parquet`` and
``scenario.yaml``), draws every chart it has the data for, and writes ``<chart>.png``
(vl-convert, scale 2), ``<chart>.svg`` and ``<chart>.txt`` (72 columns). A thread on
the list then gets the same numbers as a picture and as quotable text.

The target follows the output-folder rule of :mod:`amxmodel.common.outdirs` (new, empty, or
one amxmodel wrote; ``force`` writes beside other files, never replacing them). All files
are rendered into a temporary directory inside the target first and moved into place with
:func:`os.replace` only when every one of them succeeded: a failed export leaves nothing
behind, and a reader never sees a half-written PNG.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import vl_convert

from amxmodel.common.errors import InputError, unknown
from amxmodel.common.outdirs import check_name, check_out_dir, output_folder
from amxmodel.common.yamlio import load_yaml
from amxmodel.plot.charts import build_chart
from amxmodel.plot.frames import SUMMARY_COLUMNS, available_kinds, chart_caption, check_kind
from amxmodel.plot.textchart import chart_text
from amxmodel.plot.theme import use_theme
from amxmodel.runs.caption import sweep_record

FORMATS = ("png", "svg", "txt")
RESULT_FILES = {
    "summary": ("summary.parquet", SUMMARY_COLUMNS[:4]),
    "hosts": ("hosts.parquet", ("policy", "overhead_fraction")),
    "by_class": ("by_class.parquet", ("policy", "workload", "metric", "value")),
}


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Formats from ``"png,svg"`` or a list, checked against :data:`FORMATS`."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = tuple(
        dict.fromkeys(str(f).strip().lower().lstrip(".") for f in items if str(f).strip())
    )
    if not names:
        raise InputError(f"no export format given; allowed: {', '.join(FORMATS)}")
    for name in names:
        if name not in FORMATS:
            raise unknown("export format", name, FORMATS)
    return names


def _read_parquet(path: Path, columns: Iterable[str]) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read parquet: {first}") from None
    return _check_columns(path, df, columns)


def _check_columns(path: Path, df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``df`` if it has ``columns`` and a numeric ``value`` column; else InputError."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"has {', '.join(map(str, df.columns)) or 'none'}"
        )
    for col in ("value", "overhead_fraction"):
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):
            raise InputError(f"{path}: column '{col}' holds {df[col].dtype} values; "
                             "allowed: numbers (a file amxmodel wrote)")
    return df


def _yaml_mapping(path: Path, what: str) -> dict:
    """A YAML file's mapping, ``{}`` when the file is absent or not a mapping."""
    data = load_yaml(path, what) if path.is_file() else {}
    return dict(data) if isinstance(data, Mapping) else {}


def load_sweep(path: Path) -> dict:
    """The frames of a sweep directory: ``sweep`` (every finished point) and ``scenario``."""
    from amxmodel.runs.sweep import read_point_file

    points = path / "points"
    files = sorted(p for p in points.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise InputError(f"{points}: no finished point yet")
    record = _yaml_mapping(path / "sweep.yaml", "sweep record")
    grid = record.get("grid") if isinstance(record.get("grid"), Mapping) else {}
    grid_file = Path(str(record.get("grid_file", path))).stem
    meta = {**sweep_record(grid, grid_file), "package_version": record.get("package_version"),
            "git_commit": record.get("git_commit")}
    frame = pd.concat([read_point_file(f) for f in files], ignore_index=True)
    return {"sweep": _check_columns(points, frame, SUMMARY_COLUMNS[:4]), "scenario": meta}


def load_results(results_dir: str | os.PathLike) -> dict:
    """The frames of a results directory (``summary``, ``hosts``, ``by_class``, ``scenario``)
    or of a sweep directory (``sweep``, ``scenario``; see :mod:`amxmodel.runs.sweep`)."""
    path = Path(results_dir)
    what = "a directory written by 'amxmodel run --out' or 'amxmodel sweep --out'"
    if not path.exists():
        raise InputError(f"{path}: no such results directory (expected {what})")
    if not path.is_dir():
        raise InputError(f"{path}: not a directory (expected {what})")
    if not (path / "summary.parquet").is_file():
        if (path / "points").is_dir():
            return load_sweep(path)
        raise InputError(f"{path}: no summary.parquet (a run) nor points/ (a sweep); "
                         f"expected {what}")
    frames: dict = {}
    for key, (name, columns) in RESULT_FILES.items():
        if (path / name).is_file():
            frames[key] = _read_parquet(path / name, columns)
    if frames["summary"].empty:
        raise InputError(f"{path / 'summary.parquet'}: no rows")
    frames["scenario"] = _yaml_mapping(path / "scenario.yaml", "scenario")
    return frames


def _frames(source) -> dict:
    """Frames from a results directory or a mapping of frames."""
    if isinstance(source, (str, os.PathLike)):
        return load_results(source)
    if isinstance(source, Mapping):
        return dict(source)
    raise InputError(
        f"expected a results directory or a dict of frames, got {type(source).__name__}"
    )


def _render(kind: str, fmt: str, frames: Mapping, header: str, spec: str | None,
            options: Mapping) -> bytes:
    """The bytes of one chart in one format."""
    if fmt == "txt":
        return (chart_text(kind, frames, header, **options) + "\n").encode("ascii", "replace")
    if fmt == "png":
        return png_with_text(vl_convert.vegalite_to_png(spec, scale=2), "Description", header)
    return vl_convert.vegalite_to_svg(spec).encode("utf-8")


def png_with_text(png: bytes, key: str, text: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``key: text`` before its end (the caption travels with
    the picture: ``exiftool`` or any PNG reader shows it; the pixels show it too)."""
    if not text or not png.endswith(b"IEND\xaeB`\x82"):
        return png
    data = key.encode("latin-1") + b"\0" + text.encode("latin-1", "replace")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + \
        struct.pack(">I", zlib.crc32(b"tEXt" + data) & 0xFFFFFFFF)
    return png[:-12] + chunk + png[-12:]


def png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG as a mapping (the caption is under ``Description``)."""
    out, pos = {}, 8
    while pos + 8 <= len(png):
        (length,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        if kind == b"tEXt":
            key, _, text = png[pos + 8:pos + 8 + length].partition(b"\0")
            out[key.decode("latin-1")] = text.decode("latin-1")
        pos += 12 + length
    return out


def export_results(
    results_dir_or_frames,
    to_dir: str | os.PathLike,
    formats: str | Iterable[str] = FORMATS,
    charts: Iterable[str] | Mapping[str, str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    prefix: str = "",
    force: bool = False,
) -> list[Path]:
    """Write ``<chart>.<format>`` for each chart and format into ``to_dir``; return the paths.

    ``results_dir_or_frames`` is a results directory or a dict of frames (keys ``summary``,
    ``hosts``, ``by_class``, ``sweep``, ``tornado``, optional ``sweep_param`` and a
    ``scenario`` metadata dict). ``charts`` defaults to every kind the frames allow (see
    :data:`CHART_KINDS`); a mapping names the files, ``{"sweep": "breakeven"}`` writes
    ``breakeven.png``. ``options`` gives keyword options per kind to the chart and its text
    twin alike, e.g. ``{"tornado": {"metric": "sync-always minus upstream"}}``. ``prefix``
    starts every file name (``01_`` writes ``01_overhead.png``). Bad input
    raises InputError before anything is written; a failed rendering leaves no file (nor a
    directory the export created).
    """
    target = Path(to_dir)
    check_out_dir(target, "--to")
    fmts = parse_formats(formats)
    frames = _frames(results_dir_or_frames)
    if charts is None:
        charts = available_kinds(frames)
    names = dict(charts) if isinstance(charts, Mapping) else {k: k for k in charts}
    stems = {kind: f"{prefix}{name}" for kind, name in names.items()}
    for stem in stems.values():
        check_name(stem, "chart file name")
    kinds = list(stems)
    if not kinds:
        raise InputError(
            f"nothing to chart: no frame among {', '.join(RESULT_FILES)}, sweep, tornado"
        )
    for kind in kinds:
        check_kind(kind, frames)
    with output_folder(target, "--to", force) as folder:
        folder.claim(f"{stems[kind]}.{fmt}" for kind in kinds for fmt in fmts)
        with folder.staging() as staging:
            names = []
            with use_theme():
                for kind in kinds:
                    header = chart_caption(kind, frames)
                    opts = dict((options or {}).get(kind, {}))
                    spec = (build_chart(kind, frames, header, **opts).to_json()
                            if set(fmts) - {"txt"} else None)
                    for fmt in fmts:
                        name = f"{stems[kind]}.{fmt}"
                        (staging / name).write_bytes(
                            _render(kind, fmt, frames, header, spec, opts))
                        names.append(name)
            folder.install(staging, names)
            return [target / name for name in names]
