"""How a run computes the fleet: sampled hosts or expected values (mean field)."""

from __future__ import annotations

from amxmodel.common.errors import InputError, closest

MODES = ("sample", "mean-field")


def check_mode(mode: object, where: str = "mode") -> str:
    """``mode`` if it is one of :data:`MODES`; else one InputError naming ``where`` and the modes."""
    if not isinstance(mode, str) or mode not in MODES:
        raise InputError(f"{where}: unknown mode '{mode}'{closest(str(mode), MODES)}; "
                         f"allowed: {', '.join(MODES)}")
    return mode
