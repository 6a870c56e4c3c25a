"""``amxmodel bench`` runs and reports every measurement (not whether targets are met:
benchmarks are not timed unit tests); its JSON is valid with targets judged; the lean floor
it divides by does the engine's work."""

import json
import subprocess
import sys

import numpy as np
import pytest

from amxmodel.cli.bench import report
from amxmodel.fleet.engine import Exposure, chunk_bounds, run_chunk
from amxmodel.fleet.floor import lean_floor
from amxmodel.inputs.scenario import load_scenario
from amxmodel.runs.bench import SMALL, TARGETS, Sizes, measure, met, run_sampled

KEYS = ("engine_cpu_s", "engine_cpu_s_median", "engine_wall_s", "lean_floor_cpu_s",
        "engine_floor_ratio", "rng_floor_cpu_s", "engine_vcpu_steps_per_cpu_s",
        "headline_cpu_s", "headline_wall_s", "peak_rss_bytes", "startup_s",
        "python_startup_s", "cores", "load_average_before", "load_average_after",
        "reference_vcpu_steps_per_s", "reference_speedup", "mean_field_wall_s",
        "engine_draws_per_vcpu_step", "memory_steps_ratio")
TINY = Sizes(("fleet.hosts=12", "run.steps=30", "run.chunk_hosts=4"),
             ("fleet.hosts=12", "run.steps=30"), SMALL + ("fleet.hosts=1", "run.steps=1"), 30, 2,
             (("fleet.hosts=6", "run.steps=10"),))


@pytest.fixture(scope="module")
def quick():
    cmd = [sys.executable, "-m", "amxmodel", "bench", "--quick", "--format", "json"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_quick_bench_reports_every_measurement(quick):
    for key in KEYS + tuple(TARGETS):
        assert key in quick, key
        assert quick[key] > 0, (key, quick[key])
    assert "rng_limit_ratio" not in quick
    assert quick["quick"] is True and quick["targets_met"] is None
    # the floors are parts of the work they bound
    assert quick["rng_floor_cpu_s"] < quick["lean_floor_cpu_s"]
    assert quick["engine_cpu_s"] <= quick["engine_cpu_s_median"]


def test_judged_bench_prints_valid_json_and_a_table():
    """The full path (targets judged, a scale run) on tiny sizes: plain JSON values."""
    res = measure(sizes=TINY, judge=True)
    back = json.loads(report(res, "json"))
    assert set(back["targets_met"]) == set(TARGETS)
    assert all(type(v) is bool for v in back["targets_met"].values())
    assert back["scale1_peak_rss_bytes"] > 0 and back["scale1_cpu_s"] > 0
    table = report(res, "table")
    assert "engine / lean floor" in table and "scale: 6 hosts" in table
    assert max(len(line) for line in table.splitlines()) <= 72


def test_peak_memory_is_sampled_over_the_process_tree():
    """A grandchild that holds 200 MiB for a moment counts, once."""
    hold = "import time; b = b'x' * (200 * 2**20); time.sleep(1)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {hold!r}])"
    _, _, peak = run_sampled([sys.executable, "-c", parent])
    assert 200 * 2**20 < peak < 400 * 2**20, peak / 2**20


def test_met_is_a_plain_bool():
    assert met("engine_floor_ratio", np.float64(1.2)) is True
    assert met("engine_vcpu_steps_per_cpu_s", np.float64(1.0)) is False


def test_lean_floor_does_the_engines_work():
    """Floor and engine, same fleet (churn and AMX use on): per-host means of every exposure
    within 4 combined standard errors plus 1 %."""
    sc = load_scenario(None, ["fleet.hosts=400", "run.steps=60", "run.step_s=10",
                              "run.chunk_hosts=100", "workloads.*.p_uses_amx=0.5",
                              "workloads.*.vm_lifetime_s.median=300",
                              "fleet.amx_host_share=0.7"])
    pages = np.tile(np.array([1, 3, 3, 5, 5, 5.0]), (11, 1))
    engine = Exposure.concat([run_chunk(sc, i, pages) for i in range(len(chunk_bounds(sc)))])
    floor = lean_floor(sc.with_overrides({"run.chunk_hosts": 400}), 0, pages)
    for name in ("exits", "points", "vcpu_state_s", "peak_pages"):
        a = getattr(engine, name).reshape(400, -1)
        b = getattr(floor, name).reshape(400, -1)
        se = np.sqrt((a.var(axis=0, ddof=1) + b.var(axis=0, ddof=1)) / 400)
        gap = np.abs(a.mean(axis=0) - b.mean(axis=0))
        assert np.all(gap <= 4 * se + 0.01 * np.abs(a.mean(axis=0))), (name, gap / (se + 1e-12))
        assert a.sum() > 0, name


def test_bad_jobs_is_one_clear_error():
    out = subprocess.run([sys.executable, "-m", "amxmodel", "bench", "--quick", "--jobs", "0"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == "amxmodel: error: --jobs 0: allowed: 1 or more processes"
