"""Helpers that notebooks call, so their cells stay short and sweeps can collect results.

A notebook run by ``amxmodel sweep`` receives a ``results_path`` parameter (empty when a
person runs it by hand). Its last cell hands the run's summary back to the sweep::

    from amxmodel.notebook import save_summary
    save_summary(res, results_path)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .atomicio import write_parquet


def save_summary(res: Any, results_path: str | Path | None) -> Path | None:
    """Write ``res.summary`` (or a summary frame) to ``results_path`` atomically.

    Does nothing and returns ``None`` when ``results_path`` is empty.
    """
    if not results_path:
        return None
    summary = res if isinstance(res, pd.DataFrame) else res.summary
    return write_parquet(results_path, summary)
