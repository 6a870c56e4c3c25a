"""Where the units of work run: in this process, in local processes, or on a dask cluster.

A unit of work is a host chunk of one scenario (:func:`amxmodel.runs.run.simulate`) or a grid
point of a sweep (:func:`amxmodel.runs.sweep.run_sweep`). Each is a pure function of its
argument, which carries its own seed (a chunk index, a point's spawned seed), so the
merged result is bit-identical whoever runs it. Every executor has one method,
``map_ordered(fn, items)``: results come back in the order of ``items``, with a progress
bar over items on a terminal.

- :class:`InProcess`: a plain loop.
- :class:`ProcessPool`: ``jobs`` spawned local processes (safe inside Jupyter). A worker
  that dies (``BrokenProcessPool``) loses only the items that had not finished: they run
  again in a fresh pool, up to ``retries`` times.
- :class:`Auto`: the first item in this process, timed; the rest in a pool only when that
  time says the pool wins back its start-up (``POOL_START_S``). Small runs stay in-process
  whatever the engine's speed or the machine's.
- :class:`amxmodel.runs.daskexec.Dask`: a ``dask.distributed`` cluster (optional dependency).

:func:`amxmodel.runs.execution.make_executor` chooses one from the command-line flags
(``--jobs``, ``--scheduler``, ``--dask-local``). Executors are context managers (a ``Dask`` executor connects on entry and
closes what it opened on exit).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tqdm.auto import tqdm

if TYPE_CHECKING:
    from typing_extensions import Self

RETRIES = 2
# Starting a spawned pool of 2 on this 2-core machine and importing amxmodel.runs.run in it:
# 1.5 s idle, 2.3 s under load (measured with 4 tiny chunks that take 0.01 s in-process).
POOL_START_S = 2.0
CLUSTER_EXTRA = "pip install 'amxmodel[cluster]'"


def default_jobs() -> int:
    """All cores of this machine."""
    return os.cpu_count() or 1


class Executor(Protocol):
    """Runs ``fn`` over items and returns the results in item order."""

    def map_ordered(self, fn: Callable[[Any], Any], items: Iterable[Any], desc: str = "",
                    progress: bool | None = None) -> list[Any]: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


@contextlib.contextmanager
def progress_bar(total: int, desc: str, progress: bool | None) -> Iterator[tqdm]:
    """A tqdm bar over ``total`` items; shown on a terminal unless ``progress`` says otherwise."""
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=total, desc=desc, disable=not show, leave=False)
    try:
        yield bar
    finally:
        bar.close()


class BaseExecutor:
    """``map_ordered`` with a progress bar around the executor's own ``_map``."""

    def map_ordered(self, fn: Callable[[Any], Any], items: Iterable[Any], desc: str = "",
                    progress: bool | None = None) -> list[Any]:
        """``[fn(x) for x in items]``, run where this executor runs things."""
        items = list(items)
        with progress_bar(len(items), desc, progress) as bar:
            return self._map(fn, items, desc, bar)

    def _map(self, fn: Callable[[Any], Any], items: list[Any], desc: str, bar: tqdm) -> list[Any]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@dataclass
class InProcess(BaseExecutor):
    """Every item in this process, one after the other."""

    def _map(self, fn: Callable[[Any], Any], items: list[Any], desc: str, bar: tqdm) -> list[Any]:
        out = []
        for x in items:
            out.append(fn(x))
            bar.update()
        return out


@dataclass
class ProcessPool(BaseExecutor):
    """``jobs`` spawned local processes; items lost with a dead worker run again."""

    jobs: int
    retries: int = RETRIES

    def _map(self, fn: Callable[[Any], Any], items: list[Any], desc: str, bar: tqdm) -> list[Any]:
        if self.jobs <= 1 or len(items) <= 1:
            return InProcess()._map(fn, items, desc, bar)
        done: dict[int, Any] = {}
        for attempt in range(self.retries + 1):
            todo = [i for i in range(len(items)) if i not in done]
            try:
                self._run(fn, items, todo, done, bar)
                break
            except BrokenProcessPool:
                if attempt == self.retries:
                    raise
                print(f"amxmodel: a worker process died; running its {len(items) - len(done)} "
                      f"unfinished {desc or 'items'} again in a fresh pool", file=sys.stderr)
        return [done[i] for i in range(len(items))]

    def _run(self, fn: Callable[[Any], Any], items: list[Any], todo: list[int],
             done: dict[int, Any], bar: tqdm) -> None:
        """Run ``todo`` in one pool, keeping every finished result in ``done``."""
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(todo)),
                                   mp_context=mp.get_context("spawn"))
        futures = {pool.submit(fn, items[i]): i for i in todo}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    if f.exception() is None:
                        done[futures[f]] = f.result()
                        bar.update()
                for f in finished:
                    f.result()  # a worker's error (or a broken pool) stops the map here
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Auto(BaseExecutor):
    """Up to ``jobs`` local processes, only when the first item (run here, timed) shows that
    the rest take longer in this process than in a pool that first needs ``pool_start_s``."""

    jobs: int
    pool_start_s: float = POOL_START_S

    def _map(self, fn: Callable[[Any], Any], items: list[Any], desc: str, bar: tqdm) -> list[Any]:
        t0 = time.perf_counter()
        head = InProcess()._map(fn, items[:1], desc, bar)
        rest = items[1:]
        serial_s = (time.perf_counter() - t0) * len(rest)
        workers = min(self.jobs, len(rest))
        pooled = workers > 1 and self.pool_start_s + serial_s / workers < serial_s
        return head + (ProcessPool(workers) if pooled else InProcess())._map(fn, rest, desc, bar)
