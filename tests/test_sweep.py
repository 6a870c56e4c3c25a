"""Sweeps: grid expansion and validation, point ids, resumable runs, failures, notebooks, CLI."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from amxmodel.cli import main
from amxmodel.common.errors import InputError
from amxmodel.common.yamlio import parse_scalar
from amxmodel.inputs.scenario import load_scenario
from amxmodel.runs import sweep as sweep_mod
from amxmodel.runs.grid import format_override, load_grid
from amxmodel.runs.sweep import read_points, run_sweep

FAST = {"fleet.hosts": 4, "run.steps": 2}
GRID = {"set": FAST, "grid": {"hardware.rdmsr_xfd_cycles": [20, 100, 200],
                              "workload": ["web", "database"]}, "seeds": [1, 2]}


def fake_run(task) -> pd.DataFrame:
    """A stand-in for model.run: a summary that depends on the overrides and the seed."""
    sc = load_scenario(task.scenario, list(task.sets))
    exits = sum(share * sc.workloads[c].mean("exits_per_vcpu_s") for c, share in sc.mix.items())
    noise = np.random.default_rng(task.point.seed).normal(size=2) * 1e-9
    value = sc.hardware.rdmsr_xfd_cycles * exits / sc.hardware.cpu_hz + noise
    return pd.DataFrame({"scenario": sc.name, "policy": ["upstream", "sync-always"],
                         "metric": "overhead_fraction", "value": value, "stderr": 0.0,
                         "unit": "fraction"})


@dataclass
class Interrupting:
    """Runs ``fake_run`` for ``limit`` points, then raises ``exc`` (an interrupt, not a failure)."""

    limit: int
    exc: type = KeyboardInterrupt
    calls: int = 0

    def __call__(self, task):
        self.calls += 1
        if self.calls > self.limit:
            raise self.exc()
        return fake_run(task)


@dataclass
class FailOn:
    """Raises for points whose override ``key`` equals ``value``."""

    key: str
    value: object

    def __call__(self, task):
        if task.point.overrides.get(self.key) == self.value:
            raise ValueError(f"boom at {self.key}={self.value}")
        return fake_run(task)


def write_grid(tmp_path, grid, name="grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path


def frame(out) -> pd.DataFrame:
    df = read_points(out)
    return df.sort_values(["point_id", "policy"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- expansion


def test_cartesian_product_times_seeds():
    g = load_grid(GRID)
    combos = [(p.overrides["hardware.rdmsr_xfd_cycles"], p.overrides["workload"], p.seed)
              for p in g.points]
    assert combos == [(c, w, s) for c in [20, 100, 200] for w in ["web", "database"] for s in [1, 2]]
    assert g.swept_keys == ["hardware.rdmsr_xfd_cycles", "workload"]


def test_grid_crossed_with_explicit_points():
    g = load_grid({"set": FAST, "grid": {"workload": ["web", "hpc"]},
                   "points": [{"fleet.hosts": 2}, {"fleet.hosts": 3, "run.steps": 1}]})
    assert [p.overrides for p in g.points] == [
        {"workload": w, **p} for w in ["web", "hpc"]
        for p in [{"fleet.hosts": 2}, {"fleet.hosts": 3, "run.steps": 1}]]
    assert g.swept_keys == ["workload", "fleet.hosts", "run.steps"]


def test_seed_count_spawns_children_of_the_root_and_records_it():
    g = load_grid({"set": FAST, "points": [{}], "seeds": 3, "seed": 7})
    want = [int(c.generate_state(1, np.uint32)[0]) for c in np.random.SeedSequence(7).spawn(3)]
    assert [p.seed for p in g.points] == want and g.record()["root_seed_entropy"] == 7
    default_root = load_grid({"set": FAST, "points": [{}], "seeds": 1}).root_seed
    assert default_root == load_scenario().run["seed"]


def test_without_seeds_the_point_runs_with_the_scenario_seed():
    g = load_grid({"set": {**FAST, "run.seed": 5}, "points": [{}]})
    assert [p.seed for p in g.points] == [5]


def test_point_ids_are_stable_and_distinct():
    ids = [p.point_id for p in load_grid(GRID).points]
    assert ids == [p.point_id for p in load_grid(GRID).points]
    assert len(set(ids)) == len(ids) == 12
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert ids[0] == "d82a47fbeb2f"  # the hash is a file name on disk: changing it orphans results
    other = {**GRID, "mode": "mean-field"}
    assert not set(ids) & {p.point_id for p in load_grid(other).points}


@pytest.mark.parametrize("value", [100, 0.1, 1e-7, "web", "100", "", [1, 2], True,
                                   {"dist": "lognormal", "median": 800, "sigma": 0.5},
                                   "upstream,sync-always"])
def test_overrides_round_trip_through_key_value_strings(value):
    key, text = format_override("k", value).split("=", 1)
    assert key == "k" and parse_scalar(text) == value


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("grid, words", [
    ({"grids": {"workload": ["web"]}}, ["'grids'", "did you mean 'grid'"]),
    ({"grid": {}}, ["grid", "no points"]),
    ({"set": FAST}, ["no points"]),
    ({"grid": {"workload": "web"}}, ["grid.workload", "expected a list"]),
    ({"grid": {"workload": []}}, ["grid.workload", "empty list"]),
    ({"grid": {"workload": ["web", "web"]}}, ["grid.workload", "duplicate"]),
    ({"points": [{"fleet.hosts": 3}, {"fleet.hosts": 3}]}, ["points[2]", "duplicate"]),
    ({"points": [{"rdmsr_xfd_cycles": 90}, {"hardware.rdmsr_xfd_cycles": 90}]},
     ["point 2", "duplicate point"]),
    ({"grid": {"workload": ["web"]}, "points": [{"workload": "hpc"}]}, ["points[1]", "workload"]),
    ({"points": "fleet.hosts=3"}, ["points", "list"]),
    ({"grid": {"hardware.rdmsr_xfd_cycle": [1]}}, ["point 1", "rdmsr_xfd_cycle", "did you mean"]),
    ({"grid": {"hardware.rdmsr_xfd_cycles": [20, 50, -5]}}, ["point 3", "out of range"]),
    ({"grid": {"workload": ["web", "webb"]}}, ["point 2", "webb"]),
    ({"points": [{}], "mode": "exact"}, ["mode", "exact", "mean-field"]),
    ({"points": [{}], "scenario": "nope"}, ["scenario", "nope"]),
    ({"points": [{}], "set": "fleet.hosts=3"}, ["set", "mapping"]),
    ({"points": [{}], "set": {"fleet.hostz": 3}}, ["set", "hostz"]),
    ({"points": [{}], "seeds": 0}, ["seeds", ">= 1"]),
    ({"points": [{}], "seeds": [1, 1]}, ["seeds", "duplicate"]),
    ({"points": [{}], "seeds": [1.5]}, ["seeds", "integer"]),
    ({"points": [{}], "seed": 3}, ["seed", "seeds: N"]),
    ({"grid": {"run.seed": [1, 2]}, "seeds": 2}, ["seeds", "run.seed"]),
    ({"points": [{}], "notebook": "missing.ipynb"}, ["notebook", "missing.ipynb"]),
])
def test_bad_grids_name_the_file_and_field(tmp_path, grid, words):
    path = write_grid(tmp_path, grid)
    with pytest.raises(InputError) as err:
        load_grid(path)
    msg = str(err.value)
    assert msg.startswith(str(path)), msg
    for word in words:
        assert word in msg, msg


# ----------------------------------------------------------------------------- running


def test_every_point_writes_one_tidy_parquet_with_swept_columns(tmp_path):
    out = tmp_path / "out"
    res = run_sweep(GRID, out, run_point=fake_run)
    assert res.exit_status == 0 and len(res.ran) == 12 and not res.skipped
    files = sorted((out / "points").iterdir())
    assert [f.stem for f in files] == sorted(p.point_id for p in load_grid(GRID).points)
    df = frame(out)
    assert {"scenario", "policy", "metric", "value", "stderr", "unit", "point_id", "seed",
            "hardware.rdmsr_xfd_cycles", "workload"} <= set(df.columns)
    assert df["hardware.rdmsr_xfd_cycles"].dtype == "Int64" and set(df.seed) == {1, 2}
    web = df[(df.workload == "web") & (df.seed == 1) & (df.policy == "upstream")]
    assert web.sort_values("hardware.rdmsr_xfd_cycles").value.is_monotonic_increasing
    record = yaml.safe_load((out / "sweep.yaml").read_text())
    assert record["grid"] == GRID and len(record["points"]) == 12
    assert not list(out.rglob(".*.tmp-*"))


def test_rerun_skips_finished_points(tmp_path):
    out = tmp_path / "out"
    run_sweep(GRID, out, run_point=fake_run)
    stamps = {f: f.stat().st_mtime_ns for f in (out / "points").iterdir()}
    res = run_sweep(GRID, out, run_point=Interrupting(0, RuntimeError))
    assert res.exit_status == 0 and not res.ran and len(res.skipped) == 12
    assert stamps == {f: f.stat().st_mtime_ns for f in (out / "points").iterdir()}


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, exc):
    run_sweep(GRID, tmp_path / "ref", run_point=fake_run)
    out = tmp_path / "out"
    with pytest.raises(exc):
        run_sweep(GRID, out, run_point=Interrupting(5, exc))
    assert len(list((out / "points").iterdir())) == 5 and not (out / "failed").exists()
    res = run_sweep(GRID, out, run_point=fake_run)
    assert (len(res.skipped), len(res.ran)) == (5, 7)
    pd.testing.assert_frame_equal(frame(out), frame(tmp_path / "ref"))


def test_results_do_not_depend_on_jobs(tmp_path):
    run_sweep(GRID, tmp_path / "one", run_point=fake_run)
    run_sweep(GRID, tmp_path / "two", run_point=fake_run, jobs=2)
    pd.testing.assert_frame_equal(frame(tmp_path / "two"), frame(tmp_path / "one"))


def test_sigkill_partway_then_resume(tmp_path):
    grid = write_grid(tmp_path, GRID)
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_sweep import fake_run
        from amxmodel.runs.sweep import run_sweep
        def slow(task):
            time.sleep(0.3)
            return fake_run(task)
        run_sweep({str(grid)!r}, {str(out)!r}, run_point=slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(list((out / "points").glob("*.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    done = len(list((out / "points").glob("*.parquet")))
    assert 3 <= done < 12
    for f in (out / "points").glob("*.parquet"):
        pd.read_parquet(f)  # every visible file is whole
    res = run_sweep(grid, out, run_point=fake_run)
    assert len(res.skipped) == done and len(res.ran) == 12 - done
    run_sweep(GRID, tmp_path / "ref", run_point=fake_run)
    pd.testing.assert_frame_equal(frame(out), frame(tmp_path / "ref"))
    assert not list(out.rglob(".*.tmp-*"))


def test_failures_are_recorded_skipped_then_retried(tmp_path):
    out = tmp_path / "out"
    res = run_sweep(GRID, out, run_point=FailOn("workload", "database"))
    assert res.exit_status == 1 and len(res.failed) == 6 and len(res.ran) == 6
    rec = json.loads(next((out / "failed").iterdir()).read_text())
    assert rec["error_type"] == "ValueError" and "boom" in rec["message"]
    assert "Traceback" in rec["traceback"] and rec["overrides"]["workload"] == "database"
    again = run_sweep(GRID, out, run_point=fake_run)
    assert again.exit_status == 1 and not again.ran and len(again.failed_before) == 6
    retried = run_sweep(GRID, out, run_point=fake_run, retry_failed=True)
    assert retried.exit_status == 0 and len(retried.ran) == 6
    assert not list((out / "failed").iterdir())
    run_sweep(GRID, tmp_path / "ref", run_point=fake_run)
    pd.testing.assert_frame_equal(frame(out), frame(tmp_path / "ref"))


def test_a_folder_with_another_grids_results_is_refused(tmp_path):
    out = tmp_path / "out"
    run_sweep(GRID, out, run_point=fake_run)
    with pytest.raises(InputError, match="not in this grid"):
        run_sweep({**GRID, "set": {**FAST, "fleet.hosts": 5}}, out, run_point=fake_run)


# ----------------------------------------------------------------------------- CLI


def test_cli_bad_grid_exits_2_and_writes_nothing(tmp_path, capsys):
    grid = write_grid(tmp_path, {"grid": {"hardware.rdmsr_xfd_cycles": [20, -1]}})
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "point 2" in err and str(grid) in err
    assert not out.exists()


def test_cli_exit_0_then_1_with_failures_listed(tmp_path, capsys, monkeypatch):
    grid = write_grid(tmp_path, GRID)
    monkeypatch.setattr(sweep_mod, "run_model_point", FailOn("hardware.rdmsr_xfd_cycles", 200))
    assert main(["sweep", str(grid), "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert err.count("failed ") == 4 and "hardware.rdmsr_xfd_cycles=200" in err
    monkeypatch.setattr(sweep_mod, "run_model_point", fake_run)
    assert main(["sweep", str(grid), "--out", str(tmp_path / "a"), "--retry-failed"]) == 0
    assert "4 ran, 8 already done" in capsys.readouterr().out


# ----------------------------------------------------------------------------- model and notebooks

PARAMS_CELL = 'scenario = "default"\nsets = []\nmode = "sample"\nseed = 0\nresults_path = ""\nout_dir = ""\n'
NB_BODY = """\
from amxmodel.runs.run import run
from amxmodel.runs.notebook_params import save_summary
res = run(scenario, sets, mode=mode, seed=seed)
if res.scenario.hardware.rdmsr_xfd_cycles > 150:
    raise ValueError("refusing a slow RDMSR")
