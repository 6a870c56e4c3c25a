"""Where the units of work run: in this process, in local processes, or on a dask cluster.

A unit of work is a host chunk of one scenario (:func:`amxmodel.runs.run.simulate`) or a grid
point of a sweep (:func:`amxmodel.runs.sweep.run_sweep`). Each is a pure function of its
argument, which carries its own seed (a chunk index, a point's spawned seed), so the
merged result is bit-identical whoever runs it. Every executor has one method,
``map_ordered(fn, items)``: results come back in the order of ``items``, with a progress
bar over items on a terminal.

- :class:`InProcess`: a plain loop.
- :class:`ProcessPool`: ``jobs`` spawned local processes (safe inside Jupyter), at most
  one per core unless ``$AMXMODEL_OVERSUBSCRIBE=1``. A worker that dies
  (``BrokenProcessPool``) loses only the items that had not finished: they run again in a
  fresh pool, up to ``retries`` times. Workers die with their parent: Linux delivers them
  SIGTERM when it exits (``prctl(PR_SET_PDEATHSIG)``) and a watchdog thread checks the
  parent elsewhere; they ignore Ctrl-C (the parent stops them), and a SIGTERM unwinds the
  item they run (its temporary files go) before the worker exits. An interrupted parent
  terminates its workers before it returns.
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
import ctypes
import ctypes.util
import multiprocessing as mp
import os
import signal
import sys
import threading
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


PR_SET_PDEATHSIG = 1
WATCH_S = 0.5


class WorkerTerminated(BaseException):
    """Raised inside a worker's item by SIGTERM (the parent died or stopped it)."""


def _on_sigterm(signum, frame):  # signal handler signature
    raise WorkerTerminated


def _worker_init(parent: int) -> None:
    """Make a pool worker die with ``parent`` (see :class:`ProcessPool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_S)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5 * WATCH_S)  # the item had its chance to unwind
        os._exit(143)

    threading.Thread(target=watch, name="amxmodel-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(143)


def _guarded(fn: Callable[[Any], Any], item: Any) -> Any:
    """``fn(item)`` in a worker; a SIGTERM ends the worker once the item has unwound."""
    try:
        return fn(item)
    except WorkerTerminated:
        os._exit(143)


def pool_size(jobs: int, items: int) -> int:
    """Workers for ``items`` with ``jobs`` asked: no more than the cores (unless
    ``$AMXMODEL_OVERSUBSCRIBE=1``), saying so when that caps a request."""
    cores = default_jobs()
    n = min(jobs, items)
    if n > cores and os.environ.get("AMXMODEL_OVERSUBSCRIBE") != "1":
        print(f"amxmodel: --jobs {jobs}: using {cores} processes, one per core (set "
              "AMXMODEL_OVERSUBSCRIBE=1 to start more)", file=sys.stderr)
        n = cores
    return max(n, 1)


def _quiet_resource_tracker() -> None:
    """No "leaked semaphore" warning from multiprocessing's tracker after an interruption:
    it cleans them up as it should, and the user already got the one interruption line.
    (The tracker starts with this interpreter's ``-W`` options.)"""
    rule = "ignore:resource_tracker:UserWarning"
    if rule not in sys.warnoptions:
        sys.warnoptions.append(rule)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's workers (SIGTERM: each unwinds its item) and reap them."""
    # The queue that feeds the workers may hold items no dead worker will read; on some
    # CPython releases (3.11.2, Debian 12's) shutting the pool down then joins its feeder
    # thread forever. Not joining it is safe: it is a daemon thread of this process.
    with contextlib.suppress(Exception):
        pool._call_queue.cancel_join_thread()
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    pool.shutdown(wait=True, cancel_futures=True)


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
        _quiet_resource_tracker()
        pool = ProcessPoolExecutor(max_workers=pool_size(self.jobs, len(todo)),
                                   mp_context=mp.get_context("spawn"),
                                   initializer=_worker_init, initargs=(os.getpid(),))
        try:  # submitting starts the workers: a signal from here on must stop them
            futures = {pool.submit(_guarded, fn, items[i]): i for i in todo}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    if f.exception() is None:
                        done[futures[f]] = f.result()
                        bar.update()
                for f in finished:
                    f.result()  # a worker's error (or a broken pool) stops the map here
        except BaseException:
            _stop(pool)  # interrupted or failed: no worker outlives this call
            raise
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
