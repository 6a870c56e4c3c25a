"""A sweep SIGKILLed at random moments, then resumed, ends exactly like an uninterrupted one.

Twenty rounds, each on a fresh folder: ``amxmodel sweep`` (24 mean-field model points) runs
in its own process group and is killed with SIGKILL after a seeded random delay, which
lands anywhere from start-up to the last point's rename. After every kill the files a
reader can see are whole; after every resume there is exactly one result per grid point,
no failure record, no temporary file, and the values equal those of an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from amxmodel.runs.grid import load_grid
from amxmodel.runs.sweep import read_points, run_sweep

GRID = """\
mode: mean-field
set: {fleet.hosts: 2, run.steps: 2}
grid:
  hardware.rdmsr_xfd_cycles: [20, 50, 100, 150, 200, 400]
  workload: [idle, web, database, hpc]
"""
ROUNDS = 20
SEED = 20211116


def sorted_points(out: Path) -> pd.DataFrame:
    """Every point's rows, in a fixed order."""
    return read_points(out).sort_values(["point_id", "policy", "metric"]).reset_index(drop=True)


def killed_sweep(grid: Path, out: Path, delay_s: float) -> int:
    """Start ``amxmodel sweep`` and SIGKILL its process group after ``delay_s``; the status."""
    proc = subprocess.Popen([sys.executable, "-m", "amxmodel", "sweep", str(grid), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(delay_s)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it finished first
        pass
    return proc.wait()


def visible_files_are_whole(out: Path) -> int:
    """Read every result a reader can see; return how many there are."""
    files = sorted((out / "points").glob("*.parquet")) if (out / "points").is_dir() else []
    for f in files:
        pd.read_parquet(f)
    return len(files)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    ids = {p.point_id for p in load_grid(grid).points}
    assert len(ids) == 24
    run_sweep(grid, tmp_path / "ref", progress=False)
    ref = sorted_points(tmp_path / "ref")
    rows_per_point = len(ref) // len(ids)
    rng = random.Random(SEED)
    t0 = time.perf_counter()
    killed_midway = 0
    for i in range(ROUNDS):
        out = tmp_path / f"round{i:02d}"
        status = killed_sweep(grid, out, rng.uniform(0.2, 2.0))
        done = visible_files_are_whole(out)
        killed_midway += status == -signal.SIGKILL and 0 < done < len(ids)
        res = run_sweep(grid, out, progress=False)
        assert res.exit_status == 0 and len(res.skipped) == done
        assert len(res.skipped) + len(res.ran) == len(ids)
        assert {p.name[:-len(".parquet")] for p in (out / "points").glob("*.parquet")} == ids
        got = sorted_points(out)
        assert (got.groupby("point_id").size() == rows_per_point).all()  # none duplicated
        pd.testing.assert_frame_equal(got, ref)
        assert not list(out.rglob(".*.tmp-*")) and not list(out.glob("failed/*"))
    assert killed_midway >= ROUNDS // 4, killed_midway  # the kills did land mid-sweep
    assert time.perf_counter() - t0 < 120
