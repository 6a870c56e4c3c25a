"""Running a sweep: every grid point once, each result written whole, re-runs finish the rest.

>>> from amxmodel.runs.sweep import run_sweep, read_points
>>> outcome = run_sweep("data/sweeps/rdmsr_x_exits.yaml", "sweeps/rdmsr", jobs=4)  # doctest: +SKIP
>>> read_points("sweeps/rdmsr").query("metric == 'overhead_fraction'")             # doctest: +SKIP

The output folder::

    DIR/sweep.yaml                 the grid as given and the resolved points (ids, seeds)
    DIR/points/<point_id>.parquet  the point's summary + one column per swept key + point_id, seed
    DIR/failed/<point_id>.json     a point that raised: error type, message, traceback, overrides
    DIR/notebooks/<point_id>.ipynb the executed notebook (notebook sweeps; kept when it failed)

A point is done, and skipped, when its parquet is a regular file that reads back whole and
carries the point's own id, seed and overrides and a checksum of its rows (written into the
file's metadata with it); any other file under its name (truncated, garbage, empty, a
symlink, another point's result) is reported and the point runs again. A point with a
failure record is skipped unless ``retry_failed``. The folder follows the output-folder
rule of :mod:`amxmodel.common.outdirs` (new, empty or a sweep's own; ``force`` to write
beside other files). A failing point does not stop the others. An
interruption (Ctrl-C, SIGKILL) loses at most the points that were running: each point
writes its own files atomically from whichever process ran it. ``run_point`` (a function
of a :class:`PointTask` returning a summary frame) replaces the model call, e.g. in tests;
with ``jobs > 1`` it must be importable (defined in a module), since points run in spawned
processes. Nothing here chooses a multiprocessing start method, so it runs inside Jupyter.

Points run where :mod:`amxmodel.runs.executors` puts them: this process, local processes, or a
dask cluster (``scheduler=`` an address, ``dask_local=`` N local workers). Workers write
the point files themselves, so a cluster's workers must see ``out_dir`` (the same machine
or a shared filesystem) and have amxmodel installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from amxmodel import __version__
from amxmodel.common.atomicio import atomic_path, remove_stale_temps, write_text
from amxmodel.common.errors import InputError
from amxmodel.common.outdirs import output_folder
from amxmodel.runs.execution import using
from amxmodel.runs.executors import Executor
from amxmodel.runs.grid import Grid, Point, PointTask, canonical, describe, load_grid
from amxmodel.runs.sweepindex import INDEX_FILE, index_csv

SUBDIRS = ("points", "failed", "notebooks")


@dataclass
class SweepOutcome:
    """What a sweep call did, by point id."""

    out_dir: Path
    total: int
    skipped: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    failed_before: dict[str, str] = field(default_factory=dict)
    rerun: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def exit_status(self) -> int:
        """0 when every point has a result, else 1."""
        return 0 if not (self.failed or self.failed_before) else 1


def run_model_point(task: PointTask) -> pd.DataFrame:
    """A direct :func:`amxmodel.runs.run.run` call for one point (in this process)."""
    from amxmodel.runs.run import run

    return run(task.scenario, list(task.sets), mode=task.mode, seed=task.point.seed, jobs=1,
               progress=False).summary


def run_sweep(grid: str | Path | dict | Grid, out_dir: str | Path, jobs: int | None = 1,
              retry_failed: bool = False, progress: bool | None = None,
              run_point: Callable[[PointTask], pd.DataFrame] | None = None,
              scheduler: str | None = None, dask_local: int | None = None,
              executor: Executor | None = None, force: bool = False) -> SweepOutcome:
    """Run the points of ``grid`` that have no result in ``out_dir`` yet, in this process
    (``jobs=1``), ``jobs`` local processes (``None``: all cores if the first point's time
    says they pay off), on the dask scheduler at ``scheduler``, a dask LocalCluster of
    ``dask_local`` processes, or an open ``executor``."""
    t0 = time.perf_counter()
    g = grid if isinstance(grid, Grid) else load_grid(grid)
    if run_point is None:
        from amxmodel.runs.notebook_points import run_notebook_point

        run_point = run_notebook_point if g.notebook else run_model_point
    runner = using(executor, jobs, scheduler, dask_local)  # bad flags fail before any write
    with output_folder(out_dir, "--out", force) as folder, runner as ex:
        out = folder.path
        _check_layout(out, g)
        folder.claim(["sweep.yaml", INDEX_FILE, *SUBDIRS])
        folder.own(SUBDIRS)
        for sub in SUBDIRS:
            remove_stale_temps(out / sub)
        (out / "points").mkdir(exist_ok=True)
        folder.write_text("sweep.yaml", _sweep_yaml(g))
        folder.write_text(INDEX_FILE, index_csv(g))  # point files by parameter values
        outcome = SweepOutcome(out, len(g.points))
        done = set()
        for p in g.points:
            why = point_problem(out / "points" / f"{p.point_id}.parquet", p)
            if why is None:
                done.add(p.point_id)
            elif why != "missing":
                outcome.rerun[p.point_id] = why
        recorded = _stems(out / "failed", ".json")
        for pid in done & recorded:  # a result supersedes an old failure
            (out / "failed" / f"{pid}.json").unlink()
        todo = []
        for p in g.points:
            if p.point_id in done:
                outcome.skipped.append(p.point_id)
            elif p.point_id in recorded and not retry_failed:
                outcome.failed_before[p.point_id] = _failure_line(out, p.point_id)
            else:
                todo.append(p)
        columns, seed_dtype = column_dtypes(g), _seed_dtype(g)
        tasks = [PointTask(p, g.scenario, tuple(g.sets(p)), g.mode, out, g.notebook, columns,
                           seed_dtype, run_point) for p in todo]
        for task, err in zip(tasks, ex.map_ordered(_run_task, tasks, desc="points",
                                                   progress=progress)):
            if err is None:
                outcome.ran.append(task.point.point_id)
            else:
                outcome.failed[task.point.point_id] = err
    outcome.elapsed_s = time.perf_counter() - t0
    return outcome


def read_points(out_dir: str | Path) -> pd.DataFrame:
    """Every point's result of a sweep folder as one tidy frame (each file checked whole)."""
    files = sorted((Path(out_dir) / "points").glob("*.parquet"))
    frames = [read_point_file(f) for f in files if not f.name.startswith(".")]
    if not frames:
        return pd.read_parquet(Path(out_dir) / "points")
    return pd.concat(frames, ignore_index=True)


