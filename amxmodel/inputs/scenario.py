"""Scenarios: hardware profile + fleet (with its workload mix) + policies + run settings.

A scenario file names its parts (:mod:`amxmodel.inputs.parts`), each a YAML file under
``data/`` checked against the catalogue (:mod:`amxmodel.inputs.catalog`); overrides
(:mod:`amxmodel.inputs.overrides`) change single values or whole parts. Everything is
validated in :func:`build_scenario`, one place, with messages that name the file and
field and the allowed range.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amxmodel.common.errors import InputError, unknown
from amxmodel.common.yamlio import load_yaml
from amxmodel.inputs import catalog
from amxmodel.inputs.designs import resolve_policies
from amxmodel.inputs.hardware import Hardware
from amxmodel.inputs.overrides import apply_overrides
from amxmodel.inputs.parts import load_part, load_workloads, named_file
from amxmodel.inputs.workloads import WorkloadClass, check_share, check_workload


@dataclass(frozen=True)
class Scenario:
    """A fully resolved and validated scenario."""

    name: str
    hardware: Hardware
    fleet: dict[str, float | int]
    mix: dict[str, float]
    workloads: dict[str, WorkloadClass]
    policies: list[str]
    run: dict[str, float | int]
    sources: dict[str, str] = field(default_factory=dict)

    def with_overrides(self, sets: list[str] | dict[str, Any]) -> Scenario:
        """A new scenario with more overrides applied."""
        raw = copy.deepcopy(self.raw())
        apply_overrides(raw, sets, "override")
        return build_scenario(raw)

    def raw(self) -> dict[str, Any]:
        """The resolved scenario as plain data (reloadable with :func:`build_scenario`)."""
        return {
            "name": self.name,
            "hardware": {"name": self.hardware.name, "values": dict(self.hardware.values)},
            "fleet": {"name": self.sources.get("fleet", "inline"), "values": dict(self.fleet),
                      "mix": dict(self.mix)},
            "workloads": {n: w.as_dict() for n, w in self.workloads.items()},
            "policies": list(self.policies),
            "run": dict(self.run),
        }


def scenario_raw(ref: str | Path | dict | None = None) -> dict[str, Any]:
    """Read a scenario file (path or name under ``data/scenarios``) into raw nested data."""
    if ref is None:
        ref = "default"
    if isinstance(ref, dict):
        sc = copy.deepcopy(ref)
        where = "scenario"
    else:
        path = named_file("scenarios", str(ref))
        sc = load_yaml(path, "scenario")
        where = str(path)
        if not isinstance(sc, dict):
            raise InputError(f"{path}: expected a mapping with hardware, fleet, policies, run")
        sc.setdefault("name", path.stem)
    allowed = {"name", "help", "hardware", "fleet", "policies", "run", "set", "workloads"}
    for key in sc:
        if key not in allowed:
            raise unknown("scenario key", key, allowed, where)
    raw = {
        "name": sc.get("name", "scenario"),
        "hardware": load_part("hardware", sc.get("hardware", "spr")),
        "fleet": load_part("fleets", sc.get("fleet", "default")),
        "policies": sc.get("policies", "all"),
        "run": dict(sc.get("run") or {}),
        "workloads": {k: load_part("workloads", v) for k, v in (sc.get("workloads") or {}).items()},
        "_where": where,
    }
    load_workloads(raw)
    if sc.get("set"):
        apply_overrides(raw, sc["set"], where + ": set")
    return raw


def load_scenario(ref: str | Path | dict | None = None, sets=None) -> Scenario:
    """Load, override and validate a scenario: the one entry point for files and notebooks."""
    raw = scenario_raw(ref)
    if sets:
        apply_overrides(raw, sets, "--set")
    return build_scenario(raw)


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


def build_scenario(raw: dict[str, Any]) -> Scenario:
    """Validate raw scenario data into a :class:`Scenario` (the one validation place)."""
    hw = raw["hardware"]
    hw_where = hw.get("_file", "hardware")
    for key in hw:  # probe: what `amxmodel probe` measured (intervals, host), not read here
        if key not in ("name", "help", "values", "_file", "source", "probe"):
            raise unknown("hardware key", key, ["name", "help", "values", "source", "probe"],
                          hw_where)
    hardware = Hardware(str(hw.get("name", "inline")),
                        catalog.check_values("hardware", hw.get("values") or {}, hw_where))
    if hardware.fpstate_amx_bytes < hardware.fpstate_default_bytes:
        raise InputError(f"{hw_where}: fpstate_amx_bytes must be >= fpstate_default_bytes")

    fl = raw["fleet"]
    fl_where = fl.get("_file", "fleet")
    for key in fl:
        if key not in ("name", "help", "values", "mix", "mix_source", "_file", "source"):
            raise unknown("fleet key", key, ["name", "help", "values", "mix", "mix_source"], fl_where)
    fleet = catalog.check_values("fleet", fl.get("values") or {}, fl_where)
    mix_raw = fl.get("mix") or {}
    if not isinstance(mix_raw, dict) or not mix_raw:
        raise InputError(f"{fl_where}: 'mix' must map workload classes to shares")
    for cls, share in mix_raw.items():
        check_share(cls, share, fl_where)
    total = sum(mix_raw.values())
    if total <= 0:
        raise InputError(f"{fl_where}: the mix shares sum to 0; at least one must be > 0")
    mix = {k: float(v) / total for k, v in mix_raw.items() if v > 0}
    workloads = {k: check_workload(k, raw["workloads"][k]) for k in mix}

    run = catalog.check_values("run", raw.get("run") or {}, raw.get("_where", "run"))
    policies = resolve_policies(raw.get("policies", "all"), f"{raw.get('_where', 'scenario')}: policies")
    sources = {"hardware": hw.get("_file", "inline"), "fleet": fl.get("_file", "inline")}
    return Scenario(str(raw.get("name", "scenario")), hardware, fleet, mix, workloads, policies, run,
                    sources)
