"""Sweep grids: a YAML file that expands to points, each a scenario with overrides and a seed.

A kernel developer asks "how does the answer move when RDMSR costs 20 or 200 cycles, for
web and for database fleets?". The grid file says it in a few lines::

    scenario: default            # name under data/scenarios or a file (default: default)
    mode: mean-field             # sample | mean-field (default: sample)
    notebook: ../../notebooks/sweep_me.ipynb   # optional; else a direct model.run call
    set: {fleet.hosts: 16}       # fixed overrides for every point (mapping or key=value list)
    grid:                        # cartesian product of these lists
      hardware.rdmsr_xfd_cycles: [20, 50, 100, 150, 200]
      workload: [idle, web, database, hpc, ai-inference]
    points:                      # explicit override mappings
      - {fleet.hosts: 8}
      - {fleet.hosts: 64, run.steps: 5}
    seeds: 2                     # N seeds spawned from the root 'seed', or a list [1, 2, 3]
    seed: 20211116               # root seed for 'seeds: N' (default: the scenario's run.seed)

Points are ``grid x points x seeds``: when both ``grid`` and ``points`` are given every
grid combination is crossed with every explicit point (a key may not be in both), so
``points`` works as a list of hand-picked variants swept over the grid. Paths (scenario
file, notebook) are relative to the grid file. Everything is checked here, before any
point runs: every point's scenario is loaded through :mod:`amxmodel.inputs.scenario`, and two
points that resolve to the same scenario and seed are rejected as duplicates.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from amxmodel.common.errors import InputError, unknown
from amxmodel.common.yamlio import load_yaml
from amxmodel.inputs import catalog
from amxmodel.inputs.modes import check_mode
from amxmodel.inputs.overrides import apply_overrides
from amxmodel.inputs.scenario import Scenario, build_scenario, scenario_raw

TOP_KEYS = ("help", "scenario", "notebook", "mode", "set", "grid", "points", "seeds", "seed")
SEED_KEYS = ("run.seed", "seed")
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the swept overrides, the seed and a stable id."""

    point_id: str
    overrides: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class Grid:
    """A validated, expanded grid."""

    source: str
    raw: dict[str, Any]
    scenario: str
    mode: str
    fixed: list[str]
    points: list[Point]
    swept_keys: list[str]
    notebook: Path | None = None
    root_seed: int | None = None

    def sets(self, point: Point) -> list[str]:
        """The point's overrides as ``key=value`` strings: the fixed ``set`` first."""
        return self.fixed + [format_override(k, v) for k, v in point.overrides.items()]

    def record(self) -> dict[str, Any]:
        """The grid as given and the resolved points (what ``sweep.yaml`` holds)."""
        return {"grid_file": self.source, "grid": self.raw, "root_seed_entropy": self.root_seed,
                "points": [{"point_id": p.point_id, "seed": p.seed, "overrides": dict(p.overrides)}
                           for p in self.points]}


@dataclass(frozen=True)
class PointTask:
    """Everything one point needs, picklable for a worker process."""

    point: Point
    scenario: str
    sets: tuple[str, ...]
    mode: str
    out_dir: Path
    notebook: Path | None
    columns: dict[str, str]
    seed_dtype: str
    run_point: Callable[[PointTask], pd.DataFrame]


def format_override(key: str, value: Any) -> str:
    """``key=value`` with the value in YAML flow style, so the override parser reads it back."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].rstrip()
    return f"{key}={text}"


def canonical(obj: Any, where: str) -> str:
    """Canonical JSON (sorted keys, no spaces); non-JSON values raise InputError."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: not plain data ({exc}); use numbers, strings, lists "
                         "and mappings") from None


def point_id(ident: dict[str, Any]) -> str:
    """A short hash of what makes a point: scenario, fixed set, overrides, seed, mode, notebook."""
    return hashlib.sha256(canonical(ident, "point").encode()).hexdigest()[:12]


