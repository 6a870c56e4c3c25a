"""Reading YAML input safely: the safe loader only, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from amxmodel.common.errors import InputError


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Load one YAML document with the safe loader; bad files raise InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a YAML {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text with the safe loader; ``where`` names the source in errors."""
    try:
        return yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark else ""
        raise InputError(
            f"{where}:{line}: YAML tag not allowed ({exc.problem}); only plain YAML data is read"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}:{line}: malformed YAML: {problem}") from None


def parse_scalar(text: str) -> Any:
    """Parse the value of a ``key=value`` override as YAML (``3``, ``0.5``, ``[a, b]``, ``web``)."""
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text
