"""Loading one hardware cost profile on its own (for trace replay and the cost table).

A profile is validated where every scenario part is: :func:`amxmodel.inputs.scenario.load_scenario`
with a ``hardware=`` override. This module only picks the result out, so a profile read
here and one read as part of a scenario go through the same checks and messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amxmodel.inputs.scenario import Hardware, load_scenario


def load_hardware(name_or_path: str | Path = "spr", sets: dict[str, Any] | list[str] | None = None) -> Hardware:
    """A validated profile by name (``data/hardware/<name>.yaml``) or path.

    ``sets`` overrides single values: ``{"rdmsr_xfd_cycles": 120}`` or
    ``["rdmsr_xfd_cycles=120"]``.
    """
    if isinstance(sets, dict):
        overrides: Any = {"hardware": str(name_or_path), **{f"hardware.{k}": v for k, v in sets.items()}}
    else:
        overrides = [f"hardware={name_or_path}"] + [f"hardware.{item}" for item in sets or []]
    return load_scenario(None, overrides).hardware