POINT_META = b"amxmodel.point"


def _digest(df: pd.DataFrame) -> str:
    """A checksum of a point's rows: column names, dtypes and every value."""
    h = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def write_point(path: Path, df: pd.DataFrame, point: Point) -> Path:
    """Write a point's frame atomically, with its id, seed, overrides and checksum."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {"point_id": point.point_id, "seed": str(point.seed),
            "overrides": canonical(point.overrides, point.point_id),
            "sha256": _digest(table.to_pandas())}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           POINT_META: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def _read_checked(path: Path) -> tuple[pd.DataFrame, dict]:
    """A point file's frame and metadata; ValueError saying what is wrong."""
    if path.is_symlink():
        raise ValueError("is a symbolic link, not a file the sweep wrote")
    if not path.is_file():
        raise ValueError("is not a regular file")
    if path.stat().st_size == 0:
        raise ValueError("is empty")
    try:
        table = pq.read_table(path)
        df = table.to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"does not read back as parquet ({first})") from None
    raw = (table.schema.metadata or {}).get(POINT_META)
    if raw is None:
        raise ValueError("has no point record (not written by this version of amxmodel sweep)")
    try:
        meta = json.loads(raw)
        _ = meta["point_id"], meta["seed"], meta["overrides"], meta["sha256"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("has a damaged point record") from None
    if _digest(df) != meta["sha256"]:
        raise ValueError("fails its checksum (the rows changed after it was written)")
    ids = df["point_id"].astype(str).unique().tolist() if "point_id" in df.columns else []
    if ids != [meta["point_id"]]:
        raise ValueError(f"holds rows of point(s) {ids[:3]}, not {meta['point_id']}")
    return df, meta


def point_problem(path: Path, point: Point) -> str | None:
    """None when ``path`` is this point's whole result, else why not (``"missing"``)."""
    if not os.path.lexists(path):
        return "missing"
    try:
        _, meta = _read_checked(path)
    except ValueError as exc:
        return str(exc)
    if meta["point_id"] != point.point_id:
        return f"is the result of point {meta['point_id']}"
    if meta["seed"] != str(point.seed):
        return f"was run with seed {meta['seed']}, the point has {point.seed}"
    if meta["overrides"] != canonical(point.overrides, point.point_id):
        return "was run with other overrides than the point's"
    return None


def read_point_file(path: Path) -> pd.DataFrame:
    """One point file, checked whole; InputError naming the file and the fault."""
    try:
        df, meta = _read_checked(path)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}; run the sweep again to redo that point") from None
    if path.name != f"{meta['point_id']}.parquet":
        raise InputError(f"{path}: holds point {meta['point_id']}, not {path.stem}")
    return df


