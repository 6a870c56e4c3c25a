"""A host cost profile: cycles per mechanism, clock, page and buffer sizes.

Profiles are YAML files under ``data/hardware/``, checked against the ``hardware``
section of the catalogue when a scenario is built (:func:`amxmodel.inputs.scenario.build_scenario`);
:func:`amxmodel.inputs.scenario.load_hardware` reads one on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Hardware:
    """A host cost profile: cycles per mechanism, clock, page and buffer sizes."""

    name: str
    values: dict[str, float | int]

    def __getattr__(self, key: str):
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def pages(self, nbytes: float) -> int:
        """Pages of a vmalloc'ed buffer of ``nbytes`` (the guard page is not counted)."""
        return math.ceil(nbytes / self.values["page_size_bytes"])

    @property
    def default_pages(self) -> int:
        return self.pages(self.values["fpstate_default_bytes"])

    @property
    def amx_pages(self) -> int:
        return self.pages(self.values["fpstate_amx_bytes"])

    @property
    def realloc_cycles(self) -> float:
        return self.values["realloc_us"] * 1e-6 * self.values["cpu_hz"]
