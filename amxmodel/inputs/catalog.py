"""The parameter catalogue: every number of the model, with unit, range and source.

``data/parameters.yaml`` declares each parameter once, by section (``hardware``,
``workload``, ``fleet``, ``run``). Profiles, workload classes and fleets only give
values; they are checked against this catalogue, so a reviewer finds the unit, the
allowed range, the plausible range swept in the notebooks and the source in one place.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from amxmodel.common.datafiles import data_dir
from amxmodel.common.errors import InputError, unknown
from amxmodel.common.yamlio import load_yaml

SECTIONS = ("hardware", "workload", "fleet", "run")


class ParamSpec(BaseModel):
    """One catalogue entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    section: str
    unit: str
    allowed: tuple[int | float, int | float]  # ints stay exact (run.seed up to 2**64-1)
    default: int | float | None = None
    plausible: tuple[float, float] | None = None
    source: str | None = None
    help: str = ""

    @property
    def integer(self) -> bool:
        """Counts (hosts, steps, seeds, page sizes) take whole numbers."""
        return self.unit in {"hosts", "threads", "steps", "", "bytes", "vCPUs"}

    def check(self, value: Any, where: str) -> float | int:
        """Validate one value against type and allowed range; return it as a number."""
        lo, hi = self.allowed
        rule = f"allowed: {_fmt(lo)} to {_fmt(hi)} {self.unit}".rstrip()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: '{self.name}' must be a number, got {value!r}; {rule}")
        if math.isnan(value) or math.isinf(value):
            raise InputError(f"{where}: '{self.name}' must be finite, got {value}; {rule}")
        if self.integer and isinstance(value, float) and not value.is_integer():
            raise InputError(f"{where}: '{self.name}' must be a whole number, got {value}; {rule}")
        if self.integer and isinstance(value, float) and abs(value) >= 2**53:
            raise InputError(f"{where}: '{self.name}' = {_fmt(value)} is beyond exact floats; "
                             f"write it as a whole number without a decimal point; {rule}")
        if not lo <= value <= hi:
            raise InputError(f"{where}: '{self.name}' = {_fmt(value)} is out of range; {rule}")
        return int(value) if self.integer else float(value)


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict[str, ParamSpec]]:
    raw = load_yaml(path, "parameter catalogue")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of sections {', '.join(SECTIONS)}")
    out: dict[str, dict[str, ParamSpec]] = {}
    for section, entries in raw.items():
        if section not in SECTIONS:
            raise unknown("section", section, SECTIONS, path)
        out[section] = {}
        for name, spec in (entries or {}).items():
            try:
                out[section][name] = ParamSpec(name=name, section=section, **spec)
            except (ValidationError, TypeError) as exc:
                raise InputError(f"{path}: {section}.{name}: bad catalogue entry: {exc}") from None
    return out


def catalog() -> dict[str, dict[str, ParamSpec]]:
    """All parameter specs by section and name."""
    return _load(str(data_dir() / "parameters.yaml"))


def section(name: str) -> dict[str, ParamSpec]:
    """The specs of one section."""
    return catalog()[name]


def defaults(section_name: str) -> dict[str, float | int]:
    """Default values of a section whose entries all have defaults."""
    return {n: s.check(s.default, "data/parameters.yaml") for n, s in section(section_name).items()}


def check_values(
    section_name: str, values: dict[str, Any], where: str, base: dict[str, Any] | None = None
) -> dict[str, float | int]:
    """Merge ``values`` over ``base`` (or the defaults), rejecting unknown names and bad values."""
    specs = section(section_name)
    out = dict(base) if base is not None else defaults(section_name)
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a mapping of {section_name} parameters")
    for name, value in values.items():
        if name not in specs:
            raise unknown(f"{section_name} parameter", name, specs, where)
        out[name] = specs[name].check(value, where)
    return out