def _run_task(task: PointTask) -> str | None:
    """Run one point and write its result or failure record; return None or the error line."""
    pid, out = task.point.point_id, task.out_dir
    try:
        write_point(out / "points" / f"{pid}.parquet", annotate(task.run_point(task), task),
                    task.point)
    except Exception as exc:  # noqa: BLE001 -- recorded, the sweep goes on; interrupts propagate
        record = {"point_id": pid, "seed": task.point.seed, "overrides": task.point.overrides,
                  "sets": list(task.sets), "error_type": type(exc).__name__,
                  "message": str(exc), "traceback": traceback.format_exc()}
        write_text(out / "failed" / f"{pid}.json", json.dumps(record, indent=2, default=str))
        return _one_line(record)
    (out / "failed" / f"{pid}.json").unlink(missing_ok=True)
    return None


def annotate(summary: pd.DataFrame, task: PointTask) -> pd.DataFrame:
    """The point's summary with ``point_id``, ``seed`` and one column per swept key."""
    df = summary.reset_index(drop=True).copy()
    n = len(df)
    df["point_id"] = pd.Series([task.point.point_id] * n, dtype="string")
    df["seed"] = pd.Series([task.point.seed] * n, dtype=task.seed_dtype)
    for key, dtype in task.columns.items():
        if key not in df.columns:  # a swept bare 'seed' is the seed column already
            value = task.point.overrides.get(key)
            if dtype == "json":
                value, dtype = (value if isinstance(value, str) or value is None
                                else canonical(value, key)), "string"
            df[key] = pd.Series([value] * n, dtype=dtype)
    return df


def column_dtypes(g: Grid) -> dict[str, str]:
    """One dtype per swept key over the whole grid, so every point's file has the same schema."""
    out = {}
    for key in g.swept_keys:
        vals = [p.overrides[key] for p in g.points if key in p.overrides]
        if all(isinstance(v, bool) for v in vals):
            out[key] = "boolean"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            out[key] = "Int64"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[key] = "float64"
        elif all(isinstance(v, str) for v in vals):
            out[key] = "string"
        else:
            out[key] = "json"
    return out


def _seed_dtype(g: Grid) -> str:
    return "int64" if all(p.seed < 2**63 for p in g.points) else "uint64"


def _check_layout(out: Path, g: Grid) -> None:
    """Refuse a sweep folder whose parts are not what a sweep wrote, or that holds results of
    another grid."""
    if os.path.lexists(out / "sweep.yaml") and not (out / "sweep.yaml").is_file():
        raise InputError(f"--out {out}: sweep.yaml is not a regular file; move it away")
    for sub in SUBDIRS:
        path = out / sub
        if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
            raise InputError(f"--out {out}: {sub} is not a folder; move it away")
    ids = {p.point_id for p in g.points}
    foreign = sorted(_stems(out / "points", ".parquet") - ids)
    if foreign:
        raise InputError(f"--out {out}: holds {len(foreign)} result(s) of points not in this grid "
                         f"(e.g. {foreign[0]}); the grid, its scenario, set or mode changed: "
                         "use a new folder")
    for pid in sorted(ids):
        path = out / "points" / f"{pid}.parquet"
        if path.is_dir() and not path.is_symlink():
            raise InputError(f"--out {out}: points/{pid}.parquet is a folder; move it away "
                             "so the point can run again")


def _stems(folder: Path, suffix: str) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.name[: -len(suffix)] for p in folder.iterdir()
            if p.name.endswith(suffix) and not p.name.startswith(".")}


def _sweep_yaml(g: Grid) -> str:
    from amxmodel.common.datafiles import git_commit

    record = {**g.record(), "package_version": __version__, "git_commit": git_commit()}
    return yaml.safe_dump(record, sort_keys=False, width=100, allow_unicode=True)


def _one_line(record: dict[str, Any]) -> str:
    msg = str(record.get("message", "")).strip().splitlines()
    where = describe(record.get("overrides") or {}) or "no overrides"
    return f"({where}) {record.get('error_type', 'Error')}: {msg[-1] if msg else ''}".rstrip(": ")


def _failure_line(out: Path, pid: str) -> str:
    try:
        return _one_line(json.loads((out / "failed" / f"{pid}.json").read_text()))
    except (OSError, ValueError):
        return "failed (unreadable failure record)"


def sweep(grid: Mapping | str | Path, sweep_dir: str | Path | None = None) -> pd.DataFrame:
    """Run a sweep grid (see :mod:`amxmodel.runs.grid`) and return every point's summary.

    ``sweep_dir`` keeps the results, and a second call only runs the missing points; when
    empty, a temporary folder is used. A failed point raises InputError with its message.
    """
    with tempfile.TemporaryDirectory(prefix="amxmodel-sweep-") as tmp:
        outcome = run_sweep(grid, sweep_dir or tmp, progress=False)
        failures = {**outcome.failed_before, **outcome.failed}
        if failures:
            pid, line = next(iter(failures.items()))
            raise InputError(f"sweep: {len(failures)} point(s) failed, e.g. {pid}: {line}")
        return read_points(outcome.out_dir)
