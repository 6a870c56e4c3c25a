"""Scenario parts read from files: a hardware profile, a fleet, workload classes.

A part is named (``data/<kind>/<name>.yaml``) or given as a path; it is read as raw data
here and validated later, in one place (:func:`amxmodel.inputs.scenario.build_scenario`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from amxmodel.common.datafiles import data_dir
from amxmodel.common.errors import InputError, unknown
from amxmodel.common.yamlio import load_yaml


def named_file(kind: str, ref: str) -> Path:
    """``ref`` as an existing path, or ``data/<kind>/<ref>.yaml``."""
    p = Path(str(ref))
    if p.suffix in (".yaml", ".yml") or "/" in str(ref):
        if not p.exists():
            raise InputError(f"{kind}: no such file '{ref}'")
        return p
    folder = data_dir() / kind
    p = folder / f"{ref}.yaml"
    if not p.exists():
        names = sorted(f.stem for f in folder.glob("*.yaml"))
        raise unknown(kind.rstrip("s"), str(ref), names, kind)
    return p


def load_part(kind: str, ref: Any) -> dict[str, Any]:
    if isinstance(ref, dict):
        return copy.deepcopy(ref)
    path = named_file(kind, ref)
    raw = load_yaml(path, kind.rstrip("s") + " file")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    raw["_file"] = str(path)
    return raw


def load_workloads(raw: dict[str, Any]) -> None:
    mix = raw["fleet"].get("mix") or {}
    wl = raw.setdefault("workloads", {})
    for name in list(mix):
        if name not in wl:
            part = load_part("workloads", name)
            key = part.get("name", name) if "/" in str(name) or str(name).endswith(".yaml") else name
            wl[key] = part
            if key != name:
                mix[key] = mix.pop(name)
