"""The registry of reference models: one event-level model per design, by policy name.

:mod:`amxmodel.kernel.upstream` holds the merged design (Linux 5.17+) and
:mod:`amxmodel.kernel.designs` the others; this module maps the catalogue's policy names
(:mod:`amxmodel.inputs.designs`) onto them and replays raw events through one.
"""

from __future__ import annotations

from typing import Any

from amxmodel.common.errors import unknown
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.inputs.hardware import Hardware
from amxmodel.kernel.designs import (
    LazyExitUser,
    NmFirstUse,
    NoAmx,
    Opt1ExitClear,
    Opt2SwitchCheck,
    Prealloc,
    RfcSwitch,
    SyncAlways,
    Xcr0Alloc,
)
from amxmodel.kernel.trace import parse_events
from amxmodel.kernel.upstream import ReferenceModel

MODELS: dict[str, type[ReferenceModel]] = {
    cls.name: cls
    for cls in (ReferenceModel, SyncAlways, Opt1ExitClear, Opt2SwitchCheck, LazyExitUser,
                NmFirstUse, Xcr0Alloc, Prealloc, RfcSwitch, NoAmx)
}
assert tuple(MODELS) == POLICY_NAMES, "one reference model per policy, in catalogue order"


def make_model(policy: str, hardware: Hardware) -> ReferenceModel:
    """A fresh reference model for ``policy``."""
    if policy not in MODELS:
        raise unknown("policy", policy, MODELS)
    return MODELS[policy](hardware)


def run_events(policy: str, hardware: Hardware, raw_events: list[dict]) -> dict[str, Any]:
    """Replay raw event mappings for one policy; return the counters with their prices."""
    model = make_model(policy, hardware)
    for ev in parse_events(raw_events):
        model.apply(ev)
    return model.result()["counters"]