def load_grid(src: str | Path | dict, base_dir: str | Path | None = None) -> Grid:
    """Read, validate and expand a grid file (or an in-memory mapping) into points."""
    if isinstance(src, dict):
        raw, where, base = copy.deepcopy(src), "grid", Path(base_dir or ".")
    else:
        raw, where, base = load_yaml(src, "grid file"), str(src), Path(base_dir or Path(src).parent)
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping with grid and/or points")
    for key in raw:
        if key not in TOP_KEYS:
            raise unknown("grid file key", key, TOP_KEYS, where)
    mode = raw.get("mode", "sample")
    check_mode(mode, f"{where}: mode")
    scenario = _scenario_ref(raw.get("scenario", "default"), base, where)
    fixed = _fixed_sets(raw.get("set"), f"{where}: set")
    combos, swept = _combos(raw, where)
    if raw.get("seeds") is not None and any(k in SEED_KEYS for k in swept + _keys(fixed)):
        raise InputError(f"{where}: seeds: the seed is swept by 'seeds'; remove run.seed from "
                         "set, grid and points")
    notebook = _notebook(raw, base, where)
    base_raw = _scenario_base(scenario, where)
    base_sc = _resolve(base_raw, fixed, f"{where}: set")
    seeds, root = _seeds(raw, int(base_sc.run["seed"]), where)
    ident = {"scenario": raw.get("scenario", "default"), "set": fixed, "mode": mode,
             "notebook": raw.get("notebook")}
    points = _expand(base_raw, fixed, combos, seeds, ident, where)
    return Grid(where, raw, scenario, mode, fixed, points, swept, notebook, root)


def _expand(base_raw: dict[str, Any], fixed: list[str], combos: list[dict[str, Any]],
            seeds: list[int], ident: dict[str, Any], where: str) -> list[Point]:
    """Points ``combos x seeds``, each combination's scenario validated; duplicates rejected."""
    points: list[Point] = []
    seen: dict[tuple[str, int], int] = {}
    for i, combo in enumerate(combos, 1):
        label = f"{where}: point {i} ({describe(combo) or 'no overrides'})"
        sc = _resolve(base_raw, fixed + [format_override(k, v) for k, v in combo.items()], label)
        resolved = canonical(sc.raw(), label)
        for seed in seeds or [int(sc.run["seed"])]:
            if (resolved, seed) in seen:
                raise InputError(f"{label}: duplicate point: same scenario and seed {seed} as "
                                 f"point {seen[resolved, seed]}")
            seen[resolved, seed] = i
            points.append(Point(point_id({**ident, "overrides": combo, "seed": seed}), combo, seed))
    if len({p.point_id for p in points}) != len(points):  # a 48-bit hash collision
        raise InputError(f"{where}: two points share an id (hash collision); change the grid")
    return points


def describe(overrides: dict[str, Any]) -> str:
    """``k=v, k=v`` for messages."""
    return ", ".join(format_override(k, v) for k, v in overrides.items())


def _keys(sets: list[str]) -> list[str]:
    return [s.split("=", 1)[0].strip() for s in sets]


def _scenario_ref(ref: Any, base: Path, where: str) -> str:
    if not isinstance(ref, str) or not ref:
        raise InputError(f"{where}: scenario: expected a scenario name or file, got {ref!r}")
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        return str(base / ref)
    return ref


def _scenario_base(ref: str, where: str) -> dict[str, Any]:
    try:
        return scenario_raw(ref)
    except InputError as exc:
        raise InputError(f"{where}: scenario: {exc}") from None


def _resolve(base_raw: dict[str, Any], sets: list[str], label: str) -> Scenario:
    """The scenario of one point, validated (the same overrides ``model.run`` will apply)."""
    raw = copy.deepcopy(base_raw)
    try:
        if sets:
            apply_overrides(raw, sets, label + ":")
        return build_scenario(raw)
    except InputError as exc:  # part files name themselves; say which point loaded them
        msg = str(exc)
        raise InputError(msg if msg.startswith(label) else f"{label}: {msg}") from None


