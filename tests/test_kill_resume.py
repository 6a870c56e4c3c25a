"""Kills, interruptions and damaged results: nothing lost, nothing trusted, nobody left behind.

Every kill here lands at a point defined by progress (k point files visible, the worker
processes started, the process alive), found by polling with a generous deadline, never
after a wall-clock delay: on a loaded machine the sweep is slower, and the kill lands at
the same place. The tests:

- a sweep SIGKILLed (with its process group) after k points, then resumed, ends exactly
  like an uninterrupted one, for k across the whole sweep;
- SIGKILL of only the parent of ``sweep --jobs 2`` leaves no worker alive after 5 s;
- ``run --jobs 2 --out`` stopped by SIGTERM (the parent only) while computing ends with one
  line and exit 143, leaves no folder at all and no worker after 5 s;
- Ctrl-C during ``main`` is one line, exit 130, and the notebook's kernel stops too;
- Ctrl-C while Python is still importing prints no traceback;
- a resumed sweep over damaged point files (truncated, garbage, empty, a symlink, another
  point's file, rows changed after writing, a folder) re-runs exactly those points, says
  which and why, and ends equal to an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amxmodel.cli import main
from amxmodel.runs.grid import load_grid
from amxmodel.runs.sweep import read_points, run_sweep

GRID = """\
mode: mean-field
set: {fleet.hosts: 2, run.steps: 2}
grid:
  hardware.rdmsr_xfd_cycles: [20, 50, 100, 400]
  workload: [idle, web, hpc]
"""
# Sampled points that take a little while each, so that a pool of 2 has work to lose.
SLOW_GRID = """\
set: {fleet.hosts: 16, run.steps: 400}
grid:
  hardware.rdmsr_xfd_cycles: [20, 50, 100, 150]
  workload: [idle, web, database, hpc]
"""
KILL_AFTER = (0, 1, 4, 9)  # points visible when the sweep is killed
DEADLINE_S = 120


def _as_on_a_terminal() -> None:
    """In the child: SIGINT as a terminal gives it. A test runner started in the background
    of a non-interactive shell (as CI may be) ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def amxmodel(*args: str, group: bool = True, **kw) -> subprocess.Popen:
    """Start the CLI in a new process group (so a test can kill the group or just the parent)."""
    return subprocess.Popen([sys.executable, "-m", "amxmodel", *args], start_new_session=group,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_on_a_terminal, **kw)  # noqa: PLW1509 (one sigaction)


def wait_for(condition, proc: subprocess.Popen | None = None, what: str = "") -> None:
    """Poll ``condition`` until it holds (or ``proc`` ended); fail after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def point_files(out: Path) -> list[Path]:
    return sorted((out / "points").glob("*.parquet")) if (out / "points").is_dir() else []


def children(pid: int) -> set[int]:
    """The pids whose parent is ``pid``."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


