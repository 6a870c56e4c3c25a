"""A notebook's parameters in, its summary out (for ``amxmodel sweep``).

A research notebook's first code cell holds its papermill parameters; the next one checks
them through the package, so a bad value stops the run at once with the package's message::

    import amxmodel as amx
    sc = amx.check_parameters(scenario, sets, mode, seed, fixed=[f"fleet.hosts={hosts}"])

A notebook run by ``amxmodel sweep`` receives a ``results_path`` parameter (empty when a
person runs it by hand). Its last cell hands the run's summary back to the sweep::

    amx.save_summary(res, results_path)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from amxmodel.common.atomicio import write_parquet
from amxmodel.common.errors import InputError


def save_summary(res: Any, results_path: str | Path | None) -> Path | None:
    """Write ``res.summary`` (or a summary frame) to ``results_path`` atomically.

    Does nothing and returns ``None`` when ``results_path`` is empty.
    """
    if not results_path:
        return None
    summary = res if isinstance(res, pd.DataFrame) else res.summary
    return write_parquet(results_path, summary)


def check_parameters(scenario: Any, sets: Any, mode: str = "sample", seed: Any = None,
                     fixed: Sequence[str] = ()):
    """The notebook's scenario: ``fixed`` overrides, then the seed, then ``sets`` (which win).

    Raises InputError at once for a bad mode, seed or override, naming the allowed values.
    """
    from amxmodel.inputs.modes import check_mode
    from amxmodel.inputs.scenario import load_scenario

    if isinstance(sets, str) or not isinstance(sets, (list, tuple)) \
            or not all(isinstance(s, str) for s in sets):
        raise InputError(f"sets: expected a list of 'key=value' strings, got {sets!r}; with "
                         "papermill: -y 'sets: [hardware.rdmsr_xfd_cycles=100]'")
    check_mode(mode)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise InputError(f"seed: expected a whole number >= 0, got {seed!r}")
    seeded = [] if seed is None else [f"run.seed={seed}"]
    return load_scenario(scenario, [*fixed, *seeded, *sets])