def _fixed_sets(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        for key in value:
            _check_key(key, where)
        return [format_override(k, v) for k, v in value.items()]
    if isinstance(value, list) and all(isinstance(s, str) and "=" in s for s in value):
        return list(value)
    raise InputError(f"{where}: expected a mapping {{key: value}} or a list of 'key=value' "
                     f"strings, got {value!r}")


def _check_key(key: Any, where: str) -> None:
    if not isinstance(key, str) or not key or "=" in key:
        raise InputError(f"{where}: override key {key!r} must be a dotted name such as "
                         "hardware.rdmsr_xfd_cycles")


def _combos(raw: dict[str, Any], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The override mappings of ``grid x points`` and the swept keys in order."""
    grid, pts = raw.get("grid"), raw.get("points")
    if grid is None and pts is None:
        raise InputError(f"{where}: no points: give 'grid' (key: [values]) or 'points' "
                         "(a list of override mappings)")
    combos: list[dict[str, Any]] = [{}]
    keys: list[str] = []
    if grid is not None:
        if not isinstance(grid, dict) or not grid:
            raise InputError(f"{where}: grid: no points; expected a mapping key: [values, ...]")
        for key, values in grid.items():
            gw = f"{where}: grid.{key}"
            _check_key(key, f"{where}: grid")
            if not isinstance(values, list):
                raise InputError(f"{gw}: expected a list of values, got {values!r} "
                                 f"(write [{values!r}] for one value)")
            if not values:
                raise InputError(f"{gw}: empty list, no points")
            texts = [canonical(v, gw) for v in values]
            dup = next((v for v, t in zip(values, texts) if texts.count(t) > 1), None)
            if dup is not None:
                raise InputError(f"{gw}: duplicate points: value {dup!r} is listed twice")
        keys = list(grid)
        _check_count(math.prod(len(v) for v in grid.values()), f"{where}: grid")
        combos = [dict(zip(keys, vals)) for vals in itertools.product(*grid.values())]
    if pts is not None:
        if isinstance(pts, list):
            _check_count(len(combos) * len(pts), f"{where}: grid x points")
        explicit = _explicit_points(pts, set(keys), f"{where}: points")
        keys += list(dict.fromkeys(k for p in explicit for k in p))
        combos = [{**g, **p} for g in combos for p in explicit]
    return combos, keys


def _explicit_points(pts: Any, grid_keys: set[str], where: str) -> list[dict[str, Any]]:
    if not isinstance(pts, list) or not pts:
        raise InputError(f"{where}: no points; expected a list of override mappings")
    seen: dict[str, int] = {}
    for i, p in enumerate(pts, 1):
        pw = f"{where}[{i}]"
        if not isinstance(p, dict):
            raise InputError(f"{pw}: expected a mapping of overrides, got {p!r}")
        for key in p:
            _check_key(key, pw)
            if key in grid_keys:
                raise InputError(f"{pw}: '{key}' is also swept in grid; keep it in one place")
        text = canonical(p, pw)
        if text in seen:
            raise InputError(f"{pw}: duplicate points: same as {where}[{seen[text]}]")
        seen[text] = i
    return pts


def _seeds(raw: dict[str, Any], default_root: int, where: str) -> tuple[list[int], int | None]:
    """The seeds of every point, all spawned up front, and the root entropy (or None)."""
    seeds, root = raw.get("seeds"), raw.get("seed")
    spec = catalog.section("run")["seed"]
    if seeds is None:
        if root is not None:
            raise InputError(f"{where}: seed: the root seed goes with 'seeds: N'; for one seed "
                             "use set: {run.seed: ...}")
        return [], None
    if isinstance(seeds, list):
        if root is not None:
            raise InputError(f"{where}: seed: not used with an explicit seeds list")
        if not seeds:
            raise InputError(f"{where}: seeds: empty list, no points")
        out = [_int_seed(s, spec, f"{where}: seeds") for s in seeds]
        if len(set(out)) != len(out):
            raise InputError(f"{where}: seeds: duplicate points: a seed is listed twice")
        return out, None
    n = _int_seed(seeds, None, f"{where}: seeds")
    if n < 1:
        raise InputError(f"{where}: seeds: {n}; allowed: a count >= 1 or a list of seeds")
    _check_count(n, f"{where}: seeds")
    root = default_root if root is None else _int_seed(root, spec, f"{where}: seed")
    children = np.random.SeedSequence(root).spawn(n)  # every child before any dispatch
    return [int(c.generate_state(1, np.uint32)[0]) for c in children], root


def max_points() -> int:
    """The most points one grid may have (``$AMXMODEL_MAX_POINTS`` overrides)."""
    env = os.environ.get("AMXMODEL_MAX_POINTS", "")
    return int(env) if env.isdigit() else MAX_POINTS


def _check_count(n: int, where: str) -> None:
    """Refuse a grid of more than :func:`max_points` points before expanding it."""
    if n > max_points():
        raise InputError(f"{where}: {n:,} points; allowed: at most {max_points():,} per grid "
                         "(each point is a model run; set AMXMODEL_MAX_POINTS to allow more)")


def _int_seed(value: Any, spec: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: {value!r} is not an integer")
    return int(spec.check(value, where)) if spec is not None else value


def _notebook(raw: dict[str, Any], base: Path, where: str) -> Path | None:
    ref = raw.get("notebook")
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref.endswith(".ipynb"):
        raise InputError(f"{where}: notebook: expected a path to an .ipynb file, got {ref!r}")
    from amxmodel.runs.notebook_points import PARAMETERS, check_notebook

    path = (base / ref).resolve()
    check_notebook(path, PARAMETERS, f"{where}: notebook")
    return path
