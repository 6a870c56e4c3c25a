"""Distributed runs: the same bytes in-process, in a process pool and on a dask cluster,
also when a worker dies mid-run; executor flags and the optional dask dependency."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from amxmodel.cli import main
from amxmodel.common.errors import InputError
from amxmodel.runs import executors as executor
from amxmodel.runs.daskexec import Dask
from amxmodel.runs.execution import make_executor
from amxmodel.runs.executors import Auto, InProcess, ProcessPool
from amxmodel.runs.run import run
from amxmodel.runs.sweep import run_sweep

SMALL = ["fleet.hosts=8", "run.steps=5", "run.chunk_hosts=2"]  # 4 chunks
GRID = {"set": {"fleet.hosts": 8, "run.steps": 5, "run.chunk_hosts": 2},
        "grid": {"hardware.rdmsr_xfd_cycles": [20, 200]}, "seeds": 2}  # 4 points
FRAMES = ("summary", "hosts", "by_class")


def run_bytes(**where) -> dict[str, bytes]:
    """The parquet bytes of a small run's frames, run wherever ``where`` says."""
    res = run(None, SMALL, progress=False, **where)
    return {name: getattr(res, name).to_parquet(index=False) for name in FRAMES}


def sweep_bytes(out: Path, **where) -> dict[str, bytes]:
    """Run the small grid into ``out``; the bytes of every point's parquet file, by name."""
    res = run_sweep(GRID, out, progress=False, **where)
    assert res.exit_status == 0 and len(res.ran) == 4
    return {p.name: p.read_bytes() for p in sorted((out / "points").glob("*.parquet"))}


@pytest.fixture(scope="module")
def in_process() -> dict[str, bytes]:
    return run_bytes(jobs=1)


@pytest.fixture(scope="module")
def swept_in_process(tmp_path_factory) -> dict[str, bytes]:
    return sweep_bytes(tmp_path_factory.mktemp("sweep") / "out", jobs=1)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes (each under a nanny that restarts it)."""
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as c:
        yield c


@dataclass(frozen=True)
class DieOnce:
    """A task function whose first call, on whichever worker, kills that worker's process."""

    fn: Any
    marker: Path

    def __call__(self, item: Any) -> Any:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return self.fn(item)
        os.close(fd)
        os._exit(13)


@dataclass
class Faulty:
    """An executor that runs its tasks through :class:`DieOnce`."""

    inner: Any
    marker: Path

    def map_ordered(self, fn, items, desc="", progress=None):
        return self.inner.map_ordered(DieOnce(fn, self.marker), items, desc, progress)

    def __enter__(self):
        self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        self.inner.__exit__(*exc)


# --- the same bytes wherever the chunks or points run ------------------------------------

def test_process_pool_run_is_bit_identical(in_process):
    assert run_bytes(jobs=2) == in_process


def test_process_pool_sweep_is_bit_identical(tmp_path, swept_in_process):
    assert sweep_bytes(tmp_path / "out", jobs=2) == swept_in_process


@pytest.mark.slow
def test_local_cluster_run_and_sweep_are_bit_identical(cluster, tmp_path, in_process,
                                                       swept_in_process):
    addr = cluster.scheduler_address
    assert run_bytes(scheduler=addr) == in_process
    assert sweep_bytes(tmp_path / "out", scheduler=addr) == swept_in_process


@pytest.mark.slow
def test_cli_dask_local_prints_dashboard_and_same_table(capsys):
    args = ["run", *[a for s in SMALL for a in ("--set", s)], "--format", "csv"]
    assert main(args + ["--jobs", "1"]) == 0
    local = capsys.readouterr().out
    assert main(args + ["--dask-local", "2"]) == 0
    got = capsys.readouterr()
    assert "dashboard http" in got.err
    strip = lambda text: text.splitlines()[1:]  # the header line holds the elapsed time
    assert strip(got.out) == strip(local)


# --- a worker that dies mid-run: its work runs again, the result is the same --------------

