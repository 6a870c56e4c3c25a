"""Where the shipped files live: the catalogue (``data/``) and the notebooks.

In a checkout they are the top-level ``data/`` and ``notebooks/`` folders; an installed
wheel carries the same files as the packages ``amxmodel.data`` and ``amxmodel.notebooks``
(``pyproject.toml`` maps the folders onto those names, so an editable install resolves to
the checkout itself). Both are found through :mod:`importlib.resources`, so the package
works from any working directory. ``$AMXMODEL_DATA`` replaces the catalogue folder.
"""

from __future__ import annotations

import functools
import os
import subprocess
from importlib.resources import files
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


@functools.cache
def _shipped(package: str) -> Path:
    """The folder of a shipped resource package as a real path."""
    return Path(str(files(package))).resolve()


def data_dir() -> Path:
    """The catalogue folder: ``$AMXMODEL_DATA`` if set, else the shipped ``data``."""
    env = os.environ.get("AMXMODEL_DATA")
    return Path(env) if env else _shipped("amxmodel.data")


def notebooks_dir() -> Path:
    """The shipped research notebooks."""
    return _shipped("amxmodel.notebooks")


def checkout_dir() -> Path | None:
    """The source checkout the package runs from, or None for an installed wheel."""
    top = PACKAGE_DIR.parent
    if (top / "pyproject.toml").is_file() and (top / "data").is_dir():
        return top
    return None


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout the package runs from, if any (for run records)."""
    top = checkout_dir()
    if top is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(top), "rev-parse", "HEAD"], check=False,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
