"""Errors that reach the user as one clear line.

Anything the user typed or wrote (a YAML file, a ``--set`` override, a trace, a grid)
that the model cannot accept raises :class:`InputError`. The CLI prints its message
and exits with status 2, without a traceback; notebooks see the same message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """Bad input: the message names the file, field or event and the allowed values."""

    exit_status = 2


def closest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def unknown(kind: str, name: str, choices: Iterable[str], where: str = "") -> InputError:
    """An InputError for an unknown name, listing the allowed ones."""
    choices = sorted(choices)
    prefix = f"{where}: " if where else ""
    return InputError(
        f"{prefix}unknown {kind} '{name}'{closest(name, choices)}; allowed: {', '.join(choices)}"
    )
