"""Where chunks run: in this process or in a pool of local processes, results in order.

The unit of work is a pure function of its arguments (a chunk index carries its own
seed), so the merged result is the same whatever runs it. ``jobs=1`` runs in-process;
``jobs=N`` uses N local processes (spawned, so it is safe inside Jupyter); results are
always returned in submission order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tqdm.auto import tqdm


def default_jobs() -> int:
    """All cores of this machine."""
    return os.cpu_count() or 1


def map_ordered(fn: Callable[[Any], Any], items: Iterable[Any], jobs: int = 1,
                desc: str = "", progress: bool | None = None) -> list[Any]:
    """``[fn(x) for x in items]``, possibly in parallel, with a progress bar on a terminal."""
    items = list(items)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(items), desc=desc, disable=not show, leave=False)
    try:
        if jobs <= 1 or len(items) <= 1:
            out = []
            for x in items:
                out.append(fn(x))
                bar.update()
            return out
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=ctx) as pool:
            futures = [pool.submit(fn, x) for x in items]
            out = []
            for f in futures:
                out.append(f.result())
                bar.update()
            return out
    finally:
        bar.close()
