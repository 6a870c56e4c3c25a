"""Where results may go: anywhere but the package source and the shipped data.

A results folder is the user's choice (``--out``, ``--to``, a notebook's ``out_dir``), and
``..`` in a path the user typed is theirs to use. But ``amxmodel/`` and ``data/`` are
read as code and as inputs: a run written there would be imported, packaged or listed as
a hardware profile, and a replaced folder there loses source files. Those two trees are
refused wherever the path resolves. Names the package builds from parameters (chart file
names, prefixes) must be one plain path component, so they never leave the folder chosen.
"""

from __future__ import annotations

from pathlib import Path

from amxmodel.common.datafiles import PACKAGE_DIR, data_dir
from amxmodel.common.errors import InputError


def protected_dirs() -> dict[str, Path]:
    """The folders no result is written into, by what they hold."""
    return {"the package source": PACKAGE_DIR, "the shipped data": data_dir().resolve()}


def check_out_dir(path: str | Path, flag: str) -> Path:
    """``path`` resolved, or InputError if it lies in the package source or data folder."""
    resolved = Path(path).expanduser().resolve()
    for what, root in protected_dirs().items():
        if resolved == root or root in resolved.parents:
            raise InputError(f"{flag} {path}: resolves to {resolved}, inside {what} ({root}); "
                             "allowed: a folder outside amxmodel/ and data/, e.g. results/")
    return resolved


def check_name(name: str, where: str) -> str:
    """``name`` if it is one plain file name (no ``/``, no ``..``, no leading dot)."""
    text = str(name)
    if not text or text.startswith(".") or Path(text).name != text or "\\" in text:
        raise InputError(f"{where} {text!r}: expected a plain name like 'breakeven' (no '/', "
                         "no '..', no leading '.')")
    return text
