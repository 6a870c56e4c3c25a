"""Choosing where work runs: the executor that ``--jobs``, ``--scheduler`` or ``--dask-local`` ask for.

The local executors live in :mod:`amxmodel.runs.executors`, the dask one in
:mod:`amxmodel.runs.daskexec` (imported only when a cluster is asked for).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from amxmodel.common.errors import InputError
from amxmodel.runs import executors
from amxmodel.runs.executors import Auto, Executor, InProcess, ProcessPool


def make_executor(jobs: int | None = None, scheduler: str | None = None,
                  dask_local: int | None = None) -> Executor:
    """The executor the flags ask for (not yet entered): ``scheduler`` -> dask there,
    ``dask_local`` -> a dask LocalCluster of that many processes, else ``jobs`` local
    processes (1: in this process; None: :class:`Auto` over all cores). Bad values raise
    InputError."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise InputError(f"--jobs {jobs}: allowed: 1 or more processes")
    if dask_local is not None and (isinstance(dask_local, bool) or not isinstance(dask_local, int)
                                   or dask_local < 1):
        raise InputError(f"--dask-local {dask_local}: allowed: 1 or more worker processes")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()
                                  or any(c.isspace() for c in scheduler)):
        raise InputError(f"--scheduler {scheduler!r}: allowed: a dask scheduler address "
                         "such as tcp://host:8786")
    if scheduler is not None or dask_local is not None:
        if scheduler is not None and dask_local is not None:
            raise InputError("--scheduler, --dask-local: give one (a cluster to use or a local "
                             "one to start)")
        if jobs not in (None, 1):
            raise InputError(f"--jobs {jobs}: not with --scheduler or --dask-local (the dask "
                             "workers run the tasks)")
        from amxmodel.runs.daskexec import Dask, require_distributed

        require_distributed()
        return Dask(scheduler=scheduler, local_workers=dask_local)
    if jobs is None:
        return Auto(executors.default_jobs()) if executors.default_jobs() > 1 else InProcess()
    return InProcess() if jobs == 1 else ProcessPool(jobs)


def using(executor: Executor | None = None, jobs: int | None = None, scheduler: str | None = None,
          dask_local: int | None = None) -> AbstractContextManager[Executor]:
    """``executor`` as it is (its owner closes it), else a new one from the flags."""
    if executor is not None:
        return contextlib.nullcontext(executor)
    return make_executor(jobs, scheduler, dask_local)


def map_ordered(fn: Callable[[Any], Any], items: Iterable[Any], jobs: int = 1,
                desc: str = "", progress: bool | None = None) -> list[Any]:
    """``[fn(x) for x in items]`` in this process (``jobs=1``) or ``jobs`` local processes."""
    return make_executor(max(jobs, 1)).map_ordered(fn, items, desc, progress)
