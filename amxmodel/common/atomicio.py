"""Files that appear whole or not at all: a temporary name in the same folder, then a rename.

A sweep can be killed at any moment (Ctrl-C, SIGKILL, a full disk). Every file it writes
goes through :func:`atomic_path`, so a reader (``pd.read_parquet(DIR/points)``, a resumed
sweep) never sees half a file. Temporary names start with ``.`` and contain ``.tmp-``:
pyarrow skips them when it reads a folder, and :func:`remove_stale_temps` clears those
left behind by a killed process.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

TMP_MARK = ".tmp-"
_UMASK = os.umask(0o022)  # read the process umask once (setting it back at once)
os.umask(_UMASK)


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``final``; rename it to ``final`` on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}{TMP_MARK}")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a report is for others to read too
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(final: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def write_parquet(final: str | Path, df: pd.DataFrame) -> Path:
    """Write a frame as parquet (no index) atomically."""
    with atomic_path(final) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(final)


def remove_stale_temps(folder: str | Path) -> int:
    """Delete temporary files left in ``folder`` by a killed writer; return how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.iterdir() if p.name.startswith(".") and TMP_MARK in p.name]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)