save_summary(res, results_path)
"""


def make_notebook(path: Path, params=PARAMS_CELL, tagged=True, metadata=True) -> Path:
    nb = nbformat.v4.new_notebook()
    if metadata:
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
    cell = nbformat.v4.new_code_cell(params)
    if tagged:
        cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny sweep notebook"), cell,
                nbformat.v4.new_code_cell(NB_BODY)]
    nbformat.write(nb, path)
    return path


NB_GRID = {"mode": "mean-field", "set": FAST,
           "grid": {"hardware.rdmsr_xfd_cycles": [20, 100, 200]}}


def overhead(out, key="hardware.rdmsr_xfd_cycles") -> pd.Series:
    df = read_points(out)
    df = df[(df.metric == "overhead_fraction") & (df.policy == "sync-always")]
    return df.set_index(key)["value"].sort_index()


def test_direct_points_are_model_runs(tmp_path):
    res = run_sweep({**NB_GRID, "grid": {"hardware.rdmsr_xfd_cycles": [20, 200]}}, tmp_path / "o")
    assert res.exit_status == 0
    got = overhead(tmp_path / "o")
    assert got[200] > got[20] > 0
    from amxmodel.runs.run import run

    direct = run("default", [*(f"{k}={v}" for k, v in FAST.items()),
                             "hardware.rdmsr_xfd_cycles=200"], mode="mean-field")
    assert got[200] == direct.metric("overhead_fraction")["sync-always"]


@pytest.mark.parametrize("kwargs, words", [
    ({"tagged": False}, ["no cell tagged 'parameters'"]),
    ({"params": PARAMS_CELL.replace('results_path = ""\n', "")}, ["'results_path'", "not declared"]),
    ({"metadata": False}, ["kernelspec"]),
])
def test_notebook_must_declare_every_parameter(tmp_path, kwargs, words):
    make_notebook(tmp_path / "nb.ipynb", **kwargs)
    path = write_grid(tmp_path, {**NB_GRID, "notebook": "nb.ipynb"})
    with pytest.raises(InputError) as err:
        load_grid(path)
    assert str(err.value).startswith(str(path)) and "nb.ipynb" in str(err.value)
    for word in words:
        assert word in str(err.value)


@pytest.mark.slow
def test_notebook_points_take_their_parameters_and_keep_failed_notebooks(tmp_path):
    make_notebook(tmp_path / "nb.ipynb")
    path = write_grid(tmp_path, {**NB_GRID, "notebook": "nb.ipynb"})
    out = tmp_path / "out"
    res = run_sweep(path, out, jobs=2)
    assert res.exit_status == 1 and len(res.ran) == 2 and len(res.failed) == 1
    (bad,) = res.failed
    assert "refusing a slow RDMSR" in res.failed[bad]
    kept = nbformat.read(out / "notebooks" / f"{bad}.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in kept.cells for o in c.get("outputs", []))
    injected = next(c for c in kept.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert '"hardware.rdmsr_xfd_cycles=200"' in injected.source and 'mode = "mean-field"' in injected.source
    assert len(list((out / "notebooks").glob("*.ipynb"))) == 3
    run_sweep({**NB_GRID, "grid": {"hardware.rdmsr_xfd_cycles": [20, 100]}}, tmp_path / "direct")
    pd.testing.assert_series_equal(overhead(out), overhead(tmp_path / "direct"))
    assert overhead(out)[100] > overhead(out)[20]
