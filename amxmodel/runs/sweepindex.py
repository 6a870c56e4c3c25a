"""A sweep folder readable by parameter values: ``DIR/index.csv``.

Point files are named by a short hash of what makes the point (stable across re-runs),
which says nothing to a reader. ``index.csv`` maps each one to its swept values::

    point_id,seed,hardware.rdmsr_xfd_cycles,workload,file
    3f2a9c1e0b,20211116,50,web,points/3f2a9c1e0b.parquet

so ``pd.read_csv("DIR/index.csv")`` finds the file of any combination, and a spreadsheet
shows the grid.
"""

from __future__ import annotations

import csv
import io

INDEX_FILE = "index.csv"


def index_csv(grid) -> str:
    """The index of a :class:`amxmodel.runs.grid.Grid`'s points as CSV text."""
    keys = list(dict.fromkeys(k for p in grid.points for k in p.overrides))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point_id", "seed", *keys, "file"])
    for p in grid.points:
        w.writerow([p.point_id, p.seed, *(p.overrides.get(k, "") for k in keys),
                    f"points/{p.point_id}.parquet"])
    return buf.getvalue()