@pytest.mark.slow
def test_process_pool_worker_killed_midrun(tmp_path, in_process, swept_in_process, capsys):
    assert run_bytes(executor=Faulty(ProcessPool(2), tmp_path / "run.died")) == in_process
    assert (tmp_path / "run.died").exists()
    assert "worker process died" in capsys.readouterr().err
    faulty = Faulty(ProcessPool(2), tmp_path / "sweep.died")
    assert sweep_bytes(tmp_path / "out", executor=faulty) == swept_in_process
    assert (tmp_path / "sweep.died").exists()


@pytest.mark.slow
def test_dask_worker_killed_midrun(cluster, tmp_path, in_process, swept_in_process):
    with Dask(scheduler=cluster.scheduler_address) as dask:
        assert run_bytes(executor=Faulty(dask, tmp_path / "run.died")) == in_process
        faulty = Faulty(dask, tmp_path / "sweep.died")
        assert sweep_bytes(tmp_path / "out", executor=faulty) == swept_in_process
    assert (tmp_path / "run.died").exists() and (tmp_path / "sweep.died").exists()


def test_a_task_error_is_raised_not_retried_forever():
    with pytest.raises(ZeroDivisionError):
        ProcessPool(2).map_ordered(_inverse, [1, 0, 2])


def _inverse(x: int) -> float:
    return 1 / x


# --- choosing the executor ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs, needle", [
    ({"jobs": 0}, "--jobs 0: allowed: 1 or more"),
    ({"dask_local": 0}, "--dask-local 0: allowed: 1 or more"),
    ({"scheduler": " "}, "--scheduler ' ': allowed: a dask scheduler address"),
    ({"scheduler": "tcp://h:8786", "dask_local": 2}, "give one"),
    ({"jobs": 4, "dask_local": 2}, "--jobs 4: not with --scheduler or --dask-local"),
])
def test_bad_executor_arguments_raise_input_error(kwargs, needle):
    with pytest.raises(InputError) as err:
        make_executor(**kwargs)
    assert needle in str(err.value)


def test_flags_choose_the_executor(monkeypatch):
    monkeypatch.setattr(executor, "default_jobs", lambda: 6)
    assert make_executor(1) == InProcess() and make_executor(3) == ProcessPool(3)
    assert make_executor(None) == Auto(6)
    pytest.importorskip("distributed")
    assert make_executor(dask_local=2) == Dask(local_workers=2)
    assert make_executor(scheduler="tcp://h:8786") == Dask(scheduler="tcp://h:8786")


def _pid_after(delay_s: float) -> int:
    time.sleep(delay_s)
    return os.getpid()


def test_auto_pools_only_work_that_pays_for_starting_the_pool():
    items = [0.05] * 4  # the first one, timed here, says the other three take 0.15 s
    assert set(Auto(2, pool_start_s=60).map_ordered(_pid_after, items)) == {os.getpid()}
    pooled = Auto(2, pool_start_s=0.01).map_ordered(_pid_after, items)
    assert pooled[0] == os.getpid() and os.getpid() not in pooled[1:]
    assert Auto(2, pool_start_s=0).map_ordered(_pid_after, [0]) == [os.getpid()]


def test_cli_bad_values_exit_2_with_one_line(capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["run", "--dask-local", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--dask-local 0" in err and err.count("\n") == 1 and not out.exists()
    assert main(["sweep", "g.yaml", "--out", str(out), "--jobs", "2", "--scheduler",
                 "tcp://h:1"]) == 2
    err = capsys.readouterr().err
    assert "not allowed with" in err and err.count("\n") == 1


def test_without_dask_runs_work_and_asking_for_dask_says_how_to_install():
    block = "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
    sets = " ".join(f"--set {s}" for s in SMALL)
    code = block + ("from amxmodel.cli import main; "
                    f"a = {sets.split()!r}; "
                    "assert main(['run', *a]) == 0; "
                    "sys.exit(main(['run', *a, '--dask-local', '2']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'amxmodel[cluster]'" in proc.stderr