def alive(pids: set[int]) -> set[int]:
    """The pids of ``pids`` that still run (zombies count as gone)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def assert_gone_within_5_s(pids: set[int]) -> None:
    """Poll until none of ``pids`` runs; fail if one still does 5 s after the parent ended."""
    deadline = time.monotonic() + 5
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pids), f"still alive 5 s after the parent ended: {alive(pids)}"


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if ".tmp-" in p.name] if out.exists() else []


def sorted_points(out: Path) -> pd.DataFrame:
    """Every point's rows, in a fixed order."""
    return read_points(out).sort_values(["point_id", "policy", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid file and an uninterrupted sweep of it."""
    tmp = tmp_path_factory.mktemp("ref")
    grid = tmp / "grid.yaml"
    grid.write_text(GRID)
    run_sweep(grid, tmp / "ref", progress=False, jobs=1)
    return grid, sorted_points(tmp / "ref")


@pytest.mark.parametrize("k", KILL_AFTER)
def test_sigkill_after_k_points_then_resume(tmp_path, reference, k):
    grid, ref = reference
    ids = {p.point_id for p in load_grid(grid).points}
    out = tmp_path / "out"
    proc = amxmodel("sweep", str(grid), "--out", str(out), "--jobs", "1")
    wait_for(lambda: (out / "sweep.yaml").exists() and len(point_files(out)) >= k, proc,
             f"{k} points")
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    done = point_files(out)
    for f in done:  # every file a reader can see is whole
        pd.read_parquet(f)
    res = run_sweep(grid, out, progress=False, jobs=1)
    assert res.exit_status == 0 and not res.rerun
    assert len(res.skipped) == len(done) and len(res.skipped) + len(res.ran) == len(ids)
    assert {p.stem for p in point_files(out)} == ids
    pd.testing.assert_frame_equal(sorted_points(out), ref)
    assert not temp_files(out) and not list(out.glob("failed/*"))


def test_killing_only_the_parent_leaves_no_worker(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(SLOW_GRID)
    out = tmp_path / "out"
    proc = amxmodel("sweep", str(grid), "--out", str(out), "--jobs", "2")
    workers: set[int] = set()

    def running() -> bool:
        workers.update(children(proc.pid))
        return len(point_files(out)) >= 2 and len(workers) >= 2

    wait_for(running, proc, "2 points and the workers")
    assert proc.poll() is None, "the sweep ended before it could be killed"
    workers.update(children(proc.pid))
    proc.send_signal(signal.SIGKILL)  # the parent only, not its group
    status = proc.wait(timeout=DEADLINE_S)
    assert_gone_within_5_s(workers)
    written = len(point_files(out))
    assert status == -signal.SIGKILL
    assert len(point_files(out)) == written  # nobody writes after the end


def test_sigterm_to_the_group_of_a_sweep_is_one_line(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(SLOW_GRID)
    out = tmp_path / "out"
    proc = amxmodel("sweep", str(grid), "--out", str(out), "--jobs", "2")
    wait_for(lambda: len(point_files(out)) >= 2, proc, "2 points")
    assert proc.poll() is None, "the sweep ended before it could be stopped"
    os.killpg(proc.pid, signal.SIGTERM)  # parent, workers and multiprocessing's tracker
    status = proc.wait(timeout=DEADLINE_S)
    err = proc.stderr.read()  # no "leaked semaphore" warning from the tracker
    assert status == 143 and err == "amxmodel: terminated\n", (status, err)
    assert not temp_files(out)


def test_sigterm_during_run_jobs_2_leaves_no_folder_and_no_worker(tmp_path):
    out = tmp_path / "res"
    proc = amxmodel("run", "--set", "fleet.hosts=4000", "--set", "run.steps=2000",
                    "--jobs", "2", "--out", str(out))
    workers: set[int] = set()

    def started() -> bool:
        workers.update(c for c in children(proc.pid)
                       if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace"))
        return len(workers) >= 2

    wait_for(started, proc, "2 workers")
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    status = proc.wait(timeout=DEADLINE_S)
    err = proc.stderr.read()
    assert status == 143 and err == "amxmodel: terminated\n", (status, err)
    assert_gone_within_5_s(workers)
    assert list(tmp_path.iterdir()) == []  # no --out folder, no temporary folder beside it


def test_sigint_while_importing_prints_no_traceback(tmp_path):
    for _ in range(3):
        proc = amxmodel("params")
        proc.send_signal(signal.SIGINT)  # Python is still starting or importing pandas
        status = proc.wait(timeout=DEADLINE_S)
        err = proc.stderr.read()
        assert "Traceback" not in err, err
        assert status in (130, -signal.SIGINT), (status, err)
        assert err in ("", "amxmodel: interrupted\n"), err


def test_stale_temporary_folder_of_a_killed_run_is_cleared(tmp_path, capsys):
    out = tmp_path / "res"
    args = ["run", "--mode", "mean-field", "--set", "fleet.hosts=4", "--set", "run.steps=5",
            "--out", str(out)]
    assert main(args) == 0
    (out / ".stage.tmp-killed").mkdir()  # what a SIGKILL between staging and rename leaves
    (out / ".stage.tmp-killed" / "summary.parquet").write_bytes(b"half")
    assert main(args) == 0
    assert not temp_files(out)


def damage(points: Path, ids: list[str]) -> dict[str, str]:
    """Damage six point files in six ways; return the reason each re-run should give."""
    files = [points / f"{pid}.parquet" for pid in ids]
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])
    files[1].write_bytes(b"garbage\n" * 10)
    files[2].write_bytes(b"")
    other = files[3].read_bytes()
    files[3].unlink()
    (points.parent / "elsewhere.parquet").write_bytes(other)
    files[3].symlink_to(points.parent / "elsewhere.parquet")
    shutil.copyfile(files[5], files[4])  # another point's whole result
    table = pq.read_table(files[5])
    df = table.to_pandas()
    df["value"] = df["value"] * 2
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False)
                   .replace_schema_metadata(table.schema.metadata), files[5])
    return {ids[0]: "does not read back", ids[1]: "does not read back", ids[2]: "is empty",
            ids[3]: "symbolic link", ids[4]: f"is the result of point {ids[5]}",
            ids[5]: "fails its checksum"}


def test_resume_over_damaged_points_reruns_exactly_those(tmp_path, reference, capsys):
    grid, ref = reference
    out = tmp_path / "out"
    run_sweep(grid, out, progress=False, jobs=1)
    ids = sorted(p.stem for p in point_files(out))
    why = damage(out / "points", ids[:6])
    assert main(["sweep", str(grid), "--out", str(out), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    err = captured.err
    for pid, reason in why.items():
        line = next(x for x in err.splitlines() if f"point {pid} ran again" in x)
        assert reason in line, (pid, line)
    assert err.count("ran again") == 6 and "6 ran, 6 already done" in captured.out
    res = run_sweep(grid, out, progress=False, jobs=1)
    assert len(res.skipped) == 12 and not res.rerun
    pd.testing.assert_frame_equal(sorted_points(out), ref)
    assert (tmp_path / "out" / "elsewhere.parquet").read_bytes()  # the link's target is kept


def test_resume_refuses_a_folder_named_like_a_point(tmp_path, reference, capsys):
    grid, _ = reference
    out = tmp_path / "out"
    run_sweep(grid, out, progress=False, jobs=1)
    victim = point_files(out)[0]
    victim.unlink()
    victim.mkdir()
    (victim / "mine.txt").write_text("keep me")
    assert main(["sweep", str(grid), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"points/{victim.name} is a folder" in err and err.count("\n") == 1
    assert (victim / "mine.txt").read_text() == "keep me"


def test_ctrl_c_during_main_is_one_line_and_stops_the_kernel(tmp_path):
    proc = amxmodel("main", "--out", str(tmp_path / "reports"))
    kernels: set[int] = set()

    def kernel_started() -> bool:
        kernels.update(c for c in children(proc.pid)
                       if b"ipykernel" in Path(f"/proc/{c}/cmdline").read_bytes())
        return bool(kernels)

    wait_for(kernel_started, proc, "the notebook's kernel")
    assert proc.poll() is None, "main ended before the kernel could be seen"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on the terminal does
    status = proc.wait(timeout=DEADLINE_S)
    err = proc.stderr.read()
    assert status == 130 and err == "amxmodel: interrupted\n", (status, err)
    assert_gone_within_5_s(kernels)
    assert not temp_files(tmp_path)
