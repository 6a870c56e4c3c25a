"""Where the shipped data lives (``data/`` beside the package, or ``$AMXMODEL_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    """The data folder: ``$AMXMODEL_DATA`` if set, else ``data/`` of the checkout."""
    env = os.environ.get("AMXMODEL_DATA")
    return Path(env) if env else REPO_DIR / "data"
